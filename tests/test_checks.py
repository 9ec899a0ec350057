"""The shared input checks of numvae.checks, through every public function that uses them.

A bad number, seed, activation, dtype or path is a ``ValueError`` whose message
starts with the argument's name, whichever module's function it is given to; a
folder given for a file is an ``IsADirectoryError``, not reported as missing.
"""

import numpy as np
import pytest

from numvae.autoencoder import Autoencoder
from numvae.data import make_ppca_data, read_idx, split
from numvae.nn import MLP
from numvae.optim import SGD, Adam
from numvae.train import History, fit
from numvae.vae import VAE

from helpers import BAD_NUMBERS, tiny_vae


# --- bad input and faults (from the hostile-user review) ---

@pytest.mark.parametrize("bad", BAD_NUMBERS, ids=["str", "None", "array", "list"])
@pytest.mark.parametrize("call, name", [
    (lambda m, v: m.loss_and_grads(np.zeros((2, 64)), rng=0, beta=v), "beta"),
    (lambda m, v: m.loss_and_grads(np.zeros((2, 64)), rng=0, free_bits=v), "free_bits"),
    (lambda m, v: SGD(m.params, lr=0.1, momentum=v), "momentum"),
    (lambda m, v: Adam(m.params, beta1=v), "beta1"),
    (lambda m, v: Adam(m.params, eps=v), "eps"),
    (lambda m, v: SGD(m.params, lr=v), "lr"),
    (lambda m, v: make_ppca_data(10, np.ones((3, 1)), np.zeros(3), v, 0), "sigma2"),
    (lambda m, v: VAE(64, decoder="gaussian", decoder_logvar=v), "decoder_logvar"),
], ids=["beta", "free_bits", "momentum", "beta1", "eps", "sgd_lr", "sigma2", "decoder_logvar"])
def test_numbers_name_themselves(call, name, bad):
    with pytest.raises(ValueError, match=f"^{name} must be a"):
        call(tiny_vae(), bad)


BAD_SEEDS = [-1, 1.5, "3", True]


@pytest.mark.parametrize("bad", BAD_SEEDS, ids=["negative", "float", "str", "bool"])
@pytest.mark.parametrize("call, name", [
    (lambda m, s: m.elbo(np.zeros((2, 64)), rng=s), "rng"),
    (lambda m, s: m.sample(2, rng=s), "rng"),
    (lambda m, s: m.log_likelihood(np.zeros((2, 64)), k=2, rng=s), "rng"),
    (lambda m, s: m.loss_and_grads(np.zeros((2, 64)), rng=s), "rng"),
    (lambda m, s: VAE(64, seed=s), "seed"),
    (lambda m, s: MLP((3, 2), rng=s), "rng"),
    (lambda m, s: fit(m, np.zeros((4, 64)), epochs=1, seed=s, progress=False), "seed"),
    (lambda m, s: split(np.zeros((10, 2)), [0.5, 0.5], s), "rng"),
    (lambda m, s: make_ppca_data(10, np.ones((3, 1)), np.zeros(3), 1.0, s), "rng"),
], ids=["elbo", "sample", "log_likelihood", "loss_and_grads", "VAE", "MLP", "fit", "split", "make_ppca_data"])
def test_seeds_name_themselves(call, name, bad):
    with pytest.raises(ValueError, match=f"^{name} must be"):
        call(tiny_vae(), bad)


@pytest.mark.parametrize("build", [
    lambda a: VAE(64, activation=a), lambda a: MLP((3, 2), activation=a), lambda a: Autoencoder(4, activation=a),
], ids=["VAE", "MLP", "Autoencoder"])
def test_an_unhashable_activation_is_a_named_error(build):
    with pytest.raises(ValueError, match=r"^activation must be one of .*; got \['relu'\]"):
        build(["relu"])


@pytest.mark.parametrize("dtype", [np.float16, np.longdouble, "int32", "float128x"])
@pytest.mark.parametrize("build", [
    lambda d: VAE(64, dtype=d), lambda d: MLP((3, 2), dtype=d), lambda d: Autoencoder(4, dtype=d),
], ids=["VAE", "MLP", "Autoencoder"])
def test_only_float32_and_float64_models_are_built(build, dtype):
    if np.dtype(np.longdouble) == np.float64 and dtype is np.longdouble:
        pytest.skip("longdouble is float64 on this platform")
    with pytest.raises(ValueError, match=r"^dtype must be a floating dtype, float32 or float64"):
        build(dtype)


def test_a_folder_is_not_reported_as_missing(tmp_path):
    with pytest.raises(IsADirectoryError, match=f"^checkpoint {tmp_path} is a directory"):
        VAE.load(tmp_path)
    with pytest.raises(IsADirectoryError, match=f"^IDX file {tmp_path} is a directory"):
        read_idx(tmp_path)
    with pytest.raises(IsADirectoryError, match=f"^history file {tmp_path} is a directory"):
        History.from_json(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        VAE.load(tmp_path / "missing.npz")


@pytest.mark.parametrize("call, name", [
    (lambda p: VAE.load(p), "checkpoint path"), (lambda p: read_idx(p), "path"),
    (lambda p: History.from_json(p), "path"), (lambda p: tiny_vae().save(p), "path"),
    (lambda p: fit(tiny_vae(), np.zeros((4, 64)), epochs=1, checkpoint=p or 3, progress=False), "checkpoint"),
], ids=["VAE.load", "read_idx", "History.from_json", "VAE.save", "fit"])
@pytest.mark.parametrize("bad", [None, 3], ids=["None", "int"])   # fit: checkpoint=None is no checkpoint, so 3
def test_a_path_that_is_not_a_path_is_named(call, name, bad):
    with pytest.raises(ValueError, match=rf"^{name} must be a path \(str or os.PathLike\); got (int 3|NoneType None)$"):
        call(bad)
