"""The VAE's scikit-learn habits: fit returning self, score_samples, transform.

References: ``numvae.train.fit`` run on an identical twin model (the method
must be that loop, not another one), and the exact pPCA log-likelihood and
posterior, which a linear Gaussian VAE reproduces exactly when its decoder is
the pPCA solution and its encoder the exact posterior (Lucas et al. 2019).
"""

import numpy as np
import pytest

from numvae.ppca import PPCA
from numvae.train import fit
from numvae.vae import VAE


def ppca_data(n, seed):
    """n points of x = W z + b + sqrt(0.2) eps in 6 dimensions, K = 2, drawn here with NumPy."""
    rng = np.random.default_rng(seed)
    W, b = np.random.default_rng(0).normal(size=(6, 2)), np.linspace(-1, 1, 6)
    return rng.normal(size=(n, 2)) @ W.T + b + np.sqrt(0.2) * rng.normal(size=(n, 6))


@pytest.fixture(scope="module")
def X():
    return ppca_data(300, seed=1)


def test_fit_is_train_fit_and_returns_self(X):
    settings = dict(epochs=3, batch_size=50, lr=3e-3, kl_warmup_epochs=1, seed=5, progress=False)
    model = VAE(6, hidden=(8,), z_dim=2, decoder="gaussian", seed=1)
    twin = VAE(6, hidden=(8,), z_dim=2, decoder="gaussian", seed=1)
    before = {k: v.copy() for k, v in model.params.items()}
    assert model.fit(X, X[:50], **settings) is model
    history = fit(twin, X, X[:50], **settings)
    for k in model.params:
        assert not np.array_equal(model.params[k], before[k]), k       # it trained
        np.testing.assert_array_equal(model.params[k], twin.params[k], err_msg=k)
    timing = {"seconds", "samples_per_s"}
    for field in set(history.FIELDS) - timing:
        assert model.history_[field] == history[field], field
    assert len(model.history_) == 3


def exact_linear_vae(ppca):
    """A linear Gaussian VAE whose decoder is `ppca` and whose encoder outputs its exact posterior.

    The closed-form W has orthogonal columns, so M = WᵀW + σ²I and the posterior
    covariance σ²M⁻¹ are diagonal, which a diagonal-Gaussian encoder can represent.
    """
    W, b, s2 = ppca.W, ppca.b, ppca.sigma2
    D, K = W.shape
    M = W.T @ W + s2 * np.eye(K)
    assert np.abs(M - np.diag(np.diag(M))).max() < 1e-10 * np.abs(M).max()
    A = W / np.diag(M)                                   # (D, K)  W M⁻¹, M diagonal
    vae = VAE(D, hidden=(), z_dim=K, decoder="gaussian", decoder_var="shared")
    vae.params["enc.0.W"][...] = np.concatenate([A, np.zeros((D, K))], axis=1)     # mu = (x − b) W M⁻¹
    vae.params["enc.0.b"][...] = np.concatenate([-b @ A, np.log(s2 / np.diag(M))])  # logvar = log σ²/M_kk
    vae.params["dec.0.W"][...] = W.T
    vae.params["dec.0.b"][...] = b
    vae.params["dec.logvar"][...] = np.log(s2)
    return vae


def test_score_samples_and_transform_are_exact_at_the_ppca_optimum(X):
    # With q(z|x) = p(z|x) every importance weight p(x, z)/q(z|x) equals p(x): the
    # estimate has zero variance and equals the exact log-likelihood for any k.
    ppca = PPCA(2).fit(X)
    vae = exact_linear_vae(ppca)
    X_test = ppca_data(40, seed=2)
    exact = ppca.score_samples(X_test)
    for k in (1, 7):
        np.testing.assert_allclose(vae.score_samples(X_test, k=k, rng=3), exact, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(vae.transform(X_test), ppca.transform(X_test), rtol=1e-10, atol=1e-12)


def test_score_samples_is_the_importance_sampled_estimate(X):
    # Away from the optimum it is log_likelihood itself: same k, same noise, same numbers.
    vae = VAE(6, hidden=(8,), z_dim=2, decoder="gaussian", seed=2)
    np.testing.assert_array_equal(vae.score_samples(X[:20], k=50, rng=4), vae.log_likelihood(X[:20], k=50, rng=4))
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        vae.score_samples(X[:20], k=0)
    with pytest.raises(ValueError, match=r"x must have shape \(N, 6\)"):
        vae.transform(X[:, :5])
