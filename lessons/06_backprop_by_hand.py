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
# # Lesson 6 — Backprop by hand
#
# **What this lesson derives.** The gradient of the VAE's training loss with
# respect to every weight, without autodiff: the backward pass of a linear
# layer, of an element-wise activation, of a two-layer MLP, then of the whole
# VAE — through the decoder, through the sample z = μ + σ ⊙ ε, and through
# the closed-form KL, whose two paths into μ and log σ² add up. Each formula
# is written out step by step here, compared with the library's fused
# version (`numvae.nn`, `numvae.vae`), and checked against central finite
# differences with `numvae.gradcheck`. Then two failures: a deliberately
# wrong gradient (the check catches it), and a wrong *forward* — σ taken as
# exp(log σ²) — with a backward consistent with it, which the check cannot
# catch, and which optimizes something that is not the ELBO.
#
# **Lectures followed.**
# - 000_e86e672dd89502b1.txt, *VAE*: q = N(μ, σ²I), z = μ + σ ⊙ ε, the
#   closed-form −KL = ½Σ_j(1 + log σ_j² − μ_j² − σ_j²); *Generative models -
#   Variational Bayes Approach*: the L-sample reconstruction term.
# - 002_b4c24ccd2e75c8da.txt, *Stochastic gradient of the ELBO under
#   reparameterization* (eq. 7) and *Illustration of the reparameterization
#   trick*: "backprop through z".
# - 004_67c18b03ad8f58f7.txt, *Training VAE*: "apply stochastic gradient
#   descent … use a re-parameterization trick".
#
# **Take-away.** Backprop is the chain rule applied in reverse order, one
# small step per forward line; where a quantity feeds two paths (μ into z and
# into the KL) the gradients add. A finite-difference check catches a wrong
# backward with a relative error of order 1, not 1e-6 — but it only checks
# the backward *against the forward*: a wrong objective passes.

# %%
import numpy as np
import matplotlib.pyplot as plt
from scipy.special import expit

from _lesson import setup, check, check_that, grade, YourTurn  # noqa: F401  (YourTurn: the student version's stubs)
from numvae.data import load_digits, split
from numvae.distributions import kl_standard_normal, kl_standard_normal_grad
from numvae.gradcheck import VAE_EPS, gradcheck, relative_error, vae_reports
from numvae.nn import MLP, Linear, make_activation
from numvae.optim import Adam
from numvae.train import fit
from numvae.vae import VAE

L = setup("Lesson 6: backprop by hand")
rng = L.rng

# %% [markdown]
# ## 1. A linear layer
#
# The decks write a layer for one column vector, y = Wz + b. With a batch
# stored as rows — x of shape (N, n_in), one datapoint per row, as NumPy and
# this library keep it — the same layer reads y = xW + b, where W (n_in, n_out)
# is the decks' matrix transposed and b is (n_out,). Let
# δ = ∂ℓ/∂y (N, n_out) be whatever gradient arrives from above. Since
# y_nj = Σ_i x_ni W_ij + b_j,
#
# $$\frac{\partial\ell}{\partial W_{ij}} = \sum_n \delta_{nj}\,x_{ni}
#   \;\Rightarrow\; dW = x^\top\delta,\qquad
#   db = \textstyle\sum_n \delta_n,\qquad dx = \delta\,W^\top .$$
#
# The weight gradient sums over the batch because every row used the same W.
# We use a random δ (not ones: a ones vector can hide a transposed index) and
# check: by hand = `Linear.backward` = finite differences of
# ℓ = Σ δ ⊙ y, whose gradient with respect to y is exactly δ.

# %%
N, n_in, n_out = 5, 4, 3
x = rng.normal(size=(N, n_in))
delta = rng.normal(size=(N, n_out))
lin = Linear(n_in, n_out, rng=rng)
lin.params["b"][:] = rng.normal(size=n_out)          # biases away from zero
y = lin.forward(x)
dx_lib = lin.backward(delta)



def linear_backward(x, W, delta):
    """Backward of y = xW + b: (dW of shape (n_in, n_out), db of shape (n_out,), dx of shape (N, n_in))."""
    # your turn: dW, db and dx of the linear layer y = xW + b, given δ = ∂ℓ/∂y (section 1)
    ### BEGIN SOLUTION
    dW = x.T @ delta                                   # (n_in, n_out)
    db = delta.sum(axis=0)                             # (n_out,)
    dx = delta @ W.T                                   # (N, n_in)
    return dW, db, dx
    ### END SOLUTION


def linear_grads_by_differences(x, W, b, delta, h=1e-6):
    """dW, db, dx of ℓ = Σ δ ⊙ (xW + b) by central differences, entry by entry: the grading's reference."""
    loss = lambda x, W, b: np.sum(delta * (x @ W + b))             # noqa: E731
    grads = []
    for which, arr in enumerate((W, b, x)):
        g = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            args = [W.copy(), b.copy(), x.copy()]
            args[which][idx] += h
            up = loss(args[2], args[0], args[1])
            args[which][idx] -= 2 * h
            g[idx] = (up - loss(args[2], args[0], args[1])) / (2 * h)
        grads.append(g)
    return grads                                                    # dW, db, dx


# Graded first on a square layer (n_in = n_out), where a transposed W or δ still multiplies and
# only its values are wrong, then on this section's layer. The inputs of the square case come
# from a generator of their own, so the lesson's numbers do not depend on the grading.
g6 = L.rng_for("your turn: Linear backward")
square = (g6.normal(size=(N, 3)), g6.normal(size=(3, 3)), g6.normal(size=3), g6.normal(size=(N, 3)))
for where, (x_, W_, b_, d_) in (("a square layer", square),
                                ("this section's layer", (x, lin.params["W"], lin.params["b"], delta))):
    dW_ref, db_ref, dx_ref = linear_grads_by_differences(x_, W_, b_, d_)
    dW_my, db_my, dx_my = linear_backward(x_, W_, d_)
    grade(f"the Linear backward's dW, {where}", dW_my, dW_ref, atol=1e-7, rtol=1e-7, mistakes=[
        (d_.T @ x_, "your dW is transposed: it must have W's shape (n_in, n_out), dW = xᵀδ, not δᵀx"),
        (x_.T @ d_ / len(x_), "dW sums over the batch (every row used the same W): xᵀδ, not its mean over rows"),
    ], hint="∂ℓ/∂W_ij = Σ_n x_ni δ_nj, that is dW = x.T @ delta")
    grade(f"the Linear backward's db, {where}", db_my, db_ref, atol=1e-7, rtol=1e-7, mistakes=[
        (d_.mean(axis=0), "db sums δ over the batch, it does not average it"),
        (d_.sum(axis=1), "sum δ over the batch axis (axis=0), one entry per output unit"),
    ], hint="∂ℓ/∂b_j = Σ_n δ_nj: delta.sum(axis=0)")
    grade(f"the Linear backward's dx, {where}", dx_my, dx_ref, atol=1e-7, rtol=1e-7, mistakes=[
        (lambda: d_ @ W_, "dx uses W transposed: dx = δ Wᵀ (delta @ W.T), since y_nj = Σ_i x_ni W_ij"),
        (lambda: x_ @ W_, "that is the forward xW, not the gradient δWᵀ"),
    ], hint="∂ℓ/∂x_ni = Σ_j δ_nj W_ij, that is dx = delta @ W.T")

dW_hand, db_hand, dx_hand = linear_backward(x, lin.params["W"], delta)
check("dW by hand = Linear.backward", dW_hand, lin.grads["W"], atol=1e-14)
check("db by hand = Linear.backward", db_hand, lin.grads["b"], atol=1e-14)
check("dx by hand = Linear.backward", dx_hand, dx_lib, atol=1e-14)


def linear_fun(params):
    out = lin.forward(x)
    lin.backward(delta)
    return float(np.sum(delta * out)), lin.grads


rep = gradcheck(linear_fun, lin.params)
print(rep)
check_that("Linear passes the finite-difference check (rel. err ≤ 1e-6)", rep.passed, f"{rep.max_rel_err:.1e}")

# dx has no parameter to perturb: check it by perturbing the input directly
h = 1e-6
dx_num = np.zeros_like(x)
for idx in np.ndindex(x.shape):
    e = np.zeros_like(x)
    e[idx] = h
    dx_num[idx] = (np.sum(delta * lin.forward(x + e)) - np.sum(delta * lin.forward(x - e))) / (2 * h)
check("dx by hand = finite differences (rel. err)", relative_error(dx_hand, dx_num).max(), 0.0, atol=1e-6)

# %% [markdown]
# ## 2. Element-wise activations
#
# y = f(a) element-wise, so each output depends on one input and the
# Jacobian is diagonal: da = dy ⊙ f′(a). The derivatives, written from
# whichever of a and y is cheaper:
#
# | f | f′ |
# |---|---|
# | tanh | 1 − y² |
# | sigmoid, sigm(a) = 1/(1 + e⁻ᵃ) | y (1 − y) |
# | ReLU | [a > 0] |
# | softplus log(1 + eᵃ) | sigm(a) |
#
# Inputs are kept away from ReLU's kink at 0, where the finite difference
# would straddle two slopes.

# %%
a = rng.normal(size=(N, 6))
a[np.abs(a) < 0.05] += 0.2                             # away from the ReLU kink
dy = rng.normal(size=a.shape)
by_hand = {"tanh": lambda a, y: 1 - y ** 2, "sigmoid": lambda a, y: y * (1 - y),
           "relu": lambda a, y: (a > 0).astype(float), "softplus": lambda a, y: expit(a)}
for name, fprime in by_hand.items():
    act = make_activation(name)
    yy = act.forward(a)
    da_lib = act.backward(dy)
    da_num = dy * (act.f(a + h) - act.f(a - h)) / (2 * h)   # diagonal Jacobian: one difference per entry
    check(f"{name:8s}: dy ⊙ f′ by hand = Activation.backward", dy * fprime(a, yy), da_lib, atol=1e-14)
    check(f"{name:8s}: by hand = finite differences (rel. err)", relative_error(dy * fprime(a, yy), da_num).max(),
          0.0, atol=1e-6)

# %% [markdown]
# ## 3. A two-layer MLP, exploded
#
# Forward, one named intermediate per line:
#
#     a1 = x W0 + b0      h1 = tanh(a1)      out = h1 W1 + b1
#
# Backward, the same lines in reverse, each gradient named after its variable
# (d_out = δ from above):
#
#     dW1 = h1ᵀ d_out     db1 = Σ_n d_out    dh1 = d_out W1ᵀ
#     da1 = dh1 ⊙ (1 − h1²)
#     dW0 = xᵀ da1        db0 = Σ_n da1      dx  = da1 W0ᵀ

# %%
mlp = MLP((n_in, 7, n_out), "tanh", "identity", rng=rng)
for k in ("0.b", "1.b"):
    mlp.params[k][:] = rng.normal(0, 0.5, size=mlp.params[k].shape)
W0, b0, W1, b1 = (mlp.params[k] for k in ("0.W", "0.b", "1.W", "1.b"))
a1 = x @ W0 + b0                                       # (N, 7)
h1 = np.tanh(a1)                                       # (N, 7)
out = h1 @ W1 + b1                                     # (N, n_out)
check("exploded forward = MLP.forward", out, mlp.forward(x), atol=1e-14)
d_out = delta
dW1 = h1.T @ d_out                                     # (7, n_out)
db1 = d_out.sum(axis=0)
dh1 = d_out @ W1.T                                     # (N, 7)
da1 = dh1 * (1 - h1 ** 2)                              # (N, 7)
dW0 = x.T @ da1                                        # (n_in, 7)
db0 = da1.sum(axis=0)
dx_mlp = da1 @ W0.T                                    # (N, n_in)
dx_lib = mlp.backward(d_out)
for name, mine in (("0.W", dW0), ("0.b", db0), ("1.W", dW1), ("1.b", db1)):
    check(f"MLP d{name} by hand = MLP.backward", mine, mlp.grads[name], atol=1e-13)
check("MLP dx by hand = MLP.backward", dx_mlp, dx_lib, atol=1e-13)

# %% [markdown]
# ## 4. The whole VAE, exploded
#
# A tiny VAE — D = 6, one tanh hidden layer of 5 units, K = 3, Bernoulli
# decoder — on a batch of N = 7 grey-level inputs, L = 2 samples per
# datapoint, noise ε frozen. Forward (002, eq. 7; 000, *VAE*):
#
#     he = tanh(x We0 + be0);  [μ, λ] = he We1 + be1          (λ = log σ²)
#     σ = exp(½λ);  z_l = μ + σ ⊙ ε_l                         (L, N, K)
#     hd = tanh(z Wd0 + bd0);  l = hd Wd1 + bd1               (L, N, D) logits
#     rec_n = (1/L) Σ_l Σ_d [x_d l_d − softplus(l_d)]
#     KL_n = −½ Σ_j (1 + λ_j − μ_j² − e^{λ_j})
#     loss = −(1/N) Σ_n rec_n + (1/N) Σ_n KL_n
#
# Backward:
#
#     dl = −(x − sigm(l)) / (N L)                 ∂[x l − softplus(l)]/∂l = x − sigm(l)
#     decoder MLP backward                        → dz (L, N, K)
#     dμ = Σ_l dz_l + μ / N                       decoder path + KL path
#     dλ = Σ_l dz_l ⊙ ε_l ⊙ ½σ + ½(e^λ − 1) / N   ∂z/∂λ = ε ⊙ ½σ; ∂KL/∂λ = ½(σ² − 1)
#     encoder MLP backward on [dμ, dλ]
#
# μ and λ each feed two paths — every sample z_l, and the KL — and their
# gradients are the sums. That is the whole of "backprop through z".
#
# **Your turn.** The KL path first. Write the gradient of
# KL_n = −½ Σ_j (1 + λ_j − μ_j² − e^{λ_j}) with respect to μ and λ = log σ²
# (arrays of shape (N, K), one KL per row, so each row's gradient is its
# own). It is graded against central differences of the library's
# `kl_standard_normal`.

# %%
def kl_grad(mu, lam):
    """(∂KL/∂μ, ∂KL/∂λ) of KL(N(μ, diag e^λ) || N(0, I)) for each row: two arrays of the shape of mu."""
    # your turn: the gradient of the closed-form KL with respect to mu and to lam = log σ²
    ### BEGIN SOLUTION
    return mu, 0.5 * (np.exp(lam) - 1)
    ### END SOLUTION


g6k = L.rng_for("your turn: KL gradient")
mu_k, lam_k = g6k.normal(size=(4, 3)), g6k.normal(size=(4, 3))
hk = 1e-6
fd_kl = [np.zeros_like(mu_k), np.zeros_like(lam_k)]
for idx in np.ndindex(mu_k.shape):
    e = np.zeros_like(mu_k)
    e[idx] = hk
    fd_kl[0][idx] = (kl_standard_normal(mu_k + e, lam_k)[idx[0]] - kl_standard_normal(mu_k - e, lam_k)[idx[0]]) / (2 * hk)
    fd_kl[1][idx] = (kl_standard_normal(mu_k, lam_k + e)[idx[0]] - kl_standard_normal(mu_k, lam_k - e)[idx[0]]) / (2 * hk)
my_dmu, my_dlam = kl_grad(mu_k, lam_k)
grade("the KL's gradient with respect to mu", my_dmu, fd_kl[0], atol=1e-7, rtol=1e-7, mistakes=[
    (-mu_k, "the sign is flipped: the KL grows with μ², so ∂KL/∂μ = +μ (000's ½Σ(1 + …) is −KL)"),
    (0.5 * mu_k, "∂(½μ²)/∂μ = μ: the ½ cancels against the 2 of the square"),
], hint="KL = ½Σ(μ² + e^λ − 1 − λ), so ∂KL/∂μ_j = μ_j")
grade("the KL's gradient with respect to lam = log σ²", my_dlam, fd_kl[1], atol=1e-7, rtol=1e-7, mistakes=[
    (0.5 * np.exp(lam_k), "the −½ is missing: ∂(−½λ)/∂λ = −½, so ∂KL/∂λ = ½(e^λ − 1)"),
    (np.exp(lam_k) - 1, "twice the answer: the ½ in front of the KL stays, ∂KL/∂λ = ½(e^λ − 1)"),
    (0.5 * (np.exp(0.5 * lam_k) - 1), "e^λ = σ² is the variance: its derivative with respect to λ is e^λ, "
                                      "not e^{λ/2}"),
    (-0.5 * (np.exp(lam_k) - 1), "the sign is flipped: ∂KL/∂λ = ½(e^λ − 1), positive when σ² > 1"),
], hint="KL = ½Σ(μ² + e^λ − 1 − λ), so ∂KL/∂λ_j = ½(e^{λ_j} − 1)")
check("your KL gradient = the library's kl_standard_normal_grad", np.stack(kl_grad(mu_k, lam_k)),
      np.stack(kl_standard_normal_grad(mu_k, lam_k)), atol=1e-14)

# %%
D, Hd, K, Nb, Ls = 6, 5, 3, 7, 2
vae = VAE(D, hidden=(Hd,), z_dim=K, decoder="bernoulli", activation="tanh", dtype=np.float64, seed=1)
for k, v in vae.params.items():
    if k.endswith(".b"):
        v[:] = rng.normal(0, 0.5, size=v.shape)
xb = rng.uniform(0.02, 0.98, size=(Nb, D))
eps = rng.standard_normal((Ls, Nb, K))
P = vae.params


def vae_exploded(P, x, eps, sigma_of=lambda lam: np.exp(0.5 * lam), dsigma=lambda lam, s: 0.5 * s):
    """Forward and backward of the tiny VAE above, one line per step; returns loss, grads, intermediates.

    `sigma_of` and `dsigma` say how σ is computed from λ = logvar and its derivative dσ/dλ,
    so section 6 can swap in the σ = exp(λ) bug with its own consistent derivative.
    """
    N, Lk = x.shape[0], eps.shape[0]
    he = np.tanh(x @ P["enc.0.W"] + P["enc.0.b"])                  # (N, H)
    enc_out = he @ P["enc.1.W"] + P["enc.1.b"]                     # (N, 2K)
    mu, lam = enc_out[:, :K], enc_out[:, K:]                       # (N, K) each
    sigma = sigma_of(lam)                                          # (N, K)
    z = mu + sigma * eps                                           # (L, N, K)
    hd = np.tanh(z @ P["dec.0.W"] + P["dec.0.b"])                  # (L, N, H)
    logits = hd @ P["dec.1.W"] + P["dec.1.b"]                      # (L, N, D)
    rec = np.mean(np.sum(x * logits - np.logaddexp(0, logits), axis=-1), axis=0)   # (N,)
    kl = -0.5 * np.sum(1 + lam - mu ** 2 - np.exp(lam), axis=-1)   # (N,)
    loss = -rec.mean() + kl.mean()

    g = {}
    dlogits = -(x - expit(logits)) / (N * Lk)                      # (L, N, D)
    g["dec.1.W"] = hd.reshape(-1, Hd).T @ dlogits.reshape(-1, D)   # sums over samples and batch
    g["dec.1.b"] = dlogits.sum(axis=(0, 1))
    dhd = dlogits @ P["dec.1.W"].T                                 # (L, N, H)
    dad = dhd * (1 - hd ** 2)                                      # (L, N, H)
    g["dec.0.W"] = z.reshape(-1, K).T @ dad.reshape(-1, Hd)
    g["dec.0.b"] = dad.sum(axis=(0, 1))
    dz = dad @ P["dec.0.W"].T                                      # (L, N, K)
    dmu = dz.sum(axis=0) + mu / N                                  # decoder path + KL path
    dlam = (dz * eps).sum(axis=0) * dsigma(lam, sigma) + 0.5 * (np.exp(lam) - 1) / N
    denc = np.concatenate([dmu, dlam], axis=1)                     # (N, 2K)
    g["enc.1.W"] = he.T @ denc
    g["enc.1.b"] = denc.sum(axis=0)
    dae = (denc @ P["enc.1.W"].T) * (1 - he ** 2)                  # (N, H)
    g["enc.0.W"] = x.T @ dae
    g["enc.0.b"] = dae.sum(axis=0)
    return loss, g, {"rec": rec, "kl": kl, "mu": mu, "lam": lam}


loss_hand, g_hand, inter = vae_exploded(P, xb, eps)
loss_lib, g_lib = vae.loss_and_grads(xb, eps=eps, n_samples=Ls)
check("exploded loss = VAE.loss_and_grads", loss_hand, loss_lib, atol=1e-13)
elbo_lib, rec_lib, kl_lib = vae.elbo(xb, n_samples=Ls, eps=eps)
check("exploded KL = closed form of numvae.distributions", inter["kl"], kl_standard_normal(inter["mu"], inter["lam"]),
      atol=1e-13)
check("exploded rec = VAE.elbo's reconstruction term", inter["rec"], rec_lib, atol=1e-13)
for k in P:
    check(f"d{k:8s} by hand = VAE.loss_and_grads", g_hand[k], g_lib[k], atol=1e-13)

# %% [markdown]
# The finite-difference check of the library's gradient on this model, every
# entry of every parameter. The table is the report `numvae.gradcheck` prints:
# for each parameter, the worst entry's relative error
# |a − n| / max(1e-8, |a| + |n|).

# %%
rep = gradcheck(lambda p: vae.loss_and_grads(xb, eps=eps, n_samples=Ls), vae.params, eps=VAE_EPS)
print(rep)
check_that("the VAE gradient passes: every relative error ≤ 1e-6", rep.passed, f"largest {rep.max_rel_err:.1e}")
print("\nThe library's own suite (every decoder; β = 0.7; free bits clamping some dimensions):")
n_cases = L.size(7, 3)
for title, r in vae_reports()[:n_cases]:
    print(f"  {r.max_rel_err:8.1e}  {'PASS' if r.passed else 'FAIL'}  {title}")
    check_that(f"passes: {title[:40]}…", r.passed)

# %% [markdown]
# ## 5. What a wrong gradient looks like
#
# Forget the ½ of ∂σ/∂λ = ½σ — a very common slip (d exp(½λ)/dλ written as
# exp(½λ)). Everything else is right. The check does not report "slightly
# off": the encoder's largest relative errors are 1e-2 to 1, four or more
# orders of magnitude above the 1e-6 a correct gradient reaches, while the
# decoder's parameters, which the slip does not touch, still pass.

# %%
def wrong_fun(params):
    loss, g, _ = vae_exploded(params, xb, eps, dsigma=lambda lam, s: s)   # forgot the ½
    return loss, g


rep_wrong = gradcheck(wrong_fun, vae.params, eps=VAE_EPS)
print(rep_wrong)
check_that("the deliberately wrong gradient FAILS the check", not rep_wrong.passed)
check_that("…with a large relative error (> 1e-2), not a borderline one", rep_wrong.max_rel_err > 1e-2,
           f"{rep_wrong.max_rel_err:.2f}")
check_that("…on the encoder only: the decoder's gradients are untouched and pass",
           all(r.max_rel_err <= 1e-6 for r in rep_wrong.rows if r.name.startswith("dec."))
           and all(r.max_rel_err > 1e-3 for r in rep_wrong.rows if r.name.startswith("enc.")))

# %% [markdown]
# ## 6. σ vs σ² vs log σ²: a wrong objective passes the check
#
# The encoder outputs λ = log σ². Then σ² = e^λ and **σ = e^{λ/2}**. The bug
# (an easy one to make, since both σ and σ² are written "exp(...)" of the
# encoder's output): sample with
# z = μ + e^λ ⊙ ε, i.e. use the *variance* as the standard deviation, with
# the backward written consistently, ∂z/∂λ = ε ⊙ e^λ, while the KL keeps
# treating e^λ as the variance. Forward and backward agree, so:

# %%
bug = dict(sigma_of=lambda lam: np.exp(lam), dsigma=lambda lam, s: s)
# The same step as the correct model's check: at 1e-6 rounding (1e-16·|loss|/step ≈ 1e-9)
# is already 1e-6 of the smallest gradient entries, and at seeds 0 and 7 it exceeded it.
rep_bug = gradcheck(lambda p: vae_exploded(p, xb, eps, **bug)[:2], vae.params, eps=VAE_EPS)
print(rep_bug)
check_that("the σ = exp(logvar) VAE PASSES the gradient check", rep_bug.passed)

# %% [markdown]
# What does it optimize? Its q actually samples z ~ N(μ, e^{2λ}) — variance
# v² where v = e^λ — but it scores that q with KL(N(μ, v) ‖ N(0, I)). Per
# dimension the true KL minus the one it uses is
#
# $$\tfrac12\bigl[(v^2 - \log v^2) - (v - \log v)\bigr] = \tfrac12\bigl(v^2 - v - \log v\bigr) \ge 0,$$
#
# zero only at v = 1 (where networks start, so a check at initialization
# sees nothing). So the bugged "ELBO" is *larger* than the true ELBO of the
# q it samples, and no longer a bound on anything. We train the bugged model
# and a correct one on the digits and evaluate both on held-out digits:
# the bugged objective, the true ELBO of its own q, and log p(x) of its
# decoder estimated by importance sampling from the q it really samples
# (002, eq. 9; lesson 8 studies that estimator).

# %%
X, y = load_digits()
(Xtr, _), (Xte, _) = split(X, (0.8, 0.2), L.seed, y=y)
Xte = Xte[:L.size(359, 150)]
Kd, epochs = 8, L.size(150, 40)


def buggy_loss_and_grads(model, x, eps):
    """The library VAE's forward and backward with ONE change: σ = exp(logvar). Uses its MLPs."""
    N = x.shape[0]
    enc = model.encoder.forward(x)
    mu, lam = enc[:, :Kd], enc[:, Kd:]
    v = np.exp(lam)                                    # the bug: variance used as σ
    z = mu + v * eps[0]
    logits = model.decoder.forward(z)
    rec = np.sum(x * logits - np.logaddexp(0, logits), axis=-1)
    kl = kl_standard_normal(mu, lam)                   # still treats e^λ as the variance
    dz = model.decoder.backward(-(x - expit(logits)) / N)
    dmu = dz + mu / N
    dlam = dz * eps[0] * v + 0.5 * np.expm1(lam) / N   # consistent with the bugged forward
    model.encoder.backward(np.concatenate([dmu, dlam], axis=1))
    return float(-rec.mean() + kl.mean()), model.grads, rec, kl


buggy = VAE(64, hidden=(64,), z_dim=Kd, decoder="bernoulli", seed=0)
opt = Adam(buggy.params, lr=3e-3)
train_rng = np.random.default_rng(L.seed)
for epoch in range(epochs):
    order = train_rng.permutation(len(Xtr))
    for s in range(0, len(Xtr), 100):
        xbatch = Xtr[order[s:s + 100]]
        _, grads, _, _ = buggy_loss_and_grads(buggy, xbatch, train_rng.standard_normal((1, len(xbatch), Kd)))
        opt.step(grads)
correct = VAE(64, hidden=(64,), z_dim=Kd, decoder="bernoulli", seed=0)
fit(correct, Xtr, epochs=epochs, batch_size=100, lr=3e-3, seed=L.seed, progress=False)


def is_loglik(model, x, k, sample_var_scale, rng):
    """log (1/k) Σ p(x, z_i)/q(z_i|x) with q the Gaussian the model samples: variance e^λ or e^{2λ}."""
    mu, lam = model.encode(x)
    qlv = sample_var_scale * lam                                   # log-variance of what is sampled
    e = rng.standard_normal((k,) + mu.shape)
    z = mu + np.exp(0.5 * qlv) * e                                 # (k, N, K)
    logits = model.decoder.forward(z)
    log_w = (np.sum(x * logits - np.logaddexp(0, logits), axis=-1)
             - 0.5 * np.sum(z ** 2 + np.log(2 * np.pi), axis=-1)
             + 0.5 * np.sum(e ** 2 + np.log(2 * np.pi) + qlv, axis=-1))
    return np.logaddexp.reduce(log_w, axis=0) - np.log(k)


eval_rng = np.random.default_rng(L.seed + 1)
n_eval = 20
mu_te, lam_te = buggy.encode(Xte)
rec_bug = np.mean([buggy_loss_and_grads(buggy, Xte, eval_rng.standard_normal((1, len(Xte), Kd)))[2]
                   for _ in range(n_eval)], axis=0)
claimed = rec_bug - kl_standard_normal(mu_te, lam_te)             # what the bugged code reports
true_elbo = rec_bug - kl_standard_normal(mu_te, 2 * lam_te)       # the ELBO of the q it samples
k = L.size(2000, 500)
ll_bug = is_loglik(buggy, Xte, k, 2.0, eval_rng)
elbo_ok = correct.elbo(Xte, n_samples=n_eval, rng=eval_rng)[0]
ll_ok = correct.log_likelihood(Xte, k=k, rng=eval_rng)
v_med = np.median(np.exp(lam_te), axis=0)
print(f"bugged model: median v = exp(logvar) per latent dim {v_med}")
print(f"                     'ELBO' it reports   {claimed.mean():8.3f} nats")
print(f"                     true ELBO of its q  {true_elbo.mean():8.3f} nats")
print(f"                     log p(x), IS k={k:<5d} {ll_bug.mean():8.3f} nats")
print(f"correct model:       ELBO                {elbo_ok.mean():8.3f} nats")
print(f"                     log p(x), IS k={k:<5d} {ll_ok.mean():8.3f} nats")
check_that("the bugged objective exceeds the true ELBO of what it samples by > 1 nat",
           claimed.mean() - true_elbo.mean() > 1.0, f"{claimed.mean() - true_elbo.mean():.2f} nats")
check("…by exactly Σ_j ½(v² − v − log v) per datapoint",
      (claimed - true_elbo).mean(), (0.5 * (np.exp(2 * lam_te) - np.exp(lam_te) - lam_te)).sum(1).mean(), rtol=1e-9)
check_that("the bugged 'lower bound' lies ABOVE the log-likelihood it should bound",
           claimed.mean() > ll_bug.mean(), f"{claimed.mean():.2f} > {ll_bug.mean():.2f}")
check_that("while the correct model's ELBO stays below its log-likelihood", elbo_ok.mean() < ll_ok.mean(),
           f"{elbo_ok.mean():.2f} < {ll_ok.mean():.2f}")

fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
vv = np.logspace(-2, np.log10(3), 200)
axes[0].semilogx(vv, 0.5 * (vv ** 2 - vv - np.log(vv)), "C3", label="½(v² − v − log v)")
axes[0].set(xlabel="v = exp(logvar)", ylabel="nats per latent dimension",
            title="true KL − KL the bug uses = ½(v² − v − log v)")
v_te = np.exp(lam_te).ravel()                          # the trained bugged encoder's v, each at its own excess
axes[0].plot(v_te, 0.5 * (v_te ** 2 - v_te - np.log(v_te)), "o", ms=2, alpha=0.3, color="C0",
             label="v of the trained bugged encoder (one dot per digit and latent)")
axes[0].legend(fontsize=8, loc="lower left")
names = ["bug: reported", "bug: true ELBO", "bug: log p(x)", "correct: ELBO", "correct: log p(x)"]
vals = [claimed.mean(), true_elbo.mean(), ll_bug.mean(), elbo_ok.mean(), ll_ok.mean()]
for i, (nm, v) in enumerate(zip(names, vals)):
    axes[1].plot([v], [i], "o", ms=9, color=["C3", "C1", "C0", "C2", "C0"][i])
    axes[1].annotate(f"{v:.2f}", (v, i), textcoords="offset points", xytext=(8, -4), fontsize=8)
axes[1].set_yticks(range(len(names)), names)
axes[1].set_xlim(min(vals) - 1, max(vals) + 1.5)
axes[1].grid(axis="x", alpha=0.3)
axes[1].set(xlabel="nats per held-out digit", ylabel="quantity (model)", title="σ = exp(logvar): the 'bound' is above log p(x)")
fig.tight_layout()
L.savefig(fig, "06_sigma_bug")

# %% [markdown]
# ## Summary
#
# - Linear: dW = xᵀδ, db = Σ_n δ_n, dx = δWᵀ. Activations: multiply by f′.
#   An MLP's backward is these lines in reverse.
# - The VAE: dμ = Σ_l dz_l + μ/N and dλ = Σ_l dz_l ⊙ ε_l ⊙ ½σ + ½(e^λ − 1)/N
#   — each the sum of the sampling path and the KL path. The exploded version
#   equals `VAE.loss_and_grads` to ~1e-15, and both pass `gradcheck` at 1e-6.
# - A wrong backward fails the check by orders of magnitude (here a missing ½
#   gives relative errors of 1e-3 to 1 on the encoder, ≤ 1e-6 elsewhere).
# - A wrong *forward* with a consistent backward passes. σ = exp(logvar)
#   optimizes an objective that exceeds the true ELBO by ½Σ(v² − v − log v)
#   and even exceeds log p(x): test the forward against the math (sample
#   moments, ELBO ≤ log p(x)), not only the backward against the forward.
#
# ## Exercises
#
# Worked solutions (exercises 1, 2 and 3), which run and assert their answers: `solutions_06_to_09.py`.
#
# 1. Replace tanh by ReLU in section 4's exploded VAE (f′ = [a > 0]); what
#    must you do to the inputs or biases so the gradient check stays
#    meaningful?
# 2. Add free bits to `vae_exploded`: the KL of dimension j enters as
#    max(λ_fb, mean_n KL_nj). Derive its gradient (zero where the max takes
#    λ_fb) and compare with `VAE.loss_and_grads(free_bits=...)`.
# 3. Write the Gaussian decoder's backward, with a learned per-pixel log-variance
#    ℓ_d: ∂/∂mean = (x − m)e^{−ℓ}, ∂/∂ℓ = ½((x − m)²e^{−ℓ} − 1), summed over
#    samples and the batch for ℓ. Check against `VAE(decoder="gaussian")`.
