"""The conditional VAE: its backward against finite differences, the label's role, files, fit with labels, the CLI."""

import numpy as np
import pytest

from numvae import cli
from numvae import conditional as conditional_module
from numvae.checks import check_labels
from numvae.conditional import ConditionalVAE, one_hot
from numvae.gradcheck import VAE_EPS, conditional_case, conditional_reports, gradcheck
from numvae.objectives import IWAE
from numvae.train import fit
from numvae.vae import VAE

from helpers import assert_bitwise_equal, params_copy


@pytest.fixture(scope="module")
def tiny_digits():
    """240 of the embedded digits and their labels."""
    from numvae.data import load_digits

    X, y = load_digits()
    return X[:240], y[:240]


def small(seed=0, **kw):
    return ConditionalVAE(6, 3, hidden=(5,), z_dim=2, activation="tanh", seed=seed, **kw)


def test_every_family_passes_the_gradient_check():
    reports = conditional_reports(seed=0)
    assert len(reports) >= 12
    for title, report in reports:
        assert report.passed, f"{title}\n{report}"
        assert report.max_rel_err <= 1e-6


def test_the_gradient_check_fails_when_the_label_columns_are_kept_in_dz(monkeypatch):
    # Teeth: ∂/∂z taken from the label's columns (the last K of [z, e_y]) instead of the first K.
    model, fun, _ = conditional_case("bernoulli", seed=1)
    K, C = model.z_dim, model.n_classes
    assert C >= K
    monkeypatch.setattr(model, "decoder_backward", lambda dout: model.decoder.backward(dout)[..., C:C + K])
    assert not gradcheck(fun, model.params, eps=VAE_EPS).passed


def test_iwae_trains_it_through_given_and_its_gradient_is_exact():
    model, _, (x, y, _) = conditional_case("gaussian", "shared", seed=3)
    eps = np.random.default_rng(0).standard_normal((3, x.shape[0], model.z_dim))
    objective = IWAE(3)
    report = gradcheck(lambda p: objective.loss_and_grads(model.given(y), x, eps=eps), model.params, eps=VAE_EPS)
    assert report.passed, str(report)


def test_zero_label_weights_make_it_the_vae_and_a_label_is_a_bias():
    # Independent reference: the plain VAE with the same weights. With the label rows of both first
    # layers zero the label is ignored; with them nonzero, label y adds row y to the first bias.
    cvae, vae = small(seed=2), VAE(6, hidden=(5,), z_dim=2, activation="tanh", seed=5)
    rng = np.random.default_rng(0)
    for k, p in cvae.params.items():
        p[...] = rng.normal(0, 0.5, p.shape)
    x = rng.uniform(0.05, 0.95, (4, 6))
    for a in range(3):
        y = np.full(4, a)
        for name, part in (("enc", 6), ("dec", 2)):
            W = cvae.params[f"{name}.0.W"]
            vae.params[f"{name}.0.W"][...] = W[:part]
            vae.params[f"{name}.0.b"][...] = cvae.params[f"{name}.0.b"] + W[part + a]
            vae.params[f"{name}.1.W"][...] = cvae.params[f"{name}.1.W"]
            vae.params[f"{name}.1.b"][...] = cvae.params[f"{name}.1.b"]
        mu, logvar = cvae.encode(x, y)
        mu_v, logvar_v = vae.encode(x)
        np.testing.assert_allclose(mu, mu_v, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(logvar, logvar_v, rtol=1e-12, atol=1e-12)
        z = rng.normal(size=(4, 2))
        np.testing.assert_allclose(cvae.decode(z, y), vae.decode(z), rtol=1e-12, atol=1e-12)
        eps = rng.normal(size=(4, 2))
        np.testing.assert_allclose(cvae.elbo(x, y, eps=eps)[0], vae.elbo(x, eps=eps)[0], rtol=1e-12)


def test_the_label_changes_the_image_and_swap_is_decode_of_the_mean():
    model = small(seed=1)
    x = np.random.default_rng(1).uniform(0.05, 0.95, (3, 6))
    y = np.array([0, 1, 2])
    assert not np.allclose(model.decode(np.zeros((3, 2)), y), model.decode(np.zeros((3, 2)), [1, 1, 1]))
    np.testing.assert_array_equal(model.swap(x, y, [2, 2, 2]), model.decode(model.encode(x, y)[0], [2, 2, 2]))
    np.testing.assert_array_equal(model.reconstruct(x, y), model.swap(x, y, y))
    assert model.sample([0, 1, 2, 2], rng=0).shape == (4, 6)


def test_loss_is_minus_the_mean_elbo_at_beta_one():
    model = small(seed=4)
    rng = np.random.default_rng(4)
    x, y, eps = rng.uniform(0.05, 0.95, (5, 6)), rng.integers(0, 3, 5), rng.normal(size=(5, 2))
    loss, _ = model.loss_and_grads(x, y, eps=eps)
    assert loss == pytest.approx(-model.elbo(x, y, eps=eps)[0].mean(), rel=1e-12)


def test_labels_are_checked_by_name():
    model = small()
    x = np.full((3, 6), 0.5)
    for bad, text in [([0, 1], "one label per row"), ([0, 1, 3], "0..2"), ([0, -1, 1], "0..2"),
                      ([0.5, 1, 1], "integer"), ([[0, 1, 2]], "1-D"), (["a", "b", "c"], "integer")]:
        with pytest.raises(ValueError, match="y") as err:
            model.encode(x, bad)
        assert text in str(err.value)
    with pytest.raises(ValueError, match="n_classes"):
        ConditionalVAE(6, 1)
    np.testing.assert_array_equal(check_labels(np.array([2.0, 0.0]), "y", 3), [2, 0])
    np.testing.assert_array_equal(one_hot(np.array([2, 0]), 3), [[0, 0, 1], [1, 0, 0]])


def test_save_and_load_round_trip(tmp_path):
    model = small(seed=3, decoder="gaussian", decoder_var="shared")
    model.save(tmp_path / "c.npz")
    back = ConditionalVAE.load(tmp_path / "c.npz")
    assert back.config == model.config
    assert_bitwise_equal(params_copy(back), params_copy(model))
    VAE(6, hidden=(5,), z_dim=2).save(tmp_path / "v.npz")
    with pytest.raises(ValueError, match="expected a 'ConditionalVAE'"):
        ConditionalVAE.load(tmp_path / "v.npz")
    with pytest.raises(ValueError, match="expected a 'VAE'"):
        VAE.load(tmp_path / "c.npz")


def test_fit_gives_every_batch_the_labels_of_its_rows(monkeypatch):
    # Row i is the constant i/N and has label i mod 3: each batch's labels must match its rows.
    N = 30
    X = np.repeat((np.arange(N) / N)[:, None], 6, axis=1)
    y = np.arange(N) % 3
    model = small(seed=0)
    seen = []
    real_given = ConditionalVAE.given

    def recording(self, labels):
        view = real_given(self, labels)
        real_forward = view.forward

        def forward(x, *args, **kwargs):
            seen.append((np.round(np.asarray(x)[:, 0] * N).astype(int), view.y.copy()))
            return real_forward(x, *args, **kwargs)
        view.forward = forward
        return view
    monkeypatch.setattr(ConditionalVAE, "given", recording)
    fit(model, X, y=y, epochs=2, batch_size=7, progress=False, seed=1)
    assert len(seen) >= 2 * 5
    for rows, labels in seen:
        np.testing.assert_array_equal(labels, rows % 3)
    assert any(not np.array_equal(rows, np.sort(rows)) for rows, _ in seen)     # the batches were shuffled


def test_fit_trains_it_on_the_digits_and_the_elbo_rises(tiny_digits):
    X, y = tiny_digits
    model = ConditionalVAE(64, 10, hidden=(16,), z_dim=3, seed=0)
    history = model.fit(X[:200], y[:200], X[200:], y[200:], epochs=6, batch_size=20, lr=3e-3,
                        progress=False).history_
    assert history["valid_elbo"][-1] > history["valid_elbo"][0] + 5


def test_fit_refuses_missing_or_wrong_labels(tiny_digits):
    X, y = tiny_digits
    model = ConditionalVAE(64, 10, hidden=(4,), z_dim=2)
    cases = [(dict(), "y must hold the labels"), (dict(y=y[:-1]), "one label per row"),
             (dict(y=y + 10), "0..9"), (dict(y=y, X_valid=X[:5]), "y_valid must hold"),
             (dict(y=y, y_valid=y[:5]), "without X_valid"),
             (dict(y=y, X_valid=X[:5], y_valid=y[:4]), "y_valid must have one label per row")]
    for kwargs, text in cases:
        with pytest.raises(ValueError, match="y") as err:
            fit(model, X, epochs=0, progress=False, **kwargs)
        assert text in str(err.value), (kwargs.keys(), str(err.value))
    with pytest.raises(ValueError, match="y is for a conditional model"):
        fit(VAE(64, hidden=(4,), z_dim=2), X, y=y, epochs=0, progress=False)


def test_a_resumed_run_ends_bit_for_bit_as_an_uninterrupted_one(tmp_path, tiny_digits):
    X, y = tiny_digits
    X, y, Xv, yv = X[:120], y[:120], X[120:160], y[120:160]

    def run(epochs, path, resume=False):
        model = ConditionalVAE(64, 10, hidden=(8,), z_dim=2, seed=0)
        fit(model, X, Xv, epochs=epochs, batch_size=30, progress=False, checkpoint=path, resume=resume,
            y=y, y_valid=yv)
        return model
    whole = run(4, tmp_path / "a" / "m.npz")
    run(2, tmp_path / "b" / "m.npz")
    resumed = run(4, tmp_path / "b" / "m.npz", resume=True)
    assert_bitwise_equal(params_copy(resumed), params_copy(whole))
    model = ConditionalVAE(64, 10, hidden=(8,), z_dim=2, seed=0)
    with pytest.raises(ValueError, match="y is not the data"):
        fit(model, X, Xv, epochs=5, batch_size=30, progress=False, checkpoint=tmp_path / "b" / "m.npz",
            resume=True, y=(y + 1) % 10, y_valid=yv)


def test_numvae_train_condition_labels_on_the_digits(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "--condition", "labels", "--hidden", "16", "--z-dim", "2", "--epochs", "1",
                     "--dtype", "float64", "--out", str(out), "--quiet"]) == 0
    for name in ("model.npz", "swaps.png", "samples.png", "reconstructions.png"):
        assert (out / name).is_file(), name
    model = ConditionalVAE.load(out / "model.npz")
    assert model.n_classes == 10 and model.x_dim == 64
    # --resume reads --condition from the run: it continues the conditional model.
    assert cli.main(["train", "--resume", str(out), "--epochs", "2", "--quiet"]) == 0
    assert "final valid ELBO" in capsys.readouterr().out
    assert cli.main(["train", "--condition", "labels", "--threads", "2", "--out", str(tmp_path / "r2"),
                     "--quiet"]) == 2


def test_the_module_names_its_kind_once():
    assert conditional_module.KIND == ConditionalVAE.__name__
