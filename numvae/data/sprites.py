r"""Sprites with known factors: a square at every combination of x, y and scale, each exactly once.

:func:`make_sprites` draws small images of a white square on black whose
horizontal position, vertical position and side length take a few values
each, one image per combination: a full factorial design. The factors of the
data set are then exactly independent (their empirical joint distribution is
the product of its marginals) and each is known for every image, which is
what a score of disentanglement such as the mutual information gap
(:mod:`numvae.information`; Chen et al. 2018) needs. It is a small cousin
of dSprites (Matthey et al. 2017), whose factors are shape, scale,
orientation and position.

Nothing is random: the same arguments give the same images, in the same
order.
"""

from collections import namedtuple

import numpy as np

from numvae.checks import check_array, check_int

__all__ = ["SPRITE_FACTORS", "Sprites", "make_sprites"]

# The factors, in the order of the columns of `factors`.
SPRITE_FACTORS = ("x", "y", "scale")


class Sprites(namedtuple("Sprites", "X factors names")):
    r"""What :func:`make_sprites` returns; unpacks as ``X, factors, names = make_sprites()``.

    Attributes
    ----------
    X : ndarray of shape (N, size * size), float64
        One image per row, row-major (``X[n].reshape(size, size)[row, col]``),
        pixels in [0, 1].
    factors : ndarray of shape (N, 3), float64
        The factor values of each image, in the order of `names`.
    names : tuple of str
        ``("x", "y", "scale")``.
    """

    __slots__ = ()


def _coverage(centre, side, size):
    r"""Fraction of each pixel interval :math:`[i, i+1)`, i = 0..size-1, inside :math:`[c - s/2, c + s/2]`.

    Shapes: `centre` and `side` (N,), result (N, size).
    """
    edges = np.arange(size)                                                     # (size,) left edges of the pixels
    lo, hi = (centre - side / 2)[:, None], (centre + side / 2)[:, None]         # (N, 1)
    return np.clip(np.minimum(edges + 1, hi) - np.maximum(edges, lo), 0.0, 1.0)  # (N, size)


def make_sprites(size=16, x=(3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5, 10.5, 11.5, 12.5), y=None, scale=(3, 5, 7)):
    r"""Images of a square at every combination of its factors x, y and scale, each combination once.

    Parameters
    ----------
    size : int >= 2
        Images are `size` × `size` pixels.
    x : sequence of float
        The horizontal positions of the square's centre, in pixels from the
        left edge of the image (pixel column ``i`` spans ``[i, i + 1)``).
        Distinct values.
    y : sequence of float, optional
        The vertical positions of the centre, in pixels from the top; default
        the values of `x`.
    scale : sequence of float > 0
        The side lengths of the square, in pixels. Distinct values.

    Returns
    -------
    Sprites
        ``(X, factors, names)``: `X` of shape (N, size²) with
        N = len(x) · len(y) · len(scale), one image per combination; `factors`
        of shape (N, 3), the x, y and scale of each row; `names`
        ``("x", "y", "scale")``. The rows run through the combinations in
        the order of ``itertools.product(x, y, scale)`` (x slowest).

    Raises
    ------
    ValueError
        A bad argument, naming it: a size below 2, repeated or non-finite
        factor values, a non-positive scale, or a square that does not fit
        inside the image at some combination.

    Notes
    -----
    A pixel's value is the fraction of its area that the square covers,

    .. math:: X_{n, (r, c)} = a_c(x_n, s_n)\,a_r(y_n, s_n),\qquad
              a_i(m, s) = \operatorname{clip}\bigl(\min(i + 1, m + s/2) - \max(i, m - s/2),\ 0,\ 1\bigr),

    so the image is exact for any real position and scale: its pixels sum to
    :math:`s^2`. Where every edge :math:`m \pm s/2` falls on a pixel boundary
    (the defaults: odd sides, centres at half-integers) the pixels are
    exactly 0 or 1, the data a Bernoulli decoder models exactly, and the
    centre of mass of the pixels is :math:`(x, y)`; otherwise the boundary
    pixels are grey.

    The defaults give 10 · 10 · 3 = 300 images of 16 × 16: sides 3, 5 and 7,
    centres on pixels 3 to 12 of both axes (so the largest square touches
    the border at the extreme positions). Because each combination appears
    exactly once, the factors are exactly independent on the data set and
    each is uniform over its values: the entropy of the factor with n values
    is :math:`\log n` nats.
    """
    size = check_int(size, "size", 2)
    values = {"x": x, "y": x if y is None else y, "scale": scale}
    for name in SPRITE_FACTORS:
        v = check_array(values[name], name, ndim=1, dtype=np.float64)
        if v.size == 0:
            raise ValueError(f"{name} must hold at least one value; got none")
        if np.unique(v).size != v.size:
            raise ValueError(f"{name} must hold distinct values (each combination exactly once); got {v.tolist()}")
        values[name] = v
    if np.any(values["scale"] <= 0):
        raise ValueError(f"scale must be positive side lengths; got {values['scale'].tolist()}")
    half = values["scale"].max() / 2
    for name in ("x", "y"):
        v = values[name]
        if v.min() - half < 0 or v.max() + half > size:
            raise ValueError(f"{name} must keep the largest square (side {2 * half:g}) inside the {size}-pixel "
                             f"image, i.e. lie in [{half:g}, {size - half:g}]; got values from {v.min():g} to "
                             f"{v.max():g}")

    # Every combination once, x slowest: the order of itertools.product(x, y, scale).
    grid = np.meshgrid(values["x"], values["y"], values["scale"], indexing="ij")
    factors = np.stack([g.ravel() for g in grid], axis=1)                     # (N, 3)
    fx, fy, fs = factors.T                                                     # (N,) each
    cols, rows = _coverage(fx, fs, size), _coverage(fy, fs, size)              # (N, size) each
    X = (rows[:, :, None] * cols[:, None, :]).reshape(len(factors), size * size)  # (N, size²): row-major images
    return Sprites(X, factors, SPRITE_FACTORS)
