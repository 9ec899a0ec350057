r"""First-order optimizers: SGD with heavy-ball momentum, and Adam.

An optimizer holds a reference to a parameter dict (``name -> ndarray``, the
model's live storage) and, on ``step(grads)``, updates every array *in place*
from a gradient dict with the same keys and shapes. It knows nothing about
models, losses or data (DESIGN.md, *Conventions*).

Each optimizer keeps its state (velocity, moments) in the dtype of the
parameter it belongs to, so a float32 model trains entirely in float32: the
scalar hyper-parameters are Python floats, which NumPy 2 casts to the array's
dtype instead of promoting the array (NEP 50).

The loops below go parameter by parameter and write each update as the
paper's line; a later performance pass may fuse them over flat storage.
"""

import numpy as np

from numvae.checks import check_positive


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
    if not (np.isfinite(value) and 0.0 <= value < 1.0):
        raise ValueError(f"{name} must be a number in [0, 1); got {value!r}")
    return float(value)


class Optimizer:
    """Shared bookkeeping: the parameter dict, the step count, gradient checks."""

    def __init__(self, params, lr):
        self.params = _check_params(params)
        self.lr = float(check_positive(lr, "lr"))
        self.t = 0  # number of steps taken

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

    def step(self, grads):
        raise NotImplementedError


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

    def __init__(self, params, lr, momentum=0.0):
        super().__init__(params, lr)
        self.momentum = _check_fraction(momentum, "momentum")
        self.velocity = {k: np.zeros_like(p) for k, p in self.params.items()}

    def step(self, grads):
        """Apply one update from `grads` (same keys and shapes as ``params``)."""
        updates = list(self._checked(grads))  # validate everything before touching anything
        self.t += 1
        for name, p, g in updates:
            v = self.velocity[name]
            v *= self.momentum
            v += g                      # v_t = mu v_{t-1} + g_t
            p -= self.lr * v            # theta_t = theta_{t-1} - alpha v_t


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

    def __init__(self, params, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(params, lr)
        self.beta1 = _check_fraction(beta1, "beta1")
        self.beta2 = _check_fraction(beta2, "beta2")
        self.eps = float(check_positive(eps, "eps"))
        self.m = {k: np.zeros_like(p) for k, p in self.params.items()}
        self.v = {k: np.zeros_like(p) for k, p in self.params.items()}

    def step(self, grads):
        """Apply one update from `grads` (same keys and shapes as ``params``)."""
        updates = list(self._checked(grads))  # validate everything before touching anything
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        correction1 = 1.0 - b1 ** self.t
        correction2 = 1.0 - b2 ** self.t
        for name, p, g in updates:
            m, v = self.m[name], self.v[name]
            m *= b1
            m += (1.0 - b1) * g                 # m_t
            v *= b2
            v += (1.0 - b2) * (g * g)           # v_t
            m_hat = m / correction1
            v_hat = v / correction2
            p -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


OPTIMIZERS = {"sgd": SGD, "adam": Adam}
