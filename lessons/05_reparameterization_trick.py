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
# # Lesson 5 — The reparameterization trick
#
# **What this lesson derives.** The gradient of an expectation with respect
# to the parameters φ of the distribution it is taken under,
# ∇_φ E_{q_φ(z)}[f(z)]. We show why the gradient cannot simply be moved inside
# the expectation, derive two unbiased estimators — the score-function
# (REINFORCE) estimator and the pathwise (reparameterized) estimator — and
# measure their variance as the dimension grows. Then we derive log q(z|x)
# by change of variables, and we look at the most common bug in VAE code:
# mixing up σ, σ² and log σ².
#
# **Lectures followed.**
# - 002_b4c24ccd2e75c8da.txt, *Stochastic gradient-based optimization of the
#   ELBO II*, eq. 5: ∇_φ E_{q_φ}[·] ≠ E_{q_φ}[∇_φ ·]. (The slide writes ∇_θ
#   inside the expectation on the right; it means ∇_φ.)
# - 002, *Change of variables* (eq. 6) and *Stochastic gradient of the ELBO
#   under reparameterization* (eq. 7): z = g(ε, φ, x) with ε ~ p(ε), so that
#   ∇_φ E_{p(ε)}[f(g(ε, φ))] = E_{p(ε)}[∇_φ f(g(ε, φ))].
# - 002, *Computation of log q_φ(z|x)*, *Factorized Gaussian posteriors I and
#   II*: log q(z|x) = log p(ε) − log|det ∂z/∂ε| with log|det| = Σ_i log σ_i.
# - 000_e86e672dd89502b1.txt, *VAE*: G(x, ε; φ) = μ + σ ⊙ ε;
#   004_67c18b03ad8f58f7.txt, *Training VAE*: "Sampling step not
#   differentiable … move sampling to input layer".
# - On σ vs σ²: 002, *Parameterizing the inference model* writes
#   q = N(z; μ, diag(σ)) with σ in the *covariance* slot, while *Factorized
#   Gaussian posteriors I* writes diag(σ²) — the second is right. Both slides
#   have the network output log σ; this library's encoder outputs
#   logvar = log σ² (so σ = exp(½·logvar)).
#
# **Take-away.** Move the randomness into an input ε whose distribution does
# not depend on φ; then the gradient goes through z = μ + σ ⊙ ε by the chain
# rule, and its variance does not grow with the dimension the way the
# score-function estimator's does. And: σ = exp(½·logvar), not exp(logvar).

# %%
import numpy as np
from scipy.integrate import trapezoid
from scipy.stats import norm
import matplotlib.pyplot as plt

from _lesson import setup, check, check_that, grade, YourTurn  # noqa: F401  (YourTurn: the student version's stubs)
from numvae.distributions import gaussian_log_density, gaussian_log_density_grad, kl_standard_normal
from numvae.posteriors import make_posterior

L = setup("Lesson 5: the reparameterization trick")
rng = L.rng

# %% [markdown]
# ## 1. A test function with a known answer
#
# Let q_φ(z) = N(z; μ, diag σ²), parameterized by φ = (μ, logvar), and
#
# $$f(z) = -\tfrac12\|z - c\|^2$$
#
# (a stand-in for log p(x|z) of a Gaussian decoder). Then
# E_q[f] = −½Σ_j[(μ_j − c_j)² + σ_j²], so the exact gradients are
#
# $$\nabla_{\mu_j} E_q[f] = -(\mu_j - c_j), \qquad
#   \nabla_{\mathrm{logvar}_j} E_q[f] = \sigma_j^2\,\frac{\partial E_q[f]}{\partial\sigma_j^2} = -\tfrac12\sigma_j^2 .$$
#
# **Why the gradient cannot go inside (002, eq. 5).** f does not depend on φ
# at all, so E_q[∇_φ f(z)] = 0 — yet the gradient above is not 0. Writing the
# expectation as an integral shows where φ is: in the density,
# ∇_φ ∫ q_φ(z) f(z) dz = ∫ f(z) ∇_φ q_φ(z) dz.

# %%
def f(z, c):
    return -0.5 * np.sum((z - c) ** 2, axis=-1)


def exact_grads(mu, logvar, c):
    return -(mu - c), -0.5 * np.exp(logvar)


K = 4
mu, logvar, c = np.full(K, 0.5), np.full(K, np.log(0.5)), np.full(K, -0.5)
g_mu, g_lv = exact_grads(mu, logvar, c)
print(f"exact ∇_mu E[f] = {g_mu},  exact ∇_logvar E[f] = {g_lv}")
print("E_q[∇_phi f(z)] = 0 for every z: f has no phi in it")


def expectation_by_quadrature(mu, logvar, c, n=20_001):
    """E_q[f] = Σ_j ∫ N(z; μ_j, σ_j²) (−½(z − c_j)²) dz, one trapezoid integral per dimension (f is a sum)."""
    sd = np.exp(0.5 * logvar)
    total = 0.0
    for m, s, cj, lv in zip(mu, sd, c, logvar):
        z = np.linspace(m - 12 * s, m + 12 * s, n)
        total += trapezoid(np.exp(gaussian_log_density(z[:, None], m, np.array([lv]))) * -0.5 * (z - cj) ** 2, z)
    return total


# The exact gradient, independently: central differences of E_q[f] computed by quadrature,
# which knows nothing of the closed form above.
h = 1e-4
fd_mu, fd_lv = np.empty(K), np.empty(K)
for j in range(K):
    e = np.eye(K)[j] * h
    fd_mu[j] = (expectation_by_quadrature(mu + e, logvar, c) - expectation_by_quadrature(mu - e, logvar, c)) / (2 * h)
    fd_lv[j] = (expectation_by_quadrature(mu, logvar + e, c) - expectation_by_quadrature(mu, logvar - e, c)) / (2 * h)
check("∇_mu E_q[f] = −(mu − c): closed form vs finite differences of the integral", g_mu, fd_mu, atol=1e-6)
check("∇_logvar E_q[f] = −½σ²: closed form vs finite differences of the integral", g_lv, fd_lv, atol=1e-6)
check_that("the 'gradient inside' answer, 0, is wrong: the true gradient is far from 0",
           np.all(np.abs(fd_mu) > 0.1) and np.all(np.abs(fd_lv) > 0.1), f"|∇| ≥ {min(np.abs(fd_mu).min(), np.abs(fd_lv).min()):.2f}")

# %% [markdown]
# ## 2. Two unbiased estimators
#
# **Score function.** ∇_φ q = q ∇_φ log q, so
#
# $$\nabla_\phi E_q[f] = E_q\bigl[f(z)\,\nabla_\phi \log q_\phi(z)\bigr],$$
#
# with the Gaussian scores ∂ log q/∂μ_j = (z_j − μ_j)/σ_j² and
# ∂ log q/∂logvar_j = ½((z_j − μ_j)²/σ_j² − 1). These are exactly the
# gradients of `gaussian_log_density` with respect to its `mu` and `logvar`
# arguments, so we take them from the library (after checking them by hand).
#
# **Pathwise (reparameterized).** Write z = μ + σ ⊙ ε, ε ~ N(0, I),
# σ = exp(½·logvar). Now φ sits inside f's argument and the chain rule applies:
#
# $$\nabla_{\mu_j} f(z) = f'(z)_j, \qquad
#   \nabla_{\mathrm{logvar}_j} f(z) = f'(z)_j\,\frac{\partial z_j}{\partial\,\mathrm{logvar}_j}
#   = f'(z)_j\,\varepsilon_j\,\tfrac12\sigma_j,$$
#
# with f'(z) = −(z − c). Both estimators are averages of single-sample
# estimates; we draw n of each, check that their means agree with the exact
# gradient within 5 standard errors, and compare their variances.

# %%
def score_estimates(eps, mu, logvar, c):
    """Single-sample score-function estimates of (∇_mu, ∇_logvar) E[f], shapes (n, K)."""
    z = mu + np.exp(0.5 * logvar) * eps                           # (n, K)
    s_mu, s_lv = gaussian_log_density_grad(z, mu, logvar)         # (n, K) each: ∇_phi log q(z)
    fz = f(z, c)[:, None]                                         # (n, 1)
    return fz * s_mu, fz * s_lv


# Your turn: the two functions below. `reparameterize` is z = μ + σ ⊙ ε; it is graded
# against SciPy's quantile transform, which maps ε to N(μ, σ²) without the formula.
# `pathwise_estimates` is the chain rule above, one estimate per row of eps; it is graded
# against central differences of f(μ + exp(½ logvar) ⊙ ε) with ε held fixed, which is what
# "pathwise" means. Neither grading draws from the lesson's generator.
def reparameterize(mu, logvar, eps):
    """z = mu + sigma * eps with sigma = exp(logvar / 2): a sample of N(mu, diag exp(logvar)), shape of eps."""
    # your turn: the reparameterized sample z = μ + σ ⊙ ε from mu, logvar and eps (section 2)
    ### BEGIN SOLUTION
    return mu + np.exp(0.5 * logvar) * eps
    ### END SOLUTION


def pathwise_estimates(eps, mu, logvar, c):
    """Single-sample pathwise estimates of (∇_mu, ∇_logvar) E[f], shapes (n, K)."""
    # your turn: the pathwise gradients f'(z) and f'(z) ⊙ ∂z/∂logvar for each row of eps (section 2)
    ### BEGIN SOLUTION
    sigma = np.exp(0.5 * logvar)                                  # (K,)
    z = mu + sigma * eps                                          # (n, K)
    df_dz = -(z - c)                                              # (n, K)
    return df_dz, df_dz * eps * 0.5 * sigma                       # dz/dmu = 1, dz/dlogvar = ½ σ ε
    ### END SOLUTION


eps_g = L.rng_for("your turn: reparameterization").standard_normal((6, K))    # (6, K), not from L.rng
mu_g, lv_g = mu + np.linspace(-1, 1, K), logvar + np.linspace(0.5, -0.5, K)   # not all equal, so slips show
sd_g = np.exp(0.5 * lv_g)
grade("the reparameterized sample", reparameterize(mu_g, lv_g, eps_g),
      norm.ppf(norm.cdf(eps_g), loc=mu_g, scale=sd_g), atol=1e-8, mistakes=[
          (mu_g + np.exp(lv_g) * eps_g, "exp(logvar) is the variance σ², not σ: σ = exp(logvar / 2)"),
          (mu_g + lv_g * eps_g, "logvar is log σ²: σ = exp(logvar / 2), not logvar itself"),
          (mu_g + eps_g, "ε must be scaled by σ before adding μ"),
      ], hint="z = mu + exp(0.5 * logvar) * eps, element by element")
hd = 1e-5
fd_path_mu = np.stack([(f(reparameterize(mu_g + hd * e, lv_g, eps_g), c) - f(reparameterize(mu_g - hd * e, lv_g, eps_g), c))
                       / (2 * hd) for e in np.eye(K)], axis=1)            # (6, K)  ∂f(z(μ, ε))/∂μ_j, ε fixed
fd_path_lv = np.stack([(f(reparameterize(mu_g, lv_g + hd * e, eps_g), c) - f(reparameterize(mu_g, lv_g - hd * e, eps_g), c))
                       / (2 * hd) for e in np.eye(K)], axis=1)            # (6, K)  ∂f(z(logvar, ε))/∂logvar_j
my_path_mu, my_path_lv = pathwise_estimates(eps_g, mu_g, lv_g, c)
df_g = -(mu_g + sd_g * eps_g - c)                                         # f'(z) at the true z, for the slips
grade("the pathwise gradient with respect to mu", my_path_mu, fd_path_mu, atol=1e-6, rtol=1e-6, mistakes=[
    (-df_g, "the sign of f'(z) is flipped: f = −½‖z − c‖², so f'(z) = −(z − c)"),
    (-(mu_g + np.exp(lv_g) * eps_g - c), "z uses σ = exp(logvar / 2), not exp(logvar)"),
], hint="∂f(z)/∂μ_j = f'(z)_j · ∂z_j/∂μ_j, and ∂z/∂μ = 1")
grade("the pathwise gradient with respect to logvar", my_path_lv, fd_path_lv, atol=1e-6, rtol=1e-6, mistakes=[
    (df_g * eps_g * sd_g, "twice the answer: ∂z/∂logvar = ½σε (σ = exp(logvar/2) brings the ½), not σε"),
    (df_g * eps_g * 0.5 * sd_g ** 2, "∂z/∂logvar = ½σε with σ = exp(logvar/2): σ², not σ, is in your answer"),
    (df_g * eps_g, "∂z/∂logvar is ½σε, not ε: z = μ + exp(logvar/2) ε"),
    (df_g * 0.5 * sd_g, "ε is missing: ∂z/∂logvar = ½σε depends on the sample's ε"),
    (-df_g * eps_g * 0.5 * sd_g, "the sign of f'(z) is flipped: f'(z) = −(z − c)"),
], hint="∂f(z)/∂logvar_j = f'(z)_j · ∂z_j/∂logvar_j with ∂z_j/∂logvar_j = ½ σ_j ε_j, one row per ε")


n = L.size(400_000, 200_000)
eps = rng.standard_normal((n, K))
z = mu + np.exp(0.5 * logvar) * eps
s_mu, s_lv = gaussian_log_density_grad(z, mu, logvar)
check("library score ∂log q/∂mu = (z − mu)/σ²", s_mu, (z - mu) / np.exp(logvar), atol=1e-12)
check("library score ∂log q/∂logvar = ½((z − mu)²/σ² − 1)", s_lv,
      0.5 * ((z - mu) ** 2 / np.exp(logvar) - 1), atol=1e-12)

for name, est in (("score", score_estimates(eps, mu, logvar, c)), ("pathwise", pathwise_estimates(eps, mu, logvar, c))):
    for which, e, exact in (("mu", est[0], g_mu), ("logvar", est[1], g_lv)):
        se = e.std(axis=0) / np.sqrt(n)
        check(f"{name:8s} estimator of ∇_{which} is unbiased (5 SE)", e.mean(axis=0), exact, atol=5 * se)
        check_that(f"{name:8s} ∇_{which}: the test can tell a wrong gradient (5 SE < 25% of |exact|)",
                   5 * se < 0.25 * np.abs(exact), f"5 SE = {5 * se.max():.3g}")

# %% [markdown]
# **Variance against the dimension.** The pathwise estimate of ∇_{μ_1} is
# −(z_1 − c_1): it involves only coordinate 1, and its variance is σ_1²
# whatever K is. The score-function estimate multiplies the whole f(z) — a
# sum over all K coordinates — by the score of coordinate 1, so the other
# K − 1 coordinates add noise. Both variances have closed forms. Write
# u_j = z_j − c_j ~ N(a, σ²) with a = μ − c (the same in every coordinate
# here) and m₂ = E[u²] = a² + σ², v₂ = Var[u²] = 4a²σ² + 2σ⁴. The score
# estimate of ∇_{μ_1} is −½(Σ_j u_j²) ε_1/σ; squaring it and taking the
# Gaussian moments of ε_1 (E ε² = 1, E ε⁴ = 3, E ε⁶ = 15) gives
#
# $$E[g^2] = rac{a^4 + 18a^2\sigma^2 + 15\sigma^4 + 2(a^2 + 3\sigma^2)(K-1)m_2 + (K-1)v_2 + (K-1)^2 m_2^2}{4\sigma^2},
#   \qquad \operatorname{Var} = E[g^2] - a^2,$$
#
# and for ∇_{logvar_1}, −¼(Σ_j u_j²)(ε_1² − 1), the same steps with
# E(ε² − 1)² = 2, E ε²(ε² − 1)² = 10, E ε⁴(ε² − 1)² = 78 give
#
# $$E[g^2] = 	frac1{16}igl[2a^4 + 60a^2\sigma^2 + 78\sigma^4 + 2(2a^2 + 10\sigma^2)(K-1)m_2
#   + 2(K-1)v_2 + 2(K-1)^2 m_2^2igr],\qquad \operatorname{Var} = E[g^2] - 	frac14\sigma^4 .$$
#
# For large K the (K − 1)² term wins: the variance grows like K², the square
# of f's mean, which is a sum of K terms. Over the range measured here the
# terms linear in K still count, so the growth is slower than K² (the
# log-log slope is printed below). The pathwise variances are
# σ² for μ and ¼σ²((μ − c)² + 2σ²) for logvar. We measure every
# variance for K = 1 … 64, averaged over the K coordinates, and check it
# against its closed form within 5 standard errors of the sample variance.

# %%
def score_variances(K, a, s2):
    """Closed-form variances of the single-sample score-function estimates of (∇_mu_1, ∇_logvar_1) E[f]."""
    m2, v2 = a ** 2 + s2, 4 * a ** 2 * s2 + 2 * s2 ** 2
    e_mu = (a ** 4 + 18 * a ** 2 * s2 + 15 * s2 ** 2 + 2 * (a ** 2 + 3 * s2) * (K - 1) * m2
            + (K - 1) * v2 + (K - 1) ** 2 * m2 ** 2) / (4 * s2)
    e_lv = (2 * a ** 4 + 60 * a ** 2 * s2 + 78 * s2 ** 2 + 2 * (2 * a ** 2 + 10 * s2) * (K - 1) * m2
            + 2 * (K - 1) * v2 + 2 * (K - 1) ** 2 * m2 ** 2) / 16
    return e_mu - a ** 2, e_lv - 0.25 * s2 ** 2


def variance_and_se(e):
    """Mean over coordinates of the sample variance of the columns of e (n, K), and its standard error.

    w_i = mean_j (e_ij − ē_j)² is one number per sample, so the SE is that of a mean of n
    numbers, whether or not the coordinates are correlated (the score estimates share f)."""
    w = ((e - e.mean(axis=0)) ** 2).mean(axis=1)
    return w.mean(), w.std() / np.sqrt(len(w))


Ks = [1, 4, 16, 64]
n_var = L.size(100_000, 20_000)
s2, a = 0.5, 1.0                                                   # σ² = 0.5, μ − c = 0.5 − (−0.5)
keys = ("score mu", "path mu", "score logvar", "path logvar")
var, var_se = {key: [] for key in keys}, {key: [] for key in keys}
print("\n   K   Var score ∇mu  Var path ∇mu  ratio    Var score ∇logvar  Var path ∇logvar  ratio")
for k in Ks:
    mu_k, lv_k, c_k = np.full(k, 0.5), np.full(k, np.log(s2)), np.full(k, -0.5)
    eps_k = rng.standard_normal((n_var, k))
    sm, sl = score_estimates(eps_k, mu_k, lv_k, c_k)
    pm, pl = pathwise_estimates(eps_k, mu_k, lv_k, c_k)
    for key, e in zip(keys, (sm, pm, sl, pl)):
        v, se = variance_and_se(e)
        var[key].append(v)
        var_se[key].append(se)
    print(f"{k:4d} {var['score mu'][-1]:13.3f} {var['path mu'][-1]:13.4f} {var['score mu'][-1] / var['path mu'][-1]:7.1f}"
          f" {var['score logvar'][-1]:18.3f} {var['path logvar'][-1]:17.4f} {var['score logvar'][-1] / var['path logvar'][-1]:7.1f}")
var, var_se = ({key: np.array(v) for key, v in d.items()} for d in (var, var_se))
closed = {"score mu": np.array([score_variances(k, a, s2)[0] for k in Ks]),
          "score logvar": np.array([score_variances(k, a, s2)[1] for k in Ks]),
          "path mu": np.full(len(Ks), s2), "path logvar": np.full(len(Ks), 0.25 * s2 * (a ** 2 + 2 * s2))}
for key, what in (("path mu", "pathwise Var ∇mu = σ², for every K"),
                  ("path logvar", "pathwise Var ∇logvar = ¼σ²((mu−c)² + 2σ²), for every K"),
                  ("score mu", "score-function Var ∇mu = its closed form, for every K"),
                  ("score logvar", "score-function Var ∇logvar = its closed form, for every K")):
    check(f"{what} (5 SE)", var[key], closed[key], atol=5 * var_se[key])
slopes = {key: np.log(var[key][-1] / var[key][0]) / np.log(Ks[-1] / Ks[0]) for key in ("score mu", "score logvar")}
print(f"score-function variance from K = {Ks[0]} to {Ks[-1]}: ×{var['score mu'][-1] / var['score mu'][0]:.0f} (∇mu) and "
      f"×{var['score logvar'][-1] / var['score logvar'][0]:.0f} (∇logvar), log-log slopes {slopes['score mu']:.2f} and "
      f"{slopes['score logvar']:.2f}; the closed form's slope from K = 64 to 128 is "
      f"{np.log(score_variances(128, a, s2)[0] / score_variances(64, a, s2)[0]) / np.log(2):.2f}, tending to 2")
check_that("score-function variance is > 5x the pathwise one already at K = 1",
           (var["score mu"][0] > 5 * var["path mu"][0]) and (var["score logvar"][0] > 5 * var["path logvar"][0]))
check_that(f"at K = {Ks[-1]} the score-function variance is > 1000x the pathwise one",
           (var["score mu"][-1] > 1000 * var["path mu"][-1]) and (var["score logvar"][-1] > 1000 * var["path logvar"][-1]),
           f"ratios {var['score mu'][-1] / var['path mu'][-1]:.0f} and {var['score logvar'][-1] / var['path logvar'][-1]:.0f}")

fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
axes[0].loglog(Ks, var["score mu"], "o-", label="score function, ∇μ")
axes[0].loglog(Ks, var["score logvar"], "s-", label="score function, ∇logvar")
axes[0].loglog(Ks, var["path mu"], "o--", label="pathwise, ∇μ")
axes[0].loglog(Ks, var["path logvar"], "s--", label="pathwise, ∇logvar")
axes[0].set(xlabel="latent dimension K", ylabel="variance of a single-sample estimate",
            title="Gradient variance per coordinate")
axes[0].legend(fontsize=8)
k16 = rng.standard_normal((4000, 16))
sm16, _ = score_estimates(k16, np.full(16, 0.5), np.full(16, np.log(0.5)), np.full(16, -0.5))
pm16, _ = pathwise_estimates(k16, np.full(16, 0.5), np.full(16, np.log(0.5)), np.full(16, -0.5))
bins = np.linspace(-40, 40, 161)
axes[1].hist(sm16[:, 0], bins=bins, alpha=0.6, density=True, label="score function")
axes[1].hist(pm16[:, 0], bins=bins, alpha=0.6, density=True, label="pathwise")
axes[1].axvline(-1.0, color="k", ls=":", label="exact ∇μ₁ = −1")
axes[1].set(xlabel="single-sample estimate of ∇μ₁ E[f]", ylabel="density", title="K = 16: same mean, very different spread", xlim=(-40, 40))
axes[1].legend(fontsize=8)
L.savefig(fig, "05_score_vs_pathwise")

# %% [markdown]
# ## 3. log q(z|x) by change of variables
#
# For an invertible z = g(ε), densities transform with the Jacobian
# (002, *Computation of log q_φ(z|x)*):
#
# $$\log q(z) = \log p(\varepsilon) - \log\Bigl|\det\frac{\partial z}{\partial\varepsilon}\Bigr|.$$
#
# For z = μ + σ ⊙ ε the Jacobian is diag(σ), so log|det| = Σ_i log σ_i =
# ½ Σ_i logvar_i (002, *Factorized Gaussian posteriors II*); for a full
# covariance, z = μ + Lε with L lower triangular, it is L, whose determinant
# is the product of its diagonal. We take the library's two samplers
# (`numvae.posteriors`, the code a VAE's encoder uses), build each one's
# Jacobian ∂z/∂ε by finite differences of the sampler itself, and check that
# log N(ε; 0, I) − log|det ∂z/∂ε| is the library's `log_q` of the sample.

# %%
K = 6
eps1 = rng.standard_normal(K)
h = 1e-6
for name, h_enc in (("diagonal", rng.normal(0, 1, 2 * K)),
                    ("full", rng.normal(0, 1, K + K * (K + 1) // 2))):
    family = make_posterior(name, K)
    params = family.split(h_enc[None])                              # one datapoint's (mu, logvar) or (mu, L)
    g = lambda e: family.sample(params, e[None, None])[0][0, 0]     # noqa: E731  the library's z(ε), (K,)
    J = np.stack([(g(eps1 + h * e) - g(eps1 - h * e)) / (2 * h) for e in np.eye(K)], axis=1)   # (K, K)  ∂z/∂ε
    logdet = np.linalg.slogdet(J)[1]
    log_p_eps = -0.5 * np.sum(np.log(2 * np.pi) + eps1 ** 2)        # log N(ε; 0, I), written out
    z1 = g(eps1)
    check(f"{name:8s}: log p(ε) − log|det ∂z/∂ε| (finite differences of the sampler) = the library's log q(z)",
          log_p_eps - logdet, family.log_q(z1[None, None], params)[0, 0], atol=1e-7)
    if name == "diagonal":
        check("diagonal: log|det ∂z/∂ε| = Σ log σ_i = ½ Σ logvar_i", logdet, 0.5 * params[1].sum(), atol=1e-7)
        check("diagonal: the library's log q = gaussian_log_density(z, mu, logvar)",
              family.log_q(z1[None, None], params)[0, 0], gaussian_log_density(z1, params[0][0], params[1][0]),
              atol=1e-12)

# %% [markdown]
# ## 4. σ vs σ² vs log σ²
#
# Three numbers describe one width: the standard deviation σ, the variance σ²,
# and what the encoder outputs, logvar = log σ². The conversions are
# σ² = exp(logvar) and **σ = exp(½·logvar)** (002's slides output log σ
# instead; then σ = exp(log σ), and log σ = ½·logvar).
#
# The bug: sampling z = μ + exp(logvar) ⊙ ε, i.e. using the *variance* as the
# standard deviation. The samples then have variance exp(logvar)² = σ⁴,
# while the KL term `kl_standard_normal(mu, logvar)` still assumes σ². The
# objective no longer describes the distribution being sampled. A gradient
# check cannot see this (the backward of the buggy forward is consistent with
# it); the sample moments can, and so can a bound: lesson 6 trains a VAE with
# this bug and finds its "ELBO" above log p(x). Note also that at logvar = 0,
# where encoders usually start, the two samplers give the very same numbers
# (exp(0) = exp(½·0) = 1): a test at initialization cannot see the bug.

# %%
logvar = np.log(np.array([0.25, 1.0, 4.0]))                        # σ = 0.5, 1, 2
mu = np.zeros(3)
n = L.size(400_000, 100_000)
eps = rng.standard_normal((n, 3))
z_right = mu + np.exp(0.5 * logvar) * eps                          # (n, 3)
z_bug = mu + np.exp(logvar) * eps                                  # (n, 3)  exp(logvar) used as σ
var_right, var_bug = z_right.var(axis=0), z_bug.var(axis=0)
print(f"intended variance exp(logvar)     = {np.exp(logvar)}")
print(f"sample variance, exp(½ logvar) ε  = {var_right}")
print(f"sample variance, exp(logvar) ε    = {var_bug}   (= σ⁴ = {np.exp(2 * logvar)})")
check("z = mu + exp(½ logvar) ε has variance exp(logvar)", var_right, np.exp(logvar), rtol=5 * np.sqrt(2 / n))
check("z = mu + exp(logvar) ε has variance exp(2 logvar) = σ⁴", var_bug, np.exp(2 * logvar), rtol=5 * np.sqrt(2 / n))
# The moment test a student would write: is the sample variance the intended exp(logvar),
# within 5 standard errors (SE of a Gaussian sample variance: σ²·√(2/n))?
z_score = (var_bug - np.exp(logvar)) / (np.exp(logvar) * np.sqrt(2 / n))
print(f"buggy samples: (sample variance − exp(logvar)) / SE = {z_score.round(1)}")
check_that("the bug fails that test by far at σ = 0.5 and σ = 2", np.all(np.abs(z_score[[0, 2]]) > 50),
           f"{z_score[0]:.0f} and {z_score[2]:.0f} SE")

# %% [markdown]
# What the KL term of the loss says, and what the KL of the distribution the
# bug actually samples is (a Monte Carlo average of log q_actual − log p over
# the buggy samples, against the closed form with logvar replaced by 2·logvar):

# %%
kl_assumed = kl_standard_normal(mu[None, :1].T, logvar[:, None])   # (3,)  one 1-D KL per σ
kl_actual = kl_standard_normal(mu[None, :1].T, 2 * logvar[:, None])
log_ratio = gaussian_log_density(z_bug[:, :, None], 0.0, 2 * logvar[:, None]) \
    - gaussian_log_density(z_bug[:, :, None], 0.0, np.zeros((3, 1)))          # (n, 3)
kl_mc = log_ratio.mean(axis=0)
se = log_ratio.std(axis=0) / np.sqrt(n)
for s, a, b, m in zip(np.exp(0.5 * logvar), kl_assumed, kl_actual, kl_mc):
    print(f"σ = {s:.1f}: KL the loss uses {a:.4f}   KL of what is sampled {b:.4f} (Monte Carlo {m:.4f})")
check("KL of the buggy samples = kl_standard_normal(mu, 2·logvar) (5 SE)", kl_mc, kl_actual, atol=5 * se)
check_that("it differs from the KL the loss uses (σ ≠ 1)", np.all(np.abs(kl_actual - kl_assumed)[[0, 2]] > 0.1),
           f"{kl_actual} vs {kl_assumed}")

fig, ax = plt.subplots(figsize=(6, 3.5))
grid = np.linspace(-10, 10, 801)
ax.hist(z_right[:, 2], bins=grid[::8], density=True, alpha=0.5, label="μ + exp(½·logvar)·ε  (σ = 2)")
ax.hist(z_bug[:, 2], bins=grid[::8], density=True, alpha=0.5, label="μ + exp(logvar)·ε  (bug: σ = 4)")
ax.plot(grid, np.exp(gaussian_log_density(grid[:, None], 0.0, np.array([np.log(4.0)]))), "k",
        label="N(0, 4): what the KL assumes")
ax.set(xlabel="z", ylabel="density", title="logvar = log 4: the samples the bug draws")
ax.legend(fontsize=8)
L.savefig(fig, "05_sigma_vs_logvar")

# %% [markdown]
# ## Summary
#
# - ∇_φ E_{q_φ}[f] ≠ E_{q_φ}[∇_φ f]: φ lives in the density, not in f (002,
#   eq. 5).
# - Score function: E_q[f ∇_φ log q] — unbiased, needs no derivative of f, but
#   its variance grows with everything f sums over (here like K² for large
#   K, more slowly over K = 1 … 64 where the linear terms still count).
# - Pathwise: z = μ + σ ⊙ ε, then differentiate f(z) by the chain rule —
#   unbiased, and for this f its variance does not depend on K. This is what
#   lets a VAE backpropagate through the sampling step.
# - log q(z|x) = Σ log N(ε_i; 0, 1) − Σ log σ_i, by change of variables.
# - σ = exp(½·logvar). Using exp(logvar) as σ samples variance σ⁴, so the KL
#   in the loss describes a different distribution. A gradient check cannot
#   catch it; sample moments can, and so can ELBO ≤ log p(x) (lesson 6).
#
# ## Exercises
#
# Worked solutions (exercises 1, 2 and 3), which run and assert their answers: `solutions_02_to_05.py`.
#
# 1. Subtract a baseline b from f in the score-function estimator,
#    E_q[(f(z) − b) ∇ log q]. Show it stays unbiased and find the b that
#    minimizes its variance for K = 16. How much of the gap to the pathwise
#    estimator does it close?
# 2. Repeat section 2 with f(z) = Σ_j exp(z_j), whose expectation is
#    Σ_j exp(μ_j + σ_j²/2). Is the pathwise estimator still better for large σ?
# 3. For a full-covariance q, z = μ + Lε with L lower triangular. Derive
#    log q(z) by change of variables and check it against a Gaussian
#    log-density with covariance LLᵀ.
