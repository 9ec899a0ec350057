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
# # Worked solutions — Lessons 6 to 9 (every exercise)
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
# ## Lesson 6, exercises 1 and 2 — the exploded VAE with ReLU, and with free bits
#
# Lesson 6's `vae_exploded` (section 4: D = 6, one hidden layer of 5 units on
# each side, K = 3, Bernoulli decoder, N = 7, L = 2), with two options: the
# hidden activation, and free bits. Only two lines of the backward change.
#
# - **ReLU**: h = max(a, 0), so da = dh ⊙ [a > 0] in place of dh ⊙ (1 − h²).
# - **Free bits λ_fb**: the KL enters as Σ_j max(λ_fb, K̄_j), K̄_j = (1/N)Σ_n KL_nj.
#   Where K̄_j < λ_fb the max is the constant λ_fb, so ∂/∂KL_nj = 0; where
#   K̄_j > λ_fb it is K̄_j, so ∂/∂KL_nj = 1/N as before. The KL paths of dμ and dλ
#   are multiplied by a_j = [K̄_j > λ_fb]: dμ = Σ_l dz_l + a_j μ/N,
#   dλ = Σ_l dz_l ⊙ ε_l ⊙ ½σ + a_j ½(e^λ − 1)/N.

# %%
from scipy.special import expit

from numvae.gradcheck import relative_error

ACTIVATIONS = {"tanh": (np.tanh, lambda a, h: 1 - h ** 2),
               "relu": (lambda a: np.maximum(a, 0.0), lambda a, h: (a > 0).astype(float))}


def vae_exploded(P, x, eps, activation=ACTIVATIONS["tanh"], free_bits=0.0):
    """Lesson 6's exploded VAE with `activation` = (f, f′(a, h)) and free bits: loss, gradients, pre-activations."""
    f, f_prime = activation
    (N, D), (Lk, _, K) = x.shape, eps.shape
    ae = x @ P["enc.0.W"] + P["enc.0.b"]                           # (N, H)  encoder pre-activation
    he = f(ae)
    enc_out = he @ P["enc.1.W"] + P["enc.1.b"]                     # (N, 2K)
    mu, lam = enc_out[:, :K], enc_out[:, K:]
    sigma = np.exp(0.5 * lam)
    z = mu + sigma * eps                                           # (L, N, K)
    ad = z @ P["dec.0.W"] + P["dec.0.b"]                           # (L, N, H)  decoder pre-activation
    hd = f(ad)
    logits = hd @ P["dec.1.W"] + P["dec.1.b"]                      # (L, N, D)
    rec = np.mean(np.sum(x * logits - np.logaddexp(0, logits), axis=-1), axis=0)   # (N,)
    kl_bar = np.mean(-0.5 * (1 + lam - mu ** 2 - np.exp(lam)), axis=0)             # (K,)  K̄_j
    active = kl_bar > free_bits if free_bits > 0 else np.ones(K, dtype=bool)       # (K,)  a_j
    kl_term = np.maximum(free_bits, kl_bar).sum() if free_bits > 0 else kl_bar.sum()
    loss = -rec.mean() + kl_term

    g = {}
    dlogits = -(x - expit(logits)) / (N * Lk)                      # (L, N, D)
    g["dec.1.W"] = hd.reshape(-1, hd.shape[-1]).T @ dlogits.reshape(-1, D)
    g["dec.1.b"] = dlogits.sum(axis=(0, 1))
    dad = (dlogits @ P["dec.1.W"].T) * f_prime(ad, hd)             # (L, N, H)  the activation's line
    g["dec.0.W"] = z.reshape(-1, K).T @ dad.reshape(-1, dad.shape[-1])
    g["dec.0.b"] = dad.sum(axis=(0, 1))
    dz = dad @ P["dec.0.W"].T                                      # (L, N, K)
    dmu = dz.sum(axis=0) + active * mu / N                         # free bits: the KL path only where a_j = 1
    dlam = (dz * eps).sum(axis=0) * 0.5 * sigma + active * 0.5 * np.expm1(lam) / N
    denc = np.concatenate([dmu, dlam], axis=1)                     # (N, 2K)
    g["enc.1.W"] = he.T @ denc
    g["enc.1.b"] = denc.sum(axis=0)
    dhe = denc @ P["enc.1.W"].T                                    # (N, H)  ∂loss/∂he
    dae = dhe * f_prime(ae, he)                                    # the activation's line
    g["enc.0.W"] = x.T @ dae
    g["enc.0.b"] = dae.sum(axis=0)
    return loss, g, {"ae": ae, "ad": ad, "dhe": dhe, "kl_bar": kl_bar}


D6, H6, K6, N6, L6 = 6, 5, 3, 7, 2
# As numvae.gradcheck.vae_case: a gradient entry below 5e-4 is redrawn, because the finite
# difference's ~1e-10 rounding error would exceed 1e-6 of it.
MIN_GRAD = 5e-4
x6 = rng.uniform(0.02, 0.98, size=(N6, D6))
eps6 = rng.standard_normal((L6, N6, K6))

# %% [markdown]
# ### Exercise 1 — ReLU, and what keeps the gradient check meaningful
#
# The central difference (f(θ + h) − f(θ − h))/2h assumes the loss is smooth
# within ±h. ReLU is not, at a = 0: where a step moves some pre-activation
# across 0, the difference measures the *average* of the two slopes (½ at a
# = 0 exactly) instead of [a > 0], and a correct backward fails. And a check
# can pass without testing anything: a unit that is inactive (a < 0) for every
# row has zero gradient in its weights, analytic and numeric alike, so a
# wrong formula there passes; a unit active for every row is linear, so a
# backward that forgot the mask [a > 0] passes too. So:
#
# 1. keep every pre-activation, in the encoder *and* in the decoder, far from
#    0 compared with the step (here |a| > 10⁻³ against steps of 10⁻⁵);
# 2. make every hidden unit active for some rows and inactive for others.
#
# Random grey-level inputs do their part; each hidden bias is drawn so
# that its unit's kink falls among the rows (between the 30% and 70% quantiles
# of the unit's pre-activations without it), and all biases are redrawn until
# no pre-activation is within 10⁻³ of 0. Then the exploded ReLU VAE must equal
# `VAE(activation="relu")` and pass the check, and a backward without the
# mask must fail it. Last, why rule 1 matters: with one pre-activation put
# exactly at the kink, the finite difference of that unit's bias is the
# analytic gradient plus (½ − [a > 0])·∂loss/∂h (the slopes 0 and 1
# averaged), and the check fails although the backward is right.

# %%
relu_vae = VAE(D6, hidden=(H6,), z_dim=K6, decoder="bernoulli", activation="relu", dtype=np.float64, seed=L.seed)
P6, relu = relu_vae.params, ACTIVATIONS["relu"]


def kinks_among_rows(a_without_bias):
    """Biases that put each unit's kink among its rows: minus a random point between their 30% and 70% quantiles."""
    lo, hi = np.quantile(a_without_bias.reshape(-1, a_without_bias.shape[-1]), [0.3, 0.7], axis=0)
    return -rng.uniform(lo, hi)


for attempt in range(100):
    P6["enc.1.b"][:], P6["dec.1.b"][:] = rng.normal(0, 0.5, size=2 * K6), rng.normal(0, 0.5, size=D6)
    P6["enc.0.b"][:] = kinks_among_rows(x6 @ P6["enc.0.W"])
    P6["dec.0.b"][:] = kinks_among_rows(vae_exploded(P6, x6, eps6, relu)[2]["ad"] - P6["dec.0.b"])
    _, g_r, pre = vae_exploded(P6, x6, eps6, relu)
    ae, ad = pre["ae"], pre["ad"].reshape(-1, H6)
    margin = min(np.abs(ae).min(), np.abs(ad).min())
    mixed = all(np.all((a > 0).any(0) & (a < 0).any(0)) for a in (ae, ad))
    smallest = min(np.abs(g).min() for g in g_r.values())
    if margin > 1e-3 and mixed and smallest >= MIN_GRAD:
        break
check_that("biases drawn so every pre-activation is > 1e-3 from the kink, every unit is active and inactive "
           "somewhere, and no gradient entry is below 5e-4", margin > 1e-3 and mixed and smallest >= MIN_GRAD,
           f"after {attempt + 1} draws: smallest |a| = {margin:.2g}, smallest |gradient| = {smallest:.2g}")
loss_r, g_r, _ = vae_exploded(P6, x6, eps6, relu)
loss_lib, g_lib = relu_vae.loss_and_grads(x6, eps=eps6, n_samples=L6)
check("ReLU: exploded loss = VAE(activation='relu').loss_and_grads", loss_r, loss_lib, atol=1e-13)
check("ReLU: every exploded gradient = the library's", np.concatenate([g_r[k].ravel() for k in P6]),
      np.concatenate([g_lib[k].ravel() for k in P6]), atol=1e-13)
rep_relu = gradcheck(lambda p: vae_exploded(p, x6, eps6, relu)[:2], P6, eps=VAE_EPS)
check_that("…and it passes the finite-difference check", rep_relu.passed,
           f"largest relative error {rep_relu.max_rel_err:.1e}")
relu_no_mask = (relu[0], lambda a, h: np.ones_like(a))           # f′ = 1: the mask [a > 0] forgotten
rep_nomask = gradcheck(lambda p: vae_exploded(p, x6, eps6, relu_no_mask)[:2], P6, eps=VAE_EPS)
check_that("a backward without the mask [a > 0] fails it (the check is meaningful)", rep_nomask.max_rel_err > 1e-2,
           f"largest relative error {rep_nomask.max_rel_err:.2f}")

n_k, h_k = 0, int(np.argmax(np.abs(pre["dhe"][0])))                # a row and a unit with a clear upstream gradient
P6["enc.0.b"][h_k] = -(x6 @ P6["enc.0.W"])[n_k, h_k]             # a_{n,h} = 0: the kink
_, g_kink, pre_kink = vae_exploded(P6, x6, eps6, relu)
old = P6["enc.0.b"][h_k]
P6["enc.0.b"][h_k] = old + VAE_EPS
f_plus = vae_exploded(P6, x6, eps6, relu)[0]
P6["enc.0.b"][h_k] = old - VAE_EPS
f_minus = vae_exploded(P6, x6, eps6, relu)[0]
P6["enc.0.b"][h_k] = old
numeric = (f_plus - f_minus) / (2 * VAE_EPS)
at_kink = 0.5 - float(pre_kink["ae"][n_k, h_k] > 0)
check("at the kink: finite difference − analytic = (½ − [a > 0])·∂loss/∂h", numeric - g_kink["enc.0.b"][h_k],
      at_kink * pre_kink["dhe"][n_k, h_k], rtol=1e-3)
check_that("…so the correct backward fails the check there",
           relative_error(g_kink["enc.0.b"][h_k], numeric) > 1e-3,
           f"relative error {relative_error(g_kink['enc.0.b'][h_k], numeric):.2g}")

# %% [markdown]
# ### Exercise 2 — free bits
#
# On lesson 6's tanh VAE. λ_fb goes in the middle of the largest gap between
# the sorted K̄_j, so some dimensions are clamped and some not, and no
# finite-difference step moves a K̄_j across λ_fb (the max's kink); the biases
# are redrawn until no gradient entry is below 5e-4, as for ReLU. Besides the
# library and the finite differences, the free-bits gradient has a third
# witness: at the encoder's output bias, dimension j's entries (its μ and its
# λ) must equal those of the loss with β = 0 (no KL at all) where j is
# clamped, and those with β = 1 (the plain KL) where it is not.

# %%
fb_vae = VAE(D6, hidden=(H6,), z_dim=K6, decoder="bernoulli", activation="tanh", dtype=np.float64, seed=L.seed)
for attempt in range(100):
    for k, v in fb_vae.params.items():
        if k.endswith(".b"):
            v[:] = rng.normal(0, 0.5, size=v.shape)
    kl_bar = np.sort(vae_exploded(fb_vae.params, x6, eps6)[2]["kl_bar"])
    gap = int(np.argmax(np.diff(kl_bar)))
    lam_fb = 0.5 * (kl_bar[gap] + kl_bar[gap + 1])
    loss_fb, g_fb, info = vae_exploded(fb_vae.params, x6, eps6, free_bits=lam_fb)
    if min(np.abs(g).min() for g in g_fb.values()) >= MIN_GRAD:
        break
clamped = info["kl_bar"] < lam_fb
print(f"batch-mean KL per dimension {info['kl_bar']}, λ_fb = {lam_fb:.4f}: clamped {np.flatnonzero(clamped)}")
smallest, nearest = min(np.abs(g).min() for g in g_fb.values()), np.abs(info["kl_bar"] - lam_fb).min()
check_that("λ_fb clamps some dimensions, not all, and sits > 1e-3 from every K̄_j; no gradient entry below 5e-4",
           clamped.any() and not clamped.all() and nearest > 1e-3 and smallest >= MIN_GRAD,
           f"after {attempt + 1} draws: nearest K̄_j is {nearest:.3g} away, smallest |gradient| = {smallest:.2g}")
loss_lib, g_lib = fb_vae.loss_and_grads(x6, eps=eps6, n_samples=L6, free_bits=lam_fb)
check("free bits: exploded loss = VAE.loss_and_grads(free_bits=λ)", loss_fb, loss_lib, atol=1e-13)
check("free bits: every exploded gradient = the library's", np.concatenate([g_fb[k].ravel() for k in g_fb]),
      np.concatenate([g_lib[k].ravel() for k in g_fb]), atol=1e-13)
rep_fb = gradcheck(lambda p: vae_exploded(p, x6, eps6, free_bits=lam_fb)[:2], fb_vae.params, eps=VAE_EPS)
check_that("…and it passes the finite-difference check away from the kink", rep_fb.passed,
           f"largest relative error {rep_fb.max_rel_err:.1e}")
g_beta = {beta: fb_vae.loss_and_grads(x6, eps=eps6, n_samples=L6, beta=beta)[1]["enc.1.b"].copy()
          for beta in (0.0, 1.0)}
witness = np.where(np.tile(clamped, 2), g_beta[0.0], g_beta[1.0])   # (2K,) the μ entries, then the λ entries
check("output-bias gradient: clamped dimensions as with β = 0, the others as with β = 1", g_fb["enc.1.b"], witness,
      atol=1e-13)

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
# The ratio of the two closed forms is (N − 1)/(N − M) whatever the values 𝓛_i are, so it says
# nothing about the draws; the measured ratio does. Its SE: each sample variance has relative
# SE √(2/R), and the two are independent.
ratio, ratio_se = with_repl.var() / without.var(), (var_with / var_without) * np.sqrt(4 / R)
check("measured Var(with) / Var(without) = (N − 1)/(N − M): drawing with replacement costs variance (5 SE)",
      ratio, (Nd - 1) / (Nd - M), atol=5 * ratio_se)
check_that("…a tolerance that excludes a ratio of 1 (no cost), so the check can tell", 1 + 5 * ratio_se < (Nd - 1) / (Nd - M),
           f"1 + 5 SE = {1 + 5 * ratio_se:.3f} < {(Nd - 1) / (Nd - M):.3f}")

# %% [markdown]
# ## Lesson 7, exercises 1 and 2 — binarized digits, and free bits, with K = 32
#
# The set-up of lesson 7, section 6: one hidden layer of 128 ReLUs, K = 32, a
# Bernoulli decoder, Adam on batches of 100. The models compared with each other
# are trained for the same number of epochs (the inactive units' means fade
# slowly, so the count of active units depends on it).
#
# **Exercise 1.** `fit(binarize=True)` draws a fresh binary image b ~ Bernoulli(x),
# pixel by pixel, at every epoch. For a binary b the decoder's
# Π_d λ_d^{b_d}(1 − λ_d)^{1−b_d} is a probability (it sums to 1 over the 2^D
# images), so on binarized held-out digits ELBO(b) ≤ log P(b) < 0: the ELBO bounds a
# real log-probability. We count the active units (Burda et al.:
# Var_b E_q[z_u|b] > 0.01) and the units whose mean KL exceeds 0.1 nat, for this
# model and for the grey-level model of the lesson, both on the same binarized
# held-out digits (a binary input alone can move an encoder's means more than a
# grey one: after 80 epochs the grey model too shows more active units on binary
# inputs than on grey ones).
#
# *Answer:* the binarized model uses more units — about twice as many carry more
# than 0.1 nat (6–11 against 4–6 over fast-mode seeds 0–29; this run's counts are
# printed below), though most of the 32 stay unused; Burda's count says the same
# (after 200 epochs, full mode at seeds 0–2, 15–23 active against 5; after 80, when
# the unused units' means have not quite faded, 25–32 against 11–26). The reason: a grey target x is fixed,
# and a Bernoulli reconstruction of it is capped at −H(x) (lesson 7, section 4),
# which a few units reach; a binary image carries, beyond its digit, its own
# pattern of coin flips, and describing part of that pattern in the code buys
# reconstruction nats for code nats, so more units are worth using.

# %%
import matplotlib.pyplot as plt

from numvae import plots
from numvae.data import binarize, split
from numvae.distributions import kl_standard_normal_terms
from numvae.train import active_units, fit

X7, y7 = load_digits()
(Xtr7, _), (Xte7, _) = split(X7, (0.8, 0.2), L.seed, y=y7)
Xte7_bin = binarize(Xte7, np.random.default_rng(L.seed + 100)).astype(np.float64)
K32 = 32
EP1, EP2 = L.size(200, 80), L.size(200, 40)   # exercise 1 needs the unused units' means to fade


def train_k32(epochs, **kw):
    m = VAE(X7.shape[1], hidden=(128,), z_dim=K32, decoder="bernoulli", dtype=np.float32, seed=L.seed)
    fit(m, Xtr7, epochs=epochs, batch_size=100, lr=3e-3, seed=L.seed, progress=False, **kw)
    return m


def kl_per_unit(m, x):
    """Mean over the rows of x of each unit's closed-form KL, −½(1 + logvar − μ² − e^logvar), (K,)."""
    mu, lv = (a.astype(np.float64) for a in m.encode(x))
    return kl_standard_normal_terms(mu, lv).mean(axis=0)


grey, binary = train_k32(EP1), train_k32(EP1, binarize=True)
var_bin = np.var(binary.encode(Xte7_bin)[0].astype(np.float64), axis=0)          # Var_b μ_u(b), by hand
au_grey, au_bin = active_units(grey, Xte7_bin)[0], active_units(binary, Xte7_bin)[0]   # the same inputs
used_grey, used_bin = (int((kl_per_unit(m, Xte7_bin) > 0.1).sum()) for m in (grey, binary))
print(f"K = {K32}, {EP1} epochs: active units grey {au_grey}, binarized {au_bin}; "
      f"units with KL > 0.1 nat: grey {used_grey}, binarized {used_bin}")
check("active units of the binarized model = Var_b μ_u(b) > 0.01 counted by hand", au_bin, int((var_bin > 0.01).sum()))
check_that("binarizing makes the model use more units: more of them carry > 0.1 nat", used_bin > used_grey,
           f"{used_bin} against {used_grey}")
check_that("…and more pass Burda's test", au_bin > au_grey,
           f"{au_bin} against {au_grey}")
check_that("…yet most of the 32 units still carry less than 0.1 nat: posterior collapse remains",
           used_bin < K32 / 2, f"{used_bin} carry more")
elbo_b = np.array([binary.elbo(Xte7_bin, rng=r)[0] for r in range(20)], dtype=np.float64)   # (20, N)
ll_b = binary.log_likelihood(Xte7_bin, k=L.size(1000, 200), rng=rng)                    # (N,)
print(f"binarized held-out digits: ELBO {elbo_b.mean():.2f}, importance-sampled log P(b) {ll_b.mean():.2f} nats")
check_that("on binary images the ELBO is below log P(b) (the IS estimate, beyond 5 SE)",
           ll_b.mean() - elbo_b.mean() > 5 * elbo_b.mean(axis=1).std(ddof=1) / np.sqrt(20))
check_that("…and log P(b) < 0 for every image: a probability, not a density", np.all(ll_b < 0),
           f"largest {ll_b.max():.2f}")

# %% [markdown]
# **Exercise 2.** With free bits λ the objective is rec − Σ_j max(λ, KL_j), KL_j the
# batch mean of unit j. A unit below λ pays λ whatever it carries, so the encoder
# fills every unit up to about λ nats. What that costs the ELBO can be bounded:
# write F_λ(θ) = rec − Σ_j max(λ, KL_j), so ELBO − Kλ ≤ F_λ ≤ ELBO. If θ₀ maximizes the
# ELBO and θ_λ maximizes F_λ, then
#
# $$\mathrm{ELBO}(\theta_0) \ge \mathrm{ELBO}(\theta_\lambda) \ge F_\lambda(\theta_\lambda)
#   \ge F_\lambda(\theta_0) \ge \mathrm{ELBO}(\theta_0) - K\lambda:$$
#
# the cost lies in [0, Kλ]. Trained models are not exact maxima, so we measure it on
# the held-out digits (the same images for every λ, so the standard error is that of
# the paired per-image differences).
#
# *Answer:* every unit is active for every λ > 0, and each carries at least about λ
# nats (asserted: ≥ λ/2). The ELBO suffers already at λ = 0.1 (by 0.6–1.4 nats,
# 13–30 standard errors): the plain model spends only about 3 nats of KL in all, and
# 32 × 0.1 = 3.2 nats of forced KL is as much again. Beyond that the cost grows
# faster than λ, to about 19 nats at λ = 1, inside the bound Kλ = 32.

# %%
lams = (0.0, 0.1, 0.25, 0.5, 1.0)
# λ = 0 is the grey model of exercise 1 when both train equally long (full mode)
fb_models = {0.0: grey if EP2 == EP1 else train_k32(EP2)} | {lam: train_k32(EP2, free_bits=lam) for lam in lams[1:]}
elbo_fb = {lam: np.mean([m.elbo(Xte7, rng=r)[0] for r in range(20)], axis=0).astype(np.float64)
           for lam, m in fb_models.items()}                                        # (N,) each
au_fb = {lam: active_units(m, Xte7)[0] for lam, m in fb_models.items()}
cost = {lam: elbo_fb[0.0] - elbo_fb[lam] for lam in lams}                          # (N,) per image
cost_mean = np.array([cost[lam].mean() for lam in lams])
cost_se = np.array([cost[lam].std(ddof=1) / np.sqrt(len(Xte7)) for lam in lams])
for lam, c, s in zip(lams, cost_mean, cost_se):
    print(f"λ = {lam:4}: active units {au_fb[lam]:2d}/{K32}, "
          f"smallest unit KL {kl_per_unit(fb_models[lam], Xte7).min():.3f}, "
          f"held-out ELBO {elbo_fb[lam].mean():7.2f}, cost {c:6.2f} ± {s:.2f} (bound Kλ = {K32 * lam:g})")
for lam in lams[1:]:
    check_that(f"λ = {lam}: (nearly) every unit active, each carrying ≥ λ/2 nats",
               au_fb[lam] >= 0.9 * K32 and kl_per_unit(fb_models[lam], Xte7).min() >= lam / 2)
check_that("the ELBO suffers already at λ = 0.1 (cost > 5 SE)", cost_mean[1] > 5 * cost_se[1],
           f"{cost_mean[1]:.2f} ± {cost_se[1]:.2f} nats")
check_that("…and more with every larger λ (each step > 5 SE)",
           np.all(np.diff(cost_mean[1:]) > 5 * np.hypot(cost_se[2:], cost_se[1:-1])), f"{cost_mean.round(2)}")
check_that("the cost stays within the bound Kλ (+ 5 SE)", np.all(cost_mean <= K32 * np.array(lams) + 5 * cost_se))

fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
axes[0].plot(lams, [au_fb[lam] for lam in lams], "o-")
axes[0].set(xlabel="free bits λ (nats per unit)", ylabel="active units (of 32)", ylim=(0, K32 + 1),
            title=f"K = {K32} Bernoulli VAEs, held-out digits: active units")
axes[1].errorbar(lams, [elbo_fb[lam].mean() for lam in lams], yerr=3 * cost_se, fmt="o-",
                 label="held-out ELBO (± 3 SE)")
axes[1].plot(lams, elbo_fb[0.0].mean() - K32 * np.array(lams), "k:", label="ELBO(λ = 0) − Kλ (the bound)")
axes[1].set(xlabel="free bits λ (nats per unit)", ylabel="ELBO (nats per digit)", title="what free bits cost")
axes[1].legend(fontsize=8)
fig.tight_layout()
L.savefig(fig, "solutions_07_free_bits")

# %% [markdown]
# ## Lesson 7, exercise 3 — the continuous Bernoulli's decoded mean
#
# The continuous Bernoulli with logit l has density p(x|l) = C(l) e^{lx} on [0, 1]
# (the Bernoulli's λˣ(1 − λ)^{1−x} times its normalizer; λˣ(1 − λ)^{1−x} ∝ e^{lx}).
# Its mean is ∫₀¹ x e^{lx} dx / ∫₀¹ e^{lx} dx = 1/(1 − e^{−l}) − 1/l, which is not
# sigm(l) = 1/(1 + e⁻ˡ) = λ: it is pulled towards ½ (at l = 5, sigm(l) = 0.993 but the mean is 0.807).
# `decode` returns the mean of p(x|z), so for this decoder it is that pulled mean.
# We train a continuous-Bernoulli VAE (K = 8, as the lesson's Bernoulli one), check
# `decode` against the mean computed by quadrature of the density, and show its
# samples beside a Bernoulli VAE's. (A Bernoulli decoder of grey digits learns
# sigm(l) ≈ x; a continuous Bernoulli one has to push its logits further out to get
# the same mean, so the sigmoid of its logits is far more extreme than the image it means.)

# %%
from scipy import integrate

EP_CB = L.size(100, 20)
models_cb = {}
for dec in ("bernoulli", "continuous_bernoulli"):
    models_cb[dec] = VAE(X7.shape[1], hidden=(128,), z_dim=8, decoder=dec, seed=L.seed)
    fit(models_cb[dec], Xtr7, epochs=EP_CB, batch_size=100, lr=3e-3, seed=L.seed, progress=False)
cb = models_cb["continuous_bernoulli"]
z8 = rng.standard_normal((16, 8))
logits = cb.decoder.forward(z8)                                                  # (16, D)
means = cb.decode(z8)
picked = np.concatenate([rng.choice(logits.size, L.size(200, 60), replace=False),
                         [logits.argmin(), logits.argmax()]])                     # a sample and both extremes


def quadrature_mean(l):
    """∫ x e^{lx} dx / ∫ e^{lx} dx on [0, 1], shifted by max(l, 0) so nothing overflows."""
    dens = lambda t: np.exp(l * t - max(l, 0.0))                                   # noqa: E731
    return integrate.quad(lambda t: t * dens(t), 0, 1)[0] / integrate.quad(dens, 0, 1)[0]


l_pick = logits.ravel()[picked]
by_quad = np.array([quadrature_mean(l) for l in l_pick])
print(f"logits of the decoded samples range over [{logits.min():.1f}, {logits.max():.1f}]")
check("decode = the continuous Bernoulli's mean by quadrature of its density", means.ravel()[picked], by_quad,
      rtol=1e-8, atol=1e-12)
check_that("…which is pulled towards ½: |mean − ½| < |sigm(l) − ½| wherever l ≠ 0",
           np.all(np.abs(means - 0.5) < np.abs(expit(logits) - 0.5)))
gap_sigma = np.abs(means - expit(logits)).max()
check_that("…by far more than rounding: sigm(logits) differs from the mean by > 0.1 somewhere", gap_sigma > 0.1,
           f"largest |sigm(l) − mean| {gap_sigma:.3f}")
bern_samples = models_cb["bernoulli"].decode(z8)
print(f"mean |pixel − ½| of the samples: Bernoulli VAE {np.abs(bern_samples - 0.5).mean():.3f}, continuous "
      f"Bernoulli means {np.abs(means - 0.5).mean():.3f}, σ of its logits {np.abs(expit(logits) - 0.5).mean():.3f}")
fig = plots.image_grid(np.concatenate([bern_samples, means, expit(logits)]), ncols=16,
                       row_labels=["Bernoulli VAE: sigm(logits)", "cont. Bernoulli: decode (mean)",
                                   "cont. Bernoulli: sigm(logits)"],
                       title=f"Samples z ~ N(0, I) of two K = 8 VAEs on the digits ({EP_CB} epochs)")
L.savefig(fig, "solutions_07_continuous_bernoulli")

# %% [markdown]
# ## Lesson 8, exercise 1 — the k-sample estimate of p(x) and of log p(x)
#
# With weights w_i = p(x, z_i)/q(z_i|x), z_i ~ q, the estimate p̂_k = (1/k)Σ_i w_i is
# unbiased: E_q w = ∫ p(x, z) dz = p(x), at every k. Its variance is Var(w)/k with
# Var(w)/p(x)² = ρ − 1, ρ = ∫ p(z|x)²/q(z|x) dz. Its log, the estimate of lesson 8,
# is biased low (Jensen), and expanding log(1 + δ) around δ = p̂_k/p(x) − 1,
#
# $$E\log\hat p_k - \log p(x) = -\frac{\rho - 1}{2k} + \frac{\mu_3/3 - 3(\rho-1)^2/4}{k^2} + O(k^{-3}),
#   \qquad \mu_3 = E_q\bigl[(w/p(x) - 1)^3\bigr]:$$
#
# the log's bias falls like 1/k, the exponential has none; and at k = 1 the bias is
# exactly E_q log w − log p(x) = −KL(q ‖ p(z|x)). We check all of it where every
# number is known: a linear-Gaussian decoder (pPCA, K = 2, D = 5, W with orthogonal
# columns, so the posterior is a diagonal Gaussian), one x, and a proposal q shifted
# by one posterior standard deviation and 1.5 times as wide. ρ and μ₃ come from
# 1-D quadrature (q and the posterior factorize), log p(x) and the KL in closed
# form; the estimates from `VAE.log_likelihood` with that proposal.

# %%
from scipy.stats import norm, ortho_group

from numvae.posteriors import make_posterior

D8, K8 = 5, 2
W8 = ortho_group.rvs(D8, random_state=L.seed)[:, :K8] * np.array([2.0, 1.0])
b8, s2_8 = rng.normal(size=D8), 0.5
ppca8 = PPCA.from_params(W8, b8, s2_8)
x8 = ppca8.sample(1, rng)
lin8 = VAE(D8, hidden=(), z_dim=K8, decoder="gaussian", decoder_var="shared", seed=L.seed)
lin8.params["dec.0.W"][...], lin8.params["dec.0.b"][...], lin8.params["dec.logvar"][...] = W8.T, b8, np.log(s2_8)
post_mean, post_cov = ppca8.posterior(x8)
a8, s8 = post_mean[0], np.sqrt(np.diag(post_cov))
check("the posterior is diagonal (W's columns orthogonal)", post_cov - np.diag(s8 ** 2), 0.0, atol=1e-12)
qm, qs = a8 + s8, 1.5 * s8
proposal8 = ("diagonal", np.concatenate([qm, 2 * np.log(qs)])[None])
log_p8 = ppca8.log_likelihood(x8)[0]


def moment(j, power):
    """E_q[(w/p − 1)^power] along latent axis j, by quadrature: ∫ q (post/q − 1)^power dz."""
    f = lambda z: norm.pdf(z, qm[j], qs[j]) * (np.exp(norm.logpdf(z, a8[j], s8[j])     # noqa: E731
                                                      - norm.logpdf(z, qm[j], qs[j])) - 1) ** power
    return integrate.quad(f, qm[j] - 30 * qs[j], qm[j] + 30 * qs[j], limit=200)[0]


# w/p(x) = Π_j r_j with independent factors r_j of mean 1: E(Πr)² = Π E r_j², etc.
m2 = np.array([moment(j, 2) for j in range(K8)])
m3 = np.array([moment(j, 3) for j in range(K8)])
rho = np.prod(1 + m2)
mu3 = np.prod(1 + 3 * m2 + m3) - 3 * rho + 2                                      # E(Πr − 1)³
kl_q = np.sum(np.log(s8 / qs) + (qs ** 2 + (qm - a8) ** 2) / (2 * s8 ** 2) - 0.5)  # KL(q ‖ p(z|x)), closed form
print(f"ρ − 1 = {rho - 1:.4f}, μ₃ = {mu3:.4f}, KL(q ‖ p(z|x)) = {kl_q:.4f}")
# At k = 100 the bias, ≈ (ρ − 1)/200 ≈ 0.008 nats, must stand ≥ 5 SE clear of zero at any seed:
# SE ≈ √((ρ − 1)/100/R), so R = 24 000 puts it ≈ 9.5 SE out (8 000 gave ≈ 5.5: a coin flip).
reps8 = {1: L.size(100_000, 20_000), 10: L.size(100_000, 20_000), 100: L.size(40_000, 24_000)}
for k, R in reps8.items():
    est = lin8.log_likelihood(np.repeat(x8, R, axis=0), k=k, rng=rng,
                              proposal=(proposal8[0], np.repeat(proposal8[1], R, axis=0)))   # (R,) log p̂_k
    ratio = np.exp(est - log_p8)                                                   # p̂_k / p(x)
    var_r = ratio.var(ddof=1)
    var_r_se = np.sqrt((np.mean((ratio - ratio.mean()) ** 4) - var_r ** 2) / R)    # SE of a sample variance
    bias, bias_se = est.mean() - log_p8, est.std(ddof=1) / np.sqrt(R)
    second = (rho - 1) / (2 * k) - (mu3 / 3 - 3 * (rho - 1) ** 2 / 4) / k ** 2
    print(f"k = {k:3d} ({R} repeats): E p̂/p = {ratio.mean():.4f}, k·Var(p̂/p) = {k * var_r:.4f}, "
          f"Var(log p̂) = {est.var():.5f}; bias of log p̂ = {bias:.5f} ± {bias_se:.5f}, k·bias = {k * bias:.3f}")
    check(f"k = {k}: the exponential is unbiased, E p̂_k = p(x) (5 SE)", ratio.mean(), 1.0,
          atol=5 * ratio.std(ddof=1) / np.sqrt(R))
    check(f"k = {k}: Var(p̂_k)/p(x)² = (ρ − 1)/k (5 SE)", var_r, (rho - 1) / k, atol=5 * var_r_se)
    if k == 1:
        check("k = 1: the log's bias is −KL(q ‖ p(z|x)) exactly (5 SE)", bias, -kl_q, atol=5 * bias_se)
    else:
        check(f"k = {k}: the log's bias = −(ρ − 1)/2k + O(1/k²) (5 SE, + the next term's size)", bias, -second,
              atol=5 * bias_se + (rho - 1) ** 3 / k ** 3)
        check_that(f"k = {k}: …and is not zero (beyond 5 SE)", -bias > 5 * bias_se)

# %% [markdown]
# The exponential p̂_k has no bias to fall; the log's bias is ≈ (ρ − 1)/(2k), a
# hundredth of a nat at k = 100 here. (Its variance, in turn, is ≈ Var(p̂_k)/p² =
# (ρ − 1)/k for large k, by the same expansion.)
#
# ## Lesson 8, exercise 2 — a proposal with σ doubled
#
# The lesson's K = 2 VAE on dequantized digits (one hidden layer of 128 units,
# Gaussian decoder with a variance per pixel, trained as `compare` trains it), a few
# held-out digits, log p(x) by quadrature on a grid around q (checked by a grid 1.5
# times wider and finer), and the importance-sampled estimate with two proposals:
# the encoder's q = N(μ, diag σ²) and q₂ = N(μ, diag 4σ²). Both are consistent —
# q₂ is positive wherever p(z|x) is — so both converge to log p(x). Which is
# faster depends on how well q covers the posterior. At k = 1 the estimate is
# ELBO(q₂), which the quadrature computes too: a wider q pays in the ELBO. For
# large k the error is governed by ρ = ∫p(z|x)²/q: if q is narrower than the
# posterior in some direction by more than a factor √2 in standard deviation, ρ is
# infinite and the estimate creeps up by rare huge weights; q₂ is immune to that
# unless q is too narrow by a factor 2√2.
#
# *Answer:* yes, q₂ converges to the quadrature value, and its shortfall falls
# with k at every digit (asserted; E log p̂_k never decreases in k, Burda et al.
# 2015). At k = 1 it is ELBO(q₂), usually below ELBO(q) but not always: when the
# encoder's σ is much too small, doubling it gains more in entropy than it loses
# in fit, so which starts lower is printed, not asserted. How soon q₂ arrives is
# governed by its ρ₂ (printed per digit): the bias is about (ρ₂ − 1)/2k, so a digit
# is within a few hundredths of a nat once k ≫ (ρ₂ − 1)/0.02, and the
# convergence is asserted for the digits where the largest k is that large. For a
# digit whose posterior q is too narrow for (in fast mode one to three digits of
# four at most seeds, still a tenth of a nat to a nat short with q at k = 1000),
# q₂ gets there orders of magnitude sooner. So: faster in the end where q misses
# mass, and no slower on average over the digits at the largest k (asserted,
# within 5 SE). That last one is not a theorem: it holds because an encoder
# trained on KL(q ‖ p) tends to be narrower than the posterior; a q wider than
# the posterior would reverse it.

# %%
from scipy.special import logsumexp

from numvae.compare import load_dequantized
from numvae.distributions import gaussian_log_density

Xtr_dq, _, Xte_dq, _, _ = load_dequantized("digits", L.seed)
vae2 = VAE(Xtr_dq.shape[1], hidden=(128,), z_dim=2, decoder="gaussian", decoder_var="pixel",
           decoder_logvar=float(np.log(Xtr_dq.var(axis=0).mean())), seed=L.seed)
fit(vae2, Xtr_dq, epochs=L.size(150, 20), batch_size=32, lr=3e-3, seed=L.seed, progress=False)
xq = Xte_dq[:L.size(8, 4)]
mu_q, lv_q = vae2.encode(xq)
h_q, h_q2 = np.concatenate([mu_q, lv_q], axis=1), np.concatenate([mu_q, lv_q + np.log(4.0)], axis=1)
diag2 = make_posterior("diagonal", 2)


def grid_terms(i, half_width, n):
    """z (M, 2), log p(x_i, z) (M,), log cell area on a grid over q's mean ± half_width σ."""
    sd = np.exp(0.5 * lv_q[i])
    axes = [np.linspace(mu_q[i, j] - half_width * sd[j], mu_q[i, j] + half_width * sd[j], n) for j in range(2)]
    z = np.stack([a.ravel() for a in np.meshgrid(*axes, indexing="ij")], axis=1)
    log_joint = (gaussian_log_density(xq[i][None], vae2.decoder.forward(z), vae2.params["dec.logvar"])
                 - 0.5 * np.sum(z ** 2 + np.log(2 * np.pi), axis=1))               # log p(x|z) + log p(z)
    return z, log_joint, np.log(np.diff(axes[0])[0] * np.diff(axes[1])[0])


def quadrature(i, hs, half_width=16.0, n=161):
    """log p(x_i), and the ELBO and ρ = ∫ p(z|x_i)²/q dz of each diagonal q (raw parameters h in `hs`), on one grid."""
    z, lj, log_cell = grid_terms(i, half_width, n)
    log_px = logsumexp(lj) + log_cell
    elbos, rhos = [], []
    for h in hs:
        log_q = diag2.log_q(z[None], diag2.split(h[i:i + 1]))[0]
        elbos.append(np.sum(np.exp(log_q + log_cell) * (lj - log_q)))
        rhos.append(np.exp(logsumexp(2 * (lj - log_px) - log_q) + log_cell))
    return log_px, elbos, rhos


quads = [quadrature(i, (h_q, h_q2)) for i in range(len(xq))]
log_px_q = np.array([lp for lp, _, _ in quads])                                      # (n,)
elbo_quad = np.array([e for _, e, _ in quads])                                      # (n, 2 proposals)
rho_quad = np.array([r for _, _, r in quads])                                       # (n, 2 proposals)
wider = np.array([quadrature(i, (), 24.0, 361)[0] for i in range(len(xq))])
check("quadrature: a grid 1.5× wider and 1.5× finer moves log p(x) by < 0.01 nats", wider, log_px_q, atol=0.01)
ks8 = L.size((1, 10, 100, 1000, 10_000), (1, 10, 100, 1000))
n_rep = L.size(20, 10)
est8 = {name: np.array([[vae2.log_likelihood(xq, k=k, rng=rng, proposal=("diagonal", h)) for _ in range(n_rep)]
                        for k in ks8]) for name, h in (("q", h_q), ("q₂", h_q2))}             # (k, reps, n)
short = {name: log_px_q - e.mean(axis=1) for name, e in est8.items()}                      # (k, n) per digit
short_se = {name: e.std(axis=1, ddof=1) / np.sqrt(n_rep) for name, e in est8.items()}
for j, k in enumerate(ks8):
    print(f"k = {k:5d}: shortfall below log p(x), per digit — q {short['q'][j].round(3)}, "
          f"q₂ {short['q₂'][j].round(3)}")
n1 = L.size(4000, 2000)
for p, (name, h) in enumerate((("q", h_q), ("q₂", h_q2))):
    one = vae2.log_likelihood(np.repeat(xq, n1, axis=0), k=1, rng=rng,
                              proposal=("diagonal", np.repeat(h, n1, axis=0))).reshape(len(xq), n1)   # (n, n1)
    check(f"k = 1 with {name}: the IS estimate is that proposal's ELBO by quadrature, in expectation (5 SE)",
          one.mean(axis=1), elbo_quad[:, p], atol=5 * one.std(axis=1, ddof=1) / np.sqrt(n1))
print(f"ELBO(q) − ELBO(q₂) per digit (quadrature; > 0 where q₂ starts lower): "
      f"{(elbo_quad[:, 0] - elbo_quad[:, 1]).round(3)}")
check_that("both start below log p(x): ELBO(q) and ELBO(q₂) ≤ log p(x) at every digit (quadrature; Jensen)",
           np.all(elbo_quad <= log_px_q[:, None]), f"largest ELBO − log p(x): {np.max(elbo_quad - log_px_q[:, None]):.2e}")
print(f"ρ of q₂ per digit (quadrature): {rho_quad[:, 1].round(1)}")
gap2 = log_px_q - elbo_quad[:, 1]                   # q₂'s shortfall at k = 1, exactly: log p(x) − ELBO(q₂)
check_that(f"q₂'s shortfall falls with k: at k = {ks8[-1]} no larger than at k = 1, log p(x) − ELBO(q₂) "
           "by quadrature (+ 5 SE), every digit",
           np.all(short["q₂"][-1] <= gap2 + 5 * short_se["q₂"][-1]),
           f"{gap2.round(3)} -> {short['q₂'][-1].round(3)}")
covered = (rho_quad[:, 1] - 1) / (2 * ks8[-1]) < 0.01     # the predicted bias at the largest k, below 0.01 nats
check(f"q₂ converges to the quadrature value: at k = {ks8[-1]}, the {covered.sum()} digit(s) whose ρ₂ predicts "
      "a bias (ρ₂ − 1)/2k < 0.01 nats are within 5 SE + 0.05 nats",
      short["q₂"][-1][covered], 0.0, atol=5 * short_se["q₂"][-1][covered] + 0.05)
diff_se = np.sqrt(np.sum(short_se["q"][-1] ** 2 + short_se["q₂"][-1] ** 2)) / len(xq)
check_that(f"…and is no slower in the end: at k = {ks8[-1]} its mean shortfall ≤ q's + 5 SE",
           short["q₂"][-1].mean() <= short["q"][-1].mean() + 5 * diff_se,
           f"q₂ {short['q₂'][-1].mean():.3f}, q {short['q'][-1].mean():.3f} ± {diff_se:.3f} nats")

# %% [markdown]
# ## Lesson 8, exercise 3 — `compare` on Fashion-MNIST
#
# What is there offline: numvae embeds the Fashion-MNIST *test* split (10,000
# images of 28×28, `numvae.data.load_mnist_like("fashion-mnist", "test")`); its
# 60,000 training images only if installed or fetched. So we use the embedded
# 10,000 alone: shuffled, cut into a training and a test part, written as a small
# IDX data set into a temporary folder and read by `compare(..., data_root=...)`,
# which dequantizes them (256 levels) as it does the digits.
#
# Full mode runs what the exercise asks — 8,000 training and 2,000 test images,
# K = 2 and 8, 10 epochs, k = 100 — and beside it the digits at the lesson's
# training length (150 epochs, k = 100); the per-image inference gaps, which
# this exercise does not ask about, on 5 images with 50 steps only. Fast mode
# only checks that the pipeline runs: 600 / 150 images, K = 2, 2 epochs, k = 10.
# Its VAEs are far from trained, so there it asserts only what holds for any
# model (pPCA's number against an independent closed form); the lead is compared
# in full mode only.
#
# *Answer (full mode, seeds 0–2):* in nats per image the lead grows enormously —
# 245–255 nats on Fashion-MNIST against 38–43 on the digits — but that is mostly
# the 12 times as many pixels: per pixel it shrinks, from 0.60–0.67 to about 0.32
# nats (after 10 epochs; the digits' VAE had 150).

# %%
import tempfile
from pathlib import Path

from scipy.stats import multivariate_normal

from numvae.compare import compare
from numvae.data import load_mnist_like, write_idx

Xf, yf = load_mnist_like("fashion-mnist", "test")                                # embedded: always offline
order_f = np.random.default_rng(L.seed).permutation(len(Xf))
n_tr_f, n_te_f = L.size((8000, 2000), (600, 150))
settings_f = dict(z_dim=L.size((2, 8), (2,)), epochs=L.size(10, 2), k=L.size(100, 10), gap_n=L.size(5, 1),
                  gap_steps=L.size(50, 2), seed=L.seed)
with tempfile.TemporaryDirectory() as root:
    folder = Path(root) / "fashion-mnist"
    folder.mkdir()
    for stem, rows in (("train", order_f[:n_tr_f]), ("t10k", order_f[n_tr_f:n_tr_f + n_te_f])):
        write_idx(folder / f"{stem}-images-idx3-ubyte", np.round(Xf[rows] * 255).astype(np.uint8).reshape(-1, 28, 28))
        write_idx(folder / f"{stem}-labels-idx1-ubyte", yf[rows].astype(np.uint8))
    cmp_f = compare("fashion-mnist", data_root=root, **settings_f)
    Xtr_f = load_dequantized("fashion-mnist", L.seed, data_root=root)[0]          # the same draws as compare's
print(cmp_f.to_markdown())

# pPCA's maximum-likelihood solution written out (Tipping & Bishop 1999): the sample
# covariance's top K eigenpairs, σ² the mean of the rest, W = U_K(Λ_K − σ²I)^½;
# the held-out log-density from SciPy's multivariate normal.
evals, evecs = np.linalg.eigh(np.cov(Xtr_f.T, bias=True))
evals, evecs = evals[::-1], evecs[:, ::-1]
K_f = settings_f["z_dim"][0]
s2_f = evals[K_f:].mean()
W_f = evecs[:, :K_f] * np.sqrt(evals[:K_f] - s2_f)
ll_scipy = multivariate_normal(Xtr_f.mean(axis=0), W_f @ W_f.T + s2_f * np.eye(Xtr_f.shape[1])).logpdf(cmp_f.X_test)
rows_f = {(r["model"], r["K"]): r for r in cmp_f.rows}
check(f"K = {K_f}: compare's pPCA log p(x) = the ML solution by hand, scored by SciPy",
      rows_f[("pPCA", K_f)]["test_loglik"], ll_scipy.mean(), rtol=1e-8)

if not L.fast:
    cmp_d = compare("digits", z_dim=settings_f["z_dim"], epochs=150, k=100, gap_n=5, gap_steps=50, seed=L.seed)
    print(cmp_d.to_markdown())
    for K in settings_f["z_dim"]:
        leads = {}
        for name, c in (("Fashion-MNIST", cmp_f), ("digits", cmp_d)):
            lead = (c.models[("VAE", K)].log_likelihood(c.X_test, k=100, rng=rng)
                    - c.models[("pPCA", K)].log_likelihood(c.X_test))             # (N,) per image
            leads[name] = (lead.mean(), lead.std(ddof=1) / np.sqrt(len(lead)), c.n_dims)
            print(f"K = {K}, {name}: VAE − pPCA = {lead.mean():.1f} ± {leads[name][1]:.1f} nats per image, "
                  f"{lead.mean() / c.n_dims:.3f} per pixel")
        (lf, sf, df), (ld, sd, dd) = leads["Fashion-MNIST"], leads["digits"]
        check_that(f"K = {K}: the lead grows in nats per image (> 5 SE)", lf - ld > 5 * np.hypot(sf, sd))
        check_that(f"K = {K}: …and shrinks per pixel (> 5 SE)", ld / dd - lf / df > 5 * np.hypot(sd / dd, sf / df))

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

# %% [markdown]
# ## Lesson 9, exercise 1 — a β-VAE with β = 4, in our own loop
#
# The loss of `loss_and_grads(beta=β)` is −rec + β·KL (batch means). Let θ₁ maximize
# rec − KL and θ_β maximize rec − β·KL (β > 1). Adding the two optimality
# inequalities, rec(θ₁) − KL(θ₁) ≥ rec(θ_β) − KL(θ_β) and
# rec(θ_β) − β KL(θ_β) ≥ rec(θ₁) − β KL(θ₁), gives (β − 1)[KL(θ₁) − KL(θ_β)] ≥ 0, and
# then rec(θ₁) − rec(θ_β) ≥ KL(θ₁) − KL(θ_β) ≥ 0: a larger β can only buy a smaller
# KL with worse reconstructions. We train both with the same hand-written loop
# (Adam, batches of 100, the lesson's K = 2 network) and measure on the held-out
# digits: KL, reconstruction term, squared reconstruction error, and the lesson's
# nearest-centroid accuracy of the posterior means.
#
# *Answer:* worse on both counts. With K = 2 on these digits β = 4 switches the
# code almost off (this run's KL is printed below; at fast-mode seeds 0–29 it was
# under 0.03 nats against about 2 for β = 1): the decoder draws nearly the same
# average digit whatever x is, and the squared error about doubles. The posterior
# means still separate the classes worse at all those seeds (nearest-centroid
# accuracy about a quarter to a half, against about two thirds), but how much
# worse varies with the seed, so what is asserted is a bound that holds at any
# seed. A code whose mean KL is KL̄ carries at most KL̄ nats about x,
# I(x; z) ≤ E_x KL(q(z|x) ‖ N(0, I)); by Pinsker's inequality the joint law of
# (x, z) is then within √(KL̄/2) in total variation of x and z drawn independently,
# under which no classifier of z beats the largest class share. So a classifier of
# a *sampled* code is right at most max_c p(c) + √(KL̄/2) of the time — about 0.2
# for β = 4, and no limit at all (above 1) for β = 1.

# %%
from numvae.autoencoder import Autoencoder
from numvae.optim import Adam

(Xtr9, ytr9), (Xte9, yte9) = split(X7, (0.8, 0.2), L.seed, y=y7)
EP9 = L.size(300, 60)


def train_beta_vae(beta):
    """Our own minibatch loop: shuffle, one Adam step on loss_and_grads(beta=beta) per batch."""
    m = VAE(X7.shape[1], hidden=(128,), z_dim=2, decoder="bernoulli", dtype=np.float32, seed=L.seed)
    opt, loop_rng = Adam(m.params, lr=3e-3), np.random.default_rng(L.seed)
    for _ in range(EP9):
        order = loop_rng.permutation(len(Xtr9))
        for s in range(0, len(Xtr9), 100):
            _, g = m.loss_and_grads(Xtr9[order[s:s + 100]], rng=loop_rng, beta=beta)
            opt.step(g)
    return m


def nn_dist(A, B):
    """Euclidean distance of each row of A to its nearest row of B (lesson 9)."""
    d2 = (A ** 2).sum(1)[:, None] - 2 * A @ B.T + (B ** 2).sum(1)[None]
    return np.sqrt(np.maximum(d2, 0).min(axis=1))


def separation(ztr, zte):
    """Lesson 9's measures: nearest-centroid accuracy, and the fraction of the code box > 5 spacings from any code."""
    scale = ztr.std(0)
    ztr_s, zte_s = ztr / scale, zte / scale
    cents = np.stack([ztr_s[ytr9 == c].mean(0) for c in range(10)])
    acc = np.mean(np.argmin(((zte_s[:, None] - cents[None]) ** 2).sum(-1), axis=1) == yte9)
    spacing = np.median(nn_dist(ztr_s[:500], ztr_s[500:]))
    lo, hi = np.quantile(ztr_s, 0.01, axis=0), np.quantile(ztr_s, 0.99, axis=0)
    probe = lo + (hi - lo) * rng.random((4000, 2))
    return acc, np.mean(nn_dist(probe, ztr_s) > 5 * spacing)


beta_vaes = {beta: train_beta_vae(beta) for beta in (1, 4)}
e0 = rng.standard_normal((50, 2))
m4 = beta_vaes[4]
mu0, lv0 = (a.astype(np.float64) for a in m4.encode(Xtr9[:50]))
logit0 = m4.decoder.forward((mu0 + np.exp(0.5 * lv0) * e0).astype(np.float32)).astype(np.float64)
by_hand = (-(Xtr9[:50] * logit0 - np.logaddexp(0, logit0)).sum(1).mean()
           + 4 * (-0.5 * (1 + lv0 - mu0 ** 2 - np.exp(lv0))).sum(1).mean())
check("loss_and_grads(beta=4) = −mean rec + 4·mean KL, by hand", m4.loss_and_grads(Xtr9[:50], eps=e0, beta=4)[0],
      by_hand, rtol=1e-5)
terms, sep9 = {}, {}
for beta, m in beta_vaes.items():
    _, rec, kl = (a.astype(np.float64) for a in m.elbo(Xte9, n_samples=20, rng=rng))
    sq = np.sum((Xte9 - m.reconstruct(Xte9)) ** 2, axis=1)
    terms[beta] = (rec, kl, sq)
    sep9[beta] = separation(m.encode(Xtr9)[0].astype(np.float64), m.encode(Xte9)[0].astype(np.float64))
    print(f"β = {beta}: held-out rec {rec.mean():.2f}, KL {kl.mean():.3f} nats, squared error {sq.mean():.3f}, "
          f"nearest-centroid accuracy {100 * sep9[beta][0]:.1f} %, gaps {100 * sep9[beta][1]:.1f} %")
n9 = len(Xte9)
(rec1, kl1, sq1), (rec4, kl4, sq4) = terms[1], terms[4]
check_that("β = 4 buys a smaller KL (by > 5 SE of the per-digit differences)",
           (kl1 - kl4).mean() > 5 * (kl1 - kl4).std(ddof=1) / np.sqrt(n9))
check_that("…with a worse reconstruction term, by at least the KL it saves (within 5 SE)",
           (rec1 - rec4).mean() >= (kl1 - kl4).mean() - 5 * (rec1 - rec4 - kl1 + kl4).std(ddof=1) / np.sqrt(n9))
check_that("…and a larger squared reconstruction error (> 5 SE)",
           (sq4 - sq1).mean() > 5 * (sq4 - sq1).std(ddof=1) / np.sqrt(n9), f"{sq1.mean():.2f} → {sq4.mean():.2f}")


def sampled_accuracy(m, draws=20):
    """Nearest-centroid accuracy of codes z ~ q(z|x) on the held-out digits (centroids of sampled training codes)."""
    mu_tr, lv_tr = (a.astype(np.float64) for a in m.encode(Xtr9))
    z_tr = mu_tr + np.exp(0.5 * lv_tr) * rng.standard_normal(mu_tr.shape)
    cents = np.stack([z_tr[ytr9 == c].mean(0) for c in range(10)])
    mu, lv = (a.astype(np.float64) for a in m.encode(Xte9))
    z = mu + np.exp(0.5 * lv) * rng.standard_normal((draws,) + mu.shape)          # (draws, n, 2)
    per_digit = np.mean(np.argmin(((z[..., None, :] - cents) ** 2).sum(-1), axis=-1) == yte9, axis=0)
    return per_digit.mean(), per_digit.std(ddof=1) / np.sqrt(len(per_digit))


top_share, pinsker = np.bincount(yte9, minlength=10).max() / n9, {}
for beta, (_, kl_b, _) in terms.items():
    acc_s, acc_s_se = sampled_accuracy(beta_vaes[beta])
    pinsker[beta] = acc_s, acc_s_se, top_share + np.sqrt(kl_b.mean() / 2)
    print(f"β = {beta}: sampled-code accuracy {100 * acc_s:.1f} ± {100 * acc_s_se:.1f} %, "
          f"bound max_c p(c) + √(KL̄/2) = {100 * pinsker[beta][2]:.1f} % (KL̄ {kl_b.mean():.3f} nats)")
acc_s, acc_s_se, bound = pinsker[4]
check_that("β = 4's sampled code cannot classify: accuracy ≤ max_c p(c) + √(KL̄/2) (Pinsker; + 4 SE)",
           acc_s <= bound + 4 * acc_s_se, f"{100 * acc_s:.1f} % against {100 * bound:.1f} %")

# %% [markdown]
# ## Lesson 9, exercise 2 — Gaussian corruption in the denoising autoencoder
#
# x̃ = x + 0.3ε, ε ~ N(0, I), instead of dropping 30 % of the pixels; everything else
# as in the lesson. The gap measure is the lesson's: the fraction of the codes'
# bounding box (1–99 % quantiles, axes scaled to unit spread) farther than 5 median
# spacings from every training code, estimated from 4000 uniform probes — a
# binomial proportion, with standard error √(p(1 − p)/4000).
#
# *Answer:* not reliably. At most seeds its code has fewer gaps than the masking
# denoiser's and more than the VAE's, whose KL term pulls the codes together
# towards N(0, I): Gaussian noise makes neighbouring inputs overlap, which smooths
# the code, but nothing fills the space between clusters. Yet across 30 seeds each
# ordering reversed somewhere, by more than the probes' noise (fewer gaps than the
# VAE's at one, more than the masking denoiser's at another): one trained network
# per corruption is a sample of one, and the spread between training runs, which
# the probes' standard error does not see, is as large as the differences. So the
# three fractions are printed, not ranked; what is asserted is that the corruption
# is the one described.

# %%
daes = {name: Autoencoder(X7.shape[1], hidden=(128,), z_dim=2, output="sigmoid", corruption=name,
                          noise_level=0.3, dtype=np.float32, seed=L.seed) for name in ("gaussian", "masking")}
for dae in daes.values():
    dae.fit(Xtr9, epochs=EP9, batch_size=100, lr=3e-3, seed=L.seed)
noise = daes["gaussian"].corrupt(Xtr9, rng=rng).astype(np.float64) - Xtr9
check("the Gaussian corruption adds noise of mean 0 (5 SE)", noise.mean(), 0.0, atol=5 * 0.3 / np.sqrt(noise.size))
check("…and standard deviation 0.3 (5 SE)", noise.std(), 0.3, atol=5 * 0.3 / np.sqrt(2 * noise.size))
gap9 = {"VAE": sep9[1][1]}
for name, dae in daes.items():
    gap9[name] = separation(dae.encode(Xtr9).astype(np.float64), dae.encode(Xte9).astype(np.float64))[1]
se9 = {name: np.sqrt(p * (1 - p) / 4000) for name, p in gap9.items()}
print("fraction of the code box that is gap: " + ", ".join(f"{n} {100 * p:.1f} ± {100 * se9[n]:.1f} %"
                                                            for n, p in gap9.items()))
# Not ranked (see above): a seed-to-seed spread the probes' standard error does not measure.
