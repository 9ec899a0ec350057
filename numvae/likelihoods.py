r"""The decoder likelihoods :math:`p_\theta(x|z)`: one small object per family.

The decoder MLP maps z to one output per pixel (logits, or a mean); a
likelihood turns that output into

* ``log_prob(x, out)``: :math:`\log p(x|z)` per sample and datapoint, shape (L, N);
* ``backward(x, out, weight)``: the same, and ``weight`` times its gradient with
  respect to ``out`` (what the decoder's backward takes), while adding
  ``weight`` times its gradient with respect to its own parameters (the
  Gaussian's learned log-variance) into its gradient buffers;
* ``mean(out)``: :math:`E[x|z]`, what ``VAE.decode`` returns;
* ``check_x(x)``: the data's support.

Families: :class:`Bernoulli` (lecture 002, *Deep latent variable models*),
:class:`ContinuousBernoulli` (Loaiza-Ganem & Cunningham 2019) and
:class:`Gaussian` with a log-variance learned per pixel, learned and shared, or
fixed. :func:`make_likelihood` picks one from the VAE's constructor arguments.

The Bernoulli is the training fast path (issue 8 of the project): its
log-likelihood and gradient share one ``exp(-|l|)`` and are computed in
scratch arrays kept from one call to the next, so a training step allocates
nothing for them. The arrays it returns from ``backward`` are those buffers:
the next call overwrites them.
"""

import numpy as np
from scipy.special import expit

from numvae.checks import check_unit_interval
from numvae.distributions import (
    bernoulli_log_likelihood_and_grad_into,
    bernoulli_log_likelihood_grad,
    bernoulli_log_likelihood_into,
    continuous_bernoulli_log_density,
    continuous_bernoulli_log_density_grad,
    continuous_bernoulli_mean,
    gaussian_log_density,
    gaussian_log_density_grad,
)

DECODERS = ("bernoulli", "continuous_bernoulli", "gaussian")
DECODER_VARS = ("pixel", "shared", "fixed")


class Likelihood:
    """What every family shares: no parameters of its own, reusable scratch buffers.

    Subclasses define ``log_prob``, ``backward``, ``grad`` and ``mean``; the
    docstrings here are theirs too.
    """

    def __init__(self, x_dim, dtype):
        self.x_dim, self.dtype = x_dim, dtype
        self.params, self.grads = {}, {}
        self.buffers = {}
        self.halves = None      # a numvae.halves.Halves: row-wise work on two threads (Bernoulli)

    def param_shapes(self):
        """``{name: shape}`` of the parameters this likelihood learns (none by default)."""
        return {}

    def bind(self, params, grads):
        """Take the arrays (views of the model's flat storage) that hold :meth:`param_shapes`."""
        self.params, self.grads = params, grads

    def check_x(self, x):
        """Raise ``ValueError`` if `x` is outside the family's support; return `x`."""
        return x

    def log_prob(self, x, out, reuse=False):
        """log p(x|z), shape (L, N), of `x` (N, D) given the decoder output `out` (L, N, D).

        `reuse`: the result may live in the family's scratch buffers (valid until the next call).
        """
        raise NotImplementedError

    def backward(self, x, out, weight):
        """``(log_prob, dout)``: the log-likelihood (L, N) and ``weight`` times its gradient in `out` (L, N, D).

        A family with parameters of its own also fills its entries of ``grads``.
        """
        raise NotImplementedError

    def grad(self, x, out):
        """The element-wise gradient of :meth:`log_prob` with respect to `out`, a new array (L, N, D)."""
        raise NotImplementedError

    def mean(self, out):
        """E[x|z], shape of `out`: the decoded image."""
        raise NotImplementedError

    def _by_rows(self, fn, x, out):
        """``fn(rows)`` over the datapoints of `x` (N, D) and `out` (..., N, D): in one call, or in halves on two threads.

        Two threads when :attr:`halves` is set (``VAE.threads = 2``); `fn`
        writes only its own rows, so the result is the same either way.
        """
        if self.halves is None:
            fn(slice(None))
        else:
            self.halves.rows(fn, x.shape[0], out.size // x.shape[0])

    def _buffer(self, key, shape):
        """A scratch array of `shape` kept under `key` and reused by the next call with that shape."""
        buf = self.buffers.get(key)
        if buf is None or buf.shape != shape:
            buf = self.buffers[key] = np.empty(shape, dtype=self.dtype)
        return buf


class Bernoulli(Likelihood):
    r""":math:`\log p(x|l) = \sum_j x_jl_j - \operatorname{softplus}(l_j)`; x in [0, 1] (grey levels: a cross-entropy)."""

    def check_x(self, x):
        return check_unit_interval(x, "x")

    def log_prob(self, x, out, reuse=False):
        """(L, N) log-likelihood of `x` (N, D) under logits `out` (L, N, D); `reuse`: in the scratch buffers."""
        if not reuse:
            return bernoulli_log_likelihood_into(x, out)                               # (L, N)
        buf, tmp = self._buffer("dlogp_dout", out.shape), self._buffer("scratch", out.shape)
        log_px = np.empty(out.shape[:-1], dtype=self.dtype)                            # (L, N)

        def rows(r):
            log_px[..., r] = bernoulli_log_likelihood_into(x[r], out[..., r, :], out=buf[..., r, :],
                                                            tmp=tmp[..., r, :])
        self._by_rows(rows, x, out)
        return log_px

    def backward(self, x, out, weight):
        r"""Log-likelihood (L, N) and ``weight`` :math:`\cdot(x - \sigma(l))` (L, N, D), in one pass into the buffers."""
        dout, tmp = self._buffer("dlogp_dout", out.shape), self._buffer("scratch", out.shape)
        log_px = np.empty(out.shape[:-1], dtype=self.dtype)                            # (L, N)

        def rows(r):
            log_px[..., r], d = bernoulli_log_likelihood_and_grad_into(x[r], out[..., r, :], dout[..., r, :],
                                                                        tmp[..., r, :])
            d *= weight                                                                # in place in dout
        self._by_rows(rows, x, out)
        return log_px, dout

    def grad(self, x, out):
        r"""Element-wise :math:`\partial\log p/\partial l = x - \sigma(l)`, a new array (L, N, D)."""
        return bernoulli_log_likelihood_grad(x, out)

    def mean(self, out):
        r""":math:`\sigma(l)`."""
        return expit(out)


class ContinuousBernoulli(Likelihood):
    r"""The Bernoulli times its normalizer C(l): a density on :math:`[0, 1]^D` (Loaiza-Ganem & Cunningham 2019, eq. 6)."""

    def check_x(self, x):
        return check_unit_interval(x, "x")

    def log_prob(self, x, out, reuse=False):
        return continuous_bernoulli_log_density(x, out, check=False)                  # (L, N)

    def backward(self, x, out, weight):
        dout = continuous_bernoulli_log_density_grad(x, out)                           # (L, N, D)
        dout *= weight
        return self.log_prob(x, out), dout

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
        self.var, self.logvar0 = var, float(logvar)
        self._fixed = np.full((1,), logvar, dtype=dtype)

    def param_shapes(self):
        return {} if self.var == "fixed" else {"logvar": (self.x_dim if self.var == "pixel" else 1,)}

    def bind(self, params, grads):
        super().bind(params, grads)
        if "logvar" in params:
            params["logvar"][...] = self.logvar0

    def _logvar(self, dtype):
        """The log-variance, shape (D,) or (1,), in `dtype`."""
        return self.params.get("logvar", self._fixed).astype(dtype, copy=False)

    def log_prob(self, x, out, reuse=False):
        return gaussian_log_density(x, out, self._logvar(out.dtype), check=False)     # (L, N)

    def backward(self, x, out, weight):
        dout, dlv = gaussian_log_density_grad(x, out, self._logvar(out.dtype))         # (L, N, D) each
        dout *= weight
        if "logvar" in self.grads:
            dlv = dlv * weight                                                         # (L, N, D)
            if self.var == "pixel":
                dlv.sum(axis=(0, 1), out=self.grads["logvar"])                         # (D,)
            else:
                self.grads["logvar"][0] = dlv.sum()                                    # (1,): shared by all pixels
        return self.log_prob(x, out), dout

    def grad(self, x, out):
        return gaussian_log_density_grad(x, out, self._logvar(out.dtype))[0]

    def mean(self, out):
        return out


def make_likelihood(decoder, x_dim, dtype, decoder_var="pixel", decoder_logvar=0.0):
    """The likelihood object named by the VAE's `decoder` (and, for the Gaussian, `decoder_var`) arguments."""
    if decoder == "gaussian":
        return Gaussian(x_dim, dtype, decoder_var, decoder_logvar)
    return {"bernoulli": Bernoulli, "continuous_bernoulli": ContinuousBernoulli}[decoder](x_dim, dtype)
