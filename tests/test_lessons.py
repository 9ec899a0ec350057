"""Run every lesson headless in fast mode at two seeds: it must exit 0 and write the figures it announces.

Lessons are discovered by file name (``lessons/NN_*.py``), so a new lesson is
tested without editing this file. Each runs in its own interpreter, exactly as
a student would run it (``python lessons/NN_x.py --fast --out DIR``); a failed
``assert`` in a lesson - a numerical claim that no longer holds - fails here
with the lesson's output in the message.

The tests that run a lesson or a solutions file are marked ``lessons`` (they
are most of the suite's time); ``pytest -m "not lessons"`` leaves them out.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
LESSONS = sorted((REPO / "lessons").glob("[0-9][0-9]_*.py"))
SOLUTIONS = sorted((REPO / "lessons").glob("solutions_*.py"))   # worked answers to the exercises
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TIMEOUT = 300  # seconds per lesson; fast mode takes seconds, this only stops a hang


def test_lessons_are_found():
    assert LESSONS, f"no lessons/NN_*.py found under {REPO / 'lessons'}"


# Two seeds: a claim must hold at any seed, not at the one it was written at (the
# lessons' statistical tolerances come from standard errors, not from one lucky draw).
SEEDS = (0, 1)


@pytest.mark.lessons
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("lesson", LESSONS, ids=[p.name for p in LESSONS])
def test_lesson_runs_and_writes_its_figures(lesson, seed, run_lesson):
    proc, out = run_lesson(lesson, seed)
    output = f"--- stdout\n{proc.stdout[-6000:]}\n--- stderr\n{proc.stderr[-6000:]}"
    assert proc.returncode == 0, f"{lesson.name} exited with status {proc.returncode}\n{output}"

    figures = [Path(line[len("figure: "):].strip()) for line in proc.stdout.splitlines()
               if line.startswith("figure: ")]
    assert figures, f"{lesson.name} announced no 'figure: <path>' line\n{output}"
    for fig in figures:
        assert fig.is_file(), f"{lesson.name} announced {fig}, which does not exist"
        assert fig.resolve().parent == out.resolve(), f"{lesson.name} wrote {fig} outside --out {out}"
        data = fig.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 1000, f"{fig} is not a non-empty PNG ({len(data)} bytes)"


@pytest.mark.lessons
@pytest.mark.parametrize("solutions", SOLUTIONS, ids=[p.name for p in SOLUTIONS])
def test_worked_solutions_run_and_their_answers_hold(solutions, tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg", NUMVAE_FAST="1")
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    proc = subprocess.run([sys.executable, str(solutions), "--fast", "--out", str(tmp_path)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, f"{solutions.name} exited with {proc.returncode}\n{proc.stdout[-4000:]}{proc.stderr[-4000:]}"
    assert "[ok]" in proc.stdout, f"{solutions.name} asserted nothing"


@pytest.mark.parametrize("argv, option", [(["--seed", "-1"], "--seed"), (["--seed", "1.5"], "--seed"),
                                          (["--seed", "seven"], "--seed"), (["--out", "FILE"], "--out")])
def test_lessons_refuse_a_bad_seed_or_out_naming_the_option(tmp_path, capsys, argv, option):
    # The lessons parse --seed and --out as the numvae CLI does: a clear error naming the option.
    sys.path.insert(0, str(REPO / "lessons"))
    try:
        import _lesson
    finally:
        sys.path.remove(str(REPO / "lessons"))
    existing = tmp_path / "a_file"
    existing.write_text("")
    argv = [str(existing) if a == "FILE" else a for a in argv]
    with pytest.raises(SystemExit) as exc:
        _lesson.setup("a lesson", argv=argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}" in err and ("non-negative integer" in err or "existing file" in err), err


def _setup_error(capsys, argv):
    """Run the lessons' setup() on `argv`; return its argparse error text (it must exit with status 2)."""
    sys.path.insert(0, str(REPO / "lessons"))
    try:
        import _lesson
    finally:
        sys.path.remove(str(REPO / "lessons"))
    with pytest.raises(SystemExit) as exc:
        _lesson.setup("a lesson", argv=argv)
    assert exc.value.code == 2
    return capsys.readouterr().err


def test_lessons_refuse_an_out_under_a_file_before_any_work(tmp_path, capsys):
    (tmp_path / "a_file").write_text("")
    err = _setup_error(capsys, ["--out", str(tmp_path / "a_file" / "figs")])
    assert "argument --out: must be a folder the figures can be written to" in err, err
    assert f"{tmp_path / 'a_file'} is a file" in err and "Traceback" not in err


@pytest.mark.parametrize("existing", [True, False])
def test_lessons_refuse_an_out_they_cannot_write_before_any_work(tmp_path, capsys, monkeypatch, existing):
    import errno
    import tempfile

    out = tmp_path / "figs"
    if existing:
        out.mkdir()

    def read_only(*args, **kwargs):   # what creating a file in a read-only folder answers (root ignores chmod)
        raise PermissionError(errno.EACCES, "Permission denied")
    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    err = _setup_error(capsys, ["--out", str(out)])
    assert f"argument --out: must be a folder the figures can be written to; folder {out} is not writable " \
           "(Permission denied)" in err, err


def test_lessons_check_only_the_out_they_will_use(tmp_path, capsys, monkeypatch):
    # setup(out=...) from a notebook overrides --out's default, so an unwritable default must not stop it.
    (tmp_path / "a_file").write_text("")
    monkeypatch.setenv("NUMVAE_OUT", str(tmp_path / "a_file" / "figs"))
    sys.path.insert(0, str(REPO / "lessons"))
    try:
        import _lesson
    finally:
        sys.path.remove(str(REPO / "lessons"))
    lesson = _lesson.setup("a lesson", argv=[], out=tmp_path / "mine")
    assert lesson.out == tmp_path / "mine" and lesson.out.is_dir()
    err = _setup_error(capsys, [])                        # the default is used, so it is checked, by name
    assert "argument --out (not given, so NUMVAE_OUT" in err and "must be a folder the figures can be written" in err


def test_lessons_take_their_seed_from_numvae_seed(monkeypatch, capsys, tmp_path):
    # A notebook has no command line: NUMVAE_SEED sets the seed as NUMVAE_FAST sets the mode,
    # and --seed, where there is one, still wins.
    sys.path.insert(0, str(REPO / "lessons"))
    try:
        import _lesson
    finally:
        sys.path.remove(str(REPO / "lessons"))
    monkeypatch.setenv("NUMVAE_SEED", "7")
    lesson = _lesson.setup("a lesson", argv=[], out=tmp_path)
    assert lesson.seed == 7 and "seed 7" in capsys.readouterr().out
    assert lesson.rng.random() == np.random.default_rng(7).random()
    assert _lesson.setup("a lesson", argv=["--seed", "3"], out=tmp_path).seed == 3
    monkeypatch.setenv("NUMVAE_SEED", "")
    assert _lesson.setup("a lesson", argv=[], out=tmp_path).seed == 0           # empty: the default
    for bad in ("-1", "seven", "1.5"):
        monkeypatch.setenv("NUMVAE_SEED", bad)
        err = _setup_error(capsys, [])
        assert "NUMVAE_SEED" in err and "non-negative integer" in err and repr(bad) in err, err
