"""distributions: forwards against SciPy, closed forms and Monte Carlo; gradients against finite differences."""

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats
from scipy.special import expit

from numvae.distributions import (
    bernoulli_log_likelihood, bernoulli_log_likelihood_grad, gaussian_entropy,
    gaussian_log_density, gaussian_log_density_grad, kl_gaussians, kl_standard_normal,
    kl_standard_normal_grad, kl_standard_normal_terms, logmeanexp)
from numvae.gradcheck import gradcheck

from strategies import gaussian_pairs, spd_matrix


def check_elementwise_grad(f, grad_of, inputs, seed=0):
    """Gradcheck ``sum(w * f(**inputs))`` for a random upstream weight w (not ones)."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=f(**inputs).shape)
    params = {k: np.array(v, dtype=np.float64) for k, v in inputs.items()}

    def fun(p):
        return float(np.sum(w * f(**p))), grad_of(w, p)

    report = gradcheck(fun, params)
    assert report.passed, str(report)
    return report


# --- Gaussian ----------------------------------------------------------------

def test_gaussian_log_density_matches_scipy_on_batches_of_samples():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 5, 4))                   # (L, N, D)
    mu = rng.normal(size=(5, 4))
    logvar = rng.normal(size=(5, 4))
    got = gaussian_log_density(x, mu, logvar)
    want = stats.norm.logpdf(x, mu, np.exp(0.5 * logvar)).sum(-1)
    assert got.shape == (3, 5)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # and as one multivariate normal with diagonal covariance
    mvn = stats.multivariate_normal(mu[0], np.diag(np.exp(logvar[0])))
    np.testing.assert_allclose(got[:, 0], mvn.logpdf(x[:, 0]), rtol=1e-12)


def test_gaussian_log_density_gradient():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 3))
    inputs = {"mu": rng.normal(size=(4, 3)), "logvar": rng.normal(0, 0.5, size=(4, 3))}

    def grad_of(w, p):
        dmu, dlogvar = gaussian_log_density_grad(x, p["mu"], p["logvar"])
        return {"mu": w[:, None] * dmu, "logvar": w[:, None] * dlogvar}

    check_elementwise_grad(lambda mu, logvar: gaussian_log_density(x, mu, logvar), grad_of, inputs)


def test_gaussian_entropy_matches_scipy():
    logvar = np.array([[0.3, -1.2, 2.0]])
    want = stats.multivariate_normal(np.zeros(3), np.diag(np.exp(logvar[0]))).entropy()
    np.testing.assert_allclose(gaussian_entropy(logvar), [want], rtol=1e-12)


# --- Bernoulli ---------------------------------------------------------------

def test_bernoulli_matches_the_direct_formula():
    rng = np.random.default_rng(2)
    logits = rng.normal(0, 3, size=(6, 5))
    x = rng.random((6, 5))                             # grey levels allowed: a cross-entropy
    p = expit(logits)
    want = (x * np.log(p) + (1 - x) * np.log1p(-p)).sum(-1)
    np.testing.assert_allclose(bernoulli_log_likelihood(x, logits), want, rtol=1e-12)


@pytest.mark.parametrize("logit", [-1e4, -800.0, -40.0, 40.0, 800.0, 1e4])
def test_bernoulli_is_exact_for_huge_logits(logit):
    # log σ(l) = -softplus(-l) and log(1-σ(l)) = -softplus(l); for |l| >= 40,
    # softplus(l) = max(l, 0) to double precision (the correction e^-40 ~ 4e-18).
    x = np.array([[1.0, 0.0, 0.3]])
    logits = np.full((1, 3), logit)
    got = bernoulli_log_likelihood(x, logits)
    log_p, log_1mp = -max(-logit, 0.0), -max(logit, 0.0)
    want = 1.0 * log_p + 1.0 * log_1mp + (0.3 * log_p + 0.7 * log_1mp)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, [want], rtol=1e-12)


def test_bernoulli_gradient_with_respect_to_logits():
    rng = np.random.default_rng(3)
    x = (rng.random((4, 5)) < 0.5).astype(float)
    inputs = {"logits": rng.normal(0, 2, size=(4, 5))}
    check_elementwise_grad(lambda logits: bernoulli_log_likelihood(x, logits),
                           lambda w, p: {"logits": w[:, None] * bernoulli_log_likelihood_grad(x, p["logits"])},
                           inputs)


@pytest.mark.parametrize("bad", [1.5, -0.1])
def test_bernoulli_rejects_targets_outside_unit_interval(bad):
    x = np.array([[0.2, bad]])
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\]"):
        bernoulli_log_likelihood(x, np.zeros((1, 2)))


# --- KL to the standard normal -----------------------------------------------

def test_kl_standard_normal_gradient():
    rng = np.random.default_rng(4)
    inputs = {"mu": rng.normal(size=(5, 3)), "logvar": rng.normal(0, 0.7, size=(5, 3))}

    def grad_of(w, p):
        dmu, dlogvar = kl_standard_normal_grad(p["mu"], p["logvar"])
        return {"mu": w[:, None] * dmu, "logvar": w[:, None] * dlogvar}

    check_elementwise_grad(kl_standard_normal, grad_of, inputs)


def test_kl_standard_normal_equals_the_general_formula_for_diagonal_covariances():
    rng = np.random.default_rng(5)
    mu, logvar = rng.normal(size=(7, 4)), rng.normal(size=(7, 4))
    cov = np.stack([np.diag(np.exp(lv)) for lv in logvar])
    general = kl_gaussians(mu, cov, np.zeros(4), np.eye(4))
    np.testing.assert_allclose(kl_standard_normal(mu, logvar), general, rtol=1e-12)
    np.testing.assert_allclose(kl_standard_normal_terms(mu, logvar).sum(-1), general, rtol=1e-12)


def test_kl_standard_normal_matches_monte_carlo():
    rng = np.random.default_rng(6)
    mu, logvar = np.array([0.5, -1.0]), np.array([-0.4, 0.6])
    z = mu + np.exp(0.5 * logvar) * rng.normal(size=(200_000, 2))
    log_ratio = gaussian_log_density(z, mu, logvar) - stats.norm.logpdf(z).sum(-1)
    se = log_ratio.std() / np.sqrt(len(z))
    # 5 standard errors: fails with probability ~6e-7 if the closed form is right
    assert abs(log_ratio.mean() - kl_standard_normal(mu, logvar)) < 5 * se


# --- General Gaussian KL -------------------------------------------------------

def test_kl_gaussians_matches_monte_carlo_with_scipy_densities():
    rng = np.random.default_rng(7)
    d = 3
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    cov1, cov2 = spd_matrix(rng, d), spd_matrix(rng, d)
    p, q = stats.multivariate_normal(mu1, cov1), stats.multivariate_normal(mu2, cov2)
    z = p.rvs(size=200_000, random_state=rng)
    log_ratio = p.logpdf(z) - q.logpdf(z)
    se = log_ratio.std() / np.sqrt(len(z))
    assert abs(log_ratio.mean() - kl_gaussians(mu1, cov1, mu2, cov2)) < 5 * se


def test_kl_gaussians_handles_large_dimension_without_determinant_overflow():
    # det(100 * I_400) = 1e800 overflows float64; the Cholesky log-determinant does not.
    d = 400
    kl = kl_gaussians(np.zeros(d), 100.0 * np.eye(d), np.zeros(d), np.eye(d))
    want = 0.5 * (-d * np.log(100.0) - d + 100.0 * d)
    np.testing.assert_allclose(kl, want, rtol=1e-12)


def test_kl_gaussians_batches_over_leading_dimensions():
    rng = np.random.default_rng(8)
    mu1 = rng.normal(size=(4, 2))
    cov1 = np.stack([spd_matrix(rng, 2) for _ in range(4)])
    batched = kl_gaussians(mu1, cov1, np.zeros(2), np.eye(2))
    one_by_one = [kl_gaussians(m, c, np.zeros(2), np.eye(2)) for m, c in zip(mu1, cov1)]
    np.testing.assert_allclose(batched, one_by_one, rtol=1e-12)


@given(gaussian_pairs())
def test_kl_is_non_negative_and_zero_only_for_equal_gaussians(pair):
    mu1, cov1, mu2, cov2 = pair
    kl = kl_gaussians(mu1, cov1, mu2, cov2)
    assert kl > 1e-10  # the strategy never draws two equal Gaussians
    assert abs(kl_gaussians(mu1, cov1, mu1, cov1)) < 1e-10


@given(gaussian_pairs())
def test_kl_is_symmetric_when_covariances_are_equal(pair):
    mu1, cov1, mu2, _ = pair
    # equal covariances leave only the Mahalanobis term, which is symmetric
    np.testing.assert_allclose(kl_gaussians(mu1, cov1, mu2, cov1),
                               kl_gaussians(mu2, cov1, mu1, cov1), rtol=1e-9)


def test_kl_is_asymmetric_in_general():
    # KL(N(0,1) || N(0,4)) = ½(log 4 - 1 + 1/4) and KL(N(0,4) || N(0,1)) = ½(-log 4 - 1 + 4)
    a = kl_gaussians(np.zeros(1), np.eye(1), np.zeros(1), 4 * np.eye(1))
    b = kl_gaussians(np.zeros(1), 4 * np.eye(1), np.zeros(1), np.eye(1))
    np.testing.assert_allclose([a, b], [0.5 * (np.log(4) - 0.75), 0.5 * (3 - np.log(4))], rtol=1e-12)
    assert b > 2 * a


# --- logmeanexp ----------------------------------------------------------------

@given(arrays(np.float64, st.integers(1, 30), elements=st.floats(-700, 700)))
def test_logmeanexp_matches_extended_precision_where_naive_works(a):
    naive = np.log(np.mean(np.exp(a.astype(np.longdouble))))
    np.testing.assert_allclose(logmeanexp(a), float(naive), rtol=1e-12, atol=1e-12)


@given(arrays(np.float64, st.integers(1, 30), elements=st.floats(-1e6, 1e6)))
def test_logmeanexp_is_finite_and_bounded_where_naive_overflows(a):
    got = logmeanexp(a)
    # mean of exp lies between min and max, so log-mean-exp does too (up to the
    # rounding of adding and subtracting log n)
    tol = 1e-12 * (1 + np.abs(a).max())
    assert np.isfinite(got)
    assert a.min() - tol <= got <= a.max() + tol


def test_logmeanexp_along_an_axis_and_with_zero_weights():
    a = np.array([[0.0, np.log(3.0)], [-np.inf, 0.0]])
    np.testing.assert_allclose(logmeanexp(a, axis=1), [np.log(2.0), np.log(0.5)], rtol=1e-14)
    assert logmeanexp(np.array([-np.inf, -np.inf])) == -np.inf


# --- bad input -----------------------------------------------------------------

def test_shape_mismatch_names_the_arguments():
    with pytest.raises(ValueError, match="x and mu"):
        gaussian_log_density(np.zeros((3, 4)), np.zeros((3, 5)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="x and logits"):
        bernoulli_log_likelihood(np.zeros((3, 4)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="cov1 must have shape"):
        kl_gaussians(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2))


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_input_is_rejected(value):
    mu = np.array([[0.0, value]])
    with pytest.raises(ValueError, match="mu must be finite"):
        kl_standard_normal(mu, np.zeros((1, 2)))
    with pytest.raises(ValueError, match="logits must be finite"):
        bernoulli_log_likelihood(np.zeros((1, 2)), mu)
    with pytest.raises(ValueError, match="a must not contain NaN"):
        logmeanexp(np.array([0.0, np.nan]))


def test_non_positive_definite_and_asymmetric_covariances_are_rejected():
    with pytest.raises(ValueError, match="cov2 must be positive definite"):
        kl_gaussians(np.zeros(2), np.eye(2), np.zeros(2), np.array([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(ValueError, match="cov1 must be symmetric"):
        kl_gaussians(np.zeros(2), np.array([[1.0, 0.5], [0.0, 1.0]]), np.zeros(2), np.eye(2))
