"""Shared pytest setup: a hypothesis profile without deadlines (CI machines are noisy), and opt-in slow tests."""

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

from hypothesis import settings  # noqa: E402

settings.register_profile("numvae", deadline=None, max_examples=60, derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "numvae"))


import subprocess  # noqa: E402
import sys  # noqa: E402

LESSON_TIMEOUT = 300  # seconds per lesson; fast mode takes seconds, this only stops a hang


@pytest.fixture(scope="session")
def run_lesson(tmp_path_factory):
    """``run_lesson(path, seed)``: run a lesson as a student would (``python lessons/NN_x.py
    --fast --seed S --out DIR``), once per (lesson, seed) in a session; returns
    ``(CompletedProcess, out_dir)``. Shared by the script and the notebook tests, so the
    notebook test compares against the same run instead of repeating it."""
    cache = {}

    def run(lesson, seed=0):
        key = (str(lesson), int(seed))
        if key not in cache:
            out = tmp_path_factory.mktemp(f"{lesson.stem}_seed{seed}")
            env = dict(os.environ, MPLBACKEND="Agg", NUMVAE_FAST="1")
            # One BLAS thread per lesson: on a small, busy CI machine a multi-threaded
            # BLAS spins on its cores and makes a 2 ms SVD take seconds.
            for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
                env.setdefault(var, "1")
            proc = subprocess.run([sys.executable, str(lesson), "--fast", "--seed", str(seed), "--out", str(out)],
                                  cwd=lesson.parent.parent, env=env, capture_output=True, text=True,
                                  timeout=LESSON_TIMEOUT)
            cache[key] = (proc, out)
        return cache[key]

    return run


@pytest.fixture(scope="module")
def tiny_digits():
    """``(X, X_valid)``: 200 and 40 rows of the embedded digits, so that every run on them takes milliseconds."""
    from numvae.data import load_digits

    X, _ = load_digits()
    return X[:200], X[200:240]


@pytest.fixture(scope="session")
def sklearn():
    """scikit-learn, a test-only reference: the tests that compare with it skip, with this reason, without it."""
    return pytest.importorskip("sklearn", reason="scikit-learn, a test-only reference, is not installed")


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true",
                     help="also run the tests marked slow (building and installing the wheel); .ci/run does")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow (builds the wheel and installs it in a fresh venv): run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
