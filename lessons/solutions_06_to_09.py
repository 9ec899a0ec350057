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
# # Worked solutions — Lessons 6 to 9 (selected exercises)
#
# Try the exercises at the end of each lesson first. Each answer below
# computes what it claims and asserts it, as the lessons do.

# %%
import numpy as np

from _lesson import setup, check, check_that
from numvae.data import load_digits
from numvae.gradcheck import VAE_EPS, gradcheck
from numvae.ppca import PPCA
from numvae.vae import VAE

L = setup("Solutions to lessons 6-9")
rng = L.rng

# %% [markdown]
# ## Lesson 6, exercise 3 — the Gaussian decoder's backward
#
# log N(x; m, e^ℓ) = −½Σ_d[log 2π + ℓ_d + (x_d − m_d)² e^{−ℓ_d}], so
# ∂/∂m_d = (x_d − m_d) e^{−ℓ_d} and ∂/∂ℓ_d = ½((x_d − m_d)² e^{−ℓ_d} − 1).
# The loss is −(1/N)Σ_n rec_n + KL, so ∂loss/∂ℓ_d = −(1/N)Σ_n ½((x_nd − m_nd)² e^{−ℓ_d} − 1)
# (summed over the batch, as ℓ is shared by every datapoint). We compute it from the
# decoder's output by hand and compare with `VAE.loss_and_grads`, and check both with
# finite differences.

# %%
N, D, K = 7, 6, 3
vae = VAE(D, hidden=(5,), z_dim=K, decoder="gaussian", decoder_var="pixel", activation="tanh", seed=L.seed)
vae.params["dec.logvar"][...] = rng.normal(scale=0.3, size=D)        # not all equal, to test the broadcast
x = rng.normal(size=(N, D))
eps = rng.standard_normal((1, N, K))
mu, lv = vae.encode(x)
z = mu + np.exp(0.5 * lv) * eps[0]
m = vae.decoder.forward(z)
ell = vae.params["dec.logvar"]
dloss_dell = -np.mean(0.5 * ((x - m) ** 2 * np.exp(-ell) - 1), axis=0)   # (D,)
_, grads = vae.loss_and_grads(x, eps=eps)
check("∂loss/∂ℓ by hand = VAE.loss_and_grads['dec.logvar']", grads["dec.logvar"], dloss_dell, atol=1e-12)
report = gradcheck(lambda p: vae.loss_and_grads(x, eps=eps), vae.params, eps=VAE_EPS)
check_that("…and the library's gradient passes the finite-difference check", report.passed,
           f"largest relative error {report.max_rel_err:.2g}")

# %% [markdown]
# ## Lesson 7, exercise 4 — minibatches drawn with replacement
#
# Each of the M draws is uniform over the N points, so E[Σ_B 𝓛] = M·mean(𝓛) and
# (N/M)Σ_B is still unbiased. Its variance is N²σ²/M (σ² the population variance,
# ddof 0), against N²S²(1 − M/N)/M without replacement (S² with ddof 1): larger,
# by the finite-population factor. Checked with frozen values 𝓛_i.

# %%
Nd, M, R = 500, 50, L.size(100_000, 40_000)
vals = rng.normal(-30, 5, size=Nd)
with_repl = (Nd / M) * vals[rng.integers(0, Nd, (R, M))].sum(axis=1)
without = (Nd / M) * vals[np.argpartition(rng.random((R, Nd)), M, axis=1)[:, :M]].sum(axis=1)
check("with replacement, (N/M)Σ_B is unbiased (5 SE)", with_repl.mean(), vals.sum(),
      atol=5 * with_repl.std() / np.sqrt(R))
var_with, var_without = Nd ** 2 * vals.var() / M, Nd ** 2 * vals.var(ddof=1) * (1 - M / Nd) / M
# the SE of a sample variance of (near-)Gaussian draws is var·√(2/R)
check("its variance = N²σ²/M (5 SE)", with_repl.var(), var_with, atol=5 * var_with * np.sqrt(2 / R))
check("without replacement: N²S²(1 − M/N)/M (5 SE)", without.var(), var_without, atol=5 * var_without * np.sqrt(2 / R))
check_that("drawing with replacement costs variance", var_with > var_without,
           f"ratio {var_with / var_without:.3f}")

# %% [markdown]
# ## Lesson 9, exercise 3 — a diagonal q for pPCA with K = 2
#
# By lesson 4's exercise 1 the best diagonal q has 1/s_j² = Λ_jj, Λ = M/σ² the
# posterior precision, and leaves KL = ½[log|Σ| + Σ_j log Λ_jj]. At the ML
# solution W = U(Λ_K − σ²I)^{1/2} the columns of W are orthogonal, so M and Λ are
# diagonal: s_j² = σ²/M_jj = σ²/λ_j (λ_j the j-th eigenvalue of the data covariance)
# and the remaining KL is exactly 0 — the diagonal encoder loses nothing on pPCA.

# %%
X, _ = load_digits()
ppca = PPCA(2).fit(X)
Sigma = ppca.posterior(X[:1])[1]
Lam = np.linalg.inv(Sigma)
eigvals = np.linalg.eigvalsh(np.cov(X.T, bias=True))[::-1][:2]
check("best diagonal s_j² = 1/Λ_jj = σ²/λ_j", 1 / np.diag(Lam), ppca.sigma2 / eigvals, rtol=1e-6)
check("remaining KL to the posterior = ½[log|Σ| + Σ log Λ_jj] = 0", 0.5 * (np.linalg.slogdet(Sigma)[1]
      + np.log(np.diag(Lam)).sum()), 0.0, atol=1e-10)
