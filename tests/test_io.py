"""io: atomic writes keep the old file on failure; checkpoints round-trip and reject corruption."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from numvae import io as nio
from numvae.io import atomic_open, load_checkpoint, save_checkpoint, write_text
from numvae.vae import VAE


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    path = tmp_path / "f.txt"
    write_text(path, "good")
    with pytest.raises(RuntimeError):
        with atomic_open(path, "w") as f:
            f.write("half of a bad")
            raise RuntimeError("crash mid-write")
    assert path.read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_written_files_get_the_ordinary_permissions(tmp_path):
    import os
    umask = os.umask(0o022)
    try:
        write_text(tmp_path / "f.txt", "x")
    finally:
        os.umask(umask)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o644   # not mkstemp's 0600


def test_checkpoint_round_trip(tmp_path):
    arrays = {"a": np.arange(6.0).reshape(2, 3), "b": np.ones(4, dtype=np.float32)}
    save_checkpoint(tmp_path / "m.npz", arrays, "Thing", {"width": 3})
    got, meta = load_checkpoint(tmp_path / "m.npz", "Thing")
    assert meta["config"] == {"width": 3} and meta["numvae_version"]
    for k in arrays:
        assert got[k].dtype == arrays[k].dtype and np.array_equal(got[k], arrays[k])


def test_checkpoint_rejections(tmp_path):
    path = tmp_path / "m.npz"
    save_checkpoint(path, {"a": np.zeros(2)}, "Thing", {})
    with pytest.raises(ValueError, match="holds a 'Thing', expected a 'Other'"):
        load_checkpoint(path, "Other")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.npz", "Thing")
    path.write_bytes(path.read_bytes()[:50])               # truncated
    with pytest.raises(ValueError, match="not a readable .npz"):
        load_checkpoint(path, "Thing")
    np.savez(tmp_path / "plain.npz", a=np.zeros(2))        # not written by numvae
    with pytest.raises(ValueError, match="not written by numvae"):
        load_checkpoint(tmp_path / "plain.npz", "Thing")
    with pytest.raises(ValueError, match="reserved key"):
        save_checkpoint(path, {"__meta__": np.zeros(1)}, "Thing", {})


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_parameter_is_refused_and_nothing_is_written(tmp_path, bad):
    # load_model refuses such a file, so writing it would lose the run it replaces.
    path = tmp_path / "m.npz"
    save_checkpoint(path, {"a": np.zeros(2)}, "Thing", {})
    before = path.read_bytes()
    arrays = {"a": np.zeros(2), "w": np.array([[1.0, bad], [0.0, 1.0]])}
    with pytest.raises(ValueError, match=rf"cannot save {path}: parameter 'w' has 1 NaN or infinite"):
        save_checkpoint(path, arrays, "Thing", {})
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def test_vae_save_with_a_nan_parameter_is_refused(tmp_path):
    from numvae.vae import VAE

    m = VAE(4, hidden=(3,), z_dim=2, seed=0)
    m.params["enc.0.W"][0, 0] = np.nan
    with pytest.raises(ValueError, match="parameter 'enc.0.W' has 1 NaN"):
        m.save(tmp_path / "model.npz")
    assert not (tmp_path / "model.npz").exists()


def test_disk_full_names_the_file_and_keeps_the_previous_one(tmp_path, monkeypatch):
    import errno
    import os

    path = tmp_path / "model.npz"
    save_checkpoint(path, {"a": np.zeros(2)}, "Thing", {})
    before = path.read_bytes()

    def full(fd):   # what a full disk does to the write's flush: ENOSPC, naming no file
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match=rf"No space left on device while writing {path} \(the previous file") as info:
        save_checkpoint(path, {"a": np.ones(2)}, "Thing", {})
    assert info.value.errno == errno.ENOSPC
    with pytest.raises(OSError, match=rf"while writing {tmp_path / 'h.csv'}"):
        write_text(tmp_path / "h.csv", "epoch\n")
    monkeypatch.undo()
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]


@pytest.mark.parametrize("content", [b"epoch,beta,train_loss\n1,1.0,30.5\n", b"\x93NUMPY\x01\x00", b"\x89PNG\r\n", b""])
def test_a_file_of_the_wrong_kind_is_named_as_not_a_npz(tmp_path, content):
    # A history.csv given as the checkpoint got NumPy's "allow_pickle=False" advice.
    path = tmp_path / "history.csv"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=rf"checkpoint {path} is not a readable .npz file: .* does not begin as one") as info:
        load_checkpoint(path, "VAE")
    assert "pickle" not in str(info.value)


# --- bad input and faults (from the hostile-user review) ---

def _write_meta(path, meta):
    np.savez(path, w=np.zeros(2), __meta__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))


@pytest.mark.parametrize("meta, problem", [
    ([1, 2], "expected a JSON object; got list"),
    (None, "expected a JSON object; got NoneType"),
    ({"kind": "VAE", "arrays": [["w", [2]]]}, "'arrays' must map array names to shapes"),
    ({"kind": "VAE", "arrays": {"w": "2"}}, "'arrays' must map array names to shapes"),
    ({"kind": "VAE", "arrays": {"w": [2]}, "training": [1]}, "'training' must be a JSON object"),
    ({"arrays": {"w": [2]}}, "holds a None, expected a 'VAE'"),
])
def test_checkpoint_metadata_of_the_wrong_shape(meta, problem, tmp_path):
    path = tmp_path / "m.npz"
    _write_meta(path, meta)
    with pytest.raises(ValueError, match=f"^checkpoint {path} ") as info:
        VAE.load(path)
    assert problem in str(info.value)


@pytest.mark.parametrize("config, problem", [
    ({"x_dim": -1}, "x_dim must be an integer >= 1"),
    ({"x_dim": 64, "hidden": "a"}, "hidden widths must be an integer"),
    ({"x_dim": 64, "dtype": "float16"}, "dtype must be a floating dtype"),
    ({"x_dim": 64, "colour": "red"}, "unexpected keyword argument 'colour'"),
])
def test_checkpoint_with_an_invalid_config(config, problem, tmp_path):
    path = tmp_path / "m.npz"
    save_checkpoint(path, {"w": np.zeros(2)}, "VAE", config)
    with pytest.raises(ValueError, match=f"^checkpoint {path} has an invalid config") as info:
        VAE.load(path)
    assert problem in str(info.value)


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temporaries_are_removed_but_never_a_live_writers(tmp_path):
    path = tmp_path / "model.npz"
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        host = nio._HOST
        names = {
            "dead": f".model.npz.{host}-{_dead_pid()}.abc123.tmp",
            "live": f".model.npz.{host}-{live.pid}.def456.tmp",
            "other_host": f".model.npz.elsewhere-{_dead_pid()}.ghi789.tmp",
            "no_writer": ".model.npz.jkl012.tmp",                   # older naming, no PID: age decides
            "old_no_writer": ".model.npz.mno345.tmp",
            "other_file": f".history.csv.{host}-{_dead_pid()}.pqr678.tmp",
        }
        for name in names.values():
            (tmp_path / name).write_bytes(b"partial")
        day_old = time.time() - nio.STALE_SECONDS - 60
        os.utime(tmp_path / names["old_no_writer"], (day_old, day_old))
        save_checkpoint(path, {"w": np.zeros(2)}, "Thing", {})
        left = {p.name for p in tmp_path.iterdir()}
        assert names["dead"] not in left and names["old_no_writer"] not in left
        for kept in ("live", "other_host", "no_writer", "other_file"):   # other_file: not this file's
            assert names[kept] in left, kept
    finally:
        live.kill()
        live.wait()
