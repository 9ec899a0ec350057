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
# # Lesson 8 — The VAE versus probabilistic PCA
#
# **What this lesson derives and measures.** What "the log-likelihood of a
# VAE" is — log p_θ(x) = log ∫ p_θ(x|z) p(z) dz, a property of the decoder
# and the prior alone — and how it is estimated: by importance sampling with
# the encoder as proposal (002, eq. 9). We check the estimator against a
# brute-force 2-D integral, watch it converge in the number of samples k,
# and see why sampling the prior instead is hopeless (004). Then the
# comparison with pPCA, whose log-likelihood is exact: a *linear* VAE is a
# pPCA model and climbs to pPCA's optimum; a nonlinear VAE beats pPCA on a
# curved manifold and on the digits.
#
# **Lectures followed.**
# - 002_b4c24ccd2e75c8da.txt, *Estimation of the marginal likelihood*
#   (eqs. 8, 9): log p(x) ≈ log (1/L) Σ_l p(x, z_l)/q(z_l|x), z_l ~ q; "by
#   making L large, the approximation becomes a better estimate". (We call
#   the number of samples k, as Burda et al. 2015 do, to keep L for the
#   training samples of lesson 7.)
# - 002, *Probabilistic Principal Component Analysis*, *Explicit computation
#   of the marginal likelihood* (the exact p(x) = N(b, WWᵀ + σ²I)) and
#   *Advantages and drawbacks of the pPCA* ("in the presence of a nonlinear
#   dependency … some sort of approximation would be necessary").
# - 004_67c18b03ad8f58f7.txt, *VAE Likelihood*: p(x) by sampling the prior
#   is "difficult to approximate in high dim" because "for most z values
#   p(x|z) [is] close to 0"; a proposal q(z|x) fixes it. (The slide writes
#   p(x) = ∫ p(x|z) q(z|x) dz; the importance weight p(z)/q(z|x) is missing —
#   see lesson 1.)
#
# **Take-away.** A VAE's log-likelihood is that of its decoder; the encoder
# only helps estimate it. The ELBO is the k = 1 estimate; the IS estimate
# rises with k towards log p(x) from below. A linear VAE can do no better
# than pPCA and gets there; a nonlinear one can do much better.

# %%
import numpy as np
import matplotlib.pyplot as plt
from scipy.special import logsumexp

from _lesson import setup, check, check_that, grade, YourTurn  # noqa: F401  (YourTurn: the student version's stubs)
from numvae import plots
from numvae.compare import compare, load_dequantized
from numvae.data import make_manifold_data, make_ppca_data
from numvae.distributions import gaussian_log_density
from numvae.ppca import PPCA
from numvae.train import fit
from numvae.vae import VAE

L = setup("Lesson 8: the VAE versus pPCA")
rng = L.rng

# %% [markdown]
# ## 1. The comparison on the digits
#
# `numvae.compare.compare` fits, for each latent size K, pPCA (closed form,
# exact log-likelihood), a linear VAE (no hidden layer, Gaussian decoder
# with one shared variance: the pPCA model family) and a VAE (one hidden
# layer, per-pixel variance), on *dequantized* digits — uniform noise within
# each of the 17 grey levels, so a continuous density cannot pile up on the
# levels — and scores all three on the same held-out images. Lesson 7 showed
# why a Bernoulli decoder's number would not be comparable.

# %%
latents = L.size((2, 4, 8, 16), (2, 8))
cmp = compare("digits", z_dim=latents, epochs=L.size(150, 20), hidden=(128,), k=L.size(500, 100),
              seed=L.seed)
print(cmp.to_markdown())
rows = {(r["model"], r["K"]): r for r in cmp.rows}
for K in latents:
    check(f"K = {K}: pPCA's ELBO at the exact posterior = its log-likelihood", rows[("pPCA", K)]["gap"], 0.0,
          atol=1e-9)
    for m in ("linear VAE", "VAE"):
        # The table's ELBO is one draw of z per test image; its standard error, measured from
        # 20 more draws, dominates that of the k-sample IS estimate. A linear VAE's true gap can
        # be a few hundredths of a nat, less than that noise, so the table can show it negative.
        draws = [cmp.models[(m, K)].elbo(cmp.X_test, rng=1000 + r)[0].mean() for r in range(20)]
        se = np.std(draws, ddof=1)
        check_that(f"K = {K}, {m}: IS log-likelihood ≥ ELBO (within 5 SE of the ELBO's one-draw noise)",
                   rows[(m, K)]["gap"] > -5 * se, f"gap {rows[(m, K)]['gap']:.3f}, SE {se:.3f}")
# The linear VAE is a pPCA model, so its exact log-likelihood is available, and on the images
# it was trained on no pPCA model can beat the closed-form maximum-likelihood fit. (On held-out
# images either may be ahead by a little; that is not a claim about the optimum.)
X_train_dq, _, X_test_dq, _, _ = load_dequantized("digits", L.seed)     # compare's own split and noise
check("the same dequantized test images as the comparison", X_test_dq, cmp.X_test, atol=0.0)
for K in latents:
    lin_K = cmp.models[("linear VAE", K)]
    lin_as_ppca = PPCA.from_params(lin_K.params["dec.0.W"].T.astype(np.float64), lin_K.params["dec.0.b"].astype(np.float64),
                                   float(np.exp(lin_K.params["dec.logvar"][0])))
    ll_lin_tr = lin_as_ppca.log_likelihood(X_train_dq).mean()
    ll_ml_tr = cmp.models[("pPCA", K)].log_likelihood(X_train_dq).mean()
    print(f"K = {K}: training images, exact mean log p(x): pPCA (ML) {ll_ml_tr:.3f}, linear VAE {ll_lin_tr:.3f}; "
          f"held out: {rows[('pPCA', K)]['test_loglik']:.3f} and {lin_as_ppca.log_likelihood(cmp.X_test).mean():.3f}")
    check_that(f"K = {K}: on its training images the linear VAE (a pPCA model) does not beat the ML pPCA fit",
               ll_lin_tr <= ll_ml_tr + 1e-9, f"{ll_lin_tr:.4f} ≤ {ll_ml_tr:.4f}")
K_small = latents[0]
check_that(f"K = {K_small}: the nonlinear VAE beats pPCA on held-out digits by > 5 nats",
           rows[("VAE", K_small)]["test_loglik"] > rows[("pPCA", K_small)]["test_loglik"] + 5,
           f"{rows[('VAE', K_small)]['test_loglik']:.1f} vs {rows[('pPCA', K_small)]['test_loglik']:.1f}")

fig = plots.loglik_vs_latent({m: cmp.column("test_loglik", m) for m in ("pPCA", "linear VAE", "VAE")},
                             elbos={m: cmp.column("test_elbo", m) for m in ("pPCA", "linear VAE", "VAE")},
                             k=cmp.k, title=f"dequantized digits, {cmp.n_test} held-out images: "
                                            "exact (pPCA) vs IS estimate (VAEs)")
L.savefig(fig, "08_loglik_vs_latent")

# %% [markdown]
# **Reading the table.** Every number is log p(x) of a held-out image in
# nats (higher is better); "bits/dim" converts it to an upper bound on the
# code length of the *discrete* digit. The gap column is log p(x) − ELBO: 0
# for pPCA (its posterior is exact), positive for the VAEs — how much the
# encoder's diagonal Gaussian misses the true posterior. The linear VAE is
# the pPCA model family, searched by stochastic gradient instead of solved by
# an eigendecomposition: on its training images it can at best reach pPCA's
# maximum (asserted above; how close it gets depends on how long it trained —
# the lines printed above the figure give both, for this run's length). The
# nonlinear VAE is far ahead at small K, where a curved 2-D sheet explains
# the digits much better than a plane.
#
# ## 2. What "the log-likelihood of a VAE" is
#
# The VAE *defines* p_θ(x) = ∫ p_θ(x|z) p(z) dz, the decoder integrated over
# the prior; the encoder plays no part in it. For K = 2 the integral can be
# done by brute force on a grid. We take the K = 2 VAE of the comparison
# and, for a few held-out digits, integrate on a grid covering q(z|x)'s mean
# ± 12 standard deviations and the prior's bulk (the integrand is negligible
# elsewhere), refined — 121, 241, 481, … points per axis, each finer grid
# centred on the posterior as the coarser one found it — until halving the
# spacing once more moves the answer by less than 0.01 nats. Then the importance-sampled estimate
#
# $$\hat\ell_k(x) = \log\frac1k\sum_{i=1}^k \frac{p_\theta(x|z_i)\,p(z_i)}{q_\phi(z_i|x)},\qquad z_i\sim q_\phi(z|x)$$
#
# (002, eq. 9; `VAE.log_likelihood`) for growing k, and the same estimator
# with the *prior* as proposal (004, *VAE Likelihood*).
#
# **Your turn.** Write the estimator. The weights p(x|z)p(z)/q(z|x) of a
# 64-pixel digit are exponentials of numbers in the hundreds, so the sum is
# taken in log space: log (1/k) Σ_i e^{a_i} = m + log (1/k) Σ_i e^{a_i − m}
# with m = max_i a_i, which is exact for any m and, for this one, never
# overflows (the largest term is e⁰ = 1) nor underflows to log 0. First
# `log_mean_exp` (along axis 0), then the estimate from the per-sample
# log p(x|z_i), log p(z_i) and log q(z_i|x), arrays of shape (k, n): one
# column per digit. Graded against SciPy's `logsumexp`, at ordinary values and
# at values near ±1000, where e^a is 0 or inf in float64, and on the K = 2 VAE
# of the comparison.

# %%
def log_mean_exp(a, axis=0):
    """log((1/k) Σ exp(a)) along `axis` (k = a.shape[axis]), shifted by the maximum so nothing overflows."""
    # your turn: log (1/k) Σ_i exp(a_i) along axis, shifted by the maximum so it neither overflows nor underflows (section 2)
    ### BEGIN SOLUTION
    m = np.max(a, axis=axis, keepdims=True)
    return np.squeeze(m, axis=axis) + np.log(np.mean(np.exp(a - m), axis=axis))
    ### END SOLUTION


def is_log_likelihood(log_lik, log_prior, log_q):
    """The importance-sampled log p̂(x) of 002 eq. 9 from per-sample log densities of shape (k, n): shape (n,)."""
    # your turn: the importance-sampled log p(x), from log p(x|z_i), log p(z_i) and log q(z_i|x) (002, eq. 9)
    ### BEGIN SOLUTION
    return log_mean_exp(log_lik + log_prior - log_q, axis=0)
    ### END SOLUTION


b8 = np.array([[0.3, -2.0], [1.7, 0.4], [-0.5, 2.2], [1.1, -1.3]])          # (4, 2) ordinary values
for where, a8 in (("ordinary values", b8), ("values near −1000", b8 - 1000.0), ("values near +1000", b8 + 1000.0)):
    k8 = len(a8)
    grade(f"log_mean_exp at {where}", log_mean_exp(a8, axis=0), logsumexp(a8, axis=0) - np.log(k8), mistakes=[
        (lambda: np.log(np.mean(np.exp(a8), axis=0)),
         "without the max shift exp(a) underflows to 0 (log 0 = −inf) or overflows to inf: compute "
         "m + log mean exp(a − m) with m the maximum along the axis"),
        (lambda: logsumexp(a8, axis=0), "that is log Σ exp(a), the log of the sum: the mean subtracts log k"),
        (lambda: np.mean(a8, axis=0), "that is the mean of a, the log of a geometric mean (lower, by Jensen): "
                                      "take the exp, the mean, then the log"),
        (lambda: np.log(np.mean(np.exp(a8 - a8.max(0)), axis=0)), "after shifting by the maximum m, add m back"),
    ], hint="log_mean_exp(a) = m + log(mean(exp(a − m))) with m = max(a, axis), along the given axis")

vae2_g, Xq_g = cmp.models[("VAE", 2)], cmp.X_test[:3]                      # the K = 2 VAE of the table above
g8 = L.rng_for("your turn: importance sampling")
mu_g, lv_g = vae2_g.encode(Xq_g)                                          # (n, 2) each
z_g = mu_g + np.exp(0.5 * lv_g) * g8.standard_normal((50, *mu_g.shape))  # (k, n, 2)  z ~ q(z|x)
ll_g, lp_g, lq_g = (np.asarray(a, dtype=np.float64) for a in (
    gaussian_log_density(Xq_g, vae2_g.decoder.forward(z_g), vae2_g.params["dec.logvar"]),   # (k, n)  log p(x|z)
    gaussian_log_density(z_g, 0.0, np.zeros(2)),                                           # (k, n)  log p(z)
    gaussian_log_density(z_g, mu_g, lv_g)))                                                # (k, n)  log q(z|x)
grade("the importance-sampled log p(x) of three digits", is_log_likelihood(ll_g, lp_g, lq_g),
      logsumexp(ll_g + lp_g - lq_g, axis=0) - np.log(50), atol=1e-8, mistakes=[
          (logsumexp(ll_g, axis=0) - np.log(50), "the weight p(z)/q(z|x) is missing: that is 004's "
                                                 "∫ p(x|z) q(z|x) dz, not p(x)"),
          (logsumexp(ll_g + lp_g + lq_g, axis=0) - np.log(50), "divide by q(z|x): the log weight is "
                                                              "log p(x|z) + log p(z) − log q(z|x)"),
          (np.mean(ll_g + lp_g - lq_g, axis=0), "that is the ELBO estimate (the mean of the log weights); "
                                                "the IS estimate is the log of the mean of the weights"),
      ], hint="log p̂(x) = log_mean_exp(log p(x|z) + log p(z) − log q(z|x)) over the k samples (axis 0)")

# %%
vae2 = cmp.models[("VAE", 2)]
Xq = cmp.X_test[:L.size(12, 6)]
lv_dec = vae2.params["dec.logvar"]


def quadrature_loglik(model, x, n, center, half):
    """log ∫ p(x|z) p(z) dz on a grid of n points per axis over center ± half, joined with [−7, 7]² of the prior.

    Also returns the mean and standard deviation of the posterior on that grid, to centre the next grid."""
    lo, hi = np.minimum(center - half, -7.0), np.maximum(center + half, 7.0)
    # a fine grid around `center` plus the coarse prior box: take the union of both axes' points
    axes = [np.unique(np.concatenate([np.linspace(center[j] - half[j], center[j] + half[j], n),
                                      np.linspace(lo[j], hi[j], n)])) for j in range(2)]
    z1, z2 = np.meshgrid(axes[0], axes[1], indexing="ij")
    z = np.stack([z1.ravel(), z2.ravel()], axis=1)                                  # (G, 2)
    log_f = np.concatenate([gaussian_log_density(x[None], model.decoder.forward(zc), lv_dec)
                            - 0.5 * np.sum(zc ** 2 + np.log(2 * np.pi), axis=1)
                            for zc in np.array_split(z, max(1, len(z) // 100_000))])   # (G,)
    # trapezoid weights on the non-uniform grid, in log space
    w = [np.gradient(a) for a in axes]                                             # ≈ cell widths
    log_w = (np.log(w[0])[:, None] + np.log(w[1])[None, :]).ravel()
    log_px = logsumexp(log_f + log_w)
    post = np.exp(log_f + log_w - log_px)                                          # (G,) posterior mass per cell
    mean = post @ z
    sd = np.sqrt(np.maximum(post @ (z - mean) ** 2, 1e-12))
    return log_px, mean, sd


def converged_loglik(model, x, tol=0.01, n_max=961):
    """Refine the grid (121, 241, 481, 961 points per axis: each halves the spacing) until one
    more halving moves log p(x) by less than `tol`; return the value and that last change.

    The first grid spans q(z|x)'s mean ± 12 of its standard deviations; every later one is
    centred on the posterior as the previous grid found it, ± 12 of the posterior's own
    standard deviations, so a posterior sharper than q, or away from it, gets fine cells
    where its mass is."""
    mu, lv = model.encode(x[None])
    n, (value, mean, sd) = 121, quadrature_loglik(model, x, 121, mu[0], 12.0 * np.exp(0.5 * lv[0]))
    while True:
        n = 2 * n - 1
        finer, mean, sd = quadrature_loglik(model, x, n, mean, 12.0 * sd)
        if abs(finer - value) < tol or n >= n_max:
            return finer, abs(finer - value)
        value = finer


ll_quad, last_change = np.array([converged_loglik(vae2, x) for x in Xq]).T
check("the quadrature converged: halving the grid spacing once more moves log p(x) by < 0.01 nats",
      last_change, 0.0, atol=0.01)
ks = [1, 10, 100, 1000, 10_000]
reps = L.size(20, 10)
est_q = np.array([[vae2.log_likelihood(Xq, k=k, rng=rng) for _ in range(reps)] for k in ks])   # (k, reps, n)
est_p = []
for k in ks:
    row = []
    for r in range(reps):                                                          # one block at a time: bounded memory
        z = rng.standard_normal((k, 2))                                            # prior samples, shared by the digits
        log_px_z = gaussian_log_density(Xq[None], vae2.decoder.forward(z)[:, None, :], lv_dec)   # (k, n)
        row.append(logsumexp(log_px_z, axis=0) - np.log(k))                        # weights p(z)/p(z) = 1
    est_p.append(row)
est_p = np.array(est_p)
# The ELBO of the same digits, as many independent single-sample estimates as needed for a
# standard error well below the differences under test (its k = 1 twin has the same mean).
n_elbo = L.size(2000, 1000)
elbo_reps = np.array([vae2.elbo(Xq, rng=rng)[0].mean() for _ in range(n_elbo)])       # (n_elbo,)
elbo_mean, elbo_se = elbo_reps.mean(), elbo_reps.std(ddof=1) / np.sqrt(n_elbo)
k1_reps = np.array([vae2.log_likelihood(Xq, k=1, rng=rng).mean() for _ in range(n_elbo)])
k1_mean, k1_se = k1_reps.mean(), k1_reps.std(ddof=1) / np.sqrt(n_elbo)
print(f"{'k':>6}  {'IS with q: mean over digits':>28}  {'IS with the prior':>18}   (exact by quadrature: "
      f"{ll_quad.mean():.3f}; ELBO {elbo_mean:.3f} ± {elbo_se:.3f})")
for i, k in enumerate(ks):
    print(f"{k:6d}  {est_q[i].mean():28.3f}  {est_p[i].mean():18.1f}")
rep_means = est_q.mean(axis=2)                                                     # (k, reps) mean over digits
mean_by_k = rep_means.mean(axis=1)
se_by_k = rep_means.std(axis=1, ddof=1) / np.sqrt(reps)
check("k = 1 is the ELBO in expectation (5 SE of the difference)", k1_mean, elbo_mean,
      atol=5 * np.hypot(k1_se, elbo_se))
check_that("…a tolerance smaller than what k = 10 gains over k = 1, so a wrong k = 1 would show",
           5 * np.hypot(k1_se, elbo_se) < mean_by_k[1] - mean_by_k[0],
           f"{5 * np.hypot(k1_se, elbo_se):.3f} < {mean_by_k[1] - mean_by_k[0]:.3f} nats")
steps, steps_se = np.diff(mean_by_k), np.hypot(se_by_k[1:], se_by_k[:-1])
check_that("the IS estimate is non-decreasing in k (each step > −5 SE of that step)", np.all(steps > -5 * steps_se),
           f"steps {steps.round(3)}, SE {steps_se.round(3)}")
check_that("every k gives ≥ the ELBO (within 5 SE)", np.all(mean_by_k >= elbo_mean - 5 * np.hypot(se_by_k, elbo_se)))
# Per digit, the k = 10⁴ estimate is a lower bound on the exact value in expectation: above
# it only by sampling noise. How much of the ELBO's gap it closes depends on how well q
# covers the posterior: all but a few hundredths of a nat for most digits, but nats short
# for the odd digit whose posterior q misses, which can leave a quarter of the mean gap open
# (this run's fraction is printed below). So only "part of the gap, beyond noise" is asserted.
digit_mean, digit_se = est_q[-1].mean(axis=0), est_q[-1].std(axis=0, ddof=1) / np.sqrt(reps)
diff = digit_mean - ll_quad                                                       # per digit, k = 10⁴
print("k = 10⁴ estimate − quadrature, per digit:", diff.round(3), " (SE", digit_se.round(3), ")")
check_that("no digit's k = 10⁴ estimate lies above its exact value by more than 5 SE",
           np.all(diff <= 5 * digit_se + 1e-3), f"largest (diff / SE) {np.max(diff / (digit_se + 1e-12)):.2f}")
gap_elbo, gap_10k = ll_quad.mean() - elbo_mean, ll_quad.mean() - mean_by_k[-1]
check_that("k = 10⁴ closes part of the ELBO's gap to the exact log p(x), by more than 5 SE",
           gap_10k < gap_elbo - 5 * np.hypot(se_by_k[-1], elbo_se),
           f"gap {gap_elbo:.3f} → {gap_10k:.3f} nats ({100 * (1 - gap_10k / gap_elbo):.0f} % of it closed)")
gain_prior = mean_by_k[1] - est_p[1].mean()
check_that("with k = 10 samples, the prior as proposal is worse than q by more than 2 nats",
           gain_prior > 2, f"{gain_prior:.1f} nats")
check_that("…and the prior closes on q as k grows: its shortfall at k = 10⁴ is under half that at k = 10",
           mean_by_k[-1] - est_p[-1].mean() < 0.5 * gain_prior,
           f"{gain_prior:.2f} → {mean_by_k[-1] - est_p[-1].mean():.2f} nats")

fig, axes = plt.subplots(1, 2, figsize=(11, 4))
ax = axes[0]
ax.errorbar(ks, mean_by_k, yerr=3 * se_by_k, fmt="o-", label="IS, proposal q(z|x) (encoder)")
ax.plot(ks, est_p.mean(axis=(1, 2)), "s--", label="IS, proposal p(z) (prior)")
ax.axhline(ll_quad.mean(), color="k", label="exact log p(x) (2-D quadrature)")
ax.axhline(elbo_mean, color="C2", ls=":", label="ELBO")
ax.set(xscale="log", xlabel="number of importance samples k", ylabel="mean log p(x) estimate (nats per digit)",
       title=f"K = 2 VAE, {len(Xq)} held-out digits: the estimates", ylim=(ll_quad.mean() - 40, ll_quad.mean() + 5))
ax.legend(fontsize=8)
ax = axes[1]
ax.errorbar(ks, ll_quad.mean() - mean_by_k, yerr=3 * se_by_k, fmt="o-", label="exact − IS estimate with q (± 3 SE)")
ax.axhline(gap_elbo, color="C2", ls=":", label="exact − ELBO")
ax.axhline(0, color="k", lw=0.8)
ax.set(xscale="log", xlabel="number of importance samples k", ylabel="shortfall below exact log p(x) (nats)",
       title="zoom: the gap that k closes")
ax.legend(fontsize=8)
for ax in axes:
    ax.grid(alpha=0.3)
fig.tight_layout()
L.savefig(fig, "08_is_convergence")

# %% [markdown]
# Two lessons in the numbers. First, even in K = 2 the prior's samples land
# where p(x|z) is large only a small fraction of the time: with k = 10 they
# are several nats behind q (asserted: more than 2), and they close on it
# only as k grows by orders of magnitude. That fraction shrinks
# exponentially with K (004, *VAE Likelihood*; lesson 1) — in K = 20 no k
# would do. The encoder's q(z|x) puts its samples where the posterior is,
# which is the whole reason to have one. Second, IS with q is consistent but
# not magic: where the true posterior has mass that the (unimodal, often too
# narrow) q misses, the estimate stays below log p(x) for a long time —
# look at the per-digit differences above.
#
# ## 3. A linear VAE reaches the pPCA optimum
#
# Data sampled from a pPCA model (D = 10, K = 2, σ² = 0.1). A linear VAE
# (x̂ = W_d z + b_d, shared decoder variance; linear encoder) *is* a pPCA
# model, p(x) = N(b_d, W_d W_dᵀ + σ_d² I), so its exact log-likelihood is
# available (`PPCA.from_params`), and log p(x) = ELBO + KL(q ‖ p(z|x))
# holds exactly with the encoder's diagonal q. The ML pPCA fit is the best
# any such model can do on the training set; at that optimum the true
# posterior covariance σ²M⁻¹ is diagonal (W's columns orthogonal), so a
# diagonal q can close the gap (Lucas et al. 2019, *Don't blame the ELBO!*).

# %%
D, K = 10, 2
W_true, b_true = rng.normal(size=(D, K)), rng.normal(size=D)
Xp = make_ppca_data(2000, W_true, b_true, 0.1, rng)
ppca = PPCA(K).fit(Xp)
ll_opt = ppca.log_likelihood(Xp).mean()
post_cov_opt = ppca.posterior(Xp[:1])[1]
check("at the ML optimum the posterior covariance σ²M⁻¹ is diagonal (W's columns orthogonal)",
      post_cov_opt - np.diag(np.diag(post_cov_opt)), np.zeros((K, K)), atol=1e-10 * np.abs(post_cov_opt).max())
lin = VAE(D, hidden=(), z_dim=K, decoder="gaussian", decoder_var="shared", seed=L.seed)
# Minibatch steps to get close, then full-batch steps (the minibatch noise gone; only the
# noise of one ε per point remains): large ones first, which turn W_d's columns towards
# orthogonal — the slow direction described below; with 600 steps at lr 1e-3 instead, the
# fit stopped hundredths of a nat short on most data sets and nats short on some
# — then smaller ones that settle on the optimum instead of jittering around it.
fit(lin, Xp, epochs=80, batch_size=100, lr=1e-2, seed=L.seed, progress=False)
fit(lin, Xp, epochs=L.size(2500, 1000), batch_size=len(Xp), lr=2e-2, seed=L.seed + 1, progress=False)
fit(lin, Xp, epochs=L.size(600, 300), batch_size=len(Xp), lr=1e-3, seed=L.seed + 2, progress=False)
fit(lin, Xp, epochs=L.size(300, 150), batch_size=len(Xp), lr=2e-4, seed=L.seed + 3, progress=False)
as_ppca = PPCA.from_params(lin.params["dec.0.W"].T, lin.params["dec.0.b"], float(np.exp(lin.params["dec.logvar"][0])))
ll_lin = as_ppca.log_likelihood(Xp).mean()
mu_q, lv_q = lin.encode(Xp)
S_q = np.exp(lv_q)[:, :, None] * np.eye(K)                                        # (N, K, K) diagonal q
elbo_exact = as_ppca.elbo(Xp, mu_q, S_q)
kl_post = as_ppca.kl_to_posterior(Xp, mu_q, S_q)
elbo_mc = lin.elbo(Xp, n_samples=200, rng=rng)[0]
ll_is = lin.log_likelihood(Xp, k=L.size(2000, 500), rng=rng)
print(f"pPCA optimum (closed form)          {ll_opt:9.4f} nats per point")
print(f"linear VAE, exact log p(x)          {ll_lin:9.4f}   (optimum − this: {ll_opt - ll_lin:.4f})")
print(f"linear VAE, IS estimate (VAE.log_likelihood) {ll_is.mean():9.4f}")
print(f"linear VAE, ELBO (exact / Monte Carlo)       {elbo_exact.mean():9.4f} / {elbo_mc.mean():.4f}")
print(f"KL(q ‖ p(z|x)) of its diagonal encoder       {kl_post.mean():9.4f}")
W_d = lin.params["dec.0.W"].T
print(f"W_dᵀW_d (off-diagonal → 0 at the optimum):\n{W_d.T @ W_d}")
check("log p(x) = ELBO + KL(q‖p(z|x)) for the linear VAE, exactly", ll_lin, (elbo_exact + kl_post).mean(), atol=1e-9)
check("the library's Monte Carlo ELBO agrees with the exact one", elbo_mc.mean(), elbo_exact.mean(), atol=0.01)
check("VAE.log_likelihood estimates the linear VAE's exact log p(x)", ll_is.mean(), ll_lin, atol=0.01)
tol_model, tol_elbo = L.size((0.01, 0.05), (0.02, 0.15))
check("the linear VAE's log-likelihood reaches the pPCA optimum", ll_lin, ll_opt, atol=tol_model)
check("…and its ELBO approaches it too (the gap is KL to the posterior)", elbo_exact.mean(), ll_opt, atol=tol_elbo)
check_that("the optimum is not exceeded", ll_lin <= ll_opt + 1e-9)

# %% [markdown]
# The ELBO's remaining gap closes slowly: it is the KL from the diagonal q to
# the posterior, which is only zero once W_d's columns are orthogonal, and
# the loss is nearly flat along that rotation — most of a linear VAE's
# training time is spent turning W_d, not improving p(x).
#
# ## 4. Nonlinear: a curved manifold
#
# `make_manifold_data`: points near a rolled-up 2-D sheet in D = 10 with
# noise 0.05. A plane (pPCA, K = 2) cannot follow the roll; its best model
# smears the density over the whole roll's width. A VAE with K = 2 and a
# nonlinear decoder can unroll it. Held-out log-likelihoods:

# %%
Xm = make_manifold_data(L.size(3000, 1500), 10, 0.05, rng)
Xm_te = make_manifold_data(L.size(1000, 500), 10, 0.05, rng)
ppca_m = PPCA(2).fit(Xm)
vae_m = VAE(10, hidden=L.size((128, 128), (64, 64)), z_dim=2, decoder="gaussian", decoder_var="pixel",
            activation="tanh", decoder_logvar=float(np.log(0.1)), seed=L.seed)
fit(vae_m, Xm, epochs=L.size(150, 40), batch_size=50, lr=3e-3, seed=L.seed, progress=False)
ll_p = ppca_m.log_likelihood(Xm_te).mean()
ll_v = vae_m.log_likelihood(Xm_te, k=L.size(1000, 200), rng=rng).mean()
elbo_v = vae_m.elbo(Xm_te, n_samples=10, rng=rng)[0].mean()
print(f"held-out log p(x): pPCA K=2 {ll_p:.3f}, VAE K=2 {ll_v:.3f} (ELBO {elbo_v:.3f}) nats per point")
check_that("the K = 2 VAE beats K = 2 pPCA clearly: by more than 1.5 nats per point", ll_v > ll_p + 1.5,
           f"{ll_v - ll_p:.2f} nats")
check_that("…and even its ELBO, a lower bound, is above pPCA's exact log-likelihood", elbo_v > ll_p)

fig = plt.figure(figsize=(12, 4))
_, _, Vt = np.linalg.svd(Xm - Xm.mean(0), full_matrices=False)
proj = lambda A: (A - Xm.mean(0)) @ Vt[:3].T                                      # noqa: E731
for i, (name, pts) in enumerate((("held-out data", Xm_te), ("pPCA K=2 samples", ppca_m.sample(800, rng)),
                                  ("VAE K=2 samples (mean + decoder noise)",
                                   vae_m.sample(800, rng) + np.exp(0.5 * vae_m.params["dec.logvar"])
                                   * rng.standard_normal((800, 10))))):
    ax = fig.add_subplot(1, 3, i + 1, projection="3d")
    P3 = proj(pts)
    ax.scatter(P3[:, 0], P3[:, 1], P3[:, 2], s=2, c=P3[:, 2], cmap="viridis")
    ax.set_title(name, fontsize=9)
    ax.set(xlabel="PC 1", ylabel="PC 2", zlabel="PC 3")
    ax.view_init(elev=25, azim=60)
fig.suptitle("Curved 2-D sheet in D = 10, projected on the data's top 3 principal components")
L.savefig(fig, "08_manifold_samples")

# %% [markdown]
# ## Summary
#
# - A VAE's log-likelihood is log ∫ p_θ(x|z) p(z) dz, the decoder's. It is
#   estimated by importance sampling with the encoder as proposal; k = 1 is
#   the ELBO, and the estimate rises towards log p(x) as k grows (checked
#   against a 2-D quadrature: never above it beyond sampling noise; k = 10⁴
#   closes the gap for digits whose posterior q covers, and stays nats short
#   for those it misses). Sampling the prior instead is
#   far worse even in 2-D.
# - A linear VAE is a pPCA model: it reaches pPCA's ML log-likelihood
#   (tolerance printed above), and log p(x) = ELBO + KL(q‖p(z|x)) holds to
#   1e-9 for its encoder.
# - On a curved sheet, and on the digits at small K, a nonlinear VAE beats
#   pPCA by several nats per point.
#
# ## Exercises
#
# Worked solutions (exercises 1–3), which run and assert their answers: `solutions_06_to_09.py`.
#
# 1. Estimate Var of the k-sample estimate's *exponential* (the unbiased
#    estimate of p(x)) and of its log. Which one's bias falls like 1/k?
# 2. Replace q by q with its σ doubled, as a proposal. Does the IS estimate
#    still converge to the quadrature value? Faster or slower?
# 3. Run `compare("fashion-mnist", z_dim=(2, 8), epochs=10, k=100)` (10,000
#    images of 28×28). Does the VAE's lead over pPCA grow or shrink?
