"""Helpers shared by several test files: a tiny VAE, its parameters copied and compared bit for bit.

The 240 digits these models train on in milliseconds are the ``tiny_digits``
fixture of ``conftest.py``.
"""

from pathlib import Path

import numpy as np
from scipy import stats

import numvae
from numvae.vae import VAE

# The checkout whose numvae is under test: a subprocess given PYTHONPATH=REPO imports the same code.
REPO = Path(numvae.__file__).resolve().parent.parent

# Not finite numbers, each of another kind: a string, None, an array, a list.
BAD_NUMBERS = ["0.1", None, np.array([0.1]), [0.1]]


def tiny_vae(dtype=np.float32, z_dim=3, seed=0, **kw):
    """A VAE of the 8x8 digits with 16 hidden units and 3 latents (float32 unless told)."""
    return VAE(64, hidden=(16,), z_dim=z_dim, dtype=dtype, seed=seed, **kw)


def params_copy(model):
    """A copy of each of ``model.params``, to compare with later."""
    return {k: v.copy() for k, v in model.params.items()}


def assert_bitwise_equal(a, b):
    """The same names, dtypes and bytes in two dicts of arrays."""
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].tobytes() == b[k].tobytes(), k


def linear_gaussian_vae(seed=0, n=60, inflate=0.3):
    """A linear Gaussian VAE (hidden=(), shared variance), its pPCA twin and data from it.

    The encoder is set near the exact posterior N(M⁻¹Aᵀ(x − b), σ²M⁻¹) with a
    diagonal covariance inflated by e^inflate, so q is good but not exact.
    """
    D, K = 5, 2
    m = VAE(D, hidden=(), z_dim=K, decoder="gaussian", decoder_var="shared", seed=seed)
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(D, K))
    b = rng.normal(size=D)
    sigma2 = 0.3
    m.params["dec.0.W"][...] = A.T                                       # x_mean = z @ Aᵀ + b
    m.params["dec.0.b"][...] = b
    m.params["dec.logvar"][...] = np.log(sigma2)
    M = A.T @ A + sigma2 * np.eye(K)
    Minv = np.linalg.inv(M)
    m.params["enc.0.W"][:, :K] = A @ Minv                                # mu = (x − b) A M⁻¹
    m.params["enc.0.b"][:K] = -b @ A @ Minv
    m.params["enc.0.W"][:, K:] = 0.0
    m.params["enc.0.b"][K:] = np.log(np.diag(sigma2 * Minv)) + inflate
    C = A @ A.T + sigma2 * np.eye(D)
    x = rng.multivariate_normal(b, C, size=n)
    exact = stats.multivariate_normal(b, C).logpdf(x)                    # (n,)
    return m, x, exact, (A, b, sigma2)
