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
