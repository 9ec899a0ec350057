"""The measures of disentanglement: the classifier against references, swaps, style, what codes know."""

import numpy as np
import pytest

from numvae import disentangle as d
from numvae.conditional import ConditionalVAE
from numvae.gradcheck import gradcheck


def blobs(n=300, seed=0, D=3, C=3, sep=4.0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, C, n)
    centres = rng.normal(0, sep, (C, D))
    return centres[y] + rng.normal(size=(n, D)), y


def test_binomial_se():
    assert d.binomial_se(0.5, 100) == pytest.approx(0.05)
    assert d.binomial_se(0.0, 10) == 0.0


def test_softmax_regression_gradient_is_exact():
    X, y = blobs(40, seed=1)
    clf = d.SoftmaxRegression(l2=0.3)
    theta = np.random.default_rng(1).normal(size=3 * 3 + 3)

    def fun(p):
        loss, g = clf.loss_and_grad(p["theta"], X, y, 3)
        return loss, {"theta": g}
    report = gradcheck(fun, {"theta": theta})
    assert report.passed, str(report)


def test_softmax_regression_separates_blobs_and_matches_scikit_learn():
    X, y = blobs(400, seed=2)
    clf = d.SoftmaxRegression(l2=1e-3).fit(X[:300], y[:300])
    assert clf.score(X[300:], y[300:]) > 0.9
    np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0)
    sklearn = pytest.importorskip("sklearn.linear_model", reason="scikit-learn is the test-only reference")
    # The same convex problem: scikit-learn's C is 1/(N λ) for its summed loss on the standardised features.
    Xs = (X[:300] - clf.mean_) / clf.scale_
    ref = sklearn.LogisticRegression(C=1 / (300 * 1e-3), tol=1e-10, max_iter=5000).fit(Xs, y[:300])
    np.testing.assert_allclose(clf.predict_proba(X[300:]),
                               ref.predict_proba((X[300:] - clf.mean_) / clf.scale_), atol=2e-3)


def test_softmax_regression_on_the_digits_beats_ninety_percent():
    from numvae.data import load_digits, split

    X, y = load_digits()
    (Xtr, ytr), (Xte, yte) = split(X, [0.8, 0.2], 0, y=y)
    acc = d.SoftmaxRegression(l2=1e-2).fit(Xtr, ytr).score(Xte, yte)
    assert acc > 0.9 + 4 * d.binomial_se(0.9, len(yte))


def test_an_unfitted_classifier_and_bad_labels_are_named():
    with pytest.raises(ValueError, match="fitted"):
        d.SoftmaxRegression().predict(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="y"):
        d.SoftmaxRegression().fit(np.zeros((3, 2)), [0, 1])
    with pytest.raises(ValueError, match="l2"):
        d.SoftmaxRegression(l2=-1)


def test_swap_targets_are_uniform_over_the_other_labels():
    y = np.zeros(90000, dtype=int)
    t = d.swap_targets(y, 10, 0)
    assert not np.any(t == 0)
    counts = np.bincount(t, minlength=10)[1:] / len(t)
    se = d.binomial_se(1 / 9, len(t))
    assert np.all(np.abs(counts - 1 / 9) < 4 * se)


def test_style_of_known_images():
    # A vertical bar has slant 0; a bar leaning right (top to the right) a positive slant of its slope dc/dr.
    bar = np.zeros((8, 8))
    bar[:, 3] = 1
    lean = np.zeros((8, 8))
    for r in range(8):
        lean[r, 7 - r] = 1                       # c = 7 - r: the top row is rightmost; dc/dr = -1
    s = d.style(np.stack([bar.ravel(), lean.ravel(), 0.5 * bar.ravel()]))
    assert s[0, 1] == pytest.approx(0.0, abs=1e-12)
    assert s[1, 1] == pytest.approx(1.0)
    assert s[0, 0] == pytest.approx(1 / 8) and s[2, 0] == pytest.approx(1 / 16)   # ink halves, slant does not
    assert s[2, 1] == pytest.approx(0.0, abs=1e-12)
    assert s[0, 2] == pytest.approx(0.0, abs=1e-12)                     # one column wide
    assert s[1, 2] == pytest.approx(np.std(np.arange(8)))               # the columns 0..7, once each
    with pytest.raises(ValueError, match="ink"):
        d.style(np.zeros((1, 64)))


def test_style_kept_counts_the_pairs_where_the_source_is_closer():
    rng = np.random.default_rng(3)
    sources = rng.uniform(0.1, 0.9, (50, 64))
    labels = np.arange(50) % 2
    means, stds = d.style_by_class(sources, labels, 2)
    # An image drawn as its own label is its source: always closer than another image.
    out = d.style_kept(sources, labels, sources, labels, rng.uniform(0.1, 0.9, (50, 64)), means, stds)
    assert out["rate"] == 1.0 and out["n"] == 50 and out["se"] == 0.0
    # The reference itself as the swap: never closer to the source (ties go to the reference).
    refs = rng.uniform(0.1, 0.9, (50, 64))
    assert d.style_kept(refs, labels, sources, labels, refs, means, stds)["rate"] == 0.0


def test_relative_style_is_in_standard_deviations_of_the_class():
    rng = np.random.default_rng(4)
    images = rng.uniform(0.1, 0.9, (40, 64))
    labels = np.arange(40) % 4
    means, stds = d.style_by_class(images, labels, 4)
    r = d.relative_style(images, labels, means, stds)
    for c in range(4):
        np.testing.assert_allclose(r[labels == c].mean(axis=0), 0.0, atol=1e-12)
        np.testing.assert_allclose(r[labels == c].std(axis=0), 1.0, rtol=1e-12)
    with pytest.raises(ValueError, match="every class"):
        d.style_by_class(images, labels, 5)


def test_code_accuracy_reads_labels_from_informative_codes_only():
    X, y = blobs(600, seed=4)
    informative = d.code_accuracy(X, y, rng=0)
    assert informative["accuracy"] > 0.9
    noise = d.code_accuracy(np.random.default_rng(5).normal(size=X.shape), y, rng=0)
    # Chance for the label distribution's mode is at most its largest share: 4 SE above it never reached.
    top = np.bincount(y).max() / len(y)
    assert noise["accuracy"] < top + 4 * d.binomial_se(top, len(y))


def test_swap_accuracy_with_a_classifier_that_reads_the_label_from_the_swapped_image():
    # A model whose decoder draws the label as the image: the classifier reading it back is always right.
    model = ConditionalVAE(64, 10, hidden=(), z_dim=2, decoder="gaussian", decoder_var="fixed", seed=0)
    model.params["dec.0.W"][...] = 0
    model.params["dec.0.W"][2:, :10] = 5 * np.eye(10)      # label j lights pixel j

    class Brightest:
        def predict(self, images):
            return np.argmax(images[:, :10], axis=1)
    X = np.random.default_rng(0).normal(size=(200, 64))
    y = np.arange(200) % 10
    out = d.swap_accuracy(model, Brightest(), X, y, rng=1)
    assert out["accuracy"] == 1.0 and out["chance"] == 0.1 and np.all(out["targets"] != y)


def test_references_of_class():
    y_pool = np.array([0, 1, 1, 2, 2, 2])
    idx = d.references_of_class(np.array([2, 1, 0, 2]), y_pool, 0)
    np.testing.assert_array_equal(y_pool[idx], [2, 1, 0, 2])
    with pytest.raises(ValueError, match="y_pool"):
        d.references_of_class(np.array([3]), y_pool, 0)
