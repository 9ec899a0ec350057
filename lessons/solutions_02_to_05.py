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
# # Worked solutions — Lessons 2 to 5 (selected exercises)
#
# Try the exercises at the end of each lesson first. Each answer below
# computes what it claims and asserts it, as the lessons do.

# %%
import numpy as np
from scipy.integrate import trapezoid
from scipy.optimize import minimize
from scipy.stats import multivariate_normal

from _lesson import setup, check, check_that
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
# ## Lesson 4, exercise 1 — the best diagonal q and the gap it cannot close
#
# For q = N(m, S) with S diagonal, the ELBO's gap is KL(q‖p(z|x)) with
# p(z|x) = N(m*, Σ), Λ = Σ⁻¹ = M/σ². Its minimum over m is at m = m*; over
# s_j² it is at 1/s_j² = Λ_jj, leaving KL = ½[log|Σ| + Σ_j log Λ_jj] ≥ 0
# (Hadamard's inequality), zero only if Λ is diagonal. We maximize the ELBO
# numerically over m and log s² and compare.

# %%
elbo_of = lambda th: -model.elbo(x, th[None, :K], np.diag(np.exp(th[K:])))[0]   # noqa: E731
opt = minimize(elbo_of, np.zeros(2 * K), method="BFGS", options=dict(gtol=1e-10))
m_post, Sigma = model.posterior(x)
Lam = np.linalg.inv(Sigma)
check("optimal mean = posterior mean", opt.x[:K], m_post[0], atol=1e-5)
check("optimal precisions = diag of the posterior precision σ⁻²M", np.exp(-opt.x[K:]), np.diag(Lam), rtol=1e-4)
gap = model.log_likelihood(x)[0] + opt.fun
check("remaining gap = ½[log|Σ| + Σ log Λ_jj]", gap, 0.5 * (np.linalg.slogdet(Sigma)[1] + np.log(np.diag(Lam)).sum()),
      atol=1e-8)
check_that("…which is > 0 for this non-orthogonal W", gap > 1e-4, f"{gap:.4f} nats")

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
