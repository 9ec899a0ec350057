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
# # Lesson 4 — The evidence lower bound (ELBO)
#
# **What this lesson derives.** For any distribution q(z|x),
#
# $$\log p(x) - KL\bigl(q(z|x)\,\|\,p(z|x)\bigr)
#   = E_q[\log p(x|z)] - KL\bigl(q(z|x)\,\|\,p(z)\bigr)
#   = E_q[\log p(x,z)] + H(q) =: \mathcal L(q),$$
#
# and since KL ≥ 0, 𝓛(q) ≤ log p(x). We follow the derivation line by line,
# evaluate the three forms on a pPCA model — where every term has a closed
# form — and see them agree to rounding error; we see the bound become an
# equality exactly at the true posterior, and measure the gap as q moves
# away from it. Last, what averaging the reconstruction over pixels instead
# of summing does to the objective: it silently reweights the KL.
#
# **Lectures followed.**
# - 000_e86e672dd89502b1.txt, *Recap of Variational Bayes*: KL(Q‖P_{Z|X})
#   expanded, "Thus we have", "Rearranging, we get" and *Recall our idea:
#   Objective*.
# - 001_42ece0b0f0700f2b.txt, *Key insight of VAE*: 𝓛(q) = E log p(z, x) + H(q)
#   = E log p(x|z) − KL(q‖p(z)) ≤ log p(x), and "maximizing this entropy term
#   encourages increasing σ".
# - 002_b4c24ccd2e75c8da.txt, *Maximization of the marginal log-likelihood*
#   (eq. 3), *KL divergence and ELBO* (eq. 4) and *Role of KL divergence and
#   ELBO*: the gap is KL(q‖p(z|x)), so it measures both the quality of q and
#   the tightness of the bound. (That slide's "maximizing the marginal
#   likelihood p_θ(z|x)" should read p_θ(x).)
# - 004_67c18b03ad8f58f7.txt, *VAE Loss*: the loss −E log p(x|z) + KL ≥ −log p(x),
#   the same statement with the sign flipped.
#
# **Take-away.** The ELBO is log p(x) minus the KL from q to the true
# posterior. Raising it either improves the model or improves q. For pPCA
# both are computable, so every VAE claim about the ELBO can be checked here
# to machine precision.

# %%
import numpy as np
import matplotlib.pyplot as plt
from scipy.optimize import minimize
from scipy.stats import multivariate_normal

from _lesson import setup, check, check_that, grade, YourTurn  # noqa: F401  (YourTurn: the student version's stubs)
from numvae.data import load_digits
from numvae.distributions import gaussian_entropy, gaussian_log_density, kl_gaussians
from numvae.ppca import PPCA

L = setup("Lesson 4: the ELBO")
rng = L.rng

# %% [markdown]
# ## 0. A model with an exact answer
#
# pPCA fitted to the digits (lesson 3): p(z) = N(0, I_K),
# p(x|z) = N(Wz + b, σ²I_D), with D = 64 pixels and K = 8 latents. For each
# of a few hundred digits we make up a Gaussian q(z|x) = N(m, S) that is
# deliberately wrong: the exact posterior mean plus noise of about one
# posterior standard deviation, and a random covariance of the posterior's
# overall size but the wrong shape.

# %%
X_all, _ = load_digits()
K = 8
model = PPCA(K).fit(X_all)
D = X_all.shape[1]
X = X_all[rng.permutation(len(X_all))[: L.size(300, 100)]]          # (N, D)
N = len(X)
post_mean, post_cov = model.posterior(X)                           # (N, K), (K, K)
log_px = model.log_likelihood(X)                                   # (N,)


def random_spd(n, k, scale, rng):
    """n random SPD k x k matrices, eigenvalues in [0.2, 3] * scale."""
    Q, _ = np.linalg.qr(rng.standard_normal((n, k, k)))
    return (Q * rng.uniform(0.2, 3.0, (n, 1, k)) * scale) @ np.swapaxes(Q, 1, 2)


s2_post = np.trace(post_cov) / K                                   # typical posterior variance
q_mean = post_mean + np.sqrt(s2_post) * rng.standard_normal((N, K))  # (N, K)  about one posterior sd off
q_cov = random_spd(N, K, s2_post, rng)                             # (N, K, K)
q_chol = np.linalg.cholesky(q_cov)                                 # (N, K, K)
print(f"pPCA on digits: D = {D}, K = {K}, σ² = {model.sigma2:.4f}; {N} datapoints, mean log p(x) = {log_px.mean():.3f}")

# %% [markdown]
# ## 1. The derivation of 000, one line at a time
#
# Take samples z_s ~ q(z|x) for one datapoint. 000 writes
#
# $$\begin{aligned}
# KL(q\,\|\,p(z|x)) &= E_q[\log q(z|x) - \log p(z|x)] \\
#   &= E_q\Bigl[\log q(z|x) - \log\frac{p(x|z)\,p(z)}{p(x)}\Bigr] \\
#   &= E_q[\log q(z|x) - \log p(x|z) - \log p(z)] + \log p(x),
# \end{aligned}$$
#
# and, rearranged, log p(x) − KL(q‖p(z|x)) = E_q[log p(x|z)] − E_q[log q(z|x)/p(z)].
# The step from line 1 to line 3 is Bayes' rule, which holds for *every* z, so
# the integrands agree sample by sample; the averages then agree with the
# closed-form KL within Monte Carlo error.

# %%
def mvn_log_density(z, mean, chol):
    """log N(z; mean, chol chol^T) for z of shape (S, K), by whitening (change of variables, lesson 5)."""
    eps = np.linalg.solve(chol, (z - mean).T).T
    return gaussian_log_density(eps, 0.0, np.zeros(len(mean))) - np.log(np.diag(chol)).sum()


n_mc = L.size(200_000, 20_000)
i = 0                                                              # one datapoint
x = X[i]
z = q_mean[i] + rng.standard_normal((n_mc, K)) @ q_chol[i].T        # (S, K)  z ~ q
log_q = mvn_log_density(z, q_mean[i], q_chol[i])                   # (S,)
log_post = mvn_log_density(z, post_mean[i], np.linalg.cholesky(post_cov))     # (S,)  log p(z|x)
log_lik = gaussian_log_density(x, z @ model.W.T + model.b, np.full(D, np.log(model.sigma2)))   # (S,)  log p(x|z)
log_prior = gaussian_log_density(z, 0.0, np.zeros(K))              # (S,)  log p(z)

line1 = log_q - log_post
line3 = log_q - log_lik - log_prior + log_px[i]
check("line 1 = line 3, sample by sample (Bayes' rule)", line1, line3, atol=1e-9)
kl_post = model.kl_to_posterior(X[:1], q_mean[:1], q_cov[0])[0]
se = line1.std() / np.sqrt(n_mc)
print(f"KL(q||p(z|x)): Monte Carlo {line1.mean():.4f} ± {se:.4f}, closed form {kl_post:.4f}")
check("E_q[log q − log p(z|x)] (MC) = KL(q||p(z|x)) (closed form, 5 SE)", line1.mean(), kl_post, atol=5 * se)
rhs = log_lik - (log_q - log_prior)
se = rhs.std() / np.sqrt(n_mc)
check("log p(x) − KL(q||p(z|x)) = E_q[log p(x|z)] − E_q[log q/p(z)] (MC, 5 SE)",
      rhs.mean(), log_px[i] - kl_post, atol=5 * se)

# %% [markdown]
# **Your turn.** The identity log p(x) = ELBO + KL(q‖p(z|x)) holds sample by
# sample before any average is taken. From the per-sample log p(x|z_s),
# log p(z_s), log q(z_s|x) (arrays of shape (S,)) and the number log p(x),
# return the two integrands: the ELBO's, whose average is the ELBO, and the
# KL's, rewritten with Bayes' rule so that it needs no log p(z|x). They are
# graded against log q − log p(z|x) with the exact pPCA posterior, which your
# formulas do not use.

# %%
def elbo_and_kl_integrands(log_lik, log_prior, log_q, log_px):
    """Per-sample integrands of the ELBO and of KL(q||p(z|x)), both of shape (S,); they add to log p(x)."""
    # your turn: the ELBO's integrand and the KL(q||p(z|x)) integrand by Bayes' rule, sample by sample (section 1)
    ### BEGIN SOLUTION
    elbo_s = log_lik + log_prior - log_q                           # log p(x, z) − log q(z|x)
    kl_s = log_q - log_lik - log_prior + log_px                    # log q − log p(z|x), p(z|x) = p(x|z)p(z)/p(x)
    return elbo_s, kl_s
    ### END SOLUTION


my_elbo_s, my_kl_s = elbo_and_kl_integrands(log_lik, log_prior, log_q, log_px[i])
grade("the KL(q||p(z|x)) integrand, sample by sample", my_kl_s, log_q - log_post, atol=1e-8, mistakes=[
    (log_q - log_lik - log_prior - log_px[i], "log p(z|x) = log p(x|z) + log p(z) − log p(x), so "
                                              "−log p(z|x) brings +log p(x), not −log p(x)"),
    (log_q - log_lik + log_px[i], "the prior is missing: p(z|x) = p(x|z) p(z) / p(x)"),
    (log_q - log_lik - log_prior, "log p(x) is missing: Bayes' rule divides by p(x)"),
    (-(log_q - log_post), "the sign is flipped: the KL's integrand is log q − log p(z|x)"),
], hint="KL(q||p(z|x)) = E_q[log q(z|x) − log p(z|x)] with log p(z|x) = log p(x|z) + log p(z) − log p(x)")
grade("the ELBO integrand, sample by sample", my_elbo_s, log_px[i] - (log_q - log_post), atol=1e-8, mistakes=[
    (log_lik + log_prior + log_q, "−log q(z|x), not +log q(z|x): the ELBO is E_q[log p(x, z) − log q(z|x)]"),
    (log_lik - log_q, "log p(z) is missing: the joint is log p(x|z) + log p(z)"),
    (log_lik, "that is only the reconstruction term; the ELBO also has −log q(z|x)/p(z) (the KL to the prior)"),
], hint="ELBO integrand = log p(x|z) + log p(z) − log q(z|x), one number per sample")
check("log p(x) = ELBO integrand + KL integrand, for every sample", my_elbo_s + my_kl_s,
      np.full(n_mc, log_px[i]), atol=1e-8)

# %% [markdown]
# ## 2. Three forms of the ELBO, all exact
#
# For Gaussian q = N(m, S) and the pPCA decoder each expectation is closed
# form (E_q‖v − Wz‖² = ‖v − Wm‖² + tr(WᵀWS): the error of the mean plus the
# spread of Wz):
#
# $$E_q\log p(x|z) = -\tfrac12\Bigl[D\log 2\pi\sigma^2 + \frac{\|x-b-Wm\|^2 + \operatorname{tr}(W^\top WS)}{\sigma^2}\Bigr],\quad
#   E_q\log p(z) = -\tfrac12\bigl[K\log 2\pi + \|m\|^2 + \operatorname{tr}S\bigr],$$
#
# $$H(q) = \tfrac12\bigl[K(1+\log 2\pi) + \log|S|\bigr].$$
#
# We compute
# (a) E_q log p(x, z) + H(q) (001),
# (b) E_q log p(x|z) − KL(q‖p(z)) (000, 001),
# (c) log p(x) − KL(q‖p(z|x)) (000, 002 eq. 3),
# by hand for all N datapoints, and the library's fused `PPCA.elbo`.

# %%
WtW = model.W.T @ model.W                                          # (K, K)
resid = X - model.b - q_mean @ model.W.T                           # (N, D)
tr_WtWS = np.einsum("ij,nji->n", WtW, q_cov)                       # (N,)
e_log_lik = -0.5 * (D * np.log(2 * np.pi * model.sigma2) + (np.sum(resid ** 2, 1) + tr_WtWS) / model.sigma2)
e_log_prior = -0.5 * (K * np.log(2 * np.pi) + np.sum(q_mean ** 2, 1) + np.trace(q_cov, axis1=1, axis2=2))
entropy = 0.5 * (K * (1 + np.log(2 * np.pi)) + np.linalg.slogdet(q_cov)[1])
kl_prior = kl_gaussians(q_mean, q_cov, np.zeros(K), np.eye(K))     # (N,)
kl_post = model.kl_to_posterior(X, q_mean, q_cov)                  # (N,)

form_a = e_log_lik + e_log_prior + entropy
form_b = e_log_lik - kl_prior
form_c = log_px - kl_post
elbo = model.elbo(X, q_mean, q_cov)
print(f"datapoint 0: (a) {form_a[0]:.10f}  (b) {form_b[0]:.10f}  (c) {form_c[0]:.10f}  PPCA.elbo {elbo[0]:.10f}")
print(f"              log p(x) = {log_px[0]:.4f}, KL(q||p(z|x)) = {kl_post[0]:.4f}, KL(q||p(z)) = {kl_prior[0]:.4f}")
# The closed forms above retype the algebra that PPCA.elbo also uses, so they are first
# checked against what they claim to be: expectations over q, by Monte Carlo with the
# samples of section 1 (datapoint i), 5 standard errors. Form (c) is independent of them:
# it needs only the exact log p(x) and the KL between two Gaussians.
for name, closed, samples in (("E_q log p(x|z)", e_log_lik[i], log_lik), ("E_q log p(z)", e_log_prior[i], log_prior),
                              ("H(q) = −E_q log q", entropy[i], -log_q)):
    check(f"{name}: closed form = Monte Carlo mean (5 SE)", closed, samples.mean(),
          atol=5 * samples.std() / np.sqrt(n_mc))
check("(c) log p(x) − KL(q||p(z|x)) = PPCA.elbo", form_c, elbo, atol=1e-9)
check("(a) E log p(x,z) + H(q) = (c)", form_a, form_c, atol=1e-9)
check("(b) E log p(x|z) − KL(q||p(z)) = (c)", form_b, form_c, atol=1e-9)
check("KL(q||p(z)) = −E_q log p(z) − H(q): the two decompositions share the prior term",
      kl_prior, -e_log_prior - entropy, atol=1e-9)
# The library's entropy of a diagonal Gaussian (what a VAE's q has), against an independent
# implementation: SciPy's multivariate normal.
diag_logvar = np.log(rng.uniform(0.1, 2.0, K))
check("gaussian_entropy(logvar) = scipy.stats.multivariate_normal(cov=diag(e^logvar)).entropy()",
      gaussian_entropy(diag_logvar), multivariate_normal(cov=np.diag(np.exp(diag_logvar))).entropy(), atol=1e-12)

# %% [markdown]
# The SGVB estimator (002, eq. 7) uses one sample: log p(x, z) − log q(z|x)
# with z ~ q. Averaged over the samples of section 1 it matches the exact ELBO.

# %%
sgvb = log_lik + log_prior - log_q
se = sgvb.std() / np.sqrt(n_mc)
check("mean of the single-sample SGVB estimates = ELBO (5 SE)", sgvb.mean(), elbo[0], atol=5 * se)

# %% [markdown]
# ## 3. A lower bound, tight exactly at the posterior
#
# Because KL(q‖p(z|x)) ≥ 0, ELBO ≤ log p(x) for every q, with equality iff
# q = p(z|x). At the posterior every single-sample estimate equals log p(x):
# the estimator has zero variance (the same fact as lesson 1's importance
# sampling).

# %%
check_that("ELBO <= log p(x) for every random q", np.all(elbo <= log_px + 1e-10),
           f"largest ELBO − log p(x) = {(elbo - log_px).max():.3g}")
elbo_post = model.elbo(X, post_mean, post_cov)
check("ELBO at q = p(z|x) equals log p(x)", elbo_post, log_px, atol=1e-9)
z_post = post_mean[i] + rng.standard_normal((1000, K)) @ np.linalg.cholesky(post_cov).T
sgvb_post = (gaussian_log_density(x, z_post @ model.W.T + model.b, np.full(D, np.log(model.sigma2)))
             + gaussian_log_density(z_post, 0.0, np.zeros(K))
             - mvn_log_density(z_post, post_mean[i], np.linalg.cholesky(post_cov)))
check("at the posterior every SGVB sample equals log p(x) (zero variance)", sgvb_post,
      np.full(1000, log_px[i]), atol=1e-9)

# %% [markdown]
# ## 4. The gap as q moves away from the posterior
#
# With Σ = σ²M⁻¹ the posterior covariance, two one-parameter families:
#
# - shift the mean: q_t = N(m_post + t·δ, Σ) with δᵀΣ⁻¹δ = 1; the gap is
#   KL = t²/2 (the Mahalanobis term of 003's formula);
# - scale the covariance: q_c = N(m_post, cΣ); the gap is KL = (K/2)(c − 1 − log c).
#
# The second is asymmetric: a q that is too wide by a factor c costs more
# than one too narrow by 1/c — the reverse KL prefers under-dispersed q
# (lesson 2, section 4).

# %%
chol_post = np.linalg.cholesky(post_cov)
u = rng.standard_normal(K)
delta = chol_post @ (u / np.linalg.norm(u))                        # δ^T Σ^-1 δ = 1
ts = np.linspace(-3, 3, L.size(61, 13))
gap_t = np.array([log_px[i] - model.elbo(X[:1], post_mean[:1] + t * delta, post_cov)[0] for t in ts])
log_cs = np.linspace(-3, 3, L.size(61, 13))
gap_c = np.array([log_px[i] - model.elbo(X[:1], post_mean[:1], np.exp(lc) * post_cov)[0] for lc in log_cs])
check("gap of a mean shift = t²/2", gap_t, ts ** 2 / 2, atol=1e-8)
check("gap of a covariance scaling = (K/2)(c − 1 − log c)", gap_c,
      K / 2 * (np.exp(log_cs) - 1 - log_cs), atol=1e-8)
gap_wide = log_px[i] - model.elbo(X[:1], post_mean[:1], np.e * post_cov)[0]
gap_narrow = log_px[i] - model.elbo(X[:1], post_mean[:1], post_cov / np.e)[0]
check_that("too wide by e costs more than too narrow by e", gap_wide > gap_narrow,
           f"{gap_wide:.3f} vs {gap_narrow:.3f} nats")

fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
axes[0].plot(ts, gap_t, "C0", lw=2)
axes[0].set(xlabel="mean shift t (posterior standard deviations)", ylabel="log p(x) − ELBO (nats)",
            title="Gap = KL(q‖p(z|x)) = t²/2")
axes[1].plot(log_cs, gap_c, "C3", lw=2)
axes[1].set(xlabel="log c  (q = N(m_post, c·Σ_post))", ylabel="log p(x) − ELBO (nats)",
            title=f"Gap = (K/2)(c − 1 − log c), K = {K}")
for ax in axes:
    ax.axvline(0, color="k", ls=":", lw=1)
    ax.annotate("q = p(z|x): gap 0", (0, 0), xytext=(0.3, max(ax.get_ylim()) * 0.6), fontsize=8,
                arrowprops=dict(arrowstyle="->", lw=0.8))
L.savefig(fig, "04_elbo_gap")

# %% [markdown]
# ## 5. Summed vs averaged reconstruction: a hidden KL weight
#
# The VAE loss is −ELBO = −E_q log p(x|z) + KL(q‖p(z)), the log-likelihood
# *summed* over the D pixels. Code that averages the reconstruction term over
# pixels (a "mean" reduction of a squared error or cross-entropy) and adds the
# KL summed over latents minimizes
#
# $$-\frac1D E_q\log p(x|z) + KL = \frac1D\Bigl[-E_q\log p(x|z) + D\cdot KL\Bigr],$$
#
# which has the same minimizer as the β-weighted loss −E_q log p(x|z) + β·KL
# with **β = D** (64 here, 784 for MNIST): the reconstruction is weighted
# 1/D relative to the KL. In general a factor a on the reconstruction and c
# on the KL give β = c/a; averaging the KL over K latents instead gives β = 1/K.
#
# For pPCA the β-optimal Gaussian q is closed form. Setting the derivatives of
# E_q log p(x|z) − β·KL(q‖p(z)) with respect to m and S to zero gives
#
# $$m_\beta = (W^\top W + \beta\sigma^2 I)^{-1}W^\top(x-b), \qquad
#   S_\beta = \beta\sigma^2\,(W^\top W + \beta\sigma^2 I)^{-1},$$
#
# the posterior of a model with noise βσ²: β = 1 is the true posterior, β = D
# pulls q towards the prior. We check the formula by numerically maximizing
# the averaged objective for one digit, then measure what it costs.

# %%
def q_beta(x_rows, beta):
    A = WtW + beta * model.sigma2 * np.eye(K)
    return np.linalg.solve(A, model.W.T @ (x_rows - model.b).T).T, beta * model.sigma2 * np.linalg.inv(A)


tril = np.tril_indices(K)


def unpack(theta):
    m = theta[:K]
    Lq = np.zeros((K, K))
    Lq[tril] = theta[K:]
    Lq[np.diag_indices(K)] = np.exp(Lq[np.diag_indices(K)])       # positive diagonal
    return m, Lq @ Lq.T


def averaged_objective(theta, x_row):
    """(1/D) E_q log p(x|z) − KL(q||p(z)): the negative of a loss with the reconstruction averaged over pixels."""
    m, S = unpack(theta)
    kl = kl_gaussians(m, S, np.zeros(K), np.eye(K))
    e_log_lik = model.elbo(x_row[None], m[None], S)[0] + kl       # E_q log p(x|z) = ELBO + KL(q||p(z))
    return e_log_lik / D - kl


theta0 = np.zeros(K + len(tril[0]))
fit = minimize(lambda th: -averaged_objective(th, x), theta0, method="BFGS", options={"gtol": 1e-9})
m_num, S_num = unpack(fit.x)
m_D, S_D = q_beta(x[None], D)
check("numerical argmax of the averaged objective: mean = m_β with β = D", m_num, m_D[0], atol=1e-4)
check("numerical argmax of the averaged objective: covariance = S_β with β = D", S_num, S_D, atol=1e-4)

betas = np.exp(np.linspace(np.log(1 / D), np.log(4 * D), L.size(41, 11)))
gaps, kls, recs = [], [], []
for beta in betas:
    m_b, S_b = q_beta(X, beta)
    kl_b = kl_gaussians(m_b, S_b, np.zeros(K), np.eye(K))
    elbo_b = model.elbo(X, m_b, S_b)
    gaps.append(np.mean(log_px - elbo_b))
    kls.append(np.mean(kl_b))
    recs.append(np.mean(elbo_b + kl_b))
gaps, kls, recs = map(np.array, (gaps, kls, recs))
m_1, S_1 = q_beta(X, 1.0)
m_D, S_D = q_beta(X, float(D))
gap_1 = np.mean(log_px - model.elbo(X, m_1, S_1))
gap_D = np.mean(log_px - model.elbo(X, m_D, S_D))
kl_1 = np.mean(kl_gaussians(m_1, S_1, np.zeros(K), np.eye(K)))
kl_D = np.mean(kl_gaussians(m_D, S_D, np.zeros(K), np.eye(K)))
print(f"summed loss   (β = 1):  ELBO gap {gap_1:.2e} nats, KL(q||p(z)) {kl_1:.3f} nats")
print(f"averaged loss (β = {D}): ELBO gap {gap_D:.3f} nats, KL(q||p(z)) {kl_D:.3f} nats")
check("β = 1 (summed) recovers the posterior: gap 0", gap_1, 0.0, atol=1e-9)
check_that(f"β = D = {D} (averaged) loses many nats of ELBO", gap_D > 5, f"gap {gap_D:.2f} nats per digit")
check_that("β = D squeezes the code towards the prior", kl_D < 0.5 * kl_1, f"KL(q||p(z)) {kl_D:.3f} vs {kl_1:.3f}")
check_that("the true ELBO is best at β = 1 among the βs tried", abs(np.log(betas[np.argmin(gaps)])) < 0.5)

fig, ax = plt.subplots(figsize=(6.5, 3.8))
ax.semilogx(betas, gaps, "C0", lw=2, label="log p(x) − ELBO(q_β)")
ax.semilogx(betas, kls, "C3", lw=2, label="KL(q_β‖p(z))")
ax.axvline(1, color="k", ls=":", lw=1)
ax.axvline(D, color="k", ls="--", lw=1)
ax.text(1.1, ax.get_ylim()[1] * 0.9, "summed\n(β = 1)", fontsize=8)
ax.text(D * 1.1, ax.get_ylim()[1] * 0.9, f"pixel-averaged\n(β = D = {D})", fontsize=8)
ax.set(xlabel="β (weight of the KL)", ylabel="nats per digit", title="What the loss's reduction does to q")
ax.legend(fontsize=8, loc="center left")
L.savefig(fig, "04_summed_vs_averaged")

# %% [markdown]
# ## Summary
#
# - log p(x) = ELBO(q) + KL(q‖p(z|x)) for every q (000, 002 eq. 3); the ELBO
#   can be written E_q log p(x, z) + H(q) or E_q log p(x|z) − KL(q‖p(z))
#   (001). On pPCA the three agree to ~1e-12.
# - ELBO ≤ log p(x), with equality exactly at q = p(z|x), where even a
#   single-sample estimate is exact.
# - The gap is the reverse KL: t²/2 for a mean shift of t posterior standard
#   deviations, (K/2)(c − 1 − log c) for a covariance scaled by c.
# - Averaging the reconstruction over D pixels while summing the KL is a
#   β-VAE with β = D: the encoder is pulled towards the prior and the ELBO
#   drops. Sum over pixels (or divide *both* terms by D).
#
# ## Exercises
#
# Worked solutions (exercises 1, 2 and 3), which run and assert their answers: `solutions_02_to_05.py`.
#
# 1. A VAE encoder is diagonal. Find the diagonal q = N(m, diag s²) that
#    maximizes the ELBO of pPCA (hint: the optimal precisions are the
#    diagonal of the posterior precision σ⁻²M — the slide's matrix, in the
#    right place) and compute the gap it cannot close.
# 2. Plot E_q log p(x|z) and −KL(q‖p(z)) separately along the β curve of
#    section 5. Which term does the pixel-averaged loss give up?
# 3. Show that the derivation in section 1 never used that q is Gaussian:
#    repeat it with q a Student-t in each coordinate (sampled with
#    `rng.standard_t`) and check the three lines agree sample by sample.
