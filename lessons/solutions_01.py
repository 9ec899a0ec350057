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
# # Worked solutions — Lesson 1 (latent variable models)
#
# Try the exercises at the end of `01_latent_variable_models.py` first. Each
# answer below computes what it claims and asserts it, as the lessons do.

# %%
import numpy as np
from scipy.integrate import trapezoid
from scipy.special import digamma, polygamma

from _lesson import setup, check, check_that
from numvae.ppca import PPCA

L = setup("Solutions to lesson 1")
rng = L.rng

# %% [markdown]
# ## Exercise 1 — a Cauchy variable from uniform noise
#
# F(x) = ½ + arctan(x)/π, so F⁻¹(u) = tan(π(u − ½)). The moment check of
# section 1 cannot work: the Cauchy distribution has no mean (∫|x| p(x) dx
# diverges), and the mean of n Cauchy samples is again standard Cauchy — it
# does not settle as n grows. We show both: the samples pass a KS test against
# F, and 2000 means of n = 1000 samples each are themselves standard Cauchy.

# %%
def ks_to_cauchy(x):
    x = np.sort(x)
    F = 0.5 + np.arctan(x) / np.pi
    i = np.arange(1, x.size + 1)
    return max(np.max(i / x.size - F), np.max(F - (i - 1) / x.size))


n = L.size(100_000, 20_000)
x = np.tan(np.pi * (rng.uniform(size=n) - 0.5))
check_that("tan(π(u − ½)) is Cauchy (KS, level 0.001)", ks_to_cauchy(x) < 1.95 / np.sqrt(n),
           f"D = {ks_to_cauchy(x):.4f}")
means = np.tan(np.pi * (rng.uniform(size=(2000, 1000)) - 0.5)).mean(axis=1)
check_that("means of 1000 samples are still standard Cauchy: averaging does not help",
           ks_to_cauchy(means) < 1.95 / np.sqrt(2000), f"D = {ks_to_cauchy(means):.4f}")

# %% [markdown]
# ## Exercise 2 — a proposal N(m, c·Σ_post) instead of the posterior
#
# With target p(z|x) = N(m, Σ) and proposal q = N(m, cΣ), the normalized weight
# w/p(x) = p(z|x)/q(z) has, per latent dimension, E_q[(p/q)²] = c/√(2c − 1),
# so Var(w)/p(x)² = (c/√(2c − 1))^K − 1 (whiten by Σ: one 1-D Gaussian integral
# per dimension). It is finite only for c > ½: a proposal *narrower* than the
# target misses its tails, and the rare samples there get huge weights — the
# variance is infinite at c = ½ and below, which is why c < 1 is worse than
# c > 1 (where the cost grows only polynomially, (c/√(2c−1))^K).

# %%
K, D, sigma2 = 4, 16, 0.1
W = rng.standard_normal((D, K)) / np.sqrt(K)
model = PPCA.from_params(W, rng.standard_normal(D), sigma2)
x = model.sample(1, rng)
m, cov = model.posterior(x)
chol = np.linalg.cholesky(cov)
S = L.size(200_000, 50_000)
for c in (2.0, 10.0):
    eps = rng.standard_normal((S, K))
    # z = m + √c L ε; p(z|x)/q(z) = N(√c ε; 0, I)/[N(ε; 0, I) c^{-K/2}] in whitened coordinates
    log_w = -0.5 * c * np.sum(eps ** 2, 1) + 0.5 * np.sum(eps ** 2, 1) + 0.5 * K * np.log(c)
    w2 = np.exp(2 * log_w)
    rel_var = w2.mean() - 1
    check(f"c = {c:g}: Var(w)/p(x)² (Monte Carlo) = (c/√(2c−1))^K − 1 (5 SE)", rel_var,
          (c / np.sqrt(2 * c - 1)) ** K - 1, atol=5 * w2.std() / np.sqrt(S))
# Below c = 1/2 the integral itself diverges. Per whitened dimension, with p = N(0, 1) and
# q = N(0, c), the integrand of E_q[(p/q)²] = ∫ p²/q du is √c/√(2π) · exp(−u²(1 − 1/(2c))):
# at c = ½ it is the constant 1/(2√π), so ∫ over [−T, T] is T/√π and grows without bound;
# for c = 2 it converges to c/√(2c − 1). By quadrature on growing ranges:
def second_moment(c, T, n=200_001):
    u = np.linspace(-T, T, n)
    log_p = -0.5 * (u ** 2 + np.log(2 * np.pi))
    log_q = -0.5 * (u ** 2 / c + np.log(2 * np.pi * c))
    return trapezoid(np.exp(2 * log_p - log_q), u)


Ts = np.array([10.0, 100.0, 1000.0])
print("∫_{-T}^{T} p²/q du for T =", Ts, ": c = 2:", np.round([second_moment(2.0, T) for T in Ts], 6),
      " c = ½:", np.round([second_moment(0.5, T) for T in Ts], 3))
check("c = 2: the integral converges to c/√(2c − 1)", [second_moment(2.0, T) for T in Ts],
      np.full(len(Ts), 2 / np.sqrt(3)), atol=1e-9)
check("c = ½: the integral over [−T, T] is T/√π — it grows without bound", [second_moment(0.5, T) for T in Ts],
      Ts / np.sqrt(np.pi), rtol=1e-9)

# %% [markdown]
# ## Exercise 3 — ESS of prior sampling as D grows, K = 2, W ~ N(0, 1)
#
# As a function of z, p(x|z) ∝ N(z; ẑ, Λ) with Λ = σ²(WᵀW)⁻¹ ≈ (σ²/D) I.
# The ESS fraction of prior samples is (E_p[p(x|z)])²/E_p[p(x|z)²], and with
# E_p[N(z; ẑ, Λ)] = N(ẑ; 0, I + Λ) and E_p[N(z; ẑ, Λ)²] = N(ẑ; 0, I + Λ/2)/((4π)^{K/2}|Λ|^{1/2})
# it is ∝ |Λ|^{1/2} ∝ D^{−K/2} = 1/D: twice the pixels, half the useful samples.

# %%
def log_normal(a, cov):
    return -0.5 * (len(a) * np.log(2 * np.pi) + np.linalg.slogdet(cov)[1] + a @ np.linalg.solve(cov, a))


Ds = np.array([20, 40, 80, 160])
predicted, measured, rel_se = [], [], []
for D_ in Ds:
    W2 = rng.standard_normal((D_, 2))
    m2 = PPCA.from_params(W2, np.zeros(D_), sigma2)
    x2 = m2.sample(1, rng)[0]
    Lam = sigma2 * np.linalg.inv(W2.T @ W2)
    z_hat = np.linalg.solve(W2.T @ W2, W2.T @ x2)
    log_ess = 2 * log_normal(z_hat, np.eye(2) + Lam) - log_normal(z_hat, np.eye(2) + Lam / 2) \
        + np.log(4 * np.pi) + 0.5 * np.linalg.slogdet(Lam)[1]
    predicted.append(np.exp(log_ess))
    # log p(x|z) up to a constant, −‖x − Wz‖²/(2σ²), expanded so that a draw costs O(K²), not
    # O(D): millions of prior draws, so that even at D = 160 some hundreds of them count.
    # Shifted by its maximum over z (least squares), so every weight is ≤ 1.
    G, Wx = W2.T @ W2, W2.T @ x2
    top = -0.5 * np.sum((x2 - W2 @ z_hat) ** 2) / sigma2
    moments = np.zeros(4)                                          # Σ w, Σ w², Σ w³, Σ w⁴
    S_total = L.size(16_000_000, 2_000_000)
    for _ in range(S_total // 1_000_000):
        z = rng.standard_normal((1_000_000, 2))
        log_lik = -0.5 * (x2 @ x2 - 2 * z @ Wx + np.einsum("sk,kl,sl->s", z, G, z)) / sigma2
        w = np.exp(log_lik - top)
        moments += [w.sum(), (w * w).sum(), (w ** 3).sum(), (w ** 4).sum()]
    m1, m2, m3, m4 = moments / S_total
    measured.append(m1 ** 2 / m2)
    # Delta method for m1²/m2: its relative error is 2 δm1/m1 − δm2/m2.
    rel_var = 4 * (m2 - m1 ** 2) / m1 ** 2 + (m4 - m2 ** 2) / m2 ** 2 - 4 * (m3 - m1 * m2) / (m1 * m2)
    rel_se.append(np.sqrt(rel_var / S_total))
predicted, measured, rel_se = np.array(predicted), np.array(measured), np.array(rel_se)
print("D:", Ds, "\nESS/S predicted:", predicted.round(6), "\nESS/S measured: ", measured.round(6),
      "\nrelative SE:    ", rel_se.round(3))
check("measured ESS/S = the closed form (5 SE, delta method)", measured, predicted, atol=5 * rel_se * predicted)
# The D-dependence sits in |Λ|^{1/2}: WᵀW ≈ D·I for W ~ N(0, 1), so |Λ|^{1/2} ≈ σ²/D. (The
# other factor depends on where ẑ falls under the prior, which varies from draw to draw.)
Ds_wide, n_W = np.array([20, 80, 320, 1280, 5120]), 50       # a wide range, 50 draws of W at each d
sqrt_det = [np.mean([0.5 * np.linalg.slogdet(sigma2 * np.linalg.inv(Wd.T @ Wd))[1]
                     for Wd in rng.standard_normal((n_W, d, 2))]) for d in Ds_wide]
slope = np.polyfit(np.log(Ds_wide), sqrt_det, 1)[0]
# WᵀW is Wishart(d, I₂): E log|WᵀW| = ψ(d/2) + ψ((d − 1)/2) + 2 log 2, Var = ψ′(d/2) + ψ′((d − 1)/2),
# so the fitted slope (a fixed linear combination c of the five means) has a known mean and SE.
u = np.log(Ds_wide)
c = (u - u.mean()) / np.sum((u - u.mean()) ** 2)               # slope = c · values
mean_vals = 0.5 * (2 * np.log(sigma2) - digamma(Ds_wide / 2) - digamma((Ds_wide - 1) / 2) - 2 * np.log(2))
var_vals = 0.25 * (polygamma(1, Ds_wide / 2) + polygamma(1, (Ds_wide - 1) / 2)) / n_W
slope_mean, slope_se = c @ mean_vals, np.sqrt(c ** 2 @ var_vals)
print(f"slope of log|Λ|^(1/2) against log D: {slope:.3f}; its expectation {slope_mean:.4f} ± {slope_se:.3f}")
check("|Λ|^{1/2}, the factor of ESS/S that carries D, falls like D^(−K/2) = 1/D: the fitted slope (5 SE)",
      slope, slope_mean, atol=5 * slope_se)
# (ψ(a) = log a − 1/(2a) + O(a⁻²): the 1/d terms tilt the exact slope from −1 by ~1/(20 · ln 256) ≈ 0.01.)
check("…whose expectation is −K/2 = −1 up to ψ's 1/d terms (exact, no sampling)", slope_mean, -1.0, atol=0.02)
