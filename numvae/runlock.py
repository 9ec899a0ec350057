"""A lock on a run folder, held while a process trains in it.

Two processes training into one folder would each overwrite the other's
checkpoint and history, both ending with "wrote model.npz" and one run
silently lost. :func:`run_lock` takes an exclusive ``fcntl.flock`` on the file
:data:`LOCK_NAME` in the folder: the operating system releases it when the
process ends, however it ends (SIGKILL and power loss included), so a killed
run can be resumed at once and no stale lock is ever left to clean up. The
file itself stays; it records who holds the lock (PID, host, start time) so a
refused process can say who is training there.

Where ``fcntl`` does not exist (Windows) no lock is taken.
"""

import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock; runs are not protected against each other there
    fcntl = None

LOCK_NAME = ".numvae-run.lock"


class FolderInUseError(BlockingIOError):
    """Another process holds the lock of the run folder (an ``OSError``: the work cannot be done now)."""


def _holder(path):
    """What the lock file says about its holder, or a vaguer phrase when it says nothing readable."""
    try:
        words = path.read_text().split()
    except OSError:
        words = []
    if len(words) >= 3 and words[0].isdigit():
        return f"process {words[0]} on {words[1]} (since {' '.join(words[2:])})"
    return "another process"


@contextmanager
def run_lock(folder, option="--out"):
    """Hold the lock of the existing run folder `folder` for the body; raise if another process holds it.

    Raises :class:`FolderInUseError` naming `option`, the folder and the
    holding process. The lock is released when the body ends or the process
    dies.
    """
    folder = Path(folder)
    path = folder / LOCK_NAME
    if fcntl is None:
        yield path
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderInUseError(
                f"{option} {folder} is in use: {_holder(path)} is training in it; wait for it to end "
                f"(or stop it), or choose another {option}") from None
        stamp = f"{os.getpid()} {socket.gethostname() or 'host'} {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
        os.ftruncate(fd, 0)
        os.pwrite(fd, stamp.encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the flock
