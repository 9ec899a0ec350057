"""The `numvae` command's help: every option explained with its default, choices listed, the main job first."""

import argparse
import gzip
from pathlib import Path

import numpy as np

from numvae import cli

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
    order = ["compare", "train", "sample", "gradcheck", "bench", "data"]
    assert list(cli.COMMANDS) == order
    listed = [line.split()[0] for line in PARSERS["numvae"].format_help().split("COMMAND\n")[-1].splitlines()
              if line.startswith("    ") and not line.startswith("     ")]
    assert listed == order
    assert {"numvae data list", "numvae data fetch"} <= set(PARSERS)


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
    monkeypatch.setattr(numvae.train, "fit", lambda model, *a, **k: seen.append(model.threads) or real_fit(model, *a, **k))
    for threads in ("1", "2"):
        assert cli.main(["train", "--hidden", "8", "--z-dim", "2", "--epochs", "1", "--threads", threads,
                         "--out", str(tmp_path / threads), "--quiet"]) == 0
    assert seen == [1, 2]
    one, two = VAE.load(tmp_path / "1" / "model.npz"), VAE.load(tmp_path / "2" / "model.npz")
    assert all(np.array_equal(p, two.params[k]) for k, p in one.params.items())


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
