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
# # Worked solutions — Lesson 11 (tighter bounds)
#
# Try the exercises at the end of lesson 11 first. Each answer below computes what
# it claims and asserts it, as the lessons do. The log weights are those of the
# lesson, log w_i = log p(x|z_i) + log p(z_i) − log q(z_i|x), z_i ~ q(z|x), and
# L_k = log (1/k) Σ_i w_i (Burda, Grosse & Salakhutdinov 2015).

# %%
import numpy as np
from scipy.special import softmax

from _lesson import check, check_that, setup
from numvae.data import binarize, load_digits, split
from numvae.objectives import IWAE
from numvae.ppca import PPCA
from numvae.train import fit
from numvae.vae import VAE

L = setup("Solutions to lesson 11")
rng = L.rng
X, y = load_digits()
(X_tr, _), (X_te, _) = split(X, [0.8, 0.2], L.seed, y=y)
X_te = binarize(X_te, rng).astype(np.float64)
x = X_te[:L.size(200, 100)]                                                      # (n, 64)
n = len(x)


def train(objective, K=8):
    """The lesson's VAE (64 ReLUs each way, Bernoulli decoder) with K latents, trained on `objective`."""
    m = VAE(64, hidden=(64,), z_dim=K, decoder="bernoulli", seed=L.seed, dtype=np.float64)
    fit(m, X_tr, epochs=L.size(20, 10), batch_size=100, lr=1e-2, seed=L.seed, binarize=True, progress=False,
        objective=objective)
    return m


elbo_model = train(None)

# %% [markdown]
# ## Exercise 1 — IWAE(1) is the ELBO with a Monte Carlo KL, and E[L_k] rises with k
#
# With k = 1, L_1 = log w_1 = log p(x|z) − [log q(z|x) − log p(z)]: one sample of
# the reconstruction term minus one sample of the KL. Its expectation is the
# ELBO with the closed-form KL. Averaged over R draws per image, the difference
# from `VAE.elbo` (closed-form KL, many samples of the reconstruction) must be
# zero within 4 standard errors. Then, on the same images, the paired
# differences L_5 − L_1 and L_50 − L_5 (fresh draws for each) must be positive
# beyond 4 SE: Burda et al.'s theorem 1, L_1 ≤ L_k ≤ L_{k+1}, in expectation.

# %%
R = L.size(200, 100)
L1 = np.stack([-IWAE(1).value(elbo_model, x, rng=rng) for _ in range(R)])            # (R, n)
elbo_cf = elbo_model.elbo(x, n_samples=2000, rng=rng)[0]                          # (n,) closed-form KL
d = L1.mean(0) - elbo_cf                                                          # (n,)
# Per image: the SE of the R draws, and of the 2000-sample reconstruction term (its noise is at most
# that of a whole draw of L_1, so L_1's sd / √2000 bounds it).
se_img = np.sqrt(L1.var(0, ddof=1) / R + L1.var(0, ddof=1) / 2000)
check("E[L_1] = ELBO (closed-form KL): mean over images of the difference, within 4 SE",
      d.mean(), 0.0, atol=4 * np.sqrt(np.sum(se_img ** 2)) / n)
# Each L_k averaged over several draws per image (one draw of L_1 is noisy: its sd is over a nat).
bounds = {1: L1.mean(0)}
bounds.update({k: np.mean([-IWAE(k).value(elbo_model, x, rng=rng) for _ in range(draws)], axis=0)
               for k, draws in ((5, 20), (50, 4))})                                  # (n,) each
for a, b in ((5, 1), (50, 5)):
    diff = bounds[a] - bounds[b]
    se = diff.std(ddof=1) / np.sqrt(n)
    check_that(f"E[L_{a}] > E[L_{b}] beyond 4 SE (paired over {n} images)", diff.mean() > 4 * se,
               f"{diff.mean():.3f} nats, SE {se:.3f}")
ll = elbo_model.log_likelihood(x, k=5000, rng=rng, return_se=True)
diff = ll[0] - bounds[50]                                                        # (n,) paired
check_that("…and E[L_50] ≤ log p(x) (k = 5000), within 4 SE", diff.mean() > -4 * diff.std(ddof=1) / np.sqrt(n),
           f"log p(x) − L_50 = {diff.mean():.3f} nats")

# %% [markdown]
# ## Exercise 2 — the effective sample size of the weights
#
# ESS = 1/Σ_i w̃_i² lies between 1 (one sample carries all the weight) and k
# (all weights equal: q is the posterior). We measure ESS/k per image for the
# ELBO model and for a model trained on IWAE(50). For both it falls as k grows
# (the larger the sample, the more its largest weights dominate). The answer to
# "which encoder proposes better samples" is measured below: the
# ELBO-trained encoder, whose q is closer to the posterior (smaller
# log p(x) − ELBO, lesson 11 section 2), has the larger ESS/k — the IWAE
# encoder proposes more spread-out samples and relies on the weights to sort
# them.

# %%
iwae_model = train(IWAE(50))


def ess_fraction(model, k):
    """ESS/k = 1/(k Σ w̃²) per image, (n,), from one draw of k samples."""
    p = model.forward(x, k, rng)
    w_tilde = softmax(IWAE(k).log_weights(model, p), axis=0)                     # (k, n)
    return 1.0 / (k * np.sum(w_tilde ** 2, axis=0))


ess = {(name, k): ess_fraction(model, k) for name, model in (("ELBO", elbo_model), ("IWAE k=50", iwae_model))
       for k in (5, 50)}
for key, v in ess.items():
    print(f"{key[0]:<10} k = {key[1]:>2}: mean ESS/k {v.mean():.3f}")
for key, v in ess.items():
    check_that(f"{key[0]}, k = {key[1]}: 1/k ≤ ESS/k ≤ 1 for every image", np.all((v >= 1 / key[1] - 1e-12)
                                                                                  & (v <= 1 + 1e-12)))
for name in ("ELBO", "IWAE k=50"):
    diff = ess[name, 5] - ess[name, 50]
    check_that(f"{name}: ESS/k falls from k = 5 to k = 50 (beyond 4 SE over images)",
               diff.mean() > 4 * diff.std(ddof=1) / np.sqrt(n), f"{diff.mean():.3f}")
diff = ess["ELBO", 50] - ess["IWAE k=50", 50]
check_that("the ELBO encoder's ESS/k at k = 50 is the larger (beyond 4 SE over images)",
           diff.mean() > 4 * diff.std(ddof=1) / np.sqrt(n), f"{diff.mean():.3f}")

# %% [markdown]
# ## Exercise 3 — at the exact posterior DReG's encoder gradient is zero, IWAE's is only zero on average
#
# On a linear-Gaussian decoder (pPCA, lesson 3; lesson 10 section 4) the
# posterior is N(M⁻¹Wᵀ(x − b), σ²M⁻¹), M = WᵀW + σ²I; with W's columns
# orthogonal M is diagonal, so a *linear* encoder with a diagonal q can be set to
# it exactly. Then w_i = p(x, z_i)/p(z_i|x) = p(x) for every z_i: L_k = log p(x)
# at every draw, ∂log w_i/∂z_i = 0, and DReG's encoder gradient
# Σ w̃_i² ∂log w_i/∂z_i ∂z_i/∂φ is zero at every draw — zero variance. IWAE's
# keeps its score term Σ w̃_i ∂log q/∂φ, which is zero only in expectation: its
# variance stays. This is Tucker et al.'s (2019) argument in one line, exact.

# %%
D, K3, sigma2 = 6, 2, 0.3
Q, _ = np.linalg.qr(rng.standard_normal((D, K3)))
W = Q * np.array([2.0, 0.8])                                                      # orthogonal columns
b = rng.normal(size=D)
M = W.T @ W + sigma2 * np.eye(K3)                                                 # diagonal
lin = VAE(D, hidden=(), z_dim=K3, decoder="gaussian", decoder_var="shared", seed=L.seed, dtype=np.float64)
lin.params["dec.0.W"][...] = W.T
lin.params["dec.0.b"][...] = b
lin.params["dec.logvar"][...] = np.log(sigma2)
A = W @ np.linalg.inv(M)                                                          # (D, K): mu = (x − b) A
lin.params["enc.0.W"][...] = np.concatenate([A, np.zeros((D, K3))], axis=1)
lin.params["enc.0.b"][...] = np.concatenate([-b @ A, np.log(sigma2 / np.diag(M))])
xl = PPCA.from_params(W, b, sigma2).sample(5, rng)                                # (5, D)
exact = PPCA.from_params(W, b, sigma2).log_likelihood(xl)                         # (5,)

k = 5
enc = [nm for nm in lin.params if nm.startswith("enc")]
g = {"iwae": [], "dreg": []}
for r in range(L.size(400, 200)):
    e = rng.standard_normal((k, len(xl), K3))
    for est in g:
        loss, grads = IWAE(k, est).loss_and_grads(lin, xl, eps=e)
        g[est].append(np.concatenate([grads[nm].ravel() for nm in enc]))
    worst_bound = max(worst_bound if r else 0.0, np.abs(lin.last_terms["bound"] - exact).max())
G = {est: np.array(v) for est, v in g.items()}                                    # (R, P)
check("L_5 = log p(x) exactly at every draw (q is the posterior)", worst_bound, 0.0, atol=1e-9)
check("DReG's encoder gradient is zero at every draw", np.abs(G["dreg"]).max(), 0.0, atol=1e-9)
check_that("IWAE's is not: its per-draw standard deviation is far from zero", G["iwae"].std(0).max() > 1e-2,
           f"largest sd {G['iwae'].std(0).max():.3f}")
se = G["iwae"].std(0, ddof=1) / np.sqrt(len(G["iwae"]))
check("…but its mean is zero (every entry within 4.5 SE; ∇φ L_k = 0 at the posterior)", G["iwae"].mean(0), 0.0,
      atol=4.5 * se)
