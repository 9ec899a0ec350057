r"""``numvae.optim``'s rules as one fused, in-place pass over a flat parameter buffer.

When a model's parameters and gradients tile one flat array each (as
``numvae.fast.storage.tie`` lays them out), an element-wise rule can run once
over the whole array instead of once per parameter, in a handful of NumPy
calls writing into one scratch array (``out=``): no temporaries, one pass.
With ``threads=2`` that pass runs over the two halves of the arrays at once
(``numvae.fast.halves``); every element gets the same operations whichever
thread does it, so the result is bit for bit that of one thread. Parameters
that tile no flat array are updated by the plain rule, parameter by parameter.

Adam is computed in Kingma & Ba's "more efficient" form (end of their section
2), the same number with the bias corrections moved onto the scalars: with
:math:`c_1 = 1-\beta_1^t`, :math:`c_2 = 1-\beta_2^t`,

.. math:: \alpha\,\frac{m_t/c_1}{\sqrt{v_t/c_2} + \epsilon}
          = \frac{\alpha\sqrt{c_2}}{c_1}\cdot\frac{m_t}{\sqrt{v_t} + \epsilon\sqrt{c_2}}

so no corrected copies of :math:`m` and :math:`v` are formed.
"""

from functools import partial

import numpy as np

from numvae.checks import check_threads
from numvae.fast.halves import Halves
from numvae.fast.storage import flat_storage
from numvae.optim import SGD, Adam, Optimizer


def _zeros_like(params):
    """Zero state for every parameter: ``(flat, views)``, the views shaped like `params` and tiling `flat`.

    With parameters of different dtypes there is no one flat array: then
    ``flat`` is None and each view is its own array.
    """
    dtypes = {p.dtype for p in params.values()}
    if len(dtypes) != 1:
        return None, {k: np.zeros_like(p) for k, p in params.items()}
    flat = np.zeros(sum(p.size for p in params.values()), dtype=dtypes.pop())
    views, offset = {}, 0
    for k, p in params.items():
        views[k] = flat[offset:offset + p.size].reshape(p.shape)
        offset += p.size
    return flat, views


class FlatOptimizer(Optimizer):
    """The flat pass: a subclass pairs it with a plain rule and defines ``fused(p, g, *states, scratch)``.

    Parameters
    ----------
    threads : {1, 2}
        Threads of the flat pass. The result does not depend on it; 2 pays
        only when a second core is idle (on a busy machine the hand-off costs
        more than it saves).
    """

    def __init__(self, params, *args, threads=1, **kwargs):
        self._flat_states = []                  # the flat array under each state dict, in the order made
        super().__init__(params, *args, **kwargs)
        self.threads = check_threads(threads)
        self._halves = Halves() if self.threads == 2 else None
        self._flat_params = flat_storage(self.params.values())
        self._scratch = None if self._flat_params is None else np.empty_like(self._flat_params)
        self._seen = ((), None)                 # the gradient arrays of the last step, and the flat array they tile

    def _zeros(self):
        flat, views = _zeros_like(self.params)
        self._flat_states.append(flat)
        return views

    def _flat_grads(self, arrays):
        """:func:`flat_storage` of `arrays`, remembered while they are the same array objects.

        A fast model hands the optimizer the same views of its flat gradient
        buffer every step, and an array object's memory never moves.
        """
        arrays = tuple(arrays)
        seen, flat = self._seen
        if len(arrays) != len(seen) or any(a is not b for a, b in zip(arrays, seen)):
            self._seen = arrays, flat_storage(arrays)
        return self._seen[1]

    def step(self, grads):
        """The rule's fused pass over the flat arrays (on two threads if asked), or the plain rule if nothing is flat."""
        arrays = [g for _, _, g in self.checked(grads)]
        if self._flat_params is None or any(s is None for s in self._flat_states):
            super().step(grads)                 # parameters that tile no flat array: the plain rule
            return
        flat_grads = self._flat_grads(arrays)
        if flat_grads is None:                  # gradients that tile none: gathered into one
            flat_grads = np.concatenate([g.ravel() for g in arrays])
        self.t += 1
        arrays = (self._flat_params, flat_grads, *self._flat_states, self._scratch)
        if self._halves is None:
            self.fused(*arrays)
        else:
            self._halves(self.fused, *arrays)

    def non_finite(self, grads):
        r"""As the plain check, but first :math:`g\cdot g` over the flat gradient: one BLAS read of every entry.

        NaN or ±inf anywhere makes the dot product NaN or +inf (a square is
        never negative, so infinities cannot cancel); a finite one means
        every entry is finite. It also overflows on huge finite entries
        (:math:`|g| > 10^{19}` in float32); then the plain check looks entry
        by entry.
        """
        flat = self._flat_grads(grads.values())
        if flat is not None:
            with np.errstate(over="ignore"):             # an overflow is not yet a verdict
                if np.isfinite(np.dot(flat, flat)):
                    return []
        return super().non_finite(grads)


class FlatSGD(FlatOptimizer, SGD):
    """``numvae.optim.SGD`` as one fused pass."""

    def fused(self, p, g, v, scratch):
        """SGD's two lines over the flat arrays, in place: `p` parameters, `g` gradients, `v` velocity."""
        v *= self.momentum
        v += g                                       # v_t = mu v_{t-1} + g_t
        p -= np.multiply(v, self.lr, out=scratch)    # theta_t = theta_{t-1} - alpha v_t


class FlatAdam(FlatOptimizer, Adam):
    """``numvae.optim.Adam`` as one fused pass, in the efficient form of the module's docstring.

    Its state is the plain Adam's :math:`m, v`, so a checkpoint moves between
    the two, and a run resumed on the same path continues bit for bit.
    """

    def fused(self, p, g, m, v, scratch):
        """Adam's step over the flat arrays, in place: `p` parameters, `g` gradients, `m` and `v` the moments."""
        b1, b2 = self.beta1, self.beta2
        c1, c2 = 1.0 - b1 ** self.t, 1.0 - b2 ** self.t     # bias corrections (self.t already counts this step)
        m *= b1
        m += np.multiply(g, 1.0 - b1, out=scratch)           # m_t = b1 m + (1 - b1) g
        v *= b2
        np.multiply(g, g, out=scratch)
        scratch *= 1.0 - b2
        v += scratch                                         # v_t = b2 v + (1 - b2) g^2
        np.sqrt(v, out=scratch)
        scratch += self.eps * c2 ** 0.5                      # sqrt(v_t) + eps sqrt(c2)
        np.divide(m, scratch, out=scratch)
        scratch *= self.lr * c2 ** 0.5 / c1
        p -= scratch


def optimizers(threads=1):
    """``{"sgd": ..., "adam": ...}``: the flat optimizers with `threads` bound, for ``VAE.optimizers``."""
    return {"sgd": partial(FlatSGD, threads=threads), "adam": partial(FlatAdam, threads=threads)}
