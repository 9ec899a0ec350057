r"""Fast twins of the likelihood families: the same numbers as ``numvae.likelihoods``, computed otherwise.

* :class:`Bernoulli` computes :math:`\log p(x|l)` and :math:`x - \sigma(l)`
  in one fused pass (``numvae.fast.kernels``) into scratch arrays it keeps
  from one call to the next, optionally over the two halves of the rows on
  two threads (``numvae.fast.halves``: every row gets the same operations,
  so the numbers do not depend on it);
* :class:`Gaussian` writes its log-variance gradient into the array it holds
  (a view of the model's flat gradient buffer) instead of replacing it.

The continuous Bernoulli has no twin: the plain family serves.
"""

import numpy as np

from numvae import likelihoods
from numvae.likelihoods import per_element
from numvae.fast.halves import Halves
from numvae.fast.kernels import bernoulli_log_likelihood_and_grad_into, bernoulli_log_likelihood_into


class Bernoulli(likelihoods.Bernoulli):
    """``numvae.likelihoods.Bernoulli`` through the fused kernels, on one or two threads.

    The gradient ``backward`` returns lives in a scratch buffer: the next
    call overwrites it (the VAE hands it straight to the decoder's backward).
    """

    def speed_up(self, threads):
        """Take scratch buffers and, for ``threads == 2``, a second thread."""
        self.buffers = {}
        self.halves = Halves() if threads == 2 else None

    def _buffer(self, key, shape):
        """A scratch array of `shape` kept under `key` and reused by the next call with that shape."""
        buf = self.buffers.get(key)
        if buf is None or buf.shape != shape:
            buf = self.buffers[key] = np.empty(shape, dtype=self.dtype)
        return buf

    def _by_rows(self, fn, x, out):
        """``fn(rows)`` over the datapoints of `x` (N, D) and `out` (..., N, D): in one call, or in halves on two threads.

        `fn` writes only its own rows, so the result is the same either way.
        """
        if self.halves is None:
            fn(slice(None))
        else:
            self.halves.rows(fn, x.shape[0], out.size // x.shape[0])

    def log_prob(self, x, out):
        buf, tmp = self._buffer("dlogp_dout", out.shape), self._buffer("scratch", out.shape)
        log_px = np.empty(out.shape[:-1], dtype=self.dtype)                            # (L, N)

        def rows(r):
            log_px[..., r] = bernoulli_log_likelihood_into(x[r], out[..., r, :], out=buf[..., r, :],
                                                            tmp=tmp[..., r, :])
        self._by_rows(rows, x, out)
        return log_px

    def backward(self, x, out, weight):
        dout, tmp = self._buffer("dlogp_dout", out.shape), self._buffer("scratch", out.shape)
        log_px = np.empty(out.shape[:-1], dtype=self.dtype)                            # (L, N)
        w = per_element(weight)

        def rows(r):
            log_px[..., r], d = bernoulli_log_likelihood_and_grad_into(x[r], out[..., r, :], dout[..., r, :],
                                                                        tmp[..., r, :])
            d *= w if np.ndim(w) == 0 else w[..., r, :]                                # in place in dout
        self._by_rows(rows, x, out)
        return log_px, dout


class Gaussian(likelihoods.Gaussian):
    """``numvae.likelihoods.Gaussian`` whose log-variance gradient is written into the array it holds."""

    def speed_up(self, threads):
        """Nothing to set up: the element-wise work is the plain family's."""

    def backward(self, x, out, weight):
        kept = self.grads                                  # views of the flat gradient buffer (or empty)
        log_px, dout = super().backward(x, out, weight)
        for name, g in self.grads.items():
            kept[name][...] = g
        self.grads = kept
        return log_px, dout


TWINS = {likelihoods.Bernoulli: Bernoulli, likelihoods.Gaussian: Gaussian}
