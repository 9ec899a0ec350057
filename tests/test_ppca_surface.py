"""pPCA's scikit-learn PCA surface: the spectrum attributes, covariance, precision and n_components choices.

References: scikit-learn's ``PCA`` (test-only; skipped when absent), and the
identity ``get_precision() @ get_covariance() = I`` checked on random data.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numvae.ppca import PPCA


def low_rank_data(seed, N=200, D=8, K=3, sigma2=0.1, scale=3.0):
    """N points of x = W z + b + sqrt(sigma2) eps, W (D, K) with entries N(0, scale²)."""
    rng = np.random.default_rng(seed)
    W = rng.normal(0, scale, size=(D, K))
    return rng.normal(size=(N, K)) @ W.T + rng.normal(size=D) + np.sqrt(sigma2) * rng.normal(size=(N, D))


@pytest.fixture(scope="module")
def sklearn():
    return pytest.importorskip("sklearn", reason="scikit-learn, a test-only reference, is not installed")


@pytest.mark.filterwarnings("ignore:EM did not converge")   # the spectrum is of the data, not of W
@pytest.mark.parametrize("method", ["closed_form", "em"])
@pytest.mark.parametrize("N, D, K", [(200, 8, 3), (30, 12, 5), (9, 20, 4)])
def test_spectrum_attributes_equal_scikit_learn_pca(sklearn, method, N, D, K):
    from sklearn.decomposition import PCA

    X = low_rank_data(1, N=N, D=D)
    ours = PPCA(K, method=method, max_iter=3, random_state=0).fit(X)
    pca = PCA(n_components=K, svd_solver="full").fit(X)
    assert ours.n_components_ == pca.n_components_ == K
    np.testing.assert_allclose(ours.explained_variance_, pca.explained_variance_, rtol=1e-10)
    np.testing.assert_allclose(ours.explained_variance_ratio_, pca.explained_variance_ratio_, rtol=1e-10)
    np.testing.assert_allclose(ours.singular_values_, pca.singular_values_, rtol=1e-10)


@pytest.mark.parametrize("N, D, K", [(200, 8, 3), (30, 12, 5), (12, 12, 4), (9, 20, 4)])
def test_covariance_is_pca_s_times_n_minus_1_over_n(sklearn, N, D, K):
    from sklearn.decomposition import PCA

    X = low_rank_data(2, N=N, D=D)
    ours = PPCA(K).fit(X)
    pca = PCA(n_components=K, svd_solver="full").fit(X)
    c = (N - 1) / N          # PCA's covariances are of the N − 1 sample covariance, ours of the 1/N one
    # PCA averages the min(N, D) − K trailing eigenvalues it has; the ML σ² spreads their sum over D − K.
    assert ours.sigma2 == pytest.approx(pca.noise_variance_ * c * (min(N, D) - K) / (D - K), rel=1e-10)
    if N < D:
        return               # then PCA's noise variance is not the ML one, nor its covariance
    C = ours.get_covariance()
    np.testing.assert_allclose(C, pca.get_covariance() * c, rtol=1e-9, atol=1e-12 * np.abs(C).max())
    P = ours.get_precision()
    np.testing.assert_allclose(P, pca.get_precision() / c, rtol=1e-8, atol=1e-10 * np.abs(P).max())


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), N=st.integers(3, 40), D=st.integers(2, 12), data=st.data())
def test_precision_is_the_inverse_of_the_covariance(seed, N, D, data):
    K = data.draw(st.integers(1, min(N - 1, D) - 1), label="K")   # σ² > 0 needs K < rank of centred X
    X = np.random.default_rng(seed).normal(size=(N, D)) * np.linspace(0.5, 3, D)
    model = PPCA(K).fit(X)
    C, P = model.get_covariance(), model.get_precision()
    np.testing.assert_allclose(P @ C, np.eye(D), atol=1e-9 * np.linalg.cond(C))
    # C is the model's covariance: it is the W Wᵀ + σ² I whose density log_likelihood evaluates.
    np.testing.assert_allclose(C, model.W @ model.W.T + model.sigma2 * np.eye(D), rtol=1e-14)


def test_covariance_and_precision_need_a_fitted_model_and_work_from_params():
    with pytest.raises(ValueError, match="not fitted yet"):
        PPCA(2).get_covariance()
    with pytest.raises(ValueError, match="not fitted yet"):
        PPCA(2).get_precision()
    rng = np.random.default_rng(3)
    W = rng.normal(size=(5, 2))
    model = PPCA.from_params(W, np.zeros(5), 0.4)
    np.testing.assert_allclose(model.get_covariance(), W @ W.T + 0.4 * np.eye(5), rtol=1e-14)
    np.testing.assert_allclose(model.get_precision(), np.linalg.inv(W @ W.T + 0.4 * np.eye(5)), rtol=1e-10)
    assert model.n_components_ == 2 and not hasattr(model, "explained_variance_")
