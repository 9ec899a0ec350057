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
# # Lesson 12 — Disentangling factors of variation
#
# ## Part I: the conditional VAE and its adversary
#
# **What this part derives and measures.** A digit is *which* digit (its
# class) and *how* it was written (thick or thin, upright or slanted, broad
# or narrow). Given the class label during training, can a VAE keep the two
# apart — the label in y, the handwriting in z — so that the z of a 3,
# decoded with the label 8, draws an 8 in the hand of that 3? We build the
# conditional VAE, derive its ELBO, and measure the separation with judges
# that are not the model: a classifier fitted on real images, a style
# measure from image moments, and a fresh classifier that tries to read the
# label back out of z. Then we add an adversary that punishes z for
# knowing the label, and measure what it buys and what it costs.
#
# **Lectures followed.**
# - Srihari, *Variational Autoencoders*, 001_42ece0b0f0700f2b.txt, slide
#   *Disentangling FoVs*: "during training, only supervision is class
#   labels"; *specified* factors of variation (its example: images captured
#   from different viewpoints; strong supervision: pairs of images with two
#   different objects at the same viewing angle) and *unspecified* ones
#   (labels unavailable); "a disentanglement method: combine variational
#   autoencoder with adversarial training". The slide names no paper; the
#   method is that of Mathieu, Zhao, Sprechmann, Ramesh & LeCun 2016.
# - 001, *Key insight of VAE* and 000, *Generative models - Variational
#   Bayes Approach*: the ELBO, which section 2 derives once more with the
#   label held fixed.
#
# **Take-away.** Told the label, a conditional VAE learns to leave it out of
# z: the KL term charges for every nat z carries, and the decoder already
# has y. Swapping the label redraws the digit (an independent classifier
# agrees, near its own ceiling) and keeps the hand (a moment-based style
# measure agrees, well above chance). z is not label-free, though: a fresh
# classifier still reads the label from it above chance. An adversary
# pushing its guesses towards uniform drives that down towards chance, at
# a cost of a few tenths of a nat per image in these runs; the plain
# *reversal* of its cross-entropy, by contrast, teaches z to mislead the
# adversary, and a fresh classifier reads far more of the label after it
# than after confusion.

# %%
import matplotlib.pyplot as plt
import numpy as np
from scipy.special import logsumexp

from _lesson import check, check_that, setup
from numvae import disentangle as dis
from numvae.adversary import fit_adversarial
from numvae.conditional import ConditionalVAE
from numvae.data import load_digits, split
from numvae.gradcheck import conditional_case, gradcheck, VAE_EPS
from numvae.objectives import log_prior
from numvae.train import fit
from numvae.vae import VAE

L = setup("Lesson 12, part I: the conditional VAE and its adversary")
rng = L.rng
X, y = load_digits()
(X_tr, y_tr), (X_te, y_te) = split(X, [0.8, 0.2], L.seed, y=y)
C, K, HIDDEN = 10, 8, (64,)
EPOCHS = L.size(20, 8)
TRAIN = dict(epochs=EPOCHS, batch_size=32, lr=3e-3, seed=L.seed)
n_te = len(y_te)
print(f"{len(y_tr)} training and {n_te} held-out digits (8 x 8), {C} classes; K = {K}, {EPOCHS} epochs")

# %% [markdown]
# ## 1. Specified and unspecified factors
#
# A *factor of variation* is anything that changes the image: the digit, the
# pen, the writer's slant. The slide splits them by what the data tell us:
#
# - **specified** factors come with a label in the training data;
# - **unspecified** factors have none: they must be found, and kept apart
#   from the specified ones, without supervision.
#
# The slide's example is images of objects seen from different viewpoints:
# what object it is and from which angle it is seen. Its "strong
# supervision" — pairs of images of two different objects at the *same*
# angle — tells the learner directly what "same angle, other object" looks
# like. Mathieu et al.'s point is that the class labels alone suffice.
#
# In the digits: **the class label (0–9) is the specified factor**, the
# object's identity of the slide; **the style of the stroke (ink, slant,
# width) is the unspecified one**, the slide's viewpoint: every class is
# seen "from every angle", and no image says which. The strong supervision
# would be pairs of *different* digits written by the *same* hand; the UCI
# digits have no such pairs, and the conditional model below needs none.
#
# Disentangled here means: the label lives in y, the style in z, and
# neither in the other. Section 4 tests "the style in z", section 6 "not
# the label in z".

# %% [markdown]
# ## 2. The conditional VAE and its ELBO
#
# The generative model draws a style and then draws the digit y in it:
#
# $$p_\theta(x, z\,|\,y) = p_\theta(x\,|\,z, y)\,\mathcal N(z; 0, I).$$
#
# The prior on z does not depend on y: the style of a 3 and of an 8 come
# from the same N(0, I). For any density q(z|x, y) that is positive where
# the posterior is, with y held fixed throughout,
#
# $$\log p_\theta(x|y) = \log\int p_\theta(x|z,y)\,p(z)\,dz
#   = \log E_{q(z|x,y)}\Bigl[\frac{p_\theta(x|z,y)\,p(z)}{q(z|x,y)}\Bigr]
#   \ge E_{q}\log\frac{p_\theta(x|z,y)\,p(z)}{q(z|x,y)}$$
#
# by Jensen's inequality (log is concave), and splitting the logarithm,
#
# $$\mathrm{ELBO}(x, y) = E_{q(z|x,y)}\log p_\theta(x|z, y)
#   - \mathrm{KL}\bigl(q(z|x,y)\,\|\,\mathcal N(0, I)\bigr).$$
#
# It is the ELBO of lecture 000 with y beside x and z; the gap is
# KL(q(z|x,y) ‖ p(z|x,y)). Both networks get the label as a one-hot vector
# e_y concatenated to their input: the encoder reads [x, e_y], the decoder
# [z, e_y] (`numvae.conditional.ConditionalVAE`). The backward is the VAE's;
# the decoder's input gradient is cut to its first K columns. It is checked
# entry by entry against central finite differences (`numvae gradcheck`
# does it for every likelihood and posterior family):

# %%
model_fd, fun_fd, _ = conditional_case("bernoulli", seed=L.seed)
report = gradcheck(fun_fd, model_fd.params, eps=VAE_EPS)
check_that("the conditional VAE's hand-written gradient matches finite differences (rel. error <= 1e-6)",
           report.passed, f"largest relative error {report.max_rel_err:.1e}")

# %% [markdown]
# Why should z leave the label out? The KL term charges for every nat of
# information z carries about x; the decoder is *given* y, so a z that
# repeats the label pays for it and buys nothing. The cheapest code carries
# only what y does not say: the unspecified factors. Nothing forbids it,
# though; section 6 measures how far it goes.
#
# We train the conditional VAE with `fit(model, X, y=labels)` (every batch
# carries the labels of its rows), and for comparison the plain VAE of the
# same size.

# %%
cvae = ConditionalVAE(64, C, hidden=HIDDEN, z_dim=K, seed=L.seed)
fit(cvae, X_tr, y=y_tr, progress=False, **TRAIN)
vae = VAE(64, hidden=HIDDEN, z_dim=K, seed=L.seed)
fit(vae, X_tr, progress=False, **TRAIN)
elbo_c, rec_c, _ = cvae.elbo(X_te, y_te, rng=0)
elbo_v = vae.elbo(X_te, rng=0)[0]
print(f"held-out ELBO: conditional {elbo_c.mean():.2f} nats of log p(x|y), plain {elbo_v.mean():.2f} of log p(x)")

# %% [markdown]
# Two checks of the bound, from the formula above and not from the model's
# own `elbo`. With k samples z_i ~ q(z|x, y) and log weights
# log w_i = log p(x|z_i, y) + log p(z_i) − log q(z_i|x, y):
#
# - their mean is a Monte Carlo ELBO (the KL estimated too); it must agree
#   with `ConditionalVAE.elbo` (closed-form KL) within its standard error;
# - log (1/k) Σ_i w_i, the importance-sampled estimate of log p(x|y)
#   (lecture 002, eq. 9, with q(z|x, y) as the proposal), is never below
#   that mean (Jensen again, now for the sample), and it rises towards
#   log p(x|y) with k.

# %%
K_IS = L.size(200, 50)
mu, logvar = cvae.encode(X_te, y_te)
eps = rng.standard_normal((K_IS, n_te, K))
z = mu + np.exp(0.5 * logvar) * eps                                              # (k, N, K)
e_y = np.broadcast_to(np.eye(C)[y_te], (K_IS, n_te, C))                          # one-hot labels, per sample
out = cvae.decoder.forward(np.concatenate([z, e_y], axis=-1))                    # the decoder reads [z, e_y]
log_w = (cvae.likelihood.log_prob(X_te, out) + log_prior(z)
         + 0.5 * np.sum(eps ** 2 + np.log(2 * np.pi) + logvar, axis=-1))          # − log q(z|x,y)
elbo_mc = log_w.mean(axis=0)                                                     # (N,)
elbo_cf = cvae.elbo(X_te, y_te, n_samples=K_IS, rng=rng)[0]
d_est = elbo_mc - elbo_cf
se_est = d_est.std(ddof=1) / np.sqrt(n_te)
check("Monte Carlo ELBO from the formula = the model's ELBO (closed-form KL), mean over images",
      elbo_mc.mean(), elbo_cf.mean(), atol=4 * se_est)
log_pxy = logsumexp(log_w, axis=0) - np.log(K_IS)                                # (N,)
check_that("log (1/k) sum w_i >= mean log w_i for every image", np.all(log_pxy >= elbo_mc - 1e-9))
print(f"log p(x|y) (IS, k = {K_IS}) - ELBO: {np.mean(log_pxy - elbo_mc):.3f} nats per image (the gap, at least)")

# %% [markdown]
# ## 3. An independent judge: a classifier of real images
#
# To say what digit a decoded image shows we need a judge that is not the
# model: multinomial logistic regression on the 64 pixels, fitted by L-BFGS
# on its exact gradient (`numvae.disentangle.SoftmaxRegression`) on the
# *real training* images only. Its accuracy on real held-out images is the
# ceiling any swapped image can be judged against.

# %%
judge = dis.SoftmaxRegression(l2=1e-2).fit(X_tr, y_tr, C)
ceiling = judge.score(X_te, y_te)
se_ceiling = dis.binomial_se(ceiling, n_te)
print(f"judge on real held-out digits: {ceiling:.3f} ± {se_ceiling:.3f}")
check_that("the judge reads real held-out digits far above chance (> 0.8)", ceiling > 0.8)

# %% [markdown]
# ## 4. Swapping the label: the swap grid
#
# Encode a held-out image x of class a with its own label, μ = μ_φ(x, a);
# decode μ with every label b. Each row below is one source image (left),
# then its code drawn as 0, 1, …, 9.

# %%
sources = np.array([np.flatnonzero(y_te == c)[0] for c in range(C)])   # one held-out source of each class
grid = np.stack([cvae.swap(np.repeat(X_te[[i]], C, 0), np.repeat(y_te[i], C), np.arange(C)) for i in sources])
fig, axes = plt.subplots(C, C + 1, figsize=(C + 1, C))
for r, i in enumerate(sources):
    for c in range(C + 1):
        ax = axes[r, c]
        ax.imshow((X_te[i] if c == 0 else grid[r, c - 1]).reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[r, 0].set_ylabel(f"class {y_te[i]}", fontsize=7)
for c in range(C + 1):
    axes[0, c].set_title("source" if c == 0 else f"y = {c - 1}", fontsize=8)
fig.suptitle("swap grid: each row's z (from the source, left) decoded with labels 0-9")
L.savefig(fig, "12_swap_grid")

# %% [markdown]
# Measured over every held-out image, with one target b drawn uniformly
# among the nine other labels (`disentangle.swap_accuracy`): how often does
# the judge call the swapped image b? By chance it would do so 1 time in
# 10; on real images of class b it is right at its ceiling.

# %%
swap = dis.swap_accuracy(cvae, judge, X_te, y_te, rng=L.seed)
print(f"swap accuracy {swap['accuracy']:.3f} ± {swap['se']:.3f} (n = {swap['n']}); chance {swap['chance']:.2f}; "
      f"judge's ceiling on real images {ceiling:.3f} ± {se_ceiling:.3f}")
check_that("swapped images are judged to be their new label far more often than chance (by > 4 SE)",
           swap["accuracy"] > swap["chance"] + 4 * max(swap["se"], dis.binomial_se(swap["chance"], swap["n"])))
gap = ceiling - swap["accuracy"]
check_that("swap accuracy is within 4 SE of the judge's ceiling, or above it",
           gap < 4 * np.hypot(swap["se"], se_ceiling), f"ceiling - swap = {gap:+.3f}")

# %% [markdown]
# ## 5. Style kept: a measure from image moments
#
# Treat an image as a mass of ink m(r, c) over rows r (downwards) and
# columns c (`disentangle.style`):
#
# - **ink** = the mean grey level: a thick pen lays more;
# - **slant** = −μ_rc / μ_rr, from the central second moments: the slope
#   dc/dr of the least-squares line through the ink, positive when the
#   digit leans right (the shear that "deskewing" removes);
# - **width** = √μ_cc, the spread of the ink across the columns.
#
# These are properties of the hand, but also of the digit: a 1 has less ink
# and width than an 8. So each image's style is taken relative to its own
# class, in units of that class's standard deviations
# (`disentangle.relative_style`). And like is compared with like: a decoded
# image is a mean, blurrier than any real one, which shifts ink and width;
# so the source and the reference enter as the model's reconstructions, and
# the class statistics are those of reconstructed training images.
#
# The test, over pairs (`disentangle.style_kept`): is the swapped image
# (drawn as b) closer in style to its source (of class a) than to a random
# held-out image of class b? A model that kept no style would draw a
# typical b, and the answer would be yes about half the time.

# %%
rec_tr = cvae.reconstruct(X_tr, y_tr)
means, stds = dis.style_by_class(rec_tr, y_tr, C)
refs = dis.references_of_class(swap["targets"], y_te, rng)
rec_te = cvae.reconstruct(X_te, y_te)
kept = dis.style_kept(swap["swapped"], swap["targets"], rec_te, y_te, rec_te[refs], means, stds)
raw_means, raw_stds = dis.style_by_class(X_tr, y_tr, C)
raw = dis.style_kept(swap["swapped"], swap["targets"], X_te, y_te, X_te[refs], raw_means, raw_stds)
print(f"swap closer in style to its source than to a random b: {kept['rate']:.3f} ± {kept['se']:.3f} "
      f"(n = {kept['n']}; against real images instead of reconstructions: {raw['rate']:.3f} ± {raw['se']:.3f})")
check_that("the swapped image keeps its source's style: closer to it than to a random b in > 1/2 of pairs (by > 4 SE)",
           kept["rate"] > 0.5 + 4 * dis.binomial_se(0.5, kept["n"]))

# %% [markdown]
# ## 6. Does z forget the label?
#
# A fresh classifier (logistic regression again, never the model) is fitted
# on the held-out codes μ and asked to predict y, two-fold cross-fitted so
# that every code is predicted by a classifier that never saw it
# (`disentangle.code_accuracy`). From the plain VAE's z the label is easy to
# read: the VAE has to keep it, having nowhere else to put it. From the
# conditional VAE's z it should be hard, though nothing makes it impossible.

# %%
acc_v = dis.code_accuracy(vae.transform(X_te), y_te, rng=L.seed)
acc_c = dis.code_accuracy(cvae.transform(X_te, y_te), y_te, rng=L.seed)
print(f"fresh classifier on held-out codes: plain VAE {acc_v['accuracy']:.3f} ± {acc_v['se']:.3f}, "
      f"conditional VAE {acc_c['accuracy']:.3f} ± {acc_c['se']:.3f}; chance 0.10")
check_that("the conditional VAE's z holds less of the label than the plain VAE's (by > 4 SE of the difference)",
           acc_c["accuracy"] < acc_v["accuracy"] - 4 * np.hypot(acc_c["se"], acc_v["se"]))
check_that("but not nothing: a fresh classifier reads y from the conditional VAE's z above chance (by > 4 SE)",
           acc_c["accuracy"] > 0.1 + 4 * dis.binomial_se(0.1, n_te))

# %% [markdown]
# ## 7. The adversary
#
# The slide's method: add an adversary. A small classifier c_ψ(y|z) (an MLP
# of `numvae.nn`, 32 tanh units) learns to predict y from the code μ_φ(x, y),
# minimising its cross-entropy CE; the model minimises its own loss plus λ
# times an adversarial term T that the adversary's output sets
# (`numvae.adversary`):
#
# $$\min_\psi\ \mathrm{CE}(\psi;\phi),\qquad
#   \min_{\theta,\phi}\ -\mathrm{ELBO}(\theta,\phi) + \lambda\,T(\phi;\psi).$$
#
# - **reversal**, T = −CE: the model's loss minus λ times the adversary's,
#   gradient reversal as in Lample et al. 2017's Fader networks;
# - **confusion**, T = −(1/C)Σ_c log c_ψ(c|z), least when the adversary's
#   guess is uniform (Tzeng et al. 2015).
#
# This is a game, not one objective: each player's gradient is the
# gradient of *its own* loss with the other player frozen, which is how
# `tests/test_adversary.py` checks both against finite differences. Each
# minibatch the model takes one Adam step and the adversary five, so that it
# keeps up. Then, after training, a *fresh* classifier — not the adversary,
# which the encoder has learnt to defeat — is fitted on the held-out codes.
# λ = 0 is the conditional VAE of section 2. The cost is the drop of the
# held-out ELBO in nats, per image, paired on the same images and noise,
# and of its reconstruction term E_q log p(x|z, y) alone.
#
# Mathieu et al.'s adversary stands elsewhere: a discriminator judges
# *images*, real ones against images decoded from one image's code and
# another's label, so it pushes swapped images to look real and reaches z
# only through the decoder. Ours judges z itself, which is what section 6
# measures.

# %%
LAMS = L.size([1.0, 3.0, 10.0], [3.0])


def adversarial(lam, target):
    m = ConditionalVAE(64, C, hidden=HIDDEN, z_dim=K, seed=L.seed)
    _, history = fit_adversarial(m, X_tr, y_tr, lam, adversary_lr=1e-2, adversary_steps=5, target=target, **TRAIN)
    print(f"  {target}, lambda = {lam:g}: the adversary's cross-entropy in the last epoch "
          f"{history[-1]['adversary_ce']:.3f} (log 10 = {np.log(C):.3f})")
    acc = dis.code_accuracy(m.transform(X_te, y_te), y_te, rng=L.seed)
    elbo_m, rec_m, _ = m.elbo(X_te, y_te, rng=0)
    cost, rec_cost = elbo_c - elbo_m, rec_c - rec_m                               # nats per image, paired
    return acc, cost.mean(), cost.std(ddof=1) / np.sqrt(n_te), rec_cost.mean(), rec_cost.std(ddof=1) / np.sqrt(n_te)


curve = {0.0: (acc_c, 0.0, 0.0, 0.0, 0.0)}
for lam in LAMS:
    curve[lam] = adversarial(lam, "confusion")
reversal = adversarial(LAMS[-1], "reversal")
print(f"{'lambda':>7} {'fresh accuracy':>18} {'ELBO lost (nats)':>18} {'log p(x|z,y) lost':>18}")
for lam, (acc, cost, se_cost, rc, se_rc) in curve.items():
    print(f"{lam:7g} {acc['accuracy']:10.3f} ± {acc['se']:.3f} {cost:10.3f} ± {se_cost:.3f} {rc:10.3f} ± {se_rc:.3f}"
          "   confusion")
acc_r, cost_r, se_r, rc_r, se_rc_r = reversal
print(f"{LAMS[-1]:7g} {acc_r['accuracy']:10.3f} ± {acc_r['se']:.3f} {cost_r:10.3f} ± {se_r:.3f} {rc_r:10.3f} ± "
      f"{se_rc_r:.3f}   reversal")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
lams = list(curve)
xs = np.arange(len(lams))
ax1.errorbar(xs, [curve[lam][0]["accuracy"] for lam in lams], yerr=[2 * curve[lam][0]["se"] for lam in lams],
             marker="o", capsize=3, label="confusion")
ax1.errorbar([xs[-1] + 0.1], [acc_r["accuracy"]], yerr=[2 * acc_r["se"]], marker="s", color="C3", capsize=3,
             linestyle="none", label="reversal")
ax1.axhline(0.1, color="gray", linestyle="--", label="chance")
ax1.set_xticks(xs, [f"{lam:g}" for lam in lams])
ax1.set_xlabel("lambda")
ax1.set_ylabel("fresh classifier accuracy on z (± 2 SE)")
ax1.set_title("what z still says about y")
ax1.legend(fontsize=8)
ax2.errorbar(xs, [curve[lam][1] for lam in lams], yerr=[2 * curve[lam][2] for lam in lams], marker="o", capsize=3,
             label="confusion")
ax2.errorbar([xs[-1] + 0.1], [cost_r], yerr=[2 * se_r], marker="s", color="C3", capsize=3, linestyle="none",
             label="reversal")
ax2.set_xticks(xs, [f"{lam:g}" for lam in lams])
ax2.set_xlabel("lambda")
ax2.set_ylabel("held-out ELBO lost (nats per image, ± 2 SE)")
ax2.set_title("what it costs")
ax2.legend(fontsize=8)
fig.suptitle("the adversary on z: a fresh classifier after training, against lambda")
fig.tight_layout()
L.savefig(fig, "12_adversary_curve")

top = curve[LAMS[-1]][0]
drop = acc_c["accuracy"] - top["accuracy"]
se_drop = np.hypot(top["se"], acc_c["se"])
print(f"confusion at lambda = {LAMS[-1]:g} takes the fresh classifier's accuracy down by {drop:.3f} ± {se_drop:.3f}"
      f" (to {top['accuracy']:.3f}; chance 0.10)")
# What confusion promises is its optimum, an adversary that cannot prefer any label: chance, not a drop of a
# given size from lambda = 0 (that depends on how much of y the plain conditional VAE left in z: 0.21 at seed 4,
# a drop of 3.6 SE). One-sided, since a cross-fitted classifier of label-free codes can fall below chance: each
# half's most frequent class is, by the split, the other half's rarer one.
bound = 0.1 + 4 * dis.binomial_se(0.1, top["n"])
if not L.fast:   # 8 epochs of the game are not always enough (fast mode, seed 17: 0.30 at lambda = 3)
    check_that(f"with the confusion adversary at lambda = {LAMS[-1]:g} a fresh classifier reads y from z at chance: "
               "not above 0.1 by 4 SE or more", top["accuracy"] < bound, f"{top['accuracy']:.3f} < {bound:.3f}")
leak = acc_r["accuracy"] - top["accuracy"]
print(f"reversal against confusion at lambda = {LAMS[-1]:g}: the fresh classifier reads {leak:+.3f} ± "
      f"{np.hypot(acc_r['se'], top['se']):.3f} more of y")
if not L.fast:   # at lambda = 3 (fast mode) the leak is smaller: seed 25 falls just short of 4 SE
    check_that("reversal leaks: a fresh classifier reads more of y after it than after confusion (by > 4 SE)",
               leak > 4 * np.hypot(acc_r["se"], top["se"]))
cost_top = curve[LAMS[-1]][1]
check_that("the confusion adversary costs under 10 % of the ELBO", cost_top < 0.1 * abs(elbo_c.mean()),
           f"{cost_top:.3f} nats of {abs(elbo_c.mean()):.1f}")

# %% [markdown]
# What is asserted is what confusion aims at: at λ = 10 a fresh classifier
# reads the label from z no better than chance, to within 4 standard errors
# (one-sided: cross-fitted on label-free codes, it can fall a little below
# chance). How far that is from λ = 0 is not asserted: it depends on how much
# of y the conditional VAE had left in z on its own, and at some seeds (0.21
# at seed 4, full mode) that is so little that the drop, though there, is
# under 4 standard errors.
#
# The game is fragile: each run is one trajectory of two players, and in
# fast mode (8 epochs) the adversary sometimes has not caught up — at seed
# 17 the confusion run ends at 0.30, far above chance, and at λ = 3 reversal
# leaks less than at λ = 10 (seed 25 falls just short of 4 SE) — so these
# two claims are asserted in full mode only (λ up to 10, 20 epochs). Rerun
# with other seeds and other `adversary_steps`, and watch the curve move.
#
# Why does reversal leak? Minimising −CE rewards a code from which the
# adversary confidently predicts a *wrong* label — and to steer it to a
# wrong label consistently, z must know the right one. The adversary is
# beaten (its last cross-entropy, printed above, is near log 10), yet a
# fresh classifier, fitted afresh, finds the label. Confusion has no such
# reward: its best is an adversary that cannot prefer any label.
#
# ## 8. Summary of Part I
#
# - Specified factor = the class label (the slide's object identity);
#   unspecified = the stroke's style (the slide's viewpoint). The label
#   alone is the supervision.
# - The conditional VAE, p(x|z, y) N(z; 0, I) with q(z|x, y), has the
#   VAE's ELBO with y held fixed; its backward passes finite differences.
# - Swapping the label redraws the digit: an independent classifier calls
#   the swap its new label far above chance, near its ceiling on real
#   images. The style (ink, slant, width relative to the class) stays with
#   the source more often than not, by many standard errors.
# - z holds far less of the label than a plain VAE's, but not nothing. A
#   confusion adversary takes it towards chance for a few tenths of a nat
#   per image; the reversal of the adversary's cross-entropy does not: it
#   hides the label from the adversary by encoding it.
#
# ## Exercises (Part I)
#
# Worked solutions, which run and assert their answers: `solutions_12.py`.
#
# 1. The conditional ELBO bounds log p(x|y), the plain one log p(x). By
#    Bayes' rule log p(x|y) − log p(x) = log p(y|x) − log p(y), at most
#    −log p(y) ≈ log 10 nats. Compare the two held-out ELBOs of section 2,
#    paired image by image. Which is larger, and can the difference of two
#    *bounds* exceed log 10?
# 2. Generate instead of swapping: draw one z ~ N(0, I) per row and decode
#    it with each label 0–9. How often does the judge call column j a j?
# 3. Show that the decoder follows the label it is given, not the image the
#    code came from: decode the held-out codes with a *shuffled* label
#    vector, and measure how often the judge names the decoding label and
#    how often the source's.
