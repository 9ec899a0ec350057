"""Atomic files and the checkpoint format shared by every model.

A file is written to a temporary name in the destination folder and moved into
place with ``os.replace``, which is atomic on POSIX and Windows: a reader sees
the old file or the new one, never half of one, and a crash mid-write leaves the
previous file untouched.

A process killed mid-write (SIGKILL, power loss) cannot remove its temporary
file. Its name, ``.<name>.<host>-<pid>.<random>.tmp``, says who wrote it, so the
next write of the same file removes it when that writer is certainly gone: a
process of this host that no longer exists, or a file untouched for
:data:`STALE_SECONDS` (a live writer keeps touching its file, and a PID may be
reused by an unrelated process). A file of a live writer is never removed.

A checkpoint is one ``.npz`` holding the arrays plus a JSON record under the key
``__meta__`` (the model's kind and config, and the numvae version that wrote it).
A training run adds its state (:func:`save_checkpoint` with ``training``):
arrays under the prefix ``__training__.`` and a ``"training"`` record, which
loading a model ignores, so a checkpoint from a run loads like any other and
one written before runs recorded their state still loads.
"""

import glob
import json
import os
import re
import socket
import tempfile
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

import numvae
from numvae.checks import check_array, check_input_file, check_path

META_KEY = "__meta__"
TRAINING_PREFIX = "__training__."
# A temporary file whose writer cannot be identified as dead is removed only after this long untouched.
STALE_SECONDS = 24 * 3600
# The host in a temporary file's name: letters, digits and '-' only, so the name parses back.
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"


def _pid_alive(pid):
    """Whether a process `pid` exists on this host (a process of another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True
    return True


def _is_stale(tmp, prefix, now):
    """Whether the temporary file `tmp` (named ``<prefix><host>-<pid>.<random>.tmp``) has no live writer."""
    try:
        age = now - tmp.stat().st_mtime
    except FileNotFoundError:  # its writer just renamed or removed it
        return False
    if age > STALE_SECONDS:
        return True
    match = re.fullmatch(r"([A-Za-z0-9-]+)-(\d+)\.[^.]+\.tmp", tmp.name[len(prefix):])
    if match is None or match.group(1) != _HOST:
        return False  # another host's writer (a shared folder), or no writer recorded: only age decides
    pid = int(match.group(2))
    return pid != os.getpid() and not _pid_alive(pid)


def remove_stale_temporaries(path):
    """Remove the temporary files of earlier writes of `path` whose writers are gone; return their paths."""
    path = Path(path)
    prefix, now, removed = f".{path.name}.", time.time(), []
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        if _is_stale(tmp, prefix, now):
            try:
                tmp.unlink()
                removed.append(tmp)
            except FileNotFoundError:
                pass
    return removed


@contextmanager
def atomic_open(path, mode="wb"):
    """Open a temporary file beside `path`; on success move it onto `path`.

    If the body raises, the temporary file is removed and `path` is not touched.
    Temporary files that earlier writes of `path` left behind, and whose
    writers are gone, are removed first (:func:`remove_stale_temporaries`).
    """
    path = check_path(path, "path")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; expected a file name to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{_HOST}-{os.getpid()}.", suffix=".tmp", dir=path.parent)
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
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None and exc.errno is not None:
            # A failed write or fsync (disk full, quota) names no file; say which, and that
            # the previous one is intact.
            raise type(exc)(exc.errno, f"{exc.strerror} while writing {path} (the previous file, if any, "
                                       "is unchanged)") from exc
        raise


def check_output_folder(path, name):
    """Create the folder `path` if needed and make sure a file can be written in it; return it as a Path.

    Called before any long work, so a bad output path fails at once, not
    after the training. Raises ``NotADirectoryError`` if `path` (or a parent)
    is a file, and ``PermissionError`` (or the ``OSError`` met) naming `name`
    and the folder if it cannot be created or written.
    """
    path = check_path(path, name)
    for p in (path, *path.parents):
        if p.exists() and not p.is_dir():
            raise NotADirectoryError(f"{name} {path} cannot be a folder: {p} is a file")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".numvae-write-test.", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise type(exc)(f"{name} {path} is not writable ({exc.strerror})") from None
    return path


def check_output_file(path, name):
    """Make sure the file `path` can be written (not a folder; its folder writable); return it as a Path.

    Raises ``IsADirectoryError`` if `path` is a folder, else as
    :func:`check_output_folder` for its folder.
    """
    path = check_path(path, name)
    if path.is_dir():
        raise IsADirectoryError(f"{name} {path} is a directory; expected a file name")
    check_output_folder(path.parent, f"the folder of {name}")
    return path


def write_text(path, text):
    """Write `text` to `path` atomically."""
    with atomic_open(path, "w") as f:
        f.write(text)


def save_checkpoint(path, arrays, kind, config, training=None, training_arrays=None):
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
    training : dict, optional
        JSON-serialisable record of a training run (``numvae.train.fit``
        writes its epoch, settings, fingerprints, generator state, history).
    training_arrays : dict[str, ndarray], optional
        The run's arrays (the optimizer state), stored beside the parameters.

    Raises ``ValueError`` naming the file and the array if a parameter holds
    NaN or infinity (loading would refuse it); then nothing is written.
    """
    training_arrays = {} if training_arrays is None else training_arrays
    for name, a in arrays.items():
        # load_model refuses non-finite parameters, so such a file could never be read back.
        bad = np.size(a) - int(np.isfinite(a).sum())
        if bad:
            raise ValueError(f"cannot save {path}: parameter {name!r} has {bad} NaN or infinite entries "
                             "(a diverged model); a checkpoint must hold finite parameters")
    if META_KEY in arrays or any(k.startswith(TRAINING_PREFIX) for k in arrays):
        raise ValueError(f"arrays must not contain the reserved key {META_KEY!r} or the prefix {TRAINING_PREFIX!r}")
    meta = {"kind": kind, "config": config, "numvae_version": numvae.__version__,
            "arrays": {k: list(np.shape(v)) for k, v in arrays.items()}}
    payload = {k: np.asarray(v) for k, v in arrays.items()}
    if training is not None:
        meta["training"] = training
        meta["training_arrays"] = {k: list(np.shape(v)) for k, v in training_arrays.items()}
        payload.update({TRAINING_PREFIX + k: np.asarray(v) for k, v in training_arrays.items()})
    payload[META_KEY] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with atomic_open(path, "wb") as f:
        np.savez(f, **payload)


def _check_shapes(path, record, what):
    """`record` must map array names to lists of ints (the shapes a checkpoint recorded)."""
    if not isinstance(record, dict) or not all(
            isinstance(v, list) and all(isinstance(d, int) and not isinstance(d, bool) for d in v)
            for v in record.values()):
        raise ValueError(f"checkpoint {path} has a corrupt {META_KEY} record: {what!r} must map "
                         f"array names to shapes; got {record!r:.80}")
    return record


def load_checkpoint(path, kind, training=False):
    """Read a checkpoint written by :func:`save_checkpoint`; return ``(arrays, meta)``.

    With ``training=True`` return ``(arrays, meta, training_arrays)``; a
    checkpoint without a training record then has ``training_arrays == {}``
    and no ``meta["training"]``.

    `kind` None accepts a checkpoint of any kind (``meta["kind"]`` says which).

    Raises ``FileNotFoundError`` if `path` does not exist, ``IsADirectoryError``
    if it is a folder, and ``ValueError`` naming the file if it is not a
    numvae checkpoint, its record is not of the shape written here, it holds
    another kind of model, or its arrays do not match the shapes it recorded.
    Checking the shapes the *config* implies is the model's job.
    """
    path = check_input_file(path, "checkpoint path", "checkpoint", "a .npz file")
    with open(path, "rb") as f:
        head = f.read(4)
    if head not in (b"PK\x03\x04", b"PK\x05\x06"):
        # Not a zip archive (a CSV, an image, a .npy): say so, instead of np.load's "allow_pickle" advice.
        raise ValueError(f"checkpoint {path} is not a readable .npz file: a .npz is a zip archive and this "
                         f"file does not begin as one (it begins {head!r}); expected a model.npz written by numvae")
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
    if not isinstance(meta, dict):
        raise ValueError(f"checkpoint {path} has a corrupt {META_KEY} record: expected a JSON object; "
                         f"got {type(meta).__name__}")
    if kind is not None and meta.get("kind") != kind:
        raise ValueError(f"checkpoint {path} holds a {meta.get('kind')!r}, expected a {kind!r}")
    recorded = _check_shapes(path, meta.get("arrays", {}), "arrays")
    recorded_training = _check_shapes(path, meta.get("training_arrays", {}), "training_arrays")
    if "training" in meta and not isinstance(meta["training"], dict):
        raise ValueError(f"checkpoint {path} has a corrupt {META_KEY} record: 'training' must be a JSON object")
    stored = set(recorded) | {TRAINING_PREFIX + k for k in recorded_training}
    if stored != set(data):
        raise ValueError(f"checkpoint {path} arrays {sorted(data)} differ from its record {sorted(stored)}")
    for k, shape in [*recorded.items(), *((TRAINING_PREFIX + k, v) for k, v in recorded_training.items())]:
        if list(data[k].shape) != shape:
            raise ValueError(f"checkpoint {path}: array {k!r} has shape {data[k].shape}, recorded {tuple(shape)}")
    arrays = {k: data[k] for k in recorded}
    if not training:
        return arrays, meta
    return arrays, meta, {k: data[TRAINING_PREFIX + k] for k in recorded_training}


def load_model(cls, path, kind, **options):
    """Rebuild a model of class `cls` from a checkpoint written by its ``save``.

    The model is built from the recorded config (``cls(**config, **options)``:
    `options` are settings of this process, not of the model) and each of
    its ``params`` is filled from the file, after checking that the file holds
    exactly the arrays that config implies, with the same shapes, all finite.
    A training run's state in the file is ignored.
    Raises ``FileNotFoundError``, ``IsADirectoryError`` or ``ValueError``
    naming the file and the problem.
    """
    arrays, meta = load_checkpoint(path, kind)
    config = meta.get("config")
    if not isinstance(config, dict):
        raise ValueError(f"checkpoint {path} has no config record")
    try:
        model = cls(**config, **options)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"checkpoint {path} has an invalid config ({exc})") from None
    fill_params(model, arrays, path)
    return model


def fill_params(model, arrays, path):
    """Copy `arrays` into ``model.params`` in place, after checking names, shapes and finiteness.

    Raises ``ValueError`` naming the checkpoint `path` and the first problem;
    then no parameter has changed.
    """
    missing = sorted(set(model.params) - set(arrays))
    extra = sorted(set(arrays) - set(model.params))
    if missing or extra:
        raise ValueError(f"checkpoint {path} does not match its config: "
                         f"missing arrays {missing}, unexpected arrays {extra}")
    checked = {}
    for name, p in model.params.items():   # every array checked before any is copied
        checked[name] = check_array(arrays[name], f"checkpoint {path} array {name!r}")
        if checked[name].shape != p.shape:
            raise ValueError(f"checkpoint {path}: array {name!r} has shape {checked[name].shape}; "
                             f"the model built from its config needs {p.shape}")
    for name, p in model.params.items():
        p[...] = checked[name]
