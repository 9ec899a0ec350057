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
