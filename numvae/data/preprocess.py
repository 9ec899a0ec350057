r"""Preprocessing: binary data, dequantized data and its bits per dimension, random splits.

:func:`binarize` makes the binary data a Bernoulli decoder needs, by
thresholding or by drawing each pixel (Salakhutdinov & Murray 2008).
:func:`dequantize` spreads discrete pixels uniformly over their cells, so that
a continuous density can be fitted to them, and :func:`dequantized_bits_per_dim`
turns that density's log-likelihood into an upper bound on the bits per
dimension of the discrete data (Theis, van den Oord & Bethge 2016).
:func:`split` shuffles the rows and cuts them into pieces (train, validation, ...).

Randomness: every function that draws takes ``rng``, an ``np.random.Generator``
or an int seed (turned into ``np.random.default_rng(seed)``); the global NumPy
state is never used, so a seed reproduces the result exactly.
"""

import numpy as np

from numvae.checks import as_generator, check_array, check_int, check_matrix, check_unit_interval

__all__ = ["binarize", "dequantize", "dequantized_bits_per_dim", "split"]


def binarize(X, rng=None):
    r"""Make binary data for a Bernoulli decoder: sample, or threshold at 0.5.

    Parameters
    ----------
    X : ndarray of shape (N, D)
        Intensities in [0, 1].
    rng : numpy.random.Generator or int, optional
        With a generator (or seed), each entry is drawn as
        :math:`x'\sim\text{Bernoulli}(x)` (the "dynamic binarization" of
        Salakhutdinov & Murray 2008: a fresh draw each call gives a different
        binary dataset with the same expectation). Without, :math:`x' = [x \ge 0.5]`.

    Returns
    -------
    ndarray of shape (N, D), float64 of 0.0 and 1.0
    """
    X = check_unit_interval(check_matrix(X, "X", dtype=np.float64), "X")
    if rng is None:
        return (X >= 0.5).astype(np.float64)
    rng = as_generator(rng)
    return (rng.random(X.shape) < X).astype(np.float64)  # P(u < x) = x for u ~ U(0, 1)


def dequantize(X, levels, rng, u=None):
    r"""Uniform dequantization: spread each discrete value over its cell of width 1/levels.

    Parameters
    ----------
    X : ndarray of shape (N, D)
        Discrete data in [0, 1]: every entry is :math:`k/(L-1)` for an integer
        :math:`k \in \{0, \dots, L-1\}` (e.g. digits: ``L = 17``; 8-bit images:
        ``L = 256``), up to floating-point rounding.
    levels : int >= 2
        :math:`L`, the number of values.
    rng : numpy.random.Generator or int
        Source of the uniform noise (ignored if `u` is given).
    u : ndarray of shape (N, D), optional
        The noise itself, in [0, 1), to make the output deterministic.

    Returns
    -------
    Y : ndarray of shape (N, D), float64
        :math:`y = (k + u)/L`, :math:`u\sim U(0, 1)`, so `y` lies in the cell
        :math:`[k/L, (k+1)/L)` and :math:`E[y] = (k + \tfrac12)/L`.

    Notes
    -----
    A continuous density :math:`p` fitted to `Y` on :math:`[0,1]^D` defines a
    discrete model :math:`P(k) = \int_{\text{cell}(k)} p(y)\,dy`, the cell having
    volume :math:`L^{-D}`. Writing the integral as an expectation over
    :math:`u` and applying Jensen's inequality (Theis, van den Oord & Bethge
    2016, *A note on the evaluation of generative models*, sec. 3.1):

    .. math:: \log P(k) = \log E_u\bigl[p((k+u)/L)\bigr] - D\log L
              \;\ge\; E_u\bigl[\log p(y)\bigr] - D\log L .

    So a density's log-likelihood on dequantized data, minus :math:`D\log L`,
    is a lower bound in nats on the discrete log-probability, and
    :func:`dequantized_bits_per_dim` turns it into an upper bound on bits per
    dimension. This holds for :math:`p` on the :math:`y` scale; a model fitted
    to :math:`a y + c` must add :math:`D\log|a|` to its log-density first.
    """
    levels = check_int(levels, "levels", 2)
    X = check_unit_interval(check_matrix(X, "X", dtype=np.float64), "X")
    k = np.round(X * (levels - 1))  # (N, D) integer grid index
    off_grid = np.abs(X * (levels - 1) - k) > 1e-6
    if off_grid.any():
        bad = X[off_grid][0]
        raise ValueError(f"X must hold values k/(levels-1) for integer k with levels={levels}; "
                         f"got {int(off_grid.sum())} off-grid entries, e.g. {bad!r}")
    if u is None:
        u = as_generator(rng).random(X.shape)  # (N, D) in [0, 1)
    else:
        u = check_array(u, "u", dtype=np.float64)
        if u.shape != X.shape or (u.size and (u.min() < 0 or u.max() >= 1)):
            raise ValueError(f"u must have the shape of X {X.shape} with values in [0, 1); "
                             f"got shape {u.shape}" + (f", values in [{u.min()}, {u.max()}]" if u.size else ""))
    return (k + u) / levels


def dequantized_bits_per_dim(log_p_y, n_dims, levels):
    r"""Bits per dimension of discrete data from a density's log-likelihood on dequantized data.

    Parameters
    ----------
    log_p_y : float or ndarray
        :math:`\log p(y)` in nats per datapoint, for `y` from :func:`dequantize`
        (average several draws of `y` for a tighter bound).
    n_dims : int
        :math:`D`, the number of dimensions of one datapoint.
    levels : int >= 2
        :math:`L`, as given to :func:`dequantize`.

    Returns
    -------
    float or ndarray
        .. math:: \text{bits/dim} = -\frac{\log p(y) - D\log L}{D\ln 2}
                  = -\frac{\log_2 p(y)}{D} + \log_2 L ,

        an upper bound on :math:`-\log_2 P(k)/D` in expectation over the
        dequantization noise (see :func:`dequantize`). Lower is better. The
        uniform density :math:`p = 1` gives exactly :math:`\log_2 L`.
    """
    n_dims = check_int(n_dims, "n_dims", 1)
    levels = check_int(levels, "levels", 2)
    log_p_y = check_array(log_p_y, "log_p_y", dtype=np.float64)
    return -(log_p_y - n_dims * np.log(levels)) / (n_dims * np.log(2))


def split(X, fractions, rng, y=None):
    r"""Shuffle the rows of `X` (and `y`) and cut them into pieces of the given fractions.

    Parameters
    ----------
    X : ndarray of shape (N, D)
    fractions : sequence of float
        Each > 0, summing to at most 1. Piece i gets ``floor(fractions[i] * N)``
        rows; if the fractions sum to 1, the last piece also takes the rows
        rounding left over, so every row is used. If they sum to less, the
        remaining rows are left out.
    rng : numpy.random.Generator or int
        Source of the shuffle.
    y : ndarray of shape (N,), optional
        Labels, cut along with `X`.

    Returns
    -------
    list of ndarray, or list of (ndarray, ndarray)
        The pieces of `X` in order, each ``(n_i, D)``; with `y`, pairs
        ``(X_i, y_i)``. Pieces are disjoint.
    """
    X = check_matrix(X, "X")
    N = X.shape[0]
    try:
        fracs = np.asarray(fractions, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"fractions must be a sequence of numbers; got {fractions!r}") from None
    if fracs.ndim != 1 or fracs.size == 0 or not np.all(np.isfinite(fracs)) or np.any(fracs <= 0):
        raise ValueError(f"fractions must be a non-empty sequence of numbers > 0; got {fractions!r}")
    total = float(fracs.sum())
    if total > 1 + 1e-9:
        raise ValueError(f"fractions must sum to at most 1; got {list(fracs)} summing to {total:.6g}")
    if y is not None:
        y = np.asarray(y)
        if y.shape != (N,):
            raise ValueError(f"y must have shape ({N},) to match X of shape {X.shape}; got {y.shape}")
    sizes = np.floor(fracs * N + 1e-9).astype(int)  # the epsilon keeps 0.3 * 10 at 3, not 2
    if abs(total - 1) <= 1e-9:
        sizes[-1] = N - sizes[:-1].sum()
    order = as_generator(rng).permutation(N)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    pieces = [order[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])]
    if y is None:
        return [X[idx] for idx in pieces]
    return [(X[idx], y[idx]) for idx in pieces]
