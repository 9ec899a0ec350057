"""numvae installed like any package: build the wheel, install it in a fresh venv, run it outside the checkout.

The venv starts empty (no ``--system-site-packages``): pip pulls numpy, scipy
and matplotlib from the package index as a user's install would, and nothing
of the checkout is on the path, so a file missing from the wheel (the embedded
data, the licences) fails here. Slow: skipped unless pytest runs with
``--run-slow``, which ``.ci/run`` passes.
"""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                                    ".hypothesis", "runs", "figures")

pytestmark = pytest.mark.slow


def _run(args, cwd, timeout=600, **extra_env):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NUMVAE_DATA", "VIRTUAL_ENV")}
    env.update(MPLBACKEND="Agg", **extra_env)
    out = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{args} failed:\n{out.stdout}\n{out.stderr}"
    return out


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(wheel, venv python, venv bin folder, a working folder outside the checkout)."""
    tmp = tmp_path_factory.mktemp("wheel")
    # Build from a copy, so the checkout gets no build/ or .egg-info folder.
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp / "dist", source], cwd=tmp)
    (wheel,) = (tmp / "dist").glob("numvae-*.whl")
    _run([sys.executable, "-m", "venv", tmp / "venv"], cwd=tmp)
    bin_dir = tmp / "venv" / "bin"
    _run([bin_dir / "python", "-m", "pip", "install", "-q", wheel], cwd=tmp)
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    return wheel, bin_dir / "python", bin_dir, elsewhere


def test_the_wheel_carries_the_data_and_the_licences(installed):
    wheel = installed[0]
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in ("numvae/_embedded/digits.csv.gz", "numvae/_embedded/fashion-mnist/t10k-images-idx3-ubyte.gz",
              "numvae/_embedded/fashion-mnist/t10k-labels-idx1-ubyte.gz"):
        assert f in names
    # setuptools puts license_files in .dist-info/licenses/ (PEP 639) or, before version 77, in .dist-info/.
    licences = {Path(n).name: n for n in names if ".dist-info/" in n and Path(n).name in ("LICENSE", "README.md")}
    assert set(licences) == {"LICENSE", "README.md"}
    with zipfile.ZipFile(wheel) as z:
        assert "MIT License" in z.read(licences["LICENSE"]).decode()
        data_readme = z.read(licences["README.md"]).decode()
    assert "CC BY 4.0" in data_readme and "Permission is hereby granted" in data_readme  # UCI and Fashion-MNIST's MIT
    assert not any(n.startswith("data/") for n in names)


def test_installed_numvae_is_the_wheel_not_the_checkout(installed):
    _, python, _, elsewhere = installed
    out = _run([python, "-c", "import numvae; print(numvae.__file__)"], cwd=elsewhere)
    where = Path(out.stdout.strip()).resolve()
    assert "site-packages" in where.parts and ROOT not in where.parents


def test_compare_runs_from_another_folder(installed):
    _, _, bin_dir, elsewhere = installed
    out = _run([bin_dir / "numvae", "compare", "--data", "digits", "--z-dim", "2", "--epochs", "1", "--k", "5",
                "--out", "report"], cwd=elsewhere)
    assert "| pPCA | 2 |" in out.stdout and "| VAE | 2 |" in out.stdout
    assert (elsewhere / "report" / "comparison.csv").is_file()


def test_fashion_mnist_test_split_loads_from_the_installed_package(installed):
    _, python, _, elsewhere = installed
    code = ("import numpy as np, numvae; X, y = numvae.data.load_mnist_like('fashion-mnist', 'test'); "
            "print(X.shape, np.bincount(y).tolist())")
    out = _run([python, "-c", code], cwd=elsewhere)
    assert out.stdout.strip() == f"(10000, 784) {[1000] * 10}"


def test_data_list_and_fetch_default_stay_out_of_the_package(installed, tmp_path):
    _, python, bin_dir, elsewhere = installed
    out = _run([bin_dir / "numvae", "data", "list"], cwd=elsewhere)
    digits = next(line for line in out.stdout.splitlines() if line.startswith("digits"))
    assert "embedded" in digits and "site-packages" in digits
    code = "import numvae; print(numvae.data.default_fetch_dest('mnist'))"
    dest = _run([python, "-c", code], cwd=elsewhere, XDG_CACHE_HOME=str(tmp_path)).stdout.strip()
    assert Path(dest) == tmp_path / "numvae" / "mnist"
