r"""Central finite differences against any hand-written gradient.

``gradcheck(fun, params)`` perturbs every entry of every parameter by ±eps,
evaluates the loss twice, and compares

.. math:: \hat g_i = \frac{f(\theta + \epsilon e_i) - f(\theta - \epsilon e_i)}{2\epsilon}

with the analytic gradient :math:`g_i`. The central difference has error
:math:`O(\epsilon^2)`; in float64 with :math:`\epsilon = 10^{-6}` the total
error (truncation plus rounding, about :math:`10^{-16}|f|/\epsilon`) is near
:math:`10^{-10}`, so a relative error above :math:`10^{-6}` means a wrong
gradient, not noise. The relative error is
:math:`|g - \hat g| / \max(10^{-8}, |g| + |\hat g|)`, so entries whose true
gradient is zero do not explode (Karpathy's CS231n notes use the same idea).
It knows nothing of models: ``params`` is a dict of arrays and ``fun`` reads
them.
"""

from dataclasses import dataclass

import numpy as np

from numvae.checks import check_positive
from numvae.likelihoods import LIKELIHOODS
from numvae.nn import ACTIVATIONS
from numvae.posteriors import POSTERIORS


@dataclass
class ParamCheck:
    """The worst entry of one parameter's gradient check."""

    name: str
    shape: tuple
    max_abs_err: float
    max_rel_err: float
    index: tuple     # entry with the largest relative error
    analytic: float  # its hand-written gradient
    numeric: float   # its finite-difference gradient


class GradcheckReport:
    """Per-parameter results of :func:`gradcheck`; ``str()`` gives a table."""

    def __init__(self, rows, tol):
        self.rows, self.tol = rows, tol

    @property
    def passed(self):
        """True if every parameter's largest relative error is at most the tolerance."""
        return all(r.max_rel_err <= self.tol for r in self.rows)

    @property
    def max_rel_err(self):
        """The largest relative error over all parameters (0.0 if there are none)."""
        return max((r.max_rel_err for r in self.rows), default=0.0)

    def __getitem__(self, name):
        return next(r for r in self.rows if r.name == name)

    def __str__(self):
        head = f"{'parameter':<24}{'shape':<14}{'max abs err':>12}{'max rel err':>12}  worst entry (analytic vs numeric)"
        lines = [head, "-" * len(head)]
        for r in self.rows:
            flag = "" if r.max_rel_err <= self.tol else "  FAIL"
            lines.append(f"{r.name:<24}{str(r.shape):<14}{r.max_abs_err:>12.2e}{r.max_rel_err:>12.2e}"
                         f"  {r.index}: {r.analytic:.6g} vs {r.numeric:.6g}{flag}")
        verdict = "PASS" if self.passed else "FAIL"
        lines.append(f"{verdict}: largest relative error {self.max_rel_err:.2e} (tolerance {self.tol:.0e})")
        return "\n".join(lines)


def relative_error(a, n):
    r"""Element-wise :math:`|a - n| / \max(10^{-8}, |a| + |n|)`."""
    return np.abs(a - n) / np.maximum(1e-8, np.abs(a) + np.abs(n))


def gradcheck(fun, params, eps=1e-6, tol=1e-6, keys=None):
    r"""Compare every entry of a hand-written gradient with central finite differences.

    Parameters
    ----------
    fun : callable
        ``fun(params) -> (loss, grads)``: a deterministic scalar loss (freeze any
        noise) and its gradient, a dict with the keys and shapes of `params`.
    params : dict[str, ndarray]
        float64 parameters that `fun` reads; each entry is perturbed in place
        and restored exactly.
    eps : float
        Finite-difference step.
    tol : float
        Largest relative error that passes.
    keys : iterable of str, optional
        Check only these parameters.

    Returns
    -------
    GradcheckReport
    """
    check_positive(eps, "eps")
    check_positive(tol, "tol")
    keys = list(params) if keys is None else list(keys)
    for k in keys:
        if k not in params:
            raise ValueError(f"keys names {k!r}, which is not in params {sorted(params)}")
        if params[k].dtype != np.float64:
            raise ValueError(f"params[{k!r}] must be float64 for a finite-difference check; "
                             f"got {params[k].dtype} (float32 rounding swamps the difference)")
    _, grads = fun(params)
    # Copy now: a model may reuse its gradient buffers on the next call.
    analytic = {k: np.array(grads[k], dtype=np.float64) for k in keys}
    rows = []
    for k in keys:
        p = params[k]
        if analytic[k].shape != p.shape:
            raise ValueError(f"grads[{k!r}] has shape {analytic[k].shape}; params[{k!r}] has {p.shape}")
        numeric = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + eps
            f_plus = float(fun(params)[0])
            p[idx] = old - eps
            f_minus = float(fun(params)[0])
            p[idx] = old
            numeric[idx] = (f_plus - f_minus) / (2 * eps)
        rel = relative_error(analytic[k], numeric)
        worst = np.unravel_index(np.argmax(rel), rel.shape) if rel.size else ()
        rows.append(ParamCheck(k, p.shape, float(np.abs(analytic[k] - numeric).max(initial=0.0)),
                               float(rel.max(initial=0.0)), tuple(int(i) for i in worst),
                               float(analytic[k][worst]) if rel.size else 0.0,
                               float(numeric[worst]) if rel.size else 0.0))
    return GradcheckReport(rows, tol)


# The VAE losses are O(10) nats (the Gaussian's ½·D·log 2π alone is several),
# so at eps = 1e-6 rounding, about 1e-16·|f|/eps ≈ 1e-9, is already 1e-6 of a
# gradient entry of size 1e-3. eps = 1e-5 keeps rounding near 1e-10 while the
# truncation error, O(eps² · third derivative), stays as small: measured worst
# relative errors drop from ~1e-6 to ~3e-8 on the same problems.
VAE_EPS = 1e-5
# Problems with a gradient entry below 5e-4 are redrawn (like biases away from
# zero): the finite difference's ~1e-10 absolute rounding error would exceed
# 1e-6 of them. After _VAE_ATTEMPTS draws the last one is used regardless, so a
# gradient that is wrongly zero is still checked, and fails.
_VAE_MIN_GRAD = 5e-4
_VAE_ATTEMPTS = 30


def vae_case(decoder, decoder_var="pixel", hidden=(5,), activation="tanh", n_samples=2,
             beta=0.7, seed=0, x_dim=6, z_dim=3, n=7, posterior="diagonal"):
    r"""A tiny float64 VAE, a batch, frozen noise and free bits that bind on some dimensions only.

    Biases (and a learned decoder log-variance) are drawn away from zero so a
    wrong bias gradient cannot hide; inputs are random and non-degenerate
    (uniform grey levels in (0.02, 0.98) for the Bernoulli-type decoders,
    standard normal for the Gaussian). The free-bits threshold λ is put in the
    middle of the largest gap between the sorted batch-mean KLs of the
    dimensions, so at least one dimension is clamped (KL below λ, zero KL
    gradient), at least one is not, and none is within finite-difference reach
    of the kink. The full-covariance posterior refuses free bits, so there
    ``free_bits`` is 0 and nothing is clamped.

    Returns
    -------
    model : VAE
    fun : callable
        ``fun(params) -> (loss, grads)`` with everything but the parameters frozen.
    info : dict
        ``free_bits``, ``kl_per_dim`` (K,), ``clamped`` (K,) bool, ``n_samples``, ``beta``.
    """
    from numvae.vae import VAE

    rng = np.random.default_rng(seed)
    model = VAE(x_dim, hidden=hidden, z_dim=z_dim, decoder=decoder, activation=activation,
                dtype=np.float64, seed=seed, decoder_var=decoder_var, decoder_logvar=-0.4, posterior=posterior)
    for attempt in range(_VAE_ATTEMPTS):
        for k, v in model.params.items():
            if k.endswith(".b") or k == "dec.logvar":
                v[:] = rng.normal(0.0, 0.5, size=v.shape)
        x = LIKELIHOODS[decoder].example_x(rng, (n, x_dim))           # inside the family's support
        eps = rng.standard_normal((n_samples, n, z_dim))
        model.loss_and_grads(x, eps=eps, n_samples=n_samples)
        kl_per_dim = model.last_terms["kl_per_dim"].copy()
        s = np.sort(kl_per_dim)
        gap = int(np.argmax(np.diff(s)))
        free_bits = 0.5 * (s[gap] + s[gap + 1]) if POSTERIORS[posterior].free_bits else 0.0
        _, grads = model.loss_and_grads(x, eps=eps, n_samples=n_samples, beta=beta, free_bits=free_bits)
        if min(np.abs(g).min() for g in grads.values()) >= _VAE_MIN_GRAD:
            break

    def fun(params):
        return model.loss_and_grads(x, eps=eps, n_samples=n_samples, beta=beta, free_bits=free_bits)

    info = {"free_bits": free_bits, "kl_per_dim": kl_per_dim, "clamped": kl_per_dim < free_bits,
            "n_samples": n_samples, "beta": beta}
    return model, fun, info


def _vae_cases():
    """``(decoder, decoder_var, hidden, activation, n_samples, posterior)`` for every family, from the registries.

    Every likelihood with every decoder variance it supports, under every
    posterior family, with 1 to 3 noise samples in turn; the linear model
    (``hidden=()``) under each posterior; every other hidden activation once.
    A family added to a registry is checked here without a line of this module.
    """
    cases = []
    for posterior in POSTERIORS:
        for decoder, family in LIKELIHOODS.items():
            for var in family.variances or ("pixel",):
                cases.append((decoder, var, (5,), "tanh", 1 + len(cases) % 3, posterior))
        cases.append(("gaussian", "shared", (), "tanh", 2, posterior))
    for activation in ACTIVATIONS:
        if activation not in ("identity", "tanh"):
            cases.append(("bernoulli", "pixel", (5,), activation, 2, "diagonal"))
    return tuple(cases)


VAE_CASES = _vae_cases()


def vae_reports(seed=0, tol=1e-6):
    r"""Gradient checks of the full VAE training loss, for every family of the registries.

    The cases of :data:`VAE_CASES`: every likelihood (the Gaussian with a
    learned per-pixel, a learned shared and a fixed log-variance) under every
    posterior family, the linear model (``hidden=()``), every hidden
    activation; each with β = 0.7, free bits binding on some latent
    dimensions but not others where the posterior has them (see
    :func:`vae_case`), and 1 to 3 frozen noise samples; then the
    per-datapoint objective of ``inference.optimize_q``
    (:func:`path_elbo_case`); the importance-weighted bound
    (:func:`iwae_reports`) and the conditional VAE (:func:`conditional_reports`).
    Every entry of every parameter is checked
    (``eps = VAE_EPS``).

    Returns
    -------
    list of (str, GradcheckReport)
        A title describing the case, and its report.
    """
    out = []
    for i, (decoder, var, hidden, act, L, posterior) in enumerate(VAE_CASES):
        model, fun, info = vae_case(decoder, var, hidden, act, L, seed=seed + i, posterior=posterior)
        var_text = f", {var} variance" if LIKELIHOODS[decoder].variances else ""
        arch = f"hidden {hidden} {act}" if hidden else "linear"
        bits = (f"free bits {info['free_bits']:.3f} clamping {int(info['clamped'].sum())}/{len(info['clamped'])} dims"
                if POSTERIORS[posterior].free_bits else "no free bits")
        title = f"VAE, {posterior} posterior, {decoder} decoder{var_text}, {arch}, L={L}, beta={info['beta']}, {bits}"
        out.append((title, gradcheck(fun, model.params, eps=VAE_EPS, tol=tol)))
    for i, (decoder, posterior) in enumerate((("bernoulli", "diagonal"), ("gaussian", "full"))):
        out.append((f"optimize_q objective (path derivative), {posterior} q, {decoder} decoder, S=3",
                    gradcheck(*path_elbo_case(decoder, posterior, seed=seed + 100 + i), eps=VAE_EPS, tol=tol)))
    return out + iwae_reports(seed=seed + 200, tol=tol) + conditional_reports(seed=seed + 300, tol=tol)


def _family_cases():
    """``(posterior, decoder, decoder_var)`` for every posterior and every likelihood with each variance it supports."""
    return tuple((posterior, decoder, var) for posterior in POSTERIORS for decoder, family in LIKELIHOODS.items()
                 for var in family.variances or ("pixel",))


IWAE_KS = (1, 2, 5)


def iwae_case(decoder, decoder_var="pixel", posterior="diagonal", k=2, estimator="iwae", seed=0, x_dim=6, z_dim=3,
              n=5):
    r"""A tiny float64 VAE, a batch and frozen noise ``(k, n, K)`` for ``objectives.IWAE(k, estimator)``.

    Returns
    -------
    model : VAE
    fun : callable
        ``fun(params) -> (loss, grads)``: :math:`-\frac1N\sum_n\mathcal L_k(x_n; \epsilon)`
        and the estimator's gradient (the true gradient for ``"iwae"``).
    batch : tuple
        ``(x, eps)``.
    """
    from numvae.objectives import IWAE
    from numvae.vae import VAE

    rng = np.random.default_rng(seed)
    model = VAE(x_dim, hidden=(5,), z_dim=z_dim, decoder=decoder, activation="tanh", dtype=np.float64, seed=seed,
                decoder_var=decoder_var, decoder_logvar=-0.4, posterior=posterior)
    objective = IWAE(k, estimator)
    for attempt in range(_VAE_ATTEMPTS):   # as in vae_case: no entry small enough to drown in rounding
        for name, v in model.params.items():
            if name.endswith(".b") or name == "dec.logvar":
                v[:] = rng.normal(0.0, 0.5, size=v.shape)
        x = LIKELIHOODS[decoder].example_x(rng, (n, x_dim))
        eps = rng.standard_normal((k, n, z_dim))
        _, grads = objective.loss_and_grads(model, x, eps=eps)
        if min(np.abs(g).min() for g in grads.values()) >= _VAE_MIN_GRAD:
            break

    def fun(params):
        return objective.loss_and_grads(model, x, eps=eps)

    return model, fun, (x, eps)


def dreg_surrogate_case(decoder, decoder_var="pixel", posterior="diagonal", k=5, seed=0):
    r"""DReG's encoder gradient as the gradient of its surrogate, a gradcheck problem on the encoder's parameters.

    .. math:: S(\phi) = -\frac1N\sum_n\sum_i c_{in}\log w_i\bigl(z_{in}(\phi);\ \phi_0\bigr),
              \qquad c_{in} = \tilde w_{in}^2 \text{ at } \phi_0,

    with the noise frozen, :math:`\log q`'s parameters frozen at the
    encoder's output at :math:`\phi_0` (only z moves with φ) and the weights
    c held constant (the stop-gradient). At :math:`\phi_0` its gradient is
    DReG's encoder gradient.

    Returns
    -------
    fun, params, keys : what :func:`gradcheck` takes; `keys` names the encoder's parameters.
    """
    from scipy.special import softmax

    from numvae.objectives import IWAE, log_prior

    model, dreg, (x, eps) = iwae_case(decoder, decoder_var, posterior, k, "dreg", seed=seed)
    q0 = model.posterior.split(model.encoder.forward(x).copy())                       # φ0's q parameters
    c = softmax(IWAE(k).log_weights(model, model.forward(x, k, eps=eps)), axis=0) ** 2   # (k, N) w̃² at φ0

    def fun(params):
        p = model.forward(x, k, eps=eps)
        log_w = (model.likelihood.log_prob(x, p.out) + log_prior(p.z)
                 - model.posterior.log_q(p.z, q0))                                      # (k, N), q frozen at φ0
        return float(-(c * log_w).sum() / x.shape[0]), dreg(params)[1]

    return fun, model.params, [name for name in model.params if name.startswith("enc.")]


def iwae_reports(seed=0, tol=1e-6):
    r"""Gradient checks of the importance-weighted bound, for every posterior and every likelihood.

    ``IWAE(k)`` for k in :data:`IWAE_KS` against finite differences of
    :math:`\mathcal L_k(\epsilon)` at every entry of every parameter; then
    ``IWAE(5, "dreg")``'s encoder gradient against finite differences of its
    surrogate (:func:`dreg_surrogate_case`). (Its decoder gradient is IWAE's,
    which the tests assert exactly.)

    Returns
    -------
    list of (str, GradcheckReport)
    """
    out = []
    for i, (posterior, decoder, var) in enumerate(_family_cases()):
        var_text = f", {var} variance" if LIKELIHOODS[decoder].variances else ""
        for k in IWAE_KS:
            model, fun, _ = iwae_case(decoder, var, posterior, k, seed=seed + 10 * i + k)
            out.append((f"IWAE(k={k}), {posterior} posterior, {decoder} decoder{var_text}",
                        gradcheck(fun, model.params, eps=VAE_EPS, tol=tol)))
        fun, params, keys = dreg_surrogate_case(decoder, var, posterior, seed=seed + 10 * i)
        out.append((f"DReG(k=5) encoder = gradient of its surrogate, {posterior} posterior, {decoder} decoder{var_text}",
                    gradcheck(fun, params, eps=VAE_EPS, tol=tol, keys=keys)))
    return out


def path_elbo_case(decoder, posterior, seed=0, n=4, n_samples=3):
    r"""The objective of ``inference.optimize_q`` as a gradcheck problem, on a tiny float64 VAE.

    :math:`F(h) = \sum_n w_n\frac1S\sum_s[\log p(x_n, z_{ns}(h)) - \log q_{h_0}(z_{ns}(h))]`
    with frozen noise, random weights :math:`w_n` and the :math:`\log q`
    parameters frozen at :math:`h_0`: its gradient at :math:`h_0` is the
    path-derivative estimator (``inference.path_elbo``).

    Returns
    -------
    fun, params : what :func:`gradcheck` takes (``params = {"h": (n, n_outputs)}``).
    """
    from numvae.inference import encoder_outputs, path_elbo
    from numvae.vae import VAE

    rng = np.random.default_rng(seed)
    model = VAE(6, hidden=(5,), z_dim=3, decoder=decoder, activation="tanh", seed=seed)
    for attempt in range(_VAE_ATTEMPTS):   # as in vae_case: no entry small enough to drown in rounding
        x = rng.uniform(0.05, 0.95, size=(n, 6))
        h0 = encoder_outputs(model, x, posterior)
        h0 = h0 + rng.normal(0.0, 0.4, size=h0.shape)
        eps, w = rng.standard_normal((n_samples, n, 3)), rng.normal(size=n)
        if np.abs(w[:, None] * path_elbo(model, x, h0, eps, posterior)[1]).min() >= _VAE_MIN_GRAD:
            break

    def fun(params):
        value, g = path_elbo(model, x, params["h"], eps, posterior, h_q=h0)
        return float(w @ value), {"h": w[:, None] * g}

    return fun, {"h": h0.copy()}


def conditional_case(decoder="bernoulli", decoder_var="pixel", posterior="diagonal", n_samples=2, beta=0.7,
                     seed=0, x_dim=6, n_classes=3, z_dim=3, n=7):
    r"""A tiny float64 ``ConditionalVAE``, a labelled batch and frozen noise: its ELBO loss as a gradcheck problem.

    As :func:`vae_case` (biases drawn away from zero, redrawn until no
    gradient entry is small enough to drown in rounding), with random labels
    in 0..C-1 that cover every class, so every row of the first layers' label
    weights has a gradient.

    Returns
    -------
    model : ConditionalVAE
    fun : callable
        ``fun(params) -> (loss, grads)``.
    batch : tuple
        ``(x, y, eps)``.
    """
    from numvae.conditional import ConditionalVAE

    rng = np.random.default_rng(seed)
    model = ConditionalVAE(x_dim, n_classes, hidden=(5,), z_dim=z_dim, decoder=decoder, activation="tanh",
                           dtype=np.float64, seed=seed, decoder_var=decoder_var, decoder_logvar=-0.4,
                           posterior=posterior)
    for attempt in range(_VAE_ATTEMPTS):
        for k, v in model.params.items():
            if k.endswith(".b") or k == "dec.logvar":
                v[:] = rng.normal(0.0, 0.5, size=v.shape)
        x = LIKELIHOODS[decoder].example_x(rng, (n, x_dim))
        y = rng.permutation(np.arange(n) % n_classes)                  # every class present
        eps = rng.standard_normal((n_samples, n, z_dim))
        _, grads = model.loss_and_grads(x, y, eps=eps, n_samples=n_samples, beta=beta)
        if min(np.abs(g).min() for g in grads.values()) >= _VAE_MIN_GRAD:
            break

    def fun(params):
        return model.loss_and_grads(x, y, eps=eps, n_samples=n_samples, beta=beta)

    return model, fun, (x, y, eps)


def conditional_reports(seed=0, tol=1e-6):
    r"""Gradient checks of the conditional VAE's ELBO loss, for every likelihood (and variance) and posterior family.

    Returns
    -------
    list of (str, GradcheckReport)
    """
    out = []
    for i, (posterior, decoder, var) in enumerate(_family_cases()):
        model, fun, _ = conditional_case(decoder, var, posterior, n_samples=1 + i % 2, seed=seed + i)
        var_text = f", {var} variance" if LIKELIHOODS[decoder].variances else ""
        out.append((f"ConditionalVAE (label one-hot into encoder and decoder), {posterior} posterior, "
                    f"{decoder} decoder{var_text}", gradcheck(fun, model.params, eps=VAE_EPS, tol=tol)))
    return out
