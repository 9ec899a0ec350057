"""A hostile user: every bad input gets a clear error naming its argument or file, and no run is lost.

Each test asserts the exact exception type and that the message names the
argument (or the file, or the command-line option). The resume tests compare
parameters bit for bit with an uninterrupted run of the same seed, after an
interruption at an epoch boundary, inside an epoch, and after SIGKILLs of a
training subprocess at random moments.
"""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import numvae
from numvae import io as nio
from numvae.autoencoder import Autoencoder
from numvae.cli import main
from numvae.data import load_digits, make_ppca_data, read_idx, split
from numvae.io import load_checkpoint, save_checkpoint
from numvae.nn import MLP
from numvae.optim import SGD, Adam
from numvae.train import History, fit
from numvae.vae import VAE

REPO = Path(numvae.__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def digits():
    X, _ = load_digits()
    return X[:200], X[200:240]        # tiny: every run here takes milliseconds


def _vae(dtype=np.float32, z_dim=3, seed=0, **kw):
    return VAE(64, hidden=(16,), z_dim=z_dim, dtype=dtype, seed=seed, **kw)


def _params(model):
    return {k: v.copy() for k, v in model.params.items()}


def _assert_bitwise_equal(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].tobytes() == b[k].tobytes(), k


# --- 1. silent results are errors ------------------------------------------------

# --- 2. the command line: one line, no traceback -----------------------------------

# --- 3. checked before working ------------------------------------------------------

# --- 4. every argument names itself ----------------------------------------------------

BAD_NUMBERS = ["0.1", None, np.array([0.1]), [0.1]]


# --- 5. files ----------------------------------------------------------------------------

# --- 6. nothing lost: resumable runs -------------------------------------------------------

# --- stale temporary files ------------------------------------------------------------------

# --- SIGKILL at random moments ------------------------------------------------------------

# --- the command line's run folder ------------------------------------------------------------
