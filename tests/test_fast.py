"""numvae.fast against the plain path: every fast part computes what its plain original computes.

Tolerances: float64 values to 1e-12 relative and every gradient array to 1e-12
normwise (‖Δ‖/‖g‖: single entries near zero may differ by more, as a
reordered sum does); float32 normwise 1e-5. The plain path itself is held to
the mathematics by the other test files (finite differences, closed forms,
Monte Carlo); these tests hold the wing to the plain path.
"""

import numpy as np
import pytest
from scipy.special import expit

from numvae import likelihoods, posteriors
from numvae.data import load_digits
from numvae.fast.kernels import bernoulli_log_likelihood_and_grad_into, bernoulli_log_likelihood_into
from numvae.fast.optim import FlatAdam, FlatSGD
from numvae.fast.storage import flat_storage, tie
from numvae.nn import ACTIVATIONS
from numvae.optim import SGD, Adam
from numvae.train import fit
from numvae.vae import VAE
from test_optim import adam_within_rounding_of_the_textbook

TOL = {np.float64: 1e-12, np.float32: 1e-5}


def assert_normwise_close(got, want, tol, what=""):
    """‖got − want‖ ≤ tol ‖want‖ (or both zero)."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    err, size = np.linalg.norm(got - want), np.linalg.norm(want)
    assert err <= tol * size or err == size == 0, f"{what}: ‖Δ‖/‖g‖ = {err / max(size, 1e-300):.3g} > {tol:g}"


def both(dtype=np.float64, **kw):
    """The same VAE twice, plain and fast, from the same seed."""
    return VAE(dtype=dtype, **kw), VAE(dtype=dtype, fast=True, **kw)


def assert_same_loss_and_grads(plain, quick, x, tol, **kw):
    loss0, g0 = plain.loss_and_grads(x, rng=5, **kw)
    loss1, g1 = quick.loss_and_grads(x, rng=5, **kw)
    assert g0.keys() == g1.keys() == plain.params.keys()
    assert abs(loss1 - loss0) <= tol * abs(loss0)
    for k in g0:
        assert g1[k].dtype == g0[k].dtype == plain.dtype
        assert_normwise_close(g1[k], g0[k], tol, k)
    for k in ("rec", "kl"):
        assert_normwise_close(quick.last_terms[k], plain.last_terms[k], tol, k)


# --- the fused Bernoulli kernels ---------------------------------------------------------

@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-14), (np.float32, 1e-6)])
def test_fused_bernoulli_matches_logaddexp_and_expit_up_to_huge_logits(dtype, rtol):
    rng = np.random.default_rng(0)
    # Logits from 0 to +-1e4 (sigma rounds to 0 or 1 long before), grey-level and binary x.
    mags = np.concatenate([[0.0], np.logspace(-8, 4, 195)])
    logits = np.concatenate([mags, -mags]).astype(dtype).reshape(2, 7, 28)           # (L, N, D)
    x = rng.random((7, 28)).astype(dtype)
    x[:3] = np.round(x[:3])
    l64, x64 = logits.astype(np.float64), x.astype(np.float64)
    want = np.sum(x64 * l64 - np.logaddexp(0.0, l64), axis=-1)                        # the plain formula
    want_grad = x64 - expit(l64)
    got = bernoulli_log_likelihood_into(x, logits)
    got2, grad = bernoulli_log_likelihood_and_grad_into(x, logits, np.empty_like(logits), np.empty_like(logits))
    assert got.dtype == dtype and grad.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=rtol)
    np.testing.assert_array_equal(got, got2)
    # Entry-wise, relative to each entry (no atol): sigma(l) is as accurate as expit.
    np.testing.assert_allclose(grad, want_grad, rtol=10 * rtol, atol=0 if dtype == np.float64 else 1e-7)


# --- each likelihood family and its twin --------------------------------------------------

# Every family of the registry with every decoder variance it supports.
LIKELIHOODS = [(name, {"decoder_var": var} if var else {}) for name, family in likelihoods.LIKELIHOODS.items()
               for var in family.variances or (None,)]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("decoder,kw", LIKELIHOODS, ids=[f"{d}-{k.get('decoder_var', '')}" for d, k in LIKELIHOODS])
def test_each_likelihood_twin_gives_the_plain_log_prob_gradients_and_mean(decoder, kw, dtype, threads):
    rng = np.random.default_rng(1)
    plain = likelihoods.make_likelihood(decoder, 300, dtype, kw.get("decoder_var", "pixel"), -0.4)
    quick = VAE(300, (4,), 2, decoder=decoder, dtype=dtype, fast=True, threads=threads,
                decoder_logvar=-0.4, **kw).likelihood
    if decoder == "bernoulli" and threads == 2:
        quick.halves.min_size = 0                          # split even these small arrays over two threads
    x = likelihoods.LIKELIHOODS[decoder].example_x(rng, (500, 300)).astype(dtype)
    out = (2 * rng.normal(size=(3, 500, 300))).astype(dtype)                          # (L, N, D)
    tol = TOL[dtype]
    assert_normwise_close(quick.log_prob(x, out), plain.log_prob(x, out), tol, "log_prob")
    log_p0, d0 = plain.backward(x, out, -0.25)
    log_p1, d1 = quick.backward(x, out, -0.25)
    assert d1.dtype == d0.dtype == log_p1.dtype == dtype
    assert_normwise_close(log_p1, log_p0, tol, "backward's log p")
    assert_normwise_close(d1, d0, tol, "dout")
    assert plain.grads.keys() == quick.grads.keys()
    for k in plain.grads:
        assert_normwise_close(quick.grads[k], plain.grads[k], tol, k)
    np.testing.assert_array_equal(quick.mean(out), plain.mean(out))


def test_the_fast_bernoulli_returns_its_scratch_buffer_but_never_a_value_it_overwrites():
    """``backward``'s gradient lives in a buffer (the next call overwrites it); log p is always a new array."""
    m = VAE(6, (5,), 3, fast=True)
    rng = np.random.default_rng(0)
    x, out = rng.random((7, 6)), rng.normal(size=(1, 7, 6))
    log_p, dout = m.likelihood.backward(x, out, 1.0)
    kept = log_p.copy()
    log_p2, dout2 = m.likelihood.backward(x, 2 * out, 1.0)
    assert dout2 is dout and not np.shares_memory(log_p, log_p2)
    np.testing.assert_array_equal(log_p, kept)


# --- the whole model: every likelihood, posterior and activation ------------------------------

MODEL_CASES = [(decoder, kw, posterior, act) for decoder, kw in LIKELIHOODS for posterior in posteriors.POSTERIORS
               for act in ("tanh", "relu")]
MODEL_CASES += [("bernoulli", {}, "diagonal", act) for act in sorted(ACTIVATIONS) if act not in ("tanh", "relu")]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("decoder,kw,posterior,act", MODEL_CASES,
                         ids=[f"{d}-{k.get('decoder_var', '')}-{p}-{a}" for d, k, p, a in MODEL_CASES])
def test_the_fast_model_gives_the_plain_loss_gradients_elbo_and_log_likelihood(decoder, kw, posterior, act, dtype):
    plain, quick = both(dtype, x_dim=12, hidden=(9, 7), z_dim=3, decoder=decoder, activation=act,
                        posterior=posterior, decoder_logvar=-0.5, seed=3, **kw)
    for k, p in plain.params.items():                      # the same initial parameters, to the bit
        assert np.array_equal(p, quick.params[k]), k
    rng = np.random.default_rng(2)
    x = likelihoods.LIKELIHOODS[decoder].example_x(rng, (20, 12)).astype(dtype)
    tol = TOL[dtype]
    assert_same_loss_and_grads(plain, quick, x, tol, n_samples=2, beta=0.7)
    if posteriors.POSTERIORS[posterior].free_bits:
        assert_same_loss_and_grads(plain, quick, x, tol, free_bits=0.3)
    for a, b in zip(quick.elbo(x, n_samples=3, rng=1), plain.elbo(x, n_samples=3, rng=1)):
        assert_normwise_close(a, b, tol, "elbo")
    assert_normwise_close(quick.log_likelihood(x, k=30, rng=4), plain.log_likelihood(x, k=30, rng=4), tol, "log p(x)")
    np.testing.assert_array_equal(quick.encode(x)[0], plain.encode(x)[0])
    np.testing.assert_array_equal(quick.sample(4, rng=0), plain.sample(4, rng=0))


def test_the_fast_model_keeps_every_parameter_and_gradient_in_one_flat_buffer():
    m = VAE(6, (5,), 3, decoder="gaussian", decoder_var="pixel", fast=True)
    assert sum(p.size for p in m.params.values()) == m.flat_params.size == m.flat_grads.size
    assert flat_storage(m.params.values()) is m.flat_params
    m.loss_and_grads(np.random.default_rng(0).normal(size=(4, 6)), rng=0)
    assert flat_storage(m.grads.values()) is m.flat_grads          # the backward wrote into the views
    assert m.flat_grads.any()
    m.params["dec.0.W"][0, 0] = 123.0                               # the dict's arrays are the layers' own
    assert m.decoder.layers[0].params["W"][0, 0] == 123.0 == m.flat_params[m.flat_params == 123.0][0]
    plain = VAE(6, (5,), 3, decoder="gaussian", decoder_var="pixel")
    assert flat_storage(plain.params.values()) is None and not hasattr(plain, "flat_params")


def test_tie_moves_values_into_views_and_flat_storage_finds_only_exact_tilings():
    class Part:
        def __init__(self, **arrays):
            self.params = arrays
            self.grads = {k: np.zeros_like(a) for k, a in arrays.items()}
    a, b = Part(W=np.arange(6.0).reshape(2, 3), b=np.array([6.0])), Part(c=np.array([7.0, 8.0, 9.0]))
    flat_p, flat_g = tie([a, b], np.float64)
    np.testing.assert_array_equal(flat_p, np.arange(10.0))
    assert a.params["W"].base is flat_p and b.grads["c"].base is flat_g and a.params["W"].shape == (2, 3)
    assert flat_storage([*a.params.values(), *b.params.values()]) is flat_p
    assert flat_storage([b.params["c"], a.params["W"], a.params["b"]]) is None         # out of order
    assert flat_storage([a.params["W"]]) is None                                        # does not cover it
    assert flat_storage([flat_p[:6:2], flat_p[6:]]) is None                             # not contiguous
    assert flat_storage([np.ones(3)]) is not None                  # an array is its own flat storage


# --- the optimizers ---------------------------------------------------------------------------

def _tiled(rng, dtype, n=5000):
    """Parameters and gradients that tile one flat array each (as tie lays them out)."""
    flat, gflat = rng.normal(size=n).astype(dtype), np.zeros(n, dtype=dtype)
    cut = 4 * n // 5
    return (flat, gflat, {"W": flat[:cut].reshape(-1, 100), "b": flat[cut:]},
            {"W": gflat[:cut].reshape(-1, 100), "b": gflat[cut:]})


OPTIMIZER_PAIRS = [(lambda p, **k: Adam(p, lr=0.01), lambda p, **k: FlatAdam(p, lr=0.01, **k)),
                   (lambda p, **k: SGD(p, lr=0.01, momentum=0.9), lambda p, **k: FlatSGD(p, lr=0.01, momentum=0.9, **k))]


@pytest.mark.parametrize("plain,flat", OPTIMIZER_PAIRS, ids=["adam", "sgd"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_flat_optimizers_take_the_plain_steps(plain, flat, dtype):
    rng = np.random.default_rng(1)
    flat_p, gflat, params, grads = _tiled(rng, dtype)
    separate = {k: v.copy() for k, v in params.items()}
    opt_flat, opt_plain = flat(params), plain(separate)
    assert opt_flat._flat_params is flat_p
    for _ in range(6):
        gflat[:] = rng.normal(size=gflat.size) * 10.0 ** rng.integers(-4, 2, size=gflat.size)
        opt_flat.step(grads)
        opt_plain.step({k: g.copy() for k, g in grads.items()})
    for k in params:
        assert params[k].dtype == dtype
        assert_normwise_close(params[k], separate[k], TOL[dtype], k)
    assert opt_flat.settings() == opt_plain.settings() and opt_flat.t == opt_plain.t == 6
    t, state = opt_flat.state()
    t0, state0 = opt_plain.state()
    assert state.keys() == state0.keys()
    for k in state:
        assert_normwise_close(state[k], state0[k], TOL[dtype], k)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("threads", [1, 2])
def test_the_fused_adam_equals_the_textbook_algorithm(dtype, rtol, threads):
    def make(params):
        opt = FlatAdam(params, lr=0.01, threads=threads)
        if threads == 2:
            opt._halves.min_size = 0          # split even this small buffer, so two threads really run
        return opt
    adam_within_rounding_of_the_textbook(make, dtype, rtol)


@pytest.mark.parametrize("make", [lambda p, k: FlatAdam(p, lr=0.01, threads=k),
                                  lambda p, k: FlatSGD(p, lr=0.01, momentum=0.9, threads=k)], ids=["adam", "sgd"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_two_threads_give_bitwise_the_one_thread_result(make, dtype):
    n = 3 * 1024 + 17                         # a cut at 1024, halves of unequal length, a ragged end
    runs = []
    for threads in (1, 2):
        flat = np.random.default_rng(3).normal(size=n).astype(dtype)
        gflat = np.zeros(n, dtype=dtype)
        params, grads = {"a": flat[:100], "b": flat[100:]}, {"a": gflat[:100], "b": gflat[100:]}
        opt = make(params, threads)
        if threads == 2:
            opt._halves.min_size = 0
        rng = np.random.default_rng(4)
        for _ in range(5):
            gflat[:] = rng.normal(size=n)
            opt.step(grads)
        runs.append(flat.tobytes())
    assert runs[0] == runs[1]


def test_a_flat_optimizer_on_arrays_that_tile_nothing_takes_the_plain_steps():
    rng = np.random.default_rng(0)
    params = {"a": rng.normal(size=(3, 4)), "b": rng.normal(size=5)}
    twin = {k: v.copy() for k, v in params.items()}
    flat, plain = FlatAdam(params, lr=0.1), Adam(twin, lr=0.1)
    assert flat._flat_params is None
    for _ in range(3):
        g = {k: rng.normal(size=v.shape) for k, v in params.items()}
        flat.step(g)
        plain.step(g)
    for k in params:
        np.testing.assert_array_equal(params[k], twin[k])
    with pytest.raises(ValueError, match=r"grads\['b'\] must have shape \(5,\)"):
        flat.step({"a": np.zeros((3, 4)), "b": np.zeros(4)})


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_one_dot_finiteness_check_agrees_with_the_plain_one(dtype):
    rng = np.random.default_rng(0)
    _, gflat, params, grads = _tiled(rng, dtype, n=500)
    flat, plain = FlatAdam(params), Adam({k: v.copy() for k, v in params.items()})
    huge = np.finfo(dtype).max / 4              # finite, but g·g overflows
    for value, want in [(0.5, []), (huge, []), (np.nan, ["W"]), (-np.inf, ["W"])]:
        gflat[:] = rng.normal(size=gflat.size)
        gflat[7] = value
        assert flat.non_finite(grads) == plain.non_finite(grads) == want
    gflat[7] = 0.5
    grads_b = {"W": grads["W"], "b": grads["b"].copy()}
    grads_b["b"][0] = np.inf                      # no flat array under these: the plain check
    assert flat.non_finite(grads_b) == ["b"]


# --- training, and checkpoints across the two paths -------------------------------------------

@pytest.fixture(scope="module")
def digits():
    X, _ = load_digits()
    return X[:1000].astype(np.float64), X[1000:1200].astype(np.float64)


def test_200_steps_of_fit_give_the_same_curve_and_parameters_fast_and_plain(digits):
    X, X_va = digits
    runs = []
    for quick in (False, True):
        model = VAE(64, hidden=(32,), z_dim=4, seed=0, fast=quick)
        history = fit(model, X, X_va, epochs=10, batch_size=50, seed=0, progress=False)    # 10 x 20 = 200 steps
        runs.append((model, history))
    (plain, h0), (quick, h1) = runs
    for field in ("train_loss", "train_elbo", "valid_elbo"):
        np.testing.assert_allclose(h1[field], h0[field], rtol=1e-10)
    assert h0["valid_elbo"][-1] > h0["valid_elbo"][0] + 5          # it trained: the comparison is not of idle models
    for k, p in plain.params.items():
        assert_normwise_close(quick.params[k], p, 1e-10, k)


@pytest.mark.parametrize("first,then", [(True, False), (False, True)], ids=["fast-then-plain", "plain-then-fast"])
def test_a_checkpoint_of_one_path_loads_and_resumes_in_the_other(digits, tmp_path, first, then):
    X, X_va = digits
    ckpt = tmp_path / "run" / "model.npz"
    ckpt.parent.mkdir()
    fit(VAE(64, hidden=(16,), z_dim=3, seed=0, fast=first), X, X_va, epochs=2, batch_size=100, seed=0,
        progress=False, checkpoint=ckpt)
    loaded = VAE.load(ckpt, fast=then)
    assert loaded.fast is then
    resumed = VAE(64, hidden=(16,), z_dim=3, seed=0, fast=then)
    history = fit(resumed, X, X_va, epochs=4, batch_size=100, seed=0, progress=False, checkpoint=ckpt, resume=True)
    whole = VAE(64, hidden=(16,), z_dim=3, seed=0)
    h_whole = fit(whole, X, X_va, epochs=4, batch_size=100, seed=0, progress=False)
    assert len(history) == 4
    np.testing.assert_allclose(history["valid_elbo"], h_whole["valid_elbo"], rtol=1e-10)
    for k, p in whole.params.items():
        assert_normwise_close(resumed.params[k], p, 1e-10, k)


def test_the_flat_adam_gathers_gradients_that_tile_nothing_and_keeps_the_plain_state():
    """Flat parameters with loose gradient copies: the same steps; its state loads into the plain Adam and back."""
    rng = np.random.default_rng(5)
    _, _, params, _ = _tiled(rng, np.float64, n=500)
    twin = {k: v.copy() for k, v in params.items()}
    flat, plain = FlatAdam(params, lr=0.01), Adam(twin, lr=0.01)
    for _ in range(3):
        g = {k: rng.normal(size=v.shape) for k, v in params.items()}     # each its own array
        flat.step(g)
        plain.step(g)
    for k in params:
        assert_normwise_close(params[k], twin[k], 1e-12, k)
    t, state = flat.state()
    other = Adam({k: v.copy() for k, v in params.items()}, lr=0.01)
    other.load_state(t, state)
    back = FlatAdam(params, lr=0.01)
    back.load_state(*plain.state())
    for key, a in plain.state()[1].items():
        assert_normwise_close(other.state()[1][key], a, 1e-12, key)
        assert_normwise_close(back.state()[1][key], a, 1e-12, key)
