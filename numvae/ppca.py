r"""Probabilistic PCA: the latent variable model where everything is exact.

The generative model (lecture 002_b4c24ccd2e75c8da.txt, *Probabilistic
Principal Component Analysis*; Tipping & Bishop 1999; Bishop PRML §12.2) is

.. math:: z \sim \mathcal N(0, I_K), \qquad x = Wz + b + \epsilon, \qquad
          \epsilon \sim \mathcal N(0, \sigma^2 I_D),

so the marginal is :math:`p(x) = \mathcal N(x; b, C)` with :math:`C = WW^\top + \sigma^2 I`
and the posterior :math:`p(z|x)` is Gaussian in closed form. That makes pPCA the
honest baseline for a VAE: its log-likelihood is computed, not estimated, and
for *any* Gaussian :math:`q(z|x)` the identity
:math:`\log p(x) = \mathrm{ELBO}(q) + KL(q\,\|\,p(z|x))` of lectures 000 and 002
can be checked to rounding error.

Everything goes through the small matrix :math:`M = W^\top W + \sigma^2 I_K`
(K × K): the D × D covariance :math:`C` is never formed or inverted.

This module holds one class, :class:`PPCA`, fitted by the closed-form maximum
likelihood solution or by EM. It follows scikit-learn's estimator conventions
(hyper-parameters in ``__init__``, ``fit(X, y=None)`` returning ``self``,
fitted attributes ending in ``_``, ``get_params``/``set_params``, from
``numvae.base.Estimator``) without importing scikit-learn, so it can sit in a ``Pipeline`` or a ``GridSearchCV``.
"""

import numbers
import warnings

import numpy as np
from scipy.special import gammaln

from numvae.base import Estimator, as_data
from numvae.checks import as_generator, check_array, check_choice, check_int, check_positive
from numvae.distributions import LOG_2PI, kl_gaussians
from numvae.io import load_checkpoint, save_checkpoint
from numvae.progress import Progress

METHODS = ("closed_form", "em")


def _check_n_components(value):
    """`value` if it is an int >= 1, a float in (0, 1), ``"mle"`` or None; else ``ValueError`` naming n_components."""
    if value is None or (isinstance(value, str) and value == "mle"):
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        pass
    elif isinstance(value, numbers.Integral):
        if value >= 1:
            return int(value)
    elif 0 < value < 1:
        return float(value)
    raise ValueError(f"n_components must be an integer >= 1, a float in (0, 1), 'mle' or None; got {value!r}")


def minka_log_evidence(lam, K, N):
    r"""Minka's Laplace approximation to :math:`\log p(X\,|\,K)` for PCA with K components.

    Parameters
    ----------
    lam : ndarray of shape (D,)
        All D eigenvalues of the sample covariance, in decreasing order.
    K : int, 1 <= K < D
    N : int
        Number of datapoints.

    Returns
    -------
    float
        The log-evidence; ``-inf`` when :math:`\lambda_K` or the mean of the
        discarded eigenvalues vanishes (the K-dimensional fit is degenerate).

    Notes
    -----
    Minka 2000, *Automatic choice of dimensionality for PCA*, the Laplace
    approximation of §3 (eq. 30 in the report):

    .. math:: p(X|K) \approx p(U)\Bigl(\prod_{j=1}^K\lambda_j\Bigr)^{-N/2}\hat\sigma^{-N(D-K)}
              (2\pi)^{(m+K)/2}\,|A_Z|^{-1/2}\,N^{-K/2},

    with :math:`\hat\sigma^2 = \frac1{D-K}\sum_{j>K}\lambda_j`,
    :math:`m = DK - K(K+1)/2` (the dimension of the Stiefel manifold of U),
    :math:`p(U) = 2^{-K}\prod_{i=1}^K\Gamma(\frac{D-i+1}2)\,\pi^{-(D-i+1)/2}`
    (the inverse volume of that manifold) and

    .. math:: |A_Z| = \prod_{i=1}^K\prod_{j=i+1}^D N\,(\hat\lambda_j^{-1}-\hat\lambda_i^{-1})(\lambda_i-\lambda_j),
              \qquad \hat\lambda_j = \lambda_j\ (j \le K),\ \hat\sigma^2\ (j > K).

    Scaling every λ by c shifts the result by :math:`-\frac{ND}2\log c` for
    every K, so the 1/N or 1/(N − 1) covariance choose the same K.
    """
    D = len(lam)
    sigma2 = lam[K:].sum() / (D - K)
    if not (lam[K - 1] > 1e-15 * lam[0] and sigma2 > 1e-12 * lam.mean()):
        return -np.inf                                       # σ̂² = 0 is refused by pPCA anyway
    i = np.arange(1, K + 1)
    log_pU = -K * np.log(2) + np.sum(gammaln((D - i + 1) / 2) - (D - i + 1) / 2 * np.log(np.pi))
    m = D * K - K * (K + 1) / 2
    lam_hat = np.r_[lam[:K], np.full(D - K, sigma2)]         # (D,)
    rows, cols = np.triu_indices(D, 1)
    keep = rows < K                                          # pairs i <= K < ... , j > i
    rows, cols = rows[keep], cols[keep]
    with np.errstate(divide="ignore"):                       # a tie λ_i = λ_j makes |A_Z| = 0: evidence +inf
        log_AZ = np.sum(np.log(N * (1 / lam_hat[cols] - 1 / lam_hat[rows]) * (lam[rows] - lam[cols])))
    return (log_pU - N / 2 * np.sum(np.log(lam[:K])) - N * (D - K) / 2 * np.log(sigma2)
            + (m + K) / 2 * np.log(2 * np.pi) - log_AZ / 2 - K / 2 * np.log(N))


class PPCA(Estimator):
    r"""Probabilistic principal component analysis with K latent dimensions.

    Parameters
    ----------
    n_components : int, float, "mle" or None
        How to choose the latent dimension K (scikit-learn's name; the lectures'
        K), resolved by :meth:`fit` into ``n_components_``, as ``PCA`` with
        ``svd_solver="full"`` does:

        * an int K, with 1 <= K < min(N, D): with K = D the noise variance has
          nothing to be estimated from;
        * a float in (0, 1): the smallest K whose cumulative
          ``explained_variance_ratio_`` exceeds it;
        * ``"mle"``: the K in 1 .. D − 1 of largest Laplace-approximated
          evidence (Minka 2000; :func:`minka_log_evidence`), for N >= D.
          On data of rank r < D, ``PCA`` may pick K = r (it clamps the
          discarded variance at 1e-15); there σ² = 0, so here the evidence
          is −∞ and the choice is at most r − 1;
        * None (the default): K = min(N − 1, D) − 1, the most components pPCA
          can keep. ``PCA``'s None keeps min(N, D); pPCA cannot, since the
          centred data have rank at most min(N − 1, D) and keeping all of it
          leaves σ² = 0, an unbounded likelihood. Like ``PCA``'s None it is
          the "keep everything" default of a decomposition; it fails only
          on data of lower rank (e.g. constant columns), with an error
          saying so.
    method : {"closed_form", "em"}
        The closed-form eigen-solution, or EM from `init` or a random start.
    max_iter : int, >= 1
        EM only: maximum number of iterations.
    tol : float, >= 0
        EM only: stop when one iteration raises the mean log-likelihood per
        datapoint by less than `tol` nats.
    random_state : int, numpy.random.Generator or None
        EM only: seeds the random initial W (scikit-learn's name for numvae's
        ``seed``/``rng``). None means seed 0, so that a fit is reproducible:
        unlike scikit-learn, numvae never draws from a global random state.
    init : tuple (W0, sigma2_0) or None
        EM only: the starting point, W0 of shape (D, K) with full column rank
        and sigma2_0 > 0. None: W0 random and σ² at half the average variance.
    verbose : bool
        EM only: print progress to standard error (iteration, log-likelihood,
        last improvement, and an ETA bounded by `max_iter`), whole lines when
        standard error is not a terminal (:class:`numvae.progress.Progress`).

    Attributes
    ----------
    components_ : ndarray of shape (K, D)
        :math:`W^\top`, the loadings scaled as in scikit-learn's
        ``FactorAnalysis``: row k is the k-th column of W, of squared length
        :math:`\lambda_k - \sigma^2` at the ML solution. They are *not*
        orthonormal as ``PCA.components_`` are; the model covariance is
        ``components_.T @ components_ + noise_variance_ * I``.
    mean_ : ndarray of shape (D,)
        b, the mean of x (the data mean at the ML solution).
    noise_variance_ : float
        σ² > 0, the isotropic noise variance.
    W, b, sigma2 :
        The lectures' names for the same arrays: ``W`` is ``components_.T``
        (a view, shape (D, K)), ``b`` is ``mean_``, ``sigma2`` is
        ``noise_variance_``. W is defined only up to a rotation W R, R orthogonal.
    n_components_ : int
        K, the number of components `n_components` resolved to in :meth:`fit`.
    explained_variance_ : ndarray of shape (K,)
        The K largest eigenvalues of the N − 1 sample covariance, as
        ``PCA.explained_variance_`` (the ML eigenvalues λ_k times N/(N − 1)).
    explained_variance_ratio_ : ndarray of shape (K,)
        ``explained_variance_`` divided by the total variance, as ``PCA``'s.
    singular_values_ : ndarray of shape (K,)
        The K largest singular values of the centred data, as ``PCA``'s.
        These three describe the data, not the fitted W: they are set by
        :meth:`fit` only, not by :meth:`from_params` / :meth:`load`.
    n_features_in_ : int
        D, the number of columns seen in :meth:`fit`.
    history_ : ndarray
        Mean training log-likelihood per datapoint (nats): for EM at the
        initialisation and after each iteration (``n_iter_ + 1`` values); for
        the closed form the single value at the solution; empty for
        :meth:`from_params` / :meth:`load`.
    n_iter_ : int
        EM iterations performed; 1 for the closed form (one eigen-solution);
        0 for a model built by :meth:`from_params` / :meth:`load`.
    converged_ : bool
        Whether EM stopped because the improvement fell below `tol` (always
        True for the closed form).

    Notes
    -----
    scikit-learn's conventions: ``__init__`` only stores its arguments,
    :meth:`fit` validates them and returns ``self``, every other method raises
    ``numvae.base.NotFittedError`` (a ``ValueError``, as scikit-learn's) before
    the model is fitted (or built with :meth:`from_params` / :meth:`load`).
    The protocol (``get_params``, ``set_params``, the fitted and width checks)
    is ``numvae.base.Estimator``'s. scikit-learn itself is imported only by
    :meth:`__sklearn_tags__`, which only scikit-learn calls.
    """

    def __init__(self, n_components=None, method="closed_form", max_iter=1000, tol=1e-8,
                 random_state=None, init=None, verbose=False):
        self.n_components = n_components
        self.method = method
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.init = init
        self.verbose = verbose

    # --- scikit-learn's estimator protocol (numvae.base.Estimator) -------------

    fitted_attribute = "components_"
    not_fitted_hint = "call fit(X) (or build it with PPCA.from_params / PPCA.load) before using it"

    def __sklearn_tags__(self):
        """Estimator tags for scikit-learn: an unsupervised transformer of dense float64 data."""
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

        return Tags(estimator_type=None, target_tags=TargetTags(required=False),
                    transformer_tags=TransformerTags(preserves_dtype=["float64"]), input_tags=InputTags())

    # --- the lecture's names for the fitted arrays -----------------------------

    @property
    def W(self):
        """Loading matrix W of shape (D, K): ``components_.T``."""
        return self.components_.T

    @property
    def b(self):
        """Mean b of shape (D,): ``mean_``."""
        return self.mean_

    @property
    def sigma2(self):
        """Noise variance σ²: ``noise_variance_``."""
        return self.noise_variance_

    # --- building a model ------------------------------------------------------

    @classmethod
    def from_params(cls, W, b, sigma2):
        r"""A PPCA with given parameters, no fitting: the true model of synthetic data, or a loaded one.

        Parameters
        ----------
        W : array_like of shape (D, K), K < D
        b : array_like of shape (D,)
        sigma2 : float, > 0
        """
        W = check_array(W, "W", ndim=2, dtype=np.float64)
        D, K = W.shape
        if not 1 <= K < D:
            raise ValueError(f"W must have shape (D, K) with 1 <= K < D; got {W.shape}")
        b = check_array(b, "b", ndim=1, dtype=np.float64)
        if b.shape != (D,):
            raise ValueError(f"b must have shape ({D},) to match W {W.shape}; got {b.shape}")
        check_positive(sigma2, "sigma2")
        model = cls(K)
        model._set_params(W, b, float(sigma2))
        model.n_components_ = K
        model.history_, model.n_iter_, model.converged_ = np.array([]), 0, True
        return model

    def _set_params(self, W, b, sigma2):
        self.components_, self.mean_, self.noise_variance_ = W.T, b, sigma2
        self.n_features_in_ = W.shape[0]

    # --- fitting ---------------------------------------------------------------

    @staticmethod
    def _check_shape(K, N, D):
        """K components need more than K samples and features, in the words scikit-learn's checks expect."""
        for size, what in ((D, "feature"), (N, "sample")):
            if size <= K:
                raise ValueError(f"X has {size} {what}(s) (shape={(N, D)}) while a minimum of {K + 1} is "
                                 f"required: pPCA needs more {what}s than n_components = {K}")

    def _n_components(self, spec, s, N, D):
        """K from the checked `spec` of n_components and the singular values `s` of the centred data."""
        if isinstance(spec, int):
            self._check_shape(spec, N, D)
            return spec
        self._check_shape(1, N, D)
        lam = s ** 2 / (N - 1)                               # (min(N, D),)  PCA's explained variances
        if spec is None:
            # The centred data have rank <= min(N − 1, D); σ² > 0 needs K below it.
            K = min(N - 1, D) - 1
            if K < 1:
                raise ValueError(f"n_components=None keeps min(N - 1, D) - 1 = {K} components for X of "
                                 f"shape {(N, D)}: pPCA needs at least 3 samples and 2 features")
            return K
        if spec == "mle":
            if N < D:
                raise ValueError(f"n_components='mle' is only supported if n_samples >= n_features; "
                                 f"got X of shape {(N, D)}")
            evidence = [minka_log_evidence(lam, K, N) for K in range(1, D)]
            return 1 + int(np.argmax(evidence))
        # A fraction: the smallest K whose cumulative explained variance ratio exceeds it, as PCA.
        ratio = np.cumsum(lam) / lam.sum()
        K = int(np.searchsorted(ratio, spec, side="right")) + 1
        if K >= min(N, D):
            raise ValueError(f"n_components={spec} needs {K} components to explain that fraction of the "
                             f"variance of X (shape {(N, D)}), but pPCA needs fewer than min(N, D)")
        return K

    def fit(self, X, y=None):
        r"""Maximum-likelihood fit of W, b and σ² to the rows of `X`.

        Parameters
        ----------
        X : array_like of shape (N, D)
            Data, one datapoint per row; N > K and K < D.
        y : ignored
            Accepted for scikit-learn's pipelines; pPCA is unsupervised.

        Returns
        -------
        self : PPCA

        Notes
        -----
        Both methods set :math:`b = \bar x` (the ML mean, PRML §12.2.1) and work with the
        1/N (maximum-likelihood) sample covariance
        :math:`S = \frac1N\sum_n (x_n-\bar x)(x_n-\bar x)^\top`.

        **Closed form** (Tipping & Bishop 1999; Bishop PRML eqs. 12.45-12.46):
        with :math:`\lambda_1 \ge \dots \ge \lambda_D` the eigenvalues of S and
        :math:`U_K` the first K eigenvectors,

        .. math:: \sigma^2 = \frac{1}{D-K}\sum_{i=K+1}^{D}\lambda_i, \qquad
                  W = U_K(\Lambda_K - \sigma^2 I)^{1/2}

        (the rotation R of eq. 12.45 chosen as I). The eigenpairs come from a
        thin SVD of the centred data :math:`X_c/\sqrt N = V\,\mathrm{diag}(s)\,U^\top`,
        :math:`\lambda_i = s_i^2`. That never forms the D × D matrix S (which
        matters when N < D, where S has rank < N anyway), does not square the
        condition number as ``eigh(S)`` would, and is one code path for both
        N < D and N ≥ D. The discarded eigenvalues are only needed through
        their sum, :math:`\operatorname{tr}S - \sum_{i\le K}\lambda_i`, so the
        zero eigenvalues a thin SVD omits are counted correctly.

        **EM** (Tipping & Bishop 1999; Bishop PRML eqs. 12.54-12.57, with the
        sums over datapoints collected into S): the E-step statistics
        :math:`E[z_n] = M^{-1}W^\top(x_n-\bar x)` and
        :math:`E[z_nz_n^\top] = \sigma^2M^{-1} + E[z_n]E[z_n]^\top` enter the
        M-step only through :math:`SW`, giving

        .. math:: W_{new} = SW\,(\sigma^2 I + M^{-1}W^\top SW)^{-1}, \qquad
                  \sigma^2_{new} = \frac1D\operatorname{tr}\bigl(S - SWM^{-1}W_{new}^\top\bigr).

        :math:`SW` costs O(NDK) from the data, or O(D²K) from S when D < N
        (then S, D × D, is smaller than the data and is formed once). The
        mean log-likelihood after each step,
        :math:`-\frac12[D\log 2\pi + \log|C| + \operatorname{tr}(C^{-1}S)]`
        with :math:`\operatorname{tr}(C^{-1}S) = \sigma^{-2}[\operatorname{tr}S - \operatorname{tr}(M^{-1}W^\top SW)]`,
        is recorded in ``history_``; EM guarantees it never decreases.

        Since :math:`W_{new}` is :math:`SW` times a K × K matrix, its columns
        lie in the span of S W: EM never raises the rank of W. A start W0
        without full column rank (W0 = 0 is the saddle point where EM stops at
        once) can therefore never reach the ML solution, whose W has rank K,
        and is refused.
        """
        check_choice(self.method, "method", METHODS)
        max_iter = check_int(self.max_iter, "max_iter", 1)
        check_positive(self.tol, "tol", strict=False)
        if not isinstance(self.verbose, (bool, np.bool_)):
            raise ValueError(f"verbose must be True or False; got {self.verbose!r}")
        rng = as_generator(0 if self.random_state is None else self.random_state, "random_state")
        spec = _check_n_components(self.n_components)
        X = as_data(X, "X", "PPCA")
        N, D = X.shape
        self._check_shape(spec if isinstance(spec, int) else 1, N, D)
        b = X.mean(axis=0)                                   # (D,)  the ML mean, PRML §12.2.1
        Xc = X - b                                           # (N, D)
        with np.errstate(over="ignore"):
            trace_S = np.sum(Xc * Xc) / N
        if not np.isfinite(trace_S):
            raise ValueError(f"X overflows float64: its squared deviations from the mean are too large "
                             f"(largest |x| = {np.abs(X).max():.3g}); rescale X")
        # One thin SVD of the centred data gives PCA's spectrum and the closed form's eigenpairs.
        _, s, Vt = np.linalg.svd(Xc, full_matrices=False)   # s: (min(N, D),), Vt: (min(N, D), D)
        K = self._n_components(spec, s, N, D)
        self._set_spectrum(s, N, trace_S, K)
        if self.method == "closed_form":
            W, sigma2 = self._fit_closed_form(s / np.sqrt(N), Vt, K, trace_S, D)
        else:
            init = None if self.init is None else self._check_init(self.init, D, K)
            W, sigma2 = self._fit_em(Xc, K, trace_S, max_iter, self.tol, rng, init)
        self._set_params(W, b, sigma2)
        if self.method == "closed_form":
            self.history_, self.n_iter_, self.converged_ = np.array([self.score(X)]), 1, True
        return self

    def fit_transform(self, X, y=None):
        """:meth:`fit` to `X`, then :meth:`transform` it: the posterior means, shape (N, K)."""
        return self.fit(X).transform(X)

    @staticmethod
    def _check_sigma2(sigma2, trace_S, D):
        # σ² = 0 means the data lie exactly in a K-dimensional affine subspace
        # (e.g. N = K + 1 points): the ML density is degenerate (log p = +∞).
        if not sigma2 > 1e-12 * trace_S / D:
            raise ValueError(f"X has no variance outside its first n_components principal directions "
                             f"(ML sigma2 = {sigma2:.3g}): the likelihood is unbounded; use fewer "
                             f"components or more data")

    def _set_spectrum(self, s, N, trace_S, K):
        r"""PCA's fitted attributes from the singular values `s` of the centred data, as scikit-learn's PCA.

        ``explained_variance_`` are the top-K eigenvalues :math:`s_k^2/(N-1)` of
        the *unbiased* (N − 1) sample covariance, as ``PCA``'s, not the 1/N
        eigenvalues :math:`\lambda_k = s_k^2/N` the ML fit uses: they differ by
        the factor (N − 1)/N. The ratio divides by the total variance
        :math:`\operatorname{tr}S \cdot N/(N-1)`, so it is the same for both.
        """
        total = trace_S * N / (N - 1)                        # sum of all N − 1 eigenvalues
        self.n_components_ = K
        self.singular_values_ = s[:K].copy()                 # (K,)
        self.explained_variance_ = s[:K] ** 2 / (N - 1)      # (K,)
        self.explained_variance_ratio_ = self.explained_variance_ / total  # (K,)

    def _fit_closed_form(self, s, Vt, K, trace_S, D):
        # s: singular values of X_c / sqrt(N), so s² are the eigenvalues of the 1/N covariance S.
        lam = s[:K] ** 2                                     # (K,) largest eigenvalues of S
        sigma2 = (trace_S - lam.sum()) / (D - K)             # PRML eq. 12.46
        self._check_sigma2(sigma2, trace_S, D)
        # λ_K ≥ mean of the discarded eigenvalues = σ², so the root is real;
        # the clip only removes rounding below zero.
        W = Vt[:K].T * np.sqrt(np.clip(lam - sigma2, 0.0, None))  # (D, K)  PRML eq. 12.45, R = I
        return W, float(sigma2)

    @staticmethod
    def _check_init(init, D, K):
        if not isinstance(init, (tuple, list)) or len(init) != 2:
            raise ValueError(f"init must be a pair (W0, sigma2_0); got {type(init).__name__}")
        W0 = check_array(init[0], "init W0", ndim=2, dtype=np.float64)
        if W0.shape != (D, K):
            raise ValueError(f"init W0 must have shape (D, K) = ({D}, {K}); got {W0.shape}")
        rank = np.linalg.matrix_rank(W0)
        if rank < K:
            raise ValueError(f"init W0 must have full column rank K = {K}; got rank {rank}: EM never raises "
                             f"the rank of W, so it could not leave this start (W0 = 0 is a saddle point)")
        check_positive(init[1], "init sigma2_0")
        return W0.copy(), float(init[1])

    def _fit_em(self, Xc, K, trace_S, max_iter, tol, rng, init=None):
        N, D = Xc.shape
        if D < N:
            S = Xc.T @ Xc / N                                # (D, D), formed once: smaller than X
            S_times = lambda W: S @ W                        # noqa: E731  (D, K)
        else:
            S_times = lambda W: Xc.T @ (Xc @ W) / N          # noqa: E731  (D, K), S never formed
        # Start at the right overall scale: half the variance in W, half in σ².
        if init is None:
            scale = trace_S / D
            W = rng.standard_normal((D, K)) * np.sqrt(scale / (2 * K))  # (D, K)
            sigma2 = scale / 2
        else:
            W, sigma2 = init
        SW = S_times(W)
        history = [self._mean_log_likelihood(W, sigma2, SW, trace_S)]
        converged = False
        # The ETA assumes all max_iter iterations: an upper bound, as EM may stop sooner.
        tracker = Progress(max_iter, "pPCA EM", quiet=not self.verbose)
        for it in range(1, max_iter + 1):
            M = W.T @ W + sigma2 * np.eye(K)                 # (K, K)
            Minv_WtSW = np.linalg.solve(M, W.T @ SW)         # (K, K)  M⁻¹ WᵀSW
            W_new = np.linalg.solve((sigma2 * np.eye(K) + Minv_WtSW).T, SW.T).T  # (D, K)
            # tr(S W M⁻¹ W_newᵀ) = tr(M⁻¹ W_newᵀ S W)
            sigma2 = (trace_S - np.trace(np.linalg.solve(M, W_new.T @ SW))) / D
            self._check_sigma2(sigma2, trace_S, D)
            W = W_new
            SW = S_times(W)
            history.append(self._mean_log_likelihood(W, sigma2, SW, trace_S))
            tracker.update(it, f"iteration {it}  log-likelihood {history[-1]:.6f}  "
                               f"improvement {history[-1] - history[-2]:.2e}")
            if history[-1] - history[-2] < tol:
                converged = True
                break
        tracker.line(f"{'converged' if converged else 'stopped'} after {it} iterations  "
                     f"log-likelihood {history[-1]:.6f}", done=it)
        if not converged:
            warnings.warn(f"EM did not converge in max_iter = {max_iter} iterations "
                          f"(last improvement {history[-1] - history[-2]:.3g} >= tol = {tol:g})",
                          RuntimeWarning, stacklevel=3)
        self.history_, self.n_iter_, self.converged_ = np.array(history), it, converged
        return W, float(sigma2)

    @staticmethod
    def _mean_log_likelihood(W, sigma2, SW, trace_S):
        r"""Mean training log-likelihood from W, σ², SW and tr S alone, O(DK²)."""
        D, K = W.shape
        M = W.T @ W + sigma2 * np.eye(K)                     # (K, K)
        L = np.linalg.cholesky(M)
        logdet_C = (D - K) * np.log(sigma2) + 2 * np.log(np.diag(L)).sum()
        tr_CinvS = (trace_S - np.trace(np.linalg.solve(M, W.T @ SW))) / sigma2
        return -0.5 * (D * LOG_2PI + logdet_C + tr_CinvS)

    # --- exact likelihood and posterior ---------------------------------------

    def _M(self):
        """M = WᵀW + σ²I (K, K) and its Cholesky factor."""
        M = self.W.T @ self.W + self.sigma2 * np.eye(self.W.shape[1])
        return M, np.linalg.cholesky(M)

    def log_likelihood(self, X):
        r"""Exact log-density :math:`\log p(x_n) = \log\mathcal N(x_n; b, WW^\top + \sigma^2 I)` of each row.

        Parameters
        ----------
        X : array_like of shape (N, D)

        Returns
        -------
        ndarray of shape (N,)
            Log-likelihood per datapoint, in nats.

        Notes
        -----
        Marginal of lecture 002_b4c24ccd2e75c8da.txt, *Probabilistic Principal
        Component Analysis* (Bishop PRML eqs. 12.35-12.36). With
        :math:`C = WW^\top + \sigma^2 I` and :math:`M = W^\top W + \sigma^2 I`,

        .. math:: \log p(x) = -\tfrac12\bigl[D\log 2\pi + \log|C| + (x-b)^\top C^{-1}(x-b)\bigr],

        .. math:: \log|C| = (D-K)\log\sigma^2 + \log|M| \quad\text{(matrix determinant lemma)},

        .. math:: C^{-1} = \sigma^{-2}\bigl(I - WM^{-1}W^\top\bigr) \quad\text{(Woodbury; PRML eqs. 12.40-12.41)},

        so the cost is O(NDK + DK²) and the D × D matrix C is never formed.
        """
        X = self._check_X(X)
        Xc = X - self.b                                      # (N, D)
        M, L = self._M()
        D, K = self.W.shape
        with np.errstate(over="ignore", invalid="ignore"):   # overflow is reported below, by name
            y = np.linalg.solve(L, (Xc @ self.W).T)          # (K, N)  L⁻¹ Wᵀ(x − b)
            quad = (np.sum(Xc * Xc, axis=1) - np.sum(y * y, axis=0)) / self.sigma2  # (N,)
        logdet_C = (D - K) * np.log(self.sigma2) + 2 * np.log(np.diag(L)).sum()
        log_px = -0.5 * (D * LOG_2PI + logdet_C + quad)
        if not np.isfinite(log_px).all():   # finite x has a finite density: inf or NaN is overflow
            raise ValueError(f"X overflows float64 in log p(x): its squared distance from b is too large "
                             f"(largest |x - b| = {np.abs(Xc).max():.3g}); rescale X")
        return log_px

    def get_covariance(self):
        r"""The model covariance :math:`C = WW^\top + \sigma^2 I` of x, shape (D, D) (PRML eq. 12.36).

        At the ML fit this is the *maximum-likelihood* covariance, built from the
        1/N sample covariance: it equals scikit-learn's
        ``PCA(n_components=K).get_covariance()`` times (N − 1)/N, since ``PCA``
        uses the N − 1 covariance (and likewise ``sigma2`` is ``PCA``'s
        ``noise_variance_`` times (N − 1)/N), when N ≥ D. When N < D, ``PCA``'s
        ``noise_variance_`` averages only the min(N, D) − K trailing eigenvalues it
        computed, while the ML σ² (PRML eq. 12.46) spreads their sum over all
        D − K discarded directions: σ² = ``noise_variance_`` × (N − 1)/N ×
        (N − K)/(D − K), and the covariances differ. Forms the D × D matrix, which
        :meth:`log_likelihood` never does.
        """
        self._check_fitted()
        return self.W @ self.W.T + self.sigma2 * np.eye(self.W.shape[0])

    def get_precision(self):
        r"""The inverse of :meth:`get_covariance`, by Woodbury, shape (D, D).

        .. math:: C^{-1} = \sigma^{-2}I - \sigma^{-2}\,W M^{-1} W^\top, \qquad M = W^\top W + \sigma^2 I

        (PRML eqs. 12.40-12.41): only the K × K matrix M is solved with, never the D × D C.
        """
        self._check_fitted()
        M, _ = self._M()
        D = self.W.shape[0]
        WMinv = np.linalg.solve(M, self.W.T).T               # (D, K)  W M⁻¹, M symmetric
        return (np.eye(D) - WMinv @ self.W.T) / self.sigma2

    def score_samples(self, X):
        """Alias of :meth:`log_likelihood` (scikit-learn's name): log p(x) per row, shape (N,)."""
        return self.log_likelihood(X)

    def score(self, X, y=None):
        """Mean exact log-likelihood per datapoint over the rows of `X`, in nats (float); `y` is ignored.

        The score ``GridSearchCV`` maximises by default: the held-out log-likelihood.
        """
        return float(np.mean(self.log_likelihood(X)))

    def posterior(self, X):
        r"""Exact posterior :math:`p(z|x_n) = \mathcal N(M^{-1}W^\top(x_n-b),\ \sigma^2M^{-1})`.

        Parameters
        ----------
        X : array_like of shape (N, D)

        Returns
        -------
        mean : ndarray of shape (N, K)
        cov : ndarray of shape (K, K)
            Shared by every datapoint: it does not depend on x.

        Notes
        -----
        Bishop PRML eq. 12.42, with :math:`M = W^\top W + \sigma^2 I`.

        Lecture 002_b4c24ccd2e75c8da.txt, *Probabilistic Principal Component
        Analysis*, prints the covariance as :math:`\sigma^{-2}M`; the correct
        form is :math:`\sigma^2M^{-1}`. Two arguments:

        * Limit. As :math:`\sigma^2 \to 0` the observation pins z down to the
          unique solution of :math:`Wz = x - b` (W has full column rank), so
          the posterior covariance must vanish. :math:`\sigma^2M^{-1} \to
          \sigma^2(W^\top W)^{-1} \to 0` does; :math:`\sigma^{-2}M \approx
          \sigma^{-2}W^\top W` blows up instead. (Units say the same: if x
          and hence W and σ are scaled by c, z is unchanged, and
          :math:`\sigma^2M^{-1}` is invariant while :math:`\sigma^{-2}M` is not.)
        * Direct conditioning. :math:`(z, x)` is jointly Gaussian with
          covariance :math:`\begin{bmatrix} I & W^\top \\ W & C\end{bmatrix}`,
          so :math:`\operatorname{cov}(z|x) = I - W^\top C^{-1}W`, and by
          Woodbury :math:`I - W^\top C^{-1}W = I - \sigma^{-2}(W^\top W - W^\top W M^{-1}W^\top W)
          = \sigma^2 M^{-1}` (using :math:`W^\top W = M - \sigma^2 I`).

        The slide's mean also writes :math:`x - \mu` for :math:`x - b`, and
        uses M both for the latent dimension and for this matrix; here the
        latent dimension is K.
        """
        X = self._check_X(X)
        M, L = self._M()
        K = M.shape[0]
        mean = np.linalg.solve(M, ((X - self.b) @ self.W).T).T  # (N, K)  M⁻¹Wᵀ(x − b), M symmetric
        Linv = np.linalg.solve(L, np.eye(K))                 # (K, K)
        cov = self.sigma2 * (Linv.T @ Linv)                  # (K, K)  σ² M⁻¹
        return mean, cov

    def transform(self, X):
        r"""Posterior means :math:`E[z|x_n] = M^{-1}W^\top(x_n-b)`, shape (N, K) (PRML eq. 12.48)."""
        return self.posterior(X)[0]

    def inverse_transform(self, Z):
        r"""Means :math:`E[x|z_n] = Wz_n + b` of the decoder :math:`p(x|z)`, shape (N, D).

        Parameters
        ----------
        Z : array_like of shape (N, K)
            Latent codes, e.g. the output of :meth:`transform`.
        """
        self._check_fitted()
        Z = as_data(Z, "Z", "PPCA")
        if Z.shape[1] != self.components_.shape[0]:
            raise ValueError(f"Z has {Z.shape[1]} columns, but this PPCA has {self.components_.shape[0]} components")
        return Z @ self.components_ + self.mean_

    def reconstruct(self, X):
        r"""Reconstructions :math:`W\,E[z|x_n] + b`, shape (N, D): ``inverse_transform(transform(X))``.

        Notes
        -----
        This is not the orthogonal projection onto the principal subspace: the
        posterior mean is shrunk towards 0 by the prior (PRML §12.2.1, text
        after eq. 12.48); the shrinkage vanishes as σ² → 0.
        """
        return self.inverse_transform(self.transform(X))

    # --- the ELBO of any Gaussian q, and its gap ------------------------------

    def _check_q(self, X, q_mean, q_cov):
        """Validate X, q_mean (N, K) and q_cov ((K, K) or (N, K, K), SPD); return them and chol(q_cov)."""
        X = self._check_X(X)
        N, K = X.shape[0], self.W.shape[1]
        q_mean = check_array(q_mean, "q_mean", ndim=2, dtype=np.float64)
        if q_mean.shape != (N, K):
            raise ValueError(f"q_mean must have shape (N, K) = ({N}, {K}) for X and this model; "
                             f"got {q_mean.shape}")
        q_cov = check_array(q_cov, "q_cov", dtype=np.float64)
        if q_cov.shape not in ((K, K), (N, K, K)):
            raise ValueError(f"q_cov must have shape ({K}, {K}) (shared) or ({N}, {K}, {K}) "
                             f"(one per row of X); got {q_cov.shape}")
        asym = np.abs(q_cov - np.swapaxes(q_cov, -1, -2)).max()
        if asym > 1e-10 * max(1.0, np.abs(q_cov).max()):
            raise ValueError(f"q_cov must be symmetric; largest asymmetry {asym:.3g}")
        try:
            L = np.linalg.cholesky(q_cov)                    # (K, K) or (N, K, K)
        except np.linalg.LinAlgError:
            raise ValueError("q_cov must be positive definite; its Cholesky factorization failed") from None
        return X, q_mean, q_cov, L

    def elbo(self, X, q_mean, q_cov):
        r"""Closed-form ELBO of a Gaussian :math:`q(z|x_n) = \mathcal N(m_n, S_n)` under this model.

        Parameters
        ----------
        X : array_like of shape (N, D)
        q_mean : array_like of shape (N, K)
            Means :math:`m_n`.
        q_cov : array_like of shape (K, K) or (N, K, K)
            Covariance shared by all rows, or one per row; symmetric positive
            definite. (A diagonal covariance is passed as ``np.diag(v)``, or
            ``v[:, :, None] * np.eye(K)`` per row.)

        Returns
        -------
        ndarray of shape (N,)
            ELBO per datapoint, in nats; never above :meth:`log_likelihood`.

        Notes
        -----
        .. math:: \mathrm{ELBO} = E_q[\log p(x|z)] + E_q[\log p(z)] + H(q)

        (lecture 001, *Variational Autoencoders*; lecture 000, the ELBO
        derivation), each term exact for the linear-Gaussian decoder
        :math:`p(x|z) = \mathcal N(Wz + b, \sigma^2 I)` (lecture
        002_b4c24ccd2e75c8da.txt, *Probabilistic Principal Component Analysis*):

        .. math:: E_q[\log p(x|z)] = -\tfrac12\Bigl[D\log 2\pi\sigma^2
                  + \sigma^{-2}\bigl(\|x-b-Wm\|^2 + \operatorname{tr}(W^\top W S)\bigr)\Bigr],

        .. math:: E_q[\log p(z)] = -\tfrac12\bigl[K\log 2\pi + \|m\|^2 + \operatorname{tr}S\bigr], \qquad
                  H(q) = \tfrac12\bigl[K(1+\log 2\pi) + \log|S|\bigr],

        using :math:`E_q\|v - Wz\|^2 = \|v - Wm\|^2 + \operatorname{tr}(W^\top W S)`
        (the mean's error plus the spread of Wz).
        """
        X, q_mean, q_cov, L = self._check_q(X, q_mean, q_cov)
        D, K = self.W.shape
        resid = X - self.b - q_mean @ self.W.T               # (N, D)  x − b − W m
        spread = np.sum((self.W.T @ self.W) * q_cov, axis=(-2, -1))  # () or (N,)  tr(WᵀW S), both symmetric
        e_log_lik = -0.5 * (D * (LOG_2PI + np.log(self.sigma2))
                            + (np.sum(resid * resid, axis=1) + spread) / self.sigma2)  # (N,)
        e_log_prior = -0.5 * (K * LOG_2PI + np.sum(q_mean * q_mean, axis=1)
                              + np.trace(q_cov, axis1=-2, axis2=-1))  # (N,)
        logdet_S = 2 * np.log(np.diagonal(L, axis1=-2, axis2=-1)).sum(-1)  # () or (N,)
        entropy = 0.5 * (K * (1 + LOG_2PI) + logdet_S)       # () or (N,)
        return e_log_lik + e_log_prior + entropy

    def kl_to_posterior(self, X, q_mean, q_cov):
        r"""KL divergence :math:`KL(q(z|x_n)\,\|\,p(z|x_n))` from the exact posterior, shape (N,).

        Parameters are those of :meth:`elbo`.

        Notes
        -----
        The gap of the bound: :math:`\log p(x) = \mathrm{ELBO}(q) + KL(q\,\|\,p(z|x))`
        (lecture 000, the variational Bayes derivation; lecture
        002_b4c24ccd2e75c8da.txt, the two meanings of the KL gap), here with
        every term exact. Computed with the Gaussian KL of lecture 003
        (:func:`numvae.distributions.kl_gaussians`) against the posterior of
        :meth:`posterior`; it is *not* derived from ``log_likelihood - elbo``,
        so the identity is a genuine check.
        """
        X, q_mean, q_cov, _ = self._check_q(X, q_mean, q_cov)
        post_mean, post_cov = self.posterior(X)              # (N, K), (K, K)
        return kl_gaussians(q_mean, q_cov, post_mean, post_cov)

    # --- generating ------------------------------------------------------------

    def sample(self, n, rng=None):
        r"""Draw `n` datapoints from the generative model, shape (n, D).

        Parameters
        ----------
        n : int, >= 1
        rng : np.random.Generator, int or None
            None draws fresh entropy, as :meth:`numvae.vae.VAE.sample` does.

        Notes
        -----
        Ancestral sampling, lecture 002_b4c24ccd2e75c8da.txt, *Probabilistic
        Principal Component Analysis*: :math:`z \sim \mathcal N(0, I)`, then
        :math:`x = Wz + b + \sigma\epsilon`, :math:`\epsilon \sim \mathcal N(0, I)`.
        """
        self._check_fitted()
        n = check_int(n, "n", 1)
        rng = np.random.default_rng(rng)
        D, K = self.W.shape
        z = rng.standard_normal((n, K))                      # (n, K)
        eps = rng.standard_normal((n, D))                    # (n, D)
        return z @ self.W.T + self.b + np.sqrt(self.sigma2) * eps

    # --- files -----------------------------------------------------------------

    def save(self, path):
        """Write W, b and σ² to a numvae checkpoint (kind ``"PPCA"``), atomically.

        The config records the hyper-parameter `n_components` (an int, a
        fraction, ``"mle"`` or None) and the K it resolved to, ``n_components_``.
        """
        self._check_fitted()
        D, K = self.W.shape
        config = {"n_components": _check_n_components(self.n_components), "n_components_": K, "n_features": D}
        save_checkpoint(path, {"W": self.W, "b": self.b, "sigma2": np.array(self.sigma2)},
                        kind="PPCA", config=config)

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save`; ``ValueError`` naming the file and the mismatch if invalid.

        Files written before ``n_components_`` was recorded (config ``n_components``
        and ``n_features`` only, n_components the int K) still load.
        """
        arrays, meta = load_checkpoint(path, "PPCA")
        config = meta.get("config")
        keys = ({"n_components", "n_features"}, {"n_components", "n_components_", "n_features"})
        if not isinstance(config, dict) or set(config) not in keys:
            raise ValueError(f"checkpoint {path}: config must hold n_components, n_components_ and n_features "
                             f"(or n_components and n_features only); got {config!r}")
        try:
            if "n_components_" in config:
                spec = _check_n_components(config["n_components"])
                K = check_int(config["n_components_"], "n_components_", 1)
            else:
                spec = K = check_int(config["n_components"], "n_components", 1)
            D = check_int(config["n_features"], "n_features", K + 1)
        except ValueError as exc:
            raise ValueError(f"checkpoint {path}: config {exc}") from None
        if set(arrays) != {"W", "b", "sigma2"}:
            raise ValueError(f"checkpoint {path}: expected arrays ['W', 'b', 'sigma2']; got {sorted(arrays)}")
        for name, shape in (("W", (D, K)), ("b", (D,)), ("sigma2", ())):
            if arrays[name].shape != shape:
                raise ValueError(f"checkpoint {path}: {name} has shape {arrays[name].shape}, but its config "
                                 f"(n_features={D}, n_components={K}) requires {shape}")
        try:
            model = cls.from_params(arrays["W"], arrays["b"], float(arrays["sigma2"]))
        except ValueError as exc:
            raise ValueError(f"checkpoint {path}: {exc}") from None
        model.n_components = spec
        return model
