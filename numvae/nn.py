r"""Layers with hand-written backward passes: ``Linear``, activations, and the ``MLP``.

Every layer follows one contract:

- ``forward(x)`` computes the output and keeps exactly what ``backward`` needs;
- ``backward(dout)`` takes the gradient of the loss with respect to the output,
  writes the gradient of every parameter into ``grads`` (same keys and shapes as
  ``params``) and returns the gradient with respect to the input.

Inputs may carry extra leading dimensions, e.g. ``(L, N, D)`` for L samples
per datapoint: a layer acts on the last axis and its weight gradient sums over
all the others, because every sample used the same weights.

Parameters live in plain dicts of arrays; an optimizer updating them in place
updates the model. No autodiff anywhere.
"""

import numpy as np
from scipy.special import expit

from numvae.checks import check_array, check_choice

LEAKY_SLOPE = 0.01

# Each activation is its function and its derivative dy/dx written from the
# input x and the output y, whichever is cheaper: tanh' = 1 - y², σ' = y(1 - y).
ACTIVATIONS = {
    "identity": (lambda x: x, lambda x, y: np.ones_like(y)),
    "relu": (lambda x: np.maximum(x, 0), lambda x, y: (x > 0).astype(y.dtype)),
    "leaky_relu": (lambda x: np.where(x > 0, x, LEAKY_SLOPE * x),
                   lambda x, y: np.where(x > 0, 1, LEAKY_SLOPE).astype(y.dtype)),
    "tanh": (np.tanh, lambda x, y: 1 - y * y),
    "sigmoid": (expit, lambda x, y: y * (1 - y)),
    "softplus": (lambda x: np.logaddexp(0, x), lambda x, y: expit(x)),
}

# Initialization (stated per activation): He et al. 2015 for the ReLU family, so
# the variance of activations is kept through layers that zero half their
# input; Glorot & Bengio 2010 for the saturating and linear ones.
INIT = {"relu": "he", "leaky_relu": "he", "softplus": "he",
        "tanh": "glorot", "sigmoid": "glorot", "identity": "glorot"}


class Activation:
    r"""Element-wise nonlinearity :math:`y = f(x)`; backward is :math:`dx = dy \odot f'(x)`."""

    def __init__(self, name):
        check_choice(name, "activation", ACTIVATIONS)
        self.name = name
        self.f, self.df = ACTIVATIONS[name]
        self.cache = None

    def forward(self, x):
        y = self.f(x)
        self.cache = (x, y)
        return y

    def backward(self, dout):
        x, y = self.cache
        return dout * self.df(x, y)

    def __repr__(self):
        return f"Activation({self.name!r})"


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

    Notes
    -----
    Backward, with the batch (and any sample axes) flattened to rows:

    .. math:: \frac{\partial\ell}{\partial W} = x^\top\,\delta,\qquad
              \frac{\partial\ell}{\partial b} = \textstyle\sum_n \delta_n,\qquad
              \frac{\partial\ell}{\partial x} = \delta\,W^\top

    where :math:`\delta = \partial\ell/\partial y`.
    """

    def __init__(self, n_in, n_out, init="he", dtype=np.float64, rng=None):
        check_choice(init, "init", {"he", "glorot"})
        rng = np.random.default_rng(rng)
        if init == "he":
            W = rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_in, n_out))
        else:
            limit = np.sqrt(6.0 / (n_in + n_out))
            W = rng.uniform(-limit, limit, size=(n_in, n_out))
        self.params = {"W": W.astype(dtype), "b": np.zeros(n_out, dtype=dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.cache = None

    # Both passes flatten the leading axes to rows and multiply 2-D arrays:
    # NumPy's stacked matmul on (L, N, D) with a transposed operand does not
    # reach BLAS and is 10-40x slower than the same product in 2-D.
    def forward(self, x):
        W, b = self.params["W"], self.params["b"]
        self.cache = x
        y = x.reshape(-1, W.shape[0]) @ W + b                 # (rows, n_out)
        return y.reshape(x.shape[:-1] + (W.shape[1],))        # (..., n_out)

    def backward(self, dout):
        W = self.params["W"]
        x2 = self.cache.reshape(-1, W.shape[0])               # (rows, n_in)
        d2 = dout.reshape(-1, W.shape[1])                     # (rows, n_out)
        np.matmul(x2.T, d2, out=self.grads["W"])              # (n_in, n_out)
        d2.sum(axis=0, out=self.grads["b"])                   # (n_out,)
        return (d2 @ W.T).reshape(dout.shape[:-1] + (W.shape[0],))  # (..., n_in)

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
    params : dict[str, ndarray]
        ``"0.W"``, ``"0.b"``, ``"1.W"``, ... : the layers' own arrays, so
        updating them in place updates the network.
    grads : dict[str, ndarray]
        Same keys and shapes; filled by :meth:`backward`.
    """

    def __init__(self, sizes, activation="relu", output_activation="identity",
                 dtype=np.float64, rng=None):
        sizes = tuple(int(s) for s in sizes)
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes must list at least two positive widths; got {sizes}")
        check_choice(activation, "activation", ACTIVATIONS)
        check_choice(output_activation, "output_activation", ACTIVATIONS)
        self.dtype = np.dtype(dtype)
        if self.dtype.kind != "f":
            raise ValueError(f"dtype must be a floating type; got {self.dtype}")
        rng = np.random.default_rng(rng)
        self.sizes = sizes
        self.layers = []
        n_layers = len(sizes) - 1
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            act = activation if i < n_layers - 1 else output_activation
            self.layers.append(Linear(n_in, n_out, INIT[act], self.dtype, rng))
            self.layers.append(Activation(act))
        self.params, self.grads = {}, {}
        for i, layer in enumerate(self.layers[::2]):
            for k in layer.params:
                self.params[f"{i}.{k}"] = layer.params[k]
                self.grads[f"{i}.{k}"] = layer.grads[k]

    def forward(self, x):
        """Output of the network for `x` of shape ``(..., sizes[0])``."""
        x = np.asarray(x, dtype=self.dtype)
        if x.shape[-1:] != (self.sizes[0],):
            raise ValueError(f"x must have shape (..., {self.sizes[0]}) for this MLP; got {x.shape}")
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout):
        """Fill ``grads`` from the output gradient `dout`; return the input gradient."""
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout

    def __repr__(self):
        return f"MLP({self.sizes}, {self.layers[1].name!r} -> {self.layers[-1].name!r}, {self.dtype})"
