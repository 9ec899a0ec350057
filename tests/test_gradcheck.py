"""gradcheck itself: it passes right gradients, catches wrong ones, and leaves the parameters as it found them."""

import subprocess
import sys

import numpy as np
import pytest

import numvae
from numvae.gradcheck import gradcheck, relative_error


def quadratic(A):
    """f(x) = ½ xᵀAx + sum(x³), gradient ½(A + Aᵀ)x + 3x²."""
    def fun(p):
        x = p["x"]
        return float(0.5 * x @ A @ x + np.sum(x ** 3)), {"x": 0.5 * (A + A.T) @ x + 3 * x ** 2}
    return fun


def test_a_correct_gradient_passes_with_tiny_error():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(5, 5))
    report = gradcheck(quadratic(A), {"x": rng.normal(size=5)})
    assert report.passed
    assert report.max_rel_err < 1e-8


def test_a_wrong_gradient_fails_and_names_the_entry():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(4, 4))
    right = quadratic(A)

    def wrong(p):
        loss, g = right(p)
        g["x"][2] *= 1.01          # one entry off by 1 %
        return loss, g

    report = gradcheck(wrong, {"x": rng.normal(size=4)})
    assert not report.passed
    assert report["x"].index == (2,)
    assert 1e-3 < report["x"].max_rel_err < 1e-2   # |0.01 g| / (2.01 |g|)
    assert "FAIL" in str(report)


def test_zero_gradient_entries_do_not_explode():
    # f = x0² at x0 = 0 has gradient exactly 0; the finite difference is ~1e-12
    fun = lambda p: (float(p["x"][0] ** 2 + p["x"][1]), {"x": np.array([2 * p["x"][0], 1.0])})
    report = gradcheck(fun, {"x": np.array([0.0, 3.0])})
    assert report.passed
    np.testing.assert_allclose(relative_error(np.array([0.0]), np.array([1e-12])), [1e-4])


def test_parameters_are_restored_exactly():
    x = np.random.default_rng(2).normal(size=(3, 2))
    saved = x.copy()
    gradcheck(lambda p: (float(np.sum(np.sin(p["x"]))), {"x": np.cos(p["x"])}), {"x": x})
    assert np.array_equal(x, saved)


def test_bad_input():
    fun = quadratic(np.eye(2))
    with pytest.raises(ValueError, match="must be float64"):
        gradcheck(fun, {"x": np.zeros(2, dtype=np.float32)})
    with pytest.raises(ValueError, match="keys names 'y'"):
        gradcheck(fun, {"x": np.zeros(2)}, keys=["y"])
    with pytest.raises(ValueError, match="eps must be a finite number > 0"):
        gradcheck(fun, {"x": np.zeros(2)}, eps=0.0)
    with pytest.raises(ValueError, match=r"grads\['x'\] has shape"):
        gradcheck(lambda p: (0.0, {"x": np.zeros(3)}), {"x": np.zeros(2)})


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "numvae", *args], capture_output=True, text=True, timeout=300)


def test_cli_version_and_help():
    out = run_cli("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"numvae {numvae.__version__}"
    out = run_cli("--help")
    assert out.returncode == 0 and "gradcheck" in out.stdout


def test_cli_gradcheck_prints_a_passing_table():
    out = run_cli("gradcheck")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "PASS" in out.stdout and "FAIL" not in out.stdout
