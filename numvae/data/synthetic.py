r"""Synthetic data with a known answer: the pPCA model itself, and a curved sheet no linear model explains.

:func:`make_ppca_data` samples exactly the probabilistic PCA model (Tipping &
Bishop 1999), so a fitted pPCA (or a linear VAE) can be compared with the true
``W``, ``b``, ``sigma2``. :func:`make_manifold_data` samples a curved 2-D sheet
(a swiss roll, Tenenbaum et al. 2000) that no 2-D linear Gaussian model
explains but a 2-D nonlinear one can.

Randomness: both take ``rng``, an ``np.random.Generator`` or an int seed
(turned into ``np.random.default_rng(seed)``); the global NumPy state is never
used, so a seed reproduces a dataset exactly.
"""

import numpy as np

from numvae.checks import as_generator, check_array, check_int, check_positive

__all__ = ["make_ppca_data", "make_manifold_data"]


def make_ppca_data(n, W, b, sigma2, rng, return_latents=False):
    r"""Sample `n` points from the probabilistic PCA model with parameters `W`, `b`, `sigma2`.

    Parameters
    ----------
    n : int
        Number of points.
    W : ndarray of shape (D, K)
        Loadings.
    b : ndarray of shape (D,)
        Mean.
    sigma2 : float > 0
        Isotropic noise variance.
    rng : numpy.random.Generator or int
        Source of randomness (an int is a seed).
    return_latents : bool
        Also return the latents `z`.

    Returns
    -------
    X : ndarray of shape (n, D), float64
    Z : ndarray of shape (n, K), float64
        Only with ``return_latents=True``.

    Notes
    -----
    .. math:: x = W z + b + \sqrt{\sigma^2}\,\varepsilon,\quad
              z\sim\mathcal N(0, I_K),\ \varepsilon\sim\mathcal N(0, I_D),

    so :math:`x \sim \mathcal N(b,\ WW^\top + \sigma^2 I)` (lecture 002,
    *Probabilistic PCA*; Tipping & Bishop 1999; Bishop PRML eq. 12.33-12.35).
    """
    n = check_int(n, "n", 1)
    W = check_array(W, "W", ndim=2, dtype=np.float64)
    D, K = W.shape
    b = check_array(b, "b", ndim=1, dtype=np.float64)
    if b.shape != (D,):
        raise ValueError(f"b must have shape ({D},) to match W of shape {W.shape}; got {b.shape}")
    check_positive(sigma2, "sigma2")
    rng = as_generator(rng)
    Z = rng.standard_normal((n, K))  # (n, K)
    eps = rng.standard_normal((n, D))  # (n, D)
    X = Z @ W.T + b + np.sqrt(sigma2) * eps  # (n, D): rows are x = W z + b + sigma eps
    return (X, Z) if return_latents else X


# A fixed seed, so the embedding of the sheet is the same in every call and
# only the samples change with `rng`: two datasets of one `dim` share a manifold.
_MANIFOLD_EMBEDDING_SEED = 20160


def make_manifold_data(n, dim, noise, rng, return_coords=False):
    r"""Sample `n` points near a rolled-up 2-D sheet (a swiss roll) embedded in `dim` dimensions.

    Parameters
    ----------
    n : int
        Number of points.
    dim : int >= 3
        Ambient dimension.
    noise : float >= 0
        Standard deviation of the isotropic Gaussian noise added in all `dim`
        dimensions.
    rng : numpy.random.Generator or int
        Source of randomness (an int is a seed).
    return_coords : bool
        Also return the intrinsic coordinates.

    Returns
    -------
    X : ndarray of shape (n, dim), float64
    coords : ndarray of shape (n, 2), float64
        Only with ``return_coords=True``: the angle :math:`t` and the height
        :math:`h` of each point, both uniform on their ranges.

    Notes
    -----
    With :math:`t\sim U(1.5\pi, 4.5\pi)` and :math:`h\sim U(-1, 1)`, the sheet in 3-D is

    .. math:: s(t, h) = \bigl(t\cos t / 4\pi,\ h,\ t\sin t / 4\pi\bigr),

    one and a half turns of a spiral whose radius grows from 0.375 to 1.125,
    extruded along a height of 2 (the "swiss roll" of Tenenbaum et al. 2000,
    scaled so each 3-D coordinate has variance of order 0.3). It is mapped to
    `dim` dimensions by a fixed matrix :math:`Q` of shape (dim, 3) with
    orthonormal columns, and noise is added:

    .. math:: x = Q\,s(t, h) + \text{noise}\cdot\varepsilon,\quad \varepsilon\sim\mathcal N(0, I_{dim}).

    The data spans three directions, so a 2-D linear Gaussian model (pPCA with
    K = 2) leaves the variance of the roll's third direction, far above
    ``noise**2``, unexplained; a 2-D nonlinear model can unroll it.
    """
    n = check_int(n, "n", 1)
    dim = check_int(dim, "dim", 3)
    check_positive(noise, "noise", strict=False)
    rng = as_generator(rng)
    t = 1.5 * np.pi * (1.0 + 2.0 * rng.random(n))  # (n,)  angle in [1.5 pi, 4.5 pi)
    h = 2.0 * rng.random(n) - 1.0  # (n,)  height in [-1, 1)
    sheet = np.column_stack([t * np.cos(t), 4 * np.pi * h, t * np.sin(t)]) / (4 * np.pi)  # (n, 3)
    Q, _ = np.linalg.qr(np.random.default_rng(_MANIFOLD_EMBEDDING_SEED).standard_normal((dim, 3)))  # (dim, 3)
    X = sheet @ Q.T + noise * rng.standard_normal((n, dim))  # (n, dim)
    return (X, np.column_stack([t, h])) if return_coords else X

