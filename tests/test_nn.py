"""nn: every layer's backward against finite differences, every forward against its formula."""

import numpy as np
import pytest
from hypothesis import given, strategies as st
from scipy.special import expit

from numvae.gradcheck import gradcheck
from numvae.nn import ACTIVATIONS, MLP, Linear, make_activation

# The activations written independently of numvae.nn, from their definitions.
REFERENCE = {
    "identity": lambda x: x,
    "relu": lambda x: x * (x > 0),
    "leaky_relu": lambda x: np.where(x >= 0, x, 0.01 * x),
    "tanh": lambda x: (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x)),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "softplus": lambda x: np.log1p(np.exp(x)),
}


def away_from_kinks(rng, shape):
    """Inputs with |x| >= 0.1, so a finite difference never straddles the ReLU kink."""
    x = rng.normal(size=shape)
    return np.where(np.abs(x) < 0.1, np.sign(x + 1e-12) * 0.1 + x, x)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_forward_matches_definition(name):
    x = np.linspace(-5, 5, 41)
    np.testing.assert_allclose(make_activation(name).forward(x), REFERENCE[name](x), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_backward(name):
    rng = np.random.default_rng(0)
    act = make_activation(name)
    params = {"x": away_from_kinks(rng, (4, 5))}
    w = rng.normal(size=(4, 5))  # random upstream gradient, not ones

    def fun(p):
        loss = float(np.sum(w * act.forward(p["x"])))
        return loss, {"x": act.backward(w)}

    report = gradcheck(fun, params)
    assert report.passed, str(report)


def assert_backward_matches(layer, x, w):
    """Gradcheck ``sum(w * layer(x))`` with respect to the layer's parameters and its input."""
    def fun(p):
        loss = float(np.sum(w * layer.forward(p["x"])))
        dx = layer.backward(w)
        return loss, dict(layer.grads, x=dx)

    report = gradcheck(fun, dict(layer.params, x=x))
    assert report.passed, str(report)


def test_linear_backward_over_sample_axes():
    rng = np.random.default_rng(1)
    layer = Linear(4, 3, rng=rng)
    layer.params["b"][:] = rng.normal(size=3)            # away from zero
    x = rng.normal(size=(2, 5, 4))                        # (L, N, D): shared weights
    assert_backward_matches(layer, x, rng.normal(size=(2, 5, 3)))


def test_linear_forward_is_affine():
    layer = Linear(2, 2, rng=0)
    layer.params["W"][:] = [[1.0, 2.0], [3.0, 4.0]]
    layer.params["b"][:] = [0.5, -0.5]
    np.testing.assert_allclose(layer.forward(np.array([[1.0, 1.0]])), [[4.5, 5.5]])


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_three_layer_mlp_backward(activation):
    rng = np.random.default_rng(2)
    net = MLP((5, 6, 4, 3), activation=activation, output_activation="sigmoid", rng=rng)
    for k, v in net.params.items():
        if k.endswith(".b"):
            v[:] = rng.normal(0, 0.5, size=v.shape)
    assert_backward_matches(net, rng.normal(size=(7, 5)), rng.normal(size=(7, 3)))
    assert set(net.params) == {"0.W", "0.b", "1.W", "1.b", "2.W", "2.b"}


def test_mlp_params_are_the_layers_live_arrays():
    net = MLP((3, 4, 2), rng=0)
    x = np.ones((1, 3))
    before = net.forward(x).copy()
    net.params["1.b"] += 1.0                               # an optimizer's in-place update
    np.testing.assert_allclose(net.forward(x), before + 1.0)


def test_initialization_scales():
    rng = np.random.default_rng(3)
    he = Linear(1000, 500, init="he", rng=rng).params["W"]
    # He: std sqrt(2 / fan_in); the sample std of 5e5 draws is within 1% of it
    np.testing.assert_allclose(he.std(), np.sqrt(2 / 1000), rtol=0.01)
    glorot = Linear(1000, 500, init="glorot", rng=rng).params["W"]
    limit = np.sqrt(6 / 1500)
    assert np.abs(glorot).max() <= limit
    np.testing.assert_allclose(glorot.std(), limit / np.sqrt(3), rtol=0.01)  # std of U(-a, a)
    # the MLP picks He for relu and Glorot for tanh
    assert np.abs(MLP((1000, 500), activation="tanh", output_activation="tanh", rng=0)
                  .params["0.W"]).max() <= limit


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mlp_keeps_its_dtype(dtype):
    net = MLP((4, 8, 3), activation="leaky_relu", dtype=dtype, rng=0)
    out = net.forward(np.random.default_rng(0).normal(size=(5, 4)))   # float64 input is cast
    dx = net.backward(np.ones_like(out))
    assert out.dtype == dtype and dx.dtype == dtype
    assert all(v.dtype == dtype for v in net.params.values())
    assert all(v.dtype == dtype for v in net.grads.values())


@given(st.integers(1, 5), st.integers(1, 4), st.integers(1, 6))
def test_mlp_shapes(n, n_in, n_out):
    net = MLP((n_in, 3, n_out), rng=0)
    out = net.forward(np.zeros((2, n, n_in)))
    assert out.shape == (2, n, n_out)
    assert net.backward(np.ones_like(out)).shape == (2, n, n_in)
    assert all(net.grads[k].shape == v.shape for k, v in net.params.items())


def test_bad_input_is_rejected_by_name():
    with pytest.raises(ValueError, match="activation must be one of"):
        MLP((3, 2), activation="swish")
    with pytest.raises(ValueError, match="output_activation must be one of"):
        MLP((3, 2), output_activation="softmax")
    with pytest.raises(ValueError, match="sizes must list at least two"):
        MLP((3,))
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., 3\)"):
        MLP((3, 2), rng=0).forward(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="dtype must be a floating dtype"):
        MLP((3, 2), dtype=np.int32)


def test_sigmoid_backward_uses_the_output_identity():
    # σ'(x) = σ(x)(1 - σ(x)): checked at one point against the closed form
    act = make_activation("sigmoid")
    act.forward(np.array([0.7]))
    np.testing.assert_allclose(act.backward(np.array([1.0])), expit(0.7) * (1 - expit(0.7)))
