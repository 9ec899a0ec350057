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
# # Worked solutions — Lessons 2 to 5 (every exercise)
#
# Try the exercises at the end of each lesson first. Each answer below
# computes what it claims and asserts it, as the lessons do.

# %%
import numpy as np
import matplotlib.pyplot as plt
from scipy.integrate import trapezoid
from scipy.optimize import brentq, minimize, minimize_scalar
from scipy.stats import multivariate_normal, t as student_t

from _lesson import setup, check, check_that
from numvae.data import load_digits
from numvae.distributions import gaussian_log_density, kl_gaussians
from numvae.ppca import PPCA

L = setup("Solutions to lessons 2-5")
rng = L.rng

# %% [markdown]
# ## Lesson 2, exercise 1 — the 1-D Gaussian KL
#
# 003's formula with d = 1, Σ₁ = s₁², Σ₂ = s₂²:
# ½[log(s₂²/s₁²) − 1 + s₁²/s₂² + (μ₂ − μ₁)²/s₂²]
# = log(s₂/s₁) + (s₁² + (μ₁ − μ₂)²)/(2s₂²) − ½.

# %%
mu1, mu2 = rng.normal(size=2)
s1, s2 = rng.uniform(0.3, 3.0, size=2)
kl_1d = np.log(s2 / s1) + (s1 ** 2 + (mu1 - mu2) ** 2) / (2 * s2 ** 2) - 0.5
check("log(s₂/s₁) + (s₁² + (μ₁−μ₂)²)/(2s₂²) − ½ = kl_gaussians, d = 1",
      kl_1d, kl_gaussians(np.array([mu1]), np.array([[s1 ** 2]]), np.array([mu2]), np.array([[s2 ** 2]])),
      atol=1e-12)

# %% [markdown]
# ## Lesson 2, exercise 2 — when does the reverse-KL fit stop picking one mode?
#
# Put the modes at ±a, each N(±a, 0.5²). Writing the mixture as one function,
# ½N(x; −a, s_p²) + ½N(x; a, s_p²) = N(x; 0, s_p²)·e^{−a²/(2s_p²)}·cosh(ax/s_p²),
# so log p is a parabola plus log cosh(ax/s_p²), and p is bimodal exactly when
# (log p)''(0) = −1/s_p² + a²/s_p⁴ > 0, i.e. a > s_p = 0.5.
#
# The reverse KL(q‖p) over q = N(m, s²) has two kinds of stationary points: a
# **symmetric** one (m = 0, by the symmetry of p; q wide, over both modes) and,
# for a large enough, a **mode** one on each mode. The symmetric one is a local
# minimum at every a (∂²KL/∂m² > 0 there, checked below; the mixed derivative
# in m and s vanishes by symmetry), so the switch is not a smooth bifurcation:
# the fit *jumps* at the separation a_c where the two branches have the same KL.
#
# Independently of lesson 2's grid and BFGS, each branch is minimized here with
# Gauss–Legendre quadrature over ε (x = m + sε, split where log cosh bends)
# and the log-cosh form of log p, by a bounded 1-D search (m = 0) and by
# Nelder–Mead started on the mode (m = a, s = s_p); a_c is where their KLs
# cross. The lesson's fit (trapezoid grid, BFGS, the better of a start at the
# centre and one on the mode) must be the lower branch at every separation.

# %%
s_p = 0.5                                                           # each mode's standard deviation
grid = np.linspace(-12, 12, L.size(6001, 2401))
gl_t, gl_w = np.polynomial.legendre.leggauss(100)                   # nodes and weights on [−1, 1]


def log_bimodal(x, a):
    """log(½N(x; −a, s_p²) + ½N(x; a, s_p²)) as in the lesson: a log-sum-exp of the two modes."""
    return np.logaddexp(gaussian_log_density(x[:, None], -a, np.array([2 * np.log(s_p)])),
                        gaussian_log_density(x[:, None], a, np.array([2 * np.log(s_p)]))) - np.log(2)


def reverse_fit(a, start):
    """Lesson 2, section 4: KL(q‖p) by the trapezoidal rule on the grid, minimized by (L-)BFGS over (m, log s)."""
    log_p = log_bimodal(grid, a)

    def reverse_kl(theta):
        log_q = gaussian_log_density(grid[:, None], theta[0], np.array([2 * theta[1]]))
        return trapezoid(np.exp(log_q) * (log_q - log_p), grid)

    # Bounded, so that q stays on the grid: a q far wider than the grid has a (spurious) KL of ≈ 0 there.
    fit = minimize(reverse_kl, x0=start, method="L-BFGS-B", bounds=[(-6.0, 6.0), (np.log(0.05), np.log(3.0))])
    return fit.x[0], np.exp(fit.x[1]), fit.fun


def reverse_kl_gl(m, s, a):
    """KL(N(m, s²)‖p) = −H(q) − E_q log p: log p in its log-cosh form, E_q by Gauss–Legendre over ε."""
    def log_p(x):
        y = np.abs(a * x / s_p ** 2)                                # log cosh y = y + log(1 + e^{−2y}) − log 2
        return (-0.5 * np.log(2 * np.pi * s_p ** 2) - (x ** 2 + a ** 2) / (2 * s_p ** 2)
                + y + np.log1p(np.exp(-2 * y)) - np.log(2))

    bend = np.clip(-m / s, -10.0, 10.0)                             # ε where x = 0
    e_log_p = 0.0
    for lo, hi in ((-10.0, bend), (bend, 10.0)):
        e = 0.5 * (hi - lo) * gl_t + 0.5 * (hi + lo)
        e_log_p += 0.5 * (hi - lo) * np.sum(gl_w * np.exp(-0.5 * e ** 2) / np.sqrt(2 * np.pi) * log_p(m + s * e))
    return -0.5 * np.log(2 * np.pi * np.e * s ** 2) - e_log_p


def symmetric_branch(a):
    best = minimize_scalar(lambda log_s: reverse_kl_gl(0.0, np.exp(log_s), a), bounds=(np.log(0.1), np.log(5.0)),
                           method="bounded", options=dict(xatol=1e-9))
    return 0.0, np.exp(best.x), best.fun


def mode_branch(a):
    best = minimize(lambda th: reverse_kl_gl(th[0], np.exp(th[1]), a), x0=[a, np.log(s_p)], method="Nelder-Mead",
                    options=dict(xatol=1e-7, fatol=1e-12))
    return best.x[0], np.exp(best.x[1]), best.fun


a_c = brentq(lambda a: symmetric_branch(a)[2] - mode_branch(a)[2], 1.25, 1.6, xtol=1e-6)
seps = np.linspace(0.25, 2.5, L.size(91, 31))                       # mode positions ±a
fits = np.array([min(reverse_fit(a, [0.0, np.log(a + s_p)]), reverse_fit(a, [a, np.log(s_p)]), key=lambda f: f[2])
                 for a in seps])                                    # (n, 3): m_r, s_r, KL
branches = np.array([[symmetric_branch(a), mode_branch(a)] for a in seps])     # (n, 2, 3)
expected = branches[np.arange(len(seps)), np.argmin(branches[:, :, 2], axis=1)]
m_r = fits[:, 0]
print(f"the two branches have equal KL at a_c = {a_c:.4f} (modes {2 * a_c:.3f} apart, {2 * a_c / s_p:.2f} mode widths)")
clear = np.abs(seps - a_c) > 0.02                                   # at a_c the two minima tie
check("reverse-KL fit (grid, BFGS): m_r = the lower branch's m (quadrature, Nelder–Mead)",
      m_r[clear], expected[clear, 0], atol=1e-3)
check("…and s_r = the lower branch's s", fits[clear, 1], expected[clear, 1], atol=1e-3)
below, above = seps < a_c - 0.02, seps > a_c + 0.02
check_that("so the fit sits at m = 0 below a_c and on a mode above it: the jump is at a_c",
           np.all(np.abs(m_r[below]) < 1e-3) and np.all(m_r[above] > 0.9 * seps[above]),
           f"last centred fit at a = {seps[np.abs(m_r) < 1e-3].max():.3f}, first on a mode at "
           f"a = {seps[m_r > 0.5].min():.3f}, a_c = {a_c:.3f}")
n_max = [int(np.sum((lp[1:-1] > lp[:-2]) & (lp[1:-1] > lp[2:]))) for lp in (log_bimodal(grid, a) for a in (0.45, 0.55))]
check_that("p itself turns bimodal at a = s_p = 0.5, long before the fit jumps", n_max == [1, 2],
           f"local maxima of p at a = 0.45 and 0.55: {n_max}")
h2 = 1e-3
curv_m = [(reverse_kl_gl(h2, s, a) - 2 * kl + reverse_kl_gl(-h2, s, a)) / h2 ** 2
          for a, (_, s, kl) in zip(seps, branches[:, 0])]
check_that("the centred fit is a local minimum at every a: ∂²KL/∂m² > 0 at m = 0", np.min(curv_m) > 0.1,
           f"smallest {np.min(curv_m):.3f}")
local_13, branch_13 = reverse_fit(1.3, [1.3, np.log(s_p)]), mode_branch(1.3)
check("below a_c a mode fit is still a local minimum (a = 1.3: BFGS from the mode = Nelder–Mead)",
      local_13[:2], branch_13[:2], atol=1e-3)
check_that("…but worse than the centred one, so a local optimizer's answer depends on its start",
           branch_13[2] > symmetric_branch(1.3)[2] + 0.05, f"KL {branch_13[2]:.3f} vs {symmetric_branch(1.3)[2]:.3f}")

on_mode = branches[:, 1, 0] > 0.5                                   # where the mode branch exists
fig, ax = plt.subplots(figsize=(6.5, 3.8))
ax.plot(seps, m_r, "C3o", ms=3, label="reverse-KL fit m_r (global)")
ax.plot(seps[on_mode], branches[on_mode, 1, 0], "C0--", label="mode branch (a local minimum)")
ax.plot(seps, seps, "k:", lw=1, label="position of the mode, m = a")
ax.axvline(s_p, color="0.5", lw=1, label=f"p turns bimodal (a = {s_p})")
ax.axvline(a_c, color="C3", lw=1, ls="-.", label=f"equal KL of both branches (a = {a_c:.2f})")
ax.set(xlabel="mode position a (p = ½N(−a, 0.5²) + ½N(a, 0.5²))", ylabel="mean m_r of argmin KL(q‖p)",
       title=f"The reverse-KL fit jumps onto one mode at a ≈ {a_c:.2f}")
ax.legend(fontsize=8)
L.savefig(fig, "solution_02_2_reverse_kl_vs_separation")

# %% [markdown]
# ## Lesson 2, exercise 3 — forward KL matches moments
#
# KL(p‖q) = −H(p) − E_p log q, and for q = N(m, s²),
# −E_p log q = ½ log 2πs² + E_p[(x − m)²]/(2s²). Setting ∂/∂m = −E_p[x − m]/s² = 0
# gives m = E_p x; ∂/∂s² = 1/(2s²) − E_p[(x − m)²]/(2s⁴) = 0 gives s² = Var_p x —
# for any p. Numerically, for the bimodal p of lesson 2's section 4:

# %%
grid = np.linspace(-12, 12, 24_001)
log_p = np.logaddexp(gaussian_log_density(grid[:, None], -2.0, np.log([0.25])),
                     gaussian_log_density(grid[:, None], 2.0, np.log([0.25]))) - np.log(2)
p = np.exp(log_p)


def forward_kl(theta):
    m, log_s2 = theta
    return trapezoid(p * (log_p - gaussian_log_density(grid[:, None], m, np.array([log_s2]))), grid)


best = minimize(forward_kl, x0=[1.0, 0.0], method="Nelder-Mead", options=dict(xatol=1e-8, fatol=1e-12))
mean_p = trapezoid(p * grid, grid)
var_p = trapezoid(p * (grid - mean_p) ** 2, grid)
check("the forward-KL optimum m = E_p x", best.x[0], mean_p, atol=1e-3)
check("…and s² = Var_p x (= 0.25 + 4 for modes ±2 of variance 0.25)", np.exp(best.x[1]), var_p, rtol=1e-3)
check("Var_p x by quadrature = 4.25", var_p, 4.25, atol=1e-6)

# %% [markdown]
# ## Lesson 3, exercise 1 — the posterior precision by completing the square
#
# As a function of z, log p(x|z) + log p(z) = −‖x − b − Wz‖²/(2σ²) − ‖z‖²/2 + const,
# a quadratic with Hessian −(WᵀW/σ² + I) = −M/σ². So the precision is M/σ² and the
# covariance σ²M⁻¹. Checked with a finite-difference Hessian of the joint log-density.

# %%
D, K, sigma2 = 6, 2, 0.2
W, b = rng.normal(size=(D, K)), rng.normal(size=D)
model = PPCA.from_params(W, b, sigma2)
x = model.sample(1, rng)


def log_joint(z):
    return gaussian_log_density(x[0], W @ z + b, np.full(D, np.log(sigma2))) + gaussian_log_density(z, 0.0, np.zeros(K))


z0, h = rng.normal(size=K), 1e-4
hess = np.array([[(log_joint(z0 + h * (ei + ej)) - log_joint(z0 + h * (ei - ej)) - log_joint(z0 - h * (ei - ej))
                   + log_joint(z0 - h * (ei + ej))) / (4 * h * h) for ej in np.eye(K)] for ei in np.eye(K)])
check("−Hessian of log p(x|z) + log p(z) = M/σ² (finite differences)", -hess,
      (W.T @ W + sigma2 * np.eye(K)) / sigma2, rtol=1e-5)
check("its inverse is PPCA.posterior's covariance σ²M⁻¹", np.linalg.inv(-hess), model.posterior(x)[1], rtol=1e-5)

# %% [markdown]
# ## Lesson 3, exercise 2 — σ² → 0: the posterior mean becomes least squares
#
# M⁻¹Wᵀ(x − b) = (WᵀW + σ²I)⁻¹Wᵀ(x − b) → (WᵀW)⁻¹Wᵀ(x − b), the solution of
# min_z ‖x − b − Wz‖², with an error O(σ²).

# %%
lstsq = np.linalg.lstsq(W, x[0] - b, rcond=None)[0]
errs = [np.abs(PPCA.from_params(W, b, s2).posterior(x)[0][0] - lstsq).max() for s2 in (1e-2, 1e-4, 1e-6)]
print("max |posterior mean − least squares| at σ² = 1e-2, 1e-4, 1e-6:", np.array(errs))
check("at σ² = 1e-6 the posterior mean is the least-squares solution", errs[-1], 0.0, atol=1e-5)
check("…and the error shrinks like σ² (100× per step of 100×)", np.log10(errs[0] / errs[1]), 2.0, atol=0.1)

# %% [markdown]
# ## Lesson 3, exercise 3 — the digits in pPCA's 2-D posterior means, and a 45° rotation
#
# With W' = WR (R a rotation), M' = W'ᵀW' + σ²I = RᵀMR, so the posterior mean
# becomes M'⁻¹W'ᵀ(x − b) = Rᵀ M⁻¹Wᵀ(x − b) = Rᵀm and the covariance σ²M'⁻¹ =
# Rᵀ(σ²M⁻¹)R: the whole picture turns by 45°, while W'W'ᵀ = WWᵀ leaves p(x)
# and everything that depends only on distances between codes unchanged.
# Which digits overlap is measured by a nearest-class-mean classifier on the
# codes: its confusions are the overlaps, and they cannot change.

# %%
Xd, yd = load_digits()
pp2 = PPCA(2).fit(Xd)
R45 = np.array([[np.cos(np.pi / 4), -np.sin(np.pi / 4)], [np.sin(np.pi / 4), np.cos(np.pi / 4)]])
pp2r = PPCA.from_params(pp2.W @ R45, pp2.b, pp2.sigma2)
m2, S2 = pp2.posterior(Xd)
m2r, S2r = pp2r.posterior(Xd)
check("rotating W leaves log p(x) unchanged", pp2r.log_likelihood(Xd), pp2.log_likelihood(Xd), atol=1e-9)
check("…turns every posterior mean by Rᵀ", m2r, m2 @ R45, atol=1e-9)
check("…and the posterior covariance to Rᵀ Σ R", S2r, R45.T @ S2 @ R45, atol=1e-12)


def nearest_mean_labels(codes):
    centres = np.stack([codes[yd == c].mean(axis=0) for c in range(10)])          # (10, 2)
    return np.argmin(((codes[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)


pred, pred_r = nearest_mean_labels(m2), nearest_mean_labels(m2r)
confusion = np.zeros((10, 10), dtype=int)
np.add.at(confusion, (yd, pred), 1)
off = confusion + confusion.T
np.fill_diagonal(off, 0)
worst = np.dstack(np.unravel_index(np.argsort(off, axis=None)[::-1][:6:2], off.shape))[0]
print(f"nearest class mean on the 2-D codes: accuracy {np.mean(pred == yd):.3f}; most confused pairs:",
      ", ".join(f"{a}-{b} ({off[a, b]} images)" for a, b in worst))
check_that("the same digits overlap after the rotation (identical nearest-mean labels)", np.array_equal(pred, pred_r))
check_that("two dimensions leave many digits overlapping (nearest-mean accuracy below 0.8)",
           np.mean(pred == yd) < 0.8, f"accuracy {np.mean(pred == yd):.3f}")
fig, axes = plt.subplots(1, 2, figsize=(10, 4.3))
for ax, codes, what in zip(axes, (m2, m2r), ("W (the ML fit)", "W rotated by 45°")):
    for c in range(10):
        ax.scatter(codes[yd == c, 0], codes[yd == c, 1], s=4, color=f"C{c}", label=str(c))
    ax.set(title=f"{what}", xlabel="z₁", ylabel="z₂")
    ax.set_aspect("equal", adjustable="datalim")
axes[0].legend(markerscale=3, fontsize=7, ncol=2)
fig.suptitle(f"pPCA K = 2, all {len(Xd)} digits: posterior means")
fig.tight_layout()
L.savefig(fig, "solution_03_3_rotated_codes")

# %% [markdown]
# ## Lesson 4, exercise 1 — the best diagonal q and the gap it cannot close
#
# For q = N(m, S) with S diagonal, the ELBO's gap is KL(q‖p(z|x)) with
# p(z|x) = N(m*, Σ), Λ = Σ⁻¹ = M/σ². Its minimum over m is at m = m*; over
# s_j² it is at 1/s_j² = Λ_jj, leaving KL = ½[log|Σ| + Σ_j log Λ_jj] ≥ 0
# (Hadamard's inequality), zero only if Λ is diagonal. We maximize the ELBO
# numerically over m and log s² and compare. For a random W the gap can be
# arbitrarily small (Λ's off-diagonal is W's columns' inner product, which a draw
# can put near 0), so the equality case is shown on two W built for it from the
# same orthonormal columns Q: columns orthogonal (Λ diagonal, gap 0) and columns
# 45° apart (gap −½ log(1 − ρ²), ρ the posterior correlation; it depends only on
# WᵀW and σ², so it is the same at every seed).

# %%
def best_diagonal(mdl, xx):
    """BFGS over (m, log s²) of the ELBO of q = N(m, diag s²) for one x."""
    neg_elbo = lambda th: -mdl.elbo(xx, th[None, :K], np.diag(np.exp(th[K:])))[0]   # noqa: E731
    return minimize(neg_elbo, np.zeros(2 * K), method="BFGS", options=dict(gtol=1e-10))


opt = best_diagonal(model, x)
m_post, Sigma = model.posterior(x)
Lam = np.linalg.inv(Sigma)
check("optimal mean = posterior mean", opt.x[:K], m_post[0], atol=1e-5)
check("optimal precisions = diag of the posterior precision σ⁻²M", np.exp(-opt.x[K:]), np.diag(Lam), rtol=1e-4)
gap = model.log_likelihood(x)[0] + opt.fun
check("remaining gap = ½[log|Σ| + Σ log Λ_jj]", gap, 0.5 * (np.linalg.slogdet(Sigma)[1] + np.log(np.diag(Lam)).sum()),
      atol=1e-8)
print(f"this W: remaining gap {gap:.2e} nats")
Q = np.linalg.qr(W)[0]                                                             # (D, 2) orthonormal columns
W_built = {"orthogonal columns": Q @ np.diag([2.0, 1.0]), "columns 45° apart": Q @ np.array([[2.0, 1.0], [0.0, 1.0]])}
for label, Wq in W_built.items():
    mq = PPCA.from_params(Wq, b, sigma2)
    xq = mq.sample(1, rng)
    gap_q = mq.log_likelihood(xq)[0] + best_diagonal(mq, xq).fun
    Sq = mq.posterior(xq)[1]
    rho_q = Sq[0, 1] / np.sqrt(Sq[0, 0] * Sq[1, 1])
    print(f"{label}: posterior correlation {rho_q:+.3f}, remaining gap {gap_q:.2e} nats")
    check(f"{label}: the remaining gap = −½ log(1 − ρ²)", gap_q, -0.5 * np.log1p(-rho_q ** 2), atol=1e-8)
    if label.startswith("orthogonal"):
        check("…zero: Λ is diagonal", gap_q, 0.0, atol=1e-8)
    else:
        check_that("…and positive: Λ is not diagonal (0.28 nats: WᵀW = [[4, 2], [2, 2]], σ² = 0.2)", gap_q > 0.1,
                   f"{gap_q:.4f} nats")

# %% [markdown]
# ## Lesson 4, exercise 2 — the two terms along the β curve
#
# Lesson 4's section 5: pPCA on the digits (K = 8), and for each β the
# β-optimal q_β = N(m_β, S_β), m_β = (WᵀW + βσ²I)⁻¹Wᵀ(x − b),
# S_β = βσ²(WᵀW + βσ²I)⁻¹. The two terms, in closed form (lesson 4, section 2):
# E_q log p(x|z) = −½[D log 2πσ² + (‖x − b − Wm‖² + tr(WᵀWS))/σ²] and
# KL(q‖p(z)) from `kl_gaussians`.
#
# What to expect, without computing: q_β maximizes R(q) − β·KL(q) with
# R = E_q log p(x|z). For β₁ < β₂, optimality at each gives
# R₁ − β₁KL₁ ≥ R₂ − β₁KL₂ and R₂ − β₂KL₂ ≥ R₁ − β₂KL₁; adding them,
# (β₂ − β₁)(KL₁ − KL₂) ≥ 0. So the KL falls as β grows, and then R falls too
# (from the first inequality, R₁ − R₂ ≥ β₁(KL₁ − KL₂) ≥ 0). Along the smooth
# curve this is the envelope relation dR/dβ = β·dKL/dβ: a larger β buys a
# smaller KL with reconstruction, at β nats of R per nat of KL. The ELBO
# R − KL changes by (β − 1)·dKL/dβ, which is < 0 beyond β = 1: from β = 1 to
# β = D the pixel-averaged loss gives up more **reconstruction** than it saves
# in KL.

# %%
X_dig, _ = load_digits()
K4 = 8
dig = PPCA(K4).fit(X_dig)
D4 = X_dig.shape[1]
X4 = X_dig[rng.permutation(len(X_dig))[: L.size(300, 100)]]       # (N, D)
WtW4 = dig.W.T @ dig.W


def q_beta(x_rows, beta):
    """Lesson 4, section 5: the maximizer of E_q log p(x|z) − β·KL(q‖p(z)) for pPCA."""
    A = WtW4 + beta * dig.sigma2 * np.eye(K4)
    return np.linalg.solve(A, dig.W.T @ (x_rows - dig.b).T).T, beta * dig.sigma2 * np.linalg.inv(A)


def rec_and_kl(beta, x_rows=X4):
    """E_q log p(x|z) and KL(q‖p(z)) at q = q_β, per datapoint, in closed form."""
    m, S = q_beta(x_rows, beta)
    resid = x_rows - dig.b - m @ dig.W.T
    rec = -0.5 * (D4 * np.log(2 * np.pi * dig.sigma2) + (np.sum(resid ** 2, 1) + np.trace(WtW4 @ S)) / dig.sigma2)
    return rec, kl_gaussians(m, S, np.zeros(K4), np.eye(K4))


betas = np.exp(np.linspace(np.log(1 / D4), np.log(4 * D4), L.size(41, 11)))
def mean_terms(beta):
    """(E_q log p(x|z), KL(q‖p(z))) at q_β, averaged over the digits."""
    return np.array([t.mean() for t in rec_and_kl(beta)])


rec_b, kl_b = np.array([mean_terms(b) for b in betas]).T
log_px4 = dig.log_likelihood(X4)
elbo_c = np.array([np.mean(log_px4 - dig.kl_to_posterior(X4, *q_beta(X4, b))) for b in betas])
check("E_q log p(x|z) − KL(q‖p(z)) = log p(x) − KL(q‖p(z|x)) (form (c)) along the whole curve",
      rec_b - kl_b, elbo_c, atol=1e-9)
n4 = L.size(200_000, 40_000)
for beta in (1.0, float(D4)):
    m, S = q_beta(X4[:1], beta)
    z = m[0] + rng.standard_normal((n4, K4)) @ np.linalg.cholesky(S).T
    log_lik = gaussian_log_density(X4[0], z @ dig.W.T + dig.b, np.full(D4, np.log(dig.sigma2)))
    rec0, kl0 = rec_and_kl(beta, X4[:1])
    check(f"β = {beta:g}: closed-form E_q log p(x|z) = Monte Carlo (5 SE)", rec0[0], log_lik.mean(),
          atol=5 * log_lik.std() / np.sqrt(n4))
h4 = 1e-4                                                           # central differences in log β
d_rec, d_kl = np.array([(mean_terms(b * np.exp(h4)) - mean_terms(b * np.exp(-h4))) / (2 * h4) for b in betas]).T
check("envelope relation dR/dβ = β·dKL/dβ (finite differences)", d_rec, betas * d_kl, rtol=1e-6)
check_that("both terms fall as β grows: E_q log p(x|z) and KL(q‖p(z)) decrease",
           np.all(np.diff(rec_b) < 0) and np.all(np.diff(kl_b) < 0))
rec_1, kl_1 = mean_terms(1.0)
rec_D, kl_D = mean_terms(float(D4))
print(f"β = 1 → β = D = {D4}: E_q log p(x|z) {rec_1:.2f} → {rec_D:.2f} ({rec_D - rec_1:+.2f} nats), "
      f"−KL {-kl_1:.2f} → {-kl_D:.2f} ({kl_1 - kl_D:+.2f} nats)")
check_that("the pixel-averaged loss gives up reconstruction: it loses more than −KL gains",
           rec_1 - rec_D > kl_1 - kl_D > 0, f"{rec_1 - rec_D:.2f} > {kl_1 - kl_D:.2f} nats")

fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
for ax, values, name in ((axes[0], rec_b, "E_q log p(x|z), q = q_β"), (axes[1], -kl_b, "−KL(q_β‖p(z))")):
    ax.semilogx(betas, values, "C0" if ax is axes[0] else "C3", lw=2, label=name)
    ax.axvline(1, color="k", ls=":", lw=1, label="β = 1 (summed)")
    ax.axvline(D4, color="k", ls="--", lw=1, label=f"β = D = {D4} (pixel-averaged)")
    ax.set(xlabel="β (weight of the KL)", ylabel="nats per digit", title=f"{name}: pPCA on the digits, K = {K4}")
    ax.legend(fontsize=8)
L.savefig(fig, "solution_04_2_terms_along_beta")

# %% [markdown]
# ## Lesson 4, exercise 3 — the derivation with a Student-t q
#
# Section 1's three lines use only the definition of KL, Bayes' rule
# p(z|x) = p(x|z)p(z)/p(x) and the logarithm; nothing about q but that it has
# a density we can evaluate and sample. So for q with independent Student-t
# coordinates, t_ν(m_j, s_j), the integrands
#
# 1. log q(z) − log p(z|x)    (p(z|x) = N(m*, Σ) from `PPCA.posterior`),
# 2. log q(z) − log[p(x, z)/p(x)]    (p(x, z) the joint Gaussian of (z, x):
#    mean (0, b), covariance [[I, Wᵀ], [W, WWᵀ + σ²I]], evaluated by SciPy in D + K dimensions),
# 3. log q(z) − log p(x|z) − log p(z) + log p(x),
#
# agree for every sample z, whatever q is. Their average is KL(q‖p(z|x)), which
# for this q has a closed form too: only q's entropy (SciPy's, of the t) and its
# first two moments enter, Cov q = diag(s²ν/(ν − 2)):
# KL = −H(q) + ½[K log 2π + log|Σ| + (m − m*)ᵀΣ⁻¹(m − m*) + tr(Σ⁻¹ Cov q)].
# (ν = 10 keeps enough moments finite for the Monte Carlo standard error to be
# reliable.)

# %%
nu = 10
m_star, Sigma4 = dig.posterior(X4[:1])
x4 = X4[0]
m_t = m_star[0] + np.sqrt(np.diag(Sigma4)) * rng.standard_normal(K4)   # about one posterior sd off
s_t = np.sqrt(np.diag(Sigma4)) * rng.uniform(0.5, 1.5, K4)
z = m_t + s_t * rng.standard_t(nu, size=(n4, K4))                      # (S, K)  z ~ q, not Gaussian
log_q = student_t.logpdf(z, nu, m_t, s_t).sum(axis=1)                  # (S,)
joint = multivariate_normal(np.concatenate([np.zeros(K4), dig.b]),
                            np.block([[np.eye(K4), dig.W.T], [dig.W, dig.W @ dig.W.T + dig.sigma2 * np.eye(D4)]]))
line1 = log_q - multivariate_normal(m_star[0], Sigma4).logpdf(z)
line2 = log_q - (joint.logpdf(np.hstack([z, np.broadcast_to(x4, (n4, D4))])) - log_px4[0])
line3 = (log_q - gaussian_log_density(x4, z @ dig.W.T + dig.b, np.full(D4, np.log(dig.sigma2)))
         - gaussian_log_density(z, 0.0, np.zeros(K4)) + log_px4[0])
check("Student-t q: line 1 = line 2, sample by sample", line1, line2, atol=1e-8)
check("…and line 2 = line 3", line2, line3, atol=1e-8)
Lam4 = np.linalg.inv(Sigma4)
dm = m_t - m_star[0]
kl_t = (-student_t.entropy(nu, scale=s_t).sum()
        + 0.5 * (K4 * np.log(2 * np.pi) + np.linalg.slogdet(Sigma4)[1] + dm @ Lam4 @ dm
                 + np.sum(np.diag(Lam4) * s_t ** 2 * nu / (nu - 2))))
se_t = line1.std() / np.sqrt(n4)
check("their mean = KL(q‖p(z|x)) from q's entropy and moments (5 SE)", line1.mean(), kl_t, atol=5 * se_t)
# q is not Gaussian: beyond 3 of its standard deviations lies t's tail mass, ~2.7× a Gaussian's
tail = np.abs(z - m_t) / (s_t * np.sqrt(nu / (nu - 2))) > 3                  # (S, K)
p_tail = 2 * student_t.sf(3 * np.sqrt(nu / (nu - 2)), nu)
check("fraction of q's samples beyond 3 sd = the t's tail mass (5 SE)", tail.mean(), p_tail,
      atol=5 * np.sqrt(p_tail * (1 - p_tail) / tail.size))
check_that("…far from a Gaussian's 0.27%", tail.mean() > 2 * 0.0027, f"{100 * tail.mean():.2f}%")

# %% [markdown]
# ## Lesson 5, exercise 1 — a baseline in the score-function estimator
#
# E_q[∇ log q] = ∫ ∇q = ∇ 1 = 0, so subtracting any constant b keeps the
# estimator unbiased. Its variance, per component, is minimized by
# b* = E[f s²]/E[s²] (s the score component). For f(z) = −½‖z − c‖² at K = 16:

# %%
K5 = 16
mu5, lv5, c5 = np.full(K5, 0.5), np.full(K5, np.log(0.5)), np.full(K5, -0.5)
n5 = L.size(400_000, 100_000)
z = mu5 + np.exp(0.5 * lv5) * rng.standard_normal((n5, K5))
score_mu = (z - mu5) / np.exp(lv5)                                  # ∂ log q / ∂μ
f = -0.5 * np.sum((z - c5) ** 2, axis=1)
half = n5 // 2                                                      # b* from one half, used on the other
b_star = np.sum(f[:half, None] * score_mu[:half] ** 2, 0) / np.sum(score_mu[:half] ** 2, 0)
f, score_mu, z = f[half:], score_mu[half:], z[half:]
est0 = f[:, None] * score_mu
est_b = (f[:, None] - b_star) * score_mu
se_b = est_b.std(0) / np.sqrt(len(f))
check("with the baseline still unbiased: mean = −(μ − c) (5 SE)", est_b.mean(0), -(mu5 - c5), atol=5 * se_b)
ratio = est0.var(0).mean() / est_b.var(0).mean()
pathwise_var = np.var(-(z - c5), axis=0).mean()
print(f"variance per component: no baseline {est0.var(0).mean():.2f}, b* {est_b.var(0).mean():.2f}, "
      f"pathwise {pathwise_var:.3f}")
check_that("the baseline cuts the variance several-fold", ratio > 3, f"{ratio:.1f}×")
check_that("…but the pathwise estimator stays far better: the baseline removes f's mean, not its spread",
           est_b.var(0).mean() > 5 * pathwise_var)

# %% [markdown]
# ## Lesson 5, exercise 2 — f(z) = Σ_j exp(z_j): is the pathwise estimator still better for large σ?
#
# With z_j = μ_j + σε_j (all μ_j = μ, σ_j = σ) and ∇ = ∂/∂μ_j:
# the exact gradient is g = e^{μ+σ²/2}; the pathwise estimate is e^{z_j}, a
# log-normal, so Var_path = e^{2μ+σ²}(e^{σ²} − 1); the score-function estimate
# is f(z)·ε_j/σ. Expanding f² = Σ_{k,l} e^{z_k+z_l} and using, for ε ~ N(0, 1),
# E[e^{tε}] = e^{t²/2}, E[εe^{tε}] = te^{t²/2}, E[ε²e^{tε}] = (1 + t²)e^{t²/2}:
#
# $$E[(f\varepsilon_j/\sigma)^2] = \frac{e^{2\mu}}{\sigma^2}\Bigl[(1+4\sigma^2)e^{2\sigma^2} + (K-1)e^{2\sigma^2}
#   + 2(K-1)(1+\sigma^2)e^{\sigma^2} + (K-1)(K-2)e^{\sigma^2}\Bigr],$$
#
# (the terms k = l = j; k = l ≠ j; one of k, l = j; neither), and
# Var_score = that − g². For large σ the ratio Var_score/Var_path → 4 + K/σ²:
# **still better, always by more than a factor 4** (at K = 1, Var_score − 4·Var_path
# = e^{2μ}(e^{2σ²}/σ² + 3e^{σ²}) > 0, and K adds positive terms), but the advantage that grew
# with K is gone, and the pathwise estimator itself is poor: its relative
# standard deviation √(e^{σ²} − 1) is 7 at σ = 2 and 90 at σ = 3, because
# e^{z} puts its mass in a far tail that few samples reach (at large σ even the
# *sample* variance is unreliable, so the comparison below uses the closed
# forms, checked by Monte Carlo at σ = 0.5 and by quadrature at large σ).

# %%
def exp_sum_moments(mu, sigma, K):
    """Exact gradient, pathwise variance and score-function variance of ∇_{μ_1} E[Σ_j exp(z_j)]."""
    s2 = sigma ** 2
    g = np.exp(mu + s2 / 2)
    var_path = np.exp(2 * mu + s2) * np.expm1(s2)
    second = np.exp(2 * mu) / s2 * ((1 + 4 * s2 + K - 1) * np.exp(2 * s2)
                                    + (2 * (K - 1) * (1 + s2) + (K - 1) * (K - 2)) * np.exp(s2))
    return g, var_path, second - g ** 2


mu_e, sig_e, K_e = 0.5, 0.5, 4
n_e = L.size(400_000, 100_000)
eps_e = rng.standard_normal((n_e, K_e))
z_e = mu_e + sig_e * eps_e
est = {"pathwise": np.exp(z_e[:, 0]), "score": np.exp(z_e).sum(1) * eps_e[:, 0] / sig_e}   # ∇_{μ_1}, (n,) each
g_e, var_path_e, var_score_e = exp_sum_moments(mu_e, sig_e, K_e)
for name, e, var_exact in (("pathwise", est["pathwise"], var_path_e), ("score", est["score"], var_score_e)):
    check(f"σ = {sig_e}, K = {K_e}: {name} estimator unbiased for e^(μ+σ²/2) (5 SE)", e.mean(), g_e,
          atol=5 * e.std() / np.sqrt(n_e))
    check("…its variance = the closed form (5 SE of a sample variance)", e.var(), var_exact,
          atol=5 * ((e - e.mean()) ** 2).std() / np.sqrt(n_e))

# At large σ, by quadrature over (ε_1, ε_2) for K = 2: the integrand peaks near ε = 2σ.
for sigma in (1.0, 2.0, 3.0):
    t = np.arange(-14.0, 2 * sigma + 14.0, 0.02)
    phi = np.exp(-0.5 * t ** 2) / np.sqrt(2 * np.pi)
    e1, e2 = t[:, None], t[None, :]
    f_s = (np.exp(mu_e + sigma * e1) + np.exp(mu_e + sigma * e2)) * e1 / sigma   # (T, T) score estimate
    second = trapezoid(trapezoid(f_s ** 2 * phi[:, None] * phi[None, :], t, axis=1), t)
    path_second = trapezoid(np.exp(2 * (mu_e + sigma * t)) * phi, t)
    g_q, var_path_q, var_score_q = exp_sum_moments(mu_e, sigma, 2)
    check(f"σ = {sigma:g}, K = 2: Var_score = closed form (2-D quadrature)", second - g_q ** 2, var_score_q, rtol=1e-8)
    check(f"σ = {sigma:g}: Var_path = closed form (quadrature)", path_second - g_q ** 2, var_path_q, rtol=1e-8)

sigmas = np.linspace(0.1, 3.0, 59)
Ks5 = (1, 4, 16)
ratio = {k: exp_sum_moments(mu_e, sigmas, k)[2] / exp_sum_moments(mu_e, sigmas, k)[1] for k in Ks5}
check_that("the pathwise estimator has the smaller variance at every σ and K, by more than 4×",
           all(np.all(r > 4) for r in ratio.values()), f"smallest ratio {min(r.min() for r in ratio.values()):.3f}")
check("…and for large σ the ratio tends to 4 + K/σ² (K = 16, σ = 3)", ratio[16][-1], 4 + 16 / 9, rtol=0.01)
small = [exp_sum_moments(mu_e, 0.5, k)[2] / exp_sum_moments(mu_e, 0.5, k)[1] for k in Ks5]
check_that("at small σ the advantage still grows with K (σ = 0.5)", small[0] < small[1] < small[2],
           f"ratios {small[0]:.1f}, {small[1]:.1f}, {small[2]:.1f} for K = {Ks5}")
rel_sd = np.sqrt(exp_sum_moments(mu_e, 2.0, 1)[1]) / exp_sum_moments(mu_e, 2.0, 1)[0]
check_that("but at σ = 2 even the pathwise estimate's standard deviation is > 5× the gradient", rel_sd > 5,
           f"{rel_sd:.1f}×")

fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
for k in Ks5:
    axes[0].semilogy(sigmas, ratio[k], label=f"K = {k}")
    g_k, vp_k, vs_k = exp_sum_moments(mu_e, sigmas, k)
    axes[1].semilogy(sigmas, np.sqrt(vs_k) / g_k, label=f"score function, K = {k}")
axes[0].axhline(4, color="k", ls=":", lw=1, label="4 (the large-σ limit)")
axes[0].plot([sig_e], [est["score"].var() / est["pathwise"].var()], "kx", label=f"Monte Carlo, K = {K_e}")
axes[0].set(xlabel="σ (standard deviation of every z_j)", ylabel="Var score / Var pathwise",
            title="f(z) = Σ exp(z_j): variance ratio for ∇μ₁")
axes[1].semilogy(sigmas, np.sqrt(np.expm1(sigmas ** 2)), "k--", label="pathwise (any K)")
axes[1].set(xlabel="σ (standard deviation of every z_j)", ylabel="standard deviation / |gradient|",
            title="Relative noise of one single-sample estimate")
for ax in axes:
    ax.legend(fontsize=8)
L.savefig(fig, "solution_05_2_exp_sum_variance")

# %% [markdown]
# ## Lesson 5, exercise 3 — full-covariance q by change of variables
#
# z = μ + Lε is invertible with ∂z/∂ε = L, |det L| = Π L_ii (triangular), so
# log q(z) = log N(ε; 0, I) − Σ_i log L_ii with ε = L⁻¹(z − μ).

# %%
K3 = 3
A = rng.normal(size=(K3, K3))
Lc = np.linalg.cholesky(A @ A.T + 0.5 * np.eye(K3))
mu3 = rng.normal(size=K3)
eps = rng.standard_normal((5, K3))
z3 = mu3 + eps @ Lc.T
log_q = gaussian_log_density(eps, 0.0, np.zeros(K3)) - np.log(np.diag(Lc)).sum()
check("log N(ε; 0, I) − Σ log L_ii = log N(z; μ, LLᵀ) (SciPy)", log_q,
      multivariate_normal(mu3, Lc @ Lc.T).logpdf(z3), atol=1e-10)
