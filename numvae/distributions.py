r"""Log-densities, KL divergences and entropies: the probability every model uses.

Every function here is vectorised over leading batch dimensions and sums over
the last axis (one event per row), so a batch ``(N, D)`` gives ``(N,)`` and a
stack of samples ``(L, N, D)`` gives ``(L, N)``. Where a later module
backpropagates through a density, its gradient sits right after it, as the
derivative of the *summed* value with respect to each input element.

All log-densities are in nats.
"""

import numpy as np
from scipy.special import expit, logsumexp

from numvae.checks import check_array, check_unit_interval

LOG_2PI = np.log(2 * np.pi)


def _broadcast(name_a, a, name_b, b):
    """Check that `a` and `b` broadcast and agree on the event (last) axis."""
    try:
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{name_a} and {name_b} must have broadcastable shapes; "
                         f"got {a.shape} and {b.shape}") from None
    if a.ndim and b.ndim and a.shape[-1] != b.shape[-1]:
        raise ValueError(f"{name_a} and {name_b} must have the same last (event) dimension; "
                         f"got {a.shape} and {b.shape}")
    return shape


# --- Diagonal Gaussian -------------------------------------------------------

def gaussian_log_density(x, mu, logvar):
    r"""Log-density of a diagonal Gaussian, summed over the last axis.

    Parameters
    ----------
    x, mu, logvar : ndarray of shape (..., D), broadcastable
        Point, mean and log-variance :math:`\log\sigma^2`.

    Returns
    -------
    ndarray of shape (...)

    Notes
    -----
    .. math:: \log\mathcal N(x;\mu,\operatorname{diag}\sigma^2)
              = -\tfrac12\sum_j\bigl[\log 2\pi + \log\sigma_j^2 + (x_j-\mu_j)^2/\sigma_j^2\bigr]

    The Gaussian of lecture 000 (*VAE*, the diagonal posterior) and of the
    Gaussian decoder.
    """
    x, mu, logvar = (check_array(a, n) for a, n in ((x, "x"), (mu, "mu"), (logvar, "logvar")))
    _broadcast("x", x, "mu", mu)
    _broadcast("x", x, "logvar", logvar)
    return _gaussian_log_density(x, mu, logvar)


def _gaussian_log_density(x, mu, logvar):
    """`gaussian_log_density` without input checks, for the models' inner loops."""
    return -0.5 * np.sum(LOG_2PI + logvar + (x - mu) ** 2 * np.exp(-logvar), axis=-1)


def gaussian_log_density_grad(x, mu, logvar):
    r"""Gradient of :func:`gaussian_log_density` (the sum) with respect to `mu` and `logvar`.

    Returns
    -------
    dmu, dlogvar : ndarray of the broadcast shape of the inputs
        Element-wise derivatives. Where `logvar` was broadcast (one variance
        shared over a batch) the caller sums `dlogvar` over the broadcast axes.

    Notes
    -----
    With :math:`r = x-\mu` and :math:`\lambda = \log\sigma^2`:

    .. math:: \partial/\partial\mu = r\,e^{-\lambda}, \qquad
              \partial/\partial\lambda = \tfrac12\bigl(r^2 e^{-\lambda} - 1\bigr).
    """
    precision = np.exp(-logvar)
    r = x - mu
    dmu = r * precision
    dlogvar = 0.5 * (r * dmu - 1.0)
    return dmu, dlogvar


def gaussian_entropy(logvar):
    r"""Entropy of a diagonal Gaussian, summed over the last axis.

    Notes
    -----
    .. math:: H = \tfrac12\sum_j\bigl(1 + \log 2\pi + \log\sigma_j^2\bigr)

    The :math:`H(q(z|x))` of the ELBO form :math:`E_q\log p(x,z) + H(q)`
    (lecture 001, *Variational Autoencoders*): it grows with every
    :math:`\log\sigma_j^2`, which is why maximizing it pushes σ up.
    """
    logvar = check_array(logvar, "logvar")
    return 0.5 * np.sum(1.0 + LOG_2PI + logvar, axis=-1)


# --- KL divergences ----------------------------------------------------------

def kl_standard_normal_terms(mu, logvar):
    r"""Per-dimension KL of :math:`\mathcal N(\mu_j,\sigma_j^2)` from :math:`\mathcal N(0,1)`.

    Returns ``-0.5 * (1 + logvar - mu**2 - exp(logvar))`` element-wise, shape
    of the broadcast inputs. Its sum over the last axis is
    :func:`kl_standard_normal`; free bits need the terms one dimension at a time.
    """
    return -0.5 * (1.0 + logvar - mu * mu - np.exp(logvar))


def kl_standard_normal(mu, logvar):
    r"""Closed-form :math:`KL(\mathcal N(\mu,\operatorname{diag}\sigma^2)\,\|\,\mathcal N(0,I))`.

    Parameters
    ----------
    mu, logvar : ndarray of shape (..., K)

    Returns
    -------
    ndarray of shape (...), non-negative

    Notes
    -----
    .. math:: KL = -\tfrac12\sum_j\bigl(1 + \log\sigma_j^2 - \mu_j^2 - \sigma_j^2\bigr)

    Lecture 000 (*VAE*) writes the ELBO with :math:`+\tfrac12\sum(\dots)`,
    which is :math:`-KL`: the sign the ELBO subtracts. Kingma & Welling 2014,
    appendix B.
    """
    mu, logvar = check_array(mu, "mu"), check_array(logvar, "logvar")
    _broadcast("mu", mu, "logvar", logvar)
    return np.sum(kl_standard_normal_terms(mu, logvar), axis=-1)


def kl_standard_normal_grad(mu, logvar):
    r"""Element-wise gradient of :func:`kl_standard_normal` with respect to `mu` and `logvar`.

    Notes
    -----
    .. math:: \partial KL/\partial\mu_j = \mu_j, \qquad
              \partial KL/\partial\log\sigma_j^2 = \tfrac12\bigl(\sigma_j^2 - 1\bigr)
    """
    return mu, 0.5 * np.expm1(logvar)


def kl_gaussians(mu1, cov1, mu2, cov2):
    r"""KL divergence :math:`KL(\mathcal N(\mu_1,\Sigma_1)\,\|\,\mathcal N(\mu_2,\Sigma_2))`, full covariances.

    Parameters
    ----------
    mu1, mu2 : ndarray of shape (..., d)
    cov1, cov2 : ndarray of shape (..., d, d)
        Symmetric positive definite.

    Returns
    -------
    ndarray of shape (...)

    Notes
    -----
    Lecture 003 (*Generative Modelling: VAE*, KL between two Gaussians):

    .. math:: KL = \tfrac12\Bigl[\log\frac{|\Sigma_2|}{|\Sigma_1|} - d
              + \operatorname{tr}(\Sigma_2^{-1}\Sigma_1)
              + (\mu_2-\mu_1)^\top\Sigma_2^{-1}(\mu_2-\mu_1)\Bigr]

    Computed from Cholesky factors :math:`\Sigma_i = L_iL_i^\top`:
    :math:`\log|\Sigma_i| = 2\sum\log\operatorname{diag}L_i` (no determinant
    to overflow), :math:`\operatorname{tr}(\Sigma_2^{-1}\Sigma_1) = \|L_2^{-1}L_1\|_F^2`
    and the Mahalanobis term :math:`\|L_2^{-1}(\mu_2-\mu_1)\|^2`, with
    triangular solves instead of an explicit inverse.
    """
    mu1, mu2 = check_array(mu1, "mu1"), check_array(mu2, "mu2")
    cov1, cov2 = check_array(cov1, "cov1"), check_array(cov2, "cov2")
    d = mu1.shape[-1] if mu1.ndim else 0
    for name, mu in (("mu1", mu1), ("mu2", mu2)):
        if mu.ndim < 1 or mu.shape[-1] != d:
            raise ValueError(f"{name} must have shape (..., {d}); got {mu.shape}")
    for name, cov in (("cov1", cov1), ("cov2", cov2)):
        if cov.ndim < 2 or cov.shape[-2:] != (d, d):
            raise ValueError(f"{name} must have shape (..., {d}, {d}) to match mu1; got {cov.shape}")
    try:
        batch = np.broadcast_shapes(mu1.shape[:-1], mu2.shape[:-1], cov1.shape[:-2], cov2.shape[:-2])
    except ValueError:
        raise ValueError(f"batch shapes of mu1 {mu1.shape}, cov1 {cov1.shape}, mu2 {mu2.shape} "
                         f"and cov2 {cov2.shape} do not broadcast") from None
    L1, L2 = _cholesky(cov1, "cov1"), _cholesky(cov2, "cov2")
    L2_b = np.broadcast_to(L2, batch + (d, d))
    A = np.linalg.solve(L2_b, np.broadcast_to(L1, batch + (d, d)))          # L2⁻¹ L1, (..., d, d)
    m = np.linalg.solve(L2_b, np.broadcast_to(mu2 - mu1, batch + (d,))[..., None])[..., 0]  # (..., d)
    logdet1 = 2 * np.log(np.diagonal(L1, axis1=-2, axis2=-1)).sum(-1)
    logdet2 = 2 * np.log(np.diagonal(L2, axis1=-2, axis2=-1)).sum(-1)
    trace = (A ** 2).sum(axis=(-2, -1))
    return 0.5 * (logdet2 - logdet1 - d + trace + (m ** 2).sum(-1))


def _cholesky(cov, name):
    """Cholesky factor of `cov`, or ``ValueError`` naming it if it is not symmetric positive definite."""
    sym_err = np.abs(cov - np.swapaxes(cov, -1, -2)).max() if cov.size else 0.0
    if sym_err > 1e-8 * max(1.0, np.abs(cov).max()):
        raise ValueError(f"{name} must be symmetric; largest asymmetry {sym_err:.3g}")
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise ValueError(f"{name} must be positive definite; its Cholesky factorization failed") from None


# --- Bernoulli ---------------------------------------------------------------

def bernoulli_log_likelihood(x, logits):
    r"""Bernoulli log-likelihood from logits, summed over the last axis.

    Parameters
    ----------
    x : ndarray of shape (..., D), values in [0, 1]
        Targets (binary, or grey levels: then this is a cross-entropy, not a
        normalized density over [0, 1]; see the continuous Bernoulli).
    logits : ndarray of shape (..., D), broadcastable with `x`
        :math:`l = \log\frac{p}{1-p}`.

    Returns
    -------
    ndarray of shape (...)

    Notes
    -----
    .. math:: \sum_j x_j\log\sigma(l_j) + (1-x_j)\log(1-\sigma(l_j))
              = \sum_j x_j l_j - \operatorname{softplus}(l_j)

    using :math:`\log\sigma(l) = l - \operatorname{softplus}(l)` and
    :math:`\log(1-\sigma(l)) = -\operatorname{softplus}(l)`, with
    ``softplus(l) = logaddexp(0, l)`` exact for any finite :math:`l` (no
    :math:`\log 0` when :math:`\sigma(l)` rounds to 0 or 1). The decoder of
    the deep latent variable model of lecture 002 (*Deep latent variable
    models*).
    """
    x, logits = check_array(x, "x"), check_array(logits, "logits")
    check_unit_interval(x, "x")
    _broadcast("x", x, "logits", logits)
    return _bernoulli_log_likelihood(x, logits)


def _bernoulli_log_likelihood(x, logits):
    """`bernoulli_log_likelihood` without input checks, for the models' inner loops."""
    return np.sum(x * logits - np.logaddexp(0.0, logits), axis=-1)


def bernoulli_log_likelihood_grad(x, logits):
    r"""Element-wise gradient of :func:`bernoulli_log_likelihood` with respect to `logits`: :math:`x - \sigma(l)`."""
    return x - expit(logits)


# --- Numerics ----------------------------------------------------------------

def logmeanexp(a, axis=None):
    r"""Stable :math:`\log\frac1n\sum_i e^{a_i}` along `axis`.

    Notes
    -----
    :math:`\operatorname{logsumexp}(a) - \log n`, where logsumexp shifts by the
    maximum so nothing overflows. It is the outer operation of the
    importance-sampled likelihood (lecture 002, eq. 9). ``-inf`` entries
    (zero weights) are allowed; if all are ``-inf`` the result is ``-inf``.
    """
    a = check_array(a, "a", finite=False)
    if np.isnan(a).any() or np.isposinf(a).any():
        raise ValueError("a must not contain NaN or +inf")
    n = a.size if axis is None else a.shape[axis]
    if n == 0:
        raise ValueError(f"a must have at least one entry along axis {axis}; got shape {a.shape}")
    return logsumexp(a, axis=axis) - np.log(n)
