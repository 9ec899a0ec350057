"""A hostile user: every bad input gets a clear error naming its argument or file, and no run is lost.

Each test asserts the exact exception type and that the message names the
argument (or the file, or the command-line option). The resume tests compare
parameters bit for bit with an uninterrupted run of the same seed, after an
interruption at an epoch boundary, inside an epoch, and after SIGKILLs of a
training subprocess at random moments.
"""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import numvae
from numvae import io as nio
from numvae.autoencoder import Autoencoder
from numvae.cli import main
from numvae.data import load_digits, make_ppca_data, read_idx, split
from numvae.io import load_checkpoint, save_checkpoint
from numvae.nn import MLP
from numvae.optim import SGD, Adam
from numvae.train import History, fit
from numvae.vae import VAE

REPO = Path(numvae.__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def digits():
    X, _ = load_digits()
    return X[:200], X[200:240]        # tiny: every run here takes milliseconds


def _vae(dtype=np.float32, z_dim=3, seed=0, **kw):
    return VAE(64, hidden=(16,), z_dim=z_dim, dtype=dtype, seed=seed, **kw)


def _params(model):
    return {k: v.copy() for k, v in model.params.items()}


def _assert_bitwise_equal(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].tobytes() == b[k].tobytes(), k


# --- 1. silent results are errors ------------------------------------------------

@pytest.mark.parametrize("method", ["elbo", "log_likelihood"])
def test_a_forward_pass_that_overflows_raises(method, digits, tmp_path):
    X, _ = digits
    model = _vae(dtype=np.float64)
    for p in model.params.values():
        p[...] = 1e300                                      # finite, absurd
    model.save(tmp_path / "huge.npz")
    loaded = VAE.load(tmp_path / "huge.npz")                # finite weights load
    call = {"elbo": lambda m: m.elbo(X[:5], rng=0), "log_likelihood": lambda m: m.log_likelihood(X[:5], k=3, rng=0)}
    with np.errstate(all="ignore"), pytest.raises(FloatingPointError, match=f"^VAE.{method} overflowed: 5 of 5"):
        call[method](loaded)


# --- 2. the command line: one line, no traceback -----------------------------------

def _cli(capsys, *argv):
    """Run ``numvae argv``; return (status, stderr), checking that stderr is one error line, no traceback."""
    status = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"numvae {argv[0]}: error: "), err
    return status, lines[0]


def test_cli_train_out_is_a_file(capsys, tmp_path):
    (tmp_path / "f").write_text("x")
    status, line = _cli(capsys, "train", "--epochs", "1", "--out", tmp_path / "f", "--quiet")
    assert status == 2 and "--out" in line and "is a file" in line


def test_cli_train_out_unwritable_fails_before_training(capsys, tmp_path, monkeypatch):
    # The tests may run as root, for whom chmod does not forbid writing: make the write probe fail.
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")
    monkeypatch.setattr(nio.tempfile, "mkstemp", refuse)
    monkeypatch.setattr("numvae.train.fit", lambda *a, **k: pytest.fail("trained before checking --out"))
    status, line = _cli(capsys, "train", "--epochs", "1", "--out", tmp_path / "ro", "--quiet")
    assert status == 1 and "--out" in line and "not writable (Permission denied)" in line


@pytest.mark.parametrize("argv, option", [
    (["sample", "CKPT", "--out", "DIR"], "--out"),
    (["bench", "--json", "DIR", "--steps", "1"], "--json"),
])
def test_cli_a_directory_where_a_file_is_expected(argv, option, capsys, tmp_path, monkeypatch):
    _vae().save(tmp_path / "m.npz")
    monkeypatch.setattr("numvae.fast.bench.bench", lambda *a, **k: pytest.fail("benchmarked before checking --json"))
    argv = [str(tmp_path / "m.npz") if a == "CKPT" else str(tmp_path) if a == "DIR" else a for a in argv]
    status, line = _cli(capsys, *argv)
    assert status == 2 and f"{option} {tmp_path} is a directory" in line


def test_cli_compare_checks_out_before_comparing(capsys, tmp_path, monkeypatch):
    (tmp_path / "f").write_text("x")
    monkeypatch.setattr("numvae.compare.compare", lambda *a, **k: pytest.fail("compared before checking --out"))
    status, line = _cli(capsys, "compare", "--out", tmp_path / "f")
    assert status == 2 and "--out" in line


def test_cli_full_disk_keeps_the_last_checkpoint(capsys, tmp_path, monkeypatch):
    out = tmp_path / "run"
    assert main(["train", "--hidden", "8", "--latent", "2", "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    good = (out / "model.npz").read_bytes()
    capsys.readouterr()

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(nio.os, "fsync", full)
    status, line = _cli(capsys, "train", "--hidden", "8", "--latent", "2", "--epochs", "2", "--resume", out, "--quiet")
    assert status == 1 and "No space left on device while writing " + str(out / "") in line
    assert (out / "model.npz").read_bytes() == good
    assert not list(out.glob(".*.tmp"))


def test_cli_ctrl_c_says_how_to_resume(capsys, tmp_path, monkeypatch):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr("numvae.train.fit", interrupt)
    assert main(["train", "--epochs", "1", "--out", str(tmp_path / "run"), "--quiet"]) == 130
    err = capsys.readouterr().err
    run = tmp_path / "run"
    assert err.splitlines() == [f"numvae train: interrupted: {run} keeps the last finished epoch, if any; "
                                f"continue with --resume {run} (it keeps the run's options)"]


def test_cli_absurd_size_says_how_much_memory(capsys, tmp_path):
    # 2e12 latent units: petabytes, more than any machine's memory: refused before allocating, by option.
    status, line = _cli(capsys, "train", "--latent", "1000000000000", "--epochs", "1", "--out", tmp_path, "--quiet")
    assert status == 2 and "--z-dim 1000000000000" in line and "GiB" in line and "choose smaller sizes" in line
    status, line = _cli(capsys, "train", "--z-dim", "100000000", "--epochs", "1", "--out", tmp_path, "--quiet")
    assert status == 2 and "--hidden (400,), --z-dim 100000000 (--posterior 'diagonal')" in line, line


@pytest.mark.parametrize("content", [b"", b"not a zip", b"PK\x03\x04 broken"])
def test_cli_malformed_checkpoint(content, capsys, tmp_path):
    (tmp_path / "bad.npz").write_bytes(content)
    status, line = _cli(capsys, "sample", tmp_path / "bad.npz", "--out", tmp_path / "s.png")
    assert status == 2 and str(tmp_path / "bad.npz") in line


@pytest.mark.parametrize("command", ["gradcheck", "train", "sample", "compare", "bench"])
@pytest.mark.parametrize("seed", ["-1", "1.5", "x"])
def test_cli_every_seed_option_names_itself(command, seed, capsys):
    args = [command, "CKPT"] if command == "sample" else [command]
    with pytest.raises(SystemExit) as info:
        main(args + ["--seed", seed])
    assert info.value.code == 2
    assert f"argument --seed: must be a non-negative integer; got '{seed}'" in capsys.readouterr().err


def test_cli_debug_shows_the_traceback(tmp_path, monkeypatch, capsys):
    with pytest.raises(IsADirectoryError):
        main(["--debug", "sample", str(tmp_path)])
    with pytest.raises(IsADirectoryError):
        main(["sample", str(tmp_path), "--debug"])
    monkeypatch.setenv("NUMVAE_DEBUG", "1")
    with pytest.raises(IsADirectoryError):
        main(["sample", str(tmp_path)])
    monkeypatch.setenv("NUMVAE_DEBUG", "0")
    assert main(["sample", str(tmp_path)]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_cli_error_from_a_subprocess_is_one_line(tmp_path):
    """The real process: exit status, stderr of one line, and the traceback with NUMVAE_DEBUG=1."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("NUMVAE_DEBUG", None)
    cmd = [sys.executable, "-m", "numvae", "sample", str(tmp_path)]
    plain = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert plain.returncode == 2
    assert plain.stderr.splitlines() == [f"numvae sample: error: checkpoint {tmp_path} is a directory; "
                                         "expected a .npz file"]
    debug = subprocess.run(cmd, capture_output=True, text=True, env={**env, "NUMVAE_DEBUG": "1"}, timeout=60)
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "IsADirectoryError" in debug.stderr


# --- 3. checked before working ------------------------------------------------------

# --- 4. every argument names itself ----------------------------------------------------

BAD_NUMBERS = ["0.1", None, np.array([0.1]), [0.1]]


@pytest.mark.parametrize("bad", BAD_NUMBERS, ids=["str", "None", "array", "list"])
@pytest.mark.parametrize("call, name", [
    (lambda m, v: m.loss_and_grads(np.zeros((2, 64)), rng=0, beta=v), "beta"),
    (lambda m, v: m.loss_and_grads(np.zeros((2, 64)), rng=0, free_bits=v), "free_bits"),
    (lambda m, v: SGD(m.params, lr=0.1, momentum=v), "momentum"),
    (lambda m, v: Adam(m.params, beta1=v), "beta1"),
    (lambda m, v: Adam(m.params, eps=v), "eps"),
    (lambda m, v: SGD(m.params, lr=v), "lr"),
    (lambda m, v: make_ppca_data(10, np.ones((3, 1)), np.zeros(3), v, 0), "sigma2"),
    (lambda m, v: VAE(64, decoder="gaussian", decoder_logvar=v), "decoder_logvar"),
], ids=["beta", "free_bits", "momentum", "beta1", "eps", "sgd_lr", "sigma2", "decoder_logvar"])
def test_numbers_name_themselves(call, name, bad):
    with pytest.raises(ValueError, match=f"^{name} must be a"):
        call(_vae(), bad)


BAD_SEEDS = [-1, 1.5, "3", True]


@pytest.mark.parametrize("bad", BAD_SEEDS, ids=["negative", "float", "str", "bool"])
@pytest.mark.parametrize("call, name", [
    (lambda m, s: m.elbo(np.zeros((2, 64)), rng=s), "rng"),
    (lambda m, s: m.sample(2, rng=s), "rng"),
    (lambda m, s: m.log_likelihood(np.zeros((2, 64)), k=2, rng=s), "rng"),
    (lambda m, s: m.loss_and_grads(np.zeros((2, 64)), rng=s), "rng"),
    (lambda m, s: VAE(64, seed=s), "seed"),
    (lambda m, s: MLP((3, 2), rng=s), "rng"),
    (lambda m, s: fit(m, np.zeros((4, 64)), epochs=1, seed=s, progress=False), "seed"),
    (lambda m, s: split(np.zeros((10, 2)), [0.5, 0.5], s), "rng"),
    (lambda m, s: make_ppca_data(10, np.ones((3, 1)), np.zeros(3), 1.0, s), "rng"),
], ids=["elbo", "sample", "log_likelihood", "loss_and_grads", "VAE", "MLP", "fit", "split", "make_ppca_data"])
def test_seeds_name_themselves(call, name, bad):
    with pytest.raises(ValueError, match=f"^{name} must be"):
        call(_vae(), bad)


@pytest.mark.parametrize("build", [
    lambda a: VAE(64, activation=a), lambda a: MLP((3, 2), activation=a), lambda a: Autoencoder(4, activation=a),
], ids=["VAE", "MLP", "Autoencoder"])
def test_an_unhashable_activation_is_a_named_error(build):
    with pytest.raises(ValueError, match=r"^activation must be one of .*; got \['relu'\]"):
        build(["relu"])


@pytest.mark.parametrize("dtype", [np.float16, np.longdouble, "int32", "float128x"])
@pytest.mark.parametrize("build", [
    lambda d: VAE(64, dtype=d), lambda d: MLP((3, 2), dtype=d), lambda d: Autoencoder(4, dtype=d),
], ids=["VAE", "MLP", "Autoencoder"])
def test_only_float32_and_float64_models_are_built(build, dtype):
    if np.dtype(np.longdouble) == np.float64 and dtype is np.longdouble:
        pytest.skip("longdouble is float64 on this platform")
    with pytest.raises(ValueError, match=r"^dtype must be a floating dtype, float32 or float64"):
        build(dtype)


# --- 5. files ----------------------------------------------------------------------------

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


def test_a_folder_is_not_reported_as_missing(tmp_path):
    with pytest.raises(IsADirectoryError, match=f"^checkpoint {tmp_path} is a directory"):
        VAE.load(tmp_path)
    with pytest.raises(IsADirectoryError, match=f"^IDX file {tmp_path} is a directory"):
        read_idx(tmp_path)
    with pytest.raises(IsADirectoryError, match=f"^history file {tmp_path} is a directory"):
        History.from_json(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        VAE.load(tmp_path / "missing.npz")


def test_idx_header_dimensions_whose_product_overflows(tmp_path):
    # 4 dims of 65536: the product 2**64 wraps to 0 in int64, matching an empty payload.
    path = tmp_path / "huge.idx"
    path.write_bytes(bytes([0, 0, 0x08, 4]) + (65536).to_bytes(4, "big") * 4)
    with pytest.raises(ValueError, match=rf"^IDX file {path}: truncated, header dims \(65536, 65536"):
        read_idx(path)


# --- 6. nothing lost: resumable runs -------------------------------------------------------

# --- stale temporary files ------------------------------------------------------------------

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


# --- SIGKILL at random moments ------------------------------------------------------------

# --- the command line's run folder ------------------------------------------------------------

TRAIN = ["train", "--hidden", "8", "--batch-size", "64", "--quiet"]


def test_cli_out_holding_a_run_is_refused_or_replaced_whole(capsys, tmp_path):
    out = tmp_path / "run"
    assert main(TRAIN + ["--latent", "2", "--epochs", "1", "--out", str(out)]) == 0
    assert (out / "latent.png").exists()
    capsys.readouterr()
    status, line = _cli(capsys, *TRAIN, "--latent", "3", "--epochs", "1", "--out", out)
    assert status == 2 and f"--out {out} holds an earlier run" in line and "--force" in line
    assert main(TRAIN + ["--latent", "3", "--epochs", "1", "--out", str(out), "--force"]) == 0
    assert not (out / "latent.png").exists() and not (out / "manifold.png").exists()   # nothing of the old run
    assert VAE.load(out / "model.npz").z_dim == 3


def test_cli_resume_continues_a_run_to_the_uninterrupted_result(capsys, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(TRAIN + ["--latent", "3", "--epochs", "3", "--out", str(a)]) == 0
    assert main(TRAIN + ["--latent", "3", "--epochs", "1", "--out", str(b)]) == 0
    assert main(TRAIN + ["--latent", "3", "--epochs", "3", "--resume", str(b)]) == 0
    _assert_bitwise_equal(_params(VAE.load(b / "model.npz")), _params(VAE.load(a / "model.npz")))
    assert len(History.from_json(b / "history.json")) == 3
    capsys.readouterr()
    status, line = _cli(capsys, *TRAIN, "--latent", "4", "--epochs", "3", "--resume", b)
    assert status == 2 and "drop --z-dim 4 (the run has --z-dim 3)" in line   # by option, before the data
    status, line = _cli(capsys, *TRAIN, "--epochs", "3", "--resume", tmp_path / "empty")
    assert status == 2 and "no run to resume" in line


def test_compare_overwrites_its_own_outputs(tmp_path):
    from numvae.compare import compare, write_report

    write_report(compare("digits", z_dim=(2,), epochs=1, hidden=(8,), k=2), tmp_path)
    assert (tmp_path / "latent_vae.png").exists()
    first = (tmp_path / "comparison.csv").read_text()
    paths = write_report(compare("digits", z_dim=(3,), epochs=1, hidden=(8,), k=2), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)   # no K=2 leftovers
    assert (tmp_path / "comparison.csv").read_text() != first


@pytest.mark.parametrize("call, name", [
    (lambda p: VAE.load(p), "checkpoint path"), (lambda p: read_idx(p), "path"),
    (lambda p: History.from_json(p), "path"), (lambda p: _vae().save(p), "path"),
    (lambda p: fit(_vae(), np.zeros((4, 64)), epochs=1, checkpoint=p or 3, progress=False), "checkpoint"),
], ids=["VAE.load", "read_idx", "History.from_json", "VAE.save", "fit"])
@pytest.mark.parametrize("bad", [None, 3], ids=["None", "int"])   # fit: checkpoint=None is no checkpoint, so 3
def test_a_path_that_is_not_a_path_is_named(call, name, bad):
    with pytest.raises(ValueError, match=rf"^{name} must be a path \(str or os.PathLike\); got (int 3|NoneType None)$"):
        call(bad)


def test_cli_train_killed_twice_then_resumed_ends_as_one_run(tmp_path):
    """`numvae train` SIGKILLed at random moments after its first checkpoint, then `--resume`d."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    out = tmp_path / "run"
    options = ["--hidden", "8", "--latent", "3", "--epochs", "6", "--batch-size", "32", "--kl-warmup", "2",
               "--seed", "5", "--quiet"]
    rng = np.random.default_rng(1)
    for first in (True, False):
        where = ["--out", str(out)] if first else ["--resume", str(out)]
        proc = subprocess.Popen([sys.executable, "-m", "numvae", "train", *options, *where], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        epoch_before = load_checkpoint(out / "model.npz", "VAE")[1]["training"]["epoch"] if not first else 0
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:   # wait for a checkpoint newer than the last
            if (out / "model.npz").exists():
                try:
                    if load_checkpoint(out / "model.npz", "VAE")[1]["training"]["epoch"] > epoch_before:
                        break
                except ValueError:
                    pass
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    done = subprocess.run([sys.executable, "-m", "numvae", "train", *options, "--resume", str(out)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    X, y = load_digits()
    (X_tr, _), (X_va, _) = split(X, [0.8, 0.2], 5, y=y)
    model = VAE(64, hidden=(8,), z_dim=3, dtype=np.float32, seed=5, fast=True)   # float32 trains on the fast path
    fit(model, X_tr, X_va, epochs=6, batch_size=32, kl_warmup_epochs=2, seed=5, progress=False)
    _assert_bitwise_equal(_params(VAE.load(out / "model.npz")), _params(model))
    assert len(History.from_json(out / "history.json")) == 6
