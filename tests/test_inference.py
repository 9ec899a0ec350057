"""Per-datapoint optimal q* and the inference gaps, against closed forms on linear-Gaussian models.

On a linear Gaussian decoder p(x|z) = N(Wz + b, σ²I) the posterior is
N(m, Λ⁻¹), Λ = WᵀW/σ² + I (pPCA, lecture 002), and every ELBO has a closed
form (``PPCA.elbo``), so the optimum of each family and its gap are known
exactly (Bishop PRML §10.1.2 for the mean-field one).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ortho_group

from numvae.data import load_digits
from numvae.gradcheck import VAE_EPS, gradcheck, path_elbo_case
from numvae.inference import defensive_log_px, elbo_of, encoder_outputs, gaps, optimize_q, path_elbo, sign_design
from numvae.posteriors import make_posterior
from numvae.ppca import PPCA
from numvae.train import fit
from numvae.vae import VAE


def linear_problem(seed=0, D=6, K=3, N=12, sigma2=0.5, W=None):
    """A linear Gaussian VAE with a random (untrained) encoder, its pPCA twin, data from it, and Λ."""
    rng = np.random.default_rng(seed)
    W_drawn, b = rng.normal(size=(D, K)), rng.normal(size=D)
    W = W_drawn if W is None else W                                                 # same b and x either way
    ppca = PPCA.from_params(W, b, sigma2)
    m = VAE(D, hidden=(), z_dim=K, decoder="gaussian", decoder_var="shared", seed=seed)
    m.params["dec.0.W"][...] = W.T
    m.params["dec.0.b"][...] = b
    m.params["dec.logvar"][...] = np.log(sigma2)
    x = rng.multivariate_normal(b, W_drawn @ W_drawn.T + sigma2 * np.eye(D), size=N)
    Lam = W.T @ W / sigma2 + np.eye(K)
    return m, ppca, x, Lam


def mean_field_gap(Lam):
    """½(Σ_j log Λ_jj − log det Λ), the mean-field KL to a Gaussian of precision Λ."""
    return 0.5 * (np.log(np.diag(Lam)).sum() - np.linalg.slogdet(Lam)[1])


# --- the gradient of optimize_q's objective -----------------------------------------

@pytest.mark.parametrize("posterior", ["diagonal", "full"])
@pytest.mark.parametrize("decoder", ["bernoulli", "continuous_bernoulli", "gaussian"])
def test_path_derivative_gradient_every_entry(posterior, decoder):
    # F(h) = mean_s[log p(x, z_s(h)) − log q_{h_q}(z_s(h))] with h_q frozen: its
    # gradient at h = h_q is the path-derivative estimator. Random upstream weights.
    fun, params = path_elbo_case(decoder, posterior, seed=1)
    assert params["h"].shape == (4, make_posterior(posterior, 3).n_outputs)
    report = gradcheck(fun, params, eps=VAE_EPS)
    assert report.max_rel_err <= 1e-6, str(report)


@pytest.mark.parametrize("posterior", ["diagonal", "full"])
def test_path_derivative_is_unbiased_for_the_closed_form_elbo_gradient(posterior):
    # Mean of the estimator over many draws vs central differences of PPCA.elbo (closed form), within 5 SE.
    m, ppca, x, _ = linear_problem(seed=3, N=3)
    family = make_posterior(posterior, 3)
    h = encoder_outputs(m, x, posterior) * 0.3 + 0.1

    def closed(hh):
        mu, second = family.split(hh)
        return ppca.elbo(x, mu, family.covariance((mu, second)))

    ref = np.zeros_like(h)
    for idx in np.ndindex(h.shape):
        e = np.zeros_like(h)
        e[idx] = 1e-6
        ref[idx] = (closed(h + e) - closed(h - e))[idx[0]] / 2e-6
    draws = np.stack([path_elbo(m, x, h, np.random.default_rng(s).standard_normal((50, 3, 3)), posterior)[1]
                      for s in range(200)])                                          # (200, N, n_out)
    se = draws.std(0, ddof=1) / np.sqrt(200)
    assert np.all(np.abs(draws.mean(0) - ref) <= 5 * se + 1e-9)
    # The value is an unbiased ELBO estimate too.
    values = np.stack([path_elbo(m, x, h, np.random.default_rng(s).standard_normal((50, 3, 3)), posterior)[0]
                       for s in range(200)])
    assert np.all(np.abs(values.mean(0) - closed(h)) <= 5 * values.std(0, ddof=1) / np.sqrt(200))


def test_path_derivative_vanishes_at_the_exact_posterior_for_any_noise():
    m, ppca, x, _ = linear_problem(seed=4)
    mean, cov = ppca.posterior(x)
    h = make_posterior("full", 3).outputs(mean, np.broadcast_to(cov, (len(x), 3, 3)))
    _, g = path_elbo(m, x, h, np.random.default_rng(0).standard_normal((2, len(x), 3)) * 3, "full")
    np.testing.assert_allclose(g, 0.0, atol=1e-10)


@given(st.integers(1, 40))
@settings(max_examples=20)
def test_sign_design_columns_are_orthogonal_and_balanced(K):
    s = sign_design(K)
    S = s.shape[0]
    assert s.shape[1] == K and S > K and S & (S - 1) == 0 and S <= 2 * (K + 1)
    assert set(np.unique(s)) <= {-1.0, 1.0}
    np.testing.assert_array_equal(s.sum(0), 0.0)                                     # odd terms cancel
    np.testing.assert_array_equal(s.T @ s, S * np.eye(K))                            # cross terms cancel


# --- linear-Gaussian exactness ---------------------------------------------------------

def test_full_q_star_is_the_exact_posterior():
    m, ppca, x, _ = linear_problem(seed=0)
    r = optimize_q(m, x, "full", rng=1)
    mean, cov = ppca.posterior(x)
    assert r.L is not None and r.logvar is None and r.L.shape == (len(x), 3, 3)
    np.testing.assert_allclose(r.mu, mean, rtol=1e-3, atol=1e-3 * np.abs(mean).max())
    np.testing.assert_allclose(r.cov, np.broadcast_to(cov, r.cov.shape), rtol=1e-3, atol=1e-3 * np.abs(cov).max())
    gap = ppca.log_likelihood(x) - ppca.elbo(x, r.mu, r.cov)
    assert np.all(gap >= -1e-12) and gap.max() <= 1e-3
    # Its Monte Carlo ELBO agrees with the closed form within 5 SE.
    assert np.all(np.abs(r.elbo - ppca.elbo(x, r.mu, r.cov)) <= 5 * r.elbo_se)


def test_diagonal_q_star_is_the_mean_field_optimum():
    m, ppca, x, Lam = linear_problem(seed=1)
    r = optimize_q(m, x, "diagonal", rng=2)
    mean, _ = ppca.posterior(x)
    assert r.logvar is not None and r.L is None
    np.testing.assert_allclose(r.mu, mean, rtol=1e-3, atol=1e-3 * np.abs(mean).max())
    np.testing.assert_allclose(np.exp(r.logvar), np.broadcast_to(1 / np.diag(Lam), r.mu.shape), rtol=1e-3)
    gap = ppca.log_likelihood(x) - ppca.elbo(x, r.mu, r.cov)
    assert mean_field_gap(Lam) > 0.1                                                 # correlated posterior
    np.testing.assert_allclose(gap, mean_field_gap(Lam), atol=1e-3)


def test_rotating_w_keeps_log_p_and_changes_the_diagonal_gap_by_the_formula():
    # From orthogonal columns of distinct lengths (WᵀW diagonal: no mean-field gap) to a rotation of them.
    W = ortho_group.rvs(6, random_state=5)[:, :3] * np.array([3.0, 1.5, 0.7])
    m, ppca, x, Lam = linear_problem(seed=5, W=W)
    R = ortho_group.rvs(3, random_state=6)
    m_rot, ppca_rot, _, Lam_rot = linear_problem(seed=5, W=W @ R)
    assert mean_field_gap(Lam) < 1e-12
    np.testing.assert_allclose(ppca_rot.log_likelihood(x), ppca.log_likelihood(x), rtol=1e-12)
    gaps_ = []
    for model, p in ((m, ppca), (m_rot, ppca_rot)):
        r = optimize_q(model, x, "diagonal", rng=7)
        gaps_.append(p.log_likelihood(x) - p.elbo(x, r.mu, r.cov))
    assert abs(mean_field_gap(Lam_rot) - mean_field_gap(Lam)) > 0.05                  # the rotation matters
    np.testing.assert_allclose(gaps_[1] - gaps_[0], mean_field_gap(Lam_rot) - mean_field_gap(Lam), atol=2e-3)


def test_ppca_closed_form_w_has_no_mean_field_gap():
    # pPCA's ML W = U(Λ_S − σ²I)^½ has orthogonal columns, so WᵀW and Λ are diagonal.
    rng = np.random.default_rng(8)
    X = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6))
    ppca = PPCA(3).fit(X)
    m, _, _, Lam = linear_problem(W=ppca.W, sigma2=ppca.sigma2)
    m.params["dec.0.b"][...] = ppca.b
    assert mean_field_gap(Lam) < 1e-10
    r = optimize_q(m, X[:10], "diagonal", rng=9)
    gap = ppca.log_likelihood(X[:10]) - ppca.elbo(X[:10], r.mu, r.cov)
    assert gap.max() <= 1e-3


# --- any decoder ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits_vae():
    X, _ = load_digits()
    m = VAE(64, hidden=(32,), z_dim=2, seed=0)
    fit(m, X[:1000], epochs=10, batch_size=50, lr=3e-3, progress=False)
    return m, X[1000:1012]


def test_q_star_improves_on_the_encoder_and_full_on_diagonal(digits_vae):
    m, x = digits_vae
    q_enc = encoder_outputs(m, x, "diagonal")
    diag = optimize_q(m, x, "diagonal", steps=300, rng=0)
    full = optimize_q(m, x, "full", steps=300, rng=0)
    # Paired ELBOs on common noise: q* is not worse than the encoder, full not worse than diagonal.
    elbo, _, dse = elbo_of(m, x, [("diagonal", q_enc), ("diagonal", diag.h), ("full", full.h)], 2000, rng=1)
    assert np.all(elbo[1] - elbo[0] >= -3 * dse[0])
    assert np.all(elbo[2] - elbo[1] >= -3 * dse[1])
    assert (elbo[1] - elbo[0]).mean() > 5 * dse[0].mean() / np.sqrt(len(x))          # a real gain on average
    assert diag.decoder_passes == 300 * sign_design(2).shape[0] + 1000


def exact_posterior_h(ppca, x, shift_sd=0.0):
    """The full family's raw parameters of pPCA's exact posterior, its mean moved by `shift_sd` standard deviations."""
    mu, cov = ppca.posterior(x)
    cov = np.broadcast_to(cov, (len(x),) + cov.shape)
    return make_posterior("full", cov.shape[-1]).outputs(mu + shift_sd * np.sqrt(np.diagonal(cov, 0, 1, 2)), cov)


def test_defensive_log_px_with_the_exact_posterior():
    m, ppca, x, _ = linear_problem(seed=4, N=8)
    exact, h = ppca.log_likelihood(x), exact_posterior_h(ppca, x)
    # No prior share: every weight is p(x, z)/p(z|x) = p(x), so the estimate is exact and its SE zero.
    log_px, se = defensive_log_px(m, x, ("full", h), k=100, prior_share=0.0, rng=0)
    np.testing.assert_allclose(log_px, exact, rtol=0, atol=1e-10)
    assert np.all(se < 1e-12)
    # With the prior mixed in the weights vary, the estimate stays unbiased: within 4 SE.
    log_px, se = defensive_log_px(m, x, ("full", h), k=2000, rng=0)
    assert np.all(se > 1e-4)
    assert np.all(np.abs(log_px - exact) <= 4 * se)
    # The standard error is the estimate's spread: over 200 repetitions, the sd of log p̂
    # within 20 % of the mean reported SE (the sd of 200 draws is itself known to ~5 %).
    reps = np.array([defensive_log_px(m, x[:2], ("full", h[:2]), k=200, rng=r) for r in range(200)])  # (200, 2, 2)
    np.testing.assert_allclose(reps[:, 0].std(axis=0, ddof=1), reps[:, 1].mean(axis=0), rtol=0.2)


def test_defensive_log_px_recovers_from_a_proposal_that_misses_the_posterior():
    # q six posterior standard deviations off: alone, its draws never reach the posterior
    # and the estimate falls short by nats; half the draws from the prior bring it back.
    m, ppca, x, _ = linear_problem(seed=0, N=8)
    exact, h = ppca.log_likelihood(x), exact_posterior_h(ppca, x, shift_sd=6.0)
    alone, _ = defensive_log_px(m, x, ("full", h), k=20_000, prior_share=0.0, rng=1)
    assert np.all(exact - alone > 5.0)
    log_px, se = defensive_log_px(m, x, ("full", h), k=20_000, prior_share=0.5, rng=1)
    assert np.all(se < 0.2)
    assert np.all(np.abs(log_px - exact) <= 5 * se)


def test_gaps_on_a_linear_model_match_the_closed_forms():
    m, ppca, x, Lam = linear_problem(seed=10, N=8)
    g = gaps(m, x, k=2000, rng=0)
    exact = ppca.log_likelihood(x)
    # log p̂ with the (exact) full q* as proposal: exact up to its standard error.
    assert np.all(np.abs(g.log_px - exact) <= 3 * g.log_px_se + 1e-6)
    np.testing.assert_allclose(g.approximation, g.log_px - g.elbo_q_star)
    assert np.all(np.abs(g.approximation - mean_field_gap(Lam)) <= 4 * g.approximation_se + 2e-3)
    # The amortization gap is the closed-form ELBO difference between q* and the encoder's q.
    q_enc = m.encode(x)
    enc_closed = ppca.elbo(x, q_enc[0], np.exp(q_enc[1])[..., None] * np.eye(3))
    star = optimize_q(m, x, "diagonal", rng=1)
    closed = ppca.elbo(x, star.mu, star.cov) - enc_closed
    assert np.all(closed > 0.1)                                                       # an untrained encoder
    assert np.all(np.abs(g.amortization - closed) <= 4 * g.amortization_se + 1e-3)


def test_bad_arguments_name_themselves():
    m, _, x, _ = linear_problem()
    with pytest.raises(ValueError, match="posterior must be one of"):
        optimize_q(m, x, "flow")
    with pytest.raises(ValueError, match="k must be an integer >= 4; got 3"):
        gaps(m, x, k=3)
    h = encoder_outputs(m, x, "full")
    with pytest.raises(ValueError, match=r"prior_share must be in \[0, 1\); got 1.0"):
        defensive_log_px(m, x, ("full", h), k=10, prior_share=1.0)
    with pytest.raises(ValueError, match=r"proposal parameters must have shape \(N, n_outputs\) = \(12, 9\); got \(3, 9\)"):
        defensive_log_px(m, x, ("full", h[:3]), k=10)
    with pytest.raises(ValueError, match="steps must be an integer >= 2"):
        optimize_q(m, x, steps=1)
    with pytest.raises(ValueError, match=r"x must have shape \(N, 6\)"):
        optimize_q(m, x[:, :4])
    with pytest.raises(ValueError, match=r"proposal parameters must have shape \(N, n_outputs\) = \(12, 9\)"):
        m.log_likelihood(x, k=5, proposal=("full", np.zeros((12, 6))))


# Faults that returned NaN or a foreign error (issue 31): refused before any work, or the
# result checked as VAE.elbo checks its own.

def test_a_model_with_a_nan_weight_is_refused_naming_the_array():
    m, _, x, _ = linear_problem()
    h = encoder_outputs(m, x, "full")
    m.params["dec.0.W"][0, 0] = np.nan
    for call in (lambda: optimize_q(m, x, steps=4, n_eval=4, rng=0),
                 lambda: defensive_log_px(m, x, ("full", h), k=8, rng=0),
                 lambda: gaps(m, x, k=8, steps=4, n_eval=4, rng=0)):
        with pytest.raises(ValueError, match=r"model must have finite parameters.*'dec\.0\.W' has 1 NaN"):
            call()


def test_a_ppca_is_refused_as_the_model_under_its_name():
    _, ppca, x, _ = linear_problem()
    with pytest.raises(ValueError, match="model must be a numvae VAE.*got PPCA"):
        optimize_q(ppca, x, steps=4, n_eval=4, rng=0)
    with pytest.raises(ValueError, match="model must be a numvae VAE.*got PPCA"):
        defensive_log_px(ppca, x, ("full", np.zeros((len(x), 9))), k=8, rng=0)


@pytest.mark.parametrize("logvar", [2000.0, -2000.0])
def test_log_variances_whose_exp_over_or_underflows_are_refused_naming_h(logvar):
    m, _, x, _ = linear_problem()
    for posterior in ("diagonal", "full"):
        h = encoder_outputs(m, x, posterior)
        h[:, m.z_dim:2 * m.z_dim] = logvar
        with pytest.raises(ValueError, match=r"proposal parameters' log-variance columns \(3:6\) must lie in"):
            defensive_log_px(m, x, (posterior, h), k=8, rng=0)
    h = encoder_outputs(m, x, "full")
    h[:, m.z_dim:2 * m.z_dim] = 700.0                    # large but inside float64: still computes
    assert np.isfinite(defensive_log_px(m, x, ("full", h), k=8, rng=0)[0]).all()


@pytest.mark.parametrize("share", ["0.25", None, np.array([0.25, 0.5]), float("nan"), True])
def test_prior_share_that_is_not_a_number_is_refused_naming_it(share):
    m, _, x, _ = linear_problem()
    h = encoder_outputs(m, x, "full")
    with pytest.raises(ValueError, match=r"prior_share must be (a number )?in \[0, 1\)"):
        defensive_log_px(m, x, ("full", h), k=8, prior_share=share, rng=0)
    assert np.isfinite(defensive_log_px(m, x, ("full", h), k=8, prior_share=np.float32(0.25), rng=0)[0]).all()


def test_results_that_overflow_raise_instead_of_returning_nan():
    # Finite parameters whose arithmetic overflows: a decoder variance of exp(-1500) makes
    # every log p(x|z) -inf, so every weight is NaN. Before the check both returned NaN.
    m, _, x, _ = linear_problem()
    h = encoder_outputs(m, x, "full")
    m.params["dec.logvar"][...] = -1500.0
    with np.errstate(all="ignore"):
        with pytest.raises(FloatingPointError, match="defensive_log_px's log p\\(x\\) overflowed"):
            defensive_log_px(m, x, ("full", h), k=8, rng=0)
        with pytest.raises(FloatingPointError, match="optimize_q's q\\* overflowed"):
            optimize_q(m, x, steps=4, n_eval=4, rng=0)
