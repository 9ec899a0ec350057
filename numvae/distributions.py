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

# A Python float, not np.float64: under NumPy 2 (NEP 50) a NumPy float64 scalar
# promotes float32 arrays to float64, a Python float does not.
LOG_2PI = float(np.log(2 * np.pi))


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

def gaussian_log_density(x, mu, logvar, check=True):
    r"""Log-density of a diagonal Gaussian, summed over the last axis.

    Parameters
    ----------
    x, mu, logvar : ndarray of shape (..., D), broadcastable
        Point, mean and log-variance :math:`\log\sigma^2`.
    check : bool
        Validate the inputs (finite, broadcastable). The models' inner loops,
        whose arrays they built themselves, pass False.

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
    if check:
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

def bernoulli_log_likelihood(x, logits, check=True):
    r"""Bernoulli log-likelihood from logits, summed over the last axis.

    Parameters
    ----------
    x : ndarray of shape (..., D), values in [0, 1]
        Targets (binary, or grey levels: then this is a cross-entropy, not a
        normalized density over [0, 1]; see the continuous Bernoulli).
    logits : ndarray of shape (..., D), broadcastable with `x`
        :math:`l = \log\frac{p}{1-p}`.
    check : bool
        Validate the inputs (finite, in [0, 1], broadcastable). The models'
        inner loops, whose arrays they built themselves, pass False.

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
    if check:
        x, logits = check_array(x, "x"), check_array(logits, "logits")
        check_unit_interval(x, "x")
        _broadcast("x", x, "logits", logits)
    return np.sum(x * logits - np.logaddexp(0.0, logits), axis=-1)


def bernoulli_log_likelihood_grad(x, logits):
    r"""Element-wise gradient of :func:`bernoulli_log_likelihood` with respect to `logits`.

    Notes
    -----
    .. math:: \frac{\partial}{\partial l}\bigl(xl - \operatorname{softplus}(l)\bigr) = x - \sigma(l)

    since :math:`\operatorname{softplus}'(l) = \sigma(l)`; ``expit`` computes
    :math:`\sigma` without overflow for any finite :math:`l`.
    """
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


# --- Continuous Bernoulli ----------------------------------------------------
#
# Loaiza-Ganem & Cunningham 2019, "The continuous Bernoulli: fixing a pervasive
# error in variational autoencoders" (NeurIPS). The Bernoulli likelihood of
# grey levels x in [0, 1] is not a density over [0, 1]; multiplying it by C(λ)
# makes it one. Everything is written in the logits l (λ = σ(l)), where
# C = l / tanh(l/2). Each closed form cancels catastrophically near l = 0 (the
# density is uniform there), so below a switch point a Taylor series takes
# over. The switch points were chosen by measuring the relative error of both
# branches against 50-digit mpmath on 400 log-spaced |l| in [1e-8, 3]; the
# largest error of the combined function is given next to each.

# log C(l) = log 2 + l²/12 − 7l⁴/1440 + 31l⁶/90720 − ...   (even in l)
_CB_LOGNORM_SWITCH = 1e-2          # max rel. error ≈ 1e-15 on both sides
_CB_LOGNORM_TAYLOR = (1 / 12, -7 / 1440, 31 / 90720)
# d log C/dl = 1/l − 1/sinh(l) = l/6 − 7l³/360 + 31l⁵/15120 − ...   (odd)
_CB_GRAD_SWITCH = 0.2              # max rel. error ≈ 2e-14 (closed form just above the switch)
_CB_GRAD_TAYLOR = (1 / 6, -7 / 360, 31 / 15120, -127 / 604800, 73 / 3421440,
                   -1414477 / 653837184000)
# mean(l) = 1/(1 − e^{−l}) − 1/l = ½ + l/12 − l³/720 + l⁵/30240 − ...
_CB_MEAN_SWITCH = 0.3              # max rel. error ≈ 1e-15
_CB_MEAN_TAYLOR = (1 / 12, -1 / 720, 1 / 30240, -1 / 1209600, 1 / 47900160)
_LOG2 = 0.6931471805599453         # a Python float: keeps float32 inputs float32


def _split_at(logits, switch):
    """Split `logits` at ``|l| = switch``: a Taylor series inside, the closed form outside.

    Returns ``(small, l_far, l_near)``: the mask of entries that use the series,
    and the argument each side is evaluated at. The closed form sees `switch`
    where the series is used (no log 0 or 0/0), the series sees 0 where the
    closed form is (no overflow), so neither unused branch makes a warning.
    """
    small = np.abs(logits) < switch
    return small, np.where(small, switch, logits), np.where(small, logits, 0.0)


def _even_poly(l2, coefs):
    """Horner evaluation of ``sum_i coefs[i] * l2**i``."""
    out = coefs[-1] * np.ones_like(l2)
    for c in coefs[-2::-1]:
        out = out * l2 + c
    return out


def continuous_bernoulli_log_norm(logits):
    r"""Log normalizing constant :math:`\log C(\lambda)` of the continuous Bernoulli, element-wise.

    Parameters
    ----------
    logits : ndarray of shape (...)
        :math:`l = \log\frac{\lambda}{1-\lambda}`, any finite value.

    Returns
    -------
    ndarray of shape (...), the dtype of `logits`

    Notes
    -----
    Loaiza-Ganem & Cunningham 2019, eq. 7:
    :math:`C(\lambda) = \frac{2\tanh^{-1}(1-2\lambda)}{1-2\lambda}` for
    :math:`\lambda\ne\tfrac12`, and 2 at :math:`\tfrac12`. With
    :math:`1-2\lambda = -\tanh(l/2)` and :math:`\tanh^{-1}(-\tanh(l/2)) = -l/2`,

    .. math:: C = \frac{l}{\tanh(l/2)}, \qquad
              \log C = \log|l| - \log|\tanh(l/2)|,\qquad
              \log|\tanh(l/2)| = \log\bigl(1-e^{-|l|}\bigr) - \log\bigl(1+e^{-|l|}\bigr)

    with :math:`\log(1-e^{-a})` computed as ``log(-expm1(-a))`` (the same
    quantity as ``log1p(-exp(-a))``, but without rounding :math:`e^{-a}`
    first: 1e-15 instead of 7e-14 relative error at :math:`a = 10^{-3}`). For
    :math:`|l| < 10^{-2}` the even Taylor series

    .. math:: \log C = \log 2 + \frac{l^2}{12} - \frac{7l^4}{1440} + \frac{31 l^6}{90720} - O(l^8)

    is used (derived from :math:`u\coth u = 1 + u^2/3 - u^4/45 + \dots`,
    :math:`u = l/2`; checked with sympy).
    """
    logits = check_array(logits, "logits")
    return _continuous_bernoulli_log_norm(logits)


def _continuous_bernoulli_log_norm(logits):
    """`continuous_bernoulli_log_norm` without input checks."""
    small, l_far, l_near = _split_at(logits, _CB_LOGNORM_SWITCH)
    a_far = np.abs(l_far)
    far = np.log(a_far) - np.log(-np.expm1(-a_far)) + np.log1p(np.exp(-a_far))
    l2 = l_near * l_near
    near = _LOG2 + l2 * _even_poly(l2, _CB_LOGNORM_TAYLOR)
    return np.where(small, near, far)


def continuous_bernoulli_log_norm_grad(logits):
    r"""Derivative of :func:`continuous_bernoulli_log_norm` with respect to the logits, element-wise.

    Notes
    -----
    .. math:: \frac{d\log C}{dl} = \frac1l - \frac{\tfrac12\operatorname{sech}^2(l/2)}{\tanh(l/2)}
              = \frac1l - \frac{1}{\sinh l}
              \approx \frac{l}{6} - \frac{7l^3}{360} + \frac{31l^5}{15120} - \dots

    :math:`1/\sinh l` is computed as
    :math:`\operatorname{sign}(l)\,2e^{-|l|}/(1-e^{-2|l|})`, which cannot
    overflow. The difference of two terms of size :math:`1/l` loses about
    :math:`6\cdot10^{-16}/l^2` relative precision, so the series (through
    :math:`l^{11}`) is used for :math:`|l| < 0.2`.
    """
    logits = check_array(logits, "logits")
    return _continuous_bernoulli_log_norm_grad(logits)


def _continuous_bernoulli_log_norm_grad(logits):
    """`continuous_bernoulli_log_norm_grad` without input checks."""
    small, l_far, l_near = _split_at(logits, _CB_GRAD_SWITCH)
    a_far = np.abs(l_far)
    far = 1.0 / l_far - np.sign(l_far) * 2.0 * np.exp(-a_far) / -np.expm1(-2.0 * a_far)
    near = l_near * _even_poly(l_near * l_near, _CB_GRAD_TAYLOR)
    return np.where(small, near, far)


def continuous_bernoulli_log_density(x, logits, check=True):
    r"""Continuous Bernoulli log-density from logits, summed over the last axis.

    Parameters
    ----------
    x : ndarray of shape (..., D), values in [0, 1]
    logits : ndarray of shape (..., D), broadcastable with `x`
    check : bool
        Validate the inputs; False in the models' inner loops.

    Returns
    -------
    ndarray of shape (...)

    Notes
    -----
    Loaiza-Ganem & Cunningham 2019, eq. 6:
    :math:`p(x|\lambda) = C(\lambda)\,\lambda^x(1-\lambda)^{1-x}` on
    :math:`[0, 1]`. In logits, like the Bernoulli,

    .. math:: \log p(x|l) = \sum_j x_j l_j - \operatorname{softplus}(l_j) + \log C(l_j)

    a proper density over :math:`[0,1]^D` (it integrates to 1), unlike
    :func:`bernoulli_log_likelihood` of grey levels.
    """
    if check:
        x, logits = check_array(x, "x"), check_array(logits, "logits")
        check_unit_interval(x, "x")
        _broadcast("x", x, "logits", logits)
    return _continuous_bernoulli_log_density(x, logits)


def _continuous_bernoulli_log_density(x, logits):
    """`continuous_bernoulli_log_density` without input checks, for the models' inner loops."""
    return np.sum(x * logits - np.logaddexp(0.0, logits) + _continuous_bernoulli_log_norm(logits), axis=-1)


def continuous_bernoulli_log_density_grad(x, logits):
    r"""Element-wise gradient of :func:`continuous_bernoulli_log_density` with respect to `logits`.

    Notes
    -----
    .. math:: \frac{\partial\log p}{\partial l} = x - \sigma(l) + \frac{d\log C}{dl}
              = x - \operatorname{E}[x\,|\,l]

    (the continuous Bernoulli is an exponential family with natural parameter
    :math:`l`, so the score is the data minus the mean; see
    :func:`continuous_bernoulli_mean`).
    """
    return x - expit(logits) + _continuous_bernoulli_log_norm_grad(logits)


def continuous_bernoulli_mean(logits, check=True):
    r"""Mean of the continuous Bernoulli, element-wise.

    Parameters
    ----------
    logits : ndarray of shape (...)
    check : bool
        Validate the input (finite); False in the models' inner loops.

    Returns
    -------
    ndarray of shape (...), values in (0, 1)

    Notes
    -----
    Loaiza-Ganem & Cunningham 2019, eq. 8:
    :math:`E[x] = \frac{\lambda}{2\lambda-1} + \frac{1}{2\tanh^{-1}(1-2\lambda)}`
    for :math:`\lambda\ne\tfrac12`, :math:`\tfrac12` at :math:`\tfrac12`. In
    logits, :math:`2\lambda-1 = \tanh(l/2)` and
    :math:`\sigma(l)/\tanh(l/2) = 1/(1-e^{-l})`, so

    .. math:: E[x] = \frac{1}{1-e^{-l}} - \frac1l
              \approx \frac12 + \frac{l}{12} - \frac{l^3}{720} + \frac{l^5}{30240} - \dots

    (the derivative of :math:`\log\int_0^1 e^{lx}dx = \log\frac{e^l-1}{l}`).
    The first term is evaluated as :math:`1/(1-e^{-|l|})` for :math:`l>0` and
    :math:`-e^{-|l|}/(1-e^{-|l|})` for :math:`l<0` (no overflow); the series
    (through :math:`l^9`) is used for :math:`|l| < 0.3`. It is not
    :math:`\lambda`: the continuous Bernoulli's mean is pulled towards ½.
    """
    if check:
        logits = check_array(logits, "logits")
    return _continuous_bernoulli_mean(logits)


def _continuous_bernoulli_mean(logits):
    """`continuous_bernoulli_mean` without input checks."""
    small, l_far, l_near = _split_at(logits, _CB_MEAN_SWITCH)
    a_far = np.abs(l_far)
    first = np.where(l_far > 0, 1.0, -np.exp(-a_far)) / -np.expm1(-a_far)
    far = first - 1.0 / l_far
    near = 0.5 + l_near * _even_poly(l_near * l_near, _CB_MEAN_TAYLOR)
    return np.where(small, near, far)
