"""numvae.information: MIG on codes whose answer is known, and the plug-in estimators against brute force."""

import itertools
import math
from collections import Counter

import numpy as np
import pytest

from numvae.data import make_sprites
from numvae.information import discretize, entropy, mig, mutual_information, mutual_information_matrix

FACTORS = make_sprites().factors                                             # (300, 3): 10 x 10 x 3, full factorial


def brute_force_mi(a, b):
    """I(a; b) from counts, one pair at a time: sum over the observed pairs of p(a,b) log p(a,b) / (p(a) p(b))."""
    N = len(a)
    pa, pb, pab = Counter(a.tolist()), Counter(b.tolist()), Counter(zip(a.tolist(), b.tolist()))
    return sum(n / N * math.log((n / N) / ((pa[x] / N) * (pb[y] / N))) for (x, y), n in pab.items())


def rotated(factors, degrees):
    """Codes: x and y (centred) rotated by `degrees` into two codes, scale copied."""
    t = np.deg2rad(degrees)
    xy = factors[:, :2] - factors[:, :2].mean(axis=0)
    R = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return np.column_stack([xy @ R.T, factors[:, 2]])


def test_a_code_copying_each_factor_scores_exactly_one():
    # Each code determines its factor (the 20 equal-width bins separate 10 equally spaced values) and,
    # the design being full factorial, knows exactly nothing about the others.
    score, gaps = mig(FACTORS, FACTORS, return_gaps=True)
    assert score == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(gaps, 1.0, atol=1e-12)
    m = mutual_information_matrix(FACTORS, FACTORS)
    np.testing.assert_allclose(np.diag(m), np.log([10, 10, 3]), rtol=1e-12)   # I(v_k; v_k) = H(v_k) = log n
    np.testing.assert_allclose(m[~np.eye(3, dtype=bool)], 0.0, atol=1e-12)
    # Any increasing or decreasing affine map of each code, extra constant codes: still 1.
    codes = np.column_stack([3 * FACTORS[:, 1] - 7, np.zeros(300), -0.5 * FACTORS[:, 0], FACTORS[:, 2] + 100, np.ones(300)])
    assert mig(codes, FACTORS) == pytest.approx(1.0, abs=1e-12)


def test_constant_codes_score_zero():
    assert mig(np.zeros((300, 4)), FACTORS) == 0.0
    assert mig(np.full((300, 2), 3.7), FACTORS) == 0.0


def test_a_45_degree_mix_of_two_factors_scores_strictly_lower_than_the_copy():
    score, gaps = mig(rotated(FACTORS, 45), FACTORS, return_gaps=True)
    copy = mig(FACTORS, FACTORS)
    assert 0 <= score < copy - 0.1                                            # a real drop, not rounding
    assert gaps[2] == pytest.approx(1.0, abs=1e-12)                           # scale is still copied
    assert np.all(gaps[:2] < 0.5)                                             # x and y each in both codes
    # At 45° the two codes know the same about x: its gap is 0 up to the ties of the binning.
    assert gaps[0] < 0.05 and gaps[1] < 0.05
    # A rotation by 0° or 90° is a copy (up to a sign and the order of the codes).
    assert mig(rotated(FACTORS, 0), FACTORS) == pytest.approx(1.0, abs=1e-12)
    assert mig(rotated(FACTORS, 90), FACTORS) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_mig_does_not_change_under_permutations_and_sign_flips_of_the_codes(seed):
    rng = np.random.default_rng(seed)
    # Continuous codes, mixing the factors with noise (no value sits exactly on a bin edge).
    codes = (FACTORS - FACTORS.mean(0)) @ rng.standard_normal((3, 5)) + 0.5 * rng.standard_normal((300, 5))
    perm, signs = rng.permutation(5), rng.choice([-1.0, 1.0], size=5)
    score, gaps = mig(codes, FACTORS, return_gaps=True)
    score2, gaps2 = mig(codes[:, perm] * signs, FACTORS, return_gaps=True)
    assert score2 == pytest.approx(score, abs=1e-12)
    np.testing.assert_allclose(gaps2, gaps, atol=1e-12)
    assert 0 < score < 1


@pytest.mark.parametrize("seed", range(4))
def test_mutual_information_matches_brute_force_counts(seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 5, size=200)
    b = (a + rng.integers(0, 3, size=200)) % 6                                # dependent on a
    assert mutual_information(a, b) == pytest.approx(brute_force_mi(a, b), rel=1e-12)
    assert mutual_information(a, b) == pytest.approx(mutual_information(b, a), rel=1e-12)
    assert mutual_information(a, a) == pytest.approx(entropy(a), rel=1e-12)
    counts = np.bincount(a)
    p = counts[counts > 0] / 200
    assert entropy(a) == pytest.approx(-np.sum(p * np.log(p)), rel=1e-12)
    # labels are classes whatever their values
    assert mutual_information(10.5 * a - 3, b + 0.25) == pytest.approx(mutual_information(a, b), rel=1e-12)


@pytest.mark.filterwarnings("ignore:Clustering metrics expects discrete values")
def test_mutual_information_matches_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics", reason="scikit-learn is the reference of this test only")
    rng = np.random.default_rng(7)
    codes = (FACTORS - FACTORS.mean(0)) @ rng.standard_normal((3, 4)) + rng.standard_normal((300, 4))
    binned = discretize(codes, 20)
    m = mutual_information_matrix(codes, FACTORS, 20)
    ref = np.array([[metrics.mutual_info_score(zj, vk) for vk in FACTORS.T] for zj in binned.T])
    np.testing.assert_allclose(m, ref, rtol=1e-10, atol=1e-14)


def test_discretize_bins_as_numpy_histogram_does():
    rng = np.random.default_rng(3)
    codes = np.column_stack([rng.standard_normal(500), rng.random(500) ** 3, np.full(500, 2.0)])
    for n_bins in (1, 2, 20):
        binned = discretize(codes, n_bins)
        assert binned.min() >= 0 and binned.max() <= n_bins - 1
        for j in range(2):
            np.testing.assert_array_equal(np.bincount(binned[:, j], minlength=n_bins),
                                          np.histogram(codes[:, j], n_bins)[0])
            # larger values never go to lower bins
            order = np.argsort(codes[:, j])
            assert np.all(np.diff(binned[order, j]) >= 0)
        assert len(np.unique(binned[:, 2])) == 1                              # a constant code: one bin


def test_plug_in_bias_of_independent_variables_is_about_what_the_docstring_says():
    # (A-1)(B-1)/2N for independent variables (Miller 1955): the docstring's warning, measured.
    rng = np.random.default_rng(0)
    mis = [mutual_information(rng.integers(0, 4, 400), rng.integers(0, 5, 400)) for _ in range(400)]
    se = np.std(mis) / np.sqrt(len(mis))
    assert abs(np.mean(mis) - 3 * 4 / 800) < 4 * se + 0.1 * 3 * 4 / 800


@pytest.mark.parametrize("codes, factors, kwargs, match", [
    (np.zeros(300), FACTORS, {}, "codes must be a 2-D array"),
    (np.zeros((300, 2)), FACTORS[:, 0], {}, "factors must be a 2-D array"),
    (np.zeros((299, 2)), FACTORS, {}, "codes and factors must have one row per datapoint each; got 299 rows"),
    (np.zeros((300, 1)), FACTORS, {}, "codes must have at least 2 columns"),
    (np.full((300, 2), np.nan), FACTORS, {}, "codes must be finite"),
    (np.zeros((300, 2)), np.column_stack([FACTORS[:, 0], np.ones(300)]), {}, r"factors must each take at least two values.*\[1\]"),
    (np.zeros((300, 2)), FACTORS, {"n_bins": 0}, "n_bins"),
])
def test_bad_input_raises_naming_the_argument(codes, factors, kwargs, match):
    with pytest.raises(ValueError, match=match):
        mig(codes, factors, **kwargs)


def test_mutual_information_refuses_unpaired_or_empty_labels():
    with pytest.raises(ValueError, match="a and b must pair"):
        mutual_information(np.arange(3), np.arange(4))
    with pytest.raises(ValueError, match="a must be a non-empty 1-D array"):
        mutual_information(np.array([]), np.array([]))
    with pytest.raises(ValueError, match="labels must be finite"):
        entropy(np.array([1.0, np.nan]))


def test_bins_separate_n_equally_spaced_values_exactly_when_n_is_at_most_the_number_of_bins():
    # x and y take 10 equally spaced values, scale 3: a copy scores 1 from 10 bins on, not with 9.
    for n_bins, expected_xy in ((9, False), (10, True), (20, True)):
        _, gaps = mig(FACTORS, FACTORS, n_bins=n_bins, return_gaps=True)
        assert (abs(gaps[0] - 1) < 1e-12) == expected_xy and abs(gaps[2] - 1) < 1e-12, (n_bins, gaps)
    assert len(np.unique(discretize(FACTORS[:, :1], 9))) == 9                # two values share the last bin
