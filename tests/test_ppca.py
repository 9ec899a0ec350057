"""Tests of numvae.ppca against references built independently of it.

References: scipy's multivariate normal with the full D × D covariance, direct
Gaussian conditioning of the joint N([z; x]) with np.linalg.solve, Monte Carlo
estimates of the ELBO, the true parameters of synthetic data, and (when it is
installed) scikit-learn: its estimator checks, its PCA's probabilistic model
and a GridSearchCV against ``numvae compare``'s own numbers. pPCA data are
generated here with NumPy (x = W z + b + sqrt(sigma2) eps), not by numvae.
"""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from scipy import stats

from numvae.compare import compare, load_dequantized
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
    em = PPCA(K, method="em", max_iter=20000, tol=1e-13, random_state=3).fit(X)
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
    h = PPCA(4, method="em", max_iter=300, tol=0.0, random_state=seed).fit(X).history_
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
        model = PPCA(2, method="em", max_iter=1, tol=0.0, init=(W0, s0)).fit(X)
    W1, s1 = em_step_from_expectations(X, W0, s0)
    np.testing.assert_allclose(model.W, W1, rtol=1e-10, atol=1e-12)
    assert model.sigma2 == pytest.approx(s1, rel=1e-10)


def test_em_warns_when_not_converged(data):
    with pytest.warns(RuntimeWarning, match="did not converge"):
        model = PPCA(2, method="em", max_iter=2, tol=0.0, random_state=0).fit(data)
    assert not model.converged_ and model.n_iter_ == 2


def test_em_verbose_prints_whole_progress_lines_with_the_history(data, capsys):
    model = PPCA(2, method="em", tol=1e-10, random_state=0, verbose=True).fit(data)
    lines = capsys.readouterr().err.splitlines()
    assert lines and all(line.startswith("pPCA EM") for line in lines)   # whole lines: stderr is no terminal
    assert "\r" not in "".join(lines) and "ETA" in lines[0]
    # The closing line reports the iterations and the final value of the history.
    assert f"after {model.n_iter_} iterations" in lines[-1]
    assert f"log-likelihood {model.history_[-1]:.6f}" in lines[-1]
    PPCA(2, method="em", tol=1e-10, random_state=0).fit(data)
    assert capsys.readouterr().err == ""


def test_verbose_must_be_a_bool(data):
    with pytest.raises(ValueError, match="verbose must be True or False; got 'yes'"):
        PPCA(2, method="em", verbose="yes").fit(data)


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
    assert model.n_iter_ == 1 and model.converged_


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

@pytest.mark.parametrize("k", [0, -1, 2.5, "2", True])
def test_n_components_must_be_a_positive_int(data, k):
    with pytest.raises(ValueError, match="n_components must be an integer >= 1, a float in"):
        PPCA(k).fit(data)


def test_fit_rejects_bad_data_and_options(data):
    with pytest.raises(ValueError, match=r"X has 6 feature\(s\) \(shape=\(300, 6\)\) while a minimum of 7"):
        PPCA(6).fit(data)
    with pytest.raises(ValueError, match=r"X has 2 sample\(s\) \(shape=\(2, 6\)\) while a minimum of 3"):
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
        PPCA(2, method="svd").fit(data)
    with pytest.raises(ValueError, match="max_iter must be an integer >= 1"):
        PPCA(2, method="em", max_iter=0).fit(data)
    with pytest.raises(ValueError, match="tol must be a finite number >= 0"):
        PPCA(2, method="em", tol=-1.0).fit(data)
    with pytest.raises(ValueError, match="random_state must be a numpy.random.Generator or a non-negative int"):
        PPCA(2, method="em", random_state=-1).fit(data)
    with pytest.raises(ValueError, match=r"init W0 must have shape \(D, K\) = \(6, 2\)"):
        PPCA(2, method="em", init=(np.ones((6, 3)), 1.0)).fit(data)
    with pytest.raises(ValueError, match="init sigma2_0 must be a finite number > 0"):
        PPCA(2, method="em", init=(np.eye(6, 2), 0.0)).fit(data)


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
    with pytest.raises(ValueError, match="X has 5 features, but PPCA is expecting 6 features as input"):
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


# --- EM from a start it cannot leave, data that overflow (issue: silent results) ---

@pytest.mark.parametrize("W0", [np.zeros((6, 2)), np.outer(np.arange(1.0, 7.0), [1.0, -2.0])])
def test_em_refuses_an_init_without_full_column_rank(data, W0):
    # W = 0 is a fixed point of EM (a saddle of the likelihood): W_new = S W (...)⁻¹ = 0. From it
    # EM would stop after its first step and report converged_ = True at a useless model.
    with pytest.raises(ValueError, match=r"init W0 must have full column rank K = 2; got rank [01]"):
        PPCA(2, method="em", init=(W0, 1.0)).fit(data)


def test_em_step_never_raises_the_rank_of_W(data):
    # Why a rank-deficient start is refused: with the data-form EM step (PRML 12.54-12.57,
    # written independently above), a rank-1 W0 stays rank 1, so EM can never reach the
    # rank-2 maximum-likelihood W.
    W0 = np.outer(np.arange(1.0, 7.0), [1.0, -2.0])
    W1, _ = em_step_from_expectations(data, W0, 1.0)
    assert np.linalg.matrix_rank(W1) == 1
    assert np.linalg.matrix_rank(PPCA(2).fit(data).W) == 2


def test_overflowing_data_say_overflow_not_no_variance(data):
    with pytest.raises(ValueError, match="X overflows float64"):
        PPCA(2).fit(data * 1e200)
    with pytest.raises(ValueError, match="X overflows float64"):
        PPCA(2, method="em").fit(data * 1e200)
    model = PPCA(2).fit(data)
    with pytest.raises(ValueError, match=r"X overflows float64 in log p\(x\)"):
        model.score_samples(data * 1e200)
    # The largest scale that does not overflow still fits, with every quantity scaled
    # as the model says: σ² by c², the log-likelihood shifted by −D log c.
    c = 1e150
    big = PPCA(2).fit(data * c)
    assert big.sigma2 == pytest.approx(model.sigma2 * c ** 2, rel=1e-9)
    np.testing.assert_allclose(big.score_samples(data * c), model.score_samples(data) - 6 * np.log(c),
                               rtol=1e-9)


# --- the scikit-learn estimator protocol, without scikit-learn -------------------

def test_hyper_parameters_live_in_init_and_round_trip():
    model = PPCA()
    assert model.get_params() == {"n_components": None, "method": "closed_form", "max_iter": 1000, "tol": 1e-8,
                                  "random_state": None, "init": None, "verbose": False}
    assert repr(model) == "PPCA()"
    assert model.set_params(n_components=3, method="em", random_state=7) is model
    assert repr(model) == "PPCA(n_components=3, method='em', random_state=7)"
    assert PPCA(**model.get_params()).get_params() == model.get_params()
    assert PPCA(3).n_components == 3                      # K positional still works
    with pytest.raises(ValueError, match="Invalid parameter 'K' for estimator PPCA"):
        model.set_params(K=2)
    # __init__ and set_params only store: even a nonsense value waits for fit to be refused.
    bad = PPCA(n_components="two")
    with pytest.raises(ValueError, match="n_components must be an integer >= 1"):
        bad.fit(np.ones((5, 3)))
    assert not hasattr(bad, "components_")


def test_fitted_attributes_have_scikit_learn_names_and_factor_analysis_scaling(data):
    y = np.arange(len(data))
    model = PPCA(2)
    assert not hasattr(model, "components_") and not hasattr(model, "n_features_in_")
    assert model.fit(data, y) is model                    # y accepted and ignored
    assert model.components_.shape == (2, 6) and model.n_features_in_ == 6
    assert np.shares_memory(model.components_, model.W) and np.array_equal(model.components_, model.W.T)
    assert model.mean_ is model.b and model.noise_variance_ == model.sigma2
    # Loadings scaled as in FactorAnalysis: row k has squared length λ_k − σ² (λ from eigvalsh
    # of the 1/N covariance, independently of the SVD the fit uses), rows mutually orthogonal.
    S = np.cov(data.T, bias=True)
    lam = np.linalg.eigvalsh(S)[::-1]
    assert model.sigma2 == pytest.approx(lam[2:].mean(), rel=1e-12)
    G = model.components_ @ model.components_.T
    np.testing.assert_allclose(np.diag(G), lam[:2] - lam[2:].mean(), rtol=1e-10)
    assert abs(G[0, 1]) < 1e-10 * G[0, 0]
    assert not np.allclose(np.diag(G), 1.0)               # not orthonormal, unlike PCA's
    np.testing.assert_array_equal(model.fit_transform(data), model.transform(data))


def test_inverse_transform_is_the_decoder_mean():
    rng = np.random.default_rng(13)
    W, b, sigma2 = random_model(rng, D=5, K=2)
    model = PPCA.from_params(W, b, sigma2)
    Z = rng.normal(size=(7, 2))
    np.testing.assert_allclose(model.inverse_transform(Z), Z @ W.T + b, rtol=1e-14)
    X = make_data(rng, 7, W, b, sigma2)
    np.testing.assert_array_equal(model.reconstruct(X), model.inverse_transform(model.transform(X)))
    with pytest.raises(ValueError, match="Z has 3 columns, but this PPCA has 2 components"):
        model.inverse_transform(np.zeros((7, 3)))
    with pytest.raises(ValueError, match="not fitted yet"):
        PPCA(2).inverse_transform(Z)


def test_bad_data_in_scikit_learn_words_naming_the_argument(data):
    scipy_sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(ValueError, match="X: Complex data not supported"):
        PPCA(2).fit(data + 1j)
    obj = data.astype(object)
    np.testing.assert_array_equal(PPCA(2).fit(obj).W, PPCA(2).fit(data).W)  # numbers in an object array are fine
    obj[0, 0] = {"a": 1}
    with pytest.raises(TypeError, match="X must hold numbers: .*argument must be a string or a real number"):
        PPCA(2).fit(obj)
    with pytest.raises(ValueError, match="X must be a numeric array; got list"):
        PPCA(1).fit([[1.0, 2.0], [3.0]])
    with pytest.raises(TypeError, match="X is a sparse matrix, but PPCA needs dense data"):
        PPCA(2).fit(scipy_sparse.csr_matrix(data))
    model = PPCA(2).fit(data)
    with pytest.raises(ValueError, match=r"X must be a 2-D array; got shape \(6,\). Reshape your data"):
        model.transform(data[0])
    with pytest.raises(ValueError, match=r"X has 1 sample\(s\) \(shape=\(1, 6\)\) while a minimum of 2"):
        PPCA(1).fit(data[:1])


# --- against scikit-learn (a test-only reference; the `sklearn` fixture is in conftest.py) ---


@pytest.mark.parametrize("params", [{}, {"n_components": 1, "method": "em", "random_state": 0}])
def test_check_estimator_passes(sklearn, params):
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # "does not inherit from BaseEstimator": on purpose, no dependency
        results = check_estimator(PPCA(**params), on_fail=None)
    not_passed = {r["check_name"]: r for r in results if r["status"] != "passed"}
    # The one check that may be skipped needs SCIPY_ARRAY_API=1 set before SciPy is imported
    # (with it, it passes too); nothing is allowed to fail.
    assert set(not_passed) <= {"check_array_api_input"}, {k: repr(r["exception"]) for k, r in not_passed.items()}
    assert all(r["status"] == "skipped" for r in not_passed.values())
    assert len(results) >= 40


def test_clone_gives_an_unfitted_copy_with_the_same_parameters(sklearn, data):
    from sklearn.base import clone

    model = PPCA(3, method="em", tol=1e-10, random_state=4).fit(data)
    copy = clone(model)
    assert copy.get_params() == model.get_params() and not hasattr(copy, "components_")
    np.testing.assert_array_equal(copy.fit(data).W, model.W)   # same seed, same fit


def test_grid_search_on_compares_split_reproduces_compares_ppca_scores(sklearn):
    from sklearn.model_selection import GridSearchCV, PredefinedSplit

    latent = (2, 8, 32, 60)
    # Only compare's pPCA rows are used: its VAEs barely trained, their gaps on one image (63 s -> 1 s).
    result = compare("digits", z_dim=latent, epochs=1, k=1, hidden=(4,), seed=0, gap_n=1, gap_steps=2)
    want = dict(zip(*result.column("test_loglik", "pPCA")))
    X_train, _, X_test, _, _ = load_dequantized("digits", seed=0)
    X = np.vstack([X_train, X_test])
    fold = np.r_[np.full(len(X_train), -1), np.zeros(len(X_test))]   # -1: always train; 0: the test fold
    search = GridSearchCV(PPCA(), {"n_components": list(latent)}, cv=PredefinedSplit(fold), refit=False).fit(X)
    got = dict(zip(search.cv_results_["param_n_components"], search.cv_results_["mean_test_score"]))
    for K in latent:
        assert got[K] == pytest.approx(want[K], abs=1e-9), K
    # Held-out log-likelihood still rises at K = 60, so the winner is the largest K.
    assert np.all(np.diff([want[K] for K in latent]) > 0) and search.best_params_ == {"n_components": 60}


@pytest.mark.parametrize("K", [2, 16])
def test_log_likelihood_matches_scikit_learn_pca_after_rescaling(sklearn, K):
    from sklearn.decomposition import PCA

    X_train, _, X_test, _, _ = load_dequantized("digits", seed=0)
    N = len(X_train)
    ours = PPCA(K).fit(X_train)
    pca = PCA(n_components=K, svd_solver="full").fit(X_train)
    # PCA's probabilistic model uses the N − 1 covariance: every variance is ours times N / (N − 1).
    c = N / (N - 1)
    assert pca.noise_variance_ == pytest.approx(ours.noise_variance_ * c, rel=1e-10)
    rescaled = PPCA.from_params(ours.W * np.sqrt(c), ours.b, ours.sigma2 * c)
    np.testing.assert_allclose(rescaled.score_samples(X_test), pca.score_samples(X_test), rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(ours.components_.T @ ours.components_ + ours.sigma2 * np.eye(64),
                               pca.get_covariance() / c, rtol=1e-9, atol=1e-12)
