"""Tests of numvae.vae and the continuous Bernoulli: gradients, the forward against the math, files, errors.

Every Monte Carlo comparison states its tolerance in standard errors (SE)
estimated from the same samples; every gradient check is float64, every entry.
"""

import json

import mpmath
import numpy as np
import pytest
from scipy import integrate, stats
from scipy.special import expit

import numvae.posteriors as posteriors_module
from numvae import importance
from numvae.distributions import (
    continuous_bernoulli_log_density,
    continuous_bernoulli_log_density_grad,
    continuous_bernoulli_log_norm,
    continuous_bernoulli_log_norm_grad,
    continuous_bernoulli_mean,
)
from numvae.gradcheck import VAE_EPS, gradcheck, vae_case, vae_reports
from numvae.io import save_checkpoint
from numvae.vae import VAE

from helpers import linear_gaussian_vae, tiny_vae

mpmath.mp.dps = 40


def tiny(decoder="bernoulli", hidden=(5,), dtype=np.float64, seed=0, **kw):
    """A small model with biases (and a learned decoder log-variance) away from zero."""
    m = VAE(6, hidden=hidden, z_dim=3, decoder=decoder, activation="tanh", dtype=dtype, seed=seed, **kw)
    rng = np.random.default_rng(seed + 100)
    for k, v in m.params.items():
        if k.endswith(".b") or k == "dec.logvar":
            v[:] = rng.normal(0, 0.5, size=v.shape)
    return m


def data(decoder, n=7, seed=1, d=6):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) if decoder == "gaussian" else rng.uniform(0.02, 0.98, size=(n, d))


# --- gradient checks -----------------------------------------------------------

GRAD_CASES = [  # decoder, decoder_var, hidden, activation, n_samples
    ("bernoulli", "pixel", (5,), "tanh", 1),
    ("bernoulli", "pixel", (5,), "relu", 3),
    ("bernoulli", "pixel", (), "tanh", 2),
    ("continuous_bernoulli", "pixel", (5,), "tanh", 1),
    ("continuous_bernoulli", "pixel", (4, 5), "softplus", 3),
    ("gaussian", "pixel", (5,), "tanh", 1),
    ("gaussian", "pixel", (5,), "tanh", 3),
    ("gaussian", "shared", (5,), "tanh", 2),
    ("gaussian", "fixed", (5,), "tanh", 2),
    ("gaussian", "shared", (), "tanh", 1),
]


@pytest.mark.parametrize("decoder,var,hidden,act,L", GRAD_CASES)
def test_full_loss_gradient_every_parameter(decoder, var, hidden, act, L):
    model, fun, info = vae_case(decoder, var, hidden, act, n_samples=L, beta=0.7, seed=3)
    # Free bits bind on some latent dimensions and not on others.
    assert 0 < info["clamped"].sum() < len(info["clamped"])
    assert np.min(np.abs(info["kl_per_dim"] - info["free_bits"])) > 1e-3   # far from the kink
    report = gradcheck(fun, model.params, eps=VAE_EPS, tol=1e-6)
    assert [r.name for r in report.rows] == list(model.params)            # every parameter
    assert ("dec.logvar" in model.params) == (decoder == "gaussian" and var != "fixed")
    assert report.max_rel_err <= 1e-6, str(report)


def test_gradient_without_free_bits_and_beta_one():
    model, _, _ = vae_case("gaussian", "pixel", n_samples=2, seed=5)
    x, eps = data("gaussian"), np.random.default_rng(9).standard_normal((2, 7, 3))
    report = gradcheck(lambda p: model.loss_and_grads(x, eps=eps, n_samples=2), model.params, eps=VAE_EPS)
    assert report.passed, str(report)


def test_vae_reports_all_pass_and_cover_every_decoder():
    from numvae.likelihoods import LIKELIHOODS

    reports = vae_reports(seed=0)
    titles = " | ".join(t for t, _ in reports)
    for text in [f"{name} decoder" for name in LIKELIHOODS] + ["pixel variance", "shared variance",
                                                               "fixed variance", "linear"]:
        assert text in titles
    for title, report in reports:
        assert report.passed, f"{title}\n{report}"


def test_gradcheck_catches_a_wrong_kl_gradient(monkeypatch):
    # The check has teeth: a KL gradient with exp(logvar) in place of expm1(logvar)/2 fails.
    model, fun, _ = vae_case("bernoulli", n_samples=1, seed=2)
    monkeypatch.setattr(posteriors_module, "kl_standard_normal_grad", lambda mu, lv: (mu, np.exp(lv)))
    assert not gradcheck(fun, model.params, eps=VAE_EPS).passed


def test_free_bits_limits():
    m = tiny("bernoulli")
    x, eps = data("bernoulli"), np.random.default_rng(2).standard_normal((7, 3))
    loss0, g = m.loss_and_grads(x, eps=eps, beta=0.0)
    g0 = {k: v.copy() for k, v in g.items()}
    kl_dims = m.last_terms["kl_per_dim"]
    # λ above every dimension's KL: the loss is rec + β·Kλ and the KL has no gradient.
    lam = kl_dims.max() + 1.0
    loss, g = m.loss_and_grads(x, eps=eps, beta=2.0, free_bits=lam)
    assert loss == pytest.approx(loss0 + 2.0 * 3 * lam, rel=1e-12)
    for k in g0:
        np.testing.assert_allclose(g[k], g0[k], rtol=1e-12, atol=1e-15)
    # λ below every dimension's KL: exactly the plain β-weighted loss.
    loss_plain, g = m.loss_and_grads(x, eps=eps, beta=2.0)
    g_plain = {k: v.copy() for k, v in g.items()}
    loss_fb, g = m.loss_and_grads(x, eps=eps, beta=2.0, free_bits=0.5 * kl_dims.min())
    assert loss_fb == pytest.approx(loss_plain, rel=1e-12)
    for k in g_plain:
        np.testing.assert_allclose(g[k], g_plain[k], rtol=1e-10, atol=1e-14)


def test_loss_is_minus_mean_of_rec_minus_beta_kl_and_last_terms():
    m = tiny("continuous_bernoulli")
    x, eps = data("continuous_bernoulli"), np.random.default_rng(3).standard_normal((4, 7, 3))
    elbo, rec, kl = m.elbo(x, n_samples=4, eps=eps)
    loss, _ = m.loss_and_grads(x, eps=eps, n_samples=4, beta=0.3)
    assert isinstance(loss, float)
    assert loss == pytest.approx(-np.mean(rec - 0.3 * kl), rel=1e-13)
    np.testing.assert_allclose(elbo, rec - kl)
    t = m.last_terms
    assert t["rec"].shape == (7,) and t["kl"].shape == (7,) and t["kl_per_dim"].shape == (3,)
    np.testing.assert_allclose(t["rec"], rec)
    np.testing.assert_allclose(t["kl_per_dim"].sum(), kl.mean())


# --- the forward against the math ---------------------------------------------

def test_reparameterized_samples_have_mean_mu_and_variance_exp_logvar():
    m = tiny("bernoulli", seed=4)
    x = data("bernoulli", n=3)
    m.params["enc.1.b"][3:] -= 1.5
    mu, logvar = m.encode(x)
    assert np.abs(logvar).mean() > 0.5   # σ and σ² differ, so a mixup is visible
    L = 40000
    m.elbo(x, n_samples=L, rng=0)
    z = m.decoder.layers[0].cache                                        # (L, N, K): the decoder's input
    var = np.exp(logvar)
    # mean: SE = sqrt(var/L); variance: SE = var*sqrt(2/(L-1)). Tolerance 5 SE.
    assert np.all(np.abs(z.mean(0) - mu) < 5 * np.sqrt(var / L))
    se_var = var * np.sqrt(2.0 / (L - 1))
    assert np.all(np.abs(z.var(0, ddof=1) - var) < 5 * se_var)
    # The σ/σ² mixup (exp(logvar) used as σ, variance exp(2·logvar)) is far outside.
    assert np.any(np.abs(z.var(0, ddof=1) - np.exp(2 * logvar)) > 20 * se_var)


def _test_rec(decoder, model, x, z):
    """log p(x|z) computed in the test with scipy.stats / the λ-form of the continuous Bernoulli."""
    logits_or_mean = model.decoder.forward(z)                            # (L, N, D)
    if decoder == "gaussian":
        sd = np.sqrt(np.exp(model.params["dec.logvar"]))
        return stats.norm.logpdf(x, logits_or_mean, sd).sum(-1)
    lam = expit(logits_or_mean)
    if decoder == "bernoulli":
        return stats.bernoulli.logpmf(x, lam).sum(-1)
    # Loaiza-Ganem & Cunningham 2019 eqs. 6-7 in λ: C = 2 artanh(1-2λ)/(1-2λ).
    C = 2 * np.arctanh(1 - 2 * lam) / (1 - 2 * lam)
    return (np.log(C) + x * np.log(lam) + (1 - x) * np.log1p(-lam)).sum(-1)


@pytest.mark.parametrize("decoder", ["bernoulli", "continuous_bernoulli", "gaussian"])
def test_elbo_matches_an_independent_computation(decoder):
    m = tiny(decoder, seed=6)
    x = data(decoder, n=5, seed=7)
    if decoder == "bernoulli":
        x = (x > 0.5).astype(float)   # scipy's Bernoulli pmf needs binary x
    m.params["enc.1.b"][3:] -= 1.5                                        # logvar well away from 0,
    mu, logvar = m.encode(x)                                             # so σ ≠ σ² is visible
    assert np.abs(logvar).mean() > 0.5
    # Closed-form KL written here: ½ Σ (σ² + μ² − 1 − log σ²), σ² = exp(logvar).
    kl_ref = 0.5 * np.sum(np.exp(logvar) + mu ** 2 - 1 - logvar, axis=1)
    # Same noise: z built here with σ = sqrt(exp(logvar)).
    L = 2000
    eps = np.random.default_rng(8).standard_normal((L, 5, 3))
    z = mu + np.sqrt(np.exp(logvar)) * eps
    rec_ref = _test_rec(decoder, m, x, z).mean(0)
    elbo, rec, kl = m.elbo(x, n_samples=L, eps=eps)
    np.testing.assert_allclose(kl, kl_ref, rtol=1e-12)
    np.testing.assert_allclose(rec, rec_ref, rtol=1e-10)
    np.testing.assert_allclose(elbo, rec_ref - kl_ref, rtol=1e-10)
    # The σ/σ² mixup (z = mu + exp(logvar)·eps) gives a different reconstruction term.
    rec_wrong = _test_rec(decoder, m, x, mu + np.exp(logvar) * eps).mean(0)
    assert np.max(np.abs(rec_wrong - rec_ref)) > 1e-2
    # Independent noise: the model's rng-driven estimate agrees within 5 SE.
    samples = _test_rec(decoder, m, x, z)                                 # (L, N)
    se = samples.std(0, ddof=1) / np.sqrt(L)
    _, rec_mc, _ = m.elbo(x, n_samples=L, rng=11)
    assert np.all(np.abs(rec_mc - rec_ref) < 5 * np.sqrt(2) * se)


def _linear_elbo_closed_form(m, x, A, b, sigma2):
    """E_q log N(x; Az + b, σ²I) − KL(q‖N(0,I)) for diagonal q, in closed form (written here)."""
    mu, logvar = m.encode(x)
    s2 = np.exp(logvar)
    D = x.shape[1]
    r = x - mu @ A.T - b
    e_rec = -0.5 * (D * np.log(2 * np.pi * sigma2) + ((r ** 2).sum(1) + (s2 * (A ** 2).sum(0)).sum(1)) / sigma2)
    kl = 0.5 * np.sum(s2 + mu ** 2 - 1 - logvar, axis=1)
    return e_rec - kl


def test_linear_vae_elbo_below_ppca_likelihood_and_iwae_approaches_it():
    m, x, exact, (A, b, sigma2) = linear_gaussian_vae()
    elbo_cf = _linear_elbo_closed_form(m, x, A, b, sigma2)
    # ELBO ≤ log p(x) for every datapoint, strictly here (q is not the posterior).
    assert np.all(elbo_cf < exact)
    gap = exact - elbo_cf
    assert gap.mean() > 0.02
    # The gap is exactly KL(q ‖ p(z|x)) (Gaussians, closed form written here).
    mu, logvar = m.encode(x)
    M = A.T @ A + sigma2 * np.eye(2)
    P_cov = sigma2 * np.linalg.inv(M)
    P_mean = (x - b) @ A @ np.linalg.inv(M)
    P_inv = np.linalg.inv(P_cov)
    d = P_mean - mu
    kl_post = 0.5 * (np.log(np.linalg.det(P_cov)) - logvar.sum(1) - 2
                     + np.exp(logvar) @ np.diag(P_inv) + np.einsum("ni,ij,nj->n", d, P_inv, d))
    np.testing.assert_allclose(gap, kl_post, rtol=1e-9)
    # The model's Monte Carlo ELBO agrees with the closed form within 5 SE.
    L = 4000
    eps = np.random.default_rng(1).standard_normal((L, len(x), 2))
    elbo_mc, _, _ = m.elbo(x, n_samples=L, eps=eps)
    z = mu + np.exp(0.5 * logvar) * eps
    per_sample = stats.norm.logpdf(x, z @ A.T + b, np.sqrt(sigma2)).sum(-1)   # (L, n)
    se = per_sample.std(0, ddof=1) / np.sqrt(L)
    assert np.all(np.abs(elbo_mc - elbo_cf) < 5 * se)
    # Importance sampling with many samples closes the gap (to 2% of it here).
    ll = m.log_likelihood(x, k=5000, rng=2)
    assert ll.dtype == np.float64 and ll.shape == (len(x),)
    assert abs(ll.mean() - exact.mean()) < 0.02 * gap.mean()
    assert ll.mean() > elbo_cf.mean()


def test_log_likelihood_k1_is_an_elbo_sample_and_grows_with_k():
    m, x, exact, (A, b, sigma2) = linear_gaussian_vae(seed=3, n=200, inflate=1.5)
    elbo_cf = _linear_elbo_closed_form(m, x, A, b, sigma2)
    # Tolerances use per-datapoint differences, so the spread of log p(x) over x is not noise.
    # k = 1: one importance weight, log p(x,z) − log q(z|x): an unbiased ELBO estimate.
    reps = np.stack([m.log_likelihood(x, k=1, rng=s) for s in range(20)])   # (20, n)
    resid = (reps - elbo_cf).ravel()
    assert abs(resid.mean()) < 5 * resid.std(ddof=1) / np.sqrt(resid.size)
    # Batch means non-decreasing in k within noise (3 SE), actually growing, ≥ the ELBO, ≤ log p(x).
    ll = {k: m.log_likelihood(x, k=k, rng=10 + k) for k in (1, 10, 100)}

    def se(d):
        return d.std(ddof=1) / np.sqrt(d.size)

    for lo, hi in ((1, 10), (10, 100)):
        d = ll[hi] - ll[lo]
        assert d.mean() >= -3 * se(d), (lo, hi, d.mean(), se(d))
    d = ll[100] - ll[1]
    assert d.mean() > 5 * se(d)
    assert (ll[100] - elbo_cf).mean() > 0
    d = ll[100] - exact
    assert d.mean() <= 3 * se(d)


def test_log_likelihood_chunked_accumulation_matches_one_block(monkeypatch):
    m = tiny("bernoulli", seed=2)
    x = data("bernoulli", n=4)
    one_block = m.log_likelihood(x, k=50, rng=5, batch_size=10)
    monkeypatch.setattr(importance, "BLOCK", 4 * 6 * 3)                # 3 samples per chunk
    chunked = m.log_likelihood(x, k=50, rng=5, batch_size=10)
    np.testing.assert_allclose(chunked, one_block, rtol=1e-12)
    # By hand: log mean exp of log p(x|z) + log p(z) − log q(z|x) over the same 50 draws.
    eps = np.random.default_rng(5).standard_normal((50, 4, 3))
    mu, logvar = m.encode(x)
    z = mu + np.exp(0.5 * logvar) * eps
    logits = m.decoder.forward(z)
    log_w = (np.sum(x * np.log(expit(logits)) + (1 - x) * np.log(expit(-logits)), -1)
             + stats.norm.logpdf(z).sum(-1)
             - stats.norm.logpdf(z, mu, np.exp(0.5 * logvar)).sum(-1))
    by_hand = np.log(np.mean(np.exp(log_w), axis=0))
    np.testing.assert_allclose(one_block, by_hand, rtol=1e-10)


# --- dtype ---------------------------------------------------------------------

@pytest.mark.parametrize("decoder,var", [("bernoulli", "pixel"), ("continuous_bernoulli", "pixel"),
                                         ("gaussian", "pixel"), ("gaussian", "shared"), ("gaussian", "fixed")])
def test_float32_model_stays_float32(decoder, var):
    m = tiny(decoder, dtype=np.float32, decoder_var=var)
    x = data(decoder)                                                    # float64 input
    eps = np.random.default_rng(0).standard_normal((2, 7, 3))            # float64 noise
    for out in m.elbo(x, n_samples=2, eps=eps) + m.elbo(x, n_samples=2, rng=1) + m.encode(x):
        assert out.dtype == np.float32
    loss, grads = m.loss_and_grads(x, eps=eps, n_samples=2, beta=np.float64(0.5), free_bits=np.float64(0.1))
    assert isinstance(loss, float) and np.isfinite(loss)
    assert set(grads) == set(m.params)
    for k in m.params:
        assert m.params[k].dtype == np.float32 and grads[k].dtype == np.float32, k
    for v in m.last_terms.values():
        assert v.dtype == np.float32
    for out in (m.decode(np.zeros((2, 3))), m.reconstruct(x), m.sample(3, rng=0)):
        assert out.dtype == np.float32


# --- the rest of the API ---------------------------------------------------------

def test_api_shapes_and_config():
    m = VAE(6, hidden=(5, 4), z_dim=3, decoder="gaussian", decoder_var="shared", seed=1)
    assert list(m.params) == ["enc.0.W", "enc.0.b", "enc.1.W", "enc.1.b", "enc.2.W", "enc.2.b",
                              "dec.0.W", "dec.0.b", "dec.1.W", "dec.1.b", "dec.2.W", "dec.2.b", "dec.logvar"]
    assert m.params["enc.2.W"].shape == (4, 6)                           # fused (mu, logvar) output layer
    assert m.params["dec.0.W"].shape == (3, 4) and m.params["dec.logvar"].shape == (1,)
    assert (m.x_dim, m.z_dim, m.dtype) == (6, 3, np.dtype(np.float64))
    rebuilt = VAE(**json.loads(json.dumps(m.config)))
    for k in m.params:
        np.testing.assert_array_equal(rebuilt.params[k], m.params[k])   # same seed, same weights
    x = data("gaussian")
    mu, logvar = m.encode(x)
    assert mu.shape == logvar.shape == (7, 3)
    assert m.reconstruct(x).shape == (7, 6)
    np.testing.assert_array_equal(m.sample(4, rng=3), m.sample(4, rng=3))
    assert m.sample(4, rng=3).shape == (4, 6)
    # params are live: an in-place update changes the model.
    before = m.encode(x)[0].copy()
    m.params["enc.2.b"][:3] += 1.0
    np.testing.assert_allclose(m.encode(x)[0], before + 1.0)


def test_decode_returns_the_likelihood_mean():
    z = np.random.default_rng(0).normal(size=(4, 3))
    mb = tiny("bernoulli")
    np.testing.assert_allclose(mb.decode(z), expit(mb.decoder.forward(z)))
    mc = tiny("continuous_bernoulli")
    logits = mc.decoder.forward(z)
    np.testing.assert_allclose(mc.decode(z), continuous_bernoulli_mean(logits))
    assert np.max(np.abs(mc.decode(z) - expit(logits))) > 1e-3         # not σ(logits)
    mg = tiny("gaussian")
    np.testing.assert_allclose(mg.decode(z), mg.decoder.forward(z))


# --- files ---------------------------------------------------------------------

@pytest.mark.parametrize("decoder,var,dtype", [("bernoulli", "pixel", np.float64),
                                               ("gaussian", "shared", np.float32),
                                               ("gaussian", "fixed", np.float64)])
def test_save_load_round_trip(tmp_path, decoder, var, dtype):
    m = tiny(decoder, dtype=dtype, decoder_var=var, decoder_logvar=-0.7)
    m.params["dec.0.W"] *= 1.5                                            # not the seed's weights
    path = tmp_path / "m.npz"
    m.save(path)
    m2 = VAE.load(path)
    assert m2.config == m.config and m2.dtype == m.dtype
    x, eps = data(decoder), np.random.default_rng(0).standard_normal((7, 3))
    for a, b in zip(m.elbo(x, eps=eps), m2.elbo(x, eps=eps)):
        np.testing.assert_array_equal(a, b)
    for k in m.params:
        np.testing.assert_array_equal(m.params[k], m2.params[k])


def test_load_rejects_corrupt_and_mismatched_files(tmp_path):
    m = tiny("bernoulli")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match="not a readable"):
        VAE.load(bad)
    with pytest.raises(FileNotFoundError):
        VAE.load(tmp_path / "missing.npz")
    wrong_config = dict(m.config, hidden=[4])
    save_checkpoint(tmp_path / "shape.npz", m.params, "VAE", wrong_config)
    with pytest.raises(ValueError, match=r"array 'enc.0.W' has shape \(6, 5\)"):
        VAE.load(tmp_path / "shape.npz")
    save_checkpoint(tmp_path / "extra.npz", dict(m.params, stray=np.zeros(2)), "VAE", m.config)
    with pytest.raises(ValueError, match="unexpected arrays \\['stray'\\]"):
        VAE.load(tmp_path / "extra.npz")
    partial = {k: v for k, v in m.params.items() if k != "dec.0.b"}
    save_checkpoint(tmp_path / "missing_arr.npz", partial, "VAE", m.config)
    with pytest.raises(ValueError, match="missing arrays \\['dec.0.b'\\]"):
        VAE.load(tmp_path / "missing_arr.npz")
    save_checkpoint(tmp_path / "cfg.npz", m.params, "VAE", dict(m.config, decoder="laplace"))
    with pytest.raises(ValueError, match="decoder must be one of"):
        VAE.load(tmp_path / "cfg.npz")
    save_checkpoint(tmp_path / "kind.npz", m.params, "PPCA", m.config)
    with pytest.raises(ValueError, match="expected a 'VAE'"):
        VAE.load(tmp_path / "kind.npz")


# --- bad input -----------------------------------------------------------------

def test_bad_input_raises_value_error_naming_the_argument():
    m = tiny("bernoulli")
    x = data("bernoulli")
    with pytest.raises(ValueError, match=r"x must have shape \(N, 6\)"):
        m.elbo(x[:, :5])
    x_nan = x.copy()
    x_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="x must be finite"):
        m.loss_and_grads(x_nan)
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\]"):
        m.elbo(x + 1.0)
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\]"):
        tiny("continuous_bernoulli").loss_and_grads(x - 0.5)
    tiny("gaussian").elbo(x + 1.0)                                       # fine for the Gaussian
    with pytest.raises(ValueError, match="n_samples must be an integer >= 1"):
        m.elbo(x, n_samples=0)
    with pytest.raises(ValueError, match="beta must be"):
        m.loss_and_grads(x, beta=-0.1)
    with pytest.raises(ValueError, match="free_bits must be"):
        m.loss_and_grads(x, free_bits=-1.0)
    with pytest.raises(ValueError, match=r"eps must have shape"):
        m.loss_and_grads(x, eps=np.zeros((7, 2)))
    with pytest.raises(ValueError, match=r"eps must have shape \(n_samples, N, K\) = \(2, 7, 3\)"):
        m.loss_and_grads(x, eps=np.zeros((7, 3)), n_samples=2)
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        m.log_likelihood(x, k=0)
    with pytest.raises(ValueError, match=r"z must have shape \(N, 3\)"):
        m.decode(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="decoder must be one of"):
        VAE(6, decoder="laplace")
    with pytest.raises(ValueError, match="activation must be one of"):
        VAE(6, activation="swish")
    with pytest.raises(ValueError, match="decoder_var must be one of"):
        VAE(6, decoder="gaussian", decoder_var="diagonal")
    with pytest.raises(ValueError, match="z_dim must be an integer >= 1"):
        VAE(6, z_dim=0)


# --- continuous Bernoulli --------------------------------------------------------

def _ref_log_norm(l):
    l = mpmath.mpf(float(l))
    return mpmath.log(2) if l == 0 else mpmath.log(l / mpmath.tanh(l / 2))


LAMBDAS = [1e-6, 1e-3, 0.1, 0.3, 0.5 - 1e-6, 0.5, 0.5 + 1e-6, 0.7, 0.999]
LOGITS = [np.log(p / (1 - p)) for p in LAMBDAS] + [-50.0, 50.0, -1e-3, 2e-2]


@pytest.mark.parametrize("l", LOGITS)
def test_continuous_bernoulli_integrates_to_one_and_its_mean(l):
    def pdf(t):
        return np.exp(continuous_bernoulli_log_density(np.array([t]), np.array([l])))

    points = [1 - 1 / abs(l), 1 / abs(l)] if abs(l) > 10 else None
    total, _ = integrate.quad(pdf, 0, 1, points=points, epsabs=1e-13, epsrel=1e-12, limit=200)
    assert total == pytest.approx(1.0, abs=1e-10)
    mean, _ = integrate.quad(lambda t: t * pdf(t), 0, 1, points=points, epsabs=1e-13, epsrel=1e-12, limit=200)
    assert continuous_bernoulli_mean(np.array([l]))[0] == pytest.approx(mean, rel=1e-9, abs=1e-12)


def test_continuous_bernoulli_log_norm_against_mpmath_and_continuity():
    ls = np.concatenate([np.geomspace(1e-9, 60, 300), -np.geomspace(1e-9, 60, 300), [0.0]])
    ours = continuous_bernoulli_log_norm(ls)
    ref = np.array([float(_ref_log_norm(l)) for l in ls])
    np.testing.assert_allclose(ours, ref, rtol=2e-15)
    assert continuous_bernoulli_log_norm(np.array([0.0]))[0] == np.log(2)
    # Continuity across every switch point (Taylor series below, closed form above).
    from numvae import distributions as d
    for fun, tau in ((continuous_bernoulli_log_norm, d._CB_LOGNORM_SWITCH),
                     (continuous_bernoulli_log_norm_grad, d._CB_GRAD_SWITCH),
                     (continuous_bernoulli_mean, d._CB_MEAN_SWITCH)):
        below, above = fun(np.array([np.nextafter(tau, 0), tau]))
        assert below == pytest.approx(above, rel=5e-14)
    # Extreme logits: finite, and the known asymptote log C ≈ log|l| for large |l|.
    big = continuous_bernoulli_log_norm(np.array([1e4, -1e4, 1e300]))
    np.testing.assert_allclose(big, np.log([1e4, 1e4, 1e300]), rtol=1e-15)


def test_continuous_bernoulli_gradients():
    ls = np.concatenate([np.geomspace(1e-9, 60, 200), -np.geomspace(1e-9, 60, 200), [0.0]])
    ref = np.array([float(mpmath.diff(lambda t: mpmath.log(t / mpmath.tanh(t / 2)), mpmath.mpf(float(l))))
                    if l != 0 else 0.0 for l in ls])
    np.testing.assert_allclose(continuous_bernoulli_log_norm_grad(ls), ref, rtol=5e-14, atol=1e-300)
    # Central finite differences of the float64 log C, away from 0.
    l = np.array([-20.0, -3.0, -0.5, -0.05, 0.2, 1.0, 7.0])
    h = 1e-5
    fd = (continuous_bernoulli_log_norm(l + h) - continuous_bernoulli_log_norm(l - h)) / (2 * h)
    np.testing.assert_allclose(continuous_bernoulli_log_norm_grad(l), fd, rtol=1e-8)
    # The score is x − E[x] (exponential family), and matches finite differences of the density.
    x = np.array([0.0, 0.2, 0.9, 1.0, 0.5, 0.31, 0.7])
    g = continuous_bernoulli_log_density_grad(x, l)
    np.testing.assert_allclose(g, x - continuous_bernoulli_mean(l), rtol=1e-12, atol=1e-14)
    dens = [(continuous_bernoulli_log_density(x[i:i + 1], l[i:i + 1] + h)
             - continuous_bernoulli_log_density(x[i:i + 1], l[i:i + 1] - h)) / (2 * h) for i in range(len(l))]
    np.testing.assert_allclose(g, np.array(dens), rtol=1e-7, atol=1e-10)


def test_continuous_bernoulli_mean_against_mpmath_and_dtype():
    ls = np.concatenate([np.geomspace(1e-9, 60, 200), -np.geomspace(1e-9, 60, 200)])
    ref = np.array([float(1 / (1 - mpmath.exp(-mpmath.mpf(float(l)))) - 1 / mpmath.mpf(float(l))) for l in ls])
    np.testing.assert_allclose(continuous_bernoulli_mean(ls), ref, rtol=2e-15)
    assert continuous_bernoulli_mean(np.array([0.0]))[0] == 0.5
    for fun in (continuous_bernoulli_log_norm, continuous_bernoulli_log_norm_grad, continuous_bernoulli_mean):
        assert fun(np.float32([-3.0, 0.0, 1e-3, 4.0])).dtype == np.float32
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\]"):
        continuous_bernoulli_log_density(np.array([1.2]), np.array([0.0]))
    with pytest.raises(ValueError, match="logits must be finite"):
        continuous_bernoulli_mean(np.array([np.nan]))


# --- the float32 fast path agrees with float64 (issue 8) ------------------------

@pytest.mark.parametrize("decoder,activation", [("bernoulli", "relu"), ("bernoulli", "tanh"), ("gaussian", "tanh")])
def test_float32_and_float64_agree_on_a_fixed_batch(decoder, activation):
    # The same weights and the same noise in both dtypes. float32 rounds at
    # 6e-8 relative; through two layers, a 784-term likelihood sum and the
    # weight-gradient sums over the batch, errors grow to ~1e-6 relative, and
    # an entry that is a sum with cancellation can lose more: so rtol 1e-4,
    # with an atol of 1e-5 of each gradient's largest entry.
    m64 = VAE(784, hidden=(64,), z_dim=8, decoder=decoder, activation=activation, dtype=np.float64, seed=3)
    m32 = VAE(784, hidden=(64,), z_dim=8, decoder=decoder, activation=activation, dtype=np.float32, seed=3)
    for k in m64.params:
        m64.params[k][...] = m64.params[k].astype(np.float32)            # representable in both
        m32.params[k][...] = m64.params[k]
    rng = np.random.default_rng(0)
    x = rng.random((50, 784)).astype(np.float32).astype(np.float64)
    eps = rng.standard_normal((2, 50, 8)).astype(np.float32).astype(np.float64)
    loss64, g64 = m64.loss_and_grads(x, eps=eps, n_samples=2)
    g64 = {k: v.copy() for k, v in g64.items()}
    loss32, g32 = m32.loss_and_grads(x, eps=eps, n_samples=2)
    assert loss32 == pytest.approx(loss64, rel=1e-5)
    for k in g64:
        assert g32[k].dtype == np.float32
        np.testing.assert_allclose(g32[k], g64[k], rtol=1e-4, atol=1e-5 * np.abs(g64[k]).max(), err_msg=k)
    for a, b in zip(m32.elbo(x, n_samples=2, eps=eps), m64.elbo(x, n_samples=2, eps=eps)):
        np.testing.assert_allclose(a, b, rtol=1e-5)
    # log p(x) runs the decoder in float32 (its noise stream differs from
    # float64's, so the values are not compared here) and returns float64.
    assert m32.log_likelihood(x[:10], k=50, rng=1).dtype == np.float64


def test_checkpoint_written_before_the_posterior_families_still_loads(tmp_path):
    # The layout numvae wrote before `posterior` existed: the same arrays, a
    # config without the "posterior" key. It loads as the diagonal posterior
    # it was, with the same ELBO.
    m = tiny("gaussian", decoder_var="shared", decoder_logvar=-0.3)
    old_config = {k: v for k, v in m.config.items() if k != "posterior"}
    assert set(old_config) == {"x_dim", "hidden", "z_dim", "decoder", "activation", "dtype", "seed",
                               "decoder_var", "decoder_logvar"}
    save_checkpoint(tmp_path / "old.npz", m.params, "VAE", old_config)
    m2 = VAE.load(tmp_path / "old.npz")
    assert m2.config["posterior"] == "diagonal"
    x, eps = data("gaussian"), np.random.default_rng(0).standard_normal((7, 3))
    np.testing.assert_array_equal(m2.elbo(x, eps=eps)[0], m.elbo(x, eps=eps)[0])


def test_sizes_whose_parameters_cannot_fit_in_memory_are_refused_by_name_before_allocating():
    # Was NumPy's MemoryError (or minutes of swapping); 10**12 latents need millions of GiB.
    with pytest.raises(ValueError, match=r"z_dim=1000000000000 \(posterior 'diagonal'\) give 1,202,000,000,052,128 "
                                         r"parameters: .* GiB .*more than this machine's .*choose smaller sizes"):
        VAE(64, z_dim=10 ** 12)
    with pytest.raises(ValueError, match=r"hidden=\(1000000000,\).*posterior 'full'"):
        VAE(64, hidden=(10 ** 9,), z_dim=4, posterior="full")


def test_the_size_bound_is_the_machines_memory(monkeypatch):
    import numvae.checks

    m = VAE(64, hidden=(400,), z_dim=20, dtype=np.float32)
    n = sum(p.size for p in m.params.values()) + 64               # + at most one likelihood parameter per pixel
    need = 2 * n * 4                                              # parameters and gradients, float32
    monkeypatch.setattr(numvae.checks, "physical_memory", lambda: need - 1)
    with pytest.raises(ValueError, match=rf"give {n:,} parameters"):
        VAE(64, hidden=(400,), z_dim=20, dtype=np.float32)
    monkeypatch.setattr(numvae.checks, "physical_memory", lambda: need)
    VAE(64, hidden=(400,), z_dim=20, dtype=np.float32)


# --- bad input and faults (from the hostile-user review) ---

@pytest.mark.parametrize("method", ["elbo", "log_likelihood"])
def test_a_forward_pass_that_overflows_raises(method, tiny_digits, tmp_path):
    X, _ = tiny_digits
    model = tiny_vae(dtype=np.float64)
    for p in model.params.values():
        p[...] = 1e300                                      # finite, absurd
    model.save(tmp_path / "huge.npz")
    loaded = VAE.load(tmp_path / "huge.npz")                # finite weights load
    call = {"elbo": lambda m: m.elbo(X[:5], rng=0), "log_likelihood": lambda m: m.log_likelihood(X[:5], k=3, rng=0)}
    with np.errstate(all="ignore"), pytest.raises(FloatingPointError, match=f"^VAE.{method} overflowed: 5 of 5"):
        call[method](loaded)
