r"""Figures for the CLI and the lessons: learning curves, image grids, latent spaces.

Every function takes plain arrays (or a :class:`~numvae.train.History`),
returns a ``matplotlib.figure.Figure`` and, given ``path``, also writes it as a
PNG atomically (temporary file, then ``os.replace``), so an interrupted run
never leaves half an image.

Figures are built with ``matplotlib.figure.Figure`` directly, not ``pyplot``:
no display is needed (any backend, including Agg on a headless machine) and no
global figure registry grows when a loop draws many figures.

Images are rows of length D = side², shown as side x side squares, row-major
(as MNIST and the UCI digits store them).
"""

import math

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from scipy.special import ndtri  # the inverse standard normal CDF; lighter to import than scipy.stats

from numvae.checks import check_array, check_int, check_matrix
from numvae.io import atomic_open

DPI = 100


def _save(fig, path):
    """Write `fig` to `path` as PNG through a temporary file; return `fig`."""
    if path is not None:
        with atomic_open(path, "wb") as f:
            fig.savefig(f, format="png", dpi=DPI, bbox_inches="tight")
    return fig


def missing_labels(fig):
    """What a reader cannot tell from `fig`: axes without a title (unless the figure has a
    suptitle) and visible plot axes (not pictures) without x or y labels. Returns a list of descriptions; empty
    when every axes says what it shows."""
    has_suptitle = fig._suptitle is not None and fig._suptitle.get_text() != ""
    problems = []
    for i, ax in enumerate(fig.axes):
        if not ax.get_label() == "<colorbar>" and ax.get_title() == "" and not has_suptitle:
            problems.append(f"axes {i} has no title")
        three_d = hasattr(ax, "get_zlabel")               # 3-D axes draw their own panes, axison or not
        if (ax.axison or three_d) and ax.get_label() != "<colorbar>" and not ax.images:   # a picture needs no units
            for axis in ("x", "y", "z") if three_d else ("x", "y"):
                if getattr(ax, f"get_{axis}label")() == "":
                    problems.append(f"axes {i} ({ax.get_title()!r}) has no {axis} label")
    return problems


def image_side(D, name="images"):
    """Side of a square image with `D` pixels; ``ValueError`` if `D` is not a perfect square."""
    side = math.isqrt(int(D))
    if side * side != D:
        raise ValueError(f"{name} must hold square images (D = side**2 pixels per row); got D = {D}")
    return side


def _mosaic(images, ncols, pad=1):
    """Tile rows of `images` (N, side²) into one 2-D array, `pad` pixels of NaN between tiles."""
    N, D = images.shape
    side = image_side(D)
    nrows = math.ceil(N / ncols)
    cell = side + pad
    out = np.full((nrows * cell - pad, ncols * cell - pad), np.nan)  # NaN shows as background
    for i, img in enumerate(images):
        r, c = divmod(i, ncols)
        out[r * cell:r * cell + side, c * cell:c * cell + side] = img.reshape(side, side)
    return out


def _show_images(ax, images, ncols, title=None):
    """Draw `images` as a grid on `ax`: grey levels on [0, 1] unless the data leave it."""
    lo, hi = min(0.0, float(np.min(images))), max(1.0, float(np.max(images)))
    ax.imshow(_mosaic(images, ncols), cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)


def _grid_shape(n, ncols):
    if ncols is None:
        ncols = math.ceil(math.sqrt(n))
    ncols = check_int(ncols, "ncols", 1)
    return ncols, math.ceil(n / ncols)


def image_grid(images, ncols=None, title=None, path=None, row_labels=None):
    """Show the rows of `images` (N, side²) as a grid of square images.

    Parameters
    ----------
    images : ndarray of shape (N, D)
        D must be a perfect square.
    ncols : int, optional
        Images per row; default ``ceil(sqrt(N))``.
    title : str, optional
        Default ``"N images"``; say what they are.
    path : str or Path, optional
        Where to save a PNG.
    row_labels : sequence of str, optional
        One label per grid row, written at its left (e.g. which model made it).
    """
    images = check_matrix(images, "images")
    side = image_side(images.shape[1])
    ncols, nrows = _grid_shape(images.shape[0], ncols)
    if row_labels is not None and len(row_labels) != nrows:
        raise ValueError(f"row_labels must have one label per grid row ({nrows}); got {len(row_labels)}")
    fig = Figure(figsize=(0.6 * ncols + (1.6 if row_labels is not None else 0.4), 0.6 * nrows + 0.6))
    ax = fig.add_subplot()
    _show_images(ax, images, ncols, title or f"{images.shape[0]} images")
    if row_labels is not None:
        ax.set_axis_on()
        ax.set_xticks([])
        ax.set_yticks(np.arange(nrows) * (side + 1) + side / 2 - 0.5, list(row_labels))
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
    return _save(fig, path)


def samples_grid(samples, ncols=None, path=None, model=None):
    """Samples from the generative model, x ~ p(x|z) mean with z ~ N(0, I) (lecture 000, *Testing VAE*).

    `model` (e.g. ``"VAE, Bernoulli decoder, K = 2, digits"``) heads the title.
    """
    title = "samples: decoder mean at z ~ N(0, I)"
    return image_grid(samples, ncols=ncols, title=title if model is None else f"{model}: {title}", path=path)


def reconstructions(originals, recons, ncols=None, path=None, model=None):
    """Originals beside their reconstructions, the same image at the same grid position.

    Parameters
    ----------
    originals, recons : ndarray of shape (N, D)
        ``recons[i]`` is the reconstruction of ``originals[i]`` (e.g. the decoder
        mean at the encoder mean).
    model : str, optional
        Which model and data, as the figure's title.
    """
    originals = check_matrix(originals, "originals")
    recons = check_matrix(recons, "recons")
    if recons.shape != originals.shape:
        raise ValueError(f"recons must have the shape of originals {originals.shape}; got {recons.shape}")
    image_side(originals.shape[1], "originals")
    ncols, nrows = _grid_shape(originals.shape[0], ncols)
    fig = Figure(figsize=(2 * (0.6 * ncols) + 0.6, 0.6 * nrows + 0.6))
    _show_images(fig.add_subplot(1, 2, 1), originals, ncols, "originals")
    _show_images(fig.add_subplot(1, 2, 2), recons, ncols, "reconstructions (same positions)")
    if model is not None:
        fig.suptitle(model)
    return _save(fig, path)


def learning_curves(history, path=None, title="learning curves: ELBO = reconstruction term − KL"):
    """ELBO, reconstruction term and KL per epoch, train (solid) and validation (dashed).

    Parameters
    ----------
    history : History or dict of lists
        Needs ``epoch``, ``train_elbo``, ``train_rec``, ``train_kl``; the
        ``valid_*`` curves are drawn where present and not ``None``.

    Notes
    -----
    ELBO = rec - KL, per datapoint in nats. The train values are averages over
    the epoch while the parameters move; the validation values are measured at
    the epoch's end, so early on the validation curve can lie above the train one.
    """
    cols = history.columns if hasattr(history, "columns") else history
    for key in ("epoch", "train_elbo", "train_rec", "train_kl"):
        if key not in cols:
            raise ValueError(f"history must have a {key!r} column; got {sorted(cols)}")
    epoch = np.asarray(cols["epoch"], dtype=float)
    fig = Figure(figsize=(11, 3.6))
    panels = [("elbo", "ELBO", "ELBO (nats per datapoint)"),
              ("rec", "reconstruction term", "E_q log p(x|z) (nats per datapoint)"),
              ("kl", "KL term", "KL(q(z|x) || p(z)) (nats per datapoint)")]
    for i, (key, name, label) in enumerate(panels):
        ax = fig.add_subplot(1, 3, i + 1)
        ax.plot(epoch, np.asarray(cols[f"train_{key}"], dtype=float), "-o", ms=3, color="C0",
                label="train (mean over the epoch)")
        valid = cols.get(f"valid_{key}")
        if valid is not None and any(v is not None for v in valid):
            ax.plot(epoch, np.array([np.nan if v is None else v for v in valid], dtype=float),
                    "--s", ms=3, color="C1", label="validation (at the epoch's end)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    handles, labels = fig.axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)   # one legend for all panels
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return _save(fig, path)


def latent_scatter(z, labels=None, path=None, title="2-D latent codes"):
    """Scatter of 2-D latent codes (e.g. encoder means), coloured by class label.

    `title` should say which model and which codes, e.g. ``"VAE, K = 2:
    posterior means of the test images"``.

    Parameters
    ----------
    z : ndarray of shape (N, 2)
    labels : ndarray of shape (N,), optional
        Integer class labels; one colour each, with a legend.
    """
    z = check_matrix(z, "z")
    if z.shape[1] != 2:
        raise ValueError(f"z must have shape (N, 2) for a scatter; got {z.shape}")
    fig = Figure(figsize=(5.5, 5))
    ax = fig.add_subplot()
    if labels is None:
        ax.scatter(z[:, 0], z[:, 1], s=4, alpha=0.6)
    else:
        labels = np.asarray(labels)
        if labels.shape != (z.shape[0],):
            raise ValueError(f"labels must have shape ({z.shape[0]},) to match z; got {labels.shape}")
        for k, lab in enumerate(np.unique(labels)):
            sel = labels == lab
            ax.scatter(z[sel, 0], z[sel, 1], s=4, alpha=0.6, color=f"C{k % 10}", label=str(lab))
        ax.legend(markerscale=3, fontsize="small", loc="best")
    ax.set_xlabel("z_1")
    ax.set_ylabel("z_2")
    ax.set_title(title)
    ax.set_aspect("equal", adjustable="datalim")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def manifold_z(n=15):
    r"""The z grid of a 2-D latent manifold plot: Gaussian quantiles of evenly spaced probabilities.

    Returns
    -------
    z : ndarray of shape (n*n, 2)
        Row-major: row i of the picture has :math:`z_2` = ``q[n-1-i]`` (so
        :math:`z_2` grows upwards), column j has :math:`z_1` = ``q[j]``.
    q : ndarray of shape (n,)
        :math:`q_i = \Phi^{-1}\big((i + \tfrac12)/n\big)`.

    Notes
    -----
    Kingma & Welling 2014 (*Auto-encoding variational Bayes*, fig. 4) map a
    uniform grid on the unit square through the inverse Gaussian CDF, so equal
    areas of the picture hold equal prior mass. Midpoints
    :math:`(i + \frac12)/n` avoid :math:`\Phi^{-1}(0) = -\infty`.
    """
    n = check_int(n, "n", 2)
    q = ndtri((np.arange(n) + 0.5) / n)                        # (n,) Phi^{-1}
    z2, z1 = np.meshgrid(q[::-1], q, indexing="ij")            # (n, n) each
    return np.stack([z1.ravel(), z2.ravel()], axis=1), q       # (n*n, 2)


def manifold(images, n=None, path=None, model=None):
    """Decoded images of the :func:`manifold_z` grid, as an n x n picture.

    Parameters
    ----------
    images : ndarray of shape (n*n, D)
        ``model.decode(manifold_z(n)[0])``.
    n : int, optional
        Grid side; default ``sqrt(len(images))``.
    model : str, optional
        Which model, heading the title.
    """
    images = check_matrix(images, "images")
    if n is None:
        n = image_side(images.shape[0], "images (n*n rows for the manifold)")
    if images.shape[0] != n * n:
        raise ValueError(f"images must have n*n = {n * n} rows; got {images.shape[0]}")
    _, q = manifold_z(n)
    side = image_side(images.shape[1])
    fig = Figure(figsize=(0.5 * n + 1, 0.5 * n + 1))
    ax = fig.add_subplot()
    title = "decoder mean on a grid of Gaussian quantiles"
    _show_images(ax, images, n, title if model is None else f"{model}:\n{title}")
    # Label a few tick positions with their z values (the mosaic has 1-pixel gaps).
    ax.set_axis_on()
    centers = (np.arange(n) * (side + 1) + side / 2 - 0.5)
    ticks = np.unique(np.linspace(0, n - 1, 5).round().astype(int))
    ax.set_xticks(centers[ticks], [f"{q[t]:.2f}" for t in ticks])
    ax.set_yticks(centers[ticks], [f"{q[::-1][t]:.2f}" for t in ticks])
    ax.set_xlabel("z_1")
    ax.set_ylabel("z_2")
    for spine in ax.spines.values():
        spine.set_visible(False)
    return _save(fig, path)


def loglik_vs_latent(results, path=None, ylabel="held-out log p(x) (nats per image)", elbos=None, k=None,
                     title="held-out log-likelihood against latent size"):
    """One curve per model: log-likelihood against latent size K (log₂ axis), ELBOs dashed beside.

    Parameters
    ----------
    results : dict[str, tuple(array_like, array_like)]
        ``name -> (latent_sizes, logliks)``, e.g. ``{"VAE": ([2, 5, 10], [...]),
        "pPCA": (...)}``; each pair of equal length.
    elbos : dict[str, tuple(array_like, array_like)], optional
        The same for the ELBO, drawn dashed in the model's colour.
    k : int, optional
        Importance samples behind the VAEs' values; noted on the figure, as
        those are estimates (lower bounds that tighten with k), not exact.
    """
    if not isinstance(results, dict) or not results:
        raise ValueError("results must be a non-empty dict of name -> (latent_sizes, logliks)")
    fig = Figure(figsize=(6, 4.4))
    ax = fig.add_subplot()
    for i, (name, pair) in enumerate(results.items()):
        sizes, ll = _curve(pair, f"results[{name!r}]")
        ax.plot(sizes, ll, "-o", ms=4, color=f"C{i}", label=f"{name}: log p(x)")
        if elbos is not None and name in elbos:
            sizes_e, elbo = _curve(elbos[name], f"elbos[{name!r}]")
            ax.plot(sizes_e, elbo, "--", marker="x", ms=4, color=f"C{i}", alpha=0.8, label=f"{name}: ELBO")
    ax.set_xscale("log", base=2)
    all_sizes = np.unique(np.concatenate([_curve(p, "results")[0] for p in results.values()]))
    ax.set_xticks(all_sizes, [f"{s:g}" for s in all_sizes])
    ax.set_xlabel("latent size K (log₂ scale)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if k is not None:
        ax.annotate(f"VAE log p(x): importance-sampled estimate, k = {k} samples", (0.01, 0.01),
                    xycoords="axes fraction", fontsize=8, color="0.3")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))   # beside the axes: the curves fill them
    return _save(fig, path)


def _curve(pair, name):
    """(sizes, values) of one curve as sorted float arrays of equal length."""
    try:
        sizes, values = pair
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (latent_sizes, logliks); got {pair!r}") from None
    sizes = check_array(sizes, f"{name} latent sizes", ndim=1)
    values = check_array(values, f"{name} log-likelihoods", ndim=1)
    if sizes.shape != values.shape:
        raise ValueError(f"{name}: {sizes.size} latent sizes but {values.size} log-likelihoods")
    order = np.argsort(sizes)
    return sizes[order], values[order]
