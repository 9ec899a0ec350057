"""Tests of numvae.ppca against references built independently of it.

References: scipy's multivariate normal with the full D × D covariance, direct
Gaussian conditioning of the joint N([z; x]) with np.linalg.solve, Monte Carlo
estimates of the ELBO, and the true parameters of synthetic data. pPCA data are
generated here with NumPy (x = W z + b + sqrt(sigma2) eps), not by numvae.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from scipy import stats

from numvae.io import save_checkpoint
from numvae.ppca import PPCA
from strategies import ppca_problems


def make_data(rng, n, W, b, sigma2):
    """n samples of x = W z + b + sqrt(sigma2) eps, z ~ N(0, I), eps ~ N(0, I)."""
    D, K = W.shape
    return rng.normal(size=(n, K)) @ W.T + b + np.sqrt(sigma2) * rng.normal(size=(n, D))


def random_model(rng, D=6, K=2, sigma2=0.3):
    return rng.normal(size=(D, K)), rng.normal(0, 2, size=D), sigma2


def full_cov(W, sigma2):
    """C = W Wᵀ + σ² I, built explicitly: the reference the library avoids forming."""
    return W @ W.T + sigma2 * np.eye(W.shape[0])


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    W, b, sigma2 = random_model(rng, D=6, K=2, sigma2=0.3)
    return make_data(rng, 300, W, b, sigma2)


# --- exact likelihood ----------------------------------------------------------

def test_log_likelihood_matches_scipy_full_covariance():
    rng = np.random.default_rng(1)
    W, b, sigma2 = random_model(rng, D=7, K=3, sigma2=0.4)
    # Points off the model's typical set too, so the Woodbury quadratic form is
    # exercised far from b, where an error in it would be largest.
    X = make_data(rng, 50, W, b, sigma2) + rng.normal(0, 2, size=(50, 7))
    model = PPCA.from_params(W, b, sigma2)
    expected = stats.multivariate_normal(mean=b, cov=full_cov(W, sigma2)).logpdf(X)
    np.testing.assert_allclose(model.log_likelihood(X), expected, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(model.score_samples(X), expected, rtol=1e-12, atol=1e-10)
    assert model.score(X) == pytest.approx(expected.mean(), rel=1e-12)


# --- fitting -------------------------------------------------------------------

# (N, D): N > D uses S formed once in EM; N < D (the SVD case of the closed
# form, S of rank < N) uses the S W = Xcᵀ(Xc W)/N path.
@pytest.mark.parametrize("N, D, K", [(400, 8, 3), (25, 40, 2)])
def test_closed_form_and_em_agree(N, D, K):
    rng = np.random.default_rng(2)
    W, b, sigma2 = random_model(rng, D=D, K=K, sigma2=0.5)
    X = make_data(rng, N, W, b, sigma2)
    cf = PPCA(K).fit(X)
    em = PPCA(K).fit(X, method="em", max_iter=20000, tol=1e-13, rng=3)
    assert em.converged_ and em.n_iter_ < 20000
    # Near the maximum the log-likelihood is quadratic in the parameters, so a
    # 1e-9 nats gap allows parameter errors of ~1e-4: compare them at 1e-3.
    assert em.score(X) == pytest.approx(cf.score(X), abs=1e-9)
    assert em.score(X) <= cf.score(X) + 1e-10          # the closed form is the global maximum
    WWt_cf, WWt_em = cf.W @ cf.W.T, em.W @ em.W.T      # W itself is only defined up to rotation
    np.testing.assert_allclose(WWt_em, WWt_cf, atol=1e-3 * np.abs(WWt_cf).max())
    assert em.sigma2 == pytest.approx(cf.sigma2, rel=1e-3)
    np.testing.assert_array_equal(em.b, X.mean(axis=0))
    # The history is computed from S W and tr S alone; its last entry must be
    # the exact log-likelihood of the returned parameters.
    assert em.history_[-1] == pytest.approx(em.score(X), abs=1e-10)
    assert len(em.history_) == em.n_iter_ + 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_em_log_likelihood_never_decreases(seed):
    rng = np.random.default_rng(seed)
    W, b, sigma2 = random_model(rng, D=10, K=4, sigma2=1.0)
    X = make_data(rng, 200, W, b, sigma2)
    h = PPCA(4).fit(X, method="em", max_iter=300, tol=0.0, rng=seed).history_
    scale = np.abs(h).max()
    assert np.all(np.diff(h) >= -1e-10 * scale), np.diff(h).min()
    assert h[-1] > h[0] + 0.1   # and it actually moved up from the random start


def em_step_from_expectations(X, W, sigma2):
    """One EM step in PRML's data form (eqs. 12.54-12.57), one datapoint at a time."""
    N, D = X.shape
    K = W.shape[1]
    Xc = X - X.mean(axis=0)
    Minv = np.linalg.inv(W.T @ W + sigma2 * np.eye(K))
    Ez = [Minv @ W.T @ x for x in Xc]                              # eq. 12.54
    Ezz = [sigma2 * Minv + np.outer(e, e) for e in Ez]             # eq. 12.55
    W_new = sum(np.outer(x, e) for x, e in zip(Xc, Ez)) @ np.linalg.inv(sum(Ezz))  # eq. 12.56
    sigma2_new = sum(x @ x - 2 * e @ W_new.T @ x + np.trace(Ezz_n @ W_new.T @ W_new)
                     for x, e, Ezz_n in zip(Xc, Ez, Ezz)) / (N * D)  # eq. 12.57
    return W_new, sigma2_new


@pytest.mark.parametrize("N, D", [(60, 5), (8, 12)])   # both ways of computing S W
def test_one_em_step_matches_the_data_form(N, D):
    rng = np.random.default_rng(12)
    X = rng.normal(size=(N, D)) * rng.uniform(0.5, 3, size=D)
    W0, s0 = rng.normal(size=(D, 2)), 0.8
    with pytest.warns(RuntimeWarning, match="did not converge"):
        model = PPCA(2).fit(X, method="em", max_iter=1, tol=0.0, init=(W0, s0))
    W1, s1 = em_step_from_expectations(X, W0, s0)
    np.testing.assert_allclose(model.W, W1, rtol=1e-10, atol=1e-12)
    assert model.sigma2 == pytest.approx(s1, rel=1e-10)


def test_em_warns_when_not_converged(data):
    with pytest.warns(RuntimeWarning, match="did not converge"):
        model = PPCA(2).fit(data, method="em", max_iter=2, tol=0.0, rng=0)
    assert not model.converged_ and model.n_iter_ == 2


def test_closed_form_is_the_maximum(data):
    model = PPCA(2).fit(data)
    best = model.score(data)
    rng = np.random.default_rng(4)
    W, b, s2 = model.W, model.b, model.sigma2
    for delta in (1e-3, 1e-2, 1e-1):
        for _ in range(5):
            perturbed = [
                (W + delta * rng.normal(size=W.shape), b, s2),
                (W, b + delta * rng.normal(size=b.shape), s2),
                (W, b, s2 * np.exp(delta * rng.choice([-1, 1]))),
            ]
            for params in perturbed:
                assert PPCA.from_params(*params).score(data) < best
    # A rotation R of W leaves WWᵀ and hence the likelihood unchanged (PRML
    # eq. 12.45's arbitrary R): the maximum is a set, not a point.
    R, _ = np.linalg.qr(rng.normal(size=(2, 2)))
    assert PPCA.from_params(W @ R, b, s2).score(data) == pytest.approx(best, abs=1e-12)


def test_fit_recovers_true_parameters_on_a_large_sample():
    rng = np.random.default_rng(5)
    N, D, K, sigma2 = 20000, 5, 2, 0.5
    W = rng.normal(size=(D, K))
    b = rng.normal(0, 2, size=D)
    X = make_data(rng, N, W, b, sigma2)
    model = PPCA(K).fit(X)
    C = full_cov(W, sigma2)
    # b̂ is the sample mean: sd of entry i is sqrt(C_ii / N).
    np.testing.assert_array_less(np.abs(model.b - b), 5 * np.sqrt(np.diag(C) / N))
    # σ̂² is to first order the mean of the noise-subspace variances, an
    # average over N(D−K) squared N(0, σ²) terms: sd ≈ σ² sqrt(2 / (N(D−K))).
    assert abs(model.sigma2 - sigma2) < 5 * sigma2 * np.sqrt(2 / (N * (D - K)))
    # Entry (i, j) of S has sd sqrt((C_ii C_jj + C_ij²)/N) (Gaussian fourth
    # moments); Ŵ Ŵᵀ is S's rank-K part minus σ̂², allowed 5 of those per entry.
    c = np.diag(C)
    tol = 5 * np.sqrt((np.outer(c, c) + C ** 2) / N)     # (D, D)
    np.testing.assert_array_less(np.abs(model.W @ model.W.T - W @ W.T), tol)


def test_fit_returns_self_and_sets_attributes(data):
    model = PPCA(2)
    assert model.fit(data) is model
    assert model.W.shape == (6, 2) and model.b.shape == (6,) and isinstance(model.sigma2, float)
    assert model.n_iter_ == 0 and model.converged_


# --- posterior -----------------------------------------------------------------

def conditional_of_joint(W, b, sigma2, X):
    """p(z|x) by conditioning the joint N([z; x]; [0; b], [[I, Wᵀ], [W, C]]) directly."""
    K = W.shape[1]
    C = full_cov(W, sigma2)
    mean = (W.T @ np.linalg.solve(C, (X - b).T)).T      # Σ_zx Σ_xx⁻¹ (x − b)
    cov = np.eye(K) - W.T @ np.linalg.solve(C, W)       # Σ_zz − Σ_zx Σ_xx⁻¹ Σ_xz
    return mean, cov


def test_posterior_matches_direct_conditioning_not_the_slide():
    rng = np.random.default_rng(6)
    W, b, sigma2 = random_model(rng, D=6, K=3, sigma2=0.7)
    X = make_data(rng, 20, W, b, sigma2)
    model = PPCA.from_params(W, b, sigma2)
    mean, cov = model.posterior(X)
    ref_mean, ref_cov = conditional_of_joint(W, b, sigma2, X)
    np.testing.assert_allclose(mean, ref_mean, atol=1e-12)
    np.testing.assert_allclose(cov, ref_cov, atol=1e-12)
    np.testing.assert_allclose(model.transform(X), ref_mean, atol=1e-12)
    # The slide's covariance σ⁻²M is a different matrix (lecture 002, *Probabilistic PCA*).
    slide_cov = (W.T @ W + sigma2 * np.eye(3)) / sigma2
    assert not np.allclose(slide_cov, ref_cov, rtol=0.1)


def test_posterior_collapses_as_noise_vanishes():
    # With σ² → 0, x = W z + b pins z down: the posterior covariance must go to
    # 0 and its mean to the true z. The slide's σ⁻²M would grow like 1/σ².
    rng = np.random.default_rng(7)
    W, b = rng.normal(size=(5, 2)), rng.normal(size=5)
    z = rng.normal(size=(4, 2))
    X = z @ W.T + b
    model = PPCA.from_params(W, b, 1e-10)
    mean, cov = model.posterior(X)
    assert np.abs(cov).max() < 1e-8
    np.testing.assert_allclose(mean, z, atol=1e-7)
    np.testing.assert_allclose(model.reconstruct(X), X, atol=1e-7)


# --- ELBO and KL: hypothesis ---------------------------------------------------

def model_and_q(p):
    return PPCA.from_params(p["W"], p["b"], p["sigma2"]), p["X"], p["q_mean"], p["q_cov"]


@settings(deadline=None, max_examples=50)
@given(ppca_problems())
def test_log_likelihood_equals_elbo_plus_kl(p):
    model, X, m, S = model_and_q(p)
    log_p = model.log_likelihood(X)
    total = model.elbo(X, m, S) + model.kl_to_posterior(X, m, S)
    np.testing.assert_allclose(total, log_p, rtol=1e-9, atol=1e-9)


@settings(deadline=None, max_examples=50)
@given(ppca_problems())
def test_elbo_is_tight_at_the_exact_posterior(p):
    model, X, _, _ = model_and_q(p)
    mean, cov = model.posterior(X)
    log_p = model.log_likelihood(X)
    np.testing.assert_allclose(model.elbo(X, mean, cov), log_p, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(model.kl_to_posterior(X, mean, cov), 0.0, atol=1e-9)


@settings(deadline=None, max_examples=50)
@given(ppca_problems())
def test_kl_is_positive_away_from_the_posterior(p):
    model, X, m, S = model_and_q(p)
    kl = model.kl_to_posterior(X, m, S)
    assert np.all(kl >= -1e-12)
    assert np.all(model.elbo(X, m, S) <= model.log_likelihood(X) + 1e-9)
    # Strictly positive where q is measurably different from p(z|x).
    mean, cov = model.posterior(X)
    differs = (np.abs(m - mean).max(axis=1) > 1e-3) | (np.abs(S - cov).reshape(-1, cov.size).max(axis=1) > 1e-3)
    assert np.all(kl[differs] > 0)


# --- ELBO against Monte Carlo ---------------------------------------------------

def test_elbo_matches_monte_carlo_estimate():
    rng = np.random.default_rng(8)
    D, K, N, L = 5, 2, 3, 100_000
    W, b, sigma2 = random_model(rng, D=D, K=K, sigma2=0.5)
    X = make_data(rng, N, W, b, sigma2)
    q_mean = rng.normal(size=(N, K))
    A = rng.normal(size=(N, K, K))
    q_cov = A @ np.swapaxes(A, 1, 2) + 0.3 * np.eye(K)     # (N, K, K), one per row
    analytic = PPCA.from_params(W, b, sigma2).elbo(X, q_mean, q_cov)
    for n in range(N):
        q = stats.multivariate_normal(mean=q_mean[n], cov=q_cov[n])
        z = q.rvs(size=L, random_state=rng)                # (L, K)
        f = (stats.norm.logpdf(X[n], loc=z @ W.T + b, scale=np.sqrt(sigma2)).sum(axis=1)
             + stats.norm.logpdf(z).sum(axis=1) - q.logpdf(z))  # log p(x|z) + log p(z) − log q(z)
        # 5 standard errors of the sample mean: fails by chance with p ≈ 6e-7.
        se = f.std(ddof=1) / np.sqrt(L)
        assert abs(f.mean() - analytic[n]) < 5 * se, (n, f.mean(), analytic[n], se)


def test_elbo_accepts_shared_and_per_row_covariance(data):
    model = PPCA(2).fit(data)
    X = data[:4]
    m = model.transform(X) + 0.2
    S = np.array([[0.5, 0.1], [0.1, 0.3]])
    np.testing.assert_allclose(model.elbo(X, m, S), model.elbo(X, m, np.broadcast_to(S, (4, 2, 2))), rtol=1e-14)


# --- sampling ------------------------------------------------------------------

def test_sample_has_the_model_moments():
    rng = np.random.default_rng(9)
    W, b, sigma2 = random_model(rng, D=4, K=2, sigma2=0.5)
    n = 40000
    X = PPCA.from_params(W, b, sigma2).sample(n, rng=rng)
    C = full_cov(W, sigma2)
    assert X.shape == (n, 4)
    np.testing.assert_array_less(np.abs(X.mean(axis=0) - b), 5 * np.sqrt(np.diag(C) / n))
    np.testing.assert_array_less(np.abs(np.cov(X.T) - C), 5 * np.diag(C).max() * np.sqrt(2 / n))
    # Same seed, same draws: randomness comes only from the rng passed in.
    model = PPCA.from_params(W, b, sigma2)
    np.testing.assert_array_equal(model.sample(3, rng=11), model.sample(3, rng=11))


# --- files ---------------------------------------------------------------------

def test_save_load_round_trip(tmp_path, data):
    model = PPCA(2).fit(data)
    model.save(tmp_path / "m.npz")
    loaded = PPCA.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.W, model.W)
    np.testing.assert_array_equal(loaded.b, model.b)
    assert loaded.sigma2 == model.sigma2
    np.testing.assert_array_equal(loaded.log_likelihood(data), model.log_likelihood(data))


def write_checkpoint(path, W, b, sigma2, K, D, kind="PPCA"):
    save_checkpoint(path, {"W": W, "b": b, "sigma2": np.array(sigma2)}, kind=kind,
                    config={"n_components": K, "n_features": D})


@pytest.mark.parametrize("W_shape, b_shape, sigma2, K, D, match", [
    ((5, 2), (5,), 1.0, 3, 5, r"W has shape \(5, 2\).*requires \(5, 3\)"),
    ((5, 2), (4,), 1.0, 2, 5, r"b has shape \(4,\).*requires \(5,\)"),
    ((5, 2), (5,), -1.0, 2, 5, "sigma2 must be a finite number > 0"),
    ((5, 2), (5,), 1.0, 2, 2, "n_features must be an integer >= 3"),
])
def test_load_rejects_checkpoint_inconsistent_with_config(tmp_path, W_shape, b_shape, sigma2, K, D, match):
    path = tmp_path / "bad.npz"
    write_checkpoint(path, np.ones(W_shape), np.zeros(b_shape), sigma2, K, D)
    with pytest.raises(ValueError, match=match):
        PPCA.load(path)


def test_load_rejects_other_kinds_and_corrupt_files(tmp_path):
    write_checkpoint(tmp_path / "vae.npz", np.ones((5, 2)), np.zeros(5), 1.0, 2, 5, kind="VAE")
    with pytest.raises(ValueError, match="expected a 'PPCA'"):
        PPCA.load(tmp_path / "vae.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match="not a readable"):
        PPCA.load(tmp_path / "junk.npz")
    with pytest.raises(FileNotFoundError):
        PPCA.load(tmp_path / "missing.npz")


# --- bad input -----------------------------------------------------------------

@pytest.mark.parametrize("k", [0, -1, 2.5, "2", True, None])
def test_n_components_must_be_a_positive_int(data, k):
    with pytest.raises(ValueError, match="n_components must be an integer >= 1"):
        PPCA(k).fit(data)


def test_fit_rejects_bad_data_and_options(data):
    with pytest.raises(ValueError, match="n_components must be < D = 6"):
        PPCA(6).fit(data)
    with pytest.raises(ValueError, match="more rows than n_components = 2"):
        PPCA(2).fit(data[:2])
    with pytest.raises(ValueError, match="no variance outside"):
        PPCA(2).fit(data[:3])    # 3 centred points span only 2 dimensions: σ² = 0
    bad = data.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="X must be finite"):
        PPCA(2).fit(bad)
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="X must be finite"):
        PPCA(2).fit(bad)
    with pytest.raises(ValueError, match="X must be a 2-D array"):
        PPCA(2).fit(data[0])
    with pytest.raises(ValueError, match="method must be one of"):
        PPCA(2).fit(data, method="svd")
    with pytest.raises(ValueError, match="max_iter must be an integer >= 1"):
        PPCA(2).fit(data, method="em", max_iter=0)
    with pytest.raises(ValueError, match="tol must be a finite number >= 0"):
        PPCA(2).fit(data, method="em", tol=-1.0)
    with pytest.raises(ValueError, match=r"init W0 must have shape \(D, K\) = \(6, 2\)"):
        PPCA(2).fit(data, method="em", init=(np.ones((6, 3)), 1.0))
    with pytest.raises(ValueError, match="init sigma2_0 must be a finite number > 0"):
        PPCA(2).fit(data, method="em", init=(np.ones((6, 2)), 0.0))


@pytest.mark.parametrize("call", [
    lambda m, X: m.log_likelihood(X),
    lambda m, X: m.score(X),
    lambda m, X: m.posterior(X),
    lambda m, X: m.transform(X),
    lambda m, X: m.reconstruct(X),
    lambda m, X: m.elbo(X, np.zeros((len(X), 2)), np.eye(2)),
    lambda m, X: m.kl_to_posterior(X, np.zeros((len(X), 2)), np.eye(2)),
])
def test_methods_need_a_fitted_model_and_the_right_width(data, call):
    with pytest.raises(ValueError, match="not fitted yet"):
        call(PPCA(2), data)
    model = PPCA(2).fit(data)
    with pytest.raises(ValueError, match=r"X must have shape \(N, 6\) for this model; got \(300, 5\)"):
        call(model, data[:, :5])


def test_sample_and_save_need_a_fitted_model(tmp_path):
    with pytest.raises(ValueError, match="not fitted yet"):
        PPCA(2).sample(3)
    with pytest.raises(ValueError, match="not fitted yet"):
        PPCA(2).save(tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()


def test_bad_q_and_sample_arguments(data):
    model = PPCA(2).fit(data)
    X = data[:4]
    m = np.zeros((4, 2))
    with pytest.raises(ValueError, match=r"q_mean must have shape \(N, K\) = \(4, 2\)"):
        model.elbo(X, np.zeros((4, 3)), np.eye(2))
    with pytest.raises(ValueError, match=r"q_cov must have shape \(2, 2\).*or \(4, 2, 2\)"):
        model.elbo(X, m, np.eye(3))
    with pytest.raises(ValueError, match="q_cov must be positive definite"):
        model.kl_to_posterior(X, m, np.diag([1.0, -1.0]))
    with pytest.raises(ValueError, match="q_cov must be symmetric"):
        model.elbo(X, m, np.array([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        model.sample(0)


def test_from_params_validates():
    with pytest.raises(ValueError, match="sigma2 must be a finite number > 0"):
        PPCA.from_params(np.ones((4, 2)), np.zeros(4), 0.0)
    with pytest.raises(ValueError, match=r"b must have shape \(4,\)"):
        PPCA.from_params(np.ones((4, 2)), np.zeros(3), 1.0)
    with pytest.raises(ValueError, match=r"W must have shape \(D, K\) with 1 <= K < D"):
        PPCA.from_params(np.ones((2, 2)), np.zeros(2), 1.0)
