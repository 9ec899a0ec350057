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

from numvae.checks import as_generator, check_choice, check_float_dtype

LEAKY_SLOPE = 0.01


# Each activation is its function and its derivative dy/dx written from the
# input x and the output y, whichever is cheaper: tanh' = 1 - y², σ' = y(1 - y).
# Both take an optional ``out=`` array to write into (the training path reuses
# its buffers); without it they return a new array.
def _identity(x, out=None):
    if out is None:
        return x
    out[...] = x
    return out


def _identity_grad(x, y, out=None):
    if out is None:
        return np.ones_like(y)
    out.fill(1)
    return out


def _relu(x, out=None):
    return np.maximum(x, 0, out=out)


def _relu_grad(x, y, out=None):
    if out is None:
        return (x > 0).astype(y.dtype)
    return np.greater(x, 0, out=out)                     # True/False written as 1.0/0.0


def _leaky_relu(x, out=None):
    out = np.multiply(x, LEAKY_SLOPE, out=out)
    return np.maximum(x, out, out=out)                   # max(x, 0.01x): x if x > 0, else 0.01x


def _leaky_relu_grad(x, y, out=None):
    if out is None:
        return np.where(x > 0, 1, LEAKY_SLOPE).astype(y.dtype)
    np.greater(x, 0, out=out)                            # 1 where x > 0, else 0
    out *= 1 - LEAKY_SLOPE
    out += LEAKY_SLOPE                                   # 1 where x > 0, else 0.01
    return out


def _tanh_grad(x, y, out=None):
    out = np.multiply(y, y, out=out)
    return np.subtract(1, out, out=out)                  # 1 - y²


def _sigmoid_grad(x, y, out=None):
    out = np.subtract(1, y, out=out)
    out *= y                                             # y (1 - y)
    return out


ACTIVATIONS = {
    "identity": (_identity, _identity_grad),
    "relu": (_relu, _relu_grad),
    "leaky_relu": (_leaky_relu, _leaky_relu_grad),
    "tanh": (lambda x, out=None: np.tanh(x, out=out), _tanh_grad),
    "sigmoid": (lambda x, out=None: expit(x, out=out), _sigmoid_grad),
    "softplus": (lambda x, out=None: np.logaddexp(0, x, out=out), lambda x, y, out=None: expit(x, out=out)),
}

# Initialization (stated per activation): He et al. 2015 for the ReLU family, so
# the variance of activations is kept through layers that zero half their
# input; Glorot & Bengio 2010 for the saturating and linear ones.
INIT = {"relu": "he", "leaky_relu": "he", "softplus": "he",
        "tanh": "glorot", "sigmoid": "glorot", "identity": "glorot"}


class Activation:
    r"""Element-wise nonlinearity :math:`y = f(x)`; backward is :math:`dx = dy \odot f'(x)`.

    ``forward`` and ``backward`` take an optional ``out=`` array for the
    result (see :meth:`MLP.forward` with ``reuse=True``).
    """

    def __init__(self, name):
        check_choice(name, "activation", ACTIVATIONS)
        self.name = name
        self.f, self.df = ACTIVATIONS[name]
        self.cache = None

    def forward(self, x, out=None):
        r"""Return :math:`y = f(x)` element-wise (into `out` if given) and cache `x` and `y` for :meth:`backward`."""
        if self.name == "identity":                      # y = x: nothing to compute or store
            y = x
        else:
            y = self.f(x, out=out)
        self.cache = (x, y)
        return y

    def backward(self, dout, out=None):
        r"""Return :math:`dx = dout \odot f'(x)` for the `x` of the last :meth:`forward` (into `out` if given).

        :math:`f'` is computed from the cached `x` and `y` (e.g. :math:`1 - y^2`
        for tanh), so nothing is recomputed.
        """
        if self.name == "identity":                      # f' = 1
            return dout
        x, y = self.cache
        if out is None:
            return dout * self.df(x, y)
        self.df(x, y, out=out)                           # f'(x)
        out *= dout                                      # dx = dout ⊙ f'(x), in place
        return out

    def __repr__(self):
        return f"Activation({self.name!r})"


def _views(flat, n_in, n_out):
    """``{"W": (n_in, n_out), "b": (n_out,)}`` views of the 1-D array `flat`, W first."""
    if flat.ndim != 1 or flat.size != n_in * n_out + n_out:
        raise ValueError(f"storage must be 1-D arrays of length {n_in * n_out + n_out}; got shape {flat.shape}")
    return {"W": flat[:n_in * n_out].reshape(n_in, n_out), "b": flat[n_in * n_out:]}


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
    storage : (ndarray, ndarray), optional
        Two 1-D arrays of length ``n_in*n_out + n_out`` in which the
        parameters and the gradients live (W first, then b, as views), so
        that an optimizer can update many layers in one pass (see
        :class:`MLP`). By default the layer allocates its own.

    Notes
    -----
    Backward, with the batch (and any sample axes) flattened to rows:

    .. math:: \frac{\partial\ell}{\partial W} = x^\top\,\delta,\qquad
              \frac{\partial\ell}{\partial b} = \textstyle\sum_n \delta_n,\qquad
              \frac{\partial\ell}{\partial x} = \delta\,W^\top

    where :math:`\delta = \partial\ell/\partial y`.
    """

    def __init__(self, n_in, n_out, init="he", dtype=np.float64, rng=None, storage=None):
        check_choice(init, "init", {"he", "glorot"})
        rng = as_generator(rng, none_ok=True)
        if init == "he":
            W = rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_in, n_out))
        else:
            limit = np.sqrt(6.0 / (n_in + n_out))
            W = rng.uniform(-limit, limit, size=(n_in, n_out))
        if storage is None:
            n = n_in * n_out + n_out
            storage = (np.empty(n, dtype=dtype), np.empty(n, dtype=dtype))
        flat_params, flat_grads = storage
        self.params = _views(flat_params, n_in, n_out)        # {"W": (n_in, n_out), "b": (n_out,)}
        self.grads = _views(flat_grads, n_in, n_out)
        self.params["W"][...] = W                             # cast to the storage's dtype
        self.params["b"][...] = 0
        for g in self.grads.values():
            g[...] = 0
        self.cache = None

    # Both passes flatten the leading axes to rows and multiply 2-D arrays:
    # NumPy's stacked matmul on (L, N, D) with a transposed operand does not
    # reach BLAS and is 10-40x slower than the same product in 2-D.
    def forward(self, x, out=None):
        """``x @ W + b`` for `x` of shape (..., n_in); written into `out` (..., n_out) if given."""
        W, b = self.params["W"], self.params["b"]
        self.cache = x
        y = np.matmul(x.reshape(-1, W.shape[0]), W,
                      out=None if out is None else out.reshape(-1, W.shape[1]))  # (rows, n_out)
        y += b                                                # (rows, n_out), in place
        return y.reshape(x.shape[:-1] + (W.shape[1],))        # (..., n_out)

    def backward(self, dout, out=None, need_input_grad=True):
        """Fill ``grads``; return ``dout @ W.T`` (..., n_in), into `out` if given (None if not needed)."""
        W = self.params["W"]
        x2 = self.cache.reshape(-1, W.shape[0])               # (rows, n_in)
        d2 = dout.reshape(-1, W.shape[1])                     # (rows, n_out)
        np.matmul(x2.T, d2, out=self.grads["W"])              # (n_in, n_out)
        d2.sum(axis=0, out=self.grads["b"])                   # (n_out,)
        if not need_input_grad:                               # e.g. the data under the first layer
            return None
        dx = np.matmul(d2, W.T, out=None if out is None else out.reshape(-1, W.shape[0]))  # (rows, n_in)
        return dx.reshape(dout.shape[:-1] + (W.shape[0],))    # (..., n_in)

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
    storage : (ndarray, ndarray), optional
        Two 1-D arrays of length :meth:`n_params` ``(sizes)`` holding all the
        parameters and all the gradients, layer after layer (W then b); by
        default the network allocates them. Every parameter is a view into
        one contiguous buffer, so an optimizer can update all of them in one
        pass (``numvae.optim``).

    Attributes
    ----------
    params : dict[str, ndarray]
        ``"0.W"``, ``"0.b"``, ``"1.W"``, ... : the layers' own arrays, so
        updating them in place updates the network.
    grads : dict[str, ndarray]
        Same keys and shapes; filled by :meth:`backward`.
    """

    @staticmethod
    def n_params(sizes):
        """Number of parameters (weights and biases) of an MLP with these widths."""
        return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))

    def __init__(self, sizes, activation="relu", output_activation="identity",
                 dtype=np.float64, rng=None, storage=None):
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
        if storage is None:
            n = self.n_params(sizes)
            storage = (np.empty(n, dtype=self.dtype), np.empty(n, dtype=self.dtype))
        flat_params, flat_grads = storage
        if flat_params.shape != (self.n_params(sizes),) or flat_grads.shape != flat_params.shape:
            raise ValueError(f"storage must be two 1-D arrays of length {self.n_params(sizes)}; "
                             f"got shapes {flat_params.shape} and {flat_grads.shape}")
        offset = 0
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            act = activation if i < n_layers - 1 else output_activation
            part = slice(offset, offset + n_in * n_out + n_out)
            offset = part.stop
            self.layers.append(Linear(n_in, n_out, INIT[act], self.dtype, rng,
                                      storage=(flat_params[part], flat_grads[part])))
            self.layers.append(Activation(act))
        self.params, self.grads = {}, {}
        for i, layer in enumerate(self.layers[::2]):
            for k in layer.params:
                self.params[f"{i}.{k}"] = layer.params[k]
                self.grads[f"{i}.{k}"] = layer.grads[k]
        self._buffers = {}

    def _buffer(self, key, shape):
        """A scratch array of `shape` kept under `key` and reused by the next call with that shape."""
        buf = self._buffers.get(key)
        if buf is None or buf.shape != shape:
            buf = self._buffers[key] = np.empty(shape, dtype=self.dtype)
        return buf

    def forward(self, x, reuse=False):
        """Output of the network for `x` of shape ``(..., sizes[0])``.

        With ``reuse=True`` every layer writes into a buffer the network keeps
        and reuses at the next ``reuse=True`` call: no memory is allocated in
        a training loop, but the returned array is overwritten by that call.
        """
        x = np.asarray(x, dtype=self.dtype)
        if x.shape[-1:] != (self.sizes[0],):
            raise ValueError(f"x must have shape (..., {self.sizes[0]}) for this MLP; got {x.shape}")
        for i, layer in enumerate(self.layers):
            out = None
            if reuse:
                width = self.sizes[i // 2 + 1]           # layer i is Linear (even) or Activation (odd) of unit i // 2
                out = self._buffer(("forward", i), x.shape[:-1] + (width,))
            x = layer.forward(x, out=out)
        return x

    def backward(self, dout, reuse=False, need_input_grad=True):
        """Fill ``grads`` from the output gradient `dout`; return the input gradient.

        ``reuse=True``: intermediate and returned arrays are the network's
        buffers, as in :meth:`forward`. ``need_input_grad=False`` skips the
        first layer's input gradient (the data need none) and returns None.
        """
        for i in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[i]
            out = None
            if reuse:
                width = self.sizes[i // 2 + (i % 2)]     # Linear i returns (.., n_in); Activation i keeps its width
                out = self._buffer(("backward", i), dout.shape[:-1] + (width,))
            if i == 0:
                return layer.backward(dout, out=out, need_input_grad=need_input_grad)
            dout = layer.backward(dout, out=out)

    def __repr__(self):
        return f"MLP({self.sizes}, {self.layers[1].name!r} -> {self.layers[-1].name!r}, {self.dtype})"
