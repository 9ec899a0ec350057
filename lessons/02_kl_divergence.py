# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 2 — The Kullback–Leibler divergence
#
# **What this lesson derives.** The KL divergence
#
# $$D_{KL}(P\,\|\,Q) = \sum_x P(x)\log\frac{P(x)}{Q(x)}
#   \qquad\Bigl(\textstyle\int p(x)\log\frac{p(x)}{q(x)}\,dx \text{ for densities}\Bigr)$$
#
# — its two properties (non-negative, not symmetric), the closed form between
# two multivariate Gaussians, the special case the VAE uses (a diagonal
# Gaussian against N(0, I)) with its sign, and what minimizing KL in one
# direction or the other does when a single Gaussian must fit two modes.
#
# **Lectures followed.**
# - 003_f1b2a7a6de9ea425.txt, *KL Divergence*: the discrete definition and the
#   properties D_KL ≥ 0 and D_KL(P‖Q) ≠ D_KL(Q‖P) (read: "not equal in
#   general" — we show a case where they are equal), then the closed form for
#   N(μ₁, Σ₁) against N(μ₂, Σ₂):
#   ½[log|Σ₂|/|Σ₁| − d + tr(Σ₂⁻¹Σ₁) + (μ₂−μ₁)ᵀΣ₂⁻¹(μ₂−μ₁)]. (The slide
#   calls the dimension k in the density and d in the KL; it is one number.)
# - 000_e86e672dd89502b1.txt, *VAE*: with P_Z = N(0, I) and a diagonal
#   Gaussian Q, the objective contains ½Σ_j(1 + log σ_j² − μ_j² − σ_j²). That
#   sum is **−KL** (it is ≤ 0); the ELBO *adds* it, a loss *adds* +KL. The
#   slide *Generative models - Variational Bayes Approach* calls the same
#   expression "the overall loss", but it is the objective to *maximize*.
# - 002_b4c24ccd2e75c8da.txt, *Learning in fully observed models with neural
#   networks*: "ML maximization is equivalent to KL minimization" — the
#   forward direction KL(p_data‖p_θ); the VAE's encoder minimizes the reverse
#   direction KL(q‖p(z|x)) (lesson 4).
#
# **Take-away.** KL is ≥ 0 with equality only when the distributions agree,
# it is not a distance (the order matters), the Gaussian case has a closed
# form the library computes (`kl_gaussians`, `kl_standard_normal`), and the
# direction decides whether an approximation covers all the mass (forward)
# or sits on one mode (reverse, the one variational inference uses).

# %%
import numpy as np
import matplotlib.pyplot as plt
from scipy.integrate import trapezoid
from scipy.optimize import minimize
from scipy.special import rel_entr

from _lesson import setup, check, check_that, grade, YourTurn  # noqa: F401  (YourTurn: the student version's stubs)
from numvae.distributions import (gaussian_log_density, kl_gaussians, kl_standard_normal,
                                  kl_standard_normal_grad, kl_standard_normal_terms)

L = setup("Lesson 2: the KL divergence")
rng = L.rng

# %% [markdown]
# ## 1. Discrete KL: definition, non-negativity, asymmetry
#
# Three distributions on five outcomes, as in the pictures of 003, *KL
# Divergence*: Q is far from P ("high value"), R is close ("small, ≈ 0").

# %%
P = np.array([0.05, 0.20, 0.40, 0.25, 0.10])
Q = np.array([0.40, 0.30, 0.15, 0.10, 0.05])
R = np.array([0.06, 0.19, 0.38, 0.26, 0.11])


def kl_discrete(p, q):
    """sum_x p(x) log(p(x)/q(x)), with 0 log 0 = 0 and +inf where q = 0 < p."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)
    return terms.sum(-1)


for name, a, b in (("KL(P||Q)", P, Q), ("KL(Q||P)", Q, P), ("KL(P||R)", P, R), ("KL(P||P)", P, P)):
    print(f"{name} = {kl_discrete(a, b):.5f}")
check("KL(P||Q) by hand vs scipy.special.rel_entr", kl_discrete(P, Q), rel_entr(P, Q).sum(), atol=1e-14)
check("KL(P||P) = 0", kl_discrete(P, P), 0.0, atol=1e-15)
check_that("P is far from Q and close to R", kl_discrete(P, Q) > 50 * kl_discrete(P, R),
           f"{kl_discrete(P, Q):.4f} vs {kl_discrete(P, R):.4f}")
check_that("KL is not symmetric", abs(kl_discrete(P, Q) - kl_discrete(Q, P)) > 0.05,
           f"KL(P||Q) = {kl_discrete(P, Q):.4f}, KL(Q||P) = {kl_discrete(Q, P):.4f}")

# %% [markdown]
# **Why KL ≥ 0 (Gibbs' inequality).** Since log t ≤ t − 1 for every t > 0,
# each term obeys P(x) log(P(x)/Q(x)) = −P(x) log(Q(x)/P(x)) ≥ P(x) − Q(x), and
# the right-hand sides sum to 1 − 1 = 0. Equality needs Q(x)/P(x) = 1
# wherever P(x) > 0. We check the term-wise bound and the sign on many random
# pairs of distributions.

# %%
n_pairs = L.size(100_000, 10_000)
Ps = rng.dirichlet(np.full(6, 0.5), size=n_pairs)                  # (n, 6)
Qs = rng.dirichlet(np.full(6, 0.5), size=n_pairs)                  # (n, 6)
kls = kl_discrete(Ps, Qs)                                          # (n,)
terms = rel_entr(Ps, Qs)                                           # (n, 6)  p log(p/q)
check_that("term-wise p log(p/q) >= p - q", np.all(terms >= Ps - Qs - 1e-12))
check_that(f"KL >= 0 on {n_pairs} random pairs", kls.min() >= 0, f"min = {kls.min():.3g}")
print(f"KL(P||Q) over random pairs: min {kls.min():.3g}, median {np.median(kls):.3f}, max {kls.max():.2f}")

# %% [markdown]
# Where Q(x) = 0 but P(x) > 0 the divergence KL(P‖Q) is infinite, while the
# reverse can be finite: KL(Q‖P) only looks where Q puts mass. This is the
# root of the "zero-forcing" behaviour of the reverse KL in section 4.

# %%
P0 = np.array([0.5, 0.3, 0.2])
Q0 = np.array([0.6, 0.4, 0.0])
print(f"KL(P0||Q0) = {kl_discrete(P0, Q0)},  KL(Q0||P0) = {kl_discrete(Q0, P0):.4f}")
check_that("KL(P0||Q0) is infinite when Q0 misses an outcome of P0", np.isinf(kl_discrete(P0, Q0)))
check_that("KL(Q0||P0) is finite", np.isfinite(kl_discrete(Q0, P0)))

fig, ax = plt.subplots(figsize=(6, 3.2))
k = np.arange(5)
for i, (name, d) in enumerate((("P", P), ("Q", Q), ("R", R))):
    ax.bar(k + (i - 1) * 0.27, d, width=0.27, label=name)
ax.set(xlabel="outcome x", ylabel="probability",
       title=f"KL(P‖Q) = {kl_discrete(P, Q):.3f}, KL(Q‖P) = {kl_discrete(Q, P):.3f}, KL(P‖R) = {kl_discrete(P, R):.4f}")
ax.title.set_fontsize(9)
ax.legend()
L.savefig(fig, "02_discrete_kl")

# %% [markdown]
# ## 2. Two multivariate Gaussians
#
# We write the formula of 003 step by step — log-determinants, the trace, the
# Mahalanobis term — and compare it with the library's `kl_gaussians` (which
# computes the same thing from Cholesky factors). Then we check both against
# the definition: a Monte Carlo average of log p(x) − log q(x) over x ~ p,
# within five standard errors.

# %%
def random_spd(d, rng):
    """A random symmetric positive definite d x d matrix, eigenvalues in [0.3, 3]."""
    Qm, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return (Qm * rng.uniform(0.3, 3.0, d)) @ Qm.T


def mvn_log_density(x, mu, cov):
    """log N(x; mu, cov) for rows of x: whiten with the Cholesky factor, then a standard normal."""
    chol = np.linalg.cholesky(cov)                                 # (d, d)
    eps = np.linalg.solve(chol, (x - mu).T).T                      # (n, d)  L^-1 (x - mu)
    return gaussian_log_density(eps, 0.0, np.zeros(len(mu))) - np.log(np.diag(chol)).sum()


d = 3
mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
S1, S2 = random_spd(d, rng), random_spd(d, rng)

logdet1, logdet2 = np.linalg.slogdet(S1)[1], np.linalg.slogdet(S2)[1]
S2inv = np.linalg.inv(S2)
diff = mu2 - mu1
kl_by_hand = 0.5 * (logdet2 - logdet1 - d + np.trace(S2inv @ S1) + diff @ S2inv @ diff)
kl_lib = kl_gaussians(mu1, S1, mu2, S2)
check("KL(N1||N2): 003's formula by hand vs kl_gaussians", kl_lib, kl_by_hand, atol=1e-12)

n_mc = L.size(400_000, 40_000)
xs = mu1 + rng.standard_normal((n_mc, d)) @ np.linalg.cholesky(S1).T          # (n, d)  x ~ N1
log_ratio = mvn_log_density(xs, mu1, S1) - mvn_log_density(xs, mu2, S2)       # (n,)
se = log_ratio.std() / np.sqrt(n_mc)
print(f"KL(N1||N2): closed form {kl_lib:.5f}, Monte Carlo {log_ratio.mean():.5f} ± {se:.5f}")
check("KL(N1||N2): closed form vs Monte Carlo (5 standard errors)", log_ratio.mean(), kl_lib, atol=5 * se)
# The other direction, against its own definition (x ~ N2 this time).
kl_rev = kl_gaussians(mu2, S2, mu1, S1)
xs2 = mu2 + rng.standard_normal((n_mc, d)) @ np.linalg.cholesky(S2).T         # (n, d)  x ~ N2
log_ratio2 = mvn_log_density(xs2, mu2, S2) - mvn_log_density(xs2, mu1, S1)    # (n,)
se2 = log_ratio2.std() / np.sqrt(n_mc)
print(f"KL(N2||N1): closed form {kl_rev:.5f}, Monte Carlo {log_ratio2.mean():.5f} ± {se2:.5f}")
check("KL(N2||N1): closed form vs Monte Carlo (5 standard errors)", log_ratio2.mean(), kl_rev, atol=5 * se2)

# %% [markdown]
# For this random pair the two directions differ by whatever the draw gives
# (printed above); a pair can happen to be nearly symmetric. A pair whose
# asymmetry is known exactly: N(0, I) against N(0, 4I) in d dimensions. With
# Σ₁ = I, Σ₂ = 4I the formula gives ½d(log 4 − 1 + ¼) one way and
# ½d(−log 4 − 1 + 4) the other — 0.318 against 0.807 nats per dimension.
# Measured against the wide N(0, 4I), the narrow one costs little: all its
# mass lies where the wide one has density. The other way round, the wide one
# puts mass far out in the narrow one's thin tails, and pays for it.

# %%
zero, eye = np.zeros(d), np.eye(d)
check("KL(N(0,I)||N(0,4I)) = ½d(log 4 − 1 + ¼)", kl_gaussians(zero, eye, zero, 4 * eye),
      0.5 * d * (np.log(4) - 1 + 0.25), atol=1e-12)
check("KL(N(0,4I)||N(0,I)) = ½d(−log 4 − 1 + 4): the other direction, not the same number",
      kl_gaussians(zero, 4 * eye, zero, eye), 0.5 * d * (-np.log(4) - 1 + 4), atol=1e-12)

# %% [markdown]
# The asymmetry is "not in general": with equal covariances both directions
# reduce to ½ΔᵀΣ⁻¹Δ, the same number.

# %%
check("equal covariances: KL(N(mu1,S)||N(mu2,S)) = KL(N(mu2,S)||N(mu1,S)) = ½ Δ^T S^-1 Δ",
      [kl_gaussians(mu1, S1, mu2, S1), kl_gaussians(mu2, S1, mu1, S1)],
      [0.5 * diff @ np.linalg.solve(S1, diff)] * 2, atol=1e-12)

# %% [markdown]
# ## 3. The VAE's case: diagonal Gaussian against N(0, I), and its sign
#
# Put μ₂ = 0, Σ₂ = I, Σ₁ = diag(σ²) in the formula: log|Σ₂|/|Σ₁| = −Σ log σ_j²,
# tr(Σ₁) = Σ σ_j², the Mahalanobis term is Σ μ_j², so
#
# $$KL(\mathcal N(\mu, \mathrm{diag}\,\sigma^2)\,\|\,\mathcal N(0, I))
#   = -\tfrac12\sum_j\bigl(1 + \log\sigma_j^2 - \mu_j^2 - \sigma_j^2\bigr)
#   = \tfrac12\sum_j\bigl[\mu_j^2 + (\sigma_j^2 - 1 - \log\sigma_j^2)\bigr] \ge 0,$$
#
# each bracket ≥ 0 because t − 1 − log t ≥ 0. The encoder outputs
# logvar = log σ², so the library's `kl_standard_normal(mu, logvar)` takes it
# directly. 000's ½Σ(1 + log σ² − μ² − σ²) is the same number with the
# opposite sign.

# %%
K = 5
mu = rng.normal(0, 1.0, K)
logvar = rng.normal(0, 1.0, K)
kl_full = kl_gaussians(mu, np.diag(np.exp(logvar)), np.zeros(K), np.eye(K))
kl_diag = kl_standard_normal(mu, logvar)
slide_000 = 0.5 * np.sum(1 + logvar - mu ** 2 - np.exp(logvar))
print(f"kl_standard_normal = {kl_diag:.5f};  000's ½Σ(1 + log σ² − μ² − σ²) = {slide_000:.5f}")
check("diagonal case: kl_standard_normal vs kl_gaussians with diag(exp(logvar))", kl_diag, kl_full, atol=1e-12)
check("000's ½Σ(1 + log σ² − μ² − σ²) is −KL", slide_000, -kl_diag, atol=1e-12)
check_that("every per-dimension term of the KL is >= 0", kl_standard_normal_terms(mu, logvar) >= 0,
           f"terms = {kl_standard_normal_terms(mu, logvar)}")
z = mu + np.exp(0.5 * logvar) * rng.standard_normal((n_mc, K))               # (n, K)  z ~ q
log_ratio = gaussian_log_density(z, mu, logvar) - gaussian_log_density(z, 0.0, np.zeros(K))
se = log_ratio.std() / np.sqrt(n_mc)
check("KL(q||N(0,I)) vs Monte Carlo E_q[log q - log p] (5 SE)", log_ratio.mean(), kl_diag, atol=5 * se)

# %% [markdown]
# **Your turn.** Write the closed form above as a function of `mu` and
# `logvar` (shape (..., K), one KL per row: sum over the last axis). It is
# graded against the general formula of section 2 (`kl_gaussians` with
# Σ₁ = diag(exp(logvar)), Σ₂ = I), at this section's (μ, log σ²) and at a
# batch of rows; a wrong answer stops here with a hint.

# %%
def kl_to_standard_normal(mu, logvar):
    """KL(N(mu, diag exp(logvar)) || N(0, I)) summed over the last axis: shape (...,)."""
    # your turn: the KL of N(mu, diag exp(logvar)) to N(0, I), summed over the last axis (section 3)
    ### BEGIN SOLUTION
    return 0.5 * np.sum(mu ** 2 + np.exp(logvar) - 1 - logvar, axis=-1)
    ### END SOLUTION


def kl_parts(mu, var, log_var, minus_one=1.0, half=0.5):
    """½Σ(μ² + var − 1 − log_var) with each part given, to compute the answers of common mistakes."""
    return half * np.sum(mu ** 2 + var - minus_one - log_var, axis=-1)


g = L.rng_for("your turn: the Gaussian KL")
for where, m_, lv in (("section 3's (μ, log σ²)", mu, logvar),
                      ("a batch of 4 rows", g.normal(0, 1, (4, K)), g.normal(0, 1, (4, K)))):
    rows_ = np.atleast_2d(m_), np.atleast_2d(lv)
    reference = np.array([kl_gaussians(r, np.diag(np.exp(v)), np.zeros(K), np.eye(K)) for r, v in zip(*rows_)])
    reference = reference.reshape(np.shape(m_)[:-1])
    grade(f"the Gaussian KL at {where}", kl_to_standard_normal(m_, lv), reference, mistakes=[
        (kl_parts(m_, np.exp(lv), lv, minus_one=0.0),
         "your KL is K/2 too large: the −1 of every dimension is missing (½Σ(μ² + σ² − 1 − log σ²) "
         "holds −K/2 in total)"),
        (-reference, "the sign is flipped: 000's ½Σ(1 + log σ² − μ² − σ²) is −KL; the KL is "
                     "½Σ(μ² + σ² − 1 − log σ²), never negative"),
        (kl_parts(m_, np.exp(lv), lv, half=1.0), "twice the KL: the factor ½ in front of the sum is missing"),
        (kl_parts(m_, np.exp(0.5 * lv), lv), "σ² is exp(logvar), not exp(logvar / 2): logvar is the log of "
                                             "the variance, and the formula needs the variance"),
        (kl_parts(m_, np.exp(lv), 0.5 * lv), "log σ² is logvar itself, not logvar / 2"),
    ], hint="write ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²) with σ_j² = exp(logvar_j), summed over the last "
            "axis (axis=-1)")

# %% [markdown]
# Its gradient, used by every VAE backward pass: ∂KL/∂μ_j = μ_j and
# ∂KL/∂logvar_j = ½(σ_j² − 1). We check it against central differences.
#
# **What the sign does.** A loss must contain **+KL**. If the 000 expression
# is added to a *loss* as printed (that is, −KL), gradient descent maximizes
# the KL: μ runs away and σ² explodes. Below, up to 60 steps of gradient
# descent on the KL term alone, with the right and with the wrong sign (the
# wrong one is stopped once the KL passes 10⁴: σ² grows like exp(exp(t))).

# %%
dmu, dlogvar = kl_standard_normal_grad(mu, logvar)
h = 1e-6
fd_mu = np.array([(kl_standard_normal(mu + h * e, logvar) - kl_standard_normal(mu - h * e, logvar)) / (2 * h)
                  for e in np.eye(K)])
fd_lv = np.array([(kl_standard_normal(mu, logvar + h * e) - kl_standard_normal(mu, logvar - h * e)) / (2 * h)
                  for e in np.eye(K)])
check("dKL/dmu = mu vs central differences", dmu, fd_mu, atol=1e-7, rtol=1e-7)
check("dKL/dlogvar = ½(σ² − 1) vs central differences", dlogvar, fd_lv, atol=1e-7, rtol=1e-7)

lr, steps = 0.1, 60
traces = {}
for sign, name in ((+1, "loss + KL (right)"), (-1, "loss − KL (000's ½Σ(...) added to a loss)")):
    m, lv = mu.copy(), logvar.copy()
    kl_path = [kl_standard_normal(m, lv)]
    while len(kl_path) <= steps and kl_path[-1] < 1e4:
        g_m, g_lv = kl_standard_normal_grad(m, lv)
        m, lv = m - lr * sign * g_m, lv - lr * sign * g_lv
        kl_path.append(kl_standard_normal(m, lv))
    traces[name] = np.array(kl_path)
    print(f"{name}: KL {kl_path[0]:.3f} -> {kl_path[-1]:.4g} after {len(kl_path) - 1} steps")
right, wrong = traces.values()
check_that("right sign: the KL decreases towards 0", right[-1] < 0.05 * right[0], f"{right[0]:.3f} -> {right[-1]:.4f}")
check_that("wrong sign: the KL grows without bound", wrong[-1] > 1e4, f"{wrong[0]:.3f} -> {wrong[-1]:.3g} "
           f"in {len(wrong) - 1} steps")

# %% [markdown]
# ## 4. Forward vs reverse KL: mass-covering vs mode-seeking
#
# Fit one Gaussian q = N(m, s²) to a bimodal target
# p = ½N(−2, 0.5²) + ½N(2, 0.5²), minimizing either
#
# - the **forward** KL(p‖q) = ∫ p log(p/q): q is penalized wherever p has mass
#   and q does not, so q spreads to cover both modes. Setting its gradient to
#   zero gives moment matching: m = E_p[x] = 0, s² = Var_p[x] = 4 + 0.25.
# - the **reverse** KL(q‖p) = ∫ q log(q/p): q is penalized wherever *q* has
#   mass and p does not, so q avoids the gap between the modes and sits on
#   one of them. This is the direction of the ELBO's gap, KL(q(z|x)‖p(z|x)).
#
# Both integrals are computed by the trapezoidal rule on a grid, and both
# minimizations by BFGS over (m, log s).

# %%
grid = np.linspace(-12, 12, L.size(6001, 2401))


def log_normal(x, m, s):
    return gaussian_log_density(x[:, None], m, np.array([2 * np.log(s)]))


log_p = np.logaddexp(np.log(0.5) + log_normal(grid, -2.0, 0.5), np.log(0.5) + log_normal(grid, 2.0, 0.5))


def forward_kl(theta):
    log_q = log_normal(grid, theta[0], np.exp(theta[1]))
    return trapezoid(np.exp(log_p) * (log_p - log_q), grid)


def reverse_kl(theta):
    log_q = log_normal(grid, theta[0], np.exp(theta[1]))
    return trapezoid(np.exp(log_q) * (log_q - log_p), grid)


fit_f = minimize(forward_kl, x0=[0.7, 0.0], method="BFGS")
fit_r = minimize(reverse_kl, x0=[0.7, 0.0], method="BFGS")
m_f, s_f = fit_f.x[0], np.exp(fit_f.x[1])
m_r, s_r = fit_r.x[0], np.exp(fit_r.x[1])
print(f"forward KL(p||q): m = {m_f:.4f}, s = {s_f:.4f}, KL = {fit_f.fun:.4f}")
print(f"reverse KL(q||p): m = {m_r:.4f}, s = {s_r:.4f}, KL = {fit_r.fun:.4f}")
check("forward KL fit matches the mean of p (moment matching)", m_f, 0.0, atol=1e-3)
check("forward KL fit matches the std of p (moment matching)", s_f, np.sqrt(4.25), atol=1e-3)
check("reverse KL fit sits on the mode at +2", m_r, 2.0, atol=0.02)
check("reverse KL fit has about the width of one mode", s_r, 0.5, atol=0.02)
check("reverse KL at the mode ≈ log 2 (q sees half of p's mass)", fit_r.fun, np.log(2), atol=0.01)
check_that("each fit is worse in the other direction",
           (reverse_kl(fit_f.x) > fit_r.fun) and (forward_kl(fit_r.x) > fit_f.fun),
           f"reverse KL of the forward fit {reverse_kl(fit_f.x):.3f} > {fit_r.fun:.3f}; "
           f"forward KL of the reverse fit {forward_kl(fit_r.x):.3f} > {fit_f.fun:.3f}")

# %% [markdown]
# The profile over the mean m (with s at its best value for each m, found on
# a grid of s) shows why: the forward KL has one minimum at 0, the reverse KL
# two, one per mode, with a bump in between. (The kinks of the reverse
# profile near m = ±1.2 are real: there the best q jumps from a narrow one on
# a single mode to a wide one over both.)

# %%
ms = np.linspace(-4, 4, L.size(81, 33))
ss = np.exp(np.linspace(np.log(0.1), np.log(6.0), L.size(300, 120)))       # (n_s,) candidate widths
p_grid = np.exp(log_p)[:, None]                                            # (G, 1)
prof_f, prof_r = np.empty(ms.size), np.empty(ms.size)
for i, m in enumerate(ms):
    log_q = -0.5 * np.log(2 * np.pi) - np.log(ss) - 0.5 * ((grid[:, None] - m) / ss) ** 2   # (G, n_s)
    prof_f[i] = trapezoid(p_grid * (log_p[:, None] - log_q), grid, axis=0).min()
    prof_r[i] = trapezoid(np.exp(log_q) * (log_q - log_p[:, None]), grid, axis=0).min()
check_that("forward-KL profile is lowest at m = 0", abs(ms[np.argmin(prof_f)]) <= ms[1] - ms[0])
check_that("reverse-KL profile is higher at m = 0 than at the modes",
           prof_r[np.argmin(np.abs(ms))] > prof_r.min() + 0.1,
           f"{prof_r[np.argmin(np.abs(ms))]:.3f} vs {prof_r.min():.3f}")

fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
axes[0].fill_between(grid, np.exp(log_p), color="0.8", label="target p (two modes)")
axes[0].plot(grid, np.exp(log_normal(grid, m_f, s_f)), "C0", lw=2, label=f"argmin KL(p‖q): N({m_f:.2f}, {s_f:.2f}²)")
axes[0].plot(grid, np.exp(log_normal(grid, m_r, s_r)), "C3", lw=2, label=f"argmin KL(q‖p): N({m_r:.2f}, {s_r:.2f}²)")
axes[0].set(xlim=(-6, 6), xlabel="x", ylabel="density", title="Forward covers the mass, reverse picks a mode")
axes[0].legend(fontsize=8)
axes[1].plot(ms, prof_f, "C0", label="min over s of KL(p‖q)")
axes[1].plot(ms, prof_r, "C3", label="min over s of KL(q‖p)")
axes[1].set(xlabel="mean m of q", ylabel="nats", title="KL as a function of q's mean")
axes[1].legend(fontsize=8)
L.savefig(fig, "02_forward_vs_reverse_kl")

# %% [markdown]
# ## Summary
#
# - D_KL(P‖Q) = Σ P log(P/Q) ≥ 0 (Gibbs, from log t ≤ t − 1), zero only for
#   P = Q, infinite where Q misses mass of P, and in general not symmetric.
# - Between Gaussians it has the closed form of 003, which `kl_gaussians`
#   computes; Monte Carlo of its definition agrees.
# - Against N(0, I): KL = −½Σ(1 + log σ² − μ² − σ²) ≥ 0. The expression
#   printed in 000 is −KL: it belongs in the ELBO (maximized); a loss
#   (minimized) adds +KL. Getting the sign wrong makes the KL explode.
# - Forward KL(p‖q) fits by moment matching and covers all modes; reverse
#   KL(q‖p) — the one variational inference minimizes — locks onto one mode
#   and underestimates the spread.
#
# ## Exercises
#
# Worked solutions (exercises 1, 2 and 3), which run and assert their answers: `solutions_02_to_05.py`.
#
# 1. Show that KL(N(μ₁, s₁²)‖N(μ₂, s₂²)) = log(s₂/s₁) + (s₁² + (μ₁ − μ₂)²)/(2s₂²) − ½
#    from the formula of 003, and check it with `kl_gaussians` for d = 1.
# 2. Move the two modes of section 4 closer (±1, ±0.5). At what separation
#    does the reverse-KL fit stop picking a single mode? Plot m_r against the
#    separation.
# 3. Differentiate KL(p‖q) with respect to m and s² for a Gaussian q and any p
#    to prove the moment-matching result of section 4.
