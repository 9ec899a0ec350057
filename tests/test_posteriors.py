"""The posterior families, above all the full-covariance Gaussian: gradients, the forward against the math, files.

Every gradient check is float64 at every entry; every Monte Carlo comparison
states its tolerance in standard errors (SE) from the same samples.
"""

import numpy as np
import pytest
from hypothesis import given
from scipy import stats

from numvae.cli import main
from numvae.data import load_digits
from numvae.distributions import kl_gaussians
from numvae.gradcheck import VAE_EPS, gradcheck, vae_case, vae_reports
from numvae.posteriors import DiagonalGaussian, FullGaussian
from numvae.ppca import PPCA
from numvae.train import fit
from numvae.vae import VAE
from strategies import gaussian_pairs


def random_full_output(K, n, seed, scale=0.6):
    """An encoder output (n, K + K(K+1)/2) with a strongly correlated Cholesky factor."""
    return np.random.default_rng(seed).normal(0.0, scale, size=(n, K + K * (K + 1) // 2))


# --- the gradient, every entry, every decoder ---------------------------------

FULL_CASES = [  # decoder, decoder_var, hidden, activation, n_samples, beta
    ("bernoulli", "pixel", (5,), "tanh", 1, 0.7),
    ("bernoulli", "pixel", (5,), "relu", 3, 1.0),
    ("continuous_bernoulli", "pixel", (4, 5), "softplus", 2, 0.3),
    ("gaussian", "pixel", (5,), "tanh", 3, 0.7),
    ("gaussian", "shared", (), "tanh", 1, 1.0),
    ("gaussian", "fixed", (5,), "tanh", 2, 2.0),
]


@pytest.mark.parametrize("decoder,var,hidden,act,L,beta", FULL_CASES)
def test_full_posterior_loss_gradient_every_parameter(decoder, var, hidden, act, L, beta):
    model, fun, info = vae_case(decoder, var, hidden, act, n_samples=L, beta=beta, seed=4, posterior="full")
    assert model.posterior.n_outputs == 3 + 6 and info["free_bits"] == 0.0
    report = gradcheck(fun, model.params, eps=VAE_EPS, tol=1e-6)
    assert [r.name for r in report.rows] == list(model.params)
    assert report.max_rel_err <= 1e-6, str(report)


def test_gradcheck_catches_a_wrong_full_covariance_backward(monkeypatch):
    # Dropping the -log L_jj term's gradient (the KL's −½ on λ_j) must fail.
    model, fun, _ = vae_case("gaussian", "pixel", n_samples=2, seed=1, posterior="full")
    right = FullGaussian.kl_backward

    def wrong(self, params, kl_weight):
        dh = right(self, params, kl_weight)
        dh[:, self.z_dim:2 * self.z_dim] += 0.5 * kl_weight
        return dh

    monkeypatch.setattr(FullGaussian, "kl_backward", wrong)
    assert not gradcheck(fun, model.params, eps=VAE_EPS).passed


def test_numvae_gradcheck_covers_the_full_posterior_with_every_decoder():
    reports = vae_reports(seed=2)
    full = [t for t, _ in reports if "full posterior" in t]
    from numvae.likelihoods import LIKELIHOODS

    for decoder in LIKELIHOODS:
        assert any(f"{decoder} decoder" in t for t in full), full
    for title, report in reports:
        assert report.passed, f"{title}\n{report}"


# --- the forward against the math ------------------------------------------------

def test_full_cholesky_is_lower_triangular_with_positive_diagonal_and_round_trips():
    post = FullGaussian(4)
    h = random_full_output(4, 5, seed=0, scale=2.0)
    mu, L = post.split(h)
    assert L.shape == (5, 4, 4)
    np.testing.assert_array_equal(np.triu(L, 1), 0.0)
    assert np.all(np.diagonal(L, axis1=1, axis2=2) > 0)
    np.testing.assert_allclose(post.outputs(mu, post.covariance((mu, L))), h, rtol=1e-10, atol=1e-12)


def test_full_kl_matches_kl_gaussians_and_reduces_to_the_diagonal():
    post = FullGaussian(3)
    mu, L = post.split(random_full_output(3, 6, seed=1))
    cov = L @ np.swapaxes(L, 1, 2)
    kl, kl_marginal = post.kl_terms((mu, L))
    np.testing.assert_allclose(kl, kl_gaussians(mu, cov, np.zeros(3), np.eye(3)), rtol=1e-12)
    # Marginal KLs, each from kl_gaussians in one dimension; their sum is at most the KL.
    for j in range(3):
        ref = kl_gaussians(mu[:, j:j + 1], cov[:, j:j + 1, j:j + 1], np.zeros(1), np.eye(1))
        np.testing.assert_allclose(kl_marginal[:, j], ref, rtol=1e-12)
    assert np.all(kl_marginal.sum(1) <= kl + 1e-12)
    # A diagonal L: the same numbers as the diagonal family with logvar = 2 log L_jj.
    logvar = np.random.default_rng(2).normal(size=(6, 3))
    Ld = np.exp(0.5 * logvar)[..., None] * np.eye(3)
    np.testing.assert_allclose(post.kl_terms((mu, Ld))[0], DiagonalGaussian(3).kl_terms((mu, logvar))[0],
                               rtol=1e-12)


@given(gaussian_pairs())
def test_full_family_holds_any_gaussian_and_its_kl_and_density_are_exact(pair):
    # Every SPD covariance has a Cholesky factor: outputs -> split reproduces N(mu, cov) exactly,
    # and the KL to N(0, I) and the log-density are those of that Gaussian.
    mu, cov, z, _ = pair                                                         # the second mean is a point z
    d = len(mu)
    post = FullGaussian(d)
    m, L = post.split(post.outputs(mu[None], cov[None]))
    np.testing.assert_allclose(L[0] @ L[0].T, cov, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(post.kl_terms((m, L))[0], kl_gaussians(mu, cov, np.zeros(d), np.eye(d)), rtol=1e-9)
    np.testing.assert_allclose(post.log_q(z[None, None], (m, L))[0, 0],
                               stats.multivariate_normal(mu, cov).logpdf(z), rtol=1e-10)


def test_full_log_q_matches_scipy_multivariate_normal():
    post = FullGaussian(3)
    mu, L = post.split(random_full_output(3, 4, seed=3))
    z = np.random.default_rng(4).normal(size=(5, 4, 3)) * 2.0                       # (S, N, K), not from q
    got = post.log_q(z, (mu, L))
    for n in range(4):
        ref = stats.multivariate_normal(mu[n], L[n] @ L[n].T).logpdf(z[:, n])
        np.testing.assert_allclose(got[:, n], ref, rtol=1e-12)


def test_full_samples_have_the_covariance_and_the_kl_is_the_monte_carlo_mean():
    post = FullGaussian(3)
    mu, L = post.split(random_full_output(3, 2, seed=5))
    S = 200_000
    eps = np.random.default_rng(6).standard_normal((S, 2, 3))
    z, _ = post.sample((mu, L), eps)                                                # (S, N, K)
    cov = L @ np.swapaxes(L, 1, 2)
    for n in range(2):
        # Sample mean within 5 SE; each sample covariance entry within 5 SE of (z_i z_j) products.
        se_mean = np.sqrt(np.diag(cov[n]) / S)
        assert np.all(np.abs(z[:, n].mean(0) - mu[n]) < 5 * se_mean)
        d = z[:, n] - mu[n]
        prods = d[:, :, None] * d[:, None, :]                                       # (S, K, K)
        se_cov = prods.std(0, ddof=1) / np.sqrt(S)
        assert np.all(np.abs(prods.mean(0) - cov[n]) < 5 * se_cov)
        # The mixup z = mu + Lᵀ eps has covariance LᵀL: far outside.
        assert np.max(np.abs(L[n].T @ L[n] - cov[n]) / se_cov) > 50
    # KL = E_q[log q(z) - log N(z; 0, I)], within 5 SE.
    diff = post.log_q(z, (mu, L)) - stats.norm.logpdf(z).sum(-1)                    # (S, N)
    kl, _ = post.kl_terms((mu, L))
    se = diff.std(0, ddof=1) / np.sqrt(S)
    assert np.all(np.abs(diff.mean(0) - kl) < 5 * se)


def _linear_full_vae(seed=0, n=40):
    """A linear Gaussian VAE whose full-covariance encoder outputs pPCA's exact posterior."""
    D, K = 5, 3
    rng = np.random.default_rng(seed)
    W, b, sigma2 = rng.normal(size=(D, K)), rng.normal(size=D), 0.4
    ppca = PPCA.from_params(W, b, sigma2)
    m = VAE(D, hidden=(), z_dim=K, decoder="gaussian", decoder_var="shared", posterior="full", seed=seed)
    m.params["dec.0.W"][...] = W.T
    m.params["dec.0.b"][...] = b
    m.params["dec.logvar"][...] = np.log(sigma2)
    # Exact posterior mean M⁻¹Wᵀ(x − b), affine in x; covariance σ²M⁻¹, constant.
    M = W.T @ W + sigma2 * np.eye(K)
    A = np.linalg.solve(M, W.T)                                                     # (K, D)
    post_cov = sigma2 * np.linalg.inv(M)
    m.params["enc.0.W"][...] = 0.0
    m.params["enc.0.W"][:, :K] = A.T
    m.params["enc.0.b"][...] = m.posterior.outputs(-(A @ b)[None], post_cov[None])[0]
    x = rng.multivariate_normal(b, W @ W.T + sigma2 * np.eye(D), size=n)
    return m, ppca, x, post_cov


def test_full_posterior_at_the_exact_posterior_elbo_and_log_likelihood_are_exact():
    m, ppca, x, post_cov = _linear_full_vae()
    mu, L = m.encode(x)
    mean, cov = ppca.posterior(x)
    np.testing.assert_allclose(mu, mean, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(L @ np.swapaxes(L, 1, 2), np.broadcast_to(cov, L.shape), rtol=1e-10)
    exact = ppca.log_likelihood(x)
    # Importance weights p(x, z)/q(z|x) are all p(x) when q is the posterior: exact for any k.
    np.testing.assert_allclose(m.log_likelihood(x, k=3, rng=0), exact, rtol=1e-10)
    # The Monte Carlo ELBO's expectation is PPCA.elbo's closed form (= log p(x) here), within 5 SE.
    S = 4000
    eps = np.random.default_rng(1).standard_normal((S, len(x), 3))
    elbo, rec, kl = m.elbo(x, n_samples=S, eps=eps)
    z, _ = m.posterior.sample((mu, L), eps)
    per_sample = stats.norm.logpdf(x, z @ ppca.W.T + ppca.b, np.sqrt(ppca.sigma2)).sum(-1)
    se = per_sample.std(0, ddof=1) / np.sqrt(S)
    closed = ppca.elbo(x, mu, L @ np.swapaxes(L, 1, 2))
    np.testing.assert_allclose(closed, exact, rtol=1e-10)
    assert np.all(np.abs(elbo - closed) < 5 * se)


def test_full_posterior_refuses_free_bits():
    m = VAE(6, hidden=(4,), z_dim=2, posterior="full")
    x = np.random.default_rng(0).uniform(size=(3, 6))
    with pytest.raises(ValueError, match="free_bits must be 0 with posterior='full'.*got free_bits=0.1"):
        m.loss_and_grads(x, free_bits=0.1)
    m.loss_and_grads(x, free_bits=0.0)
    with pytest.raises(ValueError, match="posterior must be one of"):
        VAE(6, posterior="flow")


# --- files, training, the command line -----------------------------------------

def test_full_posterior_save_load_round_trip(tmp_path):
    m = VAE(6, hidden=(5,), z_dim=3, decoder="gaussian", posterior="full", seed=3)
    m.params["enc.1.b"] += 0.3
    m.save(tmp_path / "full.npz")
    m2 = VAE.load(tmp_path / "full.npz")
    assert m2.config["posterior"] == "full" and m2.posterior.n_outputs == 9
    x, eps = np.random.default_rng(0).normal(size=(4, 6)), np.random.default_rng(1).normal(size=(4, 3))
    np.testing.assert_array_equal(m2.elbo(x, eps=eps)[0], m.elbo(x, eps=eps)[0])


def test_fit_trains_a_full_posterior_vae():
    X, _ = load_digits()
    X_tr, X_va = X[:800], X[800:1000]
    m = VAE(64, hidden=(32,), z_dim=3, posterior="full", seed=0)
    before = m.elbo(X_va, rng=0)[0].mean()
    history = fit(m, X_tr, X_va, epochs=3, batch_size=50, progress=False)
    assert history.last["valid_elbo"] > before + 5                      # nats: training helped
    assert m.last_terms["kl_per_dim"].shape == (3,)


def test_cli_train_with_full_posterior(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--posterior", "full", "--epochs", "1", "--hidden", "16", "--latent", "2",
                 "--quiet", "--out", str(out)]) == 0
    m = VAE.load(out / "model.npz")
    assert m.config["posterior"] == "full"
    assert main(["train", "--posterior", "full", "--free-bits", "0.5", "--epochs", "1", "--hidden", "16",
                 "--quiet", "--out", str(tmp_path / "fb")]) == 2
    assert "--free-bits must be 0 with --posterior full" in capsys.readouterr().err

