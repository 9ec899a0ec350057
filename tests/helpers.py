"""Helpers shared by several test files: a tiny VAE, its parameters copied and compared bit for bit.

The 240 digits these models train on in milliseconds are the ``tiny_digits``
fixture of ``conftest.py``.
"""

from pathlib import Path

import numpy as np

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
