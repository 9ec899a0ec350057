"""The objectives: the ELBO, the importance-weighted bound (IWAE) and DReG, against the math and finite differences.

Every gradient check is float64 at every entry. Every Monte Carlo comparison
takes its tolerance from the standard error (SE) of the same draws.
"""

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

from numvae import objectives
from numvae.gradcheck import IWAE_KS, VAE_EPS, dreg_surrogate_case, gradcheck, iwae_case, iwae_reports
from numvae.likelihoods import LIKELIHOODS
from numvae.objectives import ELBO, IWAE, IWAEGradient, DReGGradient, SquaredError, from_settings
from numvae.posteriors import POSTERIORS
from numvae.vae import VAE

from helpers import linear_gaussian_vae


def _scipy_log_weights(model, x, eps):
    """log p(x|z) + log p(z) − log q(z|x) for the Gaussian decoder, each from scipy.stats: (k, N)."""
    h = model.encoder.forward(x)
    mu, second = model.posterior.split(h)
    cov = model.posterior.covariance((mu, second))                                   # (N, K, K)
    L = np.linalg.cholesky(cov)
    z = mu + np.einsum("nij,knj->kni", L, eps)                                       # (k, N, K)
    mean = model.decoder.forward(z)
    sd = np.exp(0.5 * model.params["dec.logvar"])
    log_px = stats.norm.logpdf(x, mean, sd).sum(-1)
    log_pz = stats.norm.logpdf(z).sum(-1)
    log_q = np.stack([np.atleast_1d(stats.multivariate_normal(mu[n], cov[n]).logpdf(z[:, n]))
                      for n in range(len(x))], axis=1)
    return log_px + log_pz - log_q


@pytest.mark.parametrize("posterior", list(POSTERIORS))
def test_iwae_bound_is_the_log_mean_of_importance_weights_from_scipy(posterior):
    model = VAE(5, hidden=(4,), z_dim=3, decoder="gaussian", decoder_var="pixel", posterior=posterior, seed=2)
    rng = np.random.default_rng(0)
    x, eps = rng.normal(size=(6, 5)), rng.standard_normal((7, 6, 3))
    log_w = _scipy_log_weights(model, x, eps)
    loss, _ = IWAE(7).loss_and_grads(model, x, eps=eps)
    expected = np.log(np.mean(np.exp(log_w), axis=0))                               # written the naive way
    np.testing.assert_allclose(model.last_terms["bound"], expected, rtol=1e-12)
    assert loss == pytest.approx(-expected.mean(), rel=1e-12)


@pytest.mark.parametrize("posterior", list(POSTERIORS))
def test_iwae_k1_is_the_elbo_with_a_monte_carlo_kl_sample_by_sample(posterior):
    model = VAE(5, hidden=(4,), z_dim=3, decoder="gaussian", posterior=posterior, seed=3)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 5))
    eps = rng.standard_normal((1, 6, 3))
    IWAE(1).loss_and_grads(model, x, eps=eps)
    # log p(x|z) + log p(z) − log q(z|x) at the same z: the ELBO with its KL replaced by one sample of it.
    np.testing.assert_allclose(model.last_terms["bound"], _scipy_log_weights(model, x, eps)[0], rtol=1e-12)
    # In expectation over the noise it is the ELBO with the closed-form KL: on the same draws their
    # difference is log p(z) − log q(z|x) + KL, of mean 0 (within 4 SE of 4000 draws, per datapoint).
    diff = []
    for _ in range(4000):
        e = rng.standard_normal((1, 6, 3))
        IWAE(1).loss_and_grads(model, x, eps=e)
        diff.append(model.last_terms["bound"] - model.elbo(x, eps=e)[0])
    diff = np.array(diff)                                                            # (4000, N)
    assert np.all(np.abs(diff.mean(0)) < 4 * diff.std(0, ddof=1) / np.sqrt(len(diff)))
    assert diff.std(0).min() > 0.05          # the two estimators do differ draw by draw


def test_iwae_bound_tightens_with_k_and_stays_below_the_exact_log_likelihood():
    # A linear Gaussian VAE whose log p(x) is exact (a Gaussian marginal), q deliberately off.
    m, x, exact, _ = linear_gaussian_vae(seed=4, n=40, inflate=1.0)
    rng = np.random.default_rng(5)
    R = 200
    # Per draw, the batch mean of L_k: R independent draws of it for each k.
    means = {k: np.array([-IWAE(k).value(m, x, rng=rng).mean() for _ in range(R)]) for k in (1, 5, 50)}
    se = {k: v.std(ddof=1) / np.sqrt(R) for k, v in means.items()}
    for lo, hi in ((1, 5), (5, 50)):   # strictly tighter, beyond 4 SE of the difference
        assert means[hi].mean() - means[lo].mean() > 4 * np.hypot(se[hi], se[lo]), (lo, hi)
    assert means[50].mean() < exact.mean() + 4 * se[50]


def test_every_iwae_and_dreg_gradient_check_passes_for_every_family():
    reports = iwae_reports(seed=7)
    titles = [t for t, _ in reports]
    for posterior in POSTERIORS:
        for decoder in LIKELIHOODS:
            for k in IWAE_KS:
                assert any(t.startswith(f"IWAE(k={k}), {posterior} posterior, {decoder} decoder") for t in titles)
            assert any(t.startswith("DReG") and f"{posterior} posterior, {decoder} decoder" in t for t in titles)
    for title, report in reports:
        assert report.max_rel_err <= 1e-6, f"{title}\n{report}"


def test_iwae_gradcheck_catches_a_missing_log_q_term(monkeypatch):
    # Without ∇φ log q at fixed z, the "IWAE" gradient is the path-derivative one: wrong for the bound.
    monkeypatch.setattr(IWAEGradient, "encoder_terms", lambda self, model, p, dz, g, w: (dz, None))
    for posterior in POSTERIORS:
        model, fun, _ = iwae_case("bernoulli", posterior=posterior, k=2, seed=1)
        assert not gradcheck(fun, model.params, eps=VAE_EPS).passed


def test_dreg_surrogate_check_catches_a_missing_second_weight(monkeypatch):
    # w̃ instead of w̃² on the path: the gradient of another surrogate.
    monkeypatch.setattr(DReGGradient, "encoder_terms", lambda self, model, p, dz, g, w: (dz, None))
    fun, params, keys = dreg_surrogate_case("gaussian", posterior="full", seed=2)
    assert not gradcheck(fun, params, eps=VAE_EPS, keys=keys).passed


@pytest.mark.parametrize("posterior", list(POSTERIORS))
def test_dreg_has_iwaes_value_and_decoder_gradient_and_another_encoder_gradient(posterior):
    model, _, (x, eps) = iwae_case("gaussian", posterior=posterior, k=5, seed=4)
    loss_i, g_i = IWAE(5).loss_and_grads(model, x, eps=eps)
    g_i = {k: v.copy() for k, v in g_i.items()}
    loss_d, g_d = IWAE(5, "dreg").loss_and_grads(model, x, eps=eps)
    assert loss_i == loss_d
    for name in model.params:
        if name.startswith("dec."):
            np.testing.assert_array_equal(g_d[name], g_i[name])
        else:
            assert not np.allclose(g_d[name], g_i[name]), name


def _mean_difference_in_se(estimator, posterior, draws=1500, seed=0):
    """‖mean(g_est − g_iwae)‖ over the encoder's parameters, in units of its standard error (paired draws)."""
    model, _, (x, eps) = iwae_case("bernoulli", posterior=posterior, k=5, seed=3)
    enc = [k for k in model.params if k.startswith("enc.")]
    rng = np.random.default_rng(seed)

    def flat(objective, e):
        _, g = objective.loss_and_grads(model, x, eps=e)
        return np.concatenate([g[k].ravel() for k in enc])

    d = np.stack([flat(estimator, e) - flat(IWAE(5), e)
                  for e in (rng.standard_normal(eps.shape) for _ in range(draws))])    # (draws, P)
    # Under "no bias", E‖mean d‖² = Σ_j Var(d_j)/draws: the ratio below is about 1.
    return np.linalg.norm(d.mean(0)) / np.sqrt((d.var(0, ddof=1) / draws).sum())


@pytest.mark.parametrize("posterior", list(POSTERIORS))
def test_dreg_encoder_gradient_is_unbiased_for_iwaes(posterior):
    assert _mean_difference_in_se(IWAE(5, "dreg"), posterior) < 4


def test_the_unbiasedness_check_detects_a_biased_estimator():
    # The path derivative with weights w̃ (no score term, no second w̃) is biased for k > 1.
    class PathOnly(IWAEGradient):
        def encoder_terms(self, model, p, dz, g, w):
            return dz, None

    biased = IWAE(5)
    biased._gradient = PathOnly()
    assert _mean_difference_in_se(biased, "diagonal", draws=500) > 4


def test_elbo_object_is_the_models_loss_and_its_settings_round_trip():
    model = VAE(6, hidden=(5,), z_dim=3, seed=1)
    x = np.random.default_rng(0).uniform(0.05, 0.95, size=(8, 6))
    eps = np.random.default_rng(1).standard_normal((2, 8, 3))
    a = ELBO(beta=0.5, free_bits=0.1, n_samples=2).loss_and_grads(model, x, eps=eps)
    a = a[0], {k: v.copy() for k, v in a[1].items()}
    b = model.loss_and_grads(x, eps=eps, n_samples=2, beta=0.5, free_bits=0.1)
    assert a[0] == b[0] and all(np.array_equal(a[1][k], b[1][k]) for k in a[1])
    for obj in (ELBO(0.5, 0.1, 2, 3.0), IWAE(7), IWAE(3, "dreg"), SquaredError()):
        again = from_settings(obj.settings())
        assert type(again) is type(obj) and again.settings() == obj.settings()


def test_elbo_warmup_anneals_beta_per_step():
    obj = ELBO(beta=2.0, warmup_epochs=1.5)
    assert [obj.at_step(t, 2).beta for t in range(5)] == [2 / 3, 4 / 3, 2.0, 2.0, 2.0]
    plain = ELBO(beta=0.5)
    assert plain.at_step(10, 3) is plain                 # no warm-up: the same objective, β untouched
    assert ELBO(warmup_epochs=1).at_step(0, 4).beta == 0.25
    assert IWAE(3).at_step(0, 5).k == 3


def test_bad_objective_arguments_raise_value_errors_naming_them():
    for make, name in ((lambda: IWAE(0), "k"), (lambda: IWAE(2.5), "k"), (lambda: IWAE(2, "stl"), "estimator"),
                       (lambda: ELBO(beta=-1), "beta"), (lambda: ELBO(free_bits=float("nan")), "free_bits"),
                       (lambda: ELBO(n_samples=0), "n_samples"), (lambda: ELBO(warmup_epochs=-1), "warmup_epochs"),
                       (lambda: from_settings({"name": "vimco"}), "objective")):
        with pytest.raises(ValueError, match=name):
            make()
    full = VAE(6, hidden=(5,), z_dim=3, posterior="full")
    with pytest.raises(ValueError, match="free_bits"):
        ELBO(free_bits=0.5).loss_and_grads(full, np.full((2, 6), 0.5))
    with pytest.raises(ValueError, match="Autoencoder"):
        SquaredError().loss_and_grads(full, np.full((2, 6), 0.5))


def test_log_prior_is_the_standard_normal_density():
    z = np.random.default_rng(0).normal(size=(3, 4, 5))
    np.testing.assert_allclose(objectives.log_prior(z), stats.norm.logpdf(z).sum(-1), rtol=1e-13)
