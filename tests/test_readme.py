"""The README's code: its set-up commands keep their place, and every Python snippet runs as written.

Each ```python block runs alone, in a fresh interpreter in an empty folder, so a
snippet that leans on a name defined elsewhere, or on the checkout as working
directory, fails here.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"^```(\w*)\n(.*?)^```", README, flags=re.M | re.S)
PYTHON = [code for lang, code in BLOCKS if lang == "python"]


def test_the_readme_opens_with_the_two_set_up_commands():
    (lang1, main_job), (lang2, tests) = BLOCKS[:2]
    assert lang1 == lang2 == "bash"
    assert main_job.strip() == ("python3 -m venv .venv && .venv/bin/pip install -e . "
                                "&& .venv/bin/numvae compare --data digits")
    assert tests.strip() == ("python3 -m venv .venv && .venv/bin/pip install -e '.[test,docs,notebooks,course]' "
                             "&& .venv/bin/python -m pytest -q")
    # CI runs exactly that command (and more after it).
    assert tests.strip() in (ROOT / ".ci" / "run").read_text().splitlines()


def test_the_readme_has_python_snippets():
    assert len(PYTHON) >= 2


@pytest.mark.parametrize("code", PYTHON, ids=[f"snippet{i + 1}" for i in range(len(PYTHON))])
def test_python_snippet_runs_as_written(code, tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, f"snippet failed:\n{code}\n--- stderr ---\n{run.stderr}"
