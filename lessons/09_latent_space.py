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
# # Lesson 9 — The latent space
#
# **What this lesson shows and measures.** A VAE with K = 2 learns a 2-D
# coordinate system for the 64-dimensional digits: we draw where each digit
# lands and what the decoder draws at every point of a grid. Beside it, a
# plain autoencoder (squared-error cost) and a denoising one, trained on the
# same data with the same networks: we measure the "problems with
# autoencoders" — gaps in the latent space, where decoded points do not look
# like data — and the separability of the classes. Then blending two images
# in latent space versus in pixel space. Last, why the VAE's latent points
# are spread out at all: the entropy term of the ELBO pushes σ up.
#
# **Lectures followed.**
# - 001_42ece0b0f0700f2b.txt, *VAE : 2-D coordinate systems learned for
#   high-dimensional manifolds*; *Key insight of VAE*: ELBO =
#   E_q log p(x, z) + H(q(z|x)), "maximizing this entropy term encourages
#   increasing σ".
# - 003_f1b2a7a6de9ea425.txt, *Auto-Encoder for Image Reconstruction* (cost
#   (1/n)Σ[x − f_θ(g_φ(x))]²) and *De-noising Auto-Encoder* (x̃ ~ χ(x̃|x)).
# - 004_67c18b03ad8f58f7.txt, *Problems with Autoencoders* (gaps, discrete
#   latent space, separability), *Separability of VAE*, *Blending Latent
#   Variables*.
#
# **Take-away.** An autoencoder's codes are points; nothing asks the space
# between them to decode to anything, and nothing says where to sample. A
# VAE's codes are distributions pulled towards N(0, I) and spread by the
# entropy term, so its prior is the place to sample and the paths between
# codes decode to digit-like images. How much worse an autoencoder does is an
# empirical question; on the small digits here the gap is modest.

# %%
import numpy as np
import matplotlib.pyplot as plt

from _lesson import setup, check, check_that, grade, YourTurn  # noqa: F401  (YourTurn: the student version's stubs)
from numvae import plots
from numvae.autoencoder import Autoencoder
from numvae.data import load_digits, split
from numvae.distributions import gaussian_entropy
from numvae.ppca import PPCA
from numvae.train import fit
from numvae.vae import VAE

L = setup("Lesson 9: the latent space")
rng = L.rng
X, y = load_digits()
(Xtr, ytr), (Xte, yte) = split(X, (0.8, 0.2), L.seed, y=y)
EPOCHS = L.size(300, 60)
D = X.shape[1]

# %% [markdown]
# ## 1. Three models with a 2-D code
#
# All three have one hidden layer of 128 ReLUs each way and a sigmoid output:
# the VAE (Bernoulli decoder, K = 2), the plain autoencoder (003, squared
# error) and a denoising autoencoder that sees each training digit with 30 %
# of its pixels set to 0 and must reconstruct the clean one.

# %%
vae = VAE(D, hidden=(128,), z_dim=2, decoder="bernoulli", dtype=np.float32, seed=L.seed)
hist = fit(vae, Xtr, Xte, epochs=EPOCHS, batch_size=100, lr=3e-3, seed=L.seed, progress=False)
ae = Autoencoder(D, hidden=(128,), z_dim=2, output="sigmoid", dtype=np.float32, seed=L.seed)
ae_loss = ae.fit(Xtr, epochs=EPOCHS, batch_size=100, lr=3e-3, seed=L.seed)
dae = Autoencoder(D, hidden=(128,), z_dim=2, output="sigmoid", corruption="masking", noise_level=0.3,
                  dtype=np.float32, seed=L.seed)
dae_loss = dae.fit(Xtr, epochs=EPOCHS, batch_size=100, lr=3e-3, seed=L.seed)
models = {"VAE": vae, "autoencoder": ae, "denoising AE": dae}
codes_tr = {"VAE": vae.encode(Xtr)[0], "autoencoder": ae.encode(Xtr), "denoising AE": dae.encode(Xtr)}
codes_te = {"VAE": vae.encode(Xte)[0], "autoencoder": ae.encode(Xte), "denoising AE": dae.encode(Xte)}
sq = {"VAE": np.sum((Xte - vae.reconstruct(Xte)) ** 2, 1).mean(), "autoencoder": ae.squared_error(Xte).mean(),
      "denoising AE": dae.squared_error(Xte).mean()}
print(f"VAE: held-out ELBO {hist.last['valid_elbo']:.2f} nats; held-out squared reconstruction error per digit:")
for name, v in sq.items():
    print(f"  {name:13s} {v:.3f}")
check_that("the autoencoders trained (loss fell by more than half)", ae_loss[-1] < 0.5 * ae_loss[0]
           and dae_loss[-1] < 0.5 * dae_loss[0])
u = np.random.default_rng(1).random(Xte.shape)
err_dae = dae.squared_error(Xte, dae.corrupt(Xte, noise=u)).mean()
err_ae = ae.squared_error(Xte, dae.corrupt(Xte, noise=u)).mean()
print(f"on held-out digits with 30 % of pixels dropped: denoising AE error {err_dae:.3f}, plain AE {err_ae:.3f}")
check_that("the denoiser reconstructs corrupted digits better than the plain autoencoder", err_dae < err_ae)

fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
for ax, (name, z) in zip(axes, codes_te.items()):
    for c in range(10):
        sel = yte == c
        ax.scatter(z[sel, 0], z[sel, 1], s=6, color=f"C{c}", label=str(c))
    what = "posterior means μ(x)" if name == "VAE" else "codes"
    ax.set(title=f"{name}, K = 2: {what} of held-out digits", xlabel="z₁", ylabel="z₂")
    ax.set_aspect("equal", adjustable="datalim")
axes[0].legend(markerscale=2, fontsize=7, ncol=2)
fig.tight_layout()
L.savefig(fig, "09_latent_scatter")
grid_images = vae.decode(plots.manifold_z(15)[0].astype(np.float32)).astype(np.float64)        # (225, D)
L.savefig(plots.manifold(grid_images, n=15, model="VAE, K = 2, digits"), "09_vae_manifold")
cells = grid_images.reshape(15, 15, D)
step = np.linalg.norm(np.diff(cells, axis=1), axis=2).mean()                   # neighbours along z_1
ab = np.random.default_rng(2).integers(0, len(Xte), (2, 2000))
typical = np.linalg.norm(Xte[ab[0]] - Xte[ab[1]], axis=1).mean()        # two random held-out digits
check_that("the grid morphs smoothly: neighbouring cells differ by under half of what two random digits do",
           step < 0.5 * typical, f"{step:.2f} vs {typical:.2f}")

# %% [markdown]
# The VAE's grid (`09_vae_manifold`) is the 2-D coordinate system of 001:
# Gaussian quantiles z = Φ⁻¹(·) on each axis, so equal areas hold equal
# prior mass, and the cells morph smoothly into their neighbours (asserted
# above: a step to the next cell changes the image far less than going from
# one random digit to another).
#
# ## 2. Gaps: do random latent points decode to digits?
#
# To *generate* with an autoencoder we must pick a z, and nothing says where.
# The kindest choice: a Gaussian fitted to the training codes (their mean
# and covariance). For the VAE the choice is given — the prior N(0, I) — and
# we also try the fitted Gaussian. We decode 1000 points from each and
# measure the distance of every decoded image to its nearest training digit,
# against the same distance for held-out digits (real data the models never
# saw). A decoded point "looks like data" if it is no farther from the
# training set than 95 % of held-out digits are.
#
# What the numbers below say, honestly: on 8×8 digits, decoded means are
# smooth averages that sit close to *some* training digit, and this test
# finds only a few percent between the models (at this size and training
# length the autoencoders' codes happen to form compact blobs). The
# difference that does show is *where to sample*: the VAE's codes fill its
# prior — the aggregate posterior Cov(μ) + E[σ²] is ≈ I — so N(0, I) is the
# right distribution by construction, while an autoencoder's code scale is
# whatever training left it at, and a sampling distribution has to be
# guessed after the fact. The gap fraction of section "Separability" below is
# another view of the same question.

# %%
def nn_dist(A, B=Xtr):
    """Euclidean distance of each row of A to its nearest row of B."""
    d2 = (A ** 2).sum(1)[:, None] - 2 * A @ B.T + (B ** 2).sum(1)[None]
    return np.sqrt(np.maximum(d2, 0).min(axis=1))


ref = nn_dist(Xte)
thr = np.quantile(ref, 0.95)
n_gen = 1000
like_data = {}
print(f"held-out digits: median distance to the nearest training digit {np.median(ref):.2f}; 95 % quantile {thr:.2f}")
for name, model in models.items():
    z = codes_tr[name].astype(np.float64)
    z_fit = rng.multivariate_normal(z.mean(0), np.cov(z.T), size=n_gen)
    dec = model.decode(z_fit).astype(np.float64)
    like_data[name] = np.mean(nn_dist(dec) <= thr)
    print(f"  {name:13s} z ~ Gaussian fitted to its codes: {100 * like_data[name]:5.1f} % look like data "
          f"(median distance {np.median(nn_dist(dec)):.2f})")
prior_dec = vae.decode(rng.standard_normal((n_gen, 2)).astype(np.float32)).astype(np.float64)
like_prior = np.mean(nn_dist(prior_dec) <= thr)
print(f"  {'VAE':13s} z ~ N(0, I), its prior:            {100 * like_prior:5.1f} % look like data")

for name in ("autoencoder", "denoising AE"):
    z = codes_tr[name].astype(np.float64)
    naive = models[name].decode(rng.standard_normal((n_gen, 2)).astype(np.float32)).astype(np.float64)
    print(f"  {name:13s} code std per axis {z.std(0).round(2)}; decoding z ~ N(0, I) instead: "
          f"{100 * np.mean(nn_dist(naive) <= thr):5.1f} % look like data")
mu_v, lv_v = vae.encode(Xtr)
agg_cov = np.cov(mu_v.T.astype(np.float64)) + np.diag(np.exp(lv_v.astype(np.float64)).mean(0))
print(f"VAE aggregate posterior covariance Cov(μ) + E[σ²] =\n{agg_cov}")
check("the VAE's codes fill its prior: aggregate posterior covariance ≈ I", agg_cov, np.eye(2), atol=0.3)
check_that("≥ 80 % of the VAE's prior samples look like data", like_prior >= 0.8, f"{100 * like_prior:.1f} %")

# %% [markdown]
# **Separability** (004, *Separability of VAE*). How well do the classes
# separate in each 2-D code? A nearest-centroid classifier: class means of
# the training codes (each axis scaled by its spread), each held-out digit
# assigned to the closest one. The labels were never used in training; this
# only asks how the unsupervised code happens to arrange them. "Better than
# chance" says little: any 2-D view of the pixels keeps some of the class
# structure. So the same classifier, on the same split, also runs on two
# codes that learn nothing nonlinear: the top two principal components of
# the pixels (2-D PCA), and random 2-D projections of the pixels (a Gaussian
# 64 × 2 matrix each). The comparison with PCA is paired — the same held-out
# digits — so its standard error is √(number of digits the two classify
# differently)/n.
#
# We also measure the spread: the fraction of the codes' bounding box that
# lies farther from every training code than five times the typical code
# spacing — empty space, gaps.

# %%
def centroid_accuracy(ztr, zte):
    """Per held-out digit, whether the nearest class centroid of the training codes (axes scaled) is its class."""
    scale = ztr.std(0)
    ztr_s, zte_s = ztr / scale, zte / scale                       # each axis in units of its spread
    cents = np.stack([ztr_s[ytr == c].mean(0) for c in range(10)])
    return np.argmin(((zte_s[:, None] - cents[None]) ** 2).sum(-1), axis=1) == yte     # (N_te,) bool


correct, gap_frac = {}, {}
for name in models:
    ztr, zte = codes_tr[name].astype(np.float64), codes_te[name].astype(np.float64)
    correct[name] = centroid_accuracy(ztr, zte)
    ztr_s = ztr / ztr.std(0)
    spacing = np.median(nn_dist(ztr_s[:500], ztr_s[500:]))
    lo, hi = np.quantile(ztr_s, 0.01, axis=0), np.quantile(ztr_s, 0.99, axis=0)
    probe = lo + (hi - lo) * rng.random((4000, 2))
    gap_frac[name] = np.mean(nn_dist(probe, ztr_s) > 5 * spacing)
    print(f"{name:13s}: nearest-centroid accuracy {100 * correct[name].mean():5.1f} %;  "
          f"{100 * gap_frac[name]:5.1f} % of its code box is > 5 spacings from any training code")
mean_tr = Xtr.mean(0)
V2 = np.linalg.svd(Xtr - mean_tr, full_matrices=False)[2][:2].T                 # (D, 2) top two principal directions
correct["2-D PCA"] = centroid_accuracy((Xtr - mean_tr) @ V2, (Xte - mean_tr) @ V2)
n_rand = 20
acc_rand = np.array([centroid_accuracy(Xtr @ P, Xte @ P).mean()
                     for P in rng.standard_normal((n_rand, D, 2))])              # (n_rand,)
print(f"2-D PCA of the pixels: nearest-centroid accuracy {100 * correct['2-D PCA'].mean():5.1f} %")
print(f"{n_rand} random 2-D projections of the pixels: {100 * acc_rand.min():.1f}–{100 * acc_rand.max():.1f} %")
acc_vae = correct["VAE"].mean()
differ = np.sum(correct["VAE"] != correct["2-D PCA"])
diff_se = np.sqrt(differ) / len(yte)
check_that(f"the VAE's code separates the digits better than each of {n_rand} random 2-D projections of the pixels",
           acc_vae > acc_rand.max(), f"{100 * acc_vae:.1f} % vs at best {100 * acc_rand.max():.1f} %")
print(f"VAE − 2-D PCA: {100 * (acc_vae - correct['2-D PCA'].mean()):+.1f} points, SE of the paired difference "
      f"{100 * diff_se:.1f} points ({differ} of {len(yte)} digits classified differently)")
check_that("…and at least as well as 2-D PCA (the principal plane of the pixels), within 4 SE of the paired difference",
           acc_vae > correct["2-D PCA"].mean() - 4 * diff_se,
           f"{100 * acc_vae:.1f} % vs {100 * correct['2-D PCA'].mean():.1f} %, SE {100 * diff_se:.1f} points")

# %% [markdown]
# Against PCA the VAE's lead, where it has one, is a few points — the same
# order as the standard error of 360 held-out digits (printed above), so only
# "not worse beyond noise" is asserted. A nonlinear 2-D code is not
# automatically a much better classifier input than the principal plane of
# the pixels; it is far better than an arbitrary plane.
#
# The gap fractions are printed, not ranked: which model's code has the most
# empty space changes with the seed (at some seeds the denoising
# autoencoder's code is the emptiest by far, at others the VAE's is not far
# behind), so this measurement does not support a general claim. What the
# VAE's KL term does guarantee is the one asserted in section 2: its codes
# fill N(0, I) as a whole.

# %% [markdown]
# ## 3. Blending two images: in latent space vs in pixel space
#
# 004, *Blending Latent Variables*: to morph one digit into another, blend
# their codes, z_t = (1 − t) μ(x_a) + t μ(x_b), and decode. Blending pixels,
# (1 − t) x_a + t x_b, gives a double exposure that is no digit. We measure,
# at the midpoint t = ½ of each path, the distance to the nearest training
# digit, over many pairs of held-out digits of different classes.
#
# **Your turn.** Write the latent path: from two codes z_a, z_b (shape (K,))
# and the blend weights ts (shape (T,)), the T codes z_t = (1 − t) z_a + t z_b
# (shape (T, K), one row per t; t = 0 is z_a). It is graded against NumPy's
# `np.interp` along each latent coordinate, on the codes of two held-out
# digits; the measurement below then decodes your path.

# %%
def latent_path(za, zb, ts):
    """The codes (1 − t) za + t zb for each t in ts: shape (T, K), row 0 at t = ts[0]."""
    # your turn: the latent interpolation z_t = (1 − t) z_a + t z_b, one row per t (section 3)
    ### BEGIN SOLUTION
    return (1 - ts)[:, None] * za + ts[:, None] * zb
    ### END SOLUTION


ts = np.linspace(0, 1, 9)
za_g, zb_g = codes_te["VAE"][0].astype(np.float64), codes_te["VAE"][1].astype(np.float64)
path_ref = np.stack([np.interp(ts, [0.0, 1.0], [a, b]) for a, b in zip(za_g, zb_g)], axis=1)   # (T, K)
grade("the latent interpolation", latent_path(za_g, zb_g, ts), path_ref, mistakes=[
    (ts[:, None] * za_g + (1 - ts)[:, None] * zb_g, "the ends are swapped: at t = 0 the path is at z_a, "
                                                   "so z_a gets the weight 1 − t"),
    (za_g + ts[:, None] * zb_g, "z_a needs the weight (1 − t): z_t = (1 − t) z_a + t z_b, weights adding to 1"),
    (za_g + ts[:, None] * (zb_g - za_g) * 0.5, "the step is t (z_b − z_a), without a factor ½"),
], hint="z_t = (1 − t) z_a + t z_b; with ts of shape (T,), ts[:, None] makes one row per t")

# %%
n_pairs = L.size(200, 60)
worst_lat, worst_pix = [], []
pairs = []
for _ in range(n_pairs):
    i, j = rng.choice(len(Xte), 2, replace=False)
    while yte[i] == yte[j]:
        j = rng.integers(len(Xte))
    pairs.append((i, j))
    za, zb = codes_te["VAE"][i], codes_te["VAE"][j]
    lat = vae.decode(latent_path(za, zb, ts).astype(np.float32)).astype(np.float64)   # your path
    pix = (1 - ts)[:, None] * Xte[i] + ts[:, None] * Xte[j]
    worst_lat.append(nn_dist(lat[4:5])[0])                     # the midpoint t = ½
    worst_pix.append(nn_dist(pix[4:5])[0])
worst_lat, worst_pix = np.array(worst_lat), np.array(worst_pix)
print(f"distance of the midpoint t = ½ to the training set (median over {n_pairs} pairs): "
      f"latent blend {np.median(worst_lat):.2f}, pixel blend {np.median(worst_pix):.2f}  "
      f"(held-out digits: 95 % below {thr:.2f})")
print(f"pairs where the latent midpoint is closer to the data: {100 * np.mean(worst_lat < worst_pix):.0f} %")
check_that("latent blends stay closer to the data than pixel blends (median over pairs)",
           np.median(worst_lat) < np.median(worst_pix))
# (The share of pairs printed above varies with the seed — below 70 % at some — so only the
# median is asserted.)

# %% [markdown]
# The latent path starts and ends at the VAE's *reconstructions* of x_a and
# x_b, decode(μ(x_a)) and decode(μ(x_b)), not at the images themselves: a
# 2-D code keeps only the gist of a digit (in fast mode, after fewer epochs,
# a blurrier gist). So the figure shows, of the pairs above, the three whose
# two ends the VAE reconstructs best, with the originals framed in red beside
# them; the distances printed say how far those ends are from their images,
# against the typical distance between two held-out digits.

# %%
recon_err = np.linalg.norm(vae.reconstruct(Xte).astype(np.float64) - Xte, axis=1)      # (N_te,)
shown = sorted(range(n_pairs), key=lambda p_: recon_err[pairs[p_][0]] + recon_err[pairs[p_][1]])[:3]
print("distance of decode(μ(x)) to x at the ends of the pairs shown:",
      ", ".join(f"{recon_err[pairs[p_][0]]:.2f} and {recon_err[pairs[p_][1]]:.2f}" for p_ in shown),
      f"(two random held-out digits: {typical:.2f} on average; median over all held-out digits "
      f"{np.median(recon_err):.2f})")
# One row per path: the original x_a, the blend at each t, the original x_b; a gap between frames.
fig, axes = plt.subplots(6, len(ts) + 2, figsize=(11, 8.5))
for r, p_ in enumerate(shown):
    i, j = pairs[p_]
    za, zb = codes_te["VAE"][i], codes_te["VAE"][j]
    lat = vae.decode(((1 - ts)[:, None] * za + ts[:, None] * zb).astype(np.float32))
    pix = (1 - ts)[:, None] * Xte[i] + ts[:, None] * Xte[j]
    for k, (imgs, kind) in enumerate(((lat, "VAE latent blend: decode((1−t)μ_a + tμ_b)"),
                                      (pix, "pixel blend: (1−t)x_a + t x_b"))):
        row = axes[2 * r + k]
        frames = [Xte[i]] + list(imgs) + [Xte[j]]
        labels = ([f"x_a (a {yte[i]})"] + [f"t = {t:.2g}" for t in ts] + [f"x_b (a {yte[j]})"])
        if k == 0:
            labels[1], labels[-2] = "t = 0: dec μ(x_a)", "t = 1: dec μ(x_b)"
        for c, (ax, im, lab) in enumerate(zip(row, frames, labels)):
            ax.imshow(np.asarray(im, dtype=float).reshape(8, 8), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(lab, fontsize=7)
            for spine in ax.spines.values():
                spine.set_edgecolor("C3" if c in (0, len(frames) - 1) else "0.7")
        row[0].set_ylabel(kind.split(":")[0], fontsize=7)
        row[len(frames) // 2].set_xlabel(kind, fontsize=8)
fig.suptitle("Blending two held-out digits: in the VAE's latent space vs in pixel space (originals framed red)")
fig.tight_layout()
L.savefig(fig, "09_blending")

# %% [markdown]
# ## 4. The entropy term pushes σ up
#
# 001 writes the ELBO as E_q log p(x, z) + H(q). Why the second term? Take a
# model whose posterior is exactly known — pPCA with K = 1 on the digits —
# one digit x, and a 1-D q = N(m, s²) with s² = e^λ. Since
# log p(x, z) = log p(x) + log p(z|x) and p(z|x) = N(m*, s*²),
#
# $$E_q\log p(x,z) = \log p(x) - \tfrac12\log 2\pi s_*^2 - \frac{(m - m_*)^2 + e^{\lambda}}{2 s_*^2},
#   \qquad \frac{\partial}{\partial\lambda} = -\frac{e^\lambda}{2 s_*^2} < 0 .$$
#
# Alone, it is maximized by putting all of q's mass at the posterior mode:
# s² → 0, a point estimate — an autoencoder. Adding H(q) = ½(1 + log 2π + λ)
# adds +½ to ∂/∂λ, and the maximum moves to e^λ = s*²: q becomes the
# posterior. We check the formula against `PPCA.elbo` and run gradient ascent
# by hand on both objectives from the same start. (Without H the gradient
# −e^λ/2s*² itself vanishes as s² → 0, so s² falls only like 1/steps — but it
# never stops falling: there is no stationary point.)

# %%
p1 = PPCA(1).fit(Xtr)
x1 = Xte[:1]
m_star, S_star = p1.posterior(x1)
m_star, s2_star = float(m_star[0, 0]), float(S_star[0, 0])
log_px = float(p1.log_likelihood(x1)[0])


def e_log_joint(m, lam):
    return log_px - 0.5 * np.log(2 * np.pi * s2_star) - ((m - m_star) ** 2 + np.exp(lam)) / (2 * s2_star)


for m_, lam_ in ((0.3, -1.0), (m_star + 0.5, np.log(s2_star) + 1)):
    elbo_lib = p1.elbo(x1, np.array([[m_]]), np.array([[np.exp(lam_)]]))[0]
    check(f"E_q log p(x,z) formula = PPCA.elbo − H(q) at m={m_:.2f}, λ={lam_:.2f}", e_log_joint(m_, lam_),
          elbo_lib - gaussian_entropy(np.array([lam_])), atol=1e-9)

steps, lr = 400, 0.1 * s2_star
traj = {}
for name, with_h in (("E_q log p(x,z) alone", False), ("E_q log p(x,z) + H(q) = ELBO", True)):
    m, lam = m_star + 2.0, np.log(s2_star) + 1.0
    s2s = []
    for _ in range(steps):
        dm = -(m - m_star) / s2_star
        dlam = -np.exp(lam) / (2 * s2_star) + (0.5 if with_h else 0.0)      # + ∂H/∂λ = ½
        m, lam = m + lr * dm, lam + (lr / s2_star) * dlam
        s2s.append(np.exp(lam))
    traj[name] = np.array(s2s)
    print(f"{name:30s}: after {steps} steps m − m* = {m - m_star:.2e}, s² / s*² = {np.exp(lam) / s2_star:.3e}")
a_, b_ = traj.values()
check_that("without H(q), s² shrinks at every step, below 0.1 of the posterior variance, and is still falling",
           np.all(np.diff(a_) < 0) and a_[-1] < 0.1 * s2_star, f"{a_[-1] / s2_star:.2e}")
check("with H(q), s² converges to the exact posterior variance s*²", b_[-1], s2_star, rtol=1e-6)

fig, ax = plt.subplots(figsize=(6, 3.8))
for name, s in traj.items():
    ax.semilogy(np.arange(1, steps + 1), s / s2_star, label=name)
ax.axhline(1.0, color="k", ls=":", label="posterior variance s*²")
ax.set(xlabel="gradient-ascent step", ylabel="s² / s*²", title="pPCA (K = 1), one digit: the entropy keeps σ")
ax.legend(fontsize=8)
L.savefig(fig, "09_entropy_keeps_sigma")

# %% [markdown]
# ## Summary
#
# - A K = 2 VAE gives the digits a 2-D coordinate system (001): its grid of
#   Gaussian quantiles decodes to a smooth atlas of digits.
# - Autoencoder codes are points with no prescribed distribution (003, 004).
#   The VAE's codes fill N(0, I) (aggregate covariance ≈ I) and ≥ 80 % of its
#   prior samples decode near the data. On 8×8 digits a Gaussian fitted
#   after the fact to an autoencoder's codes does nearly as well — the gaps
#   004 warns about are small at this scale; measure before you believe
#   either claim. A denoising AE reconstructs corrupted inputs better.
# - Blending codes morphs one digit into another along images near the data;
#   blending pixels leaves it.
# - E_q log p(x, z) alone collapses q to a point (s² → 0 at every step); the
#   entropy H(q) adds +½ per dimension to ∂/∂ log σ² and the optimum becomes
#   the posterior. That, together with the KL's pull to N(0, I), is what
#   fills the latent space.
#
# ## Exercises
#
# Worked solutions (exercises 1–3), which run and assert their answers: `solutions_06_to_09.py`.
#
# 1. Train the VAE with β = 4 (a β-VAE) via `loss_and_grads(beta=4)` in your
#    own loop. Do the class clusters separate better or worse? What happens
#    to the reconstructions?
# 2. Replace the masking noise by Gaussian noise of std 0.3 in the denoising
#    AE. Does its code have fewer gaps?
# 3. Section 4 with a diagonal q and pPCA K = 2: at the optimum, what is s²
#    in each dimension, and what is the remaining KL to the posterior?
#    (Lesson 4, exercise 1.)
