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
# # Worked solutions — Lesson 12, Part I (the conditional VAE)
#
# Try the exercises at the end of Part I of lesson 12 first. Each answer below
# computes what it claims and asserts it, as the lessons do, with tolerances
# from standard errors. The models are the lesson's: a conditional VAE and a
# plain VAE of the digits (64 ReLUs each way, K = 8), and the judge, logistic
# regression fitted on real training images.

# %%
import numpy as np

from _lesson import check_that, setup
from numvae import disentangle as dis
from numvae.conditional import ConditionalVAE
from numvae.data import load_digits, split
from numvae.train import fit
from numvae.vae import VAE

L = setup("Solutions to lesson 12, part I")
rng = L.rng
X, y = load_digits()
(X_tr, y_tr), (X_te, y_te) = split(X, [0.8, 0.2], L.seed, y=y)
C, K = 10, 8
TRAIN = dict(epochs=L.size(20, 8), batch_size=32, lr=3e-3, seed=L.seed, progress=False)
cvae = ConditionalVAE(64, C, hidden=(64,), z_dim=K, seed=L.seed)
fit(cvae, X_tr, y=y_tr, **TRAIN)
vae = VAE(64, hidden=(64,), z_dim=K, seed=L.seed)
fit(vae, X_tr, **TRAIN)
judge = dis.SoftmaxRegression(l2=1e-2).fit(X_tr, y_tr, C)
n = len(y_te)

# %% [markdown]
# ## Exercise 1: the two ELBOs
#
# Per held-out image, ELBO_cond(x, y) − ELBO_plain(x), with the noise of both
# drawn by the same generator seed (a paired difference; its standard error is
# that of the mean of the n differences).
#
# For the *true* log-likelihoods, Bayes' rule bounds the difference:
# log p(x|y) − log p(x) = log p(y|x) − log p(y) ≤ −log p(y), about log 10 =
# 2.30 nats for ten equally frequent classes, reached when the image leaves no
# doubt about its label. The ELBOs are bounds of two *different* models, each
# below its own log-likelihood by its own gap, so their difference is not
# bound by log 10: the conditional model is also the better-fitted one (its
# decoder need not spend capacity on drawing the right digit).

# %%
d = cvae.elbo(X_te, y_te, rng=0)[0] - vae.elbo(X_te, rng=0)[0]
se = d.std(ddof=1) / np.sqrt(n)
print(f"ELBO(x|y) - ELBO(x): {d.mean():.2f} ± {se:.2f} nats per image; -log p(y) = {np.log(C):.2f}")
check_that("the conditional ELBO is larger (by more than 4 SE)", d.mean() > 4 * se)

# %% [markdown]
# ## Exercise 2: generating each label from the prior
#
# One z ~ N(0, I) per row, decoded with every label: the judge should call
# column j a j far more often than 1 time in 10.

# %%
rows = L.size(100, 40)
z = rng.standard_normal((rows, K))
labels = np.tile(np.arange(C), rows)
images = cvae.decode(np.repeat(z, C, axis=0), labels)
acc = float(np.mean(judge.predict(images) == labels))
print(f"judge names the label a prior sample was drawn with: {acc:.3f} of {len(labels)} (chance 0.10)")
# The rows share a z, so the trials are not independent: count one trial per row (the row's
# mean accuracy), a conservative standard error.
per_row = (judge.predict(images) == labels).reshape(rows, C).mean(axis=1)
se_row = per_row.std(ddof=1) / np.sqrt(rows)
check_that("prior samples are drawn as the label asked for, far above chance (by > 4 SE, rows as trials)",
           per_row.mean() > 0.1 + 4 * max(se_row, dis.binomial_se(0.1, rows)))

# %% [markdown]
# ## Exercise 3: the decoder follows the label it is given
#
# Decode every held-out code μ(x, y) with a shuffled label vector. Where the
# decoding label b differs from the source's a, the judge names b (most of
# the time) and a (rarely): the image's identity came from the label, not
# from z.

# %%
b = rng.permutation(y_te)
other = b != y_te
pred = judge.predict(cvae.swap(X_te[other], y_te[other], b[other]))
m = int(other.sum())
names_b = float(np.mean(pred == b[other]))
names_a = float(np.mean(pred == y_te[other]))
print(f"{m} codes decoded with another label: the judge names the decoding label {names_b:.3f}, "
      f"the source's {names_a:.3f}")
check_that("the judge names the decoding label far more often than the source's (by > 4 SE)",
           names_b - names_a > 4 * np.hypot(dis.binomial_se(names_b, m), dis.binomial_se(max(names_a, 1 / m), m)))
