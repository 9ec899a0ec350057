r"""Importance sampling of :math:`\log p(x)`: one estimator for every proposal, with its standard error.

Lecture 002 (*marginal likelihood*, eq. 9; Burda et al. 2015):

.. math:: \log p(x) \approx \log\frac1k\sum_{i=1}^k w_i,\qquad
          w_i = \frac{p_\theta(x|z_i)\,p(z_i)}{r(z_i)},\qquad z_i \sim r,

a lower bound in expectation that tightens as k grows. A proposal is named
one way everywhere in numvae: ``(posterior, h)``, the name of a posterior
family (``numvae.posteriors.POSTERIORS``) and its raw parameters for every
row of x, in the layout of that family's encoder output; ``None`` is the
model's own encoder. With ``prior_share`` :math:`\alpha > 0` the draws come from
the defensive mixture :math:`r = (1-\alpha)\,q + \alpha\,p(z)` (Hesterberg
1995, *Weighted average importance sampling and defensive mixture
distributions*): exactly :math:`n_p = \alpha k` (rounded) of the k draws from
the prior, the first ones, and :math:`n_q = k - n_p` from q, each weighted by
the whole mixture, :math:`r = (n_q/k)\,q + (n_p/k)\,p` (the "deterministic
mixture" of Owen & Zhou 2000). Then every weight is at most
:math:`p(x|z)\,k/n_p`: a posterior mode many standard deviations from q, which
q alone would almost never sample, is not missed.

The standard error is the delta method's, :math:`\sqrt{\operatorname{Var}\hat p}/\hat p`,
with the stratified variance :math:`\operatorname{Var}\hat p = k^{-2}\sum_j n_j s_j^2`,
:math:`s_j^2` the sample variance of the weights of stratum j (the prior's
draws, q's draws).

Memory stays bounded for any k and N: the datapoints go in blocks, the k
samples of a block in chunks of at most :data:`BLOCK` entries per (samples,
rows, width) array. Across chunks the sums of the weights' deviations from a
pivot (the first draws' mean) and of their squares are carried with a running
shift (the largest log weight so far), so no exponential overflows, the
variance keeps its digits when the weights are nearly equal, and the result
does not depend on the chunking beyond rounding.
"""

import numpy as np

from numvae.checks import as_generator, check_array, check_choice, check_finite_result, check_int, is_real
from numvae.distributions import gaussian_log_density
from numvae.posteriors import POSTERIORS, make_posterior

# Entries of the largest (samples, rows, width) array a chunk holds.
BLOCK = 2 ** 21


def proposal_family(model, proposal, n_rows):
    """``(family, h)`` for a proposal ``(posterior, h)``, or ``(model.posterior, None)`` for None.

    `h` is checked: finite, shape ``(n_rows, family.n_outputs)``, in the
    model's dtype. Raises ``ValueError`` naming ``proposal``.
    """
    if proposal is None:
        return model.posterior, None
    if not (isinstance(proposal, tuple) and len(proposal) == 2):
        raise ValueError(f"proposal must be a pair (posterior name, h); got {type(proposal).__name__}")
    name, h = proposal
    check_choice(name, "proposal's posterior", POSTERIORS)
    family = make_posterior(name, model.z_dim)
    h = check_array(h, "proposal parameters", ndim=2, dtype=model.dtype)
    if h.shape != (n_rows, family.n_outputs):
        raise ValueError(f"proposal parameters must have shape (N, n_outputs) = {(n_rows, family.n_outputs)}; "
                         f"got {h.shape}")
    return family, h


def samples_per_chunk(model, n_rows, k, family=None):
    """Samples drawn at once for a block of `n_rows` datapoints.

    As many of the k as keep every (samples, rows, width) array at or below
    :data:`BLOCK` entries (at least one), width being the widest layer.
    """
    family = model.posterior if family is None else family
    width = max(model.x_dim, family.n_outputs, *model.config["hidden"])
    return max(1, min(k, BLOCK // (n_rows * width)))


def prior_draws(k, prior_share):
    """How many of the k draws come from the prior: 0, or at least 2 and at most k − 2 (each stratum needs two)."""
    if not is_real(prior_share):   # before the comparison, which a string or an array cannot answer
        raise ValueError(f"prior_share must be a number in [0, 1); got {type(prior_share).__name__} {prior_share!r}")
    if not 0 <= prior_share < 1:
        raise ValueError(f"prior_share must be in [0, 1); got {prior_share!r}")
    return 0 if prior_share == 0 else min(k - 2, max(2, int(round(prior_share * k))))


def log_px(model, x, proposal=None, k=1000, rng=None, batch_size=100, prior_share=0.0, what="log p(x)"):
    r"""Importance-sampled :math:`\log\hat p(x)` per row of `x`, and its standard error (module docstring).

    Parameters
    ----------
    model : VAE
        Its decoder and likelihood are used, and its encoder when `proposal` is None.
    x : ndarray of shape (N, D)
        Checked by the caller (``VAE.check_x``).
    proposal : (str, ndarray of shape (N, n_outputs)) or None
        ``(posterior, h)``; None: the encoder's :math:`q_\phi(z|x)`.
    k : int >= 1
        Samples per datapoint (k = 1 is a one-sample ELBO estimate; its
        standard error is NaN: it needs two draws of every stratum).
    rng : numpy.random.Generator or int, optional
    batch_size : int
        Datapoints per block.
    prior_share : float in [0, 1)
        :math:`\alpha` of the defensive mixture; 0 is plain importance sampling from q.
    what : str
        The caller's name for the result, in the ``FloatingPointError`` raised
        if it overflows (a NaN or infinite estimate is never returned).

    Returns
    -------
    log_px, se : ndarray of shape (N,), float64
    """
    k = check_int(k, "k", 1)
    batch_size = check_int(batch_size, "batch_size", 1)
    n_prior = prior_draws(k, prior_share)
    family, h = proposal_family(model, proposal, x.shape[0])
    rng = as_generator(rng, none_ok=True)
    with np.errstate(divide="ignore"):                                                # log 0 = −inf when α = 0
        log_share = np.log(np.array([k - n_prior, n_prior]) / k)                       # log(n_q/k), log(n_p/k)
    strata = [n for n in (n_prior, k - n_prior) if n]                                  # draws: the prior's, q's
    zeros = np.zeros(model.z_dim)
    log_p, se = np.empty(x.shape[0]), np.empty(x.shape[0])
    for start in range(0, x.shape[0], batch_size):
        xb = x[start:start + batch_size]                                               # (B, D)
        B = xb.shape[0]
        q = model.posterior.split(model.encoder.forward(xb)) if h is None else family.split(h[start:start + B])
        q64 = tuple(p.astype(np.float64) for p in q)
        chunk = samples_per_chunk(model, B, k, family)
        shift = np.full(B, -np.inf)                                                    # (B,) largest log w so far
        # Per stratum, a pivot c (its first draws' mean weight) and Σ(w − c), Σ(w − c)²: the variance
        # from deviations, which keeps its digits where the weights are nearly equal (q near p(z|x)).
        pivot, seen = np.zeros((len(strata), B)), np.zeros(len(strata), dtype=bool)
        sums = np.zeros((2, len(strata), B))                                           # Σ (w − c), Σ (w − c)²
        done = 0
        while done < k:
            s = min(chunk, k - done)
            eps = rng.standard_normal((s, B, model.z_dim), dtype=model.dtype)         # (S, B, K)
            from_prior = np.arange(done, done + s) < n_prior                           # (S,) the first n_p draws
            z = np.where(from_prior[:, None, None], eps, family.sample(q, eps)[0])    # (S, B, K) model dtype
            z64 = z.astype(np.float64)                                                 # the z the decoder sees
            log_prior = gaussian_log_density(z64, zeros, zeros, check=False)           # (S, B) log p(z)
            log_r = family.log_q(z64, q64)                                             # (S, B) log q(z|x)
            if n_prior:
                log_r = np.logaddexp(log_share[0] + log_r, log_share[1] + log_prior)   # the mixture's density
            out = model.decoder.forward(z)                                             # (S, B, D) model dtype
            log_w = model.likelihood.log_prob(xb, out).astype(np.float64) + log_prior - log_r   # (S, B)
            new_shift = np.maximum(shift, log_w.max(axis=0))
            scale = np.exp(shift - new_shift)                                          # (B,) onto the new shift
            pivot *= scale
            sums *= np.stack([scale, scale * scale])[:, None, :]
            shift = new_shift
            w = np.exp(log_w - shift)                                                  # (S, B), at most 1
            for j, mask in enumerate([from_prior, ~from_prior] if n_prior else [~from_prior]):
                if mask.any():
                    if not seen[j]:
                        pivot[j], seen[j] = w[mask].mean(axis=0), True
                    d = w[mask] - pivot[j]                                             # (S_j, B)
                    sums[:, j] += (d.sum(axis=0), (d * d).sum(axis=0))
            done += s
        counts = np.array(strata)[:, None]                                             # (strata, 1) n_j
        total = (counts * pivot + sums[0]).sum(axis=0)                                 # (B,) Σ w, shifted
        with np.errstate(invalid="ignore", divide="ignore"):                           # k = 1: no variance
            var = np.maximum(sums[1] - sums[0] ** 2 / counts, 0.0) / (counts - 1)      # (strata, B) s_j²
        log_p[start:start + B] = shift + np.log(total / k)
        se[start:start + B] = np.sqrt((counts * var).sum(axis=0)) / total             # √(Σ n_j s_j²) / Σ w
    check_finite_result(log_p, what)
    if k >= 2:
        check_finite_result(se, f"{what}'s standard error")
    return log_p, se
