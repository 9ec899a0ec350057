"""The `numvae` command's help: every option explained with its default, choices listed, the main job first."""

import argparse
import errno
import gzip
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from numvae import cli
from numvae import io as nio
from numvae.cli import main
from numvae.data import load_digits, split
from numvae.io import load_checkpoint
from numvae.train import History, fit
from numvae.vae import VAE

from helpers import REPO, assert_bitwise_equal, params_copy, tiny_vae

ROOT = Path(__file__).resolve().parent.parent


def _parsers(parser, path="numvae"):
    """Every (name, parser) of the command tree, the top level and nested subcommands included."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def _options(parser):
    return [a for a in parser._actions if a.option_strings and not isinstance(a, (argparse._HelpAction,
                                                                                   argparse._VersionAction))]


PARSERS = dict(_parsers(cli.build_parser()))


def test_subcommands_main_job_first():
    order = ["compare", "train", "sample", "gradcheck", "bench", "data", "course"]
    assert list(cli.COMMANDS) == order
    listed = [line.split()[0] for line in PARSERS["numvae"].format_help().split("COMMAND\n")[-1].splitlines()
              if line.startswith("    ") and not line.startswith("     ")]
    assert listed == order
    assert {"numvae data list", "numvae data fetch", "numvae course build"} <= set(PARSERS)


def test_every_option_has_help_that_shows_its_default():
    for path, parser in PARSERS.items():
        text = " ".join(parser.format_help().split())   # undo the line wrapping
        for action in _options(parser):
            if action.help == argparse.SUPPRESS:
                continue
            assert action.help, f"{path} {action.option_strings[0]} has no help"
            if action.default is argparse.SUPPRESS:   # --debug after the command: no value to show
                continue
            if action.default is None:   # the help itself says what happens without it
                assert "default" in action.help, f"{path} {action.option_strings[0]}"
            else:
                assert f"(default: {action.default})" in text, f"{path} {action.option_strings[0]}"
            if action.choices:
                assert "{" + ",".join(action.choices) + "}" in text, f"{path} {action.option_strings[0]}"


def test_hidden_options_are_aliases_of_shown_ones():
    for path, parser in PARSERS.items():
        shown = {a.dest for a in _options(parser) if a.help != argparse.SUPPRESS}
        for action in _options(parser):
            if action.help == argparse.SUPPRESS:
                assert action.dest in shown, f"{path} {action.option_strings[0]} hides a concept of its own"


def test_old_spellings_land_on_the_new_names():
    args = cli.build_parser().parse_args(["train", "--latent", "3", "--kl-warmup", "2"])
    assert args.z_dim == 3 and args.kl_warmup_epochs == 2.0
    args = cli.build_parser().parse_args(["train"])
    assert args.z_dim == 20 and args.kl_warmup_epochs == 0.0
    args = cli.build_parser().parse_args(["bench", "--ll-k", "7", "--warmup", "1"])
    assert args.k == 7 and args.warmup_steps == 1


def test_train_writes_to_runs_train_which_git_ignores():
    # --out stays None on the command line so that --resume DIR alone names the folder;
    # without either, train resolves it to runs/train and its help says so.
    assert cli.build_parser().parse_args(["train"]).out is None and cli.TRAIN_OUT == "runs/train"
    train = next(a.choices["train"] for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert "default: runs/train" in " ".join(train.format_help().split())
    assert "runs/" in (ROOT / ".gitignore").read_text().split()


def test_dtype_default_differs_from_python_and_the_help_says_why():
    import inspect

    from numvae.vae import VAE

    assert inspect.signature(VAE).parameters["dtype"].default == np.float64
    for path in ("numvae train", "numvae bench"):
        (dtype,) = [a for a in _options(PARSERS[path]) if a.dest == "dtype"]
        assert dtype.default == "float32" and "float64" in dtype.help and "VAE(" in dtype.help


def test_train_data_root_reaches_the_digits(tmp_path, capsys):
    # 20 all-black digits of class 7 in --data-root, so the run shows which file it read.
    with gzip.open(tmp_path / "digits.csv.gz", "wt") as f:
        f.write("".join(",".join(["0"] * 64 + ["7"]) + "\n" for _ in range(20)))
    assert cli.main(["train", "--data-root", str(tmp_path), "--hidden", "4", "--z-dim", "2", "--epochs", "1",
                     "--batch-size", "8", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert "digits: 16 train / 4 valid rows" in capsys.readouterr().out


def test_bench_activation_choices_are_the_hidden_activations_of_numvae_nn():
    from numvae.nn import ACTIVATIONS

    (activation,) = [a for a in _options(PARSERS["numvae bench"]) if a.dest == "activation"]
    assert set(activation.choices) == set(ACTIVATIONS) - {"identity"}


def test_train_threads_two_reaches_the_model_and_ends_in_the_same_weights(tmp_path, monkeypatch):
    """--threads 2 sets VAE.threads (and so fit's Adam), and the run's weights are those of --threads 1."""
    import numvae.train
    from numvae.vae import VAE

    seen = []
    real_fit = numvae.train.fit
    monkeypatch.setattr(numvae.train, "fit",
                        lambda model, *a, **k: seen.append((model.fast, model.threads)) or real_fit(model, *a, **k))
    for threads in ("1", "2"):
        assert cli.main(["train", "--hidden", "8", "--z-dim", "2", "--epochs", "1", "--threads", threads,
                         "--out", str(tmp_path / threads), "--quiet"]) == 0
    assert seen == [(True, 1), (True, 2)]          # float32, the default, trains on the fast path
    one, two = VAE.load(tmp_path / "1" / "model.npz"), VAE.load(tmp_path / "2" / "model.npz")
    assert all(np.array_equal(p, two.params[k]) for k, p in one.params.items())


def test_train_in_float64_takes_the_plain_path_and_refuses_two_threads(tmp_path, monkeypatch, capsys):
    import numvae.train

    seen = []
    real_fit = numvae.train.fit
    monkeypatch.setattr(numvae.train, "fit", lambda model, *a, **k: seen.append(model.fast) or real_fit(model, *a, **k))
    assert cli.main(["train", "--hidden", "8", "--z-dim", "2", "--epochs", "1", "--dtype", "float64",
                     "--out", str(tmp_path / "a"), "--quiet"]) == 0
    assert seen == [False]
    capsys.readouterr()
    assert cli.main(["train", "--dtype", "float64", "--threads", "2", "--out", str(tmp_path / "b"), "--quiet"]) == 2
    assert "--threads 2 needs --dtype float32" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()          # refused before any data; no folder left behind


def _one_error_line(capsys, argv):
    status = cli.main([str(a) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return status, err[0]


TRAIN_SMALL = ["train", "--hidden", "8", "--z-dim", "2", "--epochs", "1", "--batch-size", "64", "--quiet"]


def test_a_folder_another_process_trains_in_is_refused_and_its_run_kept(tmp_path, capsys):
    import os

    from numvae.runlock import run_lock

    out = tmp_path / "run"
    assert cli.main(TRAIN_SMALL + ["--out", str(out)]) == 0
    capsys.readouterr()
    before = (out / "model.npz").read_bytes()
    with run_lock(out):   # as a `numvae train` running in another process holds it
        for argv in (TRAIN_SMALL + ["--out", out, "--force"], TRAIN_SMALL + ["--epochs", "2", "--resume", out]):
            status, line = _one_error_line(capsys, argv)
            assert status == 1 and f"{out} is in use: process {os.getpid()}" in line, line
            assert (out / "model.npz").read_bytes() == before
    assert cli.main(TRAIN_SMALL + ["--epochs", "2", "--resume", str(out)]) == 0   # the lock went with its holder


def test_force_keeps_the_old_run_until_the_new_one_has_a_checkpoint(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert cli.main(TRAIN_SMALL + ["--out", str(out)]) == 0
    kept = {name: (out / name).read_bytes() for name in ("model.npz", "history.csv", "history.json")}

    def dies_in_its_first_epoch(*args, **kwargs):
        raise MemoryError
    monkeypatch.setattr("numvae.train.fit", dies_in_its_first_epoch)
    capsys.readouterr()
    status, line = _one_error_line(capsys, TRAIN_SMALL + ["--z-dim", "3", "--out", out, "--force"])
    assert status == 1 and "not enough memory" in line
    assert {name: (out / name).read_bytes() for name in kept} == kept   # still the old run, resumable
    monkeypatch.undo()
    assert cli.main(TRAIN_SMALL + ["--epochs", "2", "--resume", str(out)]) == 0


# --- one voice (issue 31): errors by the subcommand's own parser, naming the option ---------------

LEAVES = {name: p for name, p in PARSERS.items()
          if not any(isinstance(a, argparse._SubParsersAction) for a in p._actions) and name != "numvae"}


def test_every_command_takes_quiet():
    assert {"numvae sample", "numvae gradcheck", "numvae data list", "numvae train"} <= set(LEAVES)
    for name, p in LEAVES.items():
        assert "--quiet" in [s for a in _options(p) for s in a.option_strings], name


def _refused(capsys, argv):
    """Run ``numvae argv``, which must be refused by argparse (status 2); return standard error."""
    import pytest

    with pytest.raises(SystemExit) as exc:
        cli.main([str(a) for a in argv])
    assert exc.value.code == 2
    return capsys.readouterr().err


def test_an_unknown_option_is_reported_by_the_subcommands_own_parser(capsys):
    for argv, prog in ((["train", "--nope"], "numvae train"), (["data", "list", "--nope", "x"], "numvae data list"),
                       (["sample", "m.npz", "--z-dim", "2"], "numvae sample")):
        err = _refused(capsys, argv)
        assert err.startswith(f"usage: {prog} ") and f"{prog}: error: unrecognized arguments: " in err, err


def test_malformed_lists_and_numbers_are_refused_naming_the_option_and_leave_no_folder(capsys, tmp_path):
    out = tmp_path / "runs" / "x"
    cases = [(["compare", "--z-dim", bad], "--z-dim") for bad in ("2,,4", "2,", ",", "2,x", "0", "")]
    cases += [(["train", "--hidden", bad], "--hidden") for bad in ("200,,200", "200,", "-1", "1.5")]
    cases += [(["bench", "--batch-size", bad], "--batch-size") for bad in ("100,,500", "")]
    cases += [(["train", "--lr", bad], "--lr") for bad in ("-1", "0", "nan", "inf", "fast")]
    cases += [(["train", "--z-dim", "0"], "--z-dim"), (["train", "--epochs", "-1"], "--epochs"),
              (["train", "--kl-warmup-epochs", "-1"], "--kl-warmup-epochs"), (["train", "--free-bits", "nan"],
                                                                              "--free-bits"),
              (["compare", "--k", "0"], "--k"), (["compare", "--epochs", "0"], "--epochs"),
              (["compare", "--iwae-k", "0"], "--iwae-k"),
              (["sample", "m.npz", "--n", "0"], "--n"), (["gradcheck", "--tol", "0"], "--tol"),
              (["bench", "--steps", "0"], "--steps"), (["bench", "--k", "-1"], "--k")]
    for argv, option in cases:
        err = _refused(capsys, argv + (["--out", out] if argv[0] in ("train", "compare") else []))
        assert f"numvae {argv[0]}: error: argument {option}: must be " in err, (argv, err)
        assert not (tmp_path / "runs").exists(), argv
    assert cli.build_parser().parse_args(["train", "--hidden", ""]).hidden == ()   # '' is a linear VAE
    assert cli.build_parser().parse_args(["compare", "--z-dim", " 2, 4"]).z_dim == (2, 4)


def test_a_refused_or_failed_command_leaves_no_folder_it_made(tmp_path, capsys, monkeypatch):
    import pytest

    import numvae.compare  # noqa: F401 -- imported now, so its `from numvae.train import fit` binds the real fit

    deep = tmp_path / "runs" / "a" / "b"
    status, line = _one_error_line(capsys, ["train", "--z-dim", "100000000", "--out", deep, "--quiet"])
    assert status == 2 and "--z-dim 100000000" in line and not (tmp_path / "runs").exists()

    def no_data(args):
        raise FileNotFoundError("no such dataset")
    monkeypatch.setattr(cli, "_train_data", no_data)
    assert cli.main(["train", "--out", str(deep), "--quiet"]) == 2 and not (tmp_path / "runs").exists()
    existing = tmp_path / "mine"
    existing.mkdir()
    assert cli.main(["train", "--out", str(existing), "--quiet"]) == 2
    assert existing.is_dir() and list(existing.iterdir()) == []          # the user's folder stays; no lock file
    monkeypatch.undo()
    capsys.readouterr()

    def fails_after_a_checkpoint(model, *args, checkpoint, **kwargs):
        model.save(checkpoint)
        raise FloatingPointError("diverged in epoch 2")
    monkeypatch.setattr("numvae.train.fit", fails_after_a_checkpoint)
    assert cli.main(TRAIN_SMALL + ["--out", str(deep)]) == 1
    assert (deep / "model.npz").is_file()                                # what a run wrote is kept

    def compare_fails(*args, **kwargs):
        raise ValueError("z_dim: latent sizes must be smaller than the data dimension")
    monkeypatch.setattr("numvae.compare.compare", compare_fails)
    assert cli.main(["compare", "--out", str(tmp_path / "cmp" / "x"), "--quiet"]) == 2
    assert not (tmp_path / "cmp").exists()
    with pytest.raises(SystemExit):
        cli.main(["compare", "--k", "0", "--out", str(tmp_path / "cmp")])
    assert not (tmp_path / "cmp").exists()


def test_compare_refuses_an_earlier_comparison_without_force(tmp_path, capsys, monkeypatch):
    (tmp_path / "comparison.md").write_text("old")
    monkeypatch.setattr("numvae.compare.compare", lambda *a, **k: pytest_fail("compared before checking --out"))
    status, line = _one_error_line(capsys, ["compare", "--out", tmp_path, "--quiet"])
    assert status == 2 and f"--out {tmp_path} holds an earlier comparison (comparison.md)" in line
    assert "--force" in line and (tmp_path / "comparison.md").read_text() == "old"


def pytest_fail(message):
    import pytest

    pytest.fail(message)


def test_metavars_are_uniform_capitals_naming_the_kind_of_value():
    # Was a mix of argparse's defaults (BATCH_SIZE, Z_DIM), lowercase (--k k) and explicit names.
    allowed = {"N", "N,...", "K", "K,...", "X", "SEED", "DIR", "FILE", "FILE.png", "EPOCHS", "NATS"}
    seen = {}
    for name, p in PARSERS.items():
        for a in _options(p):
            if a.nargs == 0 or a.help == argparse.SUPPRESS:
                continue
            if a.choices is not None:
                assert a.metavar is None, (name, a.option_strings)   # shown as {a,b}, the same everywhere
                continue
            assert a.metavar in allowed, (name, a.option_strings, a.metavar)
            seen.setdefault(a.option_strings[0], set()).add(a.metavar)
    assert seen["--hidden"] == {"N,..."} and seen["--seed"] == {"SEED"} and seen["--k"] == {"N"}
    assert seen["--epochs"] == {"N"} and seen["--lr"] == {"X"} and seen["--data-root"] == {"DIR"}
    usage = PARSERS["numvae compare"].format_usage() + PARSERS["numvae train"].format_usage()
    assert "[--k N]" in usage and "[--batch-size N]" in usage and "[--lr X]" in usage


# --- resume takes the run's options from the run (issue 31) ------------------------------------

RUN_OPTIONS = ["--hidden", "8", "--z-dim", "3", "--batch-size", "64", "--lr", "0.002", "--seed", "5",
               "--kl-warmup-epochs", "1", "--quiet"]


def _weights(path):
    from numvae.vae import VAE

    return {k: v.copy() for k, v in VAE.load(path).params.items()}


def test_resume_alone_continues_a_killed_run_with_its_own_options(tmp_path, monkeypatch):
    import numpy as np

    import numvae.train

    a, b = tmp_path / "a", tmp_path / "b"
    assert cli.main(["train", *RUN_OPTIONS, "--epochs", "3", "--out", str(a)]) == 0
    save_run = numvae.train.save_run

    def killed_after_the_first_checkpoint(*args, **kwargs):
        save_run(*args, **kwargs)
        raise KeyboardInterrupt
    monkeypatch.setattr(numvae.train, "save_run", killed_after_the_first_checkpoint)
    assert cli.main(["train", *RUN_OPTIONS, "--epochs", "3", "--out", str(b)]) == 130
    monkeypatch.undo()
    assert cli.main(["train", "--resume", str(b), "--quiet"]) == 0     # not one option repeated
    wa, wb = _weights(a / "model.npz"), _weights(b / "model.npz")
    assert wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)   # bitwise, all 3 epochs
    assert cli.main(["train", "--resume", str(b), "--epochs", "4", "--threads", "2", "--hidden", "8",
                     "--quiet"]) == 0                                    # what may change, and an equal value
    from numvae.train import History
    assert len(History.from_json(b / "history.json")) == 4


def test_resume_refuses_a_conflicting_option_by_name_before_loading_data(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert cli.main(["train", *RUN_OPTIONS, "--epochs", "1", "--out", str(out)]) == 0
    capsys.readouterr()
    monkeypatch.setattr(cli, "_train_data", lambda args: pytest_fail("loaded the data before checking options"))
    status, line = _one_error_line(capsys, ["train", "--resume", out, "--hidden", "16", "--lr", "0.01",
                                            "--binarize", "--data", "fashion-mnist", "--epochs", "2"])
    assert status == 2 and f"--resume {out}: the run keeps the options it was started with" in line
    for typed, run in (("--hidden 16", "--hidden 8"), ("--lr 0.01", "--lr 0.002"), ("--binarize", "no --binarize"),
                       ("--data fashion-mnist", "--data digits")):
        assert f"{typed} (the run has {run})" in line, line
    assert "--epochs" not in line.split("drop")[1]                  # --epochs may change


def test_errors_found_after_parsing_name_the_options_too(tmp_path, capsys):
    status, line = _one_error_line(capsys, ["train", "--free-bits", "0.5", "--posterior", "full",
                                            "--out", tmp_path / "t", "--quiet"])
    assert status == 2 and line.endswith("error: --free-bits must be 0 with --posterior full (its KL does not split "
                                         "into one term per latent dimension); got --free-bits 0.5")
    status, line = _one_error_line(capsys, ["compare", "--z-dim", "2,100", "--out", tmp_path / "c", "--quiet"])
    assert status == 2 and "error: --z-dim: latent sizes must be smaller than the data dimension 64; got 100" in line
    assert "z_dim" not in line and sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_second_process_is_refused_while_a_run_trains_and_the_killed_run_resumes(tmp_path, capsys):
    # Two real processes: `numvae train` in a child, refused to a second one here, then SIGKILLed
    # (the system releases its lock) and resumed with no option repeated but --epochs.
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               OPENBLAS_NUM_THREADS="1")
    child = subprocess.Popen([sys.executable, "-m", "numvae", "train", "--hidden", "64", "--z-dim", "2",
                              "--epochs", "100000", "--out", str(out), "--quiet"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (out / "history.json").exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert child.poll() is None and (out / "history.json").exists(), child.stderr.read() if child.poll() else ""
        status, line = _one_error_line(capsys, ["train", "--out", out, "--force", "--quiet"])
        assert status == 1 and f"--out {out} is in use: process {child.pid} on " in line, line
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        child.kill()
        child.wait()
        child.stderr.close()
    done = len(json.loads((out / "history.json").read_text())["epoch"])
    assert cli.main(["train", "--resume", str(out), "--epochs", str(done + 1), "--quiet"]) == 0
    assert len(json.loads((out / "history.json").read_text())["epoch"]) == done + 1


# --- bad input and faults (from the hostile-user review) ---

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
    tiny_vae().save(tmp_path / "m.npz")
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
    assert_bitwise_equal(params_copy(VAE.load(b / "model.npz")), params_copy(VAE.load(a / "model.npz")))
    assert len(History.from_json(b / "history.json")) == 3
    capsys.readouterr()
    status, line = _cli(capsys, *TRAIN, "--latent", "4", "--epochs", "3", "--resume", b)
    assert status == 2 and "drop --z-dim 4 (the run has --z-dim 3)" in line   # by option, before the data
    status, line = _cli(capsys, *TRAIN, "--epochs", "3", "--resume", tmp_path / "empty")
    assert status == 2 and "no run to resume" in line


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
    assert_bitwise_equal(params_copy(VAE.load(out / "model.npz")), params_copy(model))
    assert len(History.from_json(out / "history.json")) == 6


def test_train_objective_dreg_is_recorded_and_kept_by_resume(tmp_path, capsys):
    import numpy as np

    from numvae.io import load_checkpoint

    a, b = tmp_path / "a", tmp_path / "b"
    options = ["--hidden", "8", "--z-dim", "2", "--objective", "dreg", "--iwae-k", "3", "--quiet"]
    assert cli.main(["train", *options, "--epochs", "2", "--out", str(a)]) == 0
    settings = load_checkpoint(a / "model.npz", "VAE", training=True)[1]["training"]["settings"]
    assert settings["objective"] == {"name": "iwae", "k": 3, "estimator": "dreg"}
    assert cli.main(["train", *options, "--epochs", "1", "--out", str(b)]) == 0
    assert cli.main(["train", "--resume", str(b), "--epochs", "2", "--quiet"]) == 0   # --objective from the run
    wa, wb = _weights(a / "model.npz"), _weights(b / "model.npz")
    assert all(np.array_equal(wa[k], wb[k]) for k in wa)
    capsys.readouterr()
    assert cli.main(["train", "--resume", str(b), "--epochs", "3", "--objective", "iwae", "--quiet"]) == 2
    assert "--objective iwae (the run has --objective dreg)" in capsys.readouterr().err
    assert cli.main(["train", "--objective", "iwae", "--free-bits", "0.5", "--out", str(tmp_path / "c"),
                     "--quiet"]) == 2
    assert "--free-bits and --kl-warmup-epochs belong to --objective elbo" in capsys.readouterr().err


def test_compare_objective_reaches_the_comparison_and_its_table(tmp_path, capsys, monkeypatch):
    import numvae.compare

    real, seen = numvae.compare.compare, {}

    def small(*args, **kwargs):   # the real comparison, with few per-image optimisation steps
        seen.update(kwargs)
        return real(*args, **kwargs, gap_n=2, gap_steps=4)
    monkeypatch.setattr(numvae.compare, "compare", small)
    argv = ["compare", "--z-dim", "2", "--epochs", "1", "--hidden", "8", "--k", "2", "--quiet"]
    assert cli.main([*argv, "--objective", "dreg", "--iwae-k", "3", "--out", str(tmp_path / "a")]) == 0
    assert repr(seen["objective"]) == "IWAE(k=3, estimator='dreg')"
    out = capsys.readouterr().out
    assert "| DReG k=3 |" in out and "on DReG k=3;" in out
    assert "DReG k=3" in (tmp_path / "a" / "comparison.csv").read_text()
    assert cli.main([*argv, "--out", str(tmp_path / "b")]) == 0          # the default: the ELBO
    assert seen["objective"] is None and "| ELBO |" in capsys.readouterr().out


def test_compare_refuses_an_unknown_objective_naming_the_option(capsys, tmp_path):
    err = _refused(capsys, ["compare", "--objective", "elbo2", "--out", tmp_path / "c"])
    assert "numvae compare: error: argument --objective: invalid choice: 'elbo2' (choose from " in err, err
    assert not (tmp_path / "c").exists()
