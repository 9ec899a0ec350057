"""The lessons' "your turn" cells: the student version, its stubs, and the grading that answers a student.

A lesson keeps the solution of each your-turn cell between nbgrader's markers;
``lessons/make_student_version.py DIR`` replaces each by a stub raising
``YourTurn``. Checked here: the conversion (markers, the comment that names the
task, errors), the grader (``_lesson.grade``: which hint a wrong answer gets),
and, marked ``lessons``, whole runs: a student lesson stops at its first stub
with that one line and exit status 2, in a script and in a notebook, and three
planted wrong answers (the KL without its −K, the Linear backward with W
transposed, log-mean-exp without the max shift) stop with the hint that names
their slip. That the full lessons still pass is tests/test_lessons.py's.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
LESSONS_DIR = REPO / "lessons"
LESSONS = sorted(LESSONS_DIR.glob("[0-9][0-9]_*.py"))
TIMEOUT = 300
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"

sys.path.insert(0, str(LESSONS_DIR))
try:
    import _lesson
    import make_student_version as msv
finally:
    sys.path.remove(str(LESSONS_DIR))


def _env():
    env = dict(os.environ, MPLBACKEND="Agg", NUMVAE_FAST="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    return env


def _run(script, tmp_path, cwd):
    return subprocess.run([sys.executable, str(script), "--fast", "--out", str(tmp_path / "figs")], cwd=cwd,
                          env=_env(), capture_output=True, text=True, timeout=TIMEOUT)


# --- the conversion -----------------------------------------------------------------------

LESSON_TEXT = '''x = 1
def kl(mu, logvar):
    """doc"""
    # your turn: the KL of section 3
    ### BEGIN SOLUTION
    return 0.5 * (mu ** 2)
    ### END SOLUTION


# your turn: a top-level line
### BEGIN SOLUTION
y = kl(1, 0)
### END SOLUTION
print(y)
'''


def test_each_solution_block_becomes_a_stub_that_names_the_task_indented_as_its_markers():
    text, n = msv.student_text(LESSON_TEXT, "02_kl.py")
    assert n == 2
    assert BEGIN not in text and END not in text and "0.5 * (mu ** 2)" not in text and "y = kl(1, 0)" not in text
    assert "    raise YourTurn('your turn: the KL of section 3 — lesson 02')\n" in text
    assert "\nraise YourTurn('your turn: a top-level line — lesson 02')\nprint(y)\n" in text
    assert text.startswith('x = 1\ndef kl(mu, logvar):\n    """doc"""\n    # your turn: the KL of section 3\n')
    compile(text, "student", "exec")                     # still Python


@pytest.mark.parametrize("text, message", [
    ("a = 1\n### BEGIN SOLUTION\nb = 2\n### END SOLUTION\n", "must follow a '# your turn: <what to write>'"),
    ("# your turn: x\n### BEGIN SOLUTION\nb = 2\n", "without an '### END SOLUTION' after it"),
    ("b = 2\n### END SOLUTION\n", "without a '### BEGIN SOLUTION' before it"),
    ("# your turn: x\n### BEGIN SOLUTION\n# your turn: y\n### BEGIN SOLUTION\n### END SOLUTION\n", "again before"),
])
def test_broken_markers_are_refused_naming_the_file_and_line(text, message):
    with pytest.raises(ValueError, match=re.escape(message)) as err:
        msv.student_text(text, "07_x.py")
    assert str(err.value).startswith("07_x.py, line ")


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.name for p in LESSONS])
def test_every_lesson_has_a_your_turn_cell_and_each_is_graded(lesson):
    text = lesson.read_text(encoding="utf-8")
    student, blocks = msv.student_text(text, lesson.name)      # raises on broken markers
    assert blocks >= 1, f"{lesson.name} has no your-turn cell ('{BEGIN}' ... '{END}')"
    assert "YourTurn" in text.split(BEGIN)[0], f"{lesson.name} does not import YourTurn, which its stubs raise"
    assert text.count("grade(") >= blocks, f"{lesson.name}: {blocks} your-turn blocks, fewer grade() calls"
    compile(student, lesson.name, "exec")


def test_the_student_version_holds_every_lesson_stubbed_and_what_they_need(tmp_path, capsys):
    msv.main([str(tmp_path / "student")])
    out = tmp_path / "student"
    names = {p.name for p in out.iterdir()}
    assert {p.name for p in LESSONS} | {"_lesson.py", "README.md"} <= names
    assert {p.name for p in LESSONS_DIR.glob("solutions_*.py")} <= names      # the exercises' worked solutions
    for p in LESSONS:
        student = (out / p.name).read_text(encoding="utf-8")
        assert BEGIN not in student and student.count("raise YourTurn(") == p.read_text().count(BEGIN)
    assert (out / "_lesson.py").read_bytes() == (LESSONS_DIR / "_lesson.py").read_bytes()
    said = capsys.readouterr().out
    assert f"{len(LESSONS)} lessons" in said and "start with: python" in said


def test_the_student_version_is_never_written_over_the_lessons_or_a_file(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        msv.main([str(LESSONS_DIR)])
    assert exc.value.code == 2 and "the solutions would be lost" in capsys.readouterr().err
    (tmp_path / "f").write_text("")
    with pytest.raises(SystemExit):
        msv.main([str(tmp_path / "f")])
    assert "is an existing file" in capsys.readouterr().err and (tmp_path / "f").read_text() == ""


# --- the grader ---------------------------------------------------------------------------

def test_a_right_answer_prints_ok(capsys):
    out = _lesson.grade("a sum", np.array([1.0, 2.0]), [1.0, 2.0 + 1e-12])
    assert np.array_equal(out, [1.0, 2.0]) and "[ok] your turn, a sum" in capsys.readouterr().out


def test_a_wrong_answer_gets_the_hint_of_the_mistake_it_equals(capsys):
    with pytest.raises(_lesson.WrongAnswer) as err:
        _lesson.grade("the KL", 4.5, 2.0, mistakes=[(1.0, "half"), (4.5, "the -1 is missing"), (4.5, "second")],
                      hint="generic")
    assert str(err.value).endswith("hint: the -1 is missing")
    assert "[FAIL] your turn, the KL: got 4.5, expected 2" in capsys.readouterr().out


def test_a_wrong_answer_no_mistake_explains_gets_the_general_hint_with_what_is_off():
    with pytest.raises(_lesson.WrongAnswer, match="hint: write the sum$"):
        _lesson.grade("s", 3.0, 2.0, mistakes=[(5.0, "no")], hint="write the sum")
    with pytest.raises(_lesson.WrongAnswer, match=r"hint: the shape is \(3,\), the reference's is \(2,\)\. write"):
        _lesson.grade("s", np.ones(3), np.ones(2), hint="write")
    with pytest.raises(_lesson.WrongAnswer, match="hint: some entries are inf or nan"):
        _lesson.grade("s", [np.inf, 1.0], [2.0, 1.0], hint="write")
    with pytest.raises(_lesson.WrongAnswer, match="not an array of numbers but a str"):
        _lesson.grade("s", "two", 2.0, hint="write")


def test_a_mistake_given_lazily_is_skipped_when_it_does_not_compute_and_inf_matches_inf():
    W = np.ones((4, 3))
    with pytest.raises(_lesson.WrongAnswer, match="hint: overflow$"):
        _lesson.grade("s", -np.inf, -1000.0, mistakes=[(lambda: np.ones((2, 4)) @ W.T, "never"),
                                                       (lambda: np.log(np.exp(-1000.0)), "overflow")])


def test_a_stub_and_a_wrong_answer_render_as_their_message_alone_in_a_kernel():
    assert _lesson.YourTurn("your turn: x")._render_traceback_() == ["your turn: x"]
    assert _lesson.WrongAnswer("a\nhint: b")._render_traceback_() == ["a", "hint: b"]
    assert issubclass(_lesson.YourTurn, NotImplementedError) and issubclass(_lesson.WrongAnswer, AssertionError)


def test_grading_draws_nothing_from_the_lessons_generator(tmp_path):
    lesson = _lesson.setup("t", argv=[], out=tmp_path, seed=3)
    first = _lesson.Lesson(False, tmp_path, 3).rng.random()
    lesson.rng_for("your turn: something").standard_normal(100)
    assert lesson.rng.random() == first
    assert not np.array_equal(lesson.rng_for("a").random(3), lesson.rng_for("b").random(3))
    assert np.array_equal(lesson.rng_for("a").random(3), lesson.rng_for("a").random(3))


# --- whole runs: the stubs and three planted mistakes -------------------------------------

@pytest.mark.lessons
def test_a_student_lesson_stops_at_its_first_stub_with_one_line_and_status_2(tmp_path):
    msv.write_student_version(tmp_path / "student")
    first = tmp_path / "student" / LESSONS[0].name
    proc = _run(first, tmp_path, tmp_path / "student")
    first_task = msv.TASK.match(LESSONS[0].read_text().split(BEGIN)[0].rstrip().splitlines()[-1]).group("what")
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert proc.stderr.splitlines() == [f"your turn: {first_task} — lesson {LESSONS[0].name[:2]}"], proc.stderr
    assert "Traceback" not in proc.stderr and "[ok]" in proc.stdout    # the cells before the stub ran


def _planted(lesson, wrong_body):
    """The lesson's text with its first solution block replaced by `wrong_body` (same indentation)."""
    text = lesson.read_text(encoding="utf-8")
    start = text.index(BEGIN)
    line_start = text.rindex("\n", 0, start) + 1
    indent = text[line_start:start]
    end = text.index("\n", text.index(END, start)) + 1
    body = "".join(indent + line + "\n" for line in wrong_body.splitlines())
    return text[:line_start] + body + text[end:]


def _first_code_cell_and_cell_of(text, marker):
    """The first code cell (imports, setup) and the cell that holds `marker`: a run that needs nothing between."""
    parts = re.split(r"^(# %%.*)$", text, flags=re.M)                # header, marker, body, marker, body, ...
    code = [body for mark, body in zip(parts[1::2], parts[2::2]) if mark.strip() == "# %%"]
    return code[0] + next(c for c in code if marker in c)


PLANTED = [  # lesson, wrong answer, the hint's words, run only the setup and the your-turn cell
    ("02_kl_divergence.py", "return 0.5 * np.sum(mu ** 2 + np.exp(logvar) - logvar, axis=-1)",
     "your KL is K/2 too large: the −1 of every dimension is missing", False),
    ("06_backprop_by_hand.py", "dW = x.T @ delta\ndb = delta.sum(axis=0)\ndx = delta @ W\nreturn dW, db, dx",
     "dx uses W transposed: dx = δ Wᵀ", False),
    ("08_vae_versus_ppca.py", "return np.log(np.mean(np.exp(a), axis=axis))",
     "without the max shift exp(a) underflows to 0", True),
]


@pytest.mark.lessons
@pytest.mark.parametrize("name, wrong, hint, cell_only", PLANTED, ids=[p[0] for p in PLANTED])
def test_a_planted_wrong_answer_stops_its_grading_with_the_hint_that_names_the_slip(name, wrong, hint, cell_only,
                                                                                     tmp_path):
    text = _planted(LESSONS_DIR / name, wrong)
    if cell_only:   # lesson 8's cell comes after minutes of training it does not need before its grading fails
        text = _first_code_cell_and_cell_of(text, "def log_mean_exp")
    script = LESSONS_DIR / f"_planted_{os.getpid()}_{name}"     # beside _lesson.py, which it imports
    try:
        script.write_text(text, encoding="utf-8")
        proc = _run(script, tmp_path, REPO)
    finally:
        script.unlink(missing_ok=True)
    assert proc.returncode == 1, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    assert "Traceback" not in proc.stderr, proc.stderr
    hint_lines = [line for line in proc.stderr.splitlines() if line.startswith("hint: ")]
    assert len(hint_lines) == 1 and hint in hint_lines[0], proc.stderr
    assert "[FAIL] your turn" in proc.stdout


@pytest.mark.lessons
def test_a_student_notebook_shows_the_stub_message_in_the_cell_without_a_traceback(tmp_path, monkeypatch):
    jupytext = pytest.importorskip("jupytext", reason="the notebook test needs the 'notebooks' extra")
    nbclient = pytest.importorskip("nbclient", reason="the notebook test needs the 'notebooks' extra")
    pytest.importorskip("ipykernel", reason="the notebook test needs the 'notebooks' extra")
    msv.write_student_version(tmp_path / "student")
    for key, value in dict(_env(), NUMVAE_OUT=str(tmp_path / "figs")).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MPLBACKEND", raising=False)
    lesson = tmp_path / "student" / LESSONS[0].name
    nb = jupytext.read(lesson)
    with pytest.raises(nbclient.exceptions.CellExecutionError, match="YourTurn"):
        nbclient.NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3",
                                resources={"metadata": {"path": str(lesson.parent)}}).execute()
    errors = [(i, o) for i, c in enumerate(nb.cells) if c.cell_type == "code" for o in c.get("outputs", [])
              if o.output_type == "error"]
    assert len(errors) == 1, [o.ename for _, o in errors]     # execution stops at the first error
    i, err = errors[0]
    assert err.ename == "YourTurn" and err.evalue.startswith("your turn: ")
    assert err.traceback == [err.evalue]                      # the message alone, no frames
    assert "raise YourTurn(" in "".join(nb.cells[i].source)
