"""Plots draw from plain arrays, write non-trivial PNGs atomically, and reject bad shapes."""

from statistics import NormalDist  # an independent inverse CDF to check against

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="matplotlib, a runtime dependency of numvae, is not installed: pip install -e '.[test]'")
from matplotlib.figure import Figure  # noqa: E402

from numvae import plots  # noqa: E402
from numvae.train import History  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _assert_png(path, min_bytes=2000):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > min_bytes, f"{path.name} is only {len(data)} bytes"
    # Atomic write: no temporary file left beside it.
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def _history(n=5, valid=True):
    h = History()
    for e in range(1, n + 1):
        h.append({"epoch": e, "beta": 1.0, "train_loss": 100 / e, "train_elbo": -100 / e,
                  "train_rec": -90 / e, "train_kl": 10.0 + e,
                  "valid_elbo": -105 / e if valid else None, "valid_rec": -94 / e if valid else None,
                  "valid_kl": 11.0 + e if valid else None, "active_units": 3,
                  "seconds": 0.1, "samples_per_s": 1e4})
    return h


def test_every_plot_writes_a_png(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.random((20, 64))
    z = rng.normal(size=(100, 2))
    figs = {
        "curves.png": plots.learning_curves(_history(), path=tmp_path / "curves.png"),
        "curves_no_valid.png": plots.learning_curves(_history(valid=False).to_dict(),
                                                     path=tmp_path / "curves_no_valid.png"),
        "grid.png": plots.image_grid(images, path=tmp_path / "grid.png"),
        "rows.png": plots.image_grid(images, ncols=5, row_labels=list("abcd"), title="rows", path=tmp_path / "rows.png"),
        "samples.png": plots.samples_grid(images, ncols=5, path=tmp_path / "samples.png"),
        "recon.png": plots.reconstructions(images, 1 - images, path=tmp_path / "recon.png"),
        "latent.png": plots.latent_scatter(z, labels=rng.integers(0, 10, 100), path=tmp_path / "latent.png"),
        "manifold.png": plots.manifold(rng.random((49, 784)), path=tmp_path / "manifold.png"),
        "ll.png": plots.loglik_vs_latent({"VAE": ([2, 10, 5], [-120, -100, -110]),
                                          "pPCA": ([2, 5, 10], [-150, -140, -130])},
                                         path=tmp_path / "ll.png"),
    }
    for name, fig in figs.items():
        assert isinstance(fig, Figure)
        _assert_png(tmp_path / name)
        assert plots.missing_labels(fig) == [], f"{name}: {plots.missing_labels(fig)}"


def test_missing_labels_names_what_a_figure_lacks():
    fig = Figure()
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1])
    assert plots.missing_labels(fig) == ["axes 0 has no title", "axes 0 ('') has no x label",
                                         "axes 0 ('') has no y label"]
    ax.set(xlabel="x", ylabel="y")
    fig.suptitle("a figure title covers its panels")
    assert plots.missing_labels(fig) == []


def test_loglik_vs_latent_draws_elbos_beside_and_a_log2_axis():
    fig = plots.loglik_vs_latent({"VAE": ([8, 2], [-100, -120])}, elbos={"VAE": ([2, 8], [-125, -104])}, k=500)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    (x_ll, y_ll), (x_el, y_el) = [line.get_data() for line in ax.get_lines()]
    np.testing.assert_array_equal(x_ll, [2, 8])        # sorted by K
    np.testing.assert_array_equal(y_ll, [-120, -100])
    np.testing.assert_array_equal(y_el, [-125, -104])
    assert any("k = 500" in t.get_text() for t in ax.texts)


def test_image_grid_labels_each_row():
    fig = plots.image_grid(np.zeros((6, 16)), ncols=3, title="t", row_labels=["a", "b"])
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["a", "b"]
    with pytest.raises(ValueError, match="row_labels"):
        plots.image_grid(np.zeros((6, 16)), ncols=3, row_labels=["a"])


def test_without_path_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert isinstance(plots.image_grid(np.zeros((4, 16))), Figure)
    assert list(tmp_path.iterdir()) == []


def test_mosaic_places_each_image_row_major():
    images = np.arange(3 * 4, dtype=float).reshape(3, 4)  # three 2x2 images
    m = plots._mosaic(images, ncols=2, pad=1)
    assert m.shape == (5, 5)
    np.testing.assert_array_equal(m[0:2, 0:2], [[0, 1], [2, 3]])
    np.testing.assert_array_equal(m[0:2, 3:5], [[4, 5], [6, 7]])
    np.testing.assert_array_equal(m[3:5, 0:2], [[8, 9], [10, 11]])
    assert np.isnan(m[2]).all() and np.isnan(m[3:5, 3:5]).all()


def test_manifold_z_is_gaussian_quantiles_with_z2_growing_upwards():
    z, q = plots.manifold_z(4)
    np.testing.assert_allclose(q, [NormalDist().inv_cdf(p) for p in (0.125, 0.375, 0.625, 0.875)], rtol=1e-12)
    np.testing.assert_allclose(q, -q[::-1])  # symmetric about 0
    assert z.shape == (16, 2)
    np.testing.assert_allclose(z[:4, 0], q)            # first picture row: z_1 left to right
    np.testing.assert_allclose(z[:4, 1], q[-1])        # ... at the largest z_2 (top)
    np.testing.assert_allclose(z[::4, 1], q[::-1])     # z_2 falls going down


def test_bad_input_raises():
    with pytest.raises(ValueError, match="square"):
        plots.image_grid(np.zeros((4, 10)))
    with pytest.raises(ValueError, match="recons must have the shape"):
        plots.reconstructions(np.zeros((4, 16)), np.zeros((3, 16)))
    with pytest.raises(ValueError, match=r"z must have shape \(N, 2\)"):
        plots.latent_scatter(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="labels"):
        plots.latent_scatter(np.zeros((5, 2)), labels=np.zeros(4))
    with pytest.raises(ValueError, match="n\\*n"):
        plots.manifold(np.zeros((10, 16)), n=3)
    with pytest.raises(ValueError, match="ncols"):
        plots.image_grid(np.zeros((4, 16)), ncols=0)
    with pytest.raises(ValueError, match="train_elbo"):
        plots.learning_curves({"epoch": [1]})
    with pytest.raises(ValueError, match="results"):
        plots.loglik_vs_latent({"VAE": ([1, 2], [3.0])})
    with pytest.raises(ValueError, match="images"):
        plots.image_grid(np.full((2, 4), np.nan))
