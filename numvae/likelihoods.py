r"""The decoder likelihoods :math:`p_\theta(x|z)`: one small object per family.

The decoder MLP maps z to one output per pixel (logits, or a mean); a
likelihood turns that output into

* ``log_prob(x, out)``: :math:`\log p(x|z)` per sample and datapoint, shape (L, N);
* ``grad(x, out)``: its gradient with respect to ``out``, element by element;
* ``backward(x, out, weight)``: the log-likelihood and ``weight`` times its
  gradient with respect to ``out`` (what the decoder's backward takes), while
  setting ``weight`` times the gradient with respect to the family's own
  parameters (the Gaussian's learned log-variance) in ``grads``; ``weight``
  is one number (the ELBO's :math:`-1/(NL)`) or one per sample and
  datapoint, shape (L, N) (the importance weights of ``numvae.objectives.IWAE``);
* ``mean(out)``: :math:`E[x|z]`, what ``VAE.decode`` returns;
* ``check_x(x, name)``: the data's support, and ``example_x(rng, shape)``:
  data in it (for gradient checks).

Families: :class:`Bernoulli` (lecture 002, *Deep latent variable models*),
:class:`ContinuousBernoulli` (Loaiza-Ganem & Cunningham 2019),
:class:`Gaussian` with a log-variance learned per pixel, learned and shared, or
fixed, and :class:`Poisson` for counts. Each declares its ``name`` and the
decoder variances it supports; :data:`LIKELIHOODS` registers them, and
:func:`make_likelihood` builds one from the VAE's constructor arguments. A new
family is one class here and its entry in :data:`LIKELIHOODS`.
"""

import numpy as np
from scipy.special import expit, gammaln

from numvae.checks import check_unit_interval, registry
from numvae.distributions import (
    bernoulli_log_likelihood,
    bernoulli_log_likelihood_grad,
    continuous_bernoulli_log_density,
    continuous_bernoulli_log_density_grad,
    continuous_bernoulli_mean,
    gaussian_log_density,
    gaussian_log_density_grad,
)

DECODER_VARS = ("pixel", "shared", "fixed")


def per_element(weight):
    """`weight` ready to multiply an (L, N, D) gradient: a number as it is, an (L, N) array with a trailing axis."""
    return weight if np.ndim(weight) == 0 else weight[..., None]


class Likelihood:
    """What every family shares: its data size and dtype, and no parameters of its own by default.

    Subclasses declare ``name`` and define ``log_prob``, ``grad`` and ``mean``
    (and ``backward`` if they have parameters); the docstrings here are theirs too.
    """

    name = None
    # What data the family accepts, in words for error messages ("" for any finite data).
    support = ""
    # The decoder variances (VAE's decoder_var) the family supports; () for none: it ignores decoder_var.
    variances = ()

    def __init__(self, x_dim, dtype):
        self.x_dim, self.dtype = x_dim, dtype
        self.params, self.grads = {}, {}

    @classmethod
    def build(cls, x_dim, dtype, var="pixel", logvar=0.0):
        """The family from the VAE's arguments; a family without a variance ignores `var` and `logvar`."""
        return cls(x_dim, dtype)

    def check_x(self, x, name="x"):
        """Raise ``ValueError`` naming `name` if `x` is outside the family's support; return `x`."""
        return x

    @staticmethod
    def example_x(rng, shape):
        """Random data well inside the support, away from its edges: what a gradient check feeds."""
        return rng.normal(size=shape)

    def log_prob(self, x, out):
        """log p(x|z), shape (L, N), of `x` (N, D) given the decoder output `out` (L, N, D)."""
        raise NotImplementedError

    def grad(self, x, out):
        """The element-wise gradient of :meth:`log_prob` with respect to `out`, shape (L, N, D)."""
        raise NotImplementedError

    def backward(self, x, out, weight):
        """``(log_prob, dout)``: the log-likelihood (L, N) and ``weight`` times its gradient in `out` (L, N, D).

        `weight` is a number or an (L, N) array (one per sample and datapoint).
        A family with parameters of its own also sets its entries of ``grads``.
        """
        return self.log_prob(x, out), per_element(weight) * self.grad(x, out)

    def mean(self, out):
        """E[x|z], shape of `out`: the decoded image."""
        raise NotImplementedError


class Bernoulli(Likelihood):
    r""":math:`\log p(x|l) = \sum_j x_jl_j - \operatorname{softplus}(l_j)`; x in [0, 1] (grey levels: a cross-entropy)."""

    name = "bernoulli"
    support = "data in [0, 1]"

    def check_x(self, x, name="x"):
        return check_unit_interval(x, name)

    @staticmethod
    def example_x(rng, shape):
        return rng.uniform(0.02, 0.98, size=shape)

    def log_prob(self, x, out):
        return bernoulli_log_likelihood(x, out, check=False)                          # (L, N)

    def grad(self, x, out):
        r"""Element-wise :math:`\partial\log p/\partial l = x - \sigma(l)`, shape (L, N, D)."""
        return bernoulli_log_likelihood_grad(x, out)

    def mean(self, out):
        r""":math:`\sigma(l)`."""
        return expit(out)


class ContinuousBernoulli(Likelihood):
    r"""The Bernoulli times its normalizer C(l): a density on :math:`[0, 1]^D` (Loaiza-Ganem & Cunningham 2019, eq. 6)."""

    name = "continuous_bernoulli"
    support = Bernoulli.support
    check_x = Bernoulli.check_x
    example_x = Bernoulli.example_x

    def log_prob(self, x, out):
        return continuous_bernoulli_log_density(x, out, check=False)                  # (L, N)

    def grad(self, x, out):
        return continuous_bernoulli_log_density_grad(x, out)

    def mean(self, out):
        """The continuous Bernoulli's mean (eq. 8), pulled towards ½: not σ(l)."""
        return continuous_bernoulli_mean(out, check=False)


class Gaussian(Likelihood):
    r""":math:`\mathcal N(x;\ \text{out},\ \operatorname{diag}\,e^{\lambda})` with :math:`\lambda` per pixel, shared, or fixed.

    Parameters
    ----------
    x_dim : int
    dtype : numpy dtype
    var : {"pixel", "shared", "fixed"}
        Learned log-variance of shape (D,) or (1,) (parameter ``"logvar"``),
        or the constant `logvar`.
    logvar : float
        The initial (or fixed) log-variance.
    """

    name = "gaussian"
    variances = DECODER_VARS

    @classmethod
    def build(cls, x_dim, dtype, var="pixel", logvar=0.0):
        """The Gaussian with the VAE's `decoder_var` and `decoder_logvar`."""
        return cls(x_dim, dtype, var, logvar)

    def __init__(self, x_dim, dtype, var="pixel", logvar=0.0):
        super().__init__(x_dim, dtype)
        self.var = var
        self._fixed = np.full((1,), logvar, dtype=dtype)                              # the log-variance if not learned
        if var != "fixed":
            shape = (x_dim if var == "pixel" else 1,)
            self.params = {"logvar": np.full(shape, logvar, dtype=dtype)}
            self.grads = {"logvar": np.zeros(shape, dtype=dtype)}

    def _logvar(self, dtype):
        """The log-variance, shape (D,) or (1,), in `dtype`."""
        return self.params.get("logvar", self._fixed).astype(dtype, copy=False)

    def log_prob(self, x, out):
        return gaussian_log_density(x, out, self._logvar(out.dtype), check=False)     # (L, N)

    def grad(self, x, out):
        return gaussian_log_density_grad(x, out, self._logvar(out.dtype))[0]

    def backward(self, x, out, weight):
        r"""Also sets ``grads["logvar"]``: ``weight`` times :math:`\tfrac12(r^2e^{-\lambda} - 1)` summed over samples and datapoints."""
        dout, dlogvar = gaussian_log_density_grad(x, out, self._logvar(out.dtype))     # (L, N, D) each
        w = per_element(weight)
        if self.var == "pixel":
            self.grads = {"logvar": (w * dlogvar).sum(axis=(0, 1))}                    # (D,)
        elif self.var == "shared":
            self.grads = {"logvar": (w * dlogvar).sum().reshape(1)}                    # (1,): shared by all pixels
        return self.log_prob(x, out), w * dout

    def mean(self, out):
        return out


class Poisson(Likelihood):
    r"""Counts: :math:`\log p(x|l) = \sum_j x_jl_j - e^{l_j} - \log x_j!`, the decoder's output :math:`l` the log-rate.

    The Poisson distribution with rate :math:`\lambda = e^l` has
    :math:`\log p(x) = x\log\lambda - \lambda - \log x!`, so

    .. math:: \frac{\partial\log p}{\partial l} = x - e^{l},\qquad E[x|l] = e^{l}

    (an exponential family with natural parameter :math:`l`: the score is the
    data minus the mean). :math:`\log x! = \log\Gamma(x + 1)` does not depend
    on the parameters; it makes the probabilities over :math:`x = 0, 1, \dots`
    sum to one. For count data such as the UCI digits before scaling (0 to 16
    "on" pixels in each 4 × 4 block).
    """

    name = "poisson"
    support = "counts (integers >= 0)"

    def check_x(self, x, name="x"):
        bad = x[(x < 0) | (x != np.round(x))]
        if bad.size:
            raise ValueError(f"{name} must hold counts (integers >= 0); got {float(bad.flat[0])!r}")
        return x

    @staticmethod
    def example_x(rng, shape):
        return rng.poisson(1.5, size=shape).astype(np.float64)

    def log_prob(self, x, out):
        return np.sum(x * out - np.exp(out) - gammaln(x + 1), axis=-1)                # (L, N)

    def grad(self, x, out):
        return x - np.exp(out)

    def mean(self, out):
        return np.exp(out)


LIKELIHOODS = registry(Bernoulli, ContinuousBernoulli, Gaussian, Poisson)


def make_likelihood(decoder, x_dim, dtype, decoder_var="pixel", decoder_logvar=0.0):
    """The family named `decoder` (one of :data:`LIKELIHOODS`), built from the VAE's arguments."""
    return LIKELIHOODS[decoder].build(x_dim, dtype, decoder_var, decoder_logvar)
