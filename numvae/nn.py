r"""Layers with hand-written backward passes: ``Linear``, activations, and the ``MLP``.

Every layer follows one contract:

- ``forward(x)`` computes the output and keeps exactly what ``backward`` needs;
- ``backward(dout)`` takes the gradient of the loss with respect to the output,
  sets the gradient of every parameter in ``grads`` (new arrays, same keys and
  shapes as ``params``) and returns the gradient with respect to the input.

Inputs may carry extra leading dimensions, e.g. ``(L, N, D)`` for L samples
per datapoint: a layer acts on the last axis and its weight gradient sums over
all the others, because every sample used the same weights.

Parameters live in plain dicts of arrays; an optimizer updating them in place
updates the model. No autodiff anywhere.
"""

import numpy as np
from scipy.special import expit

from numvae.checks import as_generator, check_choice, check_float_dtype, registry

LEAKY_SLOPE = 0.01


class Activation:
    r"""Element-wise nonlinearity :math:`y = f(x)`; backward is :math:`dx = dy \odot f'(x)`.

    Each family is a subclass that declares its ``name``, its ``init`` (the
    weight initialization of the layer before it) and :meth:`f` and
    :meth:`df`; :data:`ACTIVATIONS` registers them by name.
    """

    name = None
    init = "glorot"      # Glorot & Bengio 2010 for the saturating and linear ones

    def __init__(self):
        self.cache = None

    @staticmethod
    def f(x):
        """The function, element-wise."""
        raise NotImplementedError

    @staticmethod
    def df(x, y):
        """Its derivative :math:`f'(x)`, written from the input x or the output y, whichever is simpler."""
        raise NotImplementedError

    def forward(self, x):
        r"""Return :math:`y = f(x)` element-wise and cache `x` and `y` for :meth:`backward`."""
        y = self.f(x)
        self.cache = (x, y)
        return y

    def backward(self, dout):
        r"""Return :math:`dx = dout \odot f'(x)` for the `x` of the last :meth:`forward`.

        :math:`f'` is computed from the cached `x` and `y` (e.g. :math:`1 - y^2`
        for tanh), so nothing is recomputed.
        """
        x, y = self.cache
        return dout * self.df(x, y)

    def __repr__(self):
        return f"{type(self).__name__}()"


class Identity(Activation):
    """:math:`f(x) = x`: the output layers' (logits, means, the encoder's q parameters)."""

    name = "identity"

    @staticmethod
    def f(x):
        return x

    @staticmethod
    def df(x, y):
        return np.ones_like(y)


class ReLU(Activation):
    r""":math:`\max(x, 0)`; He et al. 2015 initialization keeps the activations' variance through layers that zero half their input."""

    name = "relu"
    init = "he"

    @staticmethod
    def f(x):
        return np.maximum(x, 0)

    @staticmethod
    def df(x, y):
        return (x > 0).astype(y.dtype)


class LeakyReLU(Activation):
    r""":math:`x` for :math:`x > 0`, else :math:`0.01x`."""

    name = "leaky_relu"
    init = "he"

    @staticmethod
    def f(x):
        return np.where(x > 0, x, LEAKY_SLOPE * x)

    @staticmethod
    def df(x, y):
        return np.where(x > 0, 1, LEAKY_SLOPE).astype(y.dtype)


class Tanh(Activation):
    r""":math:`\tanh x`, with :math:`f' = 1 - y^2`."""

    name = "tanh"

    @staticmethod
    def f(x):
        return np.tanh(x)

    @staticmethod
    def df(x, y):
        return 1 - y * y


class Sigmoid(Activation):
    r""":math:`\sigma(x) = 1/(1 + e^{-x})`, with :math:`f' = y(1 - y)`."""

    name = "sigmoid"

    @staticmethod
    def f(x):
        return expit(x)

    @staticmethod
    def df(x, y):
        return y * (1 - y)


class Softplus(Activation):
    r""":math:`\log(1 + e^x)`, with :math:`f' = \sigma(x)`."""

    name = "softplus"
    init = "he"

    @staticmethod
    def f(x):
        return np.logaddexp(0, x)

    @staticmethod
    def df(x, y):
        return expit(x)


ACTIVATIONS = registry(Identity, ReLU, LeakyReLU, Tanh, Sigmoid, Softplus)


def make_activation(name):
    """The activation named `name` (one of :data:`ACTIVATIONS`), or ``ValueError`` naming ``activation``."""
    return ACTIVATIONS[check_choice(name, "activation", ACTIVATIONS)]()


class Linear:
    r"""Affine layer :math:`y = xW + b`.

    Parameters
    ----------
    n_in, n_out : int
    init : {"he", "glorot"}
        He: :math:`W_{ij}\sim\mathcal N(0, 2/n_{in})` (He et al. 2015, for
        ReLU). Glorot: :math:`W_{ij}\sim U(\pm\sqrt{6/(n_{in}+n_{out})})`
        (Glorot & Bengio 2010, for tanh, sigmoid and linear layers).
        Biases start at zero.
    dtype : numpy floating dtype
    rng : numpy.random.Generator

    Attributes
    ----------
    params : {"W": (n_in, n_out), "b": (n_out,)}
        The layer's own arrays; an optimizer updates them in place.
    grads : dict
        Same keys and shapes, set by every :meth:`backward`.

    Notes
    -----
    The rows of `x` are the batch (a row vector per datapoint, so the lectures'
    :math:`Wz + b` is :math:`zW + b` here, W being their transpose). Backward,
    with the batch (and any sample axes) flattened to rows:

    .. math:: \frac{\partial\ell}{\partial W} = x^\top\,\delta,\qquad
              \frac{\partial\ell}{\partial b} = \textstyle\sum_n \delta_n,\qquad
              \frac{\partial\ell}{\partial x} = \delta\,W^\top

    where :math:`\delta = \partial\ell/\partial y`.
    """

    def __init__(self, n_in, n_out, init="he", dtype=np.float64, rng=None):
        check_choice(init, "init", {"he", "glorot"})
        rng = as_generator(rng, none_ok=True)
        if init == "he":
            W = rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_in, n_out))
        else:
            limit = np.sqrt(6.0 / (n_in + n_out))
            W = rng.uniform(-limit, limit, size=(n_in, n_out))
        self.params = {"W": W.astype(dtype), "b": np.zeros(n_out, dtype=dtype)}
        self.grads = {"W": np.zeros((n_in, n_out), dtype=dtype), "b": np.zeros(n_out, dtype=dtype)}
        self.cache = None

    def forward(self, x):
        """``x @ W + b`` for `x` of shape (..., n_in): shape (..., n_out), every row (datapoint, sample) alike."""
        W, b = self.params["W"], self.params["b"]
        self.cache = x
        y = x.reshape(-1, W.shape[0]) @ W + b                 # (rows, n_out)
        return y.reshape(x.shape[:-1] + (W.shape[1],))        # (..., n_out)

    def backward(self, dout, need_input_grad=True):
        """Set ``grads``; return ``dout @ W.T`` (..., n_in), or None if `need_input_grad` is False.

        Every row (datapoint, and sample) used the same W, so the weight
        gradient sums over all of them: the leading axes are flattened to rows.
        """
        W = self.params["W"]
        x = self.cache.reshape(-1, W.shape[0])                # (rows, n_in)
        d = dout.reshape(-1, W.shape[1])                      # (rows, n_out)
        self.grads = {"W": x.T @ d, "b": d.sum(axis=0)}       # (n_in, n_out), (n_out,)
        if not need_input_grad:                               # e.g. the data under the first layer
            return None
        return (d @ W.T).reshape(dout.shape[:-1] + (W.shape[0],))   # (..., n_in)

    def __repr__(self):
        return f"Linear({self.params['W'].shape[0]}, {self.params['W'].shape[1]})"


class MLP:
    r"""Multilayer perceptron: ``Linear`` layers with an activation after each.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths from input to output, e.g. ``(784, 400, 40)``; at least two.
    activation : str
        Hidden activation, one of ``ACTIVATIONS``.
    output_activation : str
        Activation after the last layer (``"identity"`` for logits and means).
    dtype : numpy floating dtype
        float64 where numbers are checked, float32 for fast training. Inputs are
        cast to it; parameters and activations keep it.
    rng : numpy.random.Generator or int, optional

    Attributes
    ----------
    layers : list
        ``Linear, Activation, Linear, Activation, ...``, input first.
    params : dict[str, ndarray]
        ``"0.W"``, ``"0.b"``, ``"1.W"``, ... : the layers' own arrays, so
        updating them in place updates the network.
    grads : dict[str, ndarray]
        Same keys and shapes: the layers' gradients from the last :meth:`backward`.
    """

    @staticmethod
    def n_params(sizes):
        """Number of parameters (weights and biases) of an MLP with these widths."""
        return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))

    def __init__(self, sizes, activation="relu", output_activation="identity", dtype=np.float64, rng=None):
        sizes = tuple(int(s) for s in sizes)
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes must list at least two positive widths; got {sizes}")
        check_choice(activation, "activation", ACTIVATIONS)
        check_choice(output_activation, "output_activation", ACTIVATIONS)
        self.dtype = check_float_dtype(dtype)
        rng = as_generator(rng, none_ok=True)
        self.sizes = sizes
        self.layers = []
        n_layers = len(sizes) - 1
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            act = ACTIVATIONS[activation if i < n_layers - 1 else output_activation]()
            self.layers.append(Linear(n_in, n_out, act.init, self.dtype, rng))
            self.layers.append(act)

    @property
    def linears(self):
        """The ``Linear`` layers, input first (layer i owns ``"i.W"`` and ``"i.b"``)."""
        return self.layers[::2]

    @property
    def params(self):
        """The layers' parameter arrays by name (see the class's Attributes); a new dict of the live arrays."""
        return {f"{i}.{k}": p for i, layer in enumerate(self.linears) for k, p in layer.params.items()}

    @property
    def grads(self):
        """The layers' gradients of the last backward pass, by the names of ``params``."""
        return {f"{i}.{k}": g for i, layer in enumerate(self.linears) for k, g in layer.grads.items()}

    def forward(self, x):
        """Output of the network for `x` of shape ``(..., sizes[0])``."""
        x = np.asarray(x, dtype=self.dtype)
        if x.shape[-1:] != (self.sizes[0],):
            raise ValueError(f"x must have shape (..., {self.sizes[0]}) for this MLP; got {x.shape}")
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout, need_input_grad=True):
        """Set ``grads`` from the output gradient `dout`; return the input gradient.

        ``need_input_grad=False`` skips the first layer's input gradient (the
        data need none) and returns None.
        """
        for layer in self.layers[:0:-1]:                 # every layer but the first, last first
            dout = layer.backward(dout)
        return self.layers[0].backward(dout, need_input_grad=need_input_grad)

    def __repr__(self):
        return f"MLP({self.sizes}, {self.layers[1].name!r} -> {self.layers[-1].name!r}, {self.dtype})"
