"""Two threads for element-wise work (``numvae.fast.halves``): where the cut falls, and that the numbers do not move."""

import threading

import numpy as np
import pytest

import numvae.fast.likelihoods
from numvae.fast.halves import Halves
from numvae.train import fit
from numvae.vae import VAE


def test_halves_split_on_a_block_and_run_the_second_half_on_another_thread():
    seen = []

    def record(a):
        seen.append((a.size, threading.get_ident()))
        a += 1

    x = np.zeros(5 * Halves.BLOCK + 3)
    Halves(min_size=0)(record, x)
    assert sorted(size for size, _ in seen) == [2 * Halves.BLOCK, 3 * Halves.BLOCK + 3]
    assert len({ident for _, ident in seen}) == 2 and np.all(x == 1)
    seen.clear()
    Halves(min_size=x.size + 1)(record, x)    # below min_size: one call, this thread
    assert seen == [(x.size, threading.get_ident())] and np.all(x == 2)


def test_rows_are_split_in_two_halves_above_min_size_and_worker_errors_reach_the_caller():
    seen = []

    def record(rows):
        seen.append(((rows.start, rows.stop), threading.get_ident()))

    Halves(min_size=21).rows(record, 7, 3)     # 21 elements: split
    assert sorted(r for r, _ in seen) == [(0, 3), (3, 7)] and len({i for _, i in seen}) == 2
    for n_rows, row_size in [(7, 2), (1, 100)]:  # too small, or one row: one call on this thread
        seen.clear()
        Halves(min_size=21).rows(record, n_rows, row_size)
        assert seen == [((0, n_rows), threading.get_ident())]

    def fail_on_the_second_half(rows):
        if rows.start > 0:
            raise FloatingPointError("from the worker")

    with pytest.raises(FloatingPointError, match="from the worker"):
        Halves(min_size=0).rows(fail_on_the_second_half, 4, 1)


def _spy_threads(monkeypatch, name):
    """Record the thread of every call of numvae.fast.likelihoods.<name>."""
    idents, real = set(), getattr(numvae.fast.likelihoods, name)

    def spy(*args, **kwargs):
        idents.add(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(numvae.fast.likelihoods, name, spy)
    return idents


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_two_threads_train_and_estimate_bit_for_bit_as_one(monkeypatch, dtype):
    """A VAE with threads = 2 splits the Bernoulli work over two threads (seen), and every number is the same."""
    X = np.random.default_rng(0).random((400, 784))
    models = {}
    for threads in (1, 2):
        idents = _spy_threads(monkeypatch, "bernoulli_log_likelihood_and_grad_into")
        model = VAE(784, hidden=(16,), z_dim=4, dtype=dtype, seed=0, fast=True, threads=threads)
        fit(model, X, epochs=2, batch_size=200, seed=0, progress=False)     # 200 x 784 rows: above min_size
        assert len(idents) == threads
        idents = _spy_threads(monkeypatch, "bernoulli_log_likelihood_into")
        ll = model.log_likelihood(X[:50], k=20, rng=0)                      # blocks of 20 x 50 x 784
        assert len(idents) == threads
        models[threads] = model, ll
    (one, ll1), (two, ll2) = models[1], models[2]
    assert two.threads == 2 and one.threads == 1
    for name, p in one.params.items():
        assert np.array_equal(p, two.params[name]), name
    assert np.array_equal(ll1, ll2)


def test_fit_gives_its_adam_the_models_threads():
    model = VAE(64, hidden=(8,), z_dim=2, seed=0, fast=True, threads=2)
    built, real = [], model.optimizers["adam"]
    model.optimizers = {**model.optimizers, "adam": lambda *a, **k: built.append(real(*a, **k)) or built[-1]}
    fit(model, np.random.default_rng(0).random((64, 64)), epochs=1, progress=False)
    assert len(built) == 1 and built[0].threads == 2 and built[0].t == 1


@pytest.mark.parametrize("bad", [0, 3, 1.5, "2"])
def test_threads_must_be_one_or_two(bad):
    with pytest.raises(ValueError, match="threads"):
        VAE(8, hidden=(4,), z_dim=2, seed=0, fast=True, threads=bad)


def test_two_threads_need_the_fast_path():
    with pytest.raises(ValueError, match=r"^threads=2 needs fast=True"):
        VAE(8, hidden=(4,), z_dim=2, seed=0, threads=2)
    assert VAE(8, hidden=(4,), z_dim=2, seed=0).threads == 1
