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
likelihood solution or by EM.
"""

import warnings

import numpy as np

from numvae.checks import as_generator, check_array, check_choice, check_int, check_matrix, check_positive
from numvae.distributions import LOG_2PI, kl_gaussians
from numvae.io import load_checkpoint, save_checkpoint

METHODS = ("closed_form", "em")


class PPCA:
    r"""Probabilistic principal component analysis with K latent dimensions.

    Parameters
    ----------
    n_components : int
        Latent dimension K, with 1 <= K < D (checked in :meth:`fit`, where D
        is known). With K = D the noise variance has nothing to be estimated
        from.

    Attributes
    ----------
    W : ndarray of shape (D, K)
        Loading matrix; defined only up to a rotation W R, R orthogonal.
    b : ndarray of shape (D,)
        Mean of x (the data mean at the ML solution).
    sigma2 : float
        Isotropic noise variance σ² > 0.
    history_ : ndarray of shape (n_iter_ + 1,)
        Mean training log-likelihood per datapoint (nats) at the EM
        initialisation and after each EM iteration; for the closed form, the
        single value at the solution; empty for :meth:`from_params` / :meth:`load`.
    n_iter_ : int
        EM iterations performed (0 for the closed form).
    converged_ : bool
        Whether EM stopped because the improvement fell below `tol` (always
        True for the closed form).

    Notes
    -----
    Follows scikit-learn's habits: ``__init__`` stores, :meth:`fit` validates
    and returns ``self``, every other method raises ``ValueError`` before the
    model is fitted (or built with :meth:`from_params` / :meth:`load`).
    """

    def __init__(self, n_components):
        self.n_components = n_components

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
        model.history_, model.n_iter_, model.converged_ = np.array([]), 0, True
        return model

    def _set_params(self, W, b, sigma2):
        self.W, self.b, self.sigma2 = W, b, sigma2
        self.n_features_in_ = W.shape[0]

    def _check_fitted(self):
        if getattr(self, "W", None) is None:
            raise ValueError("this PPCA is not fitted yet: call fit(X) (or build it with "
                             "PPCA.from_params / PPCA.load) before using it")

    def _check_X(self, X, name="X"):
        self._check_fitted()
        return check_matrix(X, name, n_features=self.n_features_in_, dtype=np.float64)

    # --- fitting ---------------------------------------------------------------

    def fit(self, X, method="closed_form", max_iter=1000, tol=1e-8, rng=None, init=None):
        r"""Maximum-likelihood fit of W, b and σ² to the rows of `X`.

        Parameters
        ----------
        X : array_like of shape (N, D)
            Data, one datapoint per row; N > K and K < D.
        method : {"closed_form", "em"}
            Closed-form eigen-solution, or EM from a random start.
        max_iter : int
            EM only: maximum number of iterations.
        tol : float, >= 0
            EM only: stop when one iteration raises the mean log-likelihood
            per datapoint by less than `tol` nats.
        rng : np.random.Generator or int, optional
            EM only: the random initial W (ignored if `init` is given);
            None means seed 0, so a fit is reproducible.
        init : tuple (W0, sigma2_0), optional
            EM only: starting point, W0 of shape (D, K) and sigma2_0 > 0.
            By default W0 is random and σ² starts at half the average variance.

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
        """
        K = check_int(self.n_components, "n_components", 1)
        check_choice(method, "method", METHODS)
        X = check_matrix(X, "X", dtype=np.float64)
        N, D = X.shape
        if K >= D:
            raise ValueError(f"n_components must be < D = {D} (the number of columns of X); got {K}")
        if N <= K:
            raise ValueError(f"X must have more rows than n_components = {K}; got shape {X.shape}")
        b = X.mean(axis=0)                                   # (D,)  the ML mean, PRML §12.2.1
        Xc = X - b                                           # (N, D)
        trace_S = np.sum(Xc * Xc) / N
        if method == "closed_form":
            W, sigma2 = self._fit_closed_form(Xc, K, trace_S)
        else:
            max_iter = check_int(max_iter, "max_iter", 1)
            check_positive(tol, "tol", strict=False)
            if init is not None:
                init = self._check_init(init, D, K)
            W, sigma2 = self._fit_em(Xc, K, trace_S, max_iter, tol, as_generator(0 if rng is None else rng), init)
        self._set_params(W, b, sigma2)
        if method == "closed_form":
            self.history_, self.n_iter_, self.converged_ = np.array([self.score(X)]), 0, True
        return self

    @staticmethod
    def _check_sigma2(sigma2, trace_S, D):
        # σ² = 0 means the data lie exactly in a K-dimensional affine subspace
        # (e.g. N = K + 1 points): the ML density is degenerate (log p = +∞).
        if not sigma2 > 1e-12 * trace_S / D:
            raise ValueError(f"X has no variance outside its first n_components principal directions "
                             f"(ML sigma2 = {sigma2:.3g}): the likelihood is unbounded; use fewer "
                             f"components or more data")

    def _fit_closed_form(self, Xc, K, trace_S):
        N, D = Xc.shape
        _, s, Vt = np.linalg.svd(Xc / np.sqrt(N), full_matrices=False)  # s: (min(N, D),), Vt: (min(N,D), D)
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
            if history[-1] - history[-2] < tol:
                converged = True
                break
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
        y = np.linalg.solve(L, (Xc @ self.W).T)              # (K, N)  L⁻¹ Wᵀ(x − b)
        quad = (np.sum(Xc * Xc, axis=1) - np.sum(y * y, axis=0)) / self.sigma2  # (N,)
        logdet_C = (D - K) * np.log(self.sigma2) + 2 * np.log(np.diag(L)).sum()
        return -0.5 * (D * LOG_2PI + logdet_C + quad)

    def score_samples(self, X):
        """Alias of :meth:`log_likelihood` (scikit-learn's name): log p(x) per row, shape (N,)."""
        return self.log_likelihood(X)

    def score(self, X):
        """Mean exact log-likelihood per datapoint over the rows of `X`, in nats (float)."""
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

    def reconstruct(self, X):
        r"""Reconstructions :math:`W\,E[z|x_n] + b`, shape (N, D).

        Notes
        -----
        This is not the orthogonal projection onto the principal subspace: the
        posterior mean is shrunk towards 0 by the prior (PRML §12.2.1, text
        after eq. 12.48); the shrinkage vanishes as σ² → 0.
        """
        return self.transform(X) @ self.W.T + self.b

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
        """Write W, b and σ² to a numvae checkpoint (kind ``"PPCA"``), atomically."""
        self._check_fitted()
        D, K = self.W.shape
        save_checkpoint(path, {"W": self.W, "b": self.b, "sigma2": np.array(self.sigma2)},
                        kind="PPCA", config={"n_components": K, "n_features": D})

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save`; ``ValueError`` naming the file and the mismatch if invalid."""
        arrays, meta = load_checkpoint(path, "PPCA")
        config = meta.get("config")
        if not isinstance(config, dict) or set(config) != {"n_components", "n_features"}:
            raise ValueError(f"checkpoint {path}: config must hold n_components and n_features; got {config!r}")
        try:
            K = check_int(config["n_components"], "n_components", 1)
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
            return cls.from_params(arrays["W"], arrays["b"], float(arrays["sigma2"]))
        except ValueError as exc:
            raise ValueError(f"checkpoint {path}: {exc}") from None
