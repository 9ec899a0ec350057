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
# # Lesson 7 — Training a VAE
#
# **What this lesson derives and measures.** How the ELBO of a whole data set
# is estimated from a minibatch (and the slide's M/N slip), what the number
# L of samples per datapoint buys, what a Bernoulli decoder means on grey
# pixels, what averaging the loss over pixels does, how the ELBO, its
# reconstruction term and its KL evolve during training, posterior collapse
# and two remedies (KL warm-up, free bits) measured by the number of active
# latent units, where NaNs come from, and samples from the prior.
#
# **Lectures followed.**
# - 000_e86e672dd89502b1.txt, *VAE* (the slide before "Major assumption"):
#   𝓛(θ, φ; 𝓑) = (M/N) Σ_{x∈𝓑} 𝓛(θ, φ; x) — the factor should be N/M;
#   *Generative models - Variational Bayes Approach*: the L-sample
#   reconstruction term; *Testing VAE*: drop the encoder, sample z ~ N(0, I),
#   decode.
# - 002_b4c24ccd2e75c8da.txt, *Deep latent variable models* (the Bernoulli
#   decoder of the DLVM example) and *VAE challenges: optimization issues*:
#   the stable state q(z|x) ≈ p(z), KL annealing (Bowman et al.) and free
#   bits (Kingma et al.).
# - 004_67c18b03ad8f58f7.txt, *VAE Loss* and *Training VAE*.
#
# **Take-away.** Scale a minibatch sum by N/M. More samples per datapoint
# lower the gradient's variance like 1/L. A Bernoulli "likelihood" of grey
# pixels is not a density. Sum the reconstruction over pixels — averaging
# it is a β-VAE with β = D that switches the latent code off. Unused latent
# dimensions are normal (posterior collapse); count them, and use free bits
# if you need them used. A NaN means an exponent ran away.

# %%
from itertools import combinations

import numpy as np
import matplotlib.pyplot as plt
from scipy import integrate

from _lesson import setup, check, check_that, grade, YourTurn  # noqa: F401  (YourTurn: the student version's stubs)
from numvae import plots
from numvae.data import load_digits, split
from numvae.distributions import bernoulli_log_likelihood, continuous_bernoulli_log_density
from numvae.objectives import ELBO
from numvae.optim import Adam
from numvae.train import active_units, fit
from numvae.vae import VAE

L = setup("Lesson 7: training a VAE")
rng = L.rng
X, y = load_digits()
(Xtr, ytr), (Xte, yte) = split(X, (0.8, 0.2), L.seed, y=y)
N, D = Xtr.shape
EPOCHS = L.size(200, 30)
print(f"digits: {N} training and {len(Xte)} held-out images of D = {D} grey levels in [0, 1]; {EPOCHS} epochs")

# %% [markdown]
# ## 1. Learning curves
#
# A VAE with one hidden layer of 128 ReLUs, K = 8 latents and a Bernoulli
# decoder, trained with Adam on minibatches of M = 100 by `numvae.train.fit`.
# The training loss is −(1/M)Σ_B ELBO; the history records, per epoch, the
# ELBO, its reconstruction term E_q log p(x|z) and its KL, on the training
# set (averaged while the weights move) and on the held-out set.

# %%
vae = VAE(D, hidden=(128,), z_dim=8, decoder="bernoulli", dtype=np.float32, seed=L.seed)
hist = fit(vae, Xtr, Xte, epochs=EPOCHS, batch_size=100, lr=3e-3, seed=L.seed, progress=False)
first, last = hist.rows()[0], hist.last
print(f"epoch 1: valid ELBO {first['valid_elbo']:.2f} = rec {first['valid_rec']:.2f} − KL {first['valid_kl']:.2f}")
print(f"epoch {last['epoch']}: valid ELBO {last['valid_elbo']:.2f} = rec {last['valid_rec']:.2f} − KL "
      f"{last['valid_kl']:.2f}; active units {last['active_units']}/8")
# The history's held-out numbers, recomputed from the trained encoder and decoder by hand
# (float64): the KL in closed form, −½Σ(1 + logvar − μ² − e^logvar), and the reconstruction
# term E_q log p(x|z) by Monte Carlo with S samples of z = μ + σ ε per digit. The history
# used one sample per digit, so its error is that of a mean of N_valid single-sample
# estimates, with the standard error measured from our own samples.
mu_te, lv_te = (a.astype(np.float64) for a in vae.encode(Xte))
kl_hand = -0.5 * np.sum(1 + lv_te - mu_te ** 2 - np.exp(lv_te), axis=1)                # (N_valid,)
S = 200
z = mu_te + np.exp(0.5 * lv_te) * rng.standard_normal((S,) + mu_te.shape)             # (S, N_valid, K)
p_dec = vae.decode(z.reshape(-1, 8).astype(np.float32)).astype(np.float64).reshape(S, len(Xte), D)
p_dec = np.clip(p_dec, 1e-12, 1 - 1e-12)
rec_samples = np.sum(Xte * np.log(p_dec) + (1 - Xte) * np.log1p(-p_dec), axis=2)        # (S, N_valid)
se_history = np.sqrt(rec_samples.var(axis=0).mean() / len(Xte))                      # one sample per digit
tol = 5 * np.hypot(se_history, rec_samples.std() / np.sqrt(rec_samples.size)) + 1e-3   # + float32 rounding
check("history's held-out KL = closed form from the encoder, by hand", last["valid_kl"], kl_hand.mean(), rtol=1e-4)
check("history's held-out rec = Monte Carlo E_q log p(x|z) by hand (5 SE)", last["valid_rec"], rec_samples.mean(),
      atol=tol)
check("history's held-out ELBO = that rec − that KL (5 SE)", last["valid_elbo"],
      rec_samples.mean() - kl_hand.mean(), atol=tol + 1e-4 * abs(kl_hand.mean()))
check_that("training raised the held-out ELBO by more than 2 nats", last["valid_elbo"] > first["valid_elbo"] + 2,
           f"{first['valid_elbo']:.2f} → {last['valid_elbo']:.2f}")
check_that("…mostly by the reconstruction term, while the KL grew (the code carries information)",
           last["valid_rec"] > first["valid_rec"] and last["valid_kl"] > first["valid_kl"])
L.savefig(plots.learning_curves(hist), "07_learning_curves")

# %% [markdown]
# ## 2. The minibatch estimator: N/M, not M/N
#
# The data set's objective is the sum 𝓛(D) = Σ_{i=1}^N 𝓛(x_i). A minibatch 𝓑
# of M points drawn uniformly without replacement contains each x_i with
# probability M/N, so E[Σ_{x∈𝓑} 𝓛(x)] = (M/N) 𝓛(D), and
#
# $$E\Bigl[\tfrac{N}{M}\textstyle\sum_{x\in\mathcal B}\mathcal L(x)\Bigr] = \mathcal L(D).$$
#
# The slide (000, *VAE*) prints M/N, which estimates (M/N)² 𝓛(D) — here
# (100/1437)² ≈ 0.005 of it. We freeze the per-datapoint ELBOs of the trained
# model (fixed ε) and average both estimators over many random minibatches.
# Since (M/N)Σ_B is (M/N)² times the (N/M) estimator, batch by batch, its mean
# is (M/N)² 𝓛(D) as soon as the first is unbiased; what can still go wrong is
# the sampling of the batches. Drawn without replacement, the estimator's
# variance is the finite-population one, N²(1 − M/N) S²/M with S² the
# (ddof 1) variance of the N values 𝓛(x_i); we check that too, within 5
# standard errors of the sample variance.
# (`fit` minimizes the batch *mean*, (1/N) times the N/M estimator: the same
# direction, a step size independent of N.)

# %%
elbo_i = vae.elbo(Xtr, rng=np.random.default_rng(1))[0].astype(np.float64)   # (N,) frozen
total = elbo_i.sum()
M, R = 100, L.size(100_000, 40_000)
sums = np.empty(R)
for s in range(0, R, 2000):
    keys = rng.random((min(2000, R - s), N))
    idx = np.argpartition(keys, M, axis=1)[:, :M]          # M distinct rows per draw, uniformly
    sums[s:s + len(idx)] = elbo_i[idx].sum(axis=1)
est_right, est_slide = (N / M) * sums, (M / N) * sums
se_r = est_right.std() / np.sqrt(R)
print(f"full-data ELBO Σ_i 𝓛(x_i)        = {total:12.2f}")
print(f"mean of (N/M) Σ_B over {R} batches = {est_right.mean():12.2f}  (SE {se_r:.2f})")
print(f"mean of (M/N) Σ_B (the slide)     = {est_slide.mean():12.4f}  = {est_slide.mean() / total:.5f} × the sum"
      f"  ((M/N)² = {(M / N) ** 2:.5f})")
check("(N/M) Σ_B is unbiased for the full-data sum (5 SE)", est_right.mean(), total, atol=5 * se_r)
var_finite = N ** 2 * (1 - M / N) * elbo_i.var(ddof=1) / M
dev2 = (est_right - est_right.mean()) ** 2                   # the sample variance is the mean of these
print(f"variance of (N/M) Σ_B: measured {est_right.var():.4g}, N²(1 − M/N)S²/M = {var_finite:.4g}, "
      f"with replacement it would be N²σ²/M = {N ** 2 * elbo_i.var() / M:.4g}")
check("Var (N/M) Σ_B = N²(1 − M/N) S²/M: batches without replacement (5 SE)", est_right.var(), var_finite,
      atol=5 * dev2.std() / np.sqrt(R))

# %% [markdown]
# **Your turn.** Write the minibatch estimator of the full-data sum: given the
# per-datapoint values of the M points of a batch (the last axis; any axes
# before it are other batches) and the size N of the data set, return
# (N/M) Σ_{x∈𝓑} 𝓛(x). It is graded exactly, with no sampling: on a data set
# of N = 7 values, the average of your estimator over *every* batch of
# M = 3 distinct points (all 35 of them) must be the full sum.

# %%
def minibatch_estimate(batch_values, N):
    """(N/M) Σ over the last axis (the M points of a batch): an unbiased estimate of the sum over N points."""
    # your turn: the minibatch estimator of the full-data sum, (N/M) times the batch's sum (section 2)
    ### BEGIN SOLUTION
    M = batch_values.shape[-1]
    return (N / M) * batch_values.sum(axis=-1)
    ### END SOLUTION


values7 = np.linspace(-3.0, 5.0, 7) ** 2 - 4.0                     # a small data set, not all equal
batches7 = np.array(list(combinations(range(7), 3)))               # (35, 3) every batch of 3 distinct points
mean_over_batches = minibatch_estimate(values7[batches7], 7).mean()
total7, frac = values7.sum(), 3 / 7
grade("the minibatch estimator, averaged over every batch", mean_over_batches, total7, mistakes=[
    (frac ** 2 * total7, "your estimator averages to (M/N)² times the sum: that is the slide's (M/N)Σ_B; "
                         "the scale is N/M, the inverse of the chance M/N that a point is in the batch"),
    (total7 / 7, "that is the full-data *mean*: the batch mean (1/M)Σ_B estimates the average; the sum "
                 "needs N times it, (N/M)Σ_B"),
    (frac * total7, "the batch sum alone averages to (M/N) times the full sum: scale it by N/M"),
], hint="each point is in the batch with probability M/N, so (N/M) Σ_B has mean Σ_i 𝓛(x_i); M is the "
        "length of the last axis")
check("your estimator on this section's batches = (N/M) Σ_B", minibatch_estimate(elbo_i[idx], N),
      (N / M) * elbo_i[idx].sum(axis=1), rtol=1e-12)

# %% [markdown]
# ## 3. L samples per datapoint
#
# The reconstruction term is a Monte Carlo average over L samples
# z^{(l)} = μ + σ ⊙ ε^{(l)} (000, *Generative models - Variational Bayes
# Approach*). On a fixed minibatch, the gradient's randomness comes only from
# ε; averaging L independent single-sample gradients divides its variance by
# L. We draw the full gradient many times for each L and measure its total
# variance (summed over every parameter entry).

# %%
xbatch = Xtr[:100]
reps = L.size(200, 60)
Ls = [1, 2, 4, 8, 16]
tot_var = []
for Lk in Ls:
    gs = []
    for r in range(reps):
        _, g = vae.loss_and_grads(xbatch, rng=np.random.default_rng(10_000 * Lk + r), n_samples=Lk)
        gs.append(np.concatenate([v.ravel() for v in g.values()]).astype(np.float64))
    tot_var.append(np.var(np.array(gs), axis=0, ddof=1).sum())
tot_var = np.array(tot_var)
for Lk, v in zip(Ls, tot_var):
    print(f"L = {Lk:2d}: total gradient variance {v:.4e}   × L = {v * Lk:.4e}")
check("variance × L is constant (variance ∝ 1/L), within sampling error", tot_var * Ls,
      np.full(len(Ls), tot_var[0]), rtol=0.35)
check_that("L = 16 cuts the variance by more than 8×", tot_var[0] / tot_var[-1] > 8, f"{tot_var[0] / tot_var[-1]:.1f}×")

# %% [markdown]
# L = 16 costs 16 decoder passes per datapoint; a minibatch 16 times larger
# lowers the variance as much and also averages over more data, which is why
# L = 1 with M = 100 is the usual choice (Kingma & Welling 2014 used L = 1).
#
# ## 4. A Bernoulli decoder on grey pixels
#
# 002's DLVM example decodes each pixel with a Bernoulli,
# log p(x|z) = Σ_d x_d log λ_d + (1 − x_d) log(1 − λ_d). For binary x that is
# a probability. The digits are grey levels in [0, 1]; plugging them in gives
# a *cross-entropy*, and as a function of a continuous x it is not a
# normalized density: ∫₀¹ λˣ(1 − λ)^{1−x} dx = (2λ − 1)/log(λ/(1 − λ)),
# which is 1/2 at λ = 1/2 and below 1 for every λ. The continuous Bernoulli
# (Loaiza-Ganem & Cunningham 2019) multiplies by the missing constant C(λ).

# %%
print("   λ   ∫ Bernoulli 'density' dx   closed form   ∫ continuous Bernoulli dx")
lams = np.array([0.02, 0.1, 0.3, 0.5, 0.7, 0.9, 0.98])
ints_b, ints_cb = [], []
for lam in lams:
    logit = np.log(lam / (1 - lam))
    ib = integrate.quad(lambda t: np.exp(bernoulli_log_likelihood(np.array([t]), np.array([logit]))), 0, 1)[0]
    icb = integrate.quad(lambda t: np.exp(continuous_bernoulli_log_density(np.array([t]), np.array([logit]))), 0, 1)[0]
    closed = 0.5 if lam == 0.5 else (2 * lam - 1) / logit
    ints_b.append(ib), ints_cb.append(icb)
    print(f"{lam:5.2f}   {ib:22.4f}   {closed:11.4f}   {icb:22.6f}")
    check(f"λ = {lam}: ∫ Bernoulli = (2λ−1)/logit λ", ib, closed, atol=1e-9)
    check(f"λ = {lam}: ∫ continuous Bernoulli = 1", icb, 1.0, atol=1e-9)
check_that("the Bernoulli 'density' never integrates to 1 on [0, 1] (≤ 0.5 at λ = ½, ~0.26 at λ = 0.98)",
           np.all(np.array(ints_b) < 0.6))

# %% [markdown]
# What it costs in numbers: the best any Bernoulli decoder can do on an
# image is λ = x pixel by pixel, which scores Σ_d [x_d log x_d + (1 − x_d)
# log(1 − x_d)] — minus the entropy of the grey levels, not 0. On the digits
# that ceiling is far below 0, so a "reconstruction" of −20 nats is not
# "20 nats of error", and the Bernoulli ELBO is not a log-likelihood of the
# grey images at all: to compare with a density model, binarize the data
# (`fit(binarize=True)`) or use a density (continuous Bernoulli, or a
# Gaussian on dequantized pixels as lesson 8 does).

# %%
xlogx = lambda p: np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0.0)   # noqa: E731
ceiling = (xlogx(Xte) + xlogx(1 - Xte)).sum(axis=1)                       # (N_te,)
print(f"best possible Bernoulli 'reconstruction' of the held-out digits: {ceiling.mean():.2f} nats per image")
print(f"the trained VAE's reconstruction term:                           {last['valid_rec']:.2f} nats per image")
check_that("the trained VAE's reconstruction stays below the Bernoulli ceiling", last["valid_rec"] < ceiling.mean())
check_that("and that ceiling is itself many nats below 0", ceiling.mean() < -10, f"{ceiling.mean():.1f}")

# %% [markdown]
# ## 5. Summing vs averaging the loss over pixels
#
# Lesson 4 showed on pPCA that a loss −(1/D)Σ_d log p(x_d|z) + KL, the
# "mean" reduction of many deep-learning libraries, is (1/D) × the loss of a
# β-VAE with β = D. Here we train it. The wrapper below computes exactly the
# averaged loss from the library's fused one (loss and gradient divided by D,
# KL weight D) and we check it against the per-pixel average written out.

# %%
class PixelAveragedELBO(ELBO):
    """−(1/D) Σ_d log p(x_d|z) + KL: the library's ELBO loss with β·D, divided by D (an objective, as fit takes)."""

    def loss_and_grads(self, model, x, rng=None, eps=None):
        D = model.x_dim
        loss, grads = ELBO(self.beta * D, self.free_bits, self.n_samples).loss_and_grads(model, x, rng=rng, eps=eps)
        for g in grads.values():
            g /= D
        return loss / D, grads


avg = VAE(D, hidden=(128,), z_dim=8, decoder="bernoulli", dtype=np.float64, seed=L.seed)
e0 = rng.standard_normal((20, 8))
mu0, lv0 = avg.encode(Xtr[:20])
logits0 = avg.decoder.forward(mu0 + np.exp(0.5 * lv0) * e0)
per_pixel = Xtr[:20] * logits0 - np.logaddexp(0, logits0)                  # (20, D) log p(x_d|z)
by_hand = -per_pixel.mean(axis=1).mean() + (-0.5 * (1 + lv0 - mu0 ** 2 - np.exp(lv0))).sum(1).mean()
check("wrapper loss = −mean_n mean_d log p(x_d|z) + mean_n KL",
      PixelAveragedELBO().loss_and_grads(avg, Xtr[:20], eps=e0)[0], by_hand, atol=1e-12)
hist_avg = fit(avg, Xtr, Xte, epochs=EPOCHS, batch_size=100, lr=3e-3, seed=L.seed, progress=False,
               objective=PixelAveragedELBO())
au_sum, var_sum = active_units(vae, Xte)
au_avg, var_avg = active_units(avg, Xte)
la = hist_avg.last
print(f"summed   (β = 1):  valid ELBO {last['valid_elbo']:.2f}, rec {last['valid_rec']:.2f}, KL {last['valid_kl']:.3f}, "
      f"active units {au_sum}/8")
print(f"averaged (β = {D}): valid ELBO {la['valid_elbo']:.2f}, rec {la['valid_rec']:.2f}, KL {la['valid_kl']:.3f}, "
      f"active units {au_avg}/8")
check_that("averaging switches the code off: KL < 1 nat and at most 1 active unit",
           la["valid_kl"] < 1.0 and au_avg <= 1, f"KL {la['valid_kl']:.3f}, AU {au_avg}")
check_that("…and costs ELBO: the summed model is > 2 nats better", last["valid_elbo"] > la["valid_elbo"] + 2)

# %% [markdown]
# **Your turn.** Count the active units yourself (Burda et al. 2015): from the
# encoder means μ(x) of the held-out images (shape (N, K)), the variance of
# each unit's mean over the images, and the number of units whose variance
# exceeds 0.01. Return both, as `numvae.train.active_units` does. It is
# graded on the two models just trained (summed and averaged), against the
# variances written as a mean of squared deviations and against the
# library's count.

# %%
def count_active_units(mu, threshold=0.01):
    """(number of units u with Var_x μ_u(x) > threshold, the variances of shape (K,)) for mu of shape (N, K)."""
    # your turn: the variance over the images of each unit's encoder mean, and the count above the threshold
    ### BEGIN SOLUTION
    var = np.var(mu, axis=0)                                       # (K,)  over the images, one per unit
    return int(np.sum(var > threshold)), var
    ### END SOLUTION


for name, model_, au_lib in (("the summed model", vae, au_sum), ("the averaged model", avg, au_avg)):
    mu_au = model_.encode(Xte)[0].astype(np.float64)               # (N, K)
    dev = mu_au - mu_au.mean(axis=0)
    var_ref = np.mean(dev * dev, axis=0)                           # (K,)
    my_count, my_var = count_active_units(mu_au)
    grade(f"the variances of the encoder means, {name}", my_var, var_ref, atol=1e-12, rtol=1e-9, mistakes=[
        (np.std(mu_au, axis=0), "that is the standard deviation; the criterion is on the variance"),
        (np.mean(mu_au ** 2, axis=0), "subtract each unit's mean over the images first: Var = E[(μ − E μ)²]"),
        (np.var(mu_au, axis=0, ddof=1), "use the population variance (ddof=0), as numvae.train.active_units"),
        (np.var(mu_au, axis=1), "the variance is over the images (axis 0), one per unit, not over the units"),
    ], hint="Var_x μ_u(x): np.var(mu, axis=0), one number per latent unit")
    grade(f"the active-unit count, {name}", my_count, int(np.sum(var_ref > 0.01)), mistakes=[
        (int(np.sum(var_ref <= 0.01)), "that counts the inactive units: active means variance > 0.01"),
    ], hint="count the units whose variance is above the threshold: np.sum(var > threshold)")
    check(f"your count = numvae.train.active_units, {name}", my_count, au_lib)

# %% [markdown]
# ## 6. Posterior collapse, KL warm-up and free bits
#
# 002 (*VAE challenges*): early in training the decoder is weak, and the
# cheapest way to raise the ELBO is q(z|x) = p(z) — zero KL — a state the
# model may never leave. A latent unit u whose encoder mean does not move
# with x is *inactive*; Burda et al. (2015) count unit u as active if
# Var_x E_q[z_u|x] > 0.01 (`numvae.train.active_units`). We give a VAE far
# more latents than 8×8 digits need, K = 32, and train it three ways:
# plain; with the KL weight warmed up linearly from 0 to 1 over half the
# epochs (Bowman et al.); with free bits λ = 0.5 nats per dimension (Kingma
# et al.: a dimension whose batch-mean KL is below λ pays λ regardless, so
# the encoder may use it for free).

# %%
K32 = 32
EP32 = L.size(200, 80)   # the inactive units' means fade slowly: fewer epochs leave them above 0.01
runs = {"plain": {}, "KL warm-up": {"kl_warmup_epochs": EP32 / 2}, "free bits 0.5": {"free_bits": 0.5}}
res = {}
for name, kw in runs.items():
    m = VAE(D, hidden=(128,), z_dim=K32, decoder="bernoulli", dtype=np.float32, seed=L.seed)
    h = fit(m, Xtr, Xte, epochs=EP32, batch_size=100, lr=3e-3, seed=L.seed, progress=False, **kw)
    au, var_mu = active_units(m, Xte)
    mu_te, lv_te = m.encode(Xte)
    kl_dim = (-0.5 * (1 + lv_te - mu_te ** 2 - np.exp(lv_te))).mean(axis=0)
    res[name] = dict(au=au, var=var_mu, kl_dim=kl_dim, last=h.last)
    print(f"{name:14s}: valid ELBO {h.last['valid_elbo']:7.2f}  rec {h.last['valid_rec']:7.2f}  "
          f"KL {h.last['valid_kl']:6.2f}  active units {au:2d}/{K32}  dims with KL > 0.1 nat {int((kl_dim > 0.1).sum()):2d}")
p, fb = res["plain"], res["free bits 0.5"]
check_that("posterior collapse: the plain VAE leaves at least a quarter of its 32 units inactive",
           p["au"] <= 0.75 * K32, f"{p['au']} active")
check_that("…and carries information (KL > 0.1 nat) in at most 8 of them", (p["kl_dim"] > 0.1).sum() <= 8)
check_that("KL warm-up does not rescue them: it too leaves at least a quarter inactive",
           res["KL warm-up"]["au"] <= 0.75 * K32, f"{res['KL warm-up']['au']} active (plain: {p['au']})")
check_that("free bits keep (nearly) every unit active", fb["au"] >= 0.9 * K32, f"{fb['au']} active")
check_that("…at a price in ELBO (the free nats are spent whether useful or not)",
           fb["last"]["valid_elbo"] < p["last"]["valid_elbo"])

fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
width = 0.27
for i, name in enumerate(res):
    order = np.argsort(-res["plain"]["var"])
    axes[0].bar(np.arange(K32) + (i - 1) * width, res[name]["var"][order], width, label=name)
    axes[1].bar(np.arange(K32) + (i - 1) * width, res[name]["kl_dim"][order], width, label=name)
axes[0].axhline(0.01, color="k", ls=":", label="Burda et al. threshold 0.01")
axes[0].set(yscale="log", xlabel="latent unit (sorted by the plain model's activity)", ylabel="Var_x E_q[z_u | x]",
            title=f"Active units, K = {K32} VAEs on held-out digits")
axes[1].set(xlabel="latent unit (same order)", ylabel="mean KL per unit (nats)", title="Where the KL goes")
fig.tight_layout(rect=(0, 0.08, 1, 1))
handles, labels = axes[0].get_legend_handles_labels()          # one legend, below the bars, for both panels
fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
L.savefig(fig, "07_posterior_collapse")

# %% [markdown]
# On these small images the plain model uses only a handful of dimensions,
# and the warm-up schedule does not change that (asserted: it too leaves a
# quarter or more of the units inactive):
# collapse here is not an optimization accident the model recovers from, it
# is what maximizing the ELBO chooses when a few dimensions suffice. Free
# bits force information into every unit; whether that is wanted depends on
# what the code is for.
#
# ## 7. NaNs from an unbounded log-variance
#
# The encoder outputs λ = log σ², unbounded. Nothing stops a large step from
# sending λ to hundreds: exp(λ/2) overflows float32 at λ ≈ 177 (float64 at
# ≈ 1420), σ becomes inf, z = μ + inf·ε is ±inf, the decoder computes
# inf − inf = NaN, and the KL's e^λ is inf. We provoke it by setting the
# bias of one log-variance output to 400.

# %%
broken = VAE(D, hidden=(128,), z_dim=8, decoder="bernoulli", dtype=np.float32, seed=L.seed)
for k in broken.params:
    broken.params[k][...] = vae.params[k]
broken.params["enc.1.b"][8] = 400.0                         # the first log-variance output
with np.errstate(all="ignore"):
    loss_bad, g_bad = broken.loss_and_grads(Xtr[:100], rng=0)
bad_keys = [k for k, g in g_bad.items() if not np.all(np.isfinite(g))]
print(f"loss = {loss_bad}; non-finite gradients in {bad_keys}")
check_that("the loss is not finite", not np.isfinite(loss_bad))
try:
    with np.errstate(all="ignore"):
        fit(broken, Xtr, epochs=1, progress=False)
    raise AssertionError("fit should have refused to continue")
except FloatingPointError as err:
    print(f"numvae.train.fit raises FloatingPointError:\n  {err}")
    check_that("fit stops at the first batch and says what to try", "epoch 1 of 1, batch 1" in str(err)
               and "log-variance" in str(err))

# %% [markdown]
# The decoder side has its own unbounded log-variance. A Gaussian decoder
# with a learned per-pixel variance on the digits: some pixels (the left
# column) are 0 in every image. For such a pixel log N(0; 0, e^ℓ) =
# −½(log 2π + ℓ) grows without bound as ℓ → −∞, so the optimizer drives ℓ
# down forever and the "ELBO" climbs for a reason that has nothing to do with
# the digits — until the exponent overflows. Dequantizing the data (adding
# uniform noise within each grey level, lesson 8) removes the degeneracy.

# %%
const = np.where(Xtr.std(axis=0) == 0)[0]
g_vae = VAE(D, hidden=(64,), z_dim=4, decoder="gaussian", decoder_var="pixel", decoder_logvar=-2.0, seed=L.seed)
opt = Adam(g_vae.params, lr=1e-2)                   # one optimizer across the epochs, so its state persists
n_ep = L.size(60, 40)   # long enough that the constant pixels' fall outruns the others' convergence at any seed
lv_track, elbo_track = [], []
for ep in range(n_ep):
    h_g = fit(g_vae, Xtr, epochs=1, batch_size=100, optimizer=opt, seed=L.seed + ep, progress=False)
    lv_track.append(g_vae.params["dec.logvar"][const].mean())
    elbo_track.append(h_g["train_elbo"][0])
lv_track = np.array(lv_track)
lv_other = np.delete(g_vae.params["dec.logvar"], const)
print(f"{len(const)} pixels are 0 in every training digit: {const}")
print("mean decoder log-variance of those pixels, every 4th epoch:", lv_track[::4].round(2))
print(f"median log-variance of the other pixels at the end: {np.median(lv_other):.2f}")
print(f"train 'ELBO' at epochs 1, {n_ep // 2}, {n_ep}: {elbo_track[0]:.1f}, {elbo_track[n_ep // 2 - 1]:.1f}, "
      f"{elbo_track[-1]:.1f} nats (a log-density of 64 numbers in [0, 1] can exceed 0)")
check_that("the constant pixels' log-variance falls in every one of the last 10 epochs (no fixed point)",
           np.all(np.diff(lv_track[-11:]) < 0), f"{lv_track[-11]:.2f} → {lv_track[-1]:.2f}")
check_that("…and ends more than 1 below the other pixels' median", lv_track[-1] < np.median(lv_other) - 1)
check_that("the 'ELBO' keeps climbing with it", elbo_track[-1] > elbo_track[n_ep // 2 - 1])

# %% [markdown]
# ## 8. Samples from the prior
#
# 000, *Testing VAE*: remove the encoder, sample z ~ N(0, I), decode. We show
# the decoder's mean sigm(logits) (a Bernoulli sample of grey images would be
# salt and pepper). A collapsed dimension does no harm here: the decoder
# ignores it.

# %%
samples = vae.sample(64, rng=rng)
L.savefig(plots.samples_grid(samples, ncols=16, model=f"VAE (K = {vae.z_dim}, Bernoulli decoder), digits"), "07_samples")
nn = np.sqrt(((samples[:, None, :].astype(np.float64) - Xtr[None]) ** 2).sum(-1)).min(axis=1)
print(f"distance of a sample to its nearest training digit: median {np.median(nn):.2f} "
      f"(pixels in [0, 1], D = {D}); a uniform-noise image: "
      f"{np.sqrt(((rng.random(D) - Xtr) ** 2).sum(-1)).min():.2f}")
check_that("samples lie much closer to the data than noise does", np.median(nn) <
           0.6 * np.sqrt(((rng.random((20, 1, D)) - Xtr[None]) ** 2).sum(-1)).min(axis=1).mean())

# %% [markdown]
# ## Summary
#
# - The full-data ELBO from a minibatch is (N/M)Σ_𝓑 — unbiased, measured to
#   within sampling error here; the slide's (M/N)Σ_𝓑 is off by (M/N)² ≈ 1/206.
# - The gradient's variance falls like 1/L with L samples per datapoint.
# - A Bernoulli likelihood of grey pixels integrates to (2λ − 1)/logit λ ≤ ½,
#   not 1; the continuous Bernoulli integrates to 1. Its ELBO on grey digits is
#   bounded by minus the pixels' entropy, far below 0.
# - Averaging the reconstruction over pixels = β-VAE with β = D: KL ≈ 0, no
#   active units, a worse ELBO.
# - With K = 32 most units are inactive (posterior collapse); free bits keep
#   them all active at a cost in ELBO; warm-up changes little here.
# - NaNs: an unbounded log-variance overflows; `fit` stops with a
#   `FloatingPointError` naming the batch. A learned decoder variance on a
#   constant pixel runs to −∞ on its own.
#
# ## Exercises
#
# Worked solutions (exercises 1–4), which run and assert their answers: `solutions_06_to_09.py`.
#
# 1. Train with `fit(..., binarize=True)`. The ELBO is now a bound on a real
#    log-probability of binary images; how many active units does K = 32 give?
# 2. Plot active units against the free-bits λ in {0, 0.1, 0.25, 0.5, 1}.
#    Where does the ELBO start to suffer?
# 3. Replace the Bernoulli by `decoder="continuous_bernoulli"` and compare the
#    samples; why are its decoded means (`decode`) not sigm(logits), the sigmoid?
# 4. Redo section 2 with batches drawn *with* replacement. Is (N/M)Σ still
#    unbiased? Is its variance larger or smaller?
