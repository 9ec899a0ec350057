"""Tests of numvae.autoencoder: gradients, the loss against the math, denoising, files, errors.

Gradient checks are float64, every entry of every parameter, with biases
drawn away from zero and the corruption noise frozen.
"""

import numpy as np
import pytest

from numvae.autoencoder import Autoencoder
from numvae.objectives import SquaredError
from numvae.data import load_digits
from numvae.gradcheck import gradcheck
from numvae.io import save_checkpoint


def tiny(corruption="none", noise_level=0.0, hidden=(5,), activation="tanh", output="identity", seed=0):
    ae = Autoencoder(6, hidden=hidden, z_dim=3, activation=activation, output=output,
                     corruption=corruption, noise_level=noise_level, seed=seed)
    rng = np.random.default_rng(seed + 100)
    for k, v in ae.params.items():
        if k.endswith(".b"):
            v[:] = rng.normal(0, 0.5, size=v.shape)
    return ae


def batch(n=7, seed=1):
    return np.random.default_rng(seed).uniform(0.02, 0.98, size=(n, 6))


GRAD_CASES = [  # corruption, noise_level, hidden, activation, output
    ("none", 0.0, (5,), "tanh", "identity"),
    ("none", 0.0, (4, 5), "softplus", "sigmoid"),
    ("none", 0.0, (), "identity", "identity"),
    ("gaussian", 0.3, (5,), "tanh", "sigmoid"),
    ("masking", 0.4, (5,), "tanh", "identity"),
    ("masking", 0.25, (5,), "softplus", "sigmoid"),
]


@pytest.mark.parametrize("corruption, level, hidden, act, output", GRAD_CASES)
def test_gradcheck_full_loss_every_parameter(corruption, level, hidden, act, output):
    ae = tiny(corruption, level, hidden, act, output)
    x = batch()
    noise = (np.random.default_rng(5).standard_normal(x.shape) if corruption == "gaussian"
             else np.random.default_rng(5).random(x.shape))
    report = gradcheck(lambda p: ae.loss_and_grads(x, noise=noise), ae.params, eps=1e-6, tol=1e-6)
    assert set(r.name for r in report.rows) == set(ae.params)
    assert report.passed, str(report)
    assert report.max_rel_err <= 1e-6


def test_gradcheck_catches_a_wrong_gradient():
    ae = tiny()
    x = batch()

    def wrong(p):
        loss, grads = ae.loss_and_grads(x)
        grads = {k: v.copy() for k, v in grads.items()}
        grads["dec.0.b"] *= 0.5          # as if the factor 2 of d(r²)/dr were forgotten on one parameter
        return loss, grads

    report = gradcheck(wrong, ae.params)
    assert not report.passed and report["dec.0.b"].max_rel_err > 0.1


def test_loss_is_the_mean_squared_error_of_an_independent_forward():
    ae = tiny("gaussian", 0.3, output="sigmoid")
    x = batch()
    eps = np.random.default_rng(2).standard_normal(x.shape)
    loss, _ = ae.loss_and_grads(x, noise=eps)
    # independent forward from the raw parameter arrays
    p = ae.params
    h = np.tanh((x + 0.3 * eps) @ p["enc.0.W"] + p["enc.0.b"])
    z = h @ p["enc.1.W"] + p["enc.1.b"]
    h2 = np.tanh(z @ p["dec.0.W"] + p["dec.0.b"])
    x_hat = 1 / (1 + np.exp(-(h2 @ p["dec.1.W"] + p["dec.1.b"])))
    expected = np.mean(np.sum((x - x_hat) ** 2, axis=1))
    assert loss == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(ae.last_terms["sq_err"], np.sum((x - x_hat) ** 2, axis=1), rtol=1e-12)
    # the plain autoencoder's loss is ||x - reconstruct(x)||² averaged
    plain = tiny()
    loss0, _ = plain.loss_and_grads(x)
    assert loss0 == pytest.approx(np.mean(np.sum((x - plain.reconstruct(x)) ** 2, axis=1)), rel=1e-12)
    assert loss0 == pytest.approx(plain.squared_error(x).mean(), rel=1e-12)


def test_corruption_statistics():
    x = np.full((4000, 6), 0.5)
    g = tiny("gaussian", 0.3)
    xt = g.corrupt(x, rng=0)
    assert abs(np.std(xt - x) - 0.3) < 0.01 and abs(np.mean(xt - x)) < 0.01
    m = tiny("masking", 0.25)
    xt = m.corrupt(x, rng=0)
    assert set(np.unique(xt)) <= {0.0, 0.5}
    assert abs(np.mean(xt == 0) - 0.25) < 0.01
    u = np.random.default_rng(3).random(x.shape)
    np.testing.assert_array_equal(m.corrupt(x, noise=u), x * (u >= 0.25))
    assert tiny().corrupt(x, rng=0) is not None and np.array_equal(tiny().corrupt(x), x)


def test_encode_decode_shapes_and_dtype():
    ae = Autoencoder(64, hidden=(16, 8), z_dim=2, dtype=np.float32, seed=1)
    x = np.random.default_rng(0).random((9, 64))
    z = ae.encode(x)
    assert z.shape == (9, 2) and z.dtype == np.float32
    assert ae.decode(z).shape == (9, 64)
    assert ae.reconstruct(x).shape == (9, 64)
    assert ae.decode(z).dtype == np.float32
    assert sorted(ae.params) == sorted(ae.grads)
    assert all(k.startswith(("enc.", "dec.")) for k in ae.params)


def test_denoising_training_lowers_the_error_on_corrupted_inputs():
    X, _ = load_digits()
    X = X[:600]
    ae = Autoencoder(64, hidden=(32,), z_dim=8, output="sigmoid", corruption="masking", noise_level=0.3, seed=0)
    u = np.random.default_rng(9).random(X.shape)
    X_tilde = ae.corrupt(X, noise=u)
    before = ae.squared_error(X, X_tilde).mean()
    losses = ae.fit(X, epochs=15, batch_size=50, lr=3e-3, seed=0)
    after = ae.squared_error(X, X_tilde).mean()
    assert losses[-1] < losses[0]
    assert after < 0.5 * before, (before, after)
    # and it denoises: the reconstruction from the corrupted input is closer to x than x̃ is
    assert after < np.mean(np.sum((X - X_tilde) ** 2, axis=1))


def test_fit_is_reproducible():
    X = load_digits()[0][:200]
    a = Autoencoder(64, hidden=(8,), z_dim=2, corruption="gaussian", noise_level=0.1, seed=3)
    b = Autoencoder(64, hidden=(8,), z_dim=2, corruption="gaussian", noise_level=0.1, seed=3)
    np.testing.assert_array_equal(a.fit(X, epochs=2, seed=4), b.fit(X, epochs=2, seed=4))
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])


def test_save_load_roundtrip(tmp_path):
    ae = tiny("masking", 0.2, output="sigmoid")
    path = tmp_path / "ae.npz"
    ae.save(path)
    back = Autoencoder.load(path)
    assert back.config == ae.config
    x = batch()
    np.testing.assert_array_equal(back.reconstruct(x), ae.reconstruct(x))


def test_load_rejects_other_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        Autoencoder.load(tmp_path / "missing.npz")
    ae = tiny()
    path = tmp_path / "bad.npz"
    params = dict(ae.params)
    params["enc.0.W"] = np.zeros((2, 2))
    save_checkpoint(path, params, "Autoencoder", ae.config)
    with pytest.raises(ValueError, match="enc.0.W"):
        Autoencoder.load(path)
    save_checkpoint(path, ae.params, "VAE", ae.config)
    with pytest.raises(ValueError, match="Autoencoder"):
        Autoencoder.load(path)


@pytest.mark.parametrize("kwargs, match", [
    ({"x_dim": 0}, "x_dim"),
    ({"z_dim": 1.5}, "z_dim"),
    ({"hidden": 3}, "hidden"),
    ({"hidden": (4, -1)}, "hidden"),
    ({"activation": "swish"}, "activation"),
    ({"output": "softmax"}, "output"),
    ({"corruption": "salt"}, "corruption"),
    ({"corruption": "gaussian", "noise_level": 0.0}, "noise_level"),
    ({"corruption": "masking", "noise_level": 1.0}, "noise_level"),
    ({"corruption": "masking", "noise_level": "0.2"}, "noise_level"),
    ({"dtype": np.int32}, "dtype"),
    ({"seed": -1}, "seed"),
])
def test_bad_constructor_arguments(kwargs, match):
    args = {"x_dim": 6, **kwargs}
    with pytest.raises(ValueError, match=match):
        Autoencoder(**args)


def test_bad_inputs_name_the_argument():
    ae = tiny("masking", 0.3)
    x = batch()
    with pytest.raises(ValueError, match=r"x must have shape \(N, 6\)"):
        ae.loss_and_grads(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="x must be finite"):
        ae.loss_and_grads(np.full((3, 6), np.nan))
    with pytest.raises(ValueError, match="noise must have the shape"):
        ae.loss_and_grads(x, noise=np.zeros((2, 6)))
    with pytest.raises(ValueError, match="noise must hold uniform draws"):
        ae.loss_and_grads(x, noise=np.full(x.shape, 2.0))
    with pytest.raises(ValueError, match="rng"):
        ae.corrupt(x, rng="seed")
    with pytest.raises(ValueError, match="z must have shape"):
        ae.decode(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="x_input must have the shape"):
        ae.squared_error(x, x[:3])
    with pytest.raises(ValueError, match="epochs"):
        ae.fit(x, epochs=-1)
    with pytest.raises(ValueError, match="lr"):
        ae.fit(x, epochs=1, lr=0.0)


@pytest.mark.parametrize("corruption,level", [("none", 0.0), ("masking", 0.3)])
def test_fit_is_train_fit_with_the_squared_error_and_the_plain_loop_of_the_lecture(corruption, level):
    # The loop written out here (shuffle, one Adam step per batch, noise from the one generator) is the
    # reference: Autoencoder.fit, which now goes through numvae.train.fit, gives the same numbers bit for bit.
    from numvae.optim import Adam
    from numvae.train import fit

    X = np.random.default_rng(0).uniform(size=(70, 6))
    a = Autoencoder(6, hidden=(5,), z_dim=2, corruption=corruption, noise_level=level, seed=1)
    b = Autoencoder(6, hidden=(5,), z_dim=2, corruption=corruption, noise_level=level, seed=1)
    losses = a.fit(X, epochs=3, batch_size=20, lr=1e-2, seed=5)
    rng, opt, want = np.random.default_rng(5), Adam(b.params, lr=1e-2), []
    for _ in range(3):
        order, total = rng.permutation(70), 0.0
        for start in range(0, 70, 20):
            xb = X[order[start:start + 20]]
            loss, grads = b.loss_and_grads(xb, rng=rng)
            opt.step(grads)
            total += loss * len(xb)
        want.append(total / 70)
    np.testing.assert_array_equal(losses, want)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    history = fit(Autoencoder(6, hidden=(5,), z_dim=2, seed=1), X, X[:10], epochs=2, progress=False,
                  objective=SquaredError())
    assert history["train_elbo"] == [None, None] and history["active_units"] == [None, None]
