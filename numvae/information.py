r"""Disentanglement scores: the mutual information gap (MIG) between codes and known factors of variation.

A representation is *disentangled* when each factor of variation of the data
(position, size, ...) is captured by one code and by no other (lecture 001,
Srihari, *Variational Autoencoders*, 001_42ece0b0f0700f2b.txt, slide
*Disentangling FoVs*: factors without labels are its *unspecified* ones).
With the factors :math:`v_k` of every datapoint known (the sprites of
:func:`numvae.data.make_sprites`), Chen, Li, Grosse & Duvenaud 2018 score a
code :math:`z` (one row per datapoint, e.g. the encoder means) by how much
more the best code knows about each factor than the second best:

.. math:: \mathrm{MIG} = \frac1F\sum_{k=1}^F
          \frac{I(z_{(1)}; v_k) - I(z_{(2)}; v_k)}{H(v_k)},

:math:`z_{(1)}, z_{(2)}` the two codes with the largest mutual information
with :math:`v_k`. It lies in [0, 1]: 1 when each factor is determined by one
code and no other code carries any information about it; 0 when, for every
factor, the second-best code knows as much about it as the best.

The estimator (Locatello et al. 2019, *Challenging common assumptions in the
unsupervised learning of disentangled representations*): each code is cut
into `n_bins` equal-width bins between its smallest and largest value
(:func:`discretize`; they use 20), the factors are taken as they are (each
distinct value a class), and the mutual informations and entropies are the
plug-in ones of the empirical joint distribution (:func:`mutual_information`,
:func:`entropy`), in nats. The plug-in estimate is biased upwards for a
finite sample (about (bins_a − 1)(bins_b − 1) / 2N nats for independent
variables), so a code that is independent of a factor in the population
still shows a little information on a sample; the ratio MIG cancels none of
this.
"""

import numpy as np

from numvae.checks import check_array, check_int

__all__ = ["discretize", "entropy", "mutual_information", "mutual_information_matrix", "mig"]


def discretize(codes, n_bins=20):
    r"""Cut each column of `codes` into `n_bins` equal-width bins between its minimum and maximum.

    Parameters
    ----------
    codes : ndarray of shape (N, K)
    n_bins : int >= 1

    Returns
    -------
    ndarray of shape (N, K), int
        The bin of each entry, 0 to ``n_bins - 1``.

    Notes
    -----
    Column :math:`z_j` has edges :math:`e_b = \min z_j + b\,(\max z_j - \min z_j)/B`,
    b = 0..B, and entry :math:`z` goes to the bin b with :math:`e_b \le z < e_{b+1}`,
    the maximum to the last bin (the binning of ``numpy.histogram``; Locatello
    et al. 2019 discretise this way). A value exactly on an inner edge goes to
    the bin above it, so negating a code can move such ties to the other
    side; continuous codes have none. A constant column falls in one bin.
    Equal-width bins separate the n equally spaced values of a copied factor
    exactly when n ≤ B: with n = B + 1 the second largest value lies on the
    last inner edge and shares the last bin with the largest.
    """
    codes = check_array(codes, "codes", ndim=2)
    n_bins = check_int(n_bins, "n_bins", 1)
    out = np.empty(codes.shape, dtype=np.int64)
    for j, column in enumerate(codes.T):
        edges = np.linspace(column.min(), column.max(), n_bins + 1)            # (B + 1,)
        out[:, j] = np.digitize(column, edges[1:-1])                          # (N,) 0..B-1, the maximum in B-1
    return out


def _labels(values, name):
    """`values` (1-D) as class indices 0..C-1, one per distinct value, and C."""
    values = np.asarray(values)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of labels; got shape {values.shape}")
    if values.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric labels; got dtype {values.dtype}")
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise ValueError(f"{name} must be finite; got NaN or infinite entries")
    classes, index = np.unique(values, return_inverse=True)
    return index.ravel(), classes.size


def entropy(labels):
    r"""Plug-in entropy :math:`H(v) = -\sum_c p_c\log p_c` of a discrete variable, in nats.

    Parameters
    ----------
    labels : ndarray of shape (N,)
        Each distinct value is a class; :math:`p_c` is its frequency.

    Returns
    -------
    float
    """
    index, _ = _labels(labels, "labels")
    p = np.bincount(index) / index.size                                        # (C,) all positive
    return float(-np.sum(p * np.log(p)))


def mutual_information(a, b):
    r"""Plug-in mutual information of two discrete variables observed together, in nats.

    Parameters
    ----------
    a, b : ndarray of shape (N,)
        Paired labels (each distinct value a class), e.g. a discretised code
        and a factor.

    Returns
    -------
    float >= 0

    Notes
    -----
    With :math:`n_{ab}` the count of the pair (a, b) and :math:`n_a, n_b` the
    marginal counts,

    .. math:: I(a; b) = \sum_{a, b:\,n_{ab} > 0}\frac{n_{ab}}N
              \log\frac{N\,n_{ab}}{n_a\,n_b}
              = KL\bigl(\hat p(a, b)\,\|\,\hat p(a)\,\hat p(b)\bigr),

    0 exactly when the empirical joint is the product of its marginals (as on
    a full factorial design) and :math:`H(a)` when b determines a. Rounding
    can make the sum a hair below 0; it is clipped to 0.
    """
    ia, na = _labels(a, "a")
    ib, nb = _labels(b, "b")
    if ia.size != ib.size:
        raise ValueError(f"a and b must pair one value with one value; got {ia.size} and {ib.size} values")
    N = ia.size
    joint = np.bincount(ia * nb + ib, minlength=na * nb).reshape(na, nb)       # (na, nb) counts n_ab
    n_a, n_b = joint.sum(axis=1), joint.sum(axis=0)                            # (na,), (nb,)
    r, c = np.nonzero(joint)
    n_ab = joint[r, c]
    mi = np.sum(n_ab / N * (np.log(N * n_ab) - np.log(n_a[r]) - np.log(n_b[c])))
    return max(0.0, float(mi))


def _check_codes_factors(codes, factors):
    codes = check_array(codes, "codes", ndim=2)
    factors = check_array(factors, "factors", ndim=2)
    if codes.shape[0] != factors.shape[0]:
        raise ValueError(f"codes and factors must have one row per datapoint each; got {codes.shape[0]} rows "
                         f"of codes and {factors.shape[0]} of factors")
    return codes, factors


def mutual_information_matrix(codes, factors, n_bins=20):
    r"""Plug-in :math:`I(z_j; v_k)` of every discretised code with every factor, in nats.

    Parameters
    ----------
    codes : ndarray of shape (N, K)
        One row per datapoint (e.g. the encoder means); discretised by
        :func:`discretize` into `n_bins` bins each.
    factors : ndarray of shape (N, F)
        The known factors of each datapoint, each distinct value a class.
    n_bins : int >= 1

    Returns
    -------
    ndarray of shape (K, F)
    """
    codes, factors = _check_codes_factors(codes, factors)
    binned = discretize(codes, n_bins)                                         # (N, K) int
    return np.array([[mutual_information(zj, vk) for vk in factors.T] for zj in binned.T])   # (K, F)


def mig(codes, factors, n_bins=20, return_gaps=False):
    r"""Mutual information gap of `codes` for the known `factors` (Chen et al. 2018), estimated with bins.

    Parameters
    ----------
    codes : ndarray of shape (N, K), K >= 2
        One row per datapoint, e.g. the encoder means :math:`\mu(x)`.
    factors : ndarray of shape (N, F)
        The factors of variation of each datapoint, each taking at least two
        values; each distinct value is a class.
    n_bins : int >= 1
        Equal-width bins per code (:func:`discretize`). Locatello et al. 2019
        use 20.
    return_gaps : bool
        Also return the gap of each factor.

    Returns
    -------
    score : float in [0, 1]
    gaps : ndarray of shape (F,)
        Only with ``return_gaps=True``: :math:`(I(z_{(1)}; v_k) - I(z_{(2)}; v_k)) / H(v_k)`;
        `score` is their mean.

    Raises
    ------
    ValueError
        Bad input, naming the argument: codes or factors not 2-D or not
        finite, different row counts, fewer than two codes (there is no
        second best), a factor with a single value (its entropy is 0).

    Notes
    -----
    .. math:: \mathrm{MIG} = \frac1F\sum_k\frac{I(z_{(1)}; v_k) - I(z_{(2)}; v_k)}{H(v_k)}

    with the plug-in mutual informations of :func:`mutual_information_matrix`
    and entropies of :func:`entropy`. The bins of a code depend only on the
    order of its values up to its range, so permuting the codes or negating
    one (away from ties on an edge) leaves the score unchanged, as does any
    increasing affine map of a code.
    """
    codes, factors = _check_codes_factors(codes, factors)
    if codes.shape[1] < 2:
        raise ValueError(f"codes must have at least 2 columns (MIG compares the best code with the second "
                         f"best); got shape {codes.shape}")
    H = np.array([entropy(vk) for vk in factors.T])                            # (F,)
    if np.any(H == 0):
        raise ValueError(f"factors must each take at least two values (MIG divides by the entropy); column(s) "
                         f"{np.flatnonzero(H == 0).tolist()} take one")
    m = mutual_information_matrix(codes, factors, n_bins)                      # (K, F)
    top2 = -np.sort(-m, axis=0)[:2]                                            # (2, F) best and second best
    gaps = (top2[0] - top2[1]) / H                                             # (F,)
    score = float(gaps.mean())
    return (score, gaps) if return_gaps else score
