r"""First-order optimizers: SGD with heavy-ball momentum, and Adam.

An optimizer holds a reference to a parameter dict (``name -> ndarray``, the
model's live arrays) and, on ``step(grads)``, updates every array *in place*
from a gradient dict with the same keys and shapes. It knows nothing about
models, losses or data.

Each optimizer keeps its state (velocity, moments) in the dtype of the
parameter it belongs to, so a float32 model trains entirely in float32: the
scalar hyper-parameters are Python floats, which NumPy 2 casts to the array's
dtype instead of promoting the array (NEP 50).

The update rules are written line for line as their papers give them, one
parameter at a time; ``numvae.fast.optim`` has the same rules as one fused
pass over a flat parameter buffer, tested equal to these.
"""

import numpy as np

from numvae.checks import check_int, check_positive, is_real


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


def _check_fraction(value, name):
    """Raise ``ValueError`` unless ``0 <= value < 1`` (a decay rate)."""
    if not (is_real(value) and np.isfinite(value) and 0.0 <= value < 1.0):
        raise ValueError(f"{name} must be a number in [0, 1); got {value!r}")
    return float(value)


class Optimizer:
    """Shared bookkeeping: the parameter dict, the step count, the gradient checks, saving the state.

    A subclass names its hyper-parameters in ``SETTINGS`` and its per-parameter
    state dicts (attributes holding ``name -> ndarray``) in ``STATE``, which is
    what :meth:`state` saves and :meth:`load_state` restores, so a resumed run
    continues exactly where it stopped; it defines :meth:`update`, the rule
    for one parameter.
    """

    SETTINGS = ("lr",)
    STATE = ()

    def __init__(self, params, lr):
        self.params = _check_params(params)
        self.lr = float(check_positive(lr, "lr"))
        self.t = 0  # number of steps taken

    def _zeros(self):
        """A state dict: zeros shaped like every parameter, in its dtype."""
        return {name: np.zeros_like(p) for name, p in self.params.items()}

    def checked(self, grads):
        """``[(name, param, grad)]`` in the order of ``params``, every gradient validated and cast to its parameter's dtype."""
        if not isinstance(grads, dict) or set(grads) != set(self.params):
            got = sorted(grads) if isinstance(grads, dict) else type(grads).__name__
            raise ValueError(f"grads must be a dict with the keys of params {sorted(self.params)}; got {got}")
        checked = []
        for name, p in self.params.items():
            g = np.asarray(grads[name], dtype=p.dtype)
            if g.shape != p.shape:
                raise ValueError(f"grads[{name!r}] must have shape {p.shape} like its parameter; got {g.shape}")
            checked.append((name, p, g))
        return checked

    def non_finite(self, grads):
        """Names of the gradients holding a NaN or an infinity: a step from them would ruin their parameters."""
        return [name for name, g in grads.items() if not np.all(np.isfinite(g))]

    def step(self, grads):
        """Update every parameter in place from `grads`, a dict with the keys of ``params``.

        The gradients are those of the loss to *minimise*. All of them are
        validated (keys, shapes) before any parameter changes.
        """
        checked = self.checked(grads)
        self.t += 1
        for name, p, g in checked:
            self.update(name, p, g)

    def update(self, name, p, g):
        """Apply the rule to parameter `name` (the array `p`, in place) with its gradient `g`."""
        raise NotImplementedError

    def settings(self):
        """The optimizer's name and hyper-parameters, JSON-serialisable: ``{"name": "adam", "lr": ...}``."""
        return {"name": self.NAME, **{k: getattr(self, k) for k in self.SETTINGS}}

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
            want[key][...] = a           # into the live arrays, whoever else holds them
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

    Notes
    -----
    With velocity :math:`v_0 = 0`, each step is

    .. math:: v_t = \mu\, v_{t-1} + g_t, \qquad \theta_t = \theta_{t-1} - \alpha\, v_t .

    For a constant :math:`\alpha` this is the same sequence of iterates as the
    form :math:`v_t = \mu v_{t-1} - \alpha g_t,\ \theta_t = \theta_{t-1} + v_t`;
    keeping :math:`\alpha` outside the velocity means changing the learning
    rate takes effect at once.
    """

    NAME = "sgd"
    SETTINGS = ("lr", "momentum")
    STATE = ("velocity",)

    def __init__(self, params, lr, momentum=0.0):
        super().__init__(params, lr)
        self.momentum = _check_fraction(momentum, "momentum")
        self.velocity = self._zeros()

    def update(self, name, p, g):
        v = self.velocity[name]
        v[...] = self.momentum * v + g               # v_t = mu v_{t-1} + g_t
        p -= self.lr * v                             # theta_t = theta_{t-1} - alpha v_t


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
    """

    NAME = "adam"
    SETTINGS = ("lr", "beta1", "beta2", "eps")
    STATE = ("m", "v")

    def __init__(self, params, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(params, lr)
        self.beta1 = _check_fraction(beta1, "beta1")
        self.beta2 = _check_fraction(beta2, "beta2")
        self.eps = float(check_positive(eps, "eps"))
        self.m, self.v = self._zeros(), self._zeros()

    def update(self, name, p, g):
        b1, b2, t = self.beta1, self.beta2, self.t           # t already counts this step
        m, v = self.m[name], self.v[name]
        m[...] = b1 * m + (1 - b1) * g                       # m_t = b1 m_{t-1} + (1 - b1) g_t
        v[...] = b2 * v + (1 - b2) * g * g                   # v_t = b2 v_{t-1} + (1 - b2) g_t²
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)  # bias corrections
        p -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)   # theta_t


OPTIMIZERS = {"sgd": SGD, "adam": Adam}
