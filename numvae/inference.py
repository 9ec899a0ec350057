r"""Per-datapoint optimal posteriors q*, and the split of log p(x) − ELBO into two gaps.

Lecture 002 (*Advantages of the VAE: amortized inference*) contrasts one
encoder shared by every datapoint with "a separate variational distribution
for each data observation". This module builds the separate ones: with the
decoder fixed, :func:`optimize_q` maximises each datapoint's own ELBO over its
own Gaussian, starting from the encoder's output. Lecture 002 (*Role of KL
divergence and ELBO*, eq. 3) reads :math:`\log p(x) - \mathrm{ELBO}(q)` as
:math:`KL(q\,\|\,p(z|x))`; Cremer, Li & Duvenaud 2018 (*Inference
suboptimality in variational autoencoders*) split it for the encoder's
:math:`q_\phi` through the family's best member :math:`q^*`:

.. math:: \log p(x) - \mathrm{ELBO}(q_\phi)
          = \underbrace{\log p(x) - \mathrm{ELBO}(q^*)}_{\text{approximation gap}}
          + \underbrace{\mathrm{ELBO}(q^*) - \mathrm{ELBO}(q_\phi)}_{\text{amortization gap}}

The first is what the Gaussian family costs, the second what sharing one
encoder costs. :func:`gaps` computes both for any VAE.

The gradient. The per-datapoint ELBO is
:math:`E_\epsilon[\log p(x, z) - \log q_\lambda(z)]` with
:math:`z = g(\epsilon, \lambda)` (lecture 002, *change of variables*). Its
reparameterized gradient has two parts: the *path* through z and the
*score* :math:`\partial_\lambda\log q_\lambda(z)` at fixed z, whose expectation
is zero. The path-derivative ("sticking the landing") estimator of Roeder, Wu
& Duvenaud 2017 drops the score and keeps

.. math:: \hat g = \frac{\partial z}{\partial\lambda}^{\!\top}\Bigl[\nabla_z\log p(x|z) - z
          - \nabla_z\log q_\lambda(z)\Bigr]

(:func:`path_elbo`), unbiased, and exactly zero when :math:`q_\lambda` is the
posterior (the bracket is :math:`\nabla_z\log p(z|x) - \nabla_z\log q(z)`).
The plain estimator (analytic KL plus sampled reconstruction) keeps its
noise at the optimum; freezing S draws instead turns the problem
deterministic but optimises the wrong objective, biasing the variances by
about :math:`\sqrt{2/S}` relative.

The scheme here, the same for every decoder, linear or not:

* **fresh noise every step**, in a sign-flip design: one base draw
  :math:`e \sim \mathcal N(0, I)` per datapoint becomes S draws
  :math:`\epsilon_p = e \odot s_p`, where the sign vectors :math:`s_p` are
  columns 1..K of a Sylvester-Hadamard matrix of order S (the smallest power
  of two above K). Each :math:`\epsilon_p` is exactly N(0, I), so the
  averaged gradient stays unbiased; and because the sign columns are
  orthogonal to each other and to the constant, every term of the gradient
  that is odd in one coordinate of ε, or a product :math:`\epsilon_i\epsilon_j`
  (i ≠ j), averages to exactly zero. When the decoder is linear-Gaussian,
  what remains (terms in :math:`\epsilon_j^2`) is proportional to the
  distance from q*, so the noise vanishes at q* for the diagonal family too;
  for any smooth decoder these are the leading terms of the noise.
* **a preconditioned step**, the family's ``precondition``: the gradient
  scaled by the inverse curvature the ELBO has when the target is Gaussian
  (for the mean, the natural gradient :math:`\Sigma g_\mu`), capped at 0.5
  per raw coordinate so a poor starting point (an untrained encoder) cannot
  overshoot;
* **a decaying step** size: `lr` for the first half of the steps, then
  :math:`lr/(1 + 20(t - T/2)/T)`, with the iterates of the second half
  averaged (Polyak & Juditsky 1992), so noise left by a nonlinear decoder
  averages out. The cost in bias is nil for the gradient (every step is
  unbiased) and of the order of the final step size times the remaining
  noise for the averaged iterate.
"""

from dataclasses import dataclass

import numpy as np
from scipy.linalg import hadamard

from numvae import importance
from numvae.checks import as_generator, check_choice, check_finite_result, check_int, check_positive
from numvae.distributions import gaussian_log_density
from numvae.importance import proposal_family
from numvae.posteriors import POSTERIORS, make_posterior
from numvae.vae import VAE

# Largest change of one raw coordinate in one step: a trust region for
# starting points far from q* (the curvature the step assumes holds near q*).
_MAX_STEP = 0.5
# Draws per block when an ELBO is evaluated with many samples (bounds memory).
_EVAL_BLOCK = 250


def _log_px(model, x, z):
    """log p(x_n | z_sn), shape (S, N), for `x` (N, D) and `z` (S, N, K)."""
    return model.likelihood.log_prob(x, model.decoder.forward(z))


def _log_px_and_grad_z(model, x, z):
    """log p(x_n | z_sn) (S, N) and its gradient with respect to z (S, N, K): the decoder's backward."""
    out = model.decoder.forward(z)                                                     # (S, N, D)
    return model.likelihood.log_prob(x, out), model.decoder.backward(model.likelihood.grad(x, out))


@dataclass
class OptimalQ:
    r"""The per-datapoint optimum :math:`q^*(z|x_n)` of one posterior family.

    Attributes
    ----------
    posterior : {"diagonal", "full"}
    mu : ndarray of shape (N, K)
    logvar : ndarray of shape (N, K) or None
        The diagonal family's log-variances (None for the full one).
    L : ndarray of shape (N, K, K) or None
        The full family's Cholesky factors (None for the diagonal one).
    elbo, elbo_se : ndarray of shape (N,)
        ELBO of q* per datapoint (Monte Carlo reconstruction term with
        ``n_eval`` draws, closed-form KL) and its standard error.
    steps : int
        Gradient steps taken.
    decoder_passes : int
        Latent samples pushed through the decoder per datapoint (each
        forward pass of a step, and the evaluation draws).
    h : ndarray of shape (N, n_outputs)
        The same q* as raw parameters (the family's encoder-output layout).
    """

    posterior: str
    mu: np.ndarray
    logvar: np.ndarray
    L: np.ndarray
    elbo: np.ndarray
    elbo_se: np.ndarray
    steps: int
    decoder_passes: int
    h: np.ndarray

    @property
    def cov(self):
        """Covariances of q*, shape (N, K, K)."""
        if self.L is not None:
            return self.L @ np.swapaxes(self.L, -1, -2)
        return np.exp(self.logvar)[..., None] * np.eye(self.mu.shape[1])


def _check_model(model):
    """Refuse anything but a VAE with finite parameters, before any work.

    A NaN weight would otherwise flow through every decoder pass into NaN
    results; VAE.elbo raises on those, so these functions refuse the model
    (and check their results) instead of returning them.
    """
    if not isinstance(model, VAE):
        raise ValueError(f"model must be a numvae VAE (these functions use its encoder and decoder); "
                         f"got {type(model).__name__}")
    for name, p in model.params.items():
        bad = p.size - int(np.isfinite(p).sum())
        if bad:
            raise ValueError(f"model must have finite parameters; its array {name!r} has {bad} NaN or infinite "
                             "entries (a diverged run?)")
    return model


def _family(model, posterior):
    _check_model(model)
    check_choice(posterior, "posterior", POSTERIORS)
    return make_posterior(posterior, model.z_dim)


# Log-variances outside these bounds give a variance of 0 or infinity in float64
# (exp overflows or underflows), and so NaN densities.
_LOGVAR_RANGE = (np.log(np.finfo(np.float64).tiny), np.log(np.finfo(np.float64).max))


def _check_h_logvar(h, z_dim):
    """Raise ``ValueError`` naming `h` unless its log-variance columns (K:2K in both layouts) give
    variances that are finite and > 0 in float64."""
    logvar = h[:, z_dim:2 * z_dim]
    lo, hi = _LOGVAR_RANGE
    if logvar.size and (logvar.min() < lo or logvar.max() > hi):
        raise ValueError(f"proposal parameters' log-variance columns ({z_dim}:{2 * z_dim}) must lie in [{lo:.0f}, {hi:.0f}], "
                         f"where exp() is finite and > 0; got values in [{logvar.min():.4g}, {logvar.max():.4g}]")


def path_elbo(model, x, h, eps, posterior, h_q=None):
    r"""Per-datapoint ELBO estimate and its path-derivative gradient with respect to q's raw parameters.

    Parameters
    ----------
    model : VAE
        Its decoder and likelihood are used (and its decoder gradients
        overwritten); its encoder is not.
    x : ndarray of shape (N, D)
    h : ndarray of shape (N, n_outputs)
        Raw parameters of q(z|x_n) in the layout of the family's encoder
        output (``posteriors.*.outputs``).
    eps : ndarray of shape (S, N, K)
    posterior : {"diagonal", "full"}
    h_q : ndarray like `h`, optional
        The parameters of the :math:`\log q` term, held fixed: the gradient
        is that of :math:`F(h) = \frac1S\sum_s[\log p(x, z_s(h)) - \log q_{h_q}(z_s(h))]`,
        evaluated at ``h_q = h`` (the default). Only a gradient check passes
        another value.

    Returns
    -------
    value : ndarray of shape (N,)
        :math:`F_n(h)`, an unbiased estimate of the ELBO when ``h_q = h``.
    grad : ndarray of shape (N, n_outputs)
        :math:`\partial F_n/\partial h_n` (each datapoint's own parameters).
    """
    family = _family(model, posterior)
    params = family.split(h)
    q_params = params if h_q is None else family.split(h_q)
    S = eps.shape[0]
    z, cache = family.sample(params, eps)                                              # (S, N, K)
    log_px, dlogp_dz = _log_px_and_grad_z(model, x, z)                                 # (S, N), (S, N, K)
    zeros = np.zeros(model.z_dim)
    log_pz = gaussian_log_density(z, zeros, zeros, check=False)                        # (S, N) log N(z; 0, I)
    value = (log_px + log_pz - family.log_q(z, q_params)).mean(axis=0)
    # ∂/∂z of log p(x|z) + log N(z; 0, I) − log q(z) with q's parameters fixed.
    dz = dlogp_dz - z - family.score_z(q_params, z)
    # The family's backward takes ∂/∂z to ∂/∂h through z = g(eps, h).
    return value, family.backward(params, cache, eps, dz / S)


def elbo_of(model, x, qs, n_samples=1000, rng=None):
    r"""ELBOs of one or more q(z|x_n), per datapoint, with standard errors, on common noise.

    :math:`\frac1S\sum_s\log p(x|z_s) - KL(q\,\|\,\mathcal N(0, I))`: the
    reconstruction term by Monte Carlo, the KL in closed form. Every q is fed
    the same draws :math:`\epsilon_s` (common random numbers), so the
    difference of two ELBOs has a much smaller error than either.

    Parameters
    ----------
    model : VAE
    x : ndarray of shape (N, D)
    qs : list of (posterior name, ndarray of shape (N, n_outputs))
    n_samples : int >= 2
    rng : numpy.random.Generator or int, optional

    Returns
    -------
    elbo, se : ndarray of shape (len(qs), N)
    diff_se : ndarray of shape (len(qs) - 1, N)
        Standard error of ``elbo[i + 1] - elbo[i]``.
    """
    x = model.check_x(x, np.float64)
    n_samples = check_int(n_samples, "n_samples", 2)
    rng = as_generator(rng, none_ok=True)
    families = [_family(model, post) for post, _ in qs]
    params = [f.split(np.asarray(h, dtype=np.float64)) for f, (_, h) in zip(families, qs)]
    sums = np.zeros((2, len(qs), x.shape[0]))                                          # Σ rec, Σ rec²
    diff_sq = np.zeros((max(len(qs) - 1, 0), x.shape[0]))                              # Σ (rec_{i+1} − rec_i)²
    done = 0
    while done < n_samples:
        s = min(_EVAL_BLOCK, n_samples - done)
        eps = rng.standard_normal((s, x.shape[0], model.z_dim))                        # shared by every q
        rec = np.stack([_log_px(model, x, f.sample(p, eps)[0]) for f, p in zip(families, params)])  # (n_q, s, N)
        sums += (rec.sum(1), (rec * rec).sum(1))
        diff_sq += (np.diff(rec, axis=0) ** 2).sum(1)
        done += s
    mean = sums[0] / n_samples                                                         # (n_q, N)
    var = np.maximum(sums[1] / n_samples - mean ** 2, 0.0) * n_samples / (n_samples - 1)
    dmean = np.diff(mean, axis=0)
    dvar = np.maximum(diff_sq / n_samples - dmean ** 2, 0.0) * n_samples / (n_samples - 1)
    kl = np.stack([f.kl_terms(p)[0] for f, p in zip(families, params)])                # (n_q, N)
    return mean - kl, np.sqrt(var / n_samples), np.sqrt(dvar / n_samples)


def encoder_outputs(model, x, posterior):
    """The encoder's q_φ(z|x) for every row, as raw parameters of `posterior` (same marginals for "diagonal")."""
    family = _family(model, posterior)
    q = model.encode(x)
    mu = q[0].astype(np.float64)
    return family.outputs(mu, model.posterior.covariance(q).astype(np.float64))


def sign_design(z_dim):
    r"""Sign vectors (S, K): columns 1..K of the Sylvester-Hadamard matrix of order S, the smallest power of 2 > K.

    Its columns are orthogonal to each other and to the constant column:
    :math:`\sum_p s_{pi} = 0` and :math:`\sum_p s_{pi}s_{pj} = 0` for i ≠ j.
    """
    order = 1
    while order <= z_dim:
        order *= 2
    return hadamard(order)[:, 1:z_dim + 1].astype(np.float64)                          # (S, K)


def optimize_q(model, x, posterior="diagonal", steps=600, n_draws=1, lr=0.2, n_eval=1000, rng=None):
    r"""Each datapoint's own best Gaussian :math:`q^*(z|x_n)` under a fixed decoder.

    Parameters
    ----------
    model : VAE
        Any posterior family, any decoder; only its decoder is used after the
        starting point (its decoder gradients are overwritten).
    x : ndarray of shape (N, D)
    posterior : {"diagonal", "full"}
        The family q* is sought in. It starts from the encoder's
        :math:`q_\phi(z|x_n)` (for a full q* from a diagonal encoder: that
        diagonal; for a diagonal q* from a full encoder: its marginal variances).
    steps : int
        Gradient steps, all datapoints at once (vectorised; they do not interact).
    n_draws : int
        Base draws per step and datapoint; each becomes S sign-flipped draws
        (:func:`sign_design`), so a step pushes ``n_draws * S`` samples
        through the decoder.
    lr : float
        Step size of the preconditioned steps: constant for the first half,
        then decaying; the second half's iterates are averaged.
    n_eval : int
        Draws for the ELBO of the result.
    rng : numpy.random.Generator or int, optional

    Returns
    -------
    OptimalQ
        ``mu``, ``logvar`` or ``L``, ``elbo`` and ``elbo_se`` per datapoint,
        and the work done (``steps``, ``decoder_passes``).

    Notes
    -----
    The gradient is :func:`path_elbo`'s path derivative, the noise handling
    and the step schedule are those of the module docstring. Cost: every
    step is ``n_draws * S`` decoder passes (forward and backward) per
    datapoint, against one encoder pass for :math:`q_\phi`.
    """
    family = _family(model, posterior)
    x = model.check_x(x, np.float64)
    steps = check_int(steps, "steps", 2)
    n_draws = check_int(n_draws, "n_draws", 1)
    check_positive(lr, "lr")
    rng = as_generator(rng, none_ok=True)
    signs = sign_design(model.z_dim)                                                   # (S, K)
    h = encoder_outputs(model, x, posterior)                                           # (N, n_outputs)
    h_avg, half = np.zeros_like(h), steps // 2
    for t in range(steps):
        e = rng.standard_normal((n_draws, 1) + x.shape[:1] + (model.z_dim,))           # (n_draws, 1, N, K) fresh
        eps = (e * signs[:, None, :]).reshape(-1, x.shape[0], model.z_dim)              # (n_draws S, N, K)
        _, g = path_elbo(model, x, h, eps, posterior)                                  # (N, n_outputs)
        rate = lr if t < half else lr / (1 + 20 * (t - half) / steps)
        step = rate * family.precondition(family.split(h), g)
        step /= np.maximum(1.0, np.abs(step).max(axis=-1, keepdims=True) / _MAX_STEP)  # trust region
        h += step
        if t >= half:
            h_avg += h / (steps - half)
    elbo, se, _ = elbo_of(model, x, [(posterior, h_avg)], n_eval, rng)
    check_finite_result(h_avg, "optimize_q's q*")
    check_finite_result(elbo, "optimize_q's ELBO")
    named = dict(zip(family.param_names, (np.array(p) for p in family.split(h_avg))))   # mu and logvar, or mu and L
    return OptimalQ(posterior, named["mu"], named.get("logvar"), named.get("L"), elbo[0], se[0],
                    steps, steps * len(eps) + n_eval, h_avg)


@dataclass
class Gaps:
    r"""The split of :math:`\log p(x) - \mathrm{ELBO}(q_\phi)` per datapoint, each with its standard error.

    Attributes (ndarray of shape (N,) each, nats)
    ----------
    log_px, log_px_se
        Importance-sampled :math:`\log\hat p(x)` (:func:`defensive_log_px`, the
        full-covariance q* mixed with the prior as proposal).
    elbo_q_star, elbo_q_star_se
        ELBO of the best member of the model's own posterior family.
    elbo_encoder, elbo_encoder_se
        ELBO of the encoder's :math:`q_\phi(z|x)`.
    approximation, approximation_se
        :math:`\log p(x) - \mathrm{ELBO}(q^*)`: what the Gaussian family costs.
    amortization, amortization_se
        :math:`\mathrm{ELBO}(q^*) - \mathrm{ELBO}(q_\phi)`: what one shared encoder costs.
    q_star : OptimalQ
        The q* those ELBOs are of (:func:`optimize_q` in the model's family), so
        that a caller can evaluate it independently (lesson 10 does, by quadrature).
    """

    log_px: np.ndarray
    log_px_se: np.ndarray
    elbo_q_star: np.ndarray
    elbo_q_star_se: np.ndarray
    elbo_encoder: np.ndarray
    elbo_encoder_se: np.ndarray
    approximation: np.ndarray
    approximation_se: np.ndarray
    amortization: np.ndarray
    amortization_se: np.ndarray
    q_star: OptimalQ


# Share of the importance samples drawn from the prior in the defensive mixture.
DEFENSIVE_PRIOR = 0.25


def defensive_log_px(model, x, proposal, k=1000, prior_share=DEFENSIVE_PRIOR, rng=None):
    r"""Importance-sampled :math:`\log p(x)` with a defensive mixture proposal, and its standard error.

    The proposal is :math:`r(z) = (1-\alpha)\,q(z|x) + \alpha\,p(z)`, with q
    given by `proposal` (typically a per-datapoint q*) and :math:`\alpha` =
    `prior_share`: ``numvae.importance.log_px``, whose docstring derives the
    weights and the stratified standard error. A Gaussian q alone has light
    tails: where p(z|x) has a second mode many standard deviations from q,
    q almost never samples it and :math:`\log\hat p` falls short of log p(x)
    by the mode's mass, with a standard error that does not show it (seen in
    lesson 10: 0.12 nats at k = 10⁴, SE 0.002). The prior's draws cover every
    mode the prior gives mass to.

    Parameters
    ----------
    model : VAE
    x : ndarray of shape (N, D)
    proposal : (str, ndarray of shape (N, n_outputs))
        ``(posterior, h)``: a posterior family's name and the raw parameters
        of q for every row of `x`, in that family's layout.
    k : int >= 4
        Samples per datapoint.
    prior_share : float in [0, 1)
        :math:`\alpha`; 0 is plain importance sampling from q.
    rng : numpy.random.Generator or int, optional

    Returns
    -------
    log_px, se : ndarray of shape (N,)
    """
    _check_model(model)
    x = model.check_x(x, np.float64)
    k = check_int(k, "k", 4)
    _, h = proposal_family(model, proposal, len(x))
    _check_h_logvar(h, model.z_dim)
    return importance.log_px(model, x, proposal, k, rng, prior_share=prior_share,
                             what="defensive_log_px's log p(x)")


def gaps(model, x, k=1000, steps=600, n_eval=1000, rng=None):
    r"""Approximation and amortization gaps of a VAE on the rows of `x` (Cremer, Li & Duvenaud 2018).

    Parameters
    ----------
    model : VAE
    x : ndarray of shape (N, D)
    k : int
        Importance samples for :math:`\log\hat p(x)` (:func:`defensive_log_px`).
    steps : int
        Steps of each :func:`optimize_q`.
    n_eval : int
        Draws for each ELBO; q* and :math:`q_\phi` share them.
    rng : numpy.random.Generator or int, optional

    Returns
    -------
    Gaps

    Notes
    -----
    q* is sought in the model's own family (the family the encoder is
    amortizing). :math:`\log\hat p(x)` is :func:`defensive_log_px` with the
    full-covariance q*, the best Gaussian available, as the mixture's main
    component, which makes the estimate's downward bias (Burda et al. 2015)
    small, and the prior as its defensive one, which keeps the bias small
    where the posterior has a mode far from q*. The two gaps' standard
    errors combine the errors of the terms (independent draws for
    :math:`\log\hat p` and the ELBO; paired draws for the two ELBOs).
    """
    x = model.check_x(x, np.float64)
    k = check_int(k, "k", 4)
    rng = as_generator(rng, none_ok=True)
    own = model.posterior.name
    q_star = optimize_q(model, x, own, steps=steps, n_eval=2, rng=rng)
    full = q_star if own == "full" else optimize_q(model, x, "full", steps=steps, n_eval=2, rng=rng)
    log_px, log_px_se = defensive_log_px(model, x, ("full", full.h), k, rng=rng)
    elbo, se, diff_se = elbo_of(model, x, [(own, encoder_outputs(model, x, own)), (own, q_star.h)],
                                n_eval, rng)
    return Gaps(log_px, log_px_se, elbo[1], se[1], elbo[0], se[0],
                log_px - elbo[1], np.hypot(log_px_se, se[1]), elbo[1] - elbo[0], diff_se[0], q_star)
