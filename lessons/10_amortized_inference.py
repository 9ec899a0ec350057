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
# # Lesson 10 — Amortized inference and the two inference gaps
#
# **What this lesson derives and measures.** A VAE's encoder is *one*
# network that maps every x to its q_φ(z|x): inference is *amortized* over the
# data set. The alternative the lecture mentions is a separate variational
# distribution per datapoint, each optimised on its own. We build those
# separate ones — q*, the best Gaussian for one image with the decoder fixed
# (`numvae.inference.optimize_q`) — in two families, diagonal and full
# covariance, and split the ELBO's shortfall
#
# $$\log p(x) - \mathrm{ELBO}(q_\phi) =
#   \underbrace{\log p(x) - \mathrm{ELBO}(q^*)}_{\text{approximation gap}} +
#   \underbrace{\mathrm{ELBO}(q^*) - \mathrm{ELBO}(q_\phi)}_{\text{amortization gap}}$$
#
# (Cremer, Li & Duvenaud 2018): what the Gaussian family costs, and what
# sharing one encoder costs. With K = 2 the true posterior p(z|x) can be
# computed on a grid, so every term is checked against quadrature; on a
# linear-Gaussian decoder every term has a closed form.
#
# **Lectures followed.**
# - Comminiello, *Generative latent variable models: the VAE*,
#   002_b4c24ccd2e75c8da.txt, slide *Advantages of the VAE: amortized
#   inference*: one recognition model instead of "a separate variational
#   distribution for each data observation, which is inefficient for large
#   data-set"; inference in "a single feedforward pass".
# - 002, *Parameterizing the inference model*: "a single encoder neural
#   network f_φ(·) is used to perform posterior inference over all of the
#   datapoints (amortized variational inference)".
# - 002, *Maximization of the marginal log-likelihood* (eq. 3) and *Role of
#   KL divergence and ELBO*: log p(x) = ELBO(q) + KL(q ‖ p(z|x)); the KL is at
#   once the distance of q from the true posterior and the tightness of the
#   bound.
# - 002, *Change of variables* and *Computation of log q_φ(z|x)*: for
#   z = μ + Lε, log q(z|x) = log N(ε; 0, I) − Σ_j log L_jj, the full-covariance
#   posterior of `VAE(posterior="full")`.
#
# **Take-away.** Both gaps are real; for this small K = 2 model each is a few
# hundredths to a few tenths of a nat per image, and which one is larger
# depends on the images and on how long the VAE trained (this run's numbers
# are printed in section 3; `numvae compare`, with larger K, finds the
# amortization gap the larger by far). A full covariance closes part of the
# approximation gap, the more the more tilted the true posterior is. The
# price of per-datapoint inference is thousands of decoder passes per image
# against one encoder pass (counted and asserted in section 5).

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
from scipy.special import logsumexp
from scipy.stats import ortho_group

from _lesson import check, check_that, grade, setup, YourTurn  # noqa: F401  (YourTurn: the student version's stubs)
from numvae.data import load_digits, split
from numvae.distributions import kl_gaussians
from numvae.inference import defensive_log_px, elbo_of, encoder_outputs, gaps, optimize_q, sign_design
from numvae.posteriors import make_posterior
from numvae.ppca import PPCA
from numvae.train import fit
from numvae.vae import VAE

L = setup("Lesson 10: amortized inference and the inference gaps")
rng = L.rng

# %% [markdown]
# ## 1. A K = 2 VAE on the digits, and the true posterior on a grid
#
# A Bernoulli-decoder VAE with two latent dimensions (the decoder of the deep
# latent variable model of 002). For a few held-out digits we compute the
# unnormalised posterior p(x, z) = p(x|z) p(z) on a grid of z, written here
# from the formulas (not through the library's likelihood):
#
# $$\log p(x|z) = \sum_d x_d\,l_d(z) - \log(1 + e^{l_d(z)}),\qquad
#   \log p(z) = -\tfrac12\lVert z\rVert^2 - \log 2\pi,$$
#
# l(z) being the decoder's logits, and log p(x) = log Σ_grid p(x, z) Δz₁Δz₂.

# %%
X, y = load_digits()
(X_tr, _), (X_te, _) = split(X, [0.8, 0.2], L.seed, y=y)
vae = VAE(64, hidden=(128,), z_dim=2, decoder="bernoulli", seed=L.seed)
fit(vae, X_tr, epochs=L.size(60, 15), batch_size=50, lr=3e-3, seed=L.seed, progress=False)
n_img = L.size(6, 3)
x = X_te[:n_img]                                                                 # (n, 64)

# The three posteriors we compare: the encoder's, and the per-image optima of both families.
steps = L.size(600, 300)
q_phi = encoder_outputs(vae, x, "diagonal")                                     # (n, 4)  mu, logvar
t0 = time.perf_counter()
q_diag = optimize_q(vae, x, "diagonal", steps=steps, rng=rng)
q_full = optimize_q(vae, x, "full", steps=steps, rng=rng)
seconds_q_star = time.perf_counter() - t0
diag_family = make_posterior("diagonal", 2)
covs = {"q_φ (encoder)": diag_family.covariance(diag_family.split(q_phi)),
        "q* diagonal": q_diag.cov, "q* full": q_full.cov}
means = {"q_φ (encoder)": q_phi[:, :2], "q* diagonal": q_diag.mu, "q* full": q_full.mu}


def log_joint(model, x1, z):
    """log p(x|z) + log p(z) for one image x1 (D,) at grid points z (M, 2), from the formulas above."""
    out = np.empty(len(z))
    for s in range(0, len(z), 50_000):                                           # bounded memory on fine grids
        logits = model.decoder.forward(z[s:s + 50_000])                          # (m, D)
        out[s:s + 50_000] = logits @ x1 - np.logaddexp(0.0, logits).sum(axis=1)  # (m,)  log p(x|z)
    return out - 0.5 * (z * z).sum(axis=1) - np.log(2 * np.pi)


def grid(i, n_points, half_width_sd):
    """Grid axes around q*_full's mean for image i, covering half_width_sd of the widest of the three q's."""
    sd = np.sqrt(np.max([np.diagonal(c[i]) for c in covs.values()], axis=0))    # (2,)
    return [q_full.mu[i, j] + np.linspace(-half_width_sd * sd[j], half_width_sd * sd[j], n_points)
            for j in range(2)]


_on_grid_cache = {}


def on_grid(i, n_points=None, half_width_sd=None):
    """(axes, z (M, 2), log p(x, z) (M,), log cell area) on the grid of image i (default: its converged grid)."""
    n0, hw0 = grid_size.get(i, (L.size(241, 161), 8.0))
    key = (i, n0 if n_points is None else n_points, hw0 if half_width_sd is None else half_width_sd)
    if key not in _on_grid_cache:                                                 # the decoder runs once per grid
        axes = grid(i, key[1], key[2])
        z = np.stack([a.ravel() for a in np.meshgrid(*axes, indexing="ij")], axis=1)
        _on_grid_cache[key] = (axes, z, log_joint(vae, x[i], z), np.log(np.diff(axes[0])[0] * np.diff(axes[1])[0]))
    return _on_grid_cache[key]


def quadrature_log_px(i, n_points, half_width_sd):
    _, _, lj, log_cell = on_grid(i, n_points, half_width_sd)
    return logsumexp(lj) + log_cell


# Each image's grid is widened and refined until a grid 1.5x wider with 1.5x finer
# spacing (2.25x the points per axis) moves log p(x) by less than 1e-3 nats: a
# posterior can hold mass beyond 8 standard deviations of all three q's (a second
# mode they miss), and a sharp one needs finer cells.
grid_size = {}
log_px, log_px_check = np.empty(n_img), np.empty(n_img)
for i in range(n_img):
    n, hw = L.size(241, 161), 8.0
    while True:
        log_px[i] = quadrature_log_px(i, n, hw)
        log_px_check[i] = quadrature_log_px(i, int(2.25 * n) | 1, 1.5 * hw)
        if abs(log_px_check[i] - log_px[i]) < 1e-3 or n > 600:
            break
        n, hw = int(1.5 * n) | 1, 1.5 * hw
    grid_size[i] = (n, hw)
print("grids (points per axis, half-width in q standard deviations):", list(grid_size.values()))
check("quadrature error: a grid 1.5x wider and 1.5x finer moves log p(x) by < 1e-3 nats",
      log_px_check, log_px, atol=1e-3)

# %% [markdown]
# Importance sampling (002, eq. 9) with k = 10⁴ samples. The proposal is
# the best Gaussian we have, the full-covariance q*, mixed with the prior:
# r(z) = ¾ q*(z) + ¼ p(z) (`inference.defensive_log_px`; Hesterberg 1995). A
# Gaussian alone has light tails: where the posterior has a second mode many
# of q*'s standard deviations away (what the grids above widen for), q*
# almost never draws it, and the estimate can miss that mode's mass while its
# standard error looks small. The prior's quarter of the draws covers any
# mode the prior reaches, and no weight p(x|z)p(z)/r(z) can exceed 4 p(x|z).
# The estimate is still biased *low* (Burda et al. 2015), so the check is
# one-sided: never above the quadrature value by more than its noise, and
# below it by at most 0.05 nats plus 4 standard errors.

# %%
k = 10_000
log_is, se_is = defensive_log_px(vae, x, ("full", q_full.h), k=k, rng=rng)
print("log p(x): quadrature    ", np.round(log_px, 3),
      "\n          IS, ¾q* + ¼p(z)", np.round(log_is, 3), "± ", np.round(se_is, 4))
check_that("IS (k = 10⁴, defensive proposal) is not above the quadrature value beyond 4 SE",
           log_is <= log_px + 4 * se_is + 1e-3, f"max excess {np.max(log_is - log_px):.4f}")
check_that("…and below it by at most 0.05 nats + 4 SE", log_px - log_is <= 0.05 + 4 * se_is,
           f"max shortfall {np.max(log_px - log_is):.4f} nats")

# %% [markdown]
# ## 2. The three posteriors over the true one
#
# Contours of the true posterior p(z|x) (normalised on the grid) and the
# 1- and 2-standard-deviation ellipses of q_φ, q*_diagonal and q*_full. A
# diagonal Gaussian's ellipse has its axes along z₁ and z₂; where the true
# posterior is tilted, only the full covariance can follow it.
#
# The true posterior need not be one bump at all. A decoder can map two
# distant codes to images that both explain x about equally well, and then
# p(z|x) has a second mode (why the grids above widen). Every q here is one
# Gaussian, so it sits on one mode — the reverse KL's choice (lesson 2,
# section 4) — and the mass of the other is part of the approximation gap
# that no Gaussian family can close. We print, per image, how much of the
# posterior's mass lies outside q*_full's 3-standard-deviation ellipse (a
# single Gaussian posterior would leave 1.1 % there): where it is large, look
# for the second mode in the figure.

# %%
colors = {"q_φ (encoder)": "tab:red", "q* diagonal": "tab:orange", "q* full": "tab:blue"}
theta = np.linspace(0, 2 * np.pi, 200)
fig, axs = plt.subplots(1, n_img, figsize=(3.5 * n_img, 3.8), layout="constrained")
for i, ax in enumerate(np.atleast_1d(axs)):
    axes, z, lj, _ = on_grid(i)
    post = np.exp(lj - lj.max()).reshape(len(axes[0]), len(axes[1]))
    ax.contourf(axes[0], axes[1], post.T, levels=12, cmap="Greys")
    for name, c in colors.items():
        Lc = np.linalg.cholesky(covs[name][i])
        for r in (1, 2):
            e = means[name][i] + r * np.stack([np.cos(theta), np.sin(theta)], 1) @ Lc.T
            ax.plot(e[:, 0], e[:, 1], color=c, lw=1.2, ls="-" if r == 1 else ":",
                    label=name if (i == 0 and r == 1) else None)
    sd = np.sqrt(np.diagonal(q_full.cov[i]))
    ax.set(xlim=q_full.mu[i, 0] + 4 * sd[0] * np.array([-1, 1]),
           ylim=q_full.mu[i, 1] + 4 * sd[1] * np.array([-1, 1]), xlabel="z₁", ylabel="z₂",
           title=f"test digit {i}")
np.atleast_1d(axs)[0].legend(fontsize=7, loc="lower left")
outside = []
for i in range(n_img):
    _, z, lj, log_cell = on_grid(i)
    post_mass = np.exp(lj + log_cell - log_px[i])                                # (M,) sums to ~1
    d = z - q_full.mu[i]
    maha2 = np.einsum("mi,ij,mj->m", d, np.linalg.inv(q_full.cov[i]), d)
    outside.append(post_mass[maha2 > 9].sum())
print("posterior mass outside q*_full's 3-sd ellipse, per image:", np.round(outside, 3),
      "(1.1 % for a Gaussian posterior)")
fig.suptitle("K = 2 Bernoulli VAE, held-out digits:\n"
             "the true posterior p(z|x) (grey) and each q (1 sd solid, 2 sd dotted)")
L.savefig(fig, "10_posteriors")

# %% [markdown]
# ## 3. The ELBOs, the ordering, and the gap table
#
# Each ELBO twice: by Monte Carlo on common noise (`inference.elbo_of`,
# whose differences have small errors), and by quadrature on the grid,
# ELBO(q) = Σ q(z)[log p(x, z) − log q(z)] Δz, independent of any sampling.
# Eq. 3 says log p(x) − ELBO(q) = KL(q ‖ p(z|x)) ≥ 0, and each family's optimum
# can only improve on what it contains:
#
# ELBO(q_φ) ≤ ELBO(q*_diag) ≤ ELBO(q*_full) ≤ log p(x).

# %%
names = ("q_φ (encoder)", "q* diagonal", "q* full")
qs = [("diagonal", q_phi), ("diagonal", q_diag.h), ("full", q_full.h)]
n_mc = L.size(20_000, 5_000)
elbo_mc, se_mc, dse_mc = elbo_of(vae, x, qs, n_mc, rng=rng)                       # (3, n), (3, n), (2, n)


def elbo_on_grid(i, post_name, h_row):
    """ELBO of image i's q (raw parameters h_row of the family) by quadrature on its grid."""
    family = make_posterior(post_name, 2)
    _, z, lj, log_cell = on_grid(i)
    log_q = family.log_q(z[None], family.split(h_row[None]))[0]                   # (M,)
    return np.sum(np.exp(log_q + log_cell) * (lj - log_q))


def quadrature_elbo(i, post_name, h):
    return elbo_on_grid(i, post_name, h[i])


elbo_quad = np.array([[quadrature_elbo(i, post, h) for i in range(n_img)] for post, h in qs])   # (3, n)
check("Monte Carlo ELBOs agree with the quadrature ELBOs within 5 SE (+ quadrature error)",
      elbo_mc, elbo_quad, atol=5 * se_mc + 1e-3)

# Before the ordering: did the optimizer do anything? Each q* must have moved away from where it
# started (the encoder's q_φ): its mean ELBO gain over the images beyond 5 standard errors of the
# paired Monte Carlo difference. And it must have arrived: on the grid, with no sampling, no step
# of a tenth of a standard deviation in any mean or Cholesky entry, nor of 0.1 in any log-variance,
# raises its ELBO by more than a fifth of what it gained over q_φ, plus 2e-3 nats (the
# optimizer's precision: its averaged stochastic iterates stop within a few 1e-3 nats).
gain = elbo_mc[1:] - elbo_mc[0]                                                   # (2, n) q*_diag, q*_full over q_φ
# (q*_full − q_φ is the sum of the two paired differences; its SE is at most the sum of theirs.)
gain_se = np.sqrt([np.sum(dse_mc[0] ** 2), np.sum((dse_mc[0] + dse_mc[1]) ** 2)]) / n_img
for f, name in enumerate(("q*_diag", "q*_full")):
    check_that(f"{name} moved: its mean ELBO gain over q_φ is beyond 5 SE", gain[f].mean() > 5 * gain_se[f],
               f"{gain[f].mean():.4f} nats, SE {gain_se[f]:.1e}")


def best_step_gain(i, post_name, h_row, sd):
    """Largest quadrature-ELBO gain of image i's q over ±steps in each of its raw parameters."""
    family = make_posterior(post_name, 2)
    size = np.concatenate([0.1 * sd, np.full(2, 0.1), [0.1 * sd[1]] * (len(h_row) - 4)])   # mu, log-scales, L_10
    base = elbo_on_grid(i, post_name, h_row)
    return max(elbo_on_grid(i, post_name, h_row + sign * size[j] * np.eye(len(h_row))[j]) - base
               for j in range(len(h_row)) for sign in (1, -1))


steps_gain = np.array([[best_step_gain(i, post, h[i], np.sqrt(np.diagonal(covs[name][i])))
                        for i in range(n_img)] for (post, h), name in zip(qs[1:], names[1:])])   # (2, n)
gain_quad = np.array([[elbo_on_grid(i, post, h[i]) - elbo_on_grid(i, "diagonal", q_phi[i]) for i in range(n_img)]
                      for post, h in qs[1:]])                                     # (2, n) on the grid
check_that("q*_diag and q*_full arrived: no small step of any parameter gains more than a fifth of what q* "
           "gained over q_φ (+ 2e-3 nats, the optimizer's precision)", np.all(steps_gain <= 0.2 * gain_quad + 2e-3),
           f"largest gain of a step {steps_gain.max():.1e} nats; gains over q_φ ≥ {gain_quad.min():.1e}")
check_that("ELBO(q_φ) ≤ ELBO(q*_diag), within Monte Carlo error (4 SE of the paired difference)",
           elbo_mc[1] - elbo_mc[0] >= -4 * dse_mc[0], f"smallest gain {np.min(elbo_mc[1] - elbo_mc[0]):.4f}")
# The full family contains the diagonal one, so at the optimum the gain is ≥ 0; where the
# posterior is nearly axis-aligned it is ~0, and each q* is found only to a few 1e-3 nats
# (the steps of the "arrived" check gain up to 6.5e-3 at some seeds).
check_that("ELBO(q*_diag) ≤ ELBO(q*_full), within Monte Carlo error and the optimizer's precision (1e-2)",
           elbo_mc[2] - elbo_mc[1] >= -4 * dse_mc[1] - 1e-2, f"smallest gain {np.min(elbo_mc[2] - elbo_mc[1]):.4f}")
check_that("ELBO(q*_full) ≤ log p(x), within Monte Carlo error", elbo_mc[2] <= log_px + 4 * se_mc[2] + 1e-3)
check_that("the same ordering on the quadrature ELBOs (no sampling), to the optimizer's 1e-2",
           np.all(np.diff(np.vstack([elbo_quad, log_px]), axis=0) >= -1e-2))

print(f"\n{'image':>5} {'log p(x)':>9} {'ELBO q_φ':>9} {'ELBO q*d':>9} {'ELBO q*f':>9} "
      f"{'approx gap (diag)':>18} {'amort gap (diag)':>17} {'approx gap (full)':>18}")
for i in range(n_img):
    print(f"{i:>5} {log_px[i]:9.3f} {elbo_quad[0, i]:9.3f} {elbo_quad[1, i]:9.3f} {elbo_quad[2, i]:9.3f} "
          f"{log_px[i] - elbo_quad[1, i]:18.3f} {elbo_quad[1, i] - elbo_quad[0, i]:17.3f} "
          f"{log_px[i] - elbo_quad[2, i]:18.3f}")
approx_d, amort_d = (log_px - elbo_quad[1]).mean(), (elbo_quad[1] - elbo_quad[0]).mean()
approx_f = (log_px - elbo_quad[2]).mean()
print(f"mean: approximation gap {approx_d:.3f}, amortization gap {amort_d:.3f} nats (diagonal family); "
      f"full covariance leaves {approx_f:.3f}; the {'amortization' if amort_d > approx_d else 'approximation'} "
      f"gap is the larger in this run")

# %% [markdown]
# The library's `inference.gaps` does the same split with importance
# sampling in place of the grid (it works for any K). Its answers must match
# the quadrature's within its own standard errors.

# %%
g = gaps(vae, x, k=L.size(5000, 2000), steps=steps, n_eval=n_mc, rng=rng)
check("inference.gaps: log p̂(x) = the quadrature value (one-sided bias ≤ 0.05 allowed)",
      g.log_px, log_px - 0.025, atol=0.025 + 4 * g.log_px_se)
# gaps() runs its own optimisation of q*; where a posterior has two modes it
# may settle on another local optimum than q_diag above, so its gaps are
# checked against the quadrature ELBO of its own q*.
elbo_quad_g = np.array([quadrature_elbo(i, "diagonal", g.q_star.h) for i in range(n_img)])  # (n,)
print("q*_diag of gaps() vs above, quadrature ELBO:", np.round(elbo_quad_g, 3), np.round(elbo_quad[1], 3))
# gaps() takes log p(x) from importance sampling, biased low by up to the 0.05 nats
# allowed above: its approximation gap inherits that one-sided bias.
check("inference.gaps: approximation gap = the quadrature one (less the IS bias, ≤ 0.05)", g.approximation,
      log_px - elbo_quad_g - 0.025, atol=0.025 + 4 * g.approximation_se + 2e-3)
check("inference.gaps: amortization gap = the quadrature one", g.amortization, elbo_quad_g - elbo_quad[0],
      atol=4 * g.amortization_se + 2e-3)

# %% [markdown]
# ## 4. Where the answers are known exactly: a linear-Gaussian decoder
#
# For p(x|z) = N(Wz + b, σ²I) (pPCA, 002 *Probabilistic PCA*) the posterior is
# N(m, Λ⁻¹) with precision Λ = WᵀW/σ² + I = σ⁻²M, M = WᵀW + σ²I — the very
# matrix σ⁻²M that 002's slide prints as the posterior *covariance* (lesson 3
# shows it is the precision). The full-covariance q* must be exactly that
# posterior. For a diagonal q = N(μ, diag v) the gap is the KL to it,
#
# $$KL = \tfrac12\Bigl[\sum_j \Lambda_{jj} v_j - K - \sum_j \log v_j - \log\det\Lambda
#   + (\mu - m)^\top\Lambda(\mu - m)\Bigr]$$
#
# (003's Gaussian KL with Σ₁ = diag v, Σ₂ = Λ⁻¹). Setting ∂/∂μ = 0 gives μ = m;
# ∂/∂v_j = ½(Λ_jj − 1/v_j) = 0 gives v_j = 1/Λ_jj (the mean-field optimum,
# Bishop PRML §10.1.2). Put back in, Σ_j Λ_jj v_j = K and the KL is
#
# $$\log p(x) - \mathrm{ELBO}(q^*_{\text{diag}}) = \tfrac12\Bigl(\sum_j\log\Lambda_{jj} - \log\det\Lambda\Bigr),$$
#
# ≥ 0 by Hadamard's inequality (det Λ ≤ Π_j Λ_jj), zero when Λ — that is
# WᵀW — is diagonal, positive when the posterior is tilted. Rotating W → WR
# (R orthogonal) leaves p(x) unchanged (WRRᵀWᵀ = WWᵀ) but tilts the
# posterior, Λ → RᵀΛR, and opens that gap. The ELBOs here are evaluated in
# closed form with `PPCA.elbo`; R is a fixed rotation (45° in the (z₁, z₂)
# plane, then 30° in (z₂, z₃)), so the gap it opens is the same at every seed.

# %%
D, K3 = 6, 3
W = ortho_group.rvs(D, random_state=L.seed)[:, :K3] * np.array([2.5, 1.2, 0.6])     # orthogonal columns
b, sigma2 = rng.normal(size=D), 0.3


def linear_case(W):
    ppca = PPCA.from_params(W, b, sigma2)
    m = VAE(D, hidden=(), z_dim=K3, decoder="gaussian", decoder_var="shared", seed=L.seed)
    m.params["dec.0.W"][...] = W.T
    m.params["dec.0.b"][...] = b
    m.params["dec.logvar"][...] = np.log(sigma2)
    return ppca, m, W.T @ W / sigma2 + np.eye(K3)


def mean_field_gap(Lam):
    """log p(x) − ELBO(q*_diag) = ½(Σ_j log Λ_jj − log det Λ) for the posterior precision Lam (K, K)."""
    # your turn: the mean-field gap ½(Σ_j log Λ_jj − log det Λ) from the posterior precision Lam (section 4)
    ### BEGIN SOLUTION
    return 0.5 * (np.log(np.diag(Lam)).sum() - np.linalg.slogdet(Lam)[1])
    ### END SOLUTION


xl = PPCA.from_params(W, b, sigma2).sample(L.size(20, 8), rng)
def plane_rotation(i, j, angle):
    """The K3 x K3 rotation by `angle` in the (z_i, z_j) plane."""
    Rp = np.eye(K3)
    Rp[[i, i, j, j], [i, j, i, j]] = np.cos(angle), -np.sin(angle), np.sin(angle), np.cos(angle)
    return Rp


R = plane_rotation(0, 1, np.pi / 4) @ plane_rotation(1, 2, np.pi / 6)

# Your turn: `mean_field_gap` above. It is graded against the KL it stands for, computed by the
# library's general Gaussian KL (no closed form of the optimum in it): KL(N(m, diag 1/Λ_jj) ||
# N(m, Λ⁻¹)), on the rotated case's Λ and on a random precision matrix (from a generator of
# its own, so the lesson's draws are unchanged).
Q10, _ = np.linalg.qr(L.rng_for("your turn: mean-field gap").standard_normal((K3, K3)))
for where, Lam_g in (("the rotated case's Λ", (W @ R).T @ (W @ R) / sigma2 + np.eye(K3)),
                     ("a random precision", (Q10 * np.array([0.5, 2.0, 6.0])) @ Q10.T)):
    cov_g, zero_g = np.linalg.inv(Lam_g), np.zeros(K3)
    diag_log, logdet = np.log(np.diag(Lam_g)), np.linalg.slogdet(Lam_g)[1]
    grade(f"the mean-field gap at {where}", mean_field_gap(Lam_g),
          kl_gaussians(zero_g, np.diag(1 / np.diag(Lam_g)), zero_g, cov_g), mistakes=[
              (0.5 * (logdet - diag_log.sum()), "the sign is flipped: Hadamard's det Λ ≤ Π_j Λ_jj makes "
                                                "Σ log Λ_jj − log det Λ the non-negative order"),
              (diag_log.sum() - logdet, "twice the gap: the ½ of the Gaussian KL is missing"),
              (0.5 * (np.log(np.diag(cov_g)).sum() + logdet), "that uses the diagonal of the covariance Λ⁻¹; "
                                                              "the formula needs the precision's diagonal Λ_jj"),
              (0.5 * (np.log(np.trace(Lam_g)) - logdet), "Σ_j log Λ_jj is the sum of the logs of the "
                                                         "diagonal entries, not the log of their sum"),
          ], hint="½ (Σ_j log Λ_jj − log det Λ): np.log(np.diag(Lam)).sum() and np.linalg.slogdet(Lam)[1]",
          atol=1e-10)
lin_gaps = []
for label, W_case in (("WᵀW diagonal", W), ("W rotated", W @ R)):
    ppca, m, Lam = linear_case(W_case)
    mean, cov = ppca.posterior(xl)
    M_case = W_case.T @ W_case + sigma2 * np.eye(K3)
    check(f"{label}: the posterior precision Λ = WᵀW/σ² + I is σ⁻²M, the inverse of the library's σ²M⁻¹",
          np.linalg.inv(cov), [Lam, M_case / sigma2], atol=1e-10 * np.abs(Lam).max())
    exact = ppca.log_likelihood(xl)
    full = optimize_q(m, xl, "full", rng=rng)
    diag = optimize_q(m, xl, "diagonal", rng=rng)
    check(f"{label}: full q* mean = the posterior mean m (1e-3 relative)", full.mu, mean,
          rtol=1e-3, atol=1e-3 * np.abs(mean).max())
    check(f"{label}: full q* covariance = Λ⁻¹ (1e-3 relative)", full.cov, np.broadcast_to(cov, full.cov.shape),
          rtol=1e-3, atol=1e-3 * np.abs(cov).max())
    check(f"{label}: log p(x) − ELBO(q*_full) = 0 (≤ 1e-3 nats)", exact - ppca.elbo(xl, full.mu, full.cov), 0.0,
          atol=1e-3)
    check(f"{label}: diagonal q* mean = m", diag.mu, mean, rtol=1e-3, atol=1e-3 * np.abs(mean).max())
    check(f"{label}: diagonal q* variances = 1/Λ_jj", np.exp(diag.logvar),
          np.broadcast_to(1 / np.diag(Lam), diag.mu.shape), rtol=1e-3)
    gap = exact - ppca.elbo(xl, diag.mu, diag.cov)
    check(f"{label}: log p(x) − ELBO(q*_diag) = ½(Σ log Λ_jj − log det Λ) = {mean_field_gap(Lam):.4f}",
          gap, mean_field_gap(Lam), atol=1e-3)
    lin_gaps.append((exact, gap, mean_field_gap(Lam)))
print(f"mean-field gap: {lin_gaps[0][2]:.4f} nats with WᵀW diagonal, {lin_gaps[1][2]:.4f} nats after the rotation")
check_that("(the rotation matters: it opens a gap of more than 0.05 nats)", lin_gaps[1][2] - lin_gaps[0][2] > 0.05,
           f"{lin_gaps[1][2] - lin_gaps[0][2]:.3f} nats")

# %% [markdown]
# ## 5. The cost the lecture names
#
# q_φ(z|x) costs one encoder pass per image. q* costs, per image, `steps`
# gradient steps, each pushing S latent samples through the decoder and
# back (S = the size of the sign design of `inference.sign_design`), plus
# the draws that evaluate its ELBO — thousands of decoder passes per image in
# either mode (the count is printed and asserted below). We count the passes
# by wrapping the two networks' forward methods, and assert the counts; the
# seconds are only printed (they depend on the machine).

# %%
counts = {"encoder": 0, "decoder": 0}


def counting(net, name):
    forward = net.forward

    def wrapped(inp):
        counts[name] += int(np.prod(inp.shape[:-1]))                             # rows (samples × images)
        return forward(inp)

    net.forward = wrapped
    return forward


originals = {name: counting(net, name) for name, net in (("encoder", vae.encoder), ("decoder", vae.decoder))}
t0 = time.perf_counter()
vae.encode(x)
seconds_amortized = time.perf_counter() - t0
check("amortized: one encoder pass per image, no decoder pass", [counts["encoder"] / n_img, counts["decoder"]],
      [1, 0])
counts.update(encoder=0, decoder=0)
n_eval = 500
t0 = time.perf_counter()
r = optimize_q(vae, x, "diagonal", steps=steps, n_eval=n_eval, rng=rng)
seconds_one = time.perf_counter() - t0
S = sign_design(2).shape[0]
check(f"q*: {steps} steps x {S} samples + {n_eval} evaluation draws decoder passes per image",
      counts["decoder"] / n_img, steps * S + n_eval)
check("…which is what the result reports", r.decoder_passes, steps * S + n_eval)
check("…and one encoder pass per image, for the starting point", counts["encoder"] / n_img, 1)
for name, net in (("encoder", vae.encoder), ("decoder", vae.decoder)):
    net.forward = originals[name]
print(f"seconds for {n_img} images: encoder {seconds_amortized:.2e} s; one q* family {seconds_one:.2f} s "
      f"(both families earlier: {seconds_q_star:.2f} s)")

# %% [markdown]
# ## Summary
#
# - The encoder's q_φ is one feedforward pass; the per-image optimum q* is
#   thousands of decoder passes (steps × S + the evaluation draws, counted in
#   section 5). That is the trade 002 *Advantages of the VAE: amortized
#   inference* describes, measured.
# - log p(x) − ELBO(q_φ) = KL(q_φ ‖ p(z|x)) (eq. 3) splits into the
#   approximation gap (the family) and the amortization gap (the shared
#   encoder), both checked against quadrature of the true posterior; a full
#   covariance shrinks the approximation gap further (figure
#   `10_posteriors`, the table above) where the true posterior is tilted; a
#   second mode of the posterior stays outside every Gaussian q.
# - On a linear-Gaussian decoder the full q* is the exact posterior and the
#   diagonal q* pays exactly ½(Σ log Λ_jj − log det Λ), Λ = σ⁻²M, which a
#   rotation of W changes without changing p(x).
#
# ## Exercises
#
# Worked solutions (exercises 1–3), which run and assert their answers: `solutions_10.py`.
#
# 1. Train the K = 2 VAE with `posterior="full"` and redo the gap table. Which
#    gap shrinks, and does the other one grow?
# 2. Replace the sign design by plain fresh draws (`eps = e` in
#    `optimize_q`) and rerun section 4. Which test fails, and why?
# 3. Train with fewer epochs (say 5). Does the amortization gap grow?
