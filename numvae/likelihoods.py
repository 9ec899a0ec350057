r"""The decoder likelihoods :math:`p_\theta(x|z)`: one small object per family.

The decoder MLP maps z to one output per pixel (logits, or a mean); a
likelihood turns that output into

* ``log_prob(x, out)``: :math:`\log p(x|z)` per sample and datapoint, shape (L, N);
* ``grad(x, out)``: its gradient with respect to ``out``, element by element;
* ``backward(x, out, weight)``: the log-likelihood and ``weight`` times its
  gradient with respect to ``out`` (what the decoder's backward takes), while
  setting ``weight`` times the gradient with respect to the family's own
  parameters (the Gaussian's learned log-variance) in ``grads``;
* ``mean(out)``: :math:`E[x|z]`, what ``VAE.decode`` returns;
* ``check_x(x)``: the data's support.

Families: :class:`Bernoulli` (lecture 002, *Deep latent variable models*),
:class:`ContinuousBernoulli` (Loaiza-Ganem & Cunningham 2019) and
:class:`Gaussian` with a log-variance learned per pixel, learned and shared, or
fixed. :func:`make_likelihood` picks one from the VAE's constructor arguments.
"""

import numpy as np
from scipy.special import expit

from numvae.checks import check_unit_interval
from numvae.distributions import (
    bernoulli_log_likelihood,
    bernoulli_log_likelihood_grad,
    continuous_bernoulli_log_density,
    continuous_bernoulli_log_density_grad,
    continuous_bernoulli_mean,
    gaussian_log_density,
    gaussian_log_density_grad,
)

DECODERS = ("bernoulli", "continuous_bernoulli", "gaussian")
DECODER_VARS = ("pixel", "shared", "fixed")


class Likelihood:
    """What every family shares: its data size and dtype, and no parameters of its own by default.

    Subclasses define ``log_prob``, ``grad`` and ``mean`` (and ``backward``
    if they have parameters); the docstrings here are theirs too.
    """

    def __init__(self, x_dim, dtype):
        self.x_dim, self.dtype = x_dim, dtype
        self.params, self.grads = {}, {}

    def check_x(self, x):
        """Raise ``ValueError`` if `x` is outside the family's support; return `x`."""
        return x

    def log_prob(self, x, out):
        """log p(x|z), shape (L, N), of `x` (N, D) given the decoder output `out` (L, N, D)."""
        raise NotImplementedError

    def grad(self, x, out):
        """The element-wise gradient of :meth:`log_prob` with respect to `out`, shape (L, N, D)."""
        raise NotImplementedError

    def backward(self, x, out, weight):
        """``(log_prob, dout)``: the log-likelihood (L, N) and ``weight`` times its gradient in `out` (L, N, D).

        A family with parameters of its own also sets its entries of ``grads``.
        """
        return self.log_prob(x, out), weight * self.grad(x, out)

    def mean(self, out):
        """E[x|z], shape of `out`: the decoded image."""
        raise NotImplementedError


class Bernoulli(Likelihood):
    r""":math:`\log p(x|l) = \sum_j x_jl_j - \operatorname{softplus}(l_j)`; x in [0, 1] (grey levels: a cross-entropy)."""

    def check_x(self, x):
        return check_unit_interval(x, "x")

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

    def check_x(self, x):
        return check_unit_interval(x, "x")

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
        if self.var == "pixel":
            self.grads = {"logvar": weight * dlogvar.sum(axis=(0, 1))}                 # (D,)
        elif self.var == "shared":
            self.grads = {"logvar": weight * dlogvar.sum().reshape(1)}                 # (1,): shared by all pixels
        return self.log_prob(x, out), weight * dout

    def mean(self, out):
        return out


def make_likelihood(decoder, x_dim, dtype, decoder_var="pixel", decoder_logvar=0.0):
    """The likelihood object named by the VAE's `decoder` (and, for the Gaussian, `decoder_var`) arguments."""
    if decoder == "gaussian":
        return Gaussian(x_dim, dtype, decoder_var, decoder_logvar)
    return {"bernoulli": Bernoulli, "continuous_bernoulli": ContinuousBernoulli}[decoder](x_dim, dtype)
