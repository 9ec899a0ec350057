r"""The VAE against probabilistic PCA, on held-out data, in nats.

pPCA is the one latent variable model whose log-likelihood is exact, so it is
the baseline a VAE has to beat. :func:`compare` fits, for each latent size K,

* **pPCA** by its closed-form maximum-likelihood solution: exact
  :math:`\log p(x) = \log\mathcal N(x; b, WW^\top + \sigma^2 I)`;
* a **linear VAE** (linear encoder and decoder, Gaussian decoder with one
  shared variance): the same model family as pPCA, so at its optimum it should
  reach pPCA's likelihood with a tight ELBO (Lucas et al. 2019, *Don't blame
  the ELBO!*);
* a **VAE** with MLP encoder and decoder and a Gaussian decoder with a
  learned variance per pixel, once with a diagonal Gaussian posterior and once
  with a full-covariance one (``posterior="full"``);

every VAE trained on one objective of ``numvae.objectives`` (the ELBO by
default; ``IWAE(k)`` for the importance-weighted bound of Burda, Grosse &
Salakhutdinov 2015, or with DReG's encoder gradient, Tucker et al. 2019), and
scores all of them on the same held-out images: pPCA exactly, the VAEs by
the importance-sampled estimate :math:`\log\frac1k\sum_i p(x,z_i)/q(z_i|x)`
(lecture 002, eq. 9; Burda et al. 2015), which is itself a lower bound on
:math:`\log p(x)` that tightens as k grows.

The inference gaps
------------------
For every model the gap :math:`\log p(x) - \mathrm{ELBO}(q_\phi)` is split
(``numvae.inference.gaps``; Cremer, Li & Duvenaud 2018) into the
**approximation gap** :math:`\log p(x) - \mathrm{ELBO}(q^*)`, what the
posterior family costs, and the **amortization gap**
:math:`\mathrm{ELBO}(q^*) - \mathrm{ELBO}(q_\phi)`, what one shared encoder
costs, with q* each test image's own best member of the family. For pPCA the
posterior is exact and in closed form, so both are zero: the approximation gap
is computed from ``PPCA.elbo`` at the exact posterior, the amortization gap is
zero because that posterior is both the amortized and the per-image optimum.
The VAEs' gaps are averaged over the first `gap_n` test images (per-image
optimisation is the expensive part), with their standard errors.

Discrete pixels and continuous densities
----------------------------------------
Pixel intensities take L grey levels, and a continuous density on them can be
made arbitrarily large by collapsing onto the levels. Both train and test data
are therefore *dequantized* (:func:`numvae.data.dequantize`: uniform noise
inside each level's cell, Theis et al. 2016), which makes the log-densities of
all three models comparable, and bounded: bits per dimension,
:math:`-(\log p(y) - D\log L)/(D\ln 2)`, bound the discrete data's code length.
"""

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from numvae.checks import as_generator, check_int, check_positive, is_real
from numvae.data import dequantize, dequantized_bits_per_dim, load_digits, load_mnist_like, split
from numvae.inference import gaps
from numvae.io import write_text
from numvae.objectives import ELBO, IWAE, from_settings
from numvae.posteriors import POSTERIORS, FullGaussian
from numvae.ppca import PPCA
from numvae.progress import Progress
from numvae.train import fit
from numvae.vae import VAE

# Grey levels of each dataset, for dequantization and the bits-per-dimension correction.
LEVELS = {"digits": 17, "fashion-mnist": 256, "mnist": 256}
MODELS = ("pPCA", "linear VAE", "VAE", "VAE (full q)")
# The VAEs of each K: (name, hidden widths or None for compare's `hidden`, decoder_var, posterior).
_VAES = (("linear VAE", (), "shared", "diagonal"), ("VAE", None, "pixel", "diagonal"),
         ("VAE (full q)", None, "pixel", "full"))
# Test images per importance-sampling block: VAE.log_likelihood's own batch, so the blocks,
# drawn from one generator in turn, give bitwise the numbers of a single call.
_LL_BLOCK = 100
COLUMNS = ("model", "K", "test_loglik", "bits_per_dim", "test_elbo", "gap", "approx_gap", "approx_gap_se",
           "amort_gap", "amort_gap_se", "k", "seconds", "objective")


def _elbo_label(settings):
    """``"ELBO"``, followed by what differs from ``ELBO()``: β, free bits, L samples, warm-up epochs."""
    parts = [f"{name} {settings[key]:g}" for key, name, default in
             (("beta", "β", 1.0), ("free_bits", "free bits", 0.0), ("n_samples", "L", 1),
              ("warmup_epochs", "warm-up", 0.0)) if settings[key] != default]
    return " ".join(["ELBO", *parts])


# What the tables call the objectives a VAE may train on, by settings()["name"] (pPCA's is its closed form).
_LABELS = {"elbo": _elbo_label, "iwae": lambda s: f"{'DReG' if s['estimator'] == 'dreg' else 'IWAE'} k={s['k']}"}


def objective_label(objective):
    """What the comparison's tables call `objective`: ``"ELBO"``, ``"IWAE k=5"``, ``"DReG k=5"`` (no commas: a CSV cell)."""
    settings = objective.settings()
    return _LABELS[settings["name"]](settings)


@dataclass
class Comparison:
    """The rows of a comparison, one per (model, latent size), and what produced them."""

    data: str
    n_train: int
    n_test: int
    n_dims: int
    levels: int
    k: int
    epochs: int
    gap_n: int = 0
    objective: dict = None      # the VAEs' training objective, as its settings() (None: the ELBO)
    X_test: np.ndarray = None   # the dequantized test images, for figures
    y_test: np.ndarray = None   # their labels
    rows: list = field(default_factory=list)
    models: dict = field(default_factory=dict)  # (name, K) -> fitted model, for figures

    def column(self, name, model):
        """Latent sizes and values of one column for one model, in latent order."""
        rows = [r for r in self.rows if r["model"] == model]
        return [r["K"] for r in rows], [r[name] for r in rows]

    def to_csv(self):
        """The rows as CSV text: a header of ``COLUMNS``, then one line per row.

        Numbers keep 6 significant digits; a missing value (pPCA's ``k``) is
        an empty cell. ``write_report`` saves it as ``comparison.csv``.
        """
        lines = [",".join(COLUMNS)]
        for r in self.rows:
            lines.append(",".join(_fmt(r[c], csv=True) for c in COLUMNS))
        return "\n".join(lines) + "\n"

    def to_markdown(self):
        """The rows as a Markdown table (2 decimals, ``—`` for a missing value) and a line saying what produced them.

        This is the table ``numvae compare`` prints and saves as ``comparison.md``.
        """
        head = ["model", "K", "test log p(x) (nats)", "bits/dim", "test ELBO (nats)",
                "log p(x) − ELBO", "approximation gap", "amortization gap", "IS samples k", "seconds",
                "trained on"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in self.rows:
            cells = [_fmt(r[c]) for c in ("model", "K", "test_loglik", "bits_per_dim", "test_elbo", "gap")]
            cells += [_fmt_se(r["approx_gap"], r["approx_gap_se"]), _fmt_se(r["amort_gap"], r["amort_gap_se"]),
                      _fmt(r["k"]), _fmt(r["seconds"]), _fmt(r["objective"])]
            lines.append("| " + " | ".join(cells) + " |")
        note = (f"\n{self.data}: {self.n_train} train / {self.n_test} test images, D = {self.n_dims}, "
                f"dequantized from {self.levels} levels; VAEs trained {self.epochs} epochs on "
                f"{self.objective_label}; "
                f"pPCA exact, VAE log p(x) importance-sampled with k = {self.k}; VAE gaps (± one standard "
                f"error) over the first {self.gap_n} test images.\n")
        return "\n".join(lines) + "\n" + note

    @property
    def objective_label(self):
        """The VAEs' training objective as the tables name it (:func:`objective_label`)."""
        return objective_label(ELBO() if self.objective is None else from_settings(self.objective))

    def __str__(self):
        return self.to_markdown()


def _fmt_se(value, se):
    """`value ± se`; just the value when it is exact (se = 0: pPCA)."""
    return _fmt(value) if se == 0 else f"{_fmt(value)} ± {_fmt(se)}"


def _fmt(value, csv=False):
    if value is None:
        return "" if csv else "—"
    if isinstance(value, float):
        return f"{value:.6g}" if csv else f"{round(value, 2) + 0.0:.2f}"   # + 0.0: no "-0.00" for rounding noise
    return str(value)


def load_dequantized(data, seed=0, test_fraction=0.2, data_root=None):
    """Train and test images (dequantized) with labels, from one seeded split.

    ``"digits"`` is split ``1 - test_fraction`` / ``test_fraction``; MNIST-like
    sets use their own train and test files. Returns
    ``(X_train, y_train, X_test, y_test, levels)``.
    """
    if not (is_real(test_fraction) and 0 < test_fraction < 1):
        raise ValueError(f"test_fraction must be a number in (0, 1); got {test_fraction!r}")
    rng = as_generator(seed, "seed")
    if data == "digits":
        X, y = load_digits(data_root)
        (X_train, y_train), (X_test, y_test) = split(X, (1 - test_fraction, test_fraction), rng, y=y)
    elif data in LEVELS:
        X_train, y_train = load_mnist_like(data, "train", root=data_root)
        X_test, y_test = load_mnist_like(data, "test", root=data_root)
    else:
        raise ValueError(f"data must be one of {sorted(LEVELS)}; got {data!r}")
    levels = LEVELS[data]
    return dequantize(X_train, levels, rng), y_train, dequantize(X_test, levels, rng), y_test, levels


def compare(data="digits", z_dim=(2, 4, 8, 16), epochs=40, hidden=(128,), k=500, lr=3e-3,
            batch_size=32, seed=0, test_fraction=0.2, data_root=None, progress=False, gap_n=50,
            gap_steps=200, objective=None):
    r"""Held-out log-likelihood of pPCA, a linear VAE and a VAE for each latent size.

    Parameters
    ----------
    data : {"digits", "fashion-mnist", "mnist"}
    z_dim : sequence of int
        Latent sizes K, each smaller than the data dimension.
    epochs : int
        Training epochs of each VAE.
    hidden : tuple of int
        Hidden widths of the nonlinear VAE's encoder (the decoder mirrors them).
    k : int
        Importance samples per test image for the VAEs' log-likelihood.
    lr, batch_size : Adam step size and minibatch size.
    seed : int
        Seeds the split, the dequantization noise, initialization and training.
    test_fraction : float in (0, 1)
        Share of the digits held out for testing (MNIST-like sets use their own test split).
    data_root : str or Path, optional
        Folder searched first for the data, digits included (:func:`numvae.data.locate`).
    progress : bool
        Print progress with an ETA to stderr (:class:`numvae.progress.Progress`): a line per
        epoch of each VAE, per block of test images of its importance sampling and per
        fitted model; the ETA weighs each step by its expected work (:func:`work_plan`).
    gap_n : int
        Test images the VAEs' inference gaps are computed on (the first ones).
    gap_steps : int
        Steps of each per-image optimisation (``inference.optimize_q``).
    objective : ELBO or IWAE, optional
        What every VAE is trained on (``numvae.train.fit``'s `objective`):
        ``ELBO()`` (the default), ``IWAE(k)`` or ``IWAE(k, estimator="dreg")``.
        Their held-out log p(x), ELBO and gaps are measured the same way
        whatever they were trained on; the rows record it (``objective``).

    Returns
    -------
    Comparison
        Rows with held-out ``test_loglik`` (nats per image), ``bits_per_dim``,
        ``test_elbo`` (nats per image; for pPCA the closed-form ELBO at
        the exact posterior, :meth:`PPCA.elbo` at :meth:`PPCA.posterior`,
        computed apart from the log-likelihood so the gap of 0 is a check),
        ``gap`` = log p(x) − ELBO, ``approx_gap`` and ``amort_gap`` with their
        standard errors ``*_se`` (see the module docstring), importance samples
        ``k``, wall-clock ``seconds`` (fit + scoring + gaps) and the
        ``objective`` the model was trained on (:func:`objective_label`; None
        for pPCA, fitted in closed form).
    """
    latent = [check_int(K, "z_dim", 1) for K in z_dim]
    if not latent:
        raise ValueError("z_dim must list at least one latent size; got none")
    epochs = check_int(epochs, "epochs", 1)
    k = check_int(k, "k", 1)
    gap_n = check_int(gap_n, "gap_n", 1)
    check_positive(lr, "lr")
    objective = ELBO() if objective is None else objective
    if not isinstance(objective, (ELBO, IWAE)):
        raise ValueError(f"objective must be ELBO(...) or IWAE(k, estimator) of numvae.objectives (a VAE's "
                         f"training objective); got {objective!r}")
    X_train, y_train, X_test, y_test, levels = load_dequantized(data, seed, test_fraction, data_root)
    D = X_train.shape[1]
    if max(latent) >= D:
        raise ValueError(f"z_dim: latent sizes must be smaller than the data dimension {D}; got {max(latent)}")
    gap_n = min(gap_n, len(X_test))
    result = Comparison(data, len(X_train), len(X_test), D, levels, k, epochs, gap_n, objective.settings(),
                        X_test, y_test)
    # The decoder's variance starts at the data's mean pixel variance rather than
    # 1: dequantized pixels have variance ~0.1, and a decoder variance 10x too
    # large wastes the first epochs shrinking it.
    logvar0 = float(np.log(X_train.var(axis=0).mean()))

    plans = {(K, name): work_plan(D, K, tuple(hidden) if hid is None else hid, posterior, len(X_train),
                                  len(X_test), epochs, batch_size, k, gap_n, gap_steps, objective.n_samples)
             for K in latent for name, hid, _, posterior in _VAES}
    ppca_work = {K: len(X_train) * D * D + D ** 3 + len(X_test) * D * K for K in latent}   # covariance, eigh, scores
    total = sum(ppca_work.values()) + sum(p["batch"] * p["n_batches"] * epochs + p["elbo"] + p["ll_row"] * len(X_test)
                                          + p["gaps"] for p in plans.values())
    tracker = Progress(total, "compare", quiet=not progress)
    done = 0
    for K in latent:
        t0 = time.perf_counter()
        ppca = PPCA(K).fit(X_train)
        ll = ppca.log_likelihood(X_test)                                             # (N,) exact
        elbo = ppca.elbo(X_test, *ppca.posterior(X_test))                            # (N,) at the exact posterior
        # The exact posterior is both the amortized q and each image's optimum: no amortization gap.
        gaps_ = (float((ll - elbo).mean()), 0.0, 0.0, 0.0)
        _add_row(result, "pPCA", K, ll.mean(), elbo.mean(), gaps_, None, time.perf_counter() - t0, ppca, None)
        done += ppca_work[K]
        tracker.line(f"K={K:<3} {'pPCA':<12} log p(x) {ll.mean():9.2f} nats (exact)", done=done)

        for name, hid, var, posterior in _VAES:
            t0 = time.perf_counter()
            hid, plan, prefix = tuple(hidden) if hid is None else hid, plans[(K, name)], f"K={K:<3} {name:<12}"
            model = VAE(D, hidden=hid, z_dim=K, decoder="gaussian", decoder_var=var,
                        decoder_logvar=logvar0, seed=seed, posterior=posterior)
            fit(model, X_train, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, objective=objective,
                progress=_Stage(tracker, done, plan["batch"], prefix) if progress else False)
            done += plan["batch"] * plan["n_batches"] * epochs + plan["elbo"]
            elbo = model.elbo(X_test, rng=seed)[0].mean()
            ll_rng, lls = np.random.default_rng(seed), []   # one generator through the blocks: one call's draws
            for start in range(0, len(X_test), _LL_BLOCK):
                lls.append(model.log_likelihood(X_test[start:start + _LL_BLOCK], k=k, rng=ll_rng))
                done += plan["ll_row"] * len(lls[-1])
                tracker.line(f"{prefix}  log p(x): {start + len(lls[-1])}/{len(X_test)} test images, k = {k}",
                             done=done)
            ll = np.concatenate(lls).mean()
            g = gaps(model, X_test[:gap_n], k=max(4, k), steps=gap_steps, n_eval=500, rng=seed)
            done += plan["gaps"]
            gaps_ = (_mean_se(g.approximation, g.approximation_se) + _mean_se(g.amortization, g.amortization_se))
            _add_row(result, name, K, ll, elbo, gaps_, k, time.perf_counter() - t0, model, objective_label(objective))
            tracker.line(f"{prefix} log p(x) {ll:9.2f}  ELBO {elbo:9.2f}  gaps: approximation "
                         f"{gaps_[0]:6.2f}, amortization {gaps_[2]:6.2f} nats", done=done)
    return result


# Work that the products do not count, in multiply-adds of the same time, measured on the
# digits (2 cores, one BLAS thread; fit, log_likelihood and gaps of the linear and the
# 128-unit VAEs at K = 2 and 16): a training step's fixed cost (its Python and NumPy calls,
# which dominate a small model's step), and each decoded pixel of importance sampling
# (the likelihood and the log-weights). With them the predicted times of those pieces
# were within 1.5x of the measured ones (the linear VAE's log p(x), 2.5x, is tiny).
_STEP_WORK = 1_200_000
_PIXEL_WORK = 20


def _row_work(sizes):
    """Multiply-adds and element-wise operations for one row through an MLP of these widths."""
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def work_plan(D, K, hidden, posterior, n_train, n_test, epochs, batch_size, k, gap_n, gap_steps, n_samples=1):
    """Expected work of each step of one VAE of :func:`compare`, in multiply-adds (and element-wise ops).

    What the progress's ETA weighs its steps by, so that a step's share of the
    bar is its share of the work, not 1/(number of models): a training batch
    is a forward and a backward pass (about 3x the forward products) of
    `batch_size` rows through the encoder and ``n_samples`` times as many
    through the decoder (the training objective's samples of z per image: the
    ELBO's 1, IWAE's k), plus the step's fixed cost; an importance-sampling block of B images is B encoder rows
    and B·k decoder rows with their likelihoods; the gaps are their
    optimisations' decoder passes (``inference.gaps``). Times would follow if
    every unit took as long; measured, they do within about 1.5x.

    Returns ``{"batch", "n_batches", "elbo", "ll_row", "gaps"}``: the work of
    one training batch, the batches of an epoch, the test ELBO, the
    log-likelihood per test image and the gaps.
    """
    n_out = POSTERIORS[posterior].outputs_for(K)
    enc, dec = _row_work((D, *hidden, n_out)), _row_work((K, *hidden[::-1], D))
    sampled = dec + _PIXEL_WORK * D   # a decoder row of importance sampling, with its likelihood
    S = 1
    while S <= K:   # rows of inference.sign_design: each step's draws per image
        S *= 2
    optimisations = 1 if posterior == FullGaussian.name else 2   # q* in the model's family, and the full one
    return {"batch": 3 * (enc + n_samples * dec) * batch_size + _STEP_WORK, "n_batches": math.ceil(n_train / batch_size),
            "elbo": n_test * (enc + dec), "ll_row": enc + k * sampled,
            "gaps": gap_n * sampled * (3 * optimisations * gap_steps * S + max(4, k) + 2 * 500)}


class _Stage:
    """What ``fit`` sees as its progress: its batches, moved onto the comparison's work units.

    `fit` reports batches done in its own call; this turns them into
    ``base + batches * per_batch`` units of the comparison's :class:`Progress`
    and prefixes its messages with the model, so every epoch of every model
    gets its line with the comparison's ETA.
    """

    def __init__(self, tracker, base, per_batch, prefix):
        self.tracker, self.base, self.per_batch, self.prefix = tracker, base, per_batch, prefix

    def update(self, done, message=""):
        self.tracker.update(self.base + done * self.per_batch, f"{self.prefix}  {message}")

    def line(self, message, done=None):
        self.tracker.line(f"{self.prefix}  {message}", done=None if done is None else self.base + done * self.per_batch)


def _mean_se(values, ses):
    """Mean over images of a per-image quantity, and its standard error (independent per-image errors)."""
    return float(values.mean()), float(np.sqrt(np.sum(ses ** 2)) / len(values))


def _add_row(result, name, K, ll, elbo, gaps_, k, seconds, model, objective):
    approx, approx_se, amort, amort_se = gaps_
    result.rows.append({
        "model": name, "K": K, "test_loglik": float(ll),
        "bits_per_dim": float(dequantized_bits_per_dim(ll, result.n_dims, result.levels)),
        "test_elbo": float(elbo), "gap": float(ll - elbo), "approx_gap": approx, "approx_gap_se": approx_se,
        "amort_gap": amort, "amort_gap_se": amort_se, "k": k, "seconds": float(seconds), "objective": objective})
    result.models[(name, K)] = model


def write_report(result, out):
    """Write ``comparison.csv``, ``comparison.md`` and the figures into the folder `out`.

    Figures: ``loglik_vs_latent.png`` (held-out log-likelihood against K for
    the three models), ``reconstructions.png`` (test images and their
    reconstructions by each model at the largest K) and, when K = 2 was run,
    ``latent_ppca.png`` and ``latent_vae.png`` (the two 2-D latent spaces of
    the test images, coloured by label; removed if an earlier comparison in
    `out` left them and this one has no K = 2). Every file is overwritten.
    Returns the list of paths written.
    """
    from numvae import plots

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "comparison.csv", result.to_csv())
    write_text(out / "comparison.md", result.to_markdown())
    paths = [out / "comparison.csv", out / "comparison.md"]

    curves = {m: result.column("test_loglik", m) for m in MODELS}
    elbos = {m: result.column("test_elbo", m) for m in MODELS}
    plots.loglik_vs_latent(curves, elbos=elbos, k=result.k, path=out / "loglik_vs_latent.png",
                           title=f"{result.data}: held-out log p(x) and ELBO ({result.n_test} test images; "
                                 f"VAEs trained on {result.objective_label})")
    paths.append(out / "loglik_vs_latent.png")

    K = max(r["K"] for r in result.rows)
    x = result.X_test[:10]
    rows = [x] + [result.models[(m, K)].reconstruct(x) for m in MODELS]
    plots.image_grid(np.concatenate(rows), ncols=len(x), row_labels=["test image", *MODELS],
                     title=f"{result.data}, K = {K}: test images and their reconstructions",
                     path=out / "reconstructions.png")
    paths.append(out / "reconstructions.png")

    latent_paths = [out / "latent_ppca.png", out / "latent_vae.png"]
    if ("pPCA", 2) in result.models:
        z_ppca = result.models[("pPCA", 2)].transform(result.X_test)
        z_vae = result.models[("VAE", 2)].encode(result.X_test)[0]
        for path, z, model in zip(latent_paths, (z_ppca, z_vae), ("pPCA", "VAE")):
            plots.latent_scatter(z, result.y_test, path=path,
                                 title=f"{model}, K = 2: posterior means of the {result.data} test images")
            paths.append(path)
    else:  # an earlier comparison's, which this one would otherwise appear to include
        for path in latent_paths:
            path.unlink(missing_ok=True)
    return paths
