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
# # Lesson 11 — Tighter bounds: IWAE, DReG, and what they cost the encoder
#
# **What this lesson derives and measures.** Lesson 8 used the
# importance-sampled estimate of log p(x) (002, eq. 9) only to *score* a
# trained VAE. Burda, Grosse & Salakhutdinov (2015) *train* on it: with
# w_i = p(x, z_i)/q(z_i|x), z_i ~ q(z|x),
#
# $$\mathcal L_k = \mathbb E\Bigl[\log\frac1k\sum_{i=1}^k w_i\Bigr],\qquad
#   \mathcal L_1 = \mathrm{ELBO} \le \mathcal L_k \le \mathcal L_{k+1} \le \log p(x).$$
#
# We derive the gradient of L_k and its doubly reparameterized variant DReG
# (Tucker, Lawson, Gu & Maddison 2019) beside the library's code
# (`numvae/objectives.py`), train the same VAE on the ELBO, on L_5, on L_50
# and on L_50 with DReG's encoder gradient, and measure what Burda et al.
# report — a better held-out log p(x) and more active latent units — and what
# Rainforth et al. (2018) warn of: the encoder's gradient signal-to-noise
# ratio *falls* as k grows while the decoder's rises, and DReG is the cure
# Tucker et al. propose.
#
# **Lectures followed.**
# - Comminiello, *Generative latent variable models: the VAE*,
#   002_b4c24ccd2e75c8da.txt, slide *Estimation of the marginal likelihood*
#   (eqs. 8, 9): log p(x) ≈ log (1/L) Σ_l p(x|z_l)p(z_l)/q(z_l|x) — here the
#   training objective itself, not only the score.
# - 002, *Maximization of the marginal log-likelihood* (eq. 3) and *Role of
#   KL divergence and ELBO*: log p(x) − ELBO = KL(q ‖ p(z|x)); L_k closes part
#   of that gap without changing q's family.
# - 002, *Stochastic gradient of the ELBO under reparameterization* (eq. 7)
#   and *Change of variables*: the pathwise gradient through z = μ + σ⊙ε that
#   both estimators below are built from.
# - 002, *VAE challenges: optimization issues*: inactive latent units, counted
#   here with Burda et al.'s measure (lesson 7).
#
# **Take-away.** On 8×8 binarized digits a tighter bound buys one to a few
# nats of held-out log p(x) per image over the ELBO, and another half nat or
# so from k = 5 to k = 50 (this run's numbers are printed in section 2); it keeps
# latent units alive that the ELBO switches off; it pays with a *worse* ELBO
# (the encoder is no longer asked to make q close to the posterior) and with
# an encoder gradient whose signal-to-noise ratio falls with k. DReG's does
# not, at the same cost per step.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
from scipy.special import logsumexp, softmax

from _lesson import check, check_that, grade, setup, YourTurn  # noqa: F401  (YourTurn: the student version's stubs)
from numvae.data import binarize, load_digits, split
from numvae.gradcheck import VAE_EPS, gradcheck, iwae_case
from numvae.objectives import IWAE, log_prior
from numvae.train import active_units, fit
from numvae.vae import VAE

L = setup("Lesson 11: tighter bounds (IWAE, DReG)")
rng = L.rng
X, y = load_digits()
(X_tr, _), (X_te, _) = split(X, [0.8, 0.2], L.seed, y=y)
# Binary images: log p(x) is then a log-probability (lesson 7, section 3). Training binarizes
# every batch afresh (fit(binarize=True), Salakhutdinov & Murray 2008); the test images once.
X_te = binarize(X_te, rng).astype(np.float64)
t_start = time.perf_counter()

# %% [markdown]
# ## 1. The bound and its two gradients, derived beside the code
#
# **The value.** With z_i = μ(x) + σ(x) ⊙ ε_i (one reparameterized sample per
# i), log w_i = log p(x|z_i) + log p(z_i) − log q(z_i|x), and
#
# $$\mathcal L_k(\epsilon) = \log\frac1k\sum_i e^{\log w_i} = \operatorname{logsumexp}_i \log w_i - \log k$$
#
# (`IWAE.log_weights`, `IWAE.bound`). We compute it from the formulas for a
# small model and three test digits, and compare with the library.
#
# **The IWAE gradient** (Burda et al. 2015, eq. 13). Differentiate the
# logsumexp: ∂L_k/∂log w_i = w_i / Σ_j w_j = w̃_i, the *normalized
# importance weights* (a softmax of the log weights), so
#
# $$\nabla\mathcal L_k = \sum_i \tilde w_i\,\nabla\log w_i .$$
#
# For the decoder's θ, ∇_θ log w_i = ∇_θ log p(x|z_i): the ELBO's decoder
# gradient with each sample weighted by w̃_i instead of 1/k. For the
# encoder's φ, log w_i depends on φ twice — through z_i (the *path*) and
# through q's own parameters at fixed z (the *score*):
#
# $$\nabla_\phi\log w_i = \underbrace{\frac{\partial\log w_i}{\partial z_i}\frac{\partial z_i}{\partial\phi}}_{\text{path}}
#   \;-\;\underbrace{\frac{\partial\log q_\phi(z_i|x)}{\partial\phi}\Big|_{z_i}}_{\text{score}},\qquad
#   \frac{\partial\log w_i}{\partial z_i} = \frac{\partial\log p(x|z_i)}{\partial z_i} - z_i - \frac{\partial\log q(z_i|x)}{\partial z_i}.$$
#
# In `IWAE.loss_and_grads`: `g = -w_tilde / N` is ∂loss/∂log w_i (the loss is
# −mean_n L_k); `likelihood.backward(..., g)` and `decoder_backward` give the
# decoder gradient and the first term of ∂/∂z; `- g * (p.z + score_z)` adds
# log p(z)'s −z and −log q's score in z; `IWAEGradient.encoder_terms` passes that
# path to `encoder_backward` and adds the score term,
# `posterior.log_q_backward(p.q, p.z, -g)`.
#
# **DReG** (Tucker et al. 2019). The score term has expectation zero for
# k = 1 but not for k > 1, and it is what makes the encoder's gradient noisy.
# Take its expectation over z_i alone (the other samples fixed): for any f that
# does not depend on φ, the score-function and the pathwise gradients of
# E_q[f(z)] are equal (lesson 5),
# E_q[f(z) ∂log q_φ(z)/∂φ] = E_ε[∂f/∂z · ∂z/∂φ]. With f = w̃_i, a function of
# z_i through log w_i (φ of q held fixed), ∂w̃_i/∂z_i = (w̃_i − w̃_i²) ∂log w_i/∂z_i, so
#
# $$\mathbb E\Bigl[\sum_i\tilde w_i\frac{\partial\log q_\phi(z_i)}{\partial\phi}\Big|_{z_i}\Bigr]
#   = \mathbb E\Bigl[\sum_i(\tilde w_i - \tilde w_i^2)\frac{\partial\log w_i}{\partial z_i}\frac{\partial z_i}{\partial\phi}\Bigr],$$
#
# and subtracting it from the path term leaves
#
# $$\nabla_\phi\mathcal L_k = \mathbb E\Bigl[\sum_i\tilde w_i^2\,\frac{\partial\log w_i}{\partial z_i}\frac{\partial z_i}{\partial\phi}\Bigr]:$$
#
# the same path term with *squared* weights and no score term.
# `DReGGradient.encoder_terms` returns `w_tilde * dz_path` (the IWAE path,
# already weighted by −w̃_i/N, times w̃_i once more) and no score term; the
# decoder's gradient is IWAE's. We check: the bound against the formulas, the
# IWAE gradient against finite differences (it is the exact gradient of
# L_k(ε) at frozen ε), DReG's decoder gradient equal to IWAE's, and its
# encoder gradient equal to IWAE's *in expectation* but not draw by draw.

# %%
k5 = 5
small = VAE(64, hidden=(6,), z_dim=2, decoder="bernoulli", activation="tanh", seed=L.seed, dtype=np.float64)
for name, value in small.params.items():      # biases away from zero: zeros could hide a wrong backward
    value += 0.1 * rng.standard_normal(value.shape)
x3 = X_te[:3]                                                                      # (3, 64)
eps = rng.standard_normal((k5, 3, 2))                                              # (k, N, K)

h = small.encoder.forward(x3)                                                      # (N, 2K)
mu, logvar = h[:, :2], h[:, 2:]                                                    # (N, K) each
z = mu + np.exp(0.5 * logvar) * eps                                                # (k, N, K)
logits = small.decoder.forward(z)                                                  # (k, N, D)
log_px_z = (x3 * logits - np.logaddexp(0.0, logits)).sum(-1)                       # (k, N) Bernoulli
log_pz = -0.5 * (z ** 2).sum(-1) - np.log(2 * np.pi)                               # (k, N) N(0, I), K = 2
log_q = (-0.5 * (eps ** 2 + logvar + np.log(2 * np.pi))).sum(-1)                   # (k, N) N(z; mu, σ²)
log_w = log_px_z + log_pz - log_q                                                  # (k, N)
bound_hand = logsumexp(log_w, axis=0) - np.log(k5)                                 # (N,)

iwae5, dreg5 = IWAE(k5), IWAE(k5, estimator="dreg")
loss_iwae, grads = iwae5.loss_and_grads(small, x3, eps=eps)
g_iwae = {n: v.copy() for n, v in grads.items()}
check("L_5 from the formulas = IWAE(5)'s bound", small.last_terms["bound"], bound_hand, atol=1e-12, rtol=1e-12)
check("log p(z) from the formulas = objectives.log_prior", log_prior(z), log_pz, atol=1e-12)
w_tilde = softmax(log_w, axis=0)                                                   # (k, N)
check("the normalized weights w̃ sum to 1 over the k samples", w_tilde.sum(0), 1.0, atol=1e-12)
print("w̃ of the three images (columns):\n", w_tilde)


def iwae_bound(log_w):
    """L_k = log (1/k) Σ_i w_i from the log weights log_w (k, N), over the k samples: shape (N,)."""
    # your turn: L_k = log (1/k) Σ_i exp(log w_i) over the k samples (axis 0), shifted by the largest log w_i (section 1)
    ### BEGIN SOLUTION
    top = log_w.max(axis=0)
    return top + np.log(np.mean(np.exp(log_w - top), axis=0))
    ### END SOLUTION


def normalized_weights(log_w):
    """w̃_i = w_i / Σ_j w_j = ∂L_k/∂log w_i from the log weights log_w (k, N): shape (k, N), columns summing to 1."""
    # your turn: the normalized weights w̃_i = w_i / Σ_j w_j over the k samples (axis 0), shifted by the largest log w_i (section 1)
    ### BEGIN SOLUTION
    w = np.exp(log_w - log_w.max(axis=0))
    return w / w.sum(axis=0)
    ### END SOLUTION


# Your turn: `iwae_bound` and `normalized_weights` above. They are graded against the library's
# IWAE(5) bound on the draw above and SciPy's softmax, and on log weights log w_i = log i − 1000
# (i = 1..5), where L_5 = log 3 − 1000 and w̃_i = i/15 exactly, and where exp(log w) without the
# shift underflows to 0 (a bound of −inf, weights 0/0).
tiny = np.log(np.arange(1.0, k5 + 1))[:, None] - 1000.0                            # (k, 1)
for where, lw, bound_ref, w_ref in (("the draw above", log_w, small.last_terms["bound"], w_tilde),
                                    ("log w_i = log i − 1000", tiny, np.array([np.log(3.0) - 1000.0]),
                                     np.arange(1.0, k5 + 1)[:, None] / 15.0)):
    with np.errstate(divide="ignore", invalid="ignore"):
        grade(f"L_5 at {where}", iwae_bound(lw), bound_ref, mistakes=[
            (lambda: logsumexp(lw, axis=0), "that is log Σ_i w_i: the 1/k (− log k) is missing"),
            (lambda: lw.mean(axis=0), "that is the mean of log w_i, the k-sample ELBO: the log goes outside the mean"),
            (lambda: np.log(np.mean(np.exp(lw), axis=0)), "exp(log w_i) underflows: subtract the largest log w_i "
                                                          "before exp and add it back after the log"),
        ], hint="L_k = m + log mean_i exp(log w_i − m), with m the largest log w_i of each column", atol=1e-9)
        grade(f"w̃ at {where}", normalized_weights(lw), w_ref, mistakes=[
            (lambda: np.exp(lw - lw.max(axis=0)), "not normalized: divide by the sum over the k samples"),
            (lambda: np.exp(lw) / np.exp(lw).sum(axis=0), "exp(log w_i) underflows: subtract the largest log w_i "
                                                          "first, which cancels in the ratio"),
            (lambda: np.exp(lw - lw.max(axis=1, keepdims=True)) / np.exp(lw - lw.max(axis=1, keepdims=True)).sum(
                axis=1, keepdims=True), "normalized along the images: the sum is over the k samples, axis 0"),
        ], hint="w̃_i = exp(log w_i − m) / Σ_j exp(log w_j − m), along axis 0", atol=1e-12)

# The finite-difference check runs on the library's own tiny case (`gradcheck.iwae_case`: 6 pixels,
# biases redrawn until no gradient entry is small enough to drown in rounding), which the
# digits model above cannot promise: some of its 64 pixels give entries of 1e-5.
case_model, case_fun, _ = iwae_case("bernoulli", k=k5, seed=L.seed)
report = gradcheck(case_fun, case_model.params, eps=VAE_EPS)
check("IWAE's gradient Σ w̃_i ∇log w_i = the finite-difference gradient of L_5(ε), every entry",
      report.max_rel_err, 0.0, atol=1e-6)
loss_dreg, grads = dreg5.loss_and_grads(small, x3, eps=eps)
g_dreg = {n: v.copy() for n, v in grads.items()}
check("DReG: the same loss", loss_dreg, loss_iwae, atol=1e-12)
check("DReG: the same decoder gradient", np.concatenate([g_dreg[n].ravel() for n in g_dreg if n.startswith("dec")]),
      np.concatenate([g_iwae[n].ravel() for n in g_iwae if n.startswith("dec")]), atol=1e-12)
enc_names = [n for n in small.params if n.startswith("enc")]
diff = max(np.abs(g_dreg[n] - g_iwae[n]).max() for n in enc_names)
check_that("DReG: a different encoder gradient on the same draw", diff > 1e-4, f"max |difference| {diff:.3g}")

# In expectation they agree: project both encoder gradients on a fixed random direction u and
# average over R fresh draws of eps; the mean difference must be 0 within 4 standard errors.
R = L.size(4000, 1500)
u = {n: rng.standard_normal(small.params[n].shape) for n in enc_names}
proj = np.empty((R, 2))
for r in range(R):
    e = rng.standard_normal((k5, 3, 2))
    for j, objective in enumerate((iwae5, dreg5)):
        grads = objective.loss_and_grads(small, x3, eps=e)[1]
        proj[r, j] = sum(np.sum(u[n] * grads[n]) for n in enc_names)
d = proj[:, 1] - proj[:, 0]
check("E[DReG encoder gradient] = E[IWAE encoder gradient] (projection on a random u, R draws)",
      d.mean(), 0.0, atol=4 * d.std(ddof=1) / np.sqrt(R))
print(f"projected encoder gradient over {R} draws: IWAE mean {proj[:, 0].mean():.4f} sd {proj[:, 0].std():.4f}; "
      f"DReG mean {proj[:, 1].mean():.4f} sd {proj[:, 1].std():.4f}")

# %% [markdown]
# ## 2. Four objectives, the same VAE, several training seeds
#
# One architecture (64 → 64 ReLUs → K = 32 latents → 64 ReLUs → 64 Bernoulli
# logits), the same epochs, batch size, learning rate and seed for each of:
# the ELBO (`fit`'s default), `IWAE(5)`, `IWAE(50)` and
# `IWAE(50, estimator="dreg")`. Each is scored on the same held-out digits by
# `VAE.log_likelihood` with k = 5000 importance samples (the estimate's own
# standard error from `return_se=True`), and the whole is repeated at
# several *training* seeds: one training run differs from another by more
# than one estimate's standard error, so a difference between two objectives
# is called real here only where it beats **both** — at every training seed
# it is larger than 4 standard errors of the two estimates, and its mean over
# seeds is larger than the spread (max − min over seeds) of either model's
# log p(x).

# %%
K, HIDDEN = 32, (64,)
# 20 epochs in both modes: the ELBO's units switch off slowly (lesson 7), and after 15 one
# training seed of the fast-mode sweep still had all 32 active.
EPOCHS = 20
SEEDS = [1000 * L.seed + j for j in range(L.size(3, 2))]
N_TEST = L.size(200, 60)
K_IS = 5000
OBJECTIVES = {"ELBO": None, "IWAE k=5": IWAE(5), "IWAE k=50": IWAE(50), "DReG k=50": IWAE(50, estimator="dreg")}
x_test = X_te[:N_TEST]
runs = {}                                  # (objective, seed) -> dict of results
for s in SEEDS:
    for name, objective in OBJECTIVES.items():
        t0 = time.perf_counter()
        m = VAE(64, hidden=HIDDEN, z_dim=K, decoder="bernoulli", seed=s, dtype=np.float32, fast=True)
        fit(m, X_tr, epochs=EPOCHS, batch_size=100, lr=1e-2, seed=s, binarize=True, progress=False,
            objective=objective)
        seconds = time.perf_counter() - t0
        ll, ll_se = m.log_likelihood(x_test, k=K_IS, rng=s, return_se=True)               # (n,), (n,)
        elbo = m.elbo(x_test, n_samples=100, rng=s)[0]                                    # (n,)
        runs[name, s] = dict(model=m, ll=ll.mean(), se=np.sqrt(np.sum(ll_se ** 2)) / len(ll), ll_img=ll,
                             elbo=elbo.mean(), elbo_img=elbo, au=active_units(m, x_test)[0],
                             var_mu=active_units(m, x_test)[1], seconds=seconds)
print(f"{len(SEEDS)} training seeds, {EPOCHS} epochs each, {N_TEST} test images, k = {K_IS}\n")
print(f"{'objective':<11} {'seed':>5} {'log p(x)':>9} {'± SE':>6} {'ELBO':>8} {'gap':>6} {'active':>7} {'train s':>8}")
for (name, s), r in runs.items():
    print(f"{name:<11} {s:>5} {r['ll']:9.3f} {r['se']:6.3f} {r['elbo']:8.3f} {r['ll'] - r['elbo']:6.3f} "
          f"{r['au']:>4}/{K} {r['seconds']:8.1f}")
ll = {n: np.array([runs[n, s]["ll"] for s in SEEDS]) for n in OBJECTIVES}
se = {n: np.array([runs[n, s]["se"] for s in SEEDS]) for n in OBJECTIVES}
spread = {n: np.ptp(v) for n, v in ll.items()}
print("\nseed spread (max − min) of log p(x):", {n: round(float(v), 3) for n, v in spread.items()},
      "\nlargest estimate SE:", {n: round(float(v.max()), 4) for n, v in se.items()})
check_that("a training seed moves log p(x) by more than one estimate's SE (the spread matters)",
           max(spread.values()) > 4 * max(v.max() for v in se.values()))


def established(a, b):
    """Whether log p(x) of `a` exceeds `b`'s beyond both the estimates' SE and the seed spread; and the numbers."""
    d = ll[a] - ll[b]                                                             # (seeds,)
    d_se = np.sqrt(se[a] ** 2 + se[b] ** 2)
    ok = bool(np.all(d > 4 * d_se) and d.mean() > max(spread[a], spread[b]))
    return ok, f"per seed {np.round(d, 3)} nats (4 SE ≤ {4 * d_se.max():.3f}), spread {max(spread[a], spread[b]):.3f}"


for a, b in (("IWAE k=50", "IWAE k=5"), ("IWAE k=50", "ELBO")):
    ok, detail = established(a, b)
    check_that(f"{a} beats {b} on held-out log p(x), beyond the SE and the seed spread", ok, detail)
# IWAE k=5 over the ELBO: at every training seed beyond 4 SE, but not always beyond the seed spread:
# how many units the ELBO switches off varies from seed to seed, and its log p(x) with it (in the
# sweep over lesson seeds, once by 1.7 nats against a mean difference of 1.5).
d5 = ll["IWAE k=5"] - ll["ELBO"]
check_that("IWAE k=5 beats the ELBO on held-out log p(x) at every training seed, beyond 4 SE",
           np.all(d5 > 4 * np.sqrt(se["IWAE k=5"] ** 2 + se["ELBO"] ** 2)), f"per seed {np.round(d5, 3)} nats")
ok5, detail = established("IWAE k=5", "ELBO")
print(f"…and beyond the seed spread too in this run: {ok5} ({detail})")
ok, detail = established("DReG k=50", "IWAE k=50")
ok_rev, _ = established("IWAE k=50", "DReG k=50")
print(f"DReG k=50 vs IWAE k=50: {'DReG better' if ok else 'IWAE better' if ok_rev else 'no established difference'}"
      f" at this size ({detail})")

# %% [markdown]
# The tighter bound buys log p(x) — and costs ELBO. An IWAE-trained encoder is
# no longer asked to make q(z|x) close to the posterior, only to propose
# samples whose *weighted* average is good; its ELBO, and the gap
# log p(x) − ELBO = KL(q ‖ p(z|x)) (002, eq. 3), tell how far q has moved
# from the posterior. At every seed the gap of the k = 50 models is larger
# than the ELBO model's, by more than 4 standard errors over the test images.

# %%
for name in ("IWAE k=5", "IWAE k=50", "DReG k=50"):
    d_gap = np.array([(runs[name, s]["ll_img"] - runs[name, s]["elbo_img"])
                      - (runs["ELBO", s]["ll_img"] - runs["ELBO", s]["elbo_img"]) for s in SEEDS])  # (seeds, n)
    d_mean, d_se = d_gap.mean(1), d_gap.std(1, ddof=1) / np.sqrt(N_TEST)
    check_that(f"{name}: larger gap log p(x) − ELBO than the ELBO model at every seed (> 4 SE)",
               np.all(d_mean > 4 * d_se), f"{np.round(d_mean, 2)} nats, SE ≤ {d_se.max():.3f}")

# %% [markdown]
# ## 3. Active units
#
# Burda et al.'s measure (lesson 7, `numvae.train.active_units`): unit u is
# active if Var_x E_q[z_u|x] > 0.01. With K = 32 latents, more than 8×8 digits
# need, the ELBO switches some off (the KL charges every unit that carries
# information; 002, *VAE challenges*). The tighter bounds keep at least as many.

# %%
au = {n: np.array([runs[n, s]["au"] for s in SEEDS]) for n in OBJECTIVES}
print("active units per seed:", {n: v.tolist() for n, v in au.items()})
check_that("the ELBO model leaves some of its 32 units inactive at every seed", np.all(au["ELBO"] < K),
           f"{au['ELBO'].tolist()}")
for name in ("IWAE k=5", "IWAE k=50", "DReG k=50"):
    check_that(f"{name} keeps at least as many units active as the ELBO, at every seed",
               np.all(au[name] >= au["ELBO"]), f"{au[name].tolist()} vs {au['ELBO'].tolist()}")
strict = {n: bool(np.all(au[n] > au["ELBO"])) for n in ("IWAE k=5", "IWAE k=50", "DReG k=50")}
print("strictly more than the ELBO at every seed of this run:", strict)

fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
s0 = SEEDS[0]
for name in OBJECTIVES:
    axes[0].plot(np.sort(runs[name, s0]["var_mu"])[::-1], marker=".", label=name)
axes[0].axhline(0.01, color="k", ls=":", label="threshold 0.01")
axes[0].set(yscale="log", xlabel="latent unit (sorted)", ylabel="Var_x E_q[z_u | x]",
            title=f"activity of the {K} units (training seed {s0})")
axes[0].legend(fontsize=8)
for j, name in enumerate(OBJECTIVES):
    axes[1].errorbar(np.arange(len(SEEDS)) + 0.1 * j, ll[name], yerr=4 * se[name], fmt="o", capsize=3, label=name)
axes[1].set(xticks=range(len(SEEDS)), xticklabels=[str(s) for s in SEEDS], xlabel="training seed",
            ylabel="held-out log p(x), nats (± 4 SE)", title=f"L_{K_IS} on {N_TEST} test digits")
axes[1].legend(fontsize=8)
fig.suptitle("Tighter bounds on binarized digits: active units and held-out log p(x)")
L.savefig(fig, "11_units_and_loglik")

# %% [markdown]
# ## 4. The encoder's and the decoder's gradient signal-to-noise ratio
#
# Rainforth et al. (2018) define, for each parameter, SNR = |E[g]| / sd(g)
# over the noise ε at fixed parameters, and show that for IWAE, as k → ∞, the
# encoder's SNR falls like 1/√k (its expectation ∇_φ L_k vanishes like 1/k,
# since L_k → log p(x) does not depend on φ, while its noise falls only like
# 1/√k), and the decoder's grows like √k. DReG's encoder gradient has the same
# expectation but its noise falls like k^(−3/2) (k terms of size w̃² ~ 1/k²),
# so its SNR grows like √k instead of falling (Tucker et al. 2019) — once k is
# large enough for the weights to average, which a poor q delays.
#
# We fix the parameters of the ELBO model with the most active units among
# the training seeds (20 epochs: briefly trained, q still far from the
# posterior). Not any ELBO model will do: one that has switched off every
# unit (it happens, at lesson seed 19 the first training seed keeps none) has
# q(z|x) = p(z) = p(z|x), so the encoder's expected gradient is zero at every
# k and its SNR sits at the noise floor of the measurement, the median of
# |N(0, 1)|/√(B·m) = 0.674/√(B·m), with no slope to find. We check that the
# encoder's SNR at k = 1 is well above that floor. We take a minibatch of
# n = 4 test digits, and estimate g's mean and standard deviation
# from B repeated calls. Each call holds the minibatch m times over (fresh ε
# for every copy), so it returns the *average* of m independent gradient
# estimates, whose variance is σ²/m: B calls give the mean of B·m draws and
# σ² = m × (variance of the B call results). We report the median SNR over the
# encoder's and over the decoder's parameters (those whose gradient is not
# identically zero), fit the slope of log SNR on log k, and take its standard
# error from a bootstrap over the B calls.

# %%
snr_seed = max(SEEDS, key=lambda s: runs["ELBO", s]["au"])
snr_model = runs["ELBO", snr_seed]["model"]
print(f"SNR measured on the ELBO model of training seed {snr_seed}: {runs['ELBO', snr_seed]['au']}/{K} units active")
n_img, m_rep, B = 4, 20, L.size(400, 200)
KS = np.array([1, 2, 4, 8, 16, 32])
N_BOOT = 200
x_rep = np.tile(X_te[:n_img], (m_rep, 1)).astype(np.float32)                      # (m n, D)
boot = rng.multinomial(B, np.full(B, 1 / B), size=N_BOOT) / B                      # (N_BOOT, B) resampling weights


def median_snr(A):
    """Median over parameters of |mean| / sd from B call results A (B, P), each an average of m_rep draws; and its bootstrap."""
    ok = A.std(axis=0) > 0                                                         # gradients not identically 0

    def med(mean, second):
        var = m_rep * (second - mean ** 2) * B / (B - 1)                          # σ² = m × variance of a call's result
        return np.median(np.abs(mean[..., ok]) / np.sqrt(np.maximum(var[..., ok], 1e-300)), axis=-1)
    full = med(A.mean(0), (A ** 2).mean(0))
    return full, med(boot @ A, boot @ (A ** 2))                                    # (), (N_BOOT,)


snr, snr_boot = {p: [] for p in ("IWAE encoder", "DReG encoder", "decoder")}, {p: [] for p in
                                                                               ("IWAE encoder", "DReG encoder", "decoder")}
t0 = time.perf_counter()
for k in KS:
    parts = {p: [] for p in snr}
    for b in range(B):
        e = rng.standard_normal((k, len(x_rep), K)).astype(np.float32)
        for name, objective in (("IWAE", IWAE(int(k))), ("DReG", IWAE(int(k), estimator="dreg"))):
            g = objective.loss_and_grads(snr_model, x_rep, eps=e)[1]
            parts[f"{name} encoder"].append(np.concatenate([np.ravel(g[n]) for n in g if n.startswith("enc")]))
            if name == "IWAE":   # DReG's decoder gradient is IWAE's (section 1)
                parts["decoder"].append(np.concatenate([np.ravel(g[n]) for n in g if n.startswith("dec")]))
    for p, A in parts.items():
        full, bs = median_snr(np.array(A, dtype=np.float64))
        snr[p].append(full)
        snr_boot[p].append(bs)
print(f"SNR over {B} x {m_rep} draws per k: {time.perf_counter() - t0:.1f} s")
floor = 0.674 / np.sqrt(B * m_rep)                   # median of |mean|/sd where E g = 0: |N(0, 1)|/√(B m)
check_that("the measurement resolves the encoder's SNR: IWAE's at k = 1 is above 4× the noise floor 0.674/√(B m)",
           snr["IWAE encoder"][0] > 4 * floor, f"{snr['IWAE encoder'][0]:.4f} > 4 × {floor:.4f}")
logk = np.log(KS)
slope, slope_se, boot_slopes = {}, {}, {}
for p in snr:
    slope[p] = np.polyfit(logk, np.log(snr[p]), 1)[0]
    boot_slopes[p] = np.polyfit(logk, np.log(np.array(snr_boot[p])), 1)[0]        # (N_BOOT,)
    slope_se[p] = boot_slopes[p].std(ddof=1)
    print(f"{p:<13} SNR {np.round(snr[p], 4)}  slope {slope[p]:+.3f} ± {slope_se[p]:.3f}")

# %% [markdown]
# What holds at these k (1 to 32), with a tolerance of 4 bootstrap standard
# errors:
# - the decoder's SNR grows: its slope is positive, and not steeper than the
#   asymptotic ½;
# - IWAE's encoder SNR falls: a negative slope (flatter than the asymptotic
#   −½ here: the 1/√k law is a large-k statement, and at small k the mean of
#   the gradient has not yet settled into its 1/k decay);
# - DReG's encoder SNR does not fall: its slope is not negative, and it
#   exceeds IWAE's slope (the bootstrap SE of the difference, over the same
#   calls, as the tolerance); DReG's encoder SNR is higher than IWAE's at every k.

# %%
check_that("decoder SNR grows with k: slope > 4 SE", slope["decoder"] > 4 * slope_se["decoder"],
           f"{slope['decoder']:.3f} ± {slope_se['decoder']:.3f}")
check_that("…not faster than the asymptotic √k: slope < ½ + 4 SE", slope["decoder"] < 0.5 + 4 * slope_se["decoder"])
check_that("IWAE encoder SNR falls with k: slope < −4 SE", slope["IWAE encoder"] < -4 * slope_se["IWAE encoder"],
           f"{slope['IWAE encoder']:.3f} ± {slope_se['IWAE encoder']:.3f}")
check_that("…not faster than the asymptotic 1/√k: slope > −½ − 4 SE",
           slope["IWAE encoder"] > -0.5 - 4 * slope_se["IWAE encoder"])
check_that("DReG encoder SNR does not fall: slope > −4 SE", slope["DReG encoder"] > -4 * slope_se["DReG encoder"],
           f"{slope['DReG encoder']:.3f} ± {slope_se['DReG encoder']:.3f}")
d_slope = boot_slopes["DReG encoder"] - boot_slopes["IWAE encoder"]
check_that("DReG's encoder slope exceeds IWAE's by more than 4 SE of the difference",
           slope["DReG encoder"] - slope["IWAE encoder"] > 4 * d_slope.std(ddof=1),
           f"{slope['DReG encoder'] - slope['IWAE encoder']:.3f} ± {d_slope.std(ddof=1):.3f}")
ratio_boot = np.log(np.array(snr_boot["DReG encoder"])) - np.log(np.array(snr_boot["IWAE encoder"]))   # (k, N_BOOT)
ratio = np.log(snr["DReG encoder"]) - np.log(snr["IWAE encoder"])
check_that("DReG's encoder SNR is above IWAE's at every k (log ratio > 4 SE)",
           np.all(ratio > 4 * ratio_boot.std(axis=1, ddof=1)), f"ratios {np.round(np.exp(ratio), 2)}")

fig, ax = plt.subplots(figsize=(6.5, 4.5), layout="constrained")
styles = {"IWAE encoder": ("tab:red", "o"), "DReG encoder": ("tab:blue", "s"), "decoder": ("tab:green", "^")}
for p, (c, mk) in styles.items():
    ax.errorbar(KS, snr[p], yerr=2 * np.array(snr_boot[p]).std(axis=1), color=c, marker=mk,
                label=f"{p} (slope {slope[p]:+.2f} ± {slope_se[p]:.2f})")
for p, power, ls in (("IWAE encoder", -0.5, ":"), ("decoder", 0.5, "--"), ("DReG encoder", 0.5, "--")):
    ax.plot(KS, snr[p][0] * KS ** power, color=styles[p][0], ls=ls, lw=1, alpha=0.7)
ax.plot([], [], "k:", lw=1, label="1/√k reference")
ax.plot([], [], "k--", lw=1, label="√k reference")
ax.set(xscale="log", yscale="log", xlabel="importance samples k", ylabel="median SNR |E g| / sd(g)",
       title=f"gradient SNR at fixed parameters (ELBO model, {EPOCHS} epochs)")
ax.legend(fontsize=8)
L.savefig(fig, "11_gradient_snr")
print(f"lesson time {time.perf_counter() - t_start:.1f} s")

# %% [markdown]
# ## Summary
#
# - L_k = log (1/k) Σ w_i (002, eq. 9, now a training objective) has the
#   gradient Σ w̃_i ∇log w_i with normalized weights w̃; for the encoder it
#   holds a path term and a score term. Removing the score term by the
#   score/pathwise identity leaves DReG's Σ w̃_i² ∂log w_i/∂z_i ∂z_i/∂φ, equal in
#   expectation (checked), different draw by draw.
# - Training on L_50 improves held-out log p(x) over the ELBO and over L_5
#   beyond both the estimate's SE and the seed-to-seed spread; L_5 beats the
#   ELBO beyond the SE at every seed, but the ELBO's own spread (how many
#   units it switches off) can be as large. Both keep latent units
#   alive that the ELBO switches off, and leaves a larger gap
#   log p(x) − ELBO: q is no longer the posterior's best Gaussian fit.
# - At a fixed parameter vector the decoder's gradient SNR rises with k, IWAE's
#   encoder SNR falls (Rainforth et al. 2018), DReG's does not
#   (Tucker et al. 2019); the asymptotic ±½ slopes are approached, not
#   reached, at k ≤ 32.
#
# ## Exercises
#
# Worked solutions (exercises 1–3), which run and assert their answers: `solutions_11.py`.
#
# 1. Show numerically that IWAE(1) is the ELBO with a Monte Carlo KL, and that
#    E[L_k] rises with k toward log p(x) for one trained model (k = 1, 5, 50).
# 2. The effective sample size of the weights, 1/Σ w̃_i², says how many of the
#    k samples count. Measure ESS/k at k = 5 and 50 for an ELBO-trained and an
#    IWAE(50)-trained model. Which encoder proposes better samples?
# 3. Set a linear VAE to a pPCA model with its encoder at the exact posterior
#    (lesson 10, section 4). What are L_k, DReG's encoder gradient and IWAE's
#    encoder gradient at every draw, and what does that say about their
#    variances as q approaches p(z|x)?
