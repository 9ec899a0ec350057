"""numvae.data.make_sprites: shapes, the full factorial grid, the pixels against a renderer written independently."""

import itertools

import numpy as np
import pytest

from numvae import data


def supersampled(x, y, side, size, k=16):
    """The square drawn by brute force: the fraction of k × k sub-pixel centres of each pixel inside it."""
    sub = (np.arange(size * k) + 0.5) / k                                    # sub-pixel centres along one axis
    inside_c = np.abs(sub - x) < side / 2
    inside_r = np.abs(sub - y) < side / 2
    img = inside_r[:, None] & inside_c[None, :]                              # (size k, size k)
    return img.reshape(size, k, size, k).mean(axis=(1, 3))


def test_default_sprites_shapes_binary_pixels_and_names():
    X, factors, names = data.make_sprites()
    assert X.shape == (300, 256) and X.dtype == np.float64
    assert factors.shape == (300, 3) and names == ("x", "y", "scale") == data.SPRITE_FACTORS
    assert set(np.unique(X)) == {0.0, 1.0}                                   # a Bernoulli decoder's data
    np.testing.assert_array_equal(X.sum(axis=1), factors[:, 2] ** 2)         # side² white pixels


def test_the_factor_grid_is_exactly_the_full_factorial_in_product_order():
    xs, ys, scales = (2.5, 4.5, 6.5, 9.5), (3.5, 8.5), (1, 3, 5)
    X, factors, _ = data.make_sprites(size=12, x=xs, y=ys, scale=scales)
    combos = list(itertools.product(xs, ys, scales))
    assert len(factors) == len(combos) == 24
    np.testing.assert_array_equal(factors, np.array(combos, dtype=float))   # each combination once, x slowest
    assert len({tuple(row) for row in factors}) == 24
    # Exactly independent: the empirical joint of every pair of factors is the product of the marginals.
    for a, b in itertools.combinations(range(3), 2):
        for va, vb in itertools.product(np.unique(factors[:, a]), np.unique(factors[:, b])):
            joint = np.mean((factors[:, a] == va) & (factors[:, b] == vb))
            assert joint == pytest.approx(np.mean(factors[:, a] == va) * np.mean(factors[:, b] == vb), abs=1e-15)
    assert len(np.unique(X, axis=0)) == 24                                   # different factors, different images


@pytest.mark.parametrize("size, xs, ys, scales", [(16, (3.5, 8.5, 12.5), None, (3, 5, 7)),
                                                 (10, (2.3, 5.0, 7.71), (3.1, 6.6), (1.4, 2.5, 4.2))])
def test_pixels_match_a_supersampled_square(size, xs, ys, scales):
    # Exact for edges on the 1/16 sub-pixel grid (the first case); within the sub-grid's error otherwise.
    X, factors, _ = data.make_sprites(size=size, x=xs, y=ys, scale=scales)
    for img, (x, y, s) in zip(X, factors):
        ref = supersampled(x, y, s, size)
        np.testing.assert_allclose(img.reshape(size, size), ref, atol=1e-12 if ys is None else 2 / 16)
        # and from the formula's consequences: area s², values in [0, 1], binary ones centred on (x, y)
        im = img.reshape(size, size)
        assert im.sum() == pytest.approx(s * s, rel=1e-12)
        assert im.min() >= 0 and im.max() <= 1
        if ys is None:
            grid = np.arange(size) + 0.5
            assert (im.sum(axis=0) @ grid / im.sum(), im.sum(axis=1) @ grid / im.sum()) == pytest.approx((x, y))


def test_rows_are_row_major_images_x_along_columns():
    X, factors, _ = data.make_sprites(size=8, x=(1.5, 5.5), y=(2.5,), scale=(1,))
    for img, (x, y, _) in zip(X, factors):
        r, c = np.argwhere(img.reshape(8, 8) == 1)[0]
        assert (c, r) == (int(x), int(y))


def test_nothing_is_random_same_arguments_same_images():
    a, b = data.make_sprites(), data.make_sprites()
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.factors, b.factors)


@pytest.mark.parametrize("kwargs, match", [
    ({"size": 1}, "size"),
    ({"x": (3.5, 3.5)}, "x must hold distinct values"),
    ({"y": ()}, "y must hold at least one value"),
    ({"scale": (3, -1)}, "scale must be positive"),
    ({"scale": (3, np.nan)}, "scale must be finite"),
    ({"x": (2.5, 8.5)}, r"x must keep the largest square \(side 7\) inside the 16-pixel image"),
    ({"y": (3.5, 13.0)}, r"y must keep the largest square"),
    ({"x": [[3.5]]}, "x must be a 1-D array"),
])
def test_bad_arguments_raise_naming_them(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.make_sprites(**kwargs)
