"""Atomic files and the checkpoint format shared by every model.

A file is written to a temporary name in the destination folder and moved into
place with ``os.replace``, which is atomic on POSIX and Windows: a reader sees
the old file or the new one, never half of one, and a crash mid-write leaves the
previous file untouched.

A checkpoint is one ``.npz`` holding the arrays plus a JSON record under the key
``__meta__`` (the model's kind and config, and the numvae version that wrote it).
"""

import json
import os
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

import numvae
from numvae.checks import check_array

META_KEY = "__meta__"


@contextmanager
def atomic_open(path, mode="wb"):
    """Open a temporary file beside `path`; on success move it onto `path`.

    If the body raises, the temporary file is removed and `path` is not touched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates the file 0600; give it the mode an ordinary open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text(path, text):
    """Write `text` to `path` atomically."""
    with atomic_open(path, "w") as f:
        f.write(text)


def save_checkpoint(path, arrays, kind, config):
    """Write `arrays` (dict of name -> ndarray) and a config record to one ``.npz``, atomically.

    Parameters
    ----------
    path : str or Path
        Destination; ``.npz`` is not appended.
    arrays : dict[str, ndarray]
        The parameters.
    kind : str
        What model this is (``"VAE"``, ``"PPCA"``), checked on load.
    config : dict
        JSON-serialisable constructor arguments, enough to rebuild the model.
    """
    if META_KEY in arrays:
        raise ValueError(f"arrays must not contain the reserved key {META_KEY!r}")
    meta = {"kind": kind, "config": config, "numvae_version": numvae.__version__,
            "arrays": {k: list(np.shape(v)) for k, v in arrays.items()}}
    payload = {k: np.asarray(v) for k, v in arrays.items()}
    payload[META_KEY] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with atomic_open(path, "wb") as f:
        np.savez(f, **payload)


def load_checkpoint(path, kind):
    """Read a checkpoint written by :func:`save_checkpoint`; return ``(arrays, meta)``.

    Raises ``FileNotFoundError`` if `path` does not exist and ``ValueError``
    naming the file if it is not a numvae checkpoint, holds another kind of
    model, or its arrays do not match the shapes it recorded. Checking the
    shapes the *config* implies is the model's job.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"checkpoint {path} is not a readable .npz file ({exc})") from None
    if META_KEY not in data:
        raise ValueError(f"checkpoint {path} has no {META_KEY} record: not written by numvae")
    try:
        meta = json.loads(data.pop(META_KEY).tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"checkpoint {path} has a corrupt {META_KEY} record ({exc})") from None
    if meta.get("kind") != kind:
        raise ValueError(f"checkpoint {path} holds a {meta.get('kind')!r}, expected a {kind!r}")
    recorded = meta.get("arrays", {})
    if set(recorded) != set(data):
        raise ValueError(f"checkpoint {path} arrays {sorted(data)} differ from its record {sorted(recorded)}")
    for k, shape in recorded.items():
        if list(data[k].shape) != shape:
            raise ValueError(f"checkpoint {path}: array {k!r} has shape {data[k].shape}, recorded {tuple(shape)}")
    return data, meta


def load_model(cls, path, kind):
    """Rebuild a model of class `cls` from a checkpoint written by its ``save``.

    The model is built from the recorded config (``cls(**config)``) and each of
    its ``params`` is filled from the file, after checking that the file holds
    exactly the arrays that config implies, with the same shapes, all finite.
    Raises ``FileNotFoundError`` or ``ValueError`` naming the problem.
    """
    arrays, meta = load_checkpoint(path, kind)
    config = meta.get("config")
    if not isinstance(config, dict):
        raise ValueError(f"checkpoint {path} has no config record")
    try:
        model = cls(**config)
    except TypeError as exc:
        raise ValueError(f"checkpoint {path} has an invalid config ({exc})") from None
    missing = sorted(set(model.params) - set(arrays))
    extra = sorted(set(arrays) - set(model.params))
    if missing or extra:
        raise ValueError(f"checkpoint {path} does not match its config: "
                         f"missing arrays {missing}, unexpected arrays {extra}")
    for name, p in model.params.items():
        a = check_array(arrays[name], f"checkpoint array {name!r}")
        if a.shape != p.shape:
            raise ValueError(f"checkpoint {path}: array {name!r} has shape {a.shape}; "
                             f"the model built from its config needs {p.shape}")
        p[...] = a
    return model
