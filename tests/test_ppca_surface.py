"""pPCA's scikit-learn PCA surface: the spectrum attributes, covariance, precision and n_components choices.

References: scikit-learn's ``PCA`` (test-only; skipped when absent), and the
identity ``get_precision() @ get_covariance() = I`` checked on random data.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numvae.ppca import PPCA, minka_log_evidence


def low_rank_data(seed, N=200, D=8, K=3, sigma2=0.1, scale=3.0):
    """N points of x = W z + b + sqrt(sigma2) eps, W (D, K) with entries N(0, scale²)."""
    rng = np.random.default_rng(seed)
    W = rng.normal(0, scale, size=(D, K))
    return rng.normal(size=(N, K)) @ W.T + rng.normal(size=D) + np.sqrt(sigma2) * rng.normal(size=(N, D))


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


# --- n_components: an int, a fraction, 'mle' or None -------------------------------

DATA_SETS = {   # name: (N, D, true K, noise variance, loading scale)
    "rank 2 of 10": (300, 10, 2, 0.1, 3.0),
    "rank 5 of 12": (500, 12, 5, 0.2, 2.0),
    "rank 3 of 8, weak": (100, 8, 3, 1.0, 0.8),
    "rank 1 of 6": (60, 6, 1, 0.5, 2.0),
    "isotropic": (200, 7, 0, 1.0, 0.0),
}


def data_set(name, seed=0):
    N, D, K, sigma2, scale = DATA_SETS[name]
    return low_rank_data(seed, N=N, D=D, K=max(K, 1), sigma2=sigma2, scale=scale)


@pytest.mark.parametrize("name", list(DATA_SETS))
@pytest.mark.parametrize("fraction", [0.3, 0.5, 0.8, 0.95, 0.99])
def test_a_fraction_keeps_the_components_pca_keeps(sklearn, name, fraction):
    from sklearn.decomposition import PCA

    X = data_set(name)
    K = PCA(n_components=fraction, svd_solver="full").fit(X).n_components_
    if K >= min(X.shape):   # all components: σ² would be 0
        with pytest.raises(ValueError, match=f"n_components={fraction} needs {K} components"):
            PPCA(fraction).fit(X)
        return
    ours = PPCA(fraction).fit(X)
    assert ours.n_components_ == K
    # The definition, from the full spectrum: the smallest K whose cumulative ratio exceeds the fraction.
    ratio = np.cumsum(PPCA(X.shape[1] - 1).fit(X).explained_variance_ratio_)
    assert ratio[K - 1] > fraction and (K == 1 or ratio[K - 2] <= fraction)
    assert ours.W.shape == (X.shape[1], K) and ours.explained_variance_.shape == (K,)


@pytest.mark.filterwarnings("ignore:EM did not converge")   # K is chosen from the data, before EM
@pytest.mark.parametrize("method", ["closed_form", "em"])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", list(DATA_SETS))
def test_mle_picks_the_dimension_pca_picks(sklearn, name, seed, method):
    from sklearn.decomposition import PCA

    X = data_set(name, seed)
    N, D, true_K, _, _ = DATA_SETS[name]
    ours = PPCA("mle", method=method, max_iter=5, random_state=0).fit(X)
    assert ours.n_components_ == PCA(n_components="mle", svd_solver="full").fit(X).n_components_
    if name != "isotropic" and name != "rank 3 of 8, weak":
        assert ours.n_components_ == true_K               # a clear low-rank structure is found


def test_minka_log_evidence_equals_scikit_learns_for_every_k(sklearn):
    _pca = pytest.importorskip("sklearn.decomposition._pca", reason="scikit-learn's private module moved")
    for name in DATA_SETS:
        X = data_set(name)
        N, D = X.shape
        lam = np.linalg.eigvalsh(np.cov(X.T))[::-1]       # independent of the fit's SVD
        for K in range(1, D):
            assert minka_log_evidence(lam, K, N) == pytest.approx(_pca._assess_dimension(lam, K, N), rel=1e-10)


def test_mle_on_digits_matches_pca(sklearn):
    from sklearn.decomposition import PCA

    from numvae.compare import load_dequantized

    X = load_dequantized("digits", seed=0)[0]
    K = PPCA("mle").fit(X).n_components_
    assert K == PCA(n_components="mle", svd_solver="full").fit(X).n_components_
    assert 1 < K < X.shape[1] - 1


@pytest.mark.parametrize("N, D", [(50, 6), (6, 6), (5, 9), (3, 2)])
def test_none_keeps_the_most_components_ppca_can(N, D):
    X = np.random.default_rng(4).normal(size=(N, D))
    model = PPCA().fit(X)
    assert model.n_components_ == min(N - 1, D) - 1 and model.sigma2 > 0
    with pytest.raises(ValueError, match="no variance outside|feature"):   # one more: σ² = 0, or K = D
        PPCA(min(N - 1, D)).fit(X)


@pytest.mark.parametrize("value", [0, -2, 1.5, 0.0, 1.0, -0.5, "foo", "MLE", True, np.bool_(False), [2], np.nan])
def test_bad_n_components_are_refused_by_name(value):
    X = np.random.default_rng(5).normal(size=(20, 5))
    with pytest.raises(ValueError, match=r"n_components must be an integer >= 1, a float in \(0, 1\), 'mle' or "
                                         r"None; got"):
        PPCA(value).fit(X)


def test_n_components_too_large_for_the_data_are_refused_by_name():
    X = np.random.default_rng(6).normal(size=(20, 5))
    for K in (5, 6):
        with pytest.raises(ValueError, match=f"X has 5 feature.*n_components = {K}"):
            PPCA(K).fit(X)
    with pytest.raises(ValueError, match="X has 4 sample.*n_components = 4"):
        PPCA(4).fit(X[:4])
    with pytest.raises(ValueError, match="n_components=0.9999999 needs 5 components"):
        PPCA(0.9999999).fit(X)
    with pytest.raises(ValueError, match="n_components='mle' is only supported if n_samples >= n_features"):
        PPCA("mle").fit(X[:4])
    with pytest.raises(ValueError, match=r"n_components=None keeps .* = 0 components"):
        PPCA().fit(X[:2])
    assert PPCA(np.int64(2)).fit(X).n_components_ == 2 and PPCA(np.float64(0.5)).fit(X).n_components_ >= 1


def test_save_and_load_keep_n_components_and_old_files_still_load(tmp_path):
    from numvae.io import save_checkpoint

    X = data_set("rank 2 of 10")
    model = PPCA("mle").fit(X)
    model.save(tmp_path / "m.npz")
    loaded = PPCA.load(tmp_path / "m.npz")
    assert loaded.n_components == "mle" and loaded.n_components_ == model.n_components_ == 2
    np.testing.assert_array_equal(loaded.get_covariance(), model.get_covariance())
    # A file of the earlier format: config n_components (the int K) and n_features only.
    save_checkpoint(tmp_path / "old.npz", {"W": model.W, "b": model.b, "sigma2": np.array(model.sigma2)},
                    kind="PPCA", config={"n_components": 2, "n_features": 10})
    old = PPCA.load(tmp_path / "old.npz")
    assert old.n_components == old.n_components_ == 2
    np.testing.assert_array_equal(old.W, model.W)
    save_checkpoint(tmp_path / "bad.npz", {"W": model.W, "b": model.b, "sigma2": np.array(model.sigma2)},
                    kind="PPCA", config={"n_components": "foo", "n_components_": 2, "n_features": 10})
    with pytest.raises(ValueError, match="bad.npz: config n_components must be an integer >= 1, a float"):
        PPCA.load(tmp_path / "bad.npz")


def test_mle_on_rank_deficient_data_keeps_sigma2_positive_where_pca_does_not(sklearn):
    from sklearn.decomposition import PCA

    from numvae.data import load_digits

    X = load_digits()[0]                                  # constant pixels: the centred data have rank 61
    rank = np.linalg.matrix_rank(X - X.mean(0))
    assert rank == 61
    # PCA clamps the mean of the discarded eigenvalues at 1e-15 and picks the rank itself, where
    # pPCA's σ² is 0 and its likelihood unbounded; Minka's evidence is -inf there, so we stop one below.
    assert PCA(n_components="mle", svd_solver="full").fit(X).n_components_ == rank
    assert PPCA("mle").fit(X).n_components_ == rank - 1
    with pytest.raises(ValueError, match="no variance outside"):
        PPCA(rank).fit(X)
