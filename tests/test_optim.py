"""Optimizers against hand-computed steps, on a quadratic, in float32, and on bad input."""

import numpy as np
import pytest

from numvae.optim import SGD, Adam


def test_adam_two_steps_by_hand():
    # lr = 0.1, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, theta_0 = (1, -2).
    theta = {"w": np.array([1.0, -2.0])}
    opt = Adam(theta, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8)
    eps = 1e-8

    # Step 1, g_1 = (0.5, -1):
    #   m_1 = 0.1 g_1            = (0.05, -0.1)
    #   v_1 = 0.001 g_1^2        = (0.00025, 0.001)
    #   m^_1 = m_1 / (1 - 0.9)   = (0.5, -1)
    #   v^_1 = v_1 / (1 - 0.999) = (0.25, 1)     sqrt = (0.5, 1)
    #   theta_1 = theta_0 - 0.1 (0.5/(0.5+eps), -1/(1+eps)) ~ (0.9, -1.9)
    opt.step({"w": np.array([0.5, -1.0])})
    theta1 = np.array([1.0 - 0.1 * 0.5 / (0.5 + eps), -2.0 + 0.1 * 1.0 / (1.0 + eps)])
    np.testing.assert_allclose(opt.m["w"], [0.05, -0.1], rtol=1e-14)
    np.testing.assert_allclose(opt.v["w"], [0.00025, 0.001], rtol=1e-14)
    np.testing.assert_allclose(theta["w"], theta1, rtol=1e-14)

    # Step 2, g_2 = (1, 2):
    #   m_2 = 0.9 m_1 + 0.1 g_2       = (0.045 + 0.1, -0.09 + 0.2)   = (0.145, 0.11)
    #   v_2 = 0.999 v_1 + 0.001 g_2^2 = (0.00024975 + 0.001, 0.000999 + 0.004) = (0.00124975, 0.004999)
    #   1 - 0.9^2 = 0.19,  1 - 0.999^2 = 0.001999
    #   m^_2 = (0.145/0.19, 0.11/0.19)             = (0.7631578947, 0.5789473684)
    #   v^_2 = (0.00124975/0.001999, 0.004999/0.001999) = (0.6251875938, 2.5007503752)
    #   theta_2 = theta_1 - 0.1 m^_2 / (sqrt(v^_2) + eps)
    #           ~ (0.9 - 0.0965182, -1.9 - 0.0366101) = (0.8034818, -1.9366101)
    opt.step({"w": np.array([1.0, 2.0])})
    m_hat = np.array([0.145 / 0.19, 0.11 / 0.19])
    v_hat = np.array([0.00124975 / 0.001999, 0.004999 / 0.001999])
    theta2 = theta1 - 0.1 * m_hat / (np.sqrt(v_hat) + eps)
    np.testing.assert_allclose(opt.m["w"], [0.145, 0.11], rtol=1e-14)
    np.testing.assert_allclose(opt.v["w"], [0.00124975, 0.004999], rtol=1e-12)
    np.testing.assert_allclose(theta["w"], theta2, rtol=1e-13)
    np.testing.assert_allclose(theta["w"], [0.8034818, -1.9366101], atol=1e-7)
    assert opt.t == 2


def test_sgd_momentum_sequence_by_hand():
    # lr = 0.1, mu = 0.9, theta_0 = 1, gradients 1, 2, -1:
    #   v_1 = 1,                  theta_1 = 1    - 0.1*1    = 0.9
    #   v_2 = 0.9*1 + 2 = 2.9,    theta_2 = 0.9  - 0.1*2.9  = 0.61
    #   v_3 = 0.9*2.9 - 1 = 1.61, theta_3 = 0.61 - 0.1*1.61 = 0.449
    theta = {"w": np.array([1.0])}
    opt = SGD(theta, lr=0.1, momentum=0.9)
    seen = []
    for g in (1.0, 2.0, -1.0):
        opt.step({"w": np.array([g])})
        seen.append((opt.velocity["w"][0], theta["w"][0]))
    np.testing.assert_allclose(seen, [(1.0, 0.9), (2.9, 0.61), (1.61, 0.449)], rtol=1e-14)


def test_plain_sgd_is_gradient_descent():
    theta = {"w": np.array([3.0, -1.0])}
    SGD(theta, lr=0.5).step({"w": np.array([2.0, 4.0])})
    np.testing.assert_array_equal(theta["w"], [2.0, -3.0])


def _quadratic(theta):
    """f = 1/2 (w - c)^T A (w - c) with an ill-conditioned diagonal A; grad = A (w - c)."""
    A = np.array([1.0, 10.0])
    c = np.array([2.0, -3.0])
    w = theta["w"]
    return 0.5 * np.sum(A * (w - c) ** 2), {"w": A * (w - c)}


@pytest.mark.parametrize("make", [
    lambda p: SGD(p, lr=0.05, momentum=0.9),
    lambda p: Adam(p, lr=0.05),
])
def test_minimizes_a_quadratic(make):
    theta = {"w": np.array([-4.0, 5.0])}
    opt = make(theta)
    f0, _ = _quadratic(theta)
    for _ in range(1000):
        _, g = _quadratic(theta)
        opt.step(g)
    f, _ = _quadratic(theta)
    assert f < 1e-6 * f0
    np.testing.assert_allclose(theta["w"], [2.0, -3.0], atol=1e-3)


@pytest.mark.parametrize("cls", [SGD, Adam])
def test_float32_stays_float32_and_updates_in_place(cls):
    w = np.ones((3, 2), dtype=np.float32)
    theta = {"w": w}
    opt = cls(theta, lr=0.1) if cls is Adam else cls(theta, lr=0.1, momentum=0.5)
    for _ in range(3):
        opt.step({"w": np.full((3, 2), 0.5)})  # float64 gradient: cast, not promoted
    assert theta["w"] is w and w.dtype == np.float32
    assert np.all(w < 1)
    state = [opt.velocity["w"]] if cls is SGD else [opt.m["w"], opt.v["w"]]
    assert all(s.dtype == np.float32 for s in state)


def test_bad_arguments_raise():
    p = {"w": np.zeros(2)}
    with pytest.raises(ValueError, match="lr"):
        Adam(p, lr=0)
    with pytest.raises(ValueError, match="lr"):
        SGD(p, lr=float("nan"))
    with pytest.raises(ValueError, match="momentum"):
        SGD(p, lr=0.1, momentum=1.0)
    with pytest.raises(ValueError, match="beta1"):
        Adam(p, beta1=-0.1)
    with pytest.raises(ValueError, match="beta2"):
        Adam(p, beta2=1.0)
    with pytest.raises(ValueError, match="eps"):
        Adam(p, eps=0.0)
    with pytest.raises(ValueError, match="params"):
        Adam({})
    with pytest.raises(ValueError, match="params"):
        Adam({"w": [0.0, 1.0]})
    with pytest.raises(ValueError, match="params"):
        SGD({"w": np.zeros(2, dtype=int)}, lr=0.1)


@pytest.mark.parametrize("cls", [SGD, Adam])
def test_bad_grads_raise_and_leave_params_untouched(cls):
    theta = {"a": np.ones(2), "b": np.ones(3)}
    opt = cls(theta, lr=0.1)
    with pytest.raises(ValueError, match="keys"):
        opt.step({"a": np.ones(2)})
    with pytest.raises(ValueError, match=r"grads\['b'\] must have shape \(3,\)"):
        opt.step({"a": np.ones(2), "b": np.ones(4)})
    # 'a' came before the bad 'b': validation happens before any update.
    np.testing.assert_array_equal(theta["a"], np.ones(2))
    assert opt.t == 0


@pytest.mark.parametrize("make", [lambda p: Adam(p, lr=0.01), lambda p: SGD(p, lr=0.01, momentum=0.9)],
                         ids=["adam", "sgd"])
def test_a_restored_state_continues_the_same_iterates(make):
    """Steps 1-3 in one optimizer, 4-6 in another loaded with its state: the same as 1-6 in one."""
    rng = np.random.default_rng(0)
    grads = [{"w": rng.normal(size=(3, 2)), "b": rng.normal(size=2)} for _ in range(6)]
    start = {"w": rng.normal(size=(3, 2)), "b": rng.normal(size=2)}
    whole = {k: v.copy() for k, v in start.items()}
    one = make(whole)
    for g in grads:
        one.step(g)
    split = {k: v.copy() for k, v in start.items()}
    first = make(split)
    for g in grads[:3]:
        first.step(g)
    t, arrays = first.state()
    second = make(split)
    second.load_state(t, arrays)
    for g in grads[3:]:
        second.step(g)
    for k in whole:
        assert whole[k].tobytes() == split[k].tobytes()
    assert second.t == 6
    # A fresh optimizer, without the state, takes other steps.
    fresh = {k: v.copy() for k, v in start.items()}
    opt = make(fresh)
    for g in grads[:3]:
        opt.step(g)
    opt = make(fresh)
    for g in grads[3:]:
        opt.step(g)
    assert any(not np.array_equal(fresh[k], whole[k]) for k in whole)


def test_load_state_refuses_a_state_of_other_keys_or_shapes():
    opt = Adam({"w": np.zeros(3)})
    with pytest.raises(ValueError, match=r"^optimizer state must hold \['m.w', 'v.w'\]; got \['m.w'\]"):
        opt.load_state(1, {"m.w": np.zeros(3)})
    with pytest.raises(ValueError, match=r"^optimizer state 'v.w' must have shape \(3,\); got \(2,\)"):
        opt.load_state(1, {"m.w": np.zeros(3), "v.w": np.zeros(2)})
    with pytest.raises(ValueError, match="^optimizer step count must be an integer >= 0; got -1"):
        opt.load_state(-1, {"m.w": np.zeros(3), "v.w": np.zeros(3)})
    assert opt.t == 0 and not opt.m["w"].any()
    assert opt.settings() == {"name": "adam", "lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}


# --- Adam against Algorithm 1 ---------------------------------------------------------

def _textbook_adam(theta, grads, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """Kingma & Ba (2015), Algorithm 1, line by line, in float64: the iterates after each gradient."""
    theta = theta.astype(np.float64)
    m, v, out = np.zeros_like(theta), np.zeros_like(theta), []
    for t, g in enumerate(grads, start=1):
        g = g.astype(np.float64)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1 ** t)
        v_hat = v / (1 - beta2 ** t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(theta)
    return out


def adam_within_rounding_of_the_textbook(make, dtype, rtol):
    """Six steps of ``make(params)`` on gradients of mixed scales (some zero) against :func:`_textbook_adam`."""
    rng = np.random.default_rng(1)
    flat, gflat = rng.normal(size=5000).astype(dtype), np.zeros(5000, dtype=dtype)
    params = {"W": flat[:4000].reshape(40, 100), "b": flat[4000:]}
    grads = {"W": gflat[:4000].reshape(40, 100), "b": gflat[4000:]}
    start = flat.copy()
    opt = make(params)
    seen = []
    for _ in range(6):
        # Gradients of mixed scales, some entries zero (there eps decides the step).
        gflat[:] = rng.normal(size=5000) * 10.0 ** rng.integers(-4, 2, size=5000) * (rng.random(5000) > 0.05)
        seen.append(gflat.copy())
        opt.step(grads)
        assert params["W"].dtype == dtype and params["W"].base is flat
    want = _textbook_adam(start, seen, lr=0.01)[-1]
    # Float rounding: a relative error in each step's size (about lr = 0.01),
    # plus half an ulp of theta lost when each of the 6 steps is added to it.
    ulp = np.finfo(dtype).eps * np.abs(want)
    assert np.all(np.abs(flat - want) <= rtol * np.abs(want - start) + 6 * ulp)
    assert opt.m["W"].dtype == opt.v["b"].dtype == dtype


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_adam_equals_the_textbook_algorithm(dtype, rtol):
    adam_within_rounding_of_the_textbook(lambda p: Adam(p, lr=0.01), dtype, rtol)


def test_non_finite_names_the_gradients_holding_nan_or_inf():
    opt = Adam({"a": np.zeros(3), "b": np.zeros(2), "c": np.zeros(1)})
    big = np.finfo(np.float64).max
    assert opt.non_finite({"a": np.array([1.0, big, -big]), "b": np.zeros(2), "c": np.ones(1)}) == []
    assert opt.non_finite({"a": np.array([1.0, np.nan, 0]), "b": np.zeros(2), "c": np.array([-np.inf])}) == ["a", "c"]
