"""Every lesson as a student meets it in Jupyter: converted by jupytext, executed by a kernel.

The executed notebook must hold no error output, at least one ``image/png``
output for every figure the lesson saves (figures are shown inline, not only
written to disk), and exactly as many ``[ok]`` claims as the script run of the
same lesson at the same seed. The kernel takes that seed, 1, from
``NUMVAE_SEED``, as it takes fast mode from ``NUMVAE_FAST`` (no cell is
edited). Lessons are discovered by file name, as in tests/test_lessons.py, so
a lesson added later is executed here without edits. Marked ``lessons``.

Needs the ``notebooks`` extra (jupytext, nbclient, ipykernel); skipped with the
reason without it. ``.ci/run`` installs the extra, so CI always runs this.
"""

import os
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext", reason="the notebook test needs the 'notebooks' extra: jupytext")
nbclient = pytest.importorskip("nbclient", reason="the notebook test needs the 'notebooks' extra: nbclient")
pytest.importorskip("ipykernel", reason="the notebook test needs the 'notebooks' extra: ipykernel")

REPO = Path(__file__).resolve().parent.parent
LESSONS = sorted((REPO / "lessons").glob("[0-9][0-9]_*.py"))
TIMEOUT = 300  # seconds per cell; fast mode takes seconds, this only stops a hang
SEED = 1       # not the lessons' default 0, so the test sees that NUMVAE_SEED is used
pytestmark = pytest.mark.lessons


def _env(out):
    env = dict(os.environ, NUMVAE_FAST="1", NUMVAE_OUT=str(out), NUMVAE_SEED=str(SEED))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    env.pop("MPLBACKEND", None)   # the kernel keeps its own (inline) backend, as for a student
    return env


def _ok_count(text):
    return sum(line.lstrip().startswith("[ok]") for line in text.splitlines())


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.name for p in LESSONS])
def test_lesson_executes_as_a_notebook_with_its_figures_inline(lesson, tmp_path, monkeypatch, run_lesson):
    script, _ = run_lesson(lesson, SEED)   # the script run at the kernel's seed (shared with test_lessons)
    assert script.returncode == 0, f"{lesson.name} fails as a script:\n{script.stdout[-3000:]}{script.stderr[-3000:]}"

    nb = jupytext.read(lesson)
    for key, value in _env(tmp_path / "notebook").items():     # the kernel inherits this environment
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MPLBACKEND", raising=False)
    nbclient.NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(lesson.parent)}}).execute()

    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, f"{lesson.name}: {errors[0].ename}: {errors[0].evalue}"
    stderr = "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stderr")
    assert "Traceback" not in stderr, f"{lesson.name} wrote a traceback:\n{stderr[-3000:]}"
    stdout = "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stdout")
    assert f"fast mode, seed {SEED}," in stdout, f"{lesson.name} did not run at NUMVAE_SEED={SEED}:\n{stdout[:500]}"

    saved = sorted((tmp_path / "notebook").glob("*.png"))
    announced = [line for line in stdout.splitlines() if line.startswith("figure: ")]
    images = [o for o in outputs if o.output_type in ("display_data", "execute_result") and "image/png" in o.data]
    assert saved, f"{lesson.name} saved no figure when run as a notebook"
    assert len(announced) == len(saved), f"{lesson.name}: {len(announced)} 'figure:' lines, {len(saved)} files"
    assert len(images) >= len(saved), (f"{lesson.name} saved {len(saved)} figures but showed only "
                                       f"{len(images)} inline")
    assert _ok_count(stdout) == _ok_count(script.stdout) > 0, (
        f"{lesson.name}: {_ok_count(stdout)} [ok] claims as a notebook, {_ok_count(script.stdout)} as a script")
