r"""Where data is looked for: the search order, the download folder, and what ``numvae data list`` reports.

Two small real datasets ship inside the package, in ``numvae/_embedded/``
(package data, read with :mod:`importlib.resources`, so they are there in a
wheel, an sdist, a checkout and an editable install alike; provenance,
licences and checksums in the repository's ``data/README.md``): the UCI
digits, read by :mod:`numvae.data.digits`, and the Fashion-MNIST *test*
split, read by :mod:`numvae.data.mnist`. Larger MNIST-format sets are read
from wherever they are installed (Debian's ``dataset-fashion-mnist``
package) or downloaded by :func:`numvae.data.fetch` (``numvae data fetch
NAME``) into :func:`download_dir`: ``$NUMVAE_DATA`` if set, else the user
cache (``$XDG_CACHE_HOME/numvae`` or ``~/.cache/numvae``), never into the
installed package.

Every loader searches, in order: its ``root=`` argument, ``$NUMVAE_DATA``,
the user cache, the embedded data, and (MNIST-like sets only)
``/usr/share/datasets``; :func:`locate` does the search and
:func:`list_datasets` (``numvae data list``) reports it, for every dataset
and split of ``DATASETS``.
"""

import os
from contextlib import ExitStack
from importlib import resources
from pathlib import Path

from numvae.checks import check_choice

__all__ = [
    "EMBEDDED_DATA_DIR", "SYSTEM_DATA_DIR", "DATASETS", "MNIST_LIKE",
    "cache_dir", "download_dir", "default_fetch_dest", "locate", "list_datasets",
]

# Module attributes rather than constants inlined in the functions, so tests can
# point them at temporary folders with monkeypatch; the functions read them
# here, in numvae.data.search, when they run (a name set on the package
# numvae.data is not seen here). The embedded files are package data of
# `numvae` itself, in a folder that is not a Python package.
EMBEDDED_DATA_DIR = resources.files("numvae") / "_embedded"
SYSTEM_DATA_DIR = Path("/usr/share/datasets")  # where Debian's dataset-* packages install
ENV_VAR = "NUMVAE_DATA"

MNIST_LIKE = ("mnist", "fashion-mnist")
# Every dataset and split numvae can load, in the order `numvae data list` shows them.
DATASETS = (("digits", None), ("fashion-mnist", "train"), ("fashion-mnist", "test"),
            ("mnist", "train"), ("mnist", "test"))
_SPLIT_PREFIX = {"train": "train", "test": "t10k"}
DIGITS_STEM = "digits.csv"  # the digits (numvae.data.digits reads them), found gzipped (as embedded) or plain


def cache_dir():
    """numvae's folder in the user cache: ``$XDG_CACHE_HOME/numvae``, else ``~/.cache/numvae``."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG base-directory specification says a relative path there is invalid and must be ignored.
    return (Path(base) if os.path.isabs(base) else Path.home() / ".cache") / "numvae"


def download_dir():
    """The folder downloads go into: ``$NUMVAE_DATA`` if set, else :func:`cache_dir`."""
    return Path(os.environ[ENV_VAR]) if os.environ.get(ENV_VAR) else cache_dir()


def default_fetch_dest(name):
    r"""Where ``numvae data fetch NAME`` saves by default: ``<download_dir()>/<name>/``.

    That is ``$NUMVAE_DATA/<name>/`` if the variable is set, else
    ``<user cache>/numvae/<name>/``; both are searched by the loaders, so
    fetched files are found with no further setup.
    """
    check_choice(name, "name", MNIST_LIKE)
    return download_dir() / name


def _data_roots(root):
    """The base folders to search, in order, each with a label for messages."""
    roots = []
    if root is not None:
        roots.append((Path(root), "root="))
    if os.environ.get(ENV_VAR):
        roots.append((Path(os.environ[ENV_VAR]), f"${ENV_VAR}"))
    roots.append((cache_dir(), "the user cache"))
    roots.append((EMBEDDED_DATA_DIR, "numvae's embedded data"))
    return roots


def _file_stems(name, split):
    """The files of one dataset and split, without the optional ``.gz``."""
    if name == "digits":
        if split is not None:
            raise ValueError(f"split must be None for the digits (one set of 1797 images); got {split!r}")
        return [DIGITS_STEM]
    check_choice(split, "split", tuple(_SPLIT_PREFIX))
    prefix = _SPLIT_PREFIX[split]
    return [f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"]


def _search_dirs(name, root):
    """Folders that may hold `name`'s files, in search order, with labels."""
    dirs = []
    for base, label in _data_roots(root):
        # The named subfolder first: MNIST and Fashion-MNIST use the same file
        # names, and a subfolder says which one it is.
        dirs.append((base / name, label))
        dirs.append((base, label))
    if name in MNIST_LIKE:
        dirs.append((SYSTEM_DATA_DIR / name, "the system datasets folder"))
    return dirs


def _find_file(folder, stem):
    """`folder/stem.gz` or `folder/stem`, whichever exists first, else None."""
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def _how_to_get(name):
    """One sentence on how to get `name` when no folder of the search order holds it."""
    if name == "digits":
        return ("The digits ship inside numvae, so the install is incomplete: reinstall numvae, "
                f"or pass root= / set ${ENV_VAR} to a folder holding {DIGITS_STEM}.gz")
    apt = "`apt-get install dataset-fashion-mnist` (Debian/Ubuntu) or " if name == "fashion-mnist" else ""
    return (f"Get it with {apt}`numvae data fetch {name}` (downloads into {default_fetch_dest(name)}), "
            f"or pass root= / set ${ENV_VAR} to a folder holding the files")


def locate(name, split=None, root=None):
    r"""Find the files of one dataset: the first folder of the search order that holds all of them.

    Parameters
    ----------
    name : {"digits", "mnist", "fashion-mnist"}
    split : {"train", "test"} or None
        None for the digits, a split for the MNIST-like sets.
    root : str or Path, optional
        Folder searched first.

    Returns
    -------
    files : list of Path or importlib.resources Traversable
        ``[digits.csv.gz]`` or ``[images, labels]``; each may be gzipped or not.
    label : str
        Which place of the search order held them (``"root="``, ``"$NUMVAE_DATA"``,
        ``"the user cache"``, ``"numvae's embedded data"``, ``"the system datasets folder"``).

    Raises
    ------
    ValueError
        Unknown `name` or `split`.
    FileNotFoundError
        No folder holds all the files; the message lists every folder tried
        and how to get the data.

    Notes
    -----
    Each base folder is tried as ``<base>/<name>/`` and then ``<base>/``
    itself: `root`, ``$NUMVAE_DATA``, :func:`cache_dir`, the embedded data
    (``numvae/_embedded/``) and, for the MNIST-like sets,
    ``/usr/share/datasets/<name>/`` (Debian's ``dataset-fashion-mnist``).
    """
    check_choice(name, "name", ("digits",) + MNIST_LIKE)
    stems = _file_stems(name, split)
    tried = []
    for folder, label in _search_dirs(name, root):
        files = [_find_file(folder, stem) for stem in stems]
        if all(f is not None for f in files):
            return files, label
        tried.append(f"  {folder} ({label})")
    what = name if split is None else f"{name} {split} split"
    need = " and ".join(f"{stem}[.gz]" for stem in stems)
    raise FileNotFoundError(f"{what} not found: need {need} in one folder. Looked in:\n" + "\n".join(tried)
                            + f"\n{_how_to_get(name)}.")


def list_datasets(root=None):
    """Where each dataset of ``DATASETS`` is found, and its size: what ``numvae data list`` prints.

    Parameters
    ----------
    root : str or Path, optional
        Folder searched first, as for the loaders.

    Returns
    -------
    list of dict
        One per (name, split), in the order of ``DATASETS``: ``name``,
        ``split``, ``folder`` (str, or None if not found), ``found_in`` (the
        place of the search order, or None), ``bytes`` (size on disk of its
        files, or None) and ``how_to_get`` (None if found).
    """
    rows = []
    for name, split in DATASETS:
        row = {"name": name, "split": split, "folder": None, "found_in": None, "bytes": None, "how_to_get": None}
        try:
            files, label = locate(name, split, root)
        except FileNotFoundError:
            row["how_to_get"] = _how_to_get(name)
        else:
            with ExitStack() as stack:
                paths = [stack.enter_context(resources.as_file(f)) for f in files]
                row.update(folder=str(paths[0].parent), found_in=label,
                           bytes=sum(p.stat().st_size for p in paths))
        rows.append(row)
    return rows
