"""runlock: one process at a time trains in a run folder, and the lock dies with its process."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from numvae.runlock import LOCK_NAME, FolderInUseError, run_lock

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="no fcntl.flock on Windows: no lock is taken")


def test_a_second_holder_is_refused_naming_the_folder_and_the_first_process(tmp_path):
    with run_lock(tmp_path, "--out"):
        with pytest.raises(FolderInUseError, match=rf"--out {tmp_path} is in use: process {os.getpid()} on "):
            with run_lock(tmp_path, "--out"):
                pytest.fail("took a lock another holder has")
    with run_lock(tmp_path):   # released when the first holder's body ended
        assert (tmp_path / LOCK_NAME).read_text().split()[0] == str(os.getpid())


def test_the_lock_of_a_killed_process_is_released_by_the_system(tmp_path):
    code = ("import sys, time; from numvae.runlock import run_lock\n"
            "with run_lock(sys.argv[1]):\n    print('locked', flush=True); time.sleep(120)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    other = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert other.stdout.readline().strip() == "locked"
        with pytest.raises(FolderInUseError, match=rf"process {other.pid} on .* is training in it"):
            with run_lock(tmp_path, "--resume"):
                pass
        other.send_signal(signal.SIGKILL)   # no chance to clean up: only the system releases the lock
        other.wait(timeout=30)
        with run_lock(tmp_path, "--resume"):
            pass
    finally:
        other.kill()
        other.wait()
        other.stdout.close()
