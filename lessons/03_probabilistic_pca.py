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
# # Lesson 3 — Probabilistic PCA: a latent variable model solved by hand
#
# **What this lesson derives.** The pPCA model x = Wz + b + ε, its marginal
# p(x) = N(b, WWᵀ + σ²I) and its exact posterior p(z|x), by conditioning the
# joint Gaussian of (z, x). We correct the posterior covariance printed on the
# slide, fit the model in closed form and by EM, look at what it learns on
# handwritten digits, and show that W is only defined up to a rotation.
#
# **Lectures followed.**
# - 002_b4c24ccd2e75c8da.txt, *Probabilistic Principal Component Analysis*:
#   p(z) = N(0, I), x = Wz + b + ε, ε ~ N(0, σ²I), p(x|z) = N(Wz + b, σ²I).
# - 002, *Explicit computation of the marginal likelihood*: p(x) = N(b, WWᵀ + σ²I)
#   and p(z|x) = N(M⁻¹Wᵀ(x − μ), **σ⁻²M**), M = WᵀW + σ²I. The covariance is
#   wrong: it is **σ²M⁻¹** (Bishop PRML eq. 12.42); σ⁻²M is its inverse, the
#   posterior *precision*. The slide's mean also writes μ for b, and the deck
#   uses M both for the latent dimension and for this matrix; here the latent
#   dimension is K.
# - 002, *Advantages and drawbacks of the pPCA*: "we can calculate everything
#   by hand" — which is what makes pPCA the yardstick for the VAE (lesson 4).
#
# **Take-away.** In a linear Gaussian model the integral p(x) = ∫p(x|z)p(z)dz
# and the posterior are closed-form Gaussians; the ML solution is an
# eigen-decomposition, EM climbs to it monotonically, and the latent axes are
# arbitrary up to rotation.

# %%
import numpy as np
import matplotlib.pyplot as plt

from _lesson import setup, check, check_that, grade, YourTurn  # noqa: F401  (YourTurn: the student version's stubs)
from numvae.data import load_digits, make_ppca_data
from numvae.distributions import gaussian_log_density, kl_gaussians
from numvae.ppca import PPCA

L = setup("Lesson 3: probabilistic PCA")
rng = L.rng

# %% [markdown]
# ## 1. The model and its marginal
#
# A true model with D = 6, K = 2. Since x = Wz + b + ε is a linear map of
# the Gaussian vector (z, ε), x is Gaussian with
#
# $$E[x] = b,\qquad \operatorname{cov}(x) = W\,\operatorname{cov}(z)\,W^\top + \operatorname{cov}(\varepsilon) = WW^\top + \sigma^2 I =: C .$$
#
# We sample it with `numvae.data.make_ppca_data` and compare the sample
# covariance with C, entry by entry, within 5 standard errors
# (the SE of a sample covariance entry is √((C_ii C_jj + C_ij²)/N)).

# %%
D, K, sigma2_true = 6, 2, 0.2
W_true = rng.standard_normal((D, K))
b_true = rng.standard_normal(D)
C_true = W_true @ W_true.T + sigma2_true * np.eye(D)               # (D, D)
N = L.size(100_000, 20_000)
X, Z = make_ppca_data(N, W_true, b_true, sigma2_true, rng, return_latents=True)   # (N, D), (N, K)
S_sample = np.cov(X, rowvar=False, bias=True)
se = np.sqrt((np.outer(np.diag(C_true), np.diag(C_true)) + C_true ** 2) / N)
check("sample covariance of x = Wz + b + ε vs WW^T + σ²I (5 SE)", S_sample, C_true, atol=5 * se)
check("sample mean of x vs b (5 SE)", X.mean(0), b_true, atol=5 * np.sqrt(np.diag(C_true) / N))

# %% [markdown]
# The library's `log_likelihood` never forms the D × D matrix C; it uses
# two identities with the K × K matrix M = WᵀW + σ²I:
#
# - matrix determinant lemma: log|C| = (D − K) log σ² + log|M|,
# - Woodbury: C⁻¹ = σ⁻²(I − W M⁻¹ Wᵀ).
#
# We write both out, and compare the fused library value with the plain
# Gaussian log-density of N(b, C).

# %%
true_model = PPCA.from_params(W_true, b_true, sigma2_true)
M = W_true.T @ W_true + sigma2_true * np.eye(K)                    # (K, K)
check("determinant lemma: log|C| = (D−K) log σ² + log|M|", np.linalg.slogdet(C_true)[1],
      (D - K) * np.log(sigma2_true) + np.linalg.slogdet(M)[1], atol=1e-10)
check("Woodbury: C⁻¹ = σ⁻²(I − W M⁻¹ W^T)", np.linalg.inv(C_true),
      (np.eye(D) - W_true @ np.linalg.solve(M, W_true.T)) / sigma2_true, atol=1e-10)
x5 = X[:5]
R5 = x5 - b_true
log_px_hand = -0.5 * (D * np.log(2 * np.pi) + np.linalg.slogdet(C_true)[1]
                      + np.sum(R5 * np.linalg.solve(C_true, R5.T).T, axis=1))
check("PPCA.log_likelihood vs log N(x; b, C) written out", true_model.log_likelihood(x5), log_px_hand, atol=1e-10)

# %% [markdown]
# ## 2. The posterior, by conditioning the joint Gaussian — and the slide error
#
# (z, x) is jointly Gaussian with mean (0, b) and covariance
#
# $$\begin{bmatrix} I & W^\top \\ W & C \end{bmatrix}
#   \quad(\operatorname{cov}(z, x) = E[z(Wz + \varepsilon)^\top] = W^\top).$$
#
# The Gaussian conditioning formulas give
# E[z|x] = WᵀC⁻¹(x − b) and cov(z|x) = I − WᵀC⁻¹W. With Woodbury and
# WᵀW = M − σ²I these become
#
# $$E[z|x] = M^{-1}W^\top(x-b), \qquad \operatorname{cov}(z|x) = \sigma^2 M^{-1}.$$
#
# The slide prints σ⁻²M. We compare all three numerically.

# %%
Cinv = np.linalg.inv(C_true)
mean_cond = (x5 - b_true) @ (W_true.T @ Cinv).T                    # (5, K)  W^T C^-1 (x - b)
cov_cond = np.eye(K) - W_true.T @ Cinv @ W_true                   # (K, K)  I - W^T C^-1 W
post_mean, post_cov = true_model.posterior(x5)
cov_slide = M / sigma2_true                                        # 002's σ⁻² M
print("cov(z|x) by conditioning:\n", cov_cond)
print("σ² M⁻¹ (library):\n", post_cov)
print("σ⁻² M (slide 002):\n", cov_slide)
check("posterior mean: conditioning vs M⁻¹W^T(x − b) (library)", post_mean, mean_cond, atol=1e-10)
check("posterior covariance: conditioning vs σ²M⁻¹ (library)", post_cov, cov_cond, atol=1e-10)
check_that("the slide's σ⁻²M is not the posterior covariance",
           np.abs(cov_slide - cov_cond).max() > 1.0, f"max |difference| = {np.abs(cov_slide - cov_cond).max():.3g}")
check("the slide's σ⁻²M is the posterior precision: (σ²M⁻¹)⁻¹", np.linalg.inv(post_cov), cov_slide, rtol=1e-10)

# %% [markdown]
# **Your turn.** Write the posterior with the K × K matrix M, as the library
# does: given rows x (shape (N, D)), W (shape (D, K)), b and σ², return
# E[z|x] for each row (shape (N, K)) and cov(z|x) (shape (K, K), the same for
# every x). It is graded against the conditioning formulas above, which never
# form M.

# %%
def ppca_posterior(x, W, b, sigma2):
    """p(z|x) of pPCA: (mean of shape (N, K), covariance of shape (K, K)) via M = WᵀW + σ²I."""
    # your turn: E[z|x] = M⁻¹Wᵀ(x − b) per row and cov(z|x) = σ²M⁻¹, with M = WᵀW + σ²I (section 2)
    ### BEGIN SOLUTION
    M = W.T @ W + sigma2 * np.eye(W.shape[1])                      # (K, K)
    mean = np.linalg.solve(M, W.T @ (x - b).T).T                   # (N, K)  M⁻¹Wᵀ(x − b)
    return mean, sigma2 * np.linalg.inv(M)                         # (N, K), (K, K)
    ### END SOLUTION


my_mean, my_cov = ppca_posterior(x5, W_true, b_true, sigma2_true)
M_without_s2 = W_true.T @ W_true + np.eye(K)                       # a common slip: the σ² of M forgotten
grade("the pPCA posterior covariance", my_cov, cov_cond, mistakes=[
    (cov_slide, "that is σ⁻²M, the slide's misprint: it is the posterior *precision*; the covariance is "
                "its inverse σ²M⁻¹"),
    (np.linalg.inv(M), "the factor σ² is missing: cov(z|x) = σ²M⁻¹, not M⁻¹"),
    (sigma2_true * M, "σ²M is not inverted: cov(z|x) = σ² M⁻¹"),
    (sigma2_true * np.linalg.inv(M_without_s2), "M = WᵀW + σ²I: the σ²I inside M is missing"),
], hint="cov(z|x) = σ² M⁻¹ with M = WᵀW + σ²I (K × K)")
grade("the pPCA posterior mean", my_mean, mean_cond, mistakes=[
    (x5 @ np.linalg.solve(M, W_true.T).T, "b is not subtracted: E[z|x] = M⁻¹Wᵀ(x − b)"),
    ((x5 - X.mean(0)) @ np.linalg.solve(M, W_true.T).T,
     "you subtracted the data's mean; the model's offset is b (the slide's μ), not a sample mean"),
    ((x5 - b_true) @ np.linalg.solve(M_without_s2, W_true.T).T, "M = WᵀW + σ²I: the σ²I inside M is missing"),
    ((x5 - b_true) @ W_true, "M⁻¹ is missing: E[z|x] = M⁻¹Wᵀ(x − b), not Wᵀ(x − b)"),
], hint="E[z|x] = M⁻¹Wᵀ(x − b) for each row: with rows, (x − b) @ W @ M⁻ᵀ, or np.linalg.solve(M, W.T @ (x − b).T).T")

# %% [markdown]
# Two more checks that need no algebra at all.
#
# **Simulation.** We kept the latents z that generated each x. If the
# posterior is right, z − E[z|x] has covariance cov(z|x) (the posterior
# covariance does not depend on x here, so we can pool over all datapoints).
#
# **Bayes' rule, pointwise.** log p(z|x) = log p(x|z) + log p(z) − log p(x) for
# every z; the density with covariance σ²M⁻¹ satisfies it, the slide's does not.

# %%
resid = Z - true_model.posterior(X)[0]                             # (N, K)  z - E[z|x]
emp_cov = resid.T @ resid / N
se = np.sqrt((np.outer(np.diag(post_cov), np.diag(post_cov)) + post_cov ** 2) / N)
print("empirical cov of z − E[z|x] from the simulation:\n", emp_cov)
check("simulated cov(z − E[z|x]) = σ²M⁻¹ (5 SE)", emp_cov, post_cov, atol=5 * se)

zs = rng.standard_normal((8, K))
x1 = x5[:1]
bayes = (gaussian_log_density(x1, zs @ W_true.T + b_true, np.full(D, np.log(sigma2_true)))
         + gaussian_log_density(zs, 0.0, np.zeros(K)) - true_model.log_likelihood(x1))   # (8,)


def mvn_log_density(z, mean, cov):
    chol = np.linalg.cholesky(cov)
    eps = np.linalg.solve(chol, (z - mean).T).T
    return gaussian_log_density(eps, 0.0, np.zeros(len(mean))) - np.log(np.diag(chol)).sum()


check("Bayes: log N(z; E[z|x], σ²M⁻¹) = log p(x|z) + log p(z) − log p(x)",
      mvn_log_density(zs, post_mean[0], post_cov), bayes, atol=1e-10)
err_slide = np.abs(mvn_log_density(zs, post_mean[0], cov_slide) - bayes).max()
check_that("with the slide's σ⁻²M, Bayes' rule fails", err_slide > 1.0, f"max error {err_slide:.3g} nats")

# %% [markdown]
# **The limit σ² → 0.** Without noise, x pins z down exactly (W has full
# column rank), so the posterior covariance must vanish: σ²M⁻¹ → 0, whereas
# σ⁻²M blows up.

# %%
# Each σ² is checked against cov(z|x) = I − WᵀC⁻¹W by conditioning, with C formed and
# inverted as a D × D matrix (not through M), and the limit against tr((WᵀW)⁻¹), which
# knows nothing of M: σ²M⁻¹ = σ²(WᵀW)⁻¹ − σ⁴(WᵀW)⁻² + …, so tr(σ²M⁻¹)/σ² → tr((WᵀW)⁻¹).
print("   σ²   tr cov(z|x) (conditioning)   tr(σ²M⁻¹)     tr(σ⁻²M)")
s2_list = np.array([1.0, 0.1, 0.01, 0.001])
WtW = W_true.T @ W_true
traces = []
for s2 in s2_list:
    Ms = WtW + s2 * np.eye(K)
    cov_by_conditioning = np.eye(K) - W_true.T @ np.linalg.solve(W_true @ W_true.T + s2 * np.eye(D), W_true)
    cov_lib = PPCA.from_params(W_true, b_true, s2).posterior(x5[:1])[1]
    check(f"σ² = {s2:g}: library σ²M⁻¹ = I − WᵀC⁻¹W by conditioning", cov_lib, cov_by_conditioning,
          atol=1e-10)
    traces.append((np.trace(cov_by_conditioning), np.trace(s2 * np.linalg.inv(Ms)), np.trace(Ms / s2)))
    print(f"{s2:7.3f} {traces[-1][0]:22.6f} {traces[-1][1]:16.6f} {traces[-1][2]:12.1f}")
traces = np.array(traces)
check("as σ² → 0 the posterior covariance vanishes like σ² tr((WᵀW)⁻¹)", traces[-1, 0] / s2_list[-1],
      np.trace(np.linalg.inv(WtW)), rtol=0.01)
check_that("…while the slide's σ⁻²M grows without bound: 1000× the true trace at σ² = 1e-3, and growing",
           np.all(np.diff(traces[:, 2] / traces[:, 0]) > 0) and traces[-1, 2] > 1000 * traces[-1, 0],
           f"ratio {traces[-1, 2] / traces[-1, 0]:.3g}")

fig, axes = plt.subplots(1, 2, figsize=(10, 5))
t = np.linspace(0, 2 * np.pi, 200)
circle = np.stack([np.cos(t), np.sin(t)])                          # (2, 200) unit circle
for ax, lim in zip(axes, (4 * np.sqrt(post_cov.diagonal().max()), 2.5 * np.sqrt(cov_slide.diagonal().max()))):
    ax.scatter(resid[:3000, 0], resid[:3000, 1], s=2, alpha=0.3, color="0.5", label="z − E[z|x] (simulation)")
    for cov, style, name in ((post_cov, "C0", "2-sd ellipse of σ²M⁻¹ (correct)"),
                             (cov_slide, "C3--", "2-sd ellipse of σ⁻²M (slide 002)")):
        e = 2 * np.linalg.cholesky(cov) @ circle
        ax.plot(e[0], e[1], style, lw=2, label=name)
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xlabel="z₁", ylabel="z₂")
axes[0].set_title("Posterior spread: simulation vs σ²M⁻¹")
axes[1].set_title("Zoomed out: the slide's σ⁻²M")
axes[1].legend(fontsize=8, loc="upper right")
L.savefig(fig, "03_posterior_covariance")

# %% [markdown]
# ## 3. Fitting: closed form and EM
#
# **Closed form** (Tipping & Bishop 1999; PRML eqs. 12.45–12.46). With b the
# data mean, S the (1/N) sample covariance, λ₁ ≥ … ≥ λ_D its eigenvalues and
# U_K the top K eigenvectors:
#
# $$\sigma^2_{ML} = \frac{1}{D-K}\sum_{i>K}\lambda_i,\qquad W_{ML} = U_K(\Lambda_K - \sigma^2 I)^{1/2} R$$
#
# for any orthogonal R: the noise is the average variance the K components
# leave out. We write it with `eigh` and compare with the library's `fit`
# (which uses an SVD of the data), through WWᵀ since W itself is only defined
# up to R and signs.
#
# **EM** (PRML eqs. 12.54–12.57) alternates the posterior statistics E[z|x],
# E[zzᵀ|x] (E step) with the W, σ² that maximize the expected complete-data
# log-likelihood (M step). It never decreases log p(X), and converges to the
# same solution.

# %%
Xfit = X[: L.size(20_000, 5_000)]
cf = PPCA(K).fit(Xfit)
Xc = Xfit - Xfit.mean(0)
lam, U = np.linalg.eigh(Xc.T @ Xc / len(Xfit))                    # ascending
lam, U = lam[::-1], U[:, ::-1]
s2_hand = lam[K:].mean()
W_hand = U[:, :K] * np.sqrt(lam[:K] - s2_hand)
check("closed form σ² = mean of the discarded eigenvalues (library vs by hand)", cf.sigma2, s2_hand, rtol=1e-10)
check("closed form WW^T (library vs by hand)", cf.W @ cf.W.T, W_hand @ W_hand.T, atol=1e-10)
check("fitted WW^T recovers the true WW^T (sampling error)", cf.W @ cf.W.T, W_true @ W_true.T,
      atol=0.1 * np.abs(W_true @ W_true.T).max())
check("fitted σ² recovers the true σ²", cf.sigma2, sigma2_true, rtol=0.05)

# %% [markdown]
# EM on the digits (D = 64, 1797 images of 8 × 8 pixels in [0, 1]), from a
# random start, against the closed form.

# %%
Xd, yd = load_digits()
Kd = L.size(16, 8)
cf_d = PPCA(Kd).fit(Xd)
em_d = PPCA(Kd, method="em", random_state=L.seed, max_iter=5000, tol=1e-10).fit(Xd)
hist = em_d.history_
print(f"digits, K = {Kd}: closed form {cf_d.score(Xd):.6f} nats/image; EM {em_d.score(Xd):.6f} "
      f"after {em_d.n_iter_} iterations (started at {hist[0]:.3f})")
check_that("EM: the log-likelihood never decreases", np.all(np.diff(hist) >= -1e-9),
           f"smallest step {np.diff(hist).min():.3g}")
check("EM converges to the closed-form log-likelihood", em_d.score(Xd), cf_d.score(Xd), atol=1e-5)
check("EM's WW^T = closed form's", em_d.W @ em_d.W.T, cf_d.W @ cf_d.W.T, atol=1e-3)
check("EM's σ² = closed form's", em_d.sigma2, cf_d.sigma2, rtol=1e-4)
check_that("EM's W is not the closed form's W (a different rotation)", np.abs(em_d.W - cf_d.W).max() > 0.1,
           f"max |W_em − W_cf| = {np.abs(em_d.W - cf_d.W).max():.3g}")

fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
axes[0].plot(np.arange(len(hist)), hist, "C0.-", ms=3, label="EM")
axes[0].axhline(cf_d.score(Xd), color="k", ls=":", label="closed form")
axes[0].set(xlabel="EM iteration", ylabel="mean log p(x) (nats/image)", title=f"EM on digits, K = {Kd}",
            ylim=(hist[1] - 5, cf_d.score(Xd) + 2))
axes[0].legend()
axes[1].semilogy(np.arange(len(hist)), np.maximum(cf_d.score(Xd) - hist, 1e-12), "C0.-", ms=3)
axes[1].set(xlabel="EM iteration", ylabel="closed form − EM (nats/image)", title="Distance to the ML solution")
L.savefig(fig, "03_em_vs_closed_form")

# %% [markdown]
# ## 4. What pPCA learns on digits
#
# The mean b and the columns of W are images. With the closed form, the
# columns are the principal directions scaled by √(λ_k − σ²). Samples
# x = Wz + b + ε look like blurred digits plus pixel noise; the
# reconstructions W E[z|x] + b use the posterior mean (shrunk towards 0 by the
# prior, PRML §12.2.1).

# %%
n_show = 8
fig, axes = plt.subplots(4, n_show, figsize=(n_show * 1.1, 4.8))
axes[0, 0].imshow(cf_d.b.reshape(8, 8), cmap="gray")
axes[0, 0].set_title("mean b", fontsize=7)
for k in range(1, n_show):
    w = cf_d.W[:, k - 1].reshape(8, 8)
    axes[0, k].imshow(w, cmap="RdBu", vmin=-np.abs(w).max(), vmax=np.abs(w).max())
    axes[0, k].set_title(f"W[:, {k - 1}]", fontsize=7)
samples = cf_d.sample(n_show, rng)
recon = cf_d.reconstruct(Xd[:n_show])
for k in range(n_show):
    axes[1, k].imshow(np.clip(samples[k], 0, 1).reshape(8, 8), cmap="gray", vmin=0, vmax=1)
    axes[2, k].imshow(Xd[k].reshape(8, 8), cmap="gray", vmin=0, vmax=1)
    axes[3, k].imshow(np.clip(recon[k], 0, 1).reshape(8, 8), cmap="gray", vmin=0, vmax=1)
for row, name in enumerate(("components", "samples", "data", "reconstructed")):
    axes[row, 0].set_ylabel(name, fontsize=8)
for a in axes.ravel():
    a.set_xticks([]), a.set_yticks([])
fig.suptitle(f"pPCA on digits, K = {Kd}, σ² = {cf_d.sigma2:.4f}", fontsize=9)
L.savefig(fig, "03_digits_components")

# %% [markdown]
# Held-out log-likelihood as K grows: the model gets better, and the noise
# variance σ² — the variance the components leave unexplained — falls. (These
# are densities of a continuous model evaluated on pixels with 17 grey
# levels, so they are comparable with each other, not with a discrete model's
# log-probabilities; dequantization is the fix, in a later lesson.)

# %%
perm = rng.permutation(len(Xd))
train, test = Xd[perm[:1400]], Xd[perm[1400:]]
Ks = [1, 2, 4, 8, 16, 32]
scores, s2s = [], []
for k in Ks:
    m = PPCA(k).fit(train)
    scores.append(m.score(test))
    s2s.append(m.sigma2)
    print(f"K = {k:2d}: held-out mean log p(x) = {scores[-1]:8.3f} nats/image, σ² = {m.sigma2:.4f}")
check_that("held-out log-likelihood improves from K = 1 to K = 16", scores[Ks.index(16)] > scores[0] + 10)
check_that("σ² decreases with K", np.all(np.diff(s2s) < 0))

# %% [markdown]
# ## 5. The rotation ambiguity
#
# For any orthogonal R (K × K), W' = WR gives W'W'ᵀ = WRRᵀWᵀ = WWᵀ, so the
# marginal p(x) — the only thing the data can see — is unchanged: the
# likelihood cannot tell W from WR. The posterior mean rotates along,
# E'[z|x] = Rᵀ E[z|x]. The latent axes of pPCA (and of a VAE with a
# rotation-invariant prior N(0, I)) mean nothing individually.

# %%
Rot, _ = np.linalg.qr(rng.standard_normal((Kd, Kd)))               # random orthogonal (K, K)
rotated = PPCA.from_params(cf_d.W @ Rot, cf_d.b, cf_d.sigma2)
# Any code that computes log p(x) through WWᵀ (or M) is rotation invariant by construction,
# so comparing the two log-likelihoods would test nothing. Sampling is not: x = (WR)z + b + ε
# pushes each z through WR itself. Its samples must have the covariance WWᵀ + σ²I of the
# unrotated model, entry by entry, within 6 SE (2080 distinct entries are compared at once).
n_rot = L.size(100_000, 20_000)
X_rot = rotated.sample(n_rot, rng)                                 # (n, D)  through W R
C_d = cf_d.W @ cf_d.W.T + cf_d.sigma2 * np.eye(Xd.shape[1])        # (D, D)  the unrotated model's
se_rot = np.sqrt((np.outer(np.diag(C_d), np.diag(C_d)) + C_d ** 2) / n_rot)
check("samples of x = (WR)z + b + ε have the unrotated covariance WW^T + σ²I (6 SE)",
      np.cov(X_rot, rowvar=False, bias=True), C_d, atol=6 * se_rot)
check("posterior means rotate: E'[z|x] = R^T E[z|x]", rotated.transform(Xd[:100]),
      cf_d.transform(Xd[:100]) @ Rot, atol=1e-10)
check_that("but W itself changed", np.abs(rotated.W - cf_d.W).max() > 0.1)
check("KL between the two posteriors of one x (rotated back) is 0",
      kl_gaussians(rotated.posterior(Xd[:1])[0] @ Rot.T, Rot @ rotated.posterior(Xd[:1])[1] @ Rot.T,
                   *cf_d.posterior(Xd[:1])), 0.0, atol=1e-10)

# %% [markdown]
# ## Summary
#
# - pPCA: p(z) = N(0, I), p(x|z) = N(Wz + b, σ²I), marginal N(b, WWᵀ + σ²I),
#   computed cheaply through M = WᵀW + σ²I (determinant lemma, Woodbury).
# - The posterior is N(M⁻¹Wᵀ(x − b), σ²M⁻¹). Slide 002 prints σ⁻²M, the
#   posterior *precision*: it fails conditioning, simulation, Bayes' rule
#   and the σ² → 0 limit.
# - ML: b = mean, σ² = mean discarded eigenvalue, W = U_K(Λ_K − σ²I)^{1/2}R;
#   EM climbs monotonically to the same likelihood, with a different R.
# - W is identifiable only up to rotation; only WWᵀ and σ² are.
#
# ## Exercises
#
# Worked solutions (exercises 1, 2 and 3), which run and assert their answers: `solutions_02_to_05.py`.
#
# 1. Derive cov(z|x) = σ²M⁻¹ a second way: complete the square in
#    log p(x|z) + log p(z) as a function of z, and read off the precision.
# 2. Show that as σ² → 0 the posterior mean M⁻¹Wᵀ(x − b) becomes the
#    least-squares solution (WᵀW)⁻¹Wᵀ(x − b), and check it numerically.
# 3. Fit pPCA to the digits with K = 2 and scatter the posterior means
#    coloured by the label. Which digits overlap? Rotate W by 45° and redraw:
#    what changed, and what did not?
