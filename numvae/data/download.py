r"""Downloading MNIST and Fashion-MNIST, every file checked against its published MD5.

:func:`fetch` (``numvae data fetch NAME``) downloads the four gzipped IDX files
of a dataset from its mirror (``MIRRORS``) into a folder, by default
:func:`numvae.data.default_fetch_dest`, a folder the loaders search. Each
file is checked against the MD5 published with the dataset (``MD5``: the
checksums torchvision's ``datasets/mnist.py`` lists for both sets, and
Zalando's fashion-mnist README for its own) before it takes its name, so a
failed or corrupt download leaves nothing behind; a file already there with
the right MD5, or with that of Debian's repack (``REPACKED_MD5``), is kept.
"""

import hashlib
import urllib.error
import urllib.request
from pathlib import Path

from numvae.checks import check_choice
from numvae.data.search import MNIST_LIKE
from numvae.io import atomic_open
from numvae.progress import Progress

__all__ = ["fetch"]

# Where `fetch` downloads from, and the MD5 of each official .gz file (the
# checksums published with the datasets: torchvision's datasets/mnist.py lists
# both sets; Zalando's fashion-mnist README lists its own).
MIRRORS = {
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "fashion-mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
}
MD5 = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}


# Debian's dataset-fashion-mnist ships the official files with the gzip header
# rewritten (file name dropped, timestamp reset): the compressed data is the
# same bytes, so putting the original header back gives the official MD5 (see
# data/README.md). `fetch` keeps such a file rather than download it again.
REPACKED_MD5 = {
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "cf8536b0aa1a6ac5fa3f23001093305c",
        "train-labels-idx1-ubyte.gz": "10bea18fdb374794d4bb42e356e600c9",
        "t10k-images-idx3-ubyte.gz": "f78720b4224f21cce2f2ccf2d7a94c9a",
        "t10k-labels-idx1-ubyte.gz": "0d30e22e447f3c33dab9ed536400ac01",
    },
}


def _md5(path):
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(name, dest, base_url=None, checksums=None, log=None, timeout=60, progress=False):
    r"""Download the four gzipped IDX files of MNIST or Fashion-MNIST into `dest`.

    Each file is streamed to a temporary file in `dest` while its MD5 is
    computed, and moved onto its final name only if the MD5 matches: `dest`
    never holds a partial or unverified file, whatever fails, and folders that
    `fetch` created are removed again if a failure leaves them empty. Files
    verified before a failure are kept, so a second call resumes. A file
    already present with the right MD5 (or that of Debian's header-only
    repack of the same file, ``REPACKED_MD5``) is not downloaded again.

    Parameters
    ----------
    name : {"mnist", "fashion-mnist"}
    dest : str or Path
        Folder to save into (created if missing); ``numvae data fetch`` uses
        :func:`numvae.data.default_fetch_dest`.
    base_url : str, optional
        URL the file names are appended to; defaults to the dataset's mirror.
    checksums : dict[str, str], optional
        File name -> expected hex MD5 for the four files; defaults to the
        official checksums recorded in this module.
    log : callable, optional
        Called with a one-line message per file (the CLI passes ``print``).
    timeout : float
        Seconds to wait on the network per read.
    progress : bool
        Show each download's bytes, rate and ETA on standard error
        (:class:`numvae.progress.Progress`).

    Returns
    -------
    list of Path
        The four files.

    Raises
    ------
    ValueError
        Unknown `name`, `checksums` missing a file, or a download whose MD5
        does not match (it is discarded).
    OSError
        The download itself failed (no network, HTTP error); nothing partial is kept.
    """
    check_choice(name, "name", MNIST_LIKE)
    checksums = MD5[name] if checksums is None else dict(checksums)
    missing = sorted(set(MD5[name]) - set(checksums))
    if missing:
        raise ValueError(f"checksums must give an MD5 for each of {sorted(MD5[name])}; missing {missing}")
    base_url = MIRRORS[name] if base_url is None else base_url
    if not base_url.endswith("/"):
        base_url += "/"
    dest = Path(dest)
    created = [d for d in (dest, *dest.parents) if not d.exists()]  # deepest first
    dest.mkdir(parents=True, exist_ok=True)
    log = log or (lambda message: None)
    try:
        return [_fetch_file(base_url + filename, dest / filename, checksums[filename].lower(),
                            REPACKED_MD5.get(name, {}).get(filename), log, timeout, progress)
                for filename in MD5[name]]
    except BaseException:
        for folder in created:
            if any(folder.iterdir()):
                break
            folder.rmdir()
        raise


def _fetch_file(url, target, expected, repacked, log, timeout, progress):
    """Download `url` onto `target` unless it is there with MD5 `expected` (or `repacked`); return `target`."""
    if target.is_file() and _md5(target) in (expected, repacked):
        log(f"{target}: present, checksum ok")
        return target
    log(f"{target}: downloading {url}")
    # atomic_open writes a temporary file beside `target` and removes it if the
    # body raises, so a failed or corrupt download leaves nothing behind.
    with atomic_open(target, "wb") as f:
        h = hashlib.md5(usedforsecurity=False)
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                size = int(response.headers.get("Content-Length") or 0)
                bar, done = Progress(size or None, target.name, quiet=not progress), 0
                for block in iter(lambda: response.read(1 << 16), b""):
                    h.update(block)
                    f.write(block)
                    done += len(block)
                    bar.update(done, f"{done / 2**20:.1f} MiB")
                bar.close()
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise OSError(f"could not download {url}: {reason}") from None
        if h.hexdigest() != expected:
            raise ValueError(f"checksum mismatch for {url}: expected MD5 {expected}, got {h.hexdigest()}; "
                             "the download was discarded")
    return target
