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
# # Lesson 1 — Latent variable models: p(x) = ∫ p(x|z) p(z) dz
#
# **What this lesson derives.** A latent variable model generates data by
# pushing simple noise z through a function, and its density is the marginal
#
# $$p(x) = \int p(x|z)\,p(z)\,dz .$$
#
# We (1) turn uniform noise into an Exp(1) variable with x = −ln z, (2) compute
# p(x) for a probabilistic PCA model three ways — exactly, by quadrature and by
# sampling the prior — and watch the prior-sampling estimate fall apart as the
# dimension grows, and (3) fix it with importance sampling from the posterior,
# which for this model is exact with zero variance.
#
# **Lectures followed.**
# - 004_67c18b03ad8f58f7.txt, *Generative models*: z ~ Unif(0, 1), x = f(z).
#   The slide prints **x = ln z**, which is never positive; the Exp(1)
#   variable is **x = −ln z** (shown below).
# - 000_e86e672dd89502b1.txt, *Generative models*: the marginal
#   P_X(x) = ∫ P_{X|Z}(x|z) P_Z(z) dz and "Computing the integral is generally
#   intractable". (One reveal of that slide writes ∫ P_{Z|X}(z|x) P_Z(z) dz,
#   with the conditional the wrong way round; the next reveal corrects it.)
# - 002_b4c24ccd2e75c8da.txt, *Factorization of latent variable models*
#   (eq. 1) and *Explicit computation of the marginal likelihood* (pPCA).
# - 004_67c18b03ad8f58f7.txt, *VAE Likelihood*: "Difficult to approximate in
#   high dim through sampling. For most z values p(x|z) close to 0", hence a
#   proposal q(z|x). The slide writes p(x) = ∫ p(x|z) q(z|x) dz, which drops
#   the importance weight p(z)/q(z|x); we show the difference numerically.
#
# **Take-away.** p(x) is an integral over every z that could have produced x.
# Sampling z from the prior almost never hits the tiny region of z that
# explains a high-dimensional x, so the naive estimate is biased low and
# erratic; sampling from (an approximation of) the posterior p(z|x) is what
# makes the integral computable — the reason a VAE has an encoder.

# %%
import numpy as np
import matplotlib.pyplot as plt
from scipy.integrate import trapezoid
from scipy.special import ndtri

from _lesson import setup, check, check_that, grade, YourTurn  # noqa: F401  (YourTurn: the student version's stubs)
from numvae.distributions import gaussian_log_density, logmeanexp
from numvae.ppca import PPCA

L = setup("Lesson 1: latent variable models")
rng = L.rng

# %% [markdown]
# ## 1. Generating data by pushing noise through a function
#
# Take z ~ Unif(0, 1) and x = f(z) with f(z) = −ln z. For x ≥ 0,
#
# $$P(X \le x) = P(-\ln Z \le x) = P(Z \ge e^{-x}) = 1 - e^{-x},$$
#
# the CDF of Exp(1), whose density is e^{−x}. In general x = F⁻¹(z) turns
# uniform noise into any distribution with CDF F (here F⁻¹(u) = −ln(1 − u),
# and 1 − Z is again uniform). The slide's x = ln z is the *negative* of an
# Exp(1) variable: every value is below zero.
#
# We check the claim with the Kolmogorov–Smirnov distance
# sup_x |F_n(x) − F(x)| between the empirical CDF F_n of the n samples and
# F(x) = 1 − e^{−x} (at level 0.001 its critical value is ≈ 1.95/√n), and with
# the first two moments (Exp(1) has mean 1 and variance 1; the sample variance
# has standard error √(8/n) because the fourth central moment is 9).

# %%
def ks_distance_to_exp1(x):
    """sup_x |F_n(x) - F(x)| for F the Exp(1) CDF (F = 0 below 0): compare F at each sorted sample
    with the empirical CDF just before and just after its step."""
    x = np.sort(x)
    F = np.where(x > 0, -np.expm1(-np.maximum(x, 0)), 0.0)           # 1 - e^{-x}, exact near 0
    i = np.arange(1, x.size + 1)
    return max(np.max(i / x.size - F), np.max(F - (i - 1) / x.size))


n = L.size(200_000, 20_000)
z = rng.uniform(size=n)
x_right = -np.log(z)          # 004's f, with the minus sign
x_slide = np.log(z)           # 004's f as printed

ks_right = ks_distance_to_exp1(x_right)
ks_slide = ks_distance_to_exp1(x_slide)
crit = 1.95 / np.sqrt(n)
print(f"x = -ln z: mean {x_right.mean():.4f}, var {x_right.var():.4f}, KS distance to Exp(1) {ks_right:.4f}")
print(f"x =  ln z: mean {x_slide.mean():.4f}, max {x_slide.max():.2e},  KS distance to Exp(1) {ks_slide:.4f}")
check("mean of -ln z (Exp(1) has 1)", x_right.mean(), 1.0, atol=5 / np.sqrt(n))
check("variance of -ln z (Exp(1) has 1)", x_right.var(), 1.0, atol=5 * np.sqrt(8 / n))
check_that("KS: -ln z is Exp(1)", ks_right < crit, f"D = {ks_right:.4f} < {crit:.4f}")
check_that("the slide's ln z is never positive", x_slide.max() < 0, f"max = {x_slide.max():.3g}")
# (So its KS distance to Exp(1) is 1, the largest possible: the supports are disjoint.)

# %% [markdown]
# The same trick gives a Gaussian: x = μ + σ Φ⁻¹(z). Note that 004 writes
# x ~ N(μ, σ) with the *standard deviation* as second argument, while 002 and
# this library write N(μ, σ²). Which one a formula means matters; lesson 5
# shows what mixing them up does.

# %%
mu, sigma = 1.5, 0.5
x_gauss = mu + sigma * ndtri(z)
check("mean of mu + sigma * Phi^-1(z)", x_gauss.mean(), mu, atol=5 * sigma / np.sqrt(n))
check("std of mu + sigma * Phi^-1(z)", x_gauss.std(), sigma, atol=5 * sigma / np.sqrt(2 * n))

fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
grid = np.linspace(0, 8, 400)
axes[0].hist(x_right, bins=120, range=(0, 8), density=True, alpha=0.6, label="x = −ln z")
axes[0].plot(grid, np.exp(-grid), "k", lw=2, label="Exp(1) density $e^{-x}$")
axes[0].set(title="x = −ln z, z ~ Unif(0,1)", xlabel="x", ylabel="density")
axes[0].legend()
axes[1].hist(x_slide, bins=120, range=(-8, 0), density=True, alpha=0.6, color="C3", label="x = ln z (slide)")
axes[1].plot(grid, np.exp(-grid), "k", lw=2, label="Exp(1) density")
axes[1].set(title="004's x = ln z: all mass below 0", xlabel="x", ylabel="density", xlim=(-8, 8))
axes[1].legend()
L.savefig(fig, "01_noise_through_a_function")

# %% [markdown]
# ## 2. The marginal of a model where it is exact: probabilistic PCA
#
# pPCA (002, *Probabilistic Principal Component Analysis*) is the latent
# variable model
#
# $$p(z) = \mathcal N(z; 0, I_K),\qquad p(x|z) = \mathcal N(x; Wz + b, \sigma^2 I_D),$$
#
# whose marginal is Gaussian in closed form (002, *Explicit computation of the
# marginal likelihood*): p(x) = N(x; b, WWᵀ + σ²I). (002 writes the latent
# dimension as M; we use K, because M is also the matrix WᵀW + σ²I.)
#
# First we check the library's `PPCA.log_likelihood` (which never forms the
# D × D covariance) against the Gaussian log-density written out with
# C = WWᵀ + σ²I,
#
# $$\log p(x) = -\tfrac12\bigl[D\log 2\pi + \log|C| + (x-b)^\top C^{-1}(x-b)\bigr],$$
#
# and — for K = 1, where the integral is one-dimensional — against the
# integral itself, computed by the trapezoidal rule on a fine grid of z.

# %%
def make_model(K, D, sigma2, rng):
    """A pPCA with K latents in D = 4K dimensions; W ~ N(0, 1/K) so each x_d has variance 1 + sigma2."""
    W = rng.standard_normal((D, K)) / np.sqrt(K)
    b = rng.standard_normal(D)
    return PPCA.from_params(W, b, sigma2)


model = make_model(1, 4, 0.1, rng)
x = model.sample(1, rng)                                          # (1, D)
C = model.W @ model.W.T + model.sigma2 * np.eye(4)                # (D, D)
log_px = model.log_likelihood(x)[0]
r = x[0] - model.b                                                # (D,)
log_px_by_hand = -0.5 * (4 * np.log(2 * np.pi) + np.linalg.slogdet(C)[1] + r @ np.linalg.solve(C, r))
check("log p(x): PPCA.log_likelihood vs log N(x; b, WW^T + s2 I) by hand", log_px, log_px_by_hand, atol=1e-10)

zg = np.linspace(-12, 12, 48_001)[:, None]                        # (G, 1) grid over the single latent
logvar_x = np.full(4, np.log(model.sigma2))
log_lik = gaussian_log_density(x[0], zg @ model.W.T + model.b, logvar_x)     # (G,)  log p(x|z)
log_prior = gaussian_log_density(zg, 0.0, np.zeros(1))                      # (G,)  log p(z)
px_quad = trapezoid(np.exp(log_lik + log_prior), zg[:, 0])
check("p(x) = ∫ p(x|z) p(z) dz by quadrature vs exact", np.log(px_quad), log_px, atol=1e-9)

# %% [markdown]
# Two misprints of the integral, computed on the same grid with the exact
# posterior q(z|x) = p(z|x) as the proposal:
#
# - 004, *VAE Likelihood*: ∫ p(x|z) q(z|x) dz. This is E_q[p(x|z)], not p(x):
#   the importance weight p(z)/q(z|x) is missing. The correct identity is
#   p(x) = ∫ p(x|z) [p(z)/q(z|x)] q(z|x) dz (002 eq. 8).
# - 000, *Generative models* (one reveal): ∫ P_{Z|X}(z|x) P_Z(z) dz, which is
#   not even a density of x.
#
# The exact posterior comes from `PPCA.posterior`: for pPCA it is the Gaussian
# p(z|x) = N(M⁻¹Wᵀ(x − b), σ²M⁻¹) with M = WᵀW + σ²I, which lesson 3 derives
# by conditioning the joint Gaussian of (z, x). Here we only use it.
#
# How wrong is 004's version? With q = p(z|x), Bayes' rule p(x|z) = p(z|x) p(x)/p(z) gives
#
# $$\int p(x|z)\,q(z|x)\,dz = p(x)\int rac{q(z|x)^2}{p(z)}\,dz,$$
#
# and for q = N(m, s²), p(z) = N(0, 1) the last integral is one Gaussian integral,
# exp(m²/(2 − s²)) / (s√(2 − s²)). It exceeds 1 whenever s² < 1 (then
# s²(2 − s²) < 1), and the pPCA posterior is always narrower than the prior, so
# 004's integral *overestimates* p(x), by the factor computed below.
#
# The weight, on the other hand, makes *any* proposal r(z) work:
# p(x) = E_r[p(x|z) p(z)/r(z)]. On the grid r cancels out of the integrand, so
# we check it the way it is used — by sampling z from an r that is deliberately
# not the posterior (its mean one posterior standard deviation off, its
# variance doubled) and averaging the weights, within 5 standard errors.

# %%
post_mean, post_cov = model.posterior(x)                          # (1, K), (K, K)
m, s2 = post_mean[0, 0], post_cov[0, 0]                           # K = 1: the posterior is N(m, s2)
log_q = gaussian_log_density(zg, m, np.log([s2]))                 # (G,)
px_004 = trapezoid(np.exp(log_lik + log_q), zg[:, 0])
px_000 = trapezoid(np.exp(log_q + log_prior), zg[:, 0])
log_factor = m ** 2 / (2 - s2) - 0.5 * np.log(s2 * (2 - s2))      # log ∫ q²/p dz
print(f"p(x) exact                     {np.exp(log_px):.6f}")
print(f"∫ p(x|z) q(z|x) dz  (004)      {px_004:.6f}   (posterior N({m:.3f}, {s2:.4f}))")
print(f"∫ p(z|x) p(z) dz    (000 reveal) {px_000:.6f}")
check("004's ∫ p(x|z) q(z|x) dz = p(x) · ∫ q²/p dz: too large by exp(m²/(2−s²))/(s√(2−s²))",
      np.log(px_004) - log_px, log_factor, atol=1e-8)

S_r = L.size(200_000, 20_000)
r_mean, r_logvar = m + np.sqrt(s2), np.log([2 * s2])              # r = N(m + s, 2 s²): not the posterior
zr = r_mean + np.exp(0.5 * r_logvar) * rng.standard_normal((S_r, 1))                    # (S, 1)  z ~ r
log_w = (gaussian_log_density(x[0], zr @ model.W.T + model.b, logvar_x)
         + gaussian_log_density(zr, 0.0, np.zeros(1)) - gaussian_log_density(zr, r_mean, r_logvar))   # (S,)
w = np.exp(log_w - log_px)                                        # each weight over p(x): mean 1 if unbiased
print(f"∫ p(x|z) p(z)/r r dz (002 eq.8), sampled from r: {np.exp(log_px) * w.mean():.6f}")
check("with the weight p(z)/r(z), samples from r ≠ p(z|x) still average to p(x) (ratio, 5 SE)",
      w.mean(), 1.0, atol=5 * w.std() / np.sqrt(S_r))

# %% [markdown]
# ## 3. Naive Monte Carlo from the prior, as the dimension grows
#
# The integral is an expectation under the prior, so the obvious estimator is
#
# $$\hat p(x) = \frac1S\sum_{s=1}^S p(x|z_s),\qquad z_s \sim p(z),$$
#
# computed in log space as `logmeanexp` of log p(x|z_s). It is unbiased for
# p(x), but its log is biased *low* (Jensen), and the bias and spread depend
# on how often a prior sample lands where p(x|z) is not negligible.
#
# In our models K latents live in D = 4K dimensions and W ~ N(0, 1/K), so the
# posterior has a spread of roughly σ/2 in each latent direction. The chance
# that a prior sample lands inside it is a product of K such factors — it
# shrinks exponentially with the dimension. We measure, over R independent
# estimates of S samples each: the mean error of log p̂(x) (bias), its
# standard deviation, and the effective sample size ESS = (Σw)²/Σw² of the
# weights w_s = p(x|z_s) (S if all samples count equally, 1 if one dominates).
#
# **Your turn.** Write this estimator: given one datapoint x (shape (D,)),
# prior samples z (shape (S, K)) and a pPCA `model` (with `model.W` of shape
# (D, K), `model.b`, `model.sigma2`), return log p̂(x). Use
# `gaussian_log_density(x, mean, logvar)` for log N(x; mean, diag exp(logvar))
# and `logmeanexp` for log((1/S) Σ_s exp(a_s)). It is graded against p(x|z)
# written out by hand and averaged, on section 2's model; the study below then
# uses your function.

# %%
def log_px_from_prior(x, z, model):
    """log p̂(x) = log (1/S) Σ_s p(x|z_s), for prior samples z of shape (S, K): a number."""
    # your turn: the Monte Carlo estimate log (1/S) Σ_s p(x|z_s) from prior samples z (section 3)
    ### BEGIN SOLUTION
    logvar_x = np.full(x.shape[-1], np.log(model.sigma2))
    log_w = gaussian_log_density(x, z @ model.W.T + model.b, logvar_x)    # (S,)  log p(x|z_s)
    return logmeanexp(log_w)
    ### END SOLUTION


def log_lik_by_hand(x, z, W, b, var):
    """log N(x; Wz + b, var I) for each row of z, written out: (S,)."""
    r = x - z @ W.T - b                                                    # (S, D)
    return -0.5 * (x.size * np.log(2 * np.pi * var) + np.sum(r * r, axis=1) / var)


S_check = 1000
z_check = L.rng_for("your turn: Monte Carlo p(x)").standard_normal((S_check, 1))   # (S, 1)  z ~ p(z)
ll = log_lik_by_hand(x[0], z_check, model.W, model.b, model.sigma2)                # (S,)
grade("the Monte Carlo estimate of log p(x) from the prior", log_px_from_prior(x[0], z_check, model),
      np.log(np.mean(np.exp(ll))), mistakes=[
          (np.log(np.sum(np.exp(ll))), "your estimate is log S too large: average the S likelihoods "
                                       "(divide by S, or use logmeanexp), do not sum them"),
          (np.mean(ll), "you averaged log p(x|z_s); the estimate is the log of the average of p(x|z_s) "
                        "(logmeanexp of the log-likelihoods). By Jensen the average of logs is lower"),
          (np.log(np.mean(np.exp(log_lik_by_hand(x[0], z_check, model.W, model.b, np.sqrt(model.sigma2))))),
           "p(x|z) has variance σ² = model.sigma2, so logvar = log(model.sigma2), not log of its square root"),
          (np.log(np.mean(np.exp(log_lik_by_hand(x[0], z_check, model.W, 0.0, model.sigma2)))),
           "the mean of p(x|z) is Wz + b: the offset b is missing"),
      ], hint="log p(x|z_s) = log N(x; W z_s + b, σ² I) for each sample (z @ model.W.T + model.b), then "
              "logmeanexp over the S samples")

# %%
Ks = L.size([1, 2, 4, 8, 16, 32], [1, 2, 4, 8, 16])
S = L.size(10_000, 2_000)
R = L.size(30, 10)
n_x = 5
sigma2 = 0.1
rows, cases = [], []
print(f"\n S = {S} prior samples per estimate, R = {R} estimates for each of {n_x} datapoints per model;")
print(" the columns are medians over the datapoints")
print("  K    D   log p(x)   bias(naive)  std(naive)   ESS/S")
for K in Ks:
    D = 4 * K
    model = make_model(K, D, sigma2, rng)
    X = model.sample(n_x, rng)                                    # (n_x, D)
    log_px = model.log_likelihood(X)                              # (n_x,)
    logvar_x = np.full(D, np.log(sigma2))
    est, ess = np.empty((n_x, R)), np.empty((n_x, R))
    for j, r in np.ndindex(n_x, R):
        z = rng.standard_normal((S, K))                           # (S, K)  z ~ p(z)
        log_w = gaussian_log_density(X[j], z @ model.W.T + model.b, logvar_x)  # (S,)  log p(x|z)
        est[j, r] = log_px_from_prior(X[j], z, model)             # your function, the same log_w
        w = np.exp(log_w - log_w.max())
        ess[j, r] = w.sum() ** 2 / np.sum(w * w)
    cases.append((K, model, X, log_px))
    rows.append((K, D, np.median(log_px), np.median(est.mean(1) - log_px), np.median(est.std(1)),
                 np.median(ess.mean(1)) / S))
    print(f"{K:3d} {D:4d} {rows[-1][2]:10.3f} {rows[-1][3]:12.4f} {rows[-1][4]:11.4f} {rows[-1][5]:9.2e}")

# %% [markdown]
# ## 4. Importance sampling from the exact posterior
#
# With z_s ~ q(z|x) the estimator becomes (002, eq. 9)
# p̂(x) = (1/S) Σ p(x, z_s)/q(z_s|x). If q is the exact posterior,
# p(x, z)/p(z|x) = p(x) for *every* z (Bayes' rule), so every weight equals
# p(x): the estimate is exact with zero variance, even with S = 1.
#
# To sample q = N(m, Σ) we write z = m + Lε with Σ = LLᵀ (Cholesky) and
# ε ~ N(0, I); its density follows by change of variables (lesson 5):
# log q(z) = log N(ε; 0, I) − Σ_i log L_ii. The same models and datapoints as
# section 3, S samples per datapoint:

# %%
is_errors = []
for K, model, X, log_px in cases:
    logvar_x = np.full(4 * K, np.log(sigma2))
    m, cov = model.posterior(X)                                   # (n_x, K), (K, K)
    chol = np.linalg.cholesky(cov)                                # (K, K)
    eps = rng.standard_normal((S, n_x, K))                        # (S, n_x, K)
    zq = m + eps @ chol.T                                         # (S, n_x, K)  z ~ p(z|x)
    log_joint = gaussian_log_density(X, zq @ model.W.T + model.b, logvar_x) \
        + gaussian_log_density(zq, 0.0, np.zeros(K))              # (S, n_x)  log p(x|z) + log p(z)
    log_q = gaussian_log_density(eps, 0.0, np.zeros(K)) - np.log(np.diag(chol)).sum()  # (S, n_x)  log q(z|x)
    is_errors.append(np.abs(log_joint - log_q - log_px).max())
    check(f"K={K}: every posterior-IS weight log p(x,z)/q(z|x) equals log p(x)", log_joint - log_q,
          np.broadcast_to(log_px, (S, n_x)), atol=1e-8)
rows = np.array([row + (e,) for row, e in zip(rows, is_errors)])

# %% [markdown]
# The claims, asserted: in one latent dimension the naive estimate is fine
# (within 0.05 nats); at the largest dimension it is off by more than 3 nats,
# its spread has grown more than thirtyfold, and fewer than ten samples' worth
# of weight carry the estimate (the table above has this run's numbers).

# %%
bias, spread, ess_frac = rows[:, 3], rows[:, 4], rows[:, 5]
check("K=1: naive estimate is accurate", bias[0], 0.0, atol=0.05)
check_that("K=1: a good fraction of prior samples count", ess_frac[0] > 0.05, f"ESS/S = {ess_frac[0]:.3f}")
check_that(f"K={Ks[-1]}: naive estimate is biased low by > 3 nats", bias[-1] < -3, f"bias = {bias[-1]:.2f}")
check_that(f"K={Ks[-1]}: its spread is > 30x that at K=1", spread[-1] > 30 * spread[0],
           f"{spread[-1]:.3g} vs {spread[0]:.3g}")
check_that(f"K={Ks[-1]}: effectively a handful of samples", ess_frac[-1] * S < 10,
           f"ESS = {ess_frac[-1] * S:.2f} of {S}")

fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
axes[0].semilogy(rows[:, 1], np.abs(bias), "o-", label="|bias| of log p̂(x), prior sampling")
axes[0].semilogy(rows[:, 1], spread, "s-", label="std of log p̂(x), prior sampling")
axes[0].semilogy(rows[:, 1], np.maximum(rows[:, 6], 1e-16), "^-", label="max error, posterior IS")
axes[0].set(xlabel="data dimension D (K = D/4 latents)", ylabel="nats", title=f"Estimating log p(x), S = {S}")
axes[0].legend(fontsize=8)
axes[1].semilogy(rows[:, 1], ess_frac * S, "o-")
axes[1].axhline(S, color="k", ls=":", label="S (all samples useful)")
axes[1].set(xlabel="data dimension D", ylabel="effective sample size", title="Prior samples that matter")
axes[1].legend(fontsize=8)
L.savefig(fig, "01_prior_sampling_vs_dimension")

# %% [markdown]
# ## Summary
#
# - A latent variable model generates x by pushing noise through a function;
#   x = −ln z turns Unif(0, 1) noise into Exp(1) (004's x = ln z lacks the
#   minus sign and produces only negative numbers).
# - Its density is the marginal p(x) = ∫ p(x|z) p(z) dz. For pPCA it is
#   N(b, WWᵀ + σ²I), which we confirmed by quadrature.
# - Estimating it with prior samples works in one dimension and fails as the
#   dimension grows: p(x|z) ≈ 0 for almost every z (004, *VAE Likelihood*).
# - Importance sampling with weights p(x, z)/q(z|x) is correct for any q; with
#   q the exact posterior every weight *is* p(x). A VAE's encoder is a learned
#   q that tries to get close to that.
#
# ## Exercises
#
# Worked solutions, which run and assert their answers: `solutions_01.py`.
#
# 1. Use x = F⁻¹(z) to generate a Cauchy variable (F⁻¹(u) = tan(π(u − ½)))
#    and explain why the moment check of section 1 cannot be used for it.
# 2. Replace the exact posterior in section 4 by N(m, c·Σ_post) for c = 0.5,
#    2 and 10. How do the spread and the bias of the estimate change with c,
#    and why is c < 1 worse than c > 1?
# 3. Keep K = 2 fixed and let D grow with W ~ N(0, 1). Predict from the
#    posterior covariance σ²M⁻¹ how the ESS of prior sampling should scale
#    with D, then check it.
