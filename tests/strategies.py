"""Hypothesis strategies, bounded to the region where the math is meant to hold.

Gaussians here are well conditioned (eigenvalues in a bounded range), so the
identities tested hold to near machine precision rather than failing on a
covariance with condition number 1e16.
"""

import numpy as np
from hypothesis import strategies as st

seeds = st.integers(min_value=0, max_value=2**32 - 1)
dims = st.integers(min_value=1, max_value=6)


def spd_matrix(rng, d, low=0.2, high=5.0):
    """A random symmetric positive definite d×d matrix with eigenvalues in [low, high]."""
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return (Q * rng.uniform(low, high, size=d)) @ Q.T


@st.composite
def gaussian_pairs(draw):
    """Two d-dimensional Gaussians (mu1, cov1, mu2, cov2) with well-conditioned covariances."""
    d, seed = draw(dims), draw(seeds)
    rng = np.random.default_rng(seed)
    return (rng.normal(0, 2, size=d), spd_matrix(rng, d),
            rng.normal(0, 2, size=d), spd_matrix(rng, d))


@st.composite
def ppca_problems(draw):
    """A pPCA model, a few datapoints and an arbitrary Gaussian q(z|x), as a dict.

    Keys: ``W`` (D, K), ``b`` (D,), ``sigma2``, ``X`` (N, D), ``q_mean`` (N, K)
    and ``q_cov``, either shared (K, K) or one per row (N, K, K). Bounded so
    that M = WᵀW + σ²I and q_cov are well conditioned: σ² in [0.05, 4], W
    entries of order 1, q_cov eigenvalues in [0.2, 5], x drawn from the model
    plus N(0, 1) noise.
    """
    K = draw(st.integers(min_value=1, max_value=4))
    D = draw(st.integers(min_value=K + 1, max_value=8))
    N = draw(st.integers(min_value=1, max_value=4))
    sigma2 = draw(st.floats(min_value=0.05, max_value=4.0))
    shared_cov = draw(st.booleans())
    rng = np.random.default_rng(draw(seeds))
    W = rng.normal(0, 1, size=(D, K))
    b = rng.normal(0, 2, size=D)
    X = rng.normal(size=(N, K)) @ W.T + b + np.sqrt(sigma2) * rng.normal(size=(N, D))
    X += rng.normal(0, 1, size=(N, D))      # and off the model, so x is not always typical
    q_mean = rng.normal(0, 1.5, size=(N, K))
    q_cov = spd_matrix(rng, K) if shared_cov else np.stack([spd_matrix(rng, K) for _ in range(N)])
    return {"W": W, "b": b, "sigma2": sigma2, "X": X, "q_mean": q_mean, "q_cov": q_cov}
