r"""First-order optimizers: SGD with heavy-ball momentum, and Adam.

An optimizer holds a reference to a parameter dict (``name -> ndarray``, the
model's live storage) and, on ``step(grads)``, updates every array *in place*
from a gradient dict with the same keys and shapes. It knows nothing about
models, losses or data.

Each optimizer keeps its state (velocity, moments) in the dtype of the
parameter it belongs to, so a float32 model trains entirely in float32: the
scalar hyper-parameters are Python floats, which NumPy 2 casts to the array's
dtype instead of promoting the array (NEP 50).

Updates are fused and in place: each is a handful of NumPy calls with
``out=`` into one scratch buffer, so a step allocates nothing. When the
parameters (and the gradients) are views that tile one flat array, as a
``numvae.nn.MLP`` or a ``numvae.vae.VAE`` lays them out, the optimizer finds
that array (:func:`flat_storage`) and updates every parameter in one pass
over it instead of one small pass per array; otherwise it goes parameter by
parameter. Both do the same arithmetic.

The gradients are validated (keys, shapes, dtypes, the flat array they tile)
once, when a gradient dict is first seen, and bound: a model returns the same
dict of the same buffers every step, so later steps only check that it is
still those arrays. With ``threads=2`` a flat update runs on two threads, each
over one half of the flat arrays (``numvae.halves.Halves``): NumPy's ufuncs
release the GIL, and an element-wise update gives every element the same
operations whichever thread does it, so the result is bit for bit that of one
thread.
"""

import numpy as np

from numvae.checks import check_int, check_positive, check_threads, is_real
from numvae.halves import Halves


def _check_params(params):
    """Return `params` if it is a non-empty dict of floating ndarrays, else raise."""
    if not isinstance(params, dict) or not params:
        raise ValueError(f"params must be a non-empty dict of name -> ndarray; got {type(params).__name__}")
    for name, p in params.items():
        if not isinstance(p, np.ndarray) or p.dtype.kind != "f":
            got = p.dtype if isinstance(p, np.ndarray) else type(p).__name__
            # In-place updates need real floating arrays: a list or an int
            # array would be copied or truncated and the model never updated.
            raise ValueError(f"params[{name!r}] must be a floating ndarray (updated in place); got {got}")
    return params


def _owner(a):
    """The array that owns `a`'s memory (`a` itself if it is not a view)."""
    return a if a.base is None else a.base


def flat_storage(arrays):
    """The 1-D array that `arrays`, in order, tile exactly as contiguous views; None if there is none.

    For ``MLP.params`` this is the network's flat parameter array: an update
    applied to it element-wise is applied to every parameter.
    """
    arrays = list(arrays)
    if not arrays:
        return None
    base = _owner(arrays[0])
    if not isinstance(base, np.ndarray) or base.ndim != 1 or not base.flags.c_contiguous:
        return None
    address = start = base.__array_interface__["data"][0]
    for a in arrays:
        if _owner(a) is not base or a.dtype != base.dtype or not a.flags.c_contiguous \
                or a.__array_interface__["data"][0] != address:
            return None
        address += a.nbytes
    return base if address == start + base.nbytes else None


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


def _check_fraction(value, name):
    """Raise ``ValueError`` unless ``0 <= value < 1`` (a decay rate)."""
    if not (is_real(value) and np.isfinite(value) and 0.0 <= value < 1.0):
        raise ValueError(f"{name} must be a number in [0, 1); got {value!r}")
    return float(value)


class Optimizer:
    """Shared bookkeeping: the parameter dict, the step count, gradient checks, flat or per-parameter updates.

    A subclass names its hyper-parameters in ``SETTINGS`` and its per-parameter
    state dicts (attributes holding ``name -> ndarray``) in ``STATE``, which is
    what :meth:`state` saves and :meth:`load_state` restores, so a resumed run
    continues exactly where it stopped.
    """

    SETTINGS = ("lr",)
    STATE = ()

    def __init__(self, params, lr, threads=1):
        self.params = _check_params(params)
        self.lr = float(check_positive(lr, "lr"))
        self.t = 0  # number of steps taken
        self._flat_params = flat_storage(self.params.values())
        self._flat_scratch, self._scratch = _zeros_like(self.params)  # one scratch array per parameter, tiling one buffer
        self.threads = threads = check_threads(threads)
        self._halves = Halves() if threads == 2 else None
        self._bound = None  # (grads dict, its arrays in params order, their flat array or None)

    def _checked(self, grads):
        """Yield ``(name, param, grad)`` with `grad` validated and cast to the param's dtype."""
        if not isinstance(grads, dict) or set(grads) != set(self.params):
            got = sorted(grads) if isinstance(grads, dict) else type(grads).__name__
            raise ValueError(f"grads must be a dict with the keys of params {sorted(self.params)}; got {got}")
        for name, p in self.params.items():
            g = np.asarray(grads[name], dtype=p.dtype)
            if g.shape != p.shape:
                raise ValueError(f"grads[{name!r}] must have shape {p.shape} like its parameter; got {g.shape}")
            yield name, p, g

    def _is_bound(self, grads):
        """True if `grads` is the dict validated last step, still holding the very same arrays."""
        bound = self._bound
        return (bound is not None and grads is bound[0] and grads.keys() == self.params.keys()
                and all(g is b for g, b in zip(grads.values(), bound[1])))

    def _bind(self, grads):
        """Validate `grads` fully and remember it for :meth:`_is_bound`.

        Returns ``(arrays, flat)``: the validated gradients in the order of
        ``params`` and the flat array they tile (None if they tile none). A
        gradient cast to its parameter's dtype is a new array, never the one
        in `grads` next step, so such gradients are validated every step.
        """
        arrays = tuple(g for _, _, g in self._checked(grads))  # validate everything before touching anything
        flat = flat_storage(arrays) if self._flat_params is not None else None
        self._bound = (grads, arrays, flat)
        return arrays, flat

    def _apply(self, grads, update, states):
        """Run ``update(p, g, *state, scratch)`` once over the flat arrays if everything is flat, else per parameter.

        `states` is a list of (flat, views) pairs from :func:`_zeros_like`.
        The flat update runs on two threads if ``threads == 2`` (:class:`numvae.halves.Halves`).
        """
        arrays, flat_grads = self._bound[1:] if self._is_bound(grads) else self._bind(grads)
        self.t += 1
        flat_states = [flat for flat, _ in states]
        if flat_grads is not None and all(flat is not None for flat in flat_states):
            flat_arrays = (self._flat_params, flat_grads, *flat_states, self._flat_scratch)
            if self._halves is None:
                update(*flat_arrays)
            else:
                self._halves(update, *flat_arrays)
            return
        for (name, p), g in zip(self.params.items(), arrays):
            update(p, g, *(views[name] for _, views in states), self._scratch[name])

    def step(self, grads):
        """Update every parameter in place from `grads`, a dict with the keys of ``params``; subclasses define the rule.

        The gradients are those of the loss to *minimise*. All of them are
        validated (keys, shapes) before any parameter changes.
        """
        raise NotImplementedError

    def settings(self):
        """The optimizer's name and hyper-parameters, JSON-serialisable: ``{"name": "adam", "lr": ...}``."""
        return {"name": type(self).__name__.lower(), **{k: getattr(self, k) for k in self.SETTINGS}}

    def state(self):
        """``(t, arrays)``: the step count and a copy of every state array, keyed ``"<state>.<param>"``."""
        arrays = {f"{s}.{name}": a.copy() for s in self.STATE for name, a in getattr(self, s).items()}
        return self.t, arrays

    def load_state(self, t, arrays):
        """Restore a :meth:`state` in place, after checking it has every key with its parameter's shape.

        Raises ``ValueError`` naming what is missing, extra or of the wrong shape.
        """
        want = {f"{s}.{name}": a for s in self.STATE for name, a in getattr(self, s).items()}
        if set(arrays) != set(want):
            raise ValueError(f"optimizer state must hold {sorted(want)}; got {sorted(arrays)}")
        for key, a in arrays.items():
            if np.shape(a) != want[key].shape:
                raise ValueError(f"optimizer state {key!r} must have shape {want[key].shape}; got {np.shape(a)}")
        t = check_int(t, "optimizer step count", 0)
        for key, a in arrays.items():
            want[key][...] = a           # into the live views, so the flat state arrays see it
        self.t = t


class SGD(Optimizer):
    r"""Stochastic gradient descent with heavy-ball momentum (Polyak 1964).

    Parameters
    ----------
    params : dict[str, ndarray]
        Arrays updated in place.
    lr : float
        Learning rate :math:`\alpha > 0`.
    momentum : float
        :math:`\mu \in [0, 1)`; 0 gives plain SGD.
    threads : {1, 2}, optional
        Threads of the flat update (:class:`numvae.halves.Halves`). The result does not
        depend on it; 2 can pay only when a second core is idle (on a shared,
        busy machine the hand-off costs more than it saves).

    Notes
    -----
    With velocity :math:`v_0 = 0`, each step is

    .. math:: v_t = \mu\, v_{t-1} + g_t, \qquad \theta_t = \theta_{t-1} - \alpha\, v_t .

    For a constant :math:`\alpha` this is the same sequence of iterates as the
    form :math:`v_t = \mu v_{t-1} - \alpha g_t,\ \theta_t = \theta_{t-1} + v_t`;
    keeping :math:`\alpha` outside the velocity means changing the learning
    rate takes effect at once.
    """

    SETTINGS = ("lr", "momentum")
    STATE = ("velocity",)

    def __init__(self, params, lr, momentum=0.0, threads=1):
        super().__init__(params, lr, threads)
        self.momentum = _check_fraction(momentum, "momentum")
        self._velocity = _zeros_like(self.params)
        self.velocity = self._velocity[1]

    def step(self, grads):
        """Apply one update from `grads` (same keys and shapes as ``params``)."""
        self._apply(grads, self._update, [self._velocity])

    def _update(self, p, g, v, scratch):
        v *= self.momentum
        v += g                                       # v_t = mu v_{t-1} + g_t
        p -= np.multiply(v, self.lr, out=scratch)    # theta_t = theta_{t-1} - alpha v_t


class Adam(Optimizer):
    r"""Adam (Kingma & Ba 2015, *Adam: a method for stochastic optimization*, Algorithm 1).

    Parameters
    ----------
    params : dict[str, ndarray]
        Arrays updated in place.
    lr : float
        Step size :math:`\alpha > 0`.
    beta1, beta2 : float
        Decay rates of the first and second moment estimates, in [0, 1).
    eps : float
        :math:`\epsilon > 0`, added to :math:`\sqrt{\hat v_t}` so a parameter
        whose gradient has been zero does not divide by zero.
    threads : {1, 2}, optional
        Threads of the flat update (:class:`numvae.halves.Halves`). The result does not
        depend on it; 2 can pay only when a second core is idle (on a shared,
        busy machine the hand-off costs more than it saves).

    Notes
    -----
    With :math:`m_0 = v_0 = 0` and step :math:`t = 1, 2, \dots`:

    .. math::
        m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t \\
        v_t &= \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2 \\
        \hat m_t &= m_t / (1-\beta_1^t), \qquad \hat v_t = v_t / (1-\beta_2^t) \\
        \theta_t &= \theta_{t-1} - \alpha\, \hat m_t / (\sqrt{\hat v_t} + \epsilon)

    The bias corrections undo the pull towards the zero initialisation of
    :math:`m` and :math:`v`: if :math:`g_t` were constant, :math:`\hat m_t = g`
    exactly at every :math:`t` (Kingma & Ba 2015, section 3).

    The last line is computed as Kingma & Ba's "more efficient" form (end of
    their section 2), the same number with the corrections moved onto the
    scalars: with :math:`c_1 = 1-\beta_1^t`, :math:`c_2 = 1-\beta_2^t`,

    .. math:: \alpha\,\frac{m_t/c_1}{\sqrt{v_t/c_2} + \epsilon}
              = \frac{\alpha\sqrt{c_2}}{c_1}\cdot\frac{m_t}{\sqrt{v_t} + \epsilon\sqrt{c_2}}

    so no corrected copies of :math:`m` and :math:`v` are formed.
    """

    SETTINGS = ("lr", "beta1", "beta2", "eps")
    STATE = ("m", "v")

    def __init__(self, params, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, threads=1):
        super().__init__(params, lr, threads)
        self.beta1 = _check_fraction(beta1, "beta1")
        self.beta2 = _check_fraction(beta2, "beta2")
        self.eps = float(check_positive(eps, "eps"))
        self._m, self._v = _zeros_like(self.params), _zeros_like(self.params)
        self.m, self.v = self._m[1], self._v[1]

    def step(self, grads):
        """Apply one update from `grads` (same keys and shapes as ``params``)."""
        self._apply(grads, self._update, [self._m, self._v])

    def _update(self, p, g, m, v, scratch):
        b1, b2 = self.beta1, self.beta2
        c1, c2 = 1.0 - b1 ** self.t, 1.0 - b2 ** self.t     # bias corrections (self.t already counts this step)
        m *= b1
        m += np.multiply(g, 1.0 - b1, out=scratch)           # m_t = b1 m + (1 - b1) g
        v *= b2
        np.multiply(g, g, out=scratch)
        scratch *= 1.0 - b2
        v += scratch                                         # v_t = b2 v + (1 - b2) g^2
        # theta -= alpha m^ / (sqrt(v^) + eps), in the form of the Notes:
        np.sqrt(v, out=scratch)
        scratch += self.eps * c2 ** 0.5                      # sqrt(v_t) + eps sqrt(c2)
        np.divide(m, scratch, out=scratch)
        scratch *= self.lr * c2 ** 0.5 / c1
        p -= scratch


OPTIMIZERS = {"sgd": SGD, "adam": Adam}
