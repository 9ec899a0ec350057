r"""Minibatch training of a VAE: the loop, KL warm-up, free bits, history, checkpoints.

:func:`fit` trains any model with the VAE interface (``params``,
``loss_and_grads``, ``last_terms``, ``elbo``, ``encode``, ``save``) by
stochastic gradient ascent on the ELBO, and returns a :class:`History` of
per-epoch numbers.

The minibatch estimator (lecture 000, *VAE*, the slide before "Major assumption")
-------------------------------------------------------------------------------
The full-data objective is :math:`\mathcal L(D) = \sum_{i=1}^N \mathcal L(x_i)`.
For a batch :math:`B` of :math:`M` points drawn uniformly without replacement,

.. math:: \hat{\mathcal L}(B) = \frac{N}{M} \sum_{x\in B} \mathcal L(x)

is unbiased: each :math:`x_i` lands in :math:`B` with probability :math:`M/N`, so
:math:`\mathbb E\big[\sum_{x\in B}\mathcal L(x)\big] = \frac{M}{N}\mathcal L(D)`
and the factor :math:`N/M` cancels it. The slide prints :math:`M/N`, which
would estimate :math:`(M/N)^2\,\mathcal L(D)` instead. Here each epoch draws a
random permutation and cuts it into batches, so every batch is such a uniform
draw. The loss actually minimised is the model's negative *mean* batch ELBO,
:math:`-\frac1M\sum_{x\in B}\mathcal L(x) = -\frac1N\hat{\mathcal L}(B)`: the
constant :math:`1/N` only rescales the gradient, which the learning rate
absorbs (and Adam's update is invariant to it, up to its :math:`\epsilon`).
The last batch of an epoch may be smaller; it is still a mean, so it gets one
ordinary step.

KL warm-up and free bits (lecture 002, *VAE challenges: optimization issues*)
-------------------------------------------------------------------------------
Early in training the decoder is weak and the cheapest way to raise the ELBO
is :math:`q(z|x) = p(z)`, a stable state the model may never leave. Two
remedies are passed through:

* **KL warm-up** (Bowman et al. 2015): the loss uses
  :math:`-(\text{rec} - \beta_t\,\mathrm{KL})` with :math:`\beta_t` rising
  linearly per optimisation step, see :func:`kl_weight`.
* **Free bits** (Kingma et al. 2016, *Improved variational inference with
  inverse autoregressive flow*): the model does not penalise the
  batch-mean KL of a latent dimension below ``free_bits`` nats; ``fit`` only
  passes the value on to ``model.loss_and_grads``.

Both change the *objective*, not what is reported: the train ELBO, rec and KL in
the history come from ``model.last_terms`` and are the true per-datapoint ELBO
terms, so epochs with different :math:`\beta` are comparable.

Divergence
----------
A NaN or infinite loss (or gradient, or validation ELBO) raises
``FloatingPointError`` naming the epoch and batch and listing what to try. It is
not a ``ValueError`` because the inputs were valid; the numbers went wrong. The
checkpoint is written only at the end of an epoch whose numbers are all
finite, so the file on disk is always the last good model.

Resuming
--------
The checkpoint of a run holds, beside the parameters, everything the rest of
the run depends on, so ``fit(..., resume=True)`` continues a killed run to
exactly the parameters an uninterrupted run would have reached
(``numvae.resume``). The per-epoch record is a :class:`~numvae.history.History`.
"""

import json
import math
import time

import numpy as np

from numvae.checks import check_choice, check_data, check_int, check_labels, check_positive
from numvae.data import binarize as _binarize
from numvae.history import History
from numvae.io import check_output_file
from numvae.objectives import ELBO, kl_weight  # noqa: F401 (kl_weight: still numvae.train.kl_weight)
from numvae.optim import OPTIMIZERS, Optimizer
from numvae.progress import Progress
from numvae.resume import fingerprint, read_run, restore_run, run_settings, save_run, write_history

# How many validation rows go through the model at once: bounds memory for
# large validation sets (10,000 x 784 Fashion-MNIST) without changing the result.
EVAL_BATCH = 1000
# Rows of the training data used for the active-unit count when there is no
# validation set: the variance of 1000 encoder means is accurate enough to
# compare with the 0.01 threshold.
ACTIVE_UNITS_ROWS = 1000
# Burda et al. 2015 (Importance weighted autoencoders): unit u is active if Var_x E_q[z_u | x] > 0.01.
ACTIVE_THRESHOLD = 0.01


def _labelled(model, y, rows):
    """`model` itself, or for labels `y` the conditional model with the labels of `rows` bound (``given``)."""
    return model if y is None else model.given(y[rows])


def _evaluate(model, X, seed_seq, y=None):
    """Mean ELBO, rec and KL of `X` (labelled `y` for a conditional model) with noise from a fresh generator on `seed_seq`.

    A fresh generator each call means the same eps every epoch (common random
    numbers), so epoch-to-epoch changes are the model's, not the noise's.
    """
    rng = np.random.default_rng(seed_seq)
    totals = np.zeros(3)
    for start in range(0, X.shape[0], EVAL_BATCH):
        rows = slice(start, start + EVAL_BATCH)
        elbo, rec, kl = _labelled(model, y, rows).elbo(X[rows], rng=rng)
        totals += [np.sum(elbo), np.sum(rec), np.sum(kl)]
    return totals / X.shape[0]


def active_units(model, X, threshold=ACTIVE_THRESHOLD, y=None):
    r"""Number of active latent units (Burda et al. 2015, *Importance weighted autoencoders*).

    .. math:: A_u = \mathrm{Var}_{x}\big(\mathbb E_{q(z|x)}[z_u]\big) > 0.01

    :math:`\mathbb E_q[z_u|x]` is the encoder mean :math:`\mu_u(x)`; the
    variance is over the rows of `X`. A unit whose mean ignores the input
    carries no information about it, whatever its KL. `y`: the labels of
    `X`, for a conditional model (whose means are :math:`\mu_u(x, y)`).

    Returns
    -------
    count : int
    variances : ndarray of shape (K,)
    """
    mus = [_labelled(model, y, slice(s, s + EVAL_BATCH)).encode(X[s:s + EVAL_BATCH])[0]
           for s in range(0, X.shape[0], EVAL_BATCH)]
    var = np.var(np.concatenate(mus, axis=0), axis=0)  # (K,)
    return int(np.sum(var > threshold)), var


def train_step(model, opt, xb, rng, objective=None):
    """One optimisation step on the batch `xb`: the objective's loss and gradient, a finiteness check, the update.

    :func:`fit` runs this for every batch (with the objective of that step:
    ``objective.at_step``), and ``numvae bench`` times it. `objective`
    defaults to ``ELBO()``.

    Returns
    -------
    loss : float
    problem : str or None
        None, or what was not finite (then the parameters were not updated).
    """
    loss, grads = (objective or ELBO()).loss_and_grads(model, xb, rng=rng)
    if not np.isfinite(loss):
        return loss, f"loss = {loss}"
    bad = opt.non_finite(grads)
    if bad:
        return loss, f"non-finite gradient of {bad}"
    opt.step(grads)
    return loss, None


def _divergence(epoch, epochs, batch, n_batches, what, lr, checkpoint, last_saved):
    where = f"epoch {epoch} of {epochs}, batch {batch} of {n_batches}" if batch else f"epoch {epoch} of {epochs}"
    saved = (f"The checkpoint {checkpoint} still holds epoch {last_saved}, the last good one. "
             if checkpoint is not None and last_saved else "")
    return FloatingPointError(
        f"training diverged at {where}: {what}. {saved}"
        f"A log-variance that ran away is the usual cause: exp(logvar) overflows float32 "
        f"past 88 and float64 past 709. Try: a lower learning rate (lr={lr:g}); KL warm-up "
        "or free bits; for a Gaussian decoder, a fixed variance (decoder_var='fixed'), since "
        "a learned one shrinks without bound on constant pixels; float64; checking that the "
        "data lie in the decoder's range ([0, 1] for Bernoulli decoders).")


def fit(model, X, X_valid=None, epochs=10, batch_size=100, optimizer="adam", lr=1e-3,
        kl_warmup_epochs=0, free_bits=0.0, binarize=False, seed=0, progress=True,
        checkpoint=None, n_samples=1, resume=False, run_info=None, objective=None, y=None, y_valid=None):
    r"""Train `model` on the rows of `X` by minibatch gradient descent on an objective's loss (the ELBO's by default).

    Parameters
    ----------
    model : VAE
        Anything with ``x_dim``, ``dtype``, ``params``, ``config``,
        ``loss_and_grads``, ``last_terms``, ``elbo`` and ``encode`` like
        :class:`numvae.vae.VAE`. Its parameters are updated in place.
    X : ndarray of shape (N, x_dim)
        Training data; cast once to the model's dtype. In [0, 1] for a
        Bernoulli or continuous Bernoulli decoder (checked before training).
    X_valid : ndarray of shape (N_valid, x_dim), optional
        Held-out data, evaluated at the end of every epoch and used for the
        active-unit count (else up to 1000 rows of `X` are). Checked like `X`,
        under its own name, before training.
    epochs : int >= 0
        Total number of epochs of the run (a resumed run counts the epochs
        already done).
    batch_size : int >= 1
        M; the last batch of an epoch holds the ``N mod M`` leftover rows.
    optimizer : {"adam", "sgd"} or Optimizer
        A name (the class ``model.optimizers[name]``, built with `lr` and
        default settings) or an optimizer already built on ``model.params`` (then
        `lr` is ignored), e.g.
        ``SGD(model.params, lr=0.01, momentum=0.9)``. An optimizer holding
        other arrays (another model's, or copies) is refused: it would train
        them and leave `model` as it was.
    lr : float > 0
    kl_warmup_epochs : float >= 0
        Length of the linear KL warm-up in epochs; 0 disables it. :math:`\beta`
        changes every step (:func:`~numvae.objectives.kl_weight`). With
        `free_bits` and `n_samples`, shorthand for
        ``objective=ELBO(free_bits=..., n_samples=..., warmup_epochs=...)``:
        refused beside another `objective` (IWAE has no KL term to warm up).
    free_bits : float >= 0
        Nats per latent dimension (the ELBO's).
    binarize : bool
        Dynamic binarization (Salakhutdinov & Murray 2008): every batch is
        replaced by a fresh Bernoulli sample :math:`x' \sim \mathrm{Bern}(x)`
        each time it is used, so the model sees a new binary dataset every
        epoch. `X` must lie in [0, 1]. The validation set is binarized once,
        with a fixed seed, so its ELBO is comparable across epochs.
    seed : int >= 0 or None
        Seeds ``np.random.default_rng(seed)``, the one generator for shuffles,
        binarization and the reparameterization noise; evaluation draws from
        independent children of the same seed. Same seed, same model, same
        history (except the timings). None: fresh entropy, recorded in the
        checkpoint so that the run can still be resumed.
    progress : bool or Progress-like
        Print progress with an ETA to stderr (:class:`numvae.progress.Progress`):
        a status per batch, rewritten in place on a terminal and a whole line
        every few seconds in a log, and a whole line per epoch. An object with
        the methods ``update(done, message)`` and ``line(message, done)`` gets
        them instead, ``done`` counting this call's batches (``numvae.compare``
        passes one that moves its own progress).
    checkpoint : str or Path, optional
        The run's file. After every epoch whose numbers are finite it receives
        the parameters and the run's state (see Notes), and ``history.csv``
        and ``history.json`` beside it receive the history so far; each is
        written atomically (``numvae.io``), the checkpoint first. A diverging
        epoch never replaces the last good file, nor does a crash mid-write.
        ``VAE.load`` reads it like any checkpoint.
    n_samples : int >= 1
        Monte Carlo samples L of z per datapoint in the ELBO.
    resume : bool
        Continue the run saved in `checkpoint` (killed, interrupted, or to be
        trained for more epochs): the parameters, the optimizer state, the
        generator and the history are restored from it, and training goes on
        from the epoch after the one it holds. The result is bitwise the
        model an uninterrupted run would have produced. The file must come
        from a run on the same data with the same settings (checked).
    run_info : dict, optional
        JSON-serialisable note kept in the checkpoint's training record under
        ``"info"``, never checked: ``numvae train`` keeps its ``--data`` and
        ``--epochs`` there, so that ``--resume DIR`` alone can continue the run.
    objective : object of ``numvae.objectives``, optional
        What to minimise: ``ELBO(...)`` (the default, from the three
        shorthands above), ``IWAE(k)``, ``IWAE(k, estimator="dreg")``, or
        ``SquaredError()`` for an ``Autoencoder``. Recorded in the checkpoint
        and checked on resume. The history's ELBO columns are the ELBO's terms
        whatever the objective (``None`` for an autoencoder, which has none).
    y : ndarray of shape (N,), int, optional
        The class labels of the rows of `X`, for a conditional model
        (``numvae.conditional.ConditionalVAE``: required there, refused
        elsewhere). Every batch takes the labels of its rows (the model's
        ``given(y_batch)`` is what the objective sees); their fingerprint is
        checked on resume.
    y_valid : ndarray of shape (N_valid,), int, optional
        The labels of `X_valid`, needed with `y` and `X_valid`.

    Returns
    -------
    History
        Every epoch of the run, the resumed ones included.

    Raises
    ------
    ValueError
        Bad arguments, naming the argument; a checkpoint to resume that holds
        another run (different data or settings, naming which) or no run state.
    FileNotFoundError
        ``resume=True`` and `checkpoint` does not exist.
    OSError
        The folder of `checkpoint` cannot be written (checked before training).
    FloatingPointError
        A NaN or infinite loss, gradient or validation ELBO; the message names
        the epoch and batch and what to try.

    Notes
    -----
    The run's state is everything the rest of the run depends on: the epoch
    reached, the optimizer's state arrays and step count
    (:meth:`numvae.optim.Optimizer.state`: Adam's :math:`m, v, t`, SGD's
    velocity), the bit generator state of the training generator, the root
    seed's entropy (the evaluation generators are fresh children of it each
    epoch, so they need nothing more), the history, and fingerprints of the
    data (SHA-256 of `X` and `X_valid` as trained on) and of the settings
    (the model's config, the optimizer's hyper-parameters, `batch_size`,
    the objective's settings, `binarize`). A run is only
    resumed at an epoch boundary: a run killed inside an epoch repeats that
    epoch from its start, with the same shuffle and the same noise.
    """
    X, X_valid = _checked_data(model, X, X_valid, binarize)
    y, y_valid = _checked_labels(model, X, X_valid, y, y_valid)
    epochs = check_int(epochs, "epochs", 0)
    batch_size = check_int(batch_size, "batch_size", 1)
    objective = _objective(model, objective, kl_warmup_epochs, free_bits, n_samples)
    if seed is not None:
        seed = check_int(seed, "seed", 0)
    opt = _optimizer(model, optimizer, lr)
    checkpoint, run_info = _checked_run_files(checkpoint, resume, run_info)
    run = read_run(checkpoint, model) if resume else None

    # One root seed: the training generator is default_rng(seed) itself; the
    # evaluation streams are spawned children, independent of it, so evaluating
    # (or not) never changes the training trajectory. seed=None draws the
    # root's entropy once; the checkpoint records it.
    if seed is None and run is not None:
        seed = run["settings"]["seed_entropy"]
    root = np.random.SeedSequence(seed)
    rng = np.random.default_rng(root)
    eval_noise, eval_data = root.spawn(2)

    history, start_epoch = History(), 0
    if checkpoint is not None:
        settings = run_settings(model, opt, batch_size, objective, binarize, root.entropy)
        data = {"X": fingerprint(X), "X_valid": None if X_valid is None else fingerprint(X_valid)}
        if y is not None:   # a conditional run's labels are part of its data
            data.update(y=fingerprint(y), y_valid=None if y_valid is None else fingerprint(y_valid))
    if run is not None:
        start_epoch, history = restore_run(run, checkpoint, model, opt, rng, settings, data, epochs)
        write_history(history, checkpoint)  # in case the kill fell between the checkpoint and the history

    N = X.shape[0]
    n_batches = math.ceil(N / batch_size)
    X_eval, y_eval = _evaluation_rows(model, X, X_valid, binarize, np.random.default_rng(eval_data), y, y_valid)
    step, last_saved = start_epoch * n_batches, start_epoch
    tracker = progress if hasattr(progress, "line") else Progress((epochs - start_epoch) * n_batches, "train",
                                                                  quiet=not progress)
    for epoch in range(start_epoch + 1, epochs + 1):
        epoch_start, train_time = time.perf_counter(), 0.0
        sums = np.zeros(3)  # loss * batch size, rec, kl
        order = rng.permutation(N)                                      # a uniform draw of every batch
        for b in range(n_batches):
            t0 = time.perf_counter()
            rows = order[b * batch_size:(b + 1) * batch_size]
            xb = X[rows]                                                # (M, D)
            if binarize:
                xb = _binarize(xb, rng).astype(model.dtype)
            step_objective = objective.at_step(step, n_batches)                # the ELBO's β of a warm-up
            loss, problem = train_step(_labelled(model, y, rows), opt, xb, rng, step_objective)
            if problem is not None:
                raise _divergence(epoch, epochs, b + 1, n_batches, problem, opt.lr, checkpoint, last_saved)
            step += 1
            terms = model.last_terms
            sums += [loss * xb.shape[0], np.sum(terms.get("rec", np.nan)), np.sum(terms.get("kl", np.nan))]
            train_time += time.perf_counter() - t0
            tracker.update((epoch - 1 - start_epoch) * n_batches + b + 1,   # batches of this call
                           f"epoch {epoch}/{epochs}  batch {b + 1}/{n_batches}  loss {loss:.2f}"
                           + _beta_text(getattr(step_objective, "beta", None)))

        def fail(what, batch=0):
            return _divergence(epoch, epochs, batch, n_batches, what, opt.lr, checkpoint, last_saved)
        beta = getattr(step_objective, "beta", None)                    # at the epoch's last step; None for IWAE
        row = _epoch_row(model, epoch, beta, sums / N, X_eval, X_valid is not None, eval_noise, fail, n_batches,
                         y_eval)
        row.update(seconds=time.perf_counter() - epoch_start, samples_per_s=N / max(train_time, 1e-12))
        history.append(row)
        if checkpoint is not None:
            save_run(checkpoint, model, opt, rng, epoch, settings, data, history, run_info)
            last_saved = epoch
        tracker.line(_epoch_line(row, epochs), done=(epoch - start_epoch) * n_batches)
    return history


# --- fit's bookkeeping: its arguments, the evaluation rows, the row of an epoch --------

def _checked_data(model, X, X_valid, binarize):
    """`X` and `X_valid` as matrices of the model's dtype in its likelihood's support, or ``ValueError``."""
    likelihood = getattr(model, "likelihood", None)   # an autoencoder has none: any finite data
    X = check_data(X, "X", model.x_dim, model.dtype, likelihood, binarize)
    if X_valid is not None:
        X_valid = check_data(X_valid, "X_valid", model.x_dim, model.dtype, likelihood, binarize)
    return X, X_valid


def _checked_labels(model, X, X_valid, y, y_valid):
    """`y` and `y_valid` as label vectors for a conditional model (one per row), both None for any other; else ``ValueError``."""
    conditional = hasattr(model, "given")
    if y is None:
        if conditional:
            raise ValueError(f"y must hold the labels of X for {type(model).__name__} (a conditional model); got None")
        if y_valid is not None:
            raise ValueError("y_valid is the labels of X_valid for a conditional model, given with y; got y=None")
        return None, None
    if not conditional:
        raise ValueError(f"y is for a conditional model (one with given(y)); {type(model).__name__} takes no labels")
    y = check_labels(y, "y", model.n_classes, X.shape[0])
    if X_valid is None:
        if y_valid is not None:
            raise ValueError("y_valid is the labels of X_valid; got y_valid without X_valid")
        return y, None
    if y_valid is None:
        raise ValueError("y_valid must hold the labels of X_valid for a conditional model; got None")
    return y, check_labels(y_valid, "y_valid", model.n_classes, X_valid.shape[0])


def _objective(model, objective, kl_warmup_epochs, free_bits, n_samples):
    """The objective `fit` minimises: `objective`, or the ELBO its three shorthands describe, checked against `model`."""
    if objective is None:
        check_positive(kl_warmup_epochs, "kl_warmup_epochs", strict=False)   # under fit's names
        check_positive(free_bits, "free_bits", strict=False)
        check_int(n_samples, "n_samples", 1)
        objective = ELBO(free_bits=free_bits, n_samples=n_samples, warmup_epochs=kl_warmup_epochs)
        objective.check_model(model)
        return objective
    shorthands = {"kl_warmup_epochs": (kl_warmup_epochs, 0), "free_bits": (free_bits, 0), "n_samples": (n_samples, 1)}
    given = {k: v for k, (v, default) in shorthands.items() if v != default}
    if given:
        where = ("the ELBO's: give them to objective=ELBO(...)" if isinstance(objective, ELBO)
                 else f"the ELBO's; {objective!r} has no KL term to weigh, warm up or free")
        raise ValueError(f"{', '.join(given)} belong to {where}; got {given} beside objective={objective!r}")
    if not hasattr(objective, "loss_and_grads") or not hasattr(objective, "check_model"):
        raise ValueError(f"objective must be one of numvae.objectives' (ELBO, IWAE, SquaredError); got {objective!r}")
    objective.check_model(model)
    return objective


def _optimizer(model, optimizer, lr):
    """The optimizer `fit` steps: a name built on the model's parameters, or one already built on them."""
    if isinstance(optimizer, Optimizer):
        _check_optimizer(optimizer, model)
        return optimizer
    check_choice(optimizer, "optimizer", OPTIMIZERS)
    # The model's own optimizer classes (numvae.optim's, or the fast wing's for VAE(fast=True)).
    return getattr(model, "optimizers", OPTIMIZERS)[optimizer](model.params, lr=lr)  # validates lr


def _checked_run_files(checkpoint, resume, run_info):
    """`checkpoint` as a writable path (or None) and `run_info` as plain JSON, checked before the first epoch."""
    if not isinstance(resume, (bool, np.bool_)):
        raise ValueError(f"resume must be True or False; got {resume!r}")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs the checkpoint of the run to continue; got checkpoint=None")
    if checkpoint is not None:
        checkpoint = check_output_file(checkpoint, "checkpoint")
    if run_info is not None:
        try:
            run_info = json.loads(json.dumps(run_info))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"run_info must be JSON-serialisable; got {type(run_info).__name__} ({exc})") from None
    return checkpoint, run_info


def _evaluation_rows(model, X, X_valid, binarize, data_rng, y=None, y_valid=None):
    """The rows evaluated after every epoch and their labels (None without): `X_valid`, or a fixed sample of `X`; binarized once if asked."""
    if X_valid is not None:
        X_eval, y_eval = X_valid, y_valid
    else:
        rows = np.sort(data_rng.permutation(X.shape[0])[:ACTIVE_UNITS_ROWS])
        X_eval, y_eval = X[rows], None if y is None else y[rows]
    return (_binarize(X_eval, data_rng).astype(model.dtype) if binarize else X_eval), y_eval


def _epoch_row(model, epoch, beta, means, X_eval, validate, eval_noise, fail, n_batches, y_eval=None):
    """The epoch's row of the history but its timings: the training means, the validation ELBO, the active units.

    `fail(what, batch)` is the divergence to raise if a parameter (after the
    epoch's last batch) or the validation ELBO (batch 0: at the epoch's end)
    is not finite.
    """
    loss_mean, rec_mean, kl_mean = means
    # Every batch loss and gradient was finite; make sure the last step did
    # not push a parameter to inf either, before evaluating and saving.
    bad = [k for k, p in model.params.items() if not np.all(np.isfinite(p))]
    if bad:
        raise fail(f"non-finite parameters {bad}", n_batches)
    v_elbo = v_rec = v_kl = None
    has_elbo = hasattr(model, "elbo")          # an autoencoder has no ELBO, no posterior, no active units
    if validate and has_elbo:
        try:
            v_elbo, v_rec, v_kl = (float(v) for v in _evaluate(model, X_eval, eval_noise, y_eval))
            problem = None if np.isfinite(v_elbo) else f"validation ELBO = {v_elbo}"
        except FloatingPointError as exc:  # the model's own overflow check
            problem = f"validation ELBO: {exc}"
        if problem is not None:
            raise fail(problem)

    def number(v):
        return float(v) if has_elbo else None
    return {"epoch": epoch, "beta": None if beta is None else float(beta), "train_loss": float(loss_mean),
            "train_elbo": number(rec_mean - kl_mean), "train_rec": number(rec_mean), "train_kl": number(kl_mean),
            "valid_elbo": v_elbo, "valid_rec": v_rec, "valid_kl": v_kl,
            "active_units": active_units(model, X_eval, y=y_eval)[0] if has_elbo else None}


def _beta_text(beta):
    """``"  beta 0.250"`` for a KL weight, ``""`` for None (an objective without one)."""
    return "" if beta is None else f"  beta {beta:.3f}"


def _epoch_line(row, epochs):
    """The progress line that closes an epoch."""
    if row["train_elbo"] is None:   # an autoencoder: its loss is all there is
        terms = f"train loss {row['train_loss']:.3f}"
    else:
        valid = f"  valid ELBO {row['valid_elbo']:.2f}" if row["valid_elbo"] is not None else ""
        terms = (f"train ELBO {row['train_elbo']:.2f} (rec {row['train_rec']:.2f}, "
                 f"KL {row['train_kl']:.2f}){valid}  AU {row['active_units']}")
    return (f"epoch {row['epoch']}/{epochs}  {terms}{_beta_text(row['beta'])}  "
            f"{row['seconds']:.1f} s ({row['samples_per_s']:.0f} samples/s)")


# --- checks before training -------------------------------------------------------

def _same_array(a, b):
    """Whether `a` and `b` are the same memory seen the same way (the same array, or an exact view of it)."""
    return a is b or (isinstance(a, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
                      and a.strides == b.strides
                      and a.__array_interface__["data"][0] == b.__array_interface__["data"][0])


def _check_optimizer(opt, model):
    """Raise ``ValueError`` naming `optimizer` unless it updates the model's own arrays."""
    theirs = {k: tuple(np.shape(v)) for k, v in opt.params.items()}
    mine = {k: tuple(v.shape) for k, v in model.params.items()}
    if theirs != mine:
        differ = sorted(k for k in set(theirs) | set(mine) if theirs.get(k) != mine.get(k))
        shown = ", ".join(f"{k}: optimizer {theirs.get(k)}, model {mine.get(k)}" for k in differ[:4])
        raise ValueError(f"optimizer was built for another architecture: its parameters differ from the "
                         f"model's ({shown}{', ...' if len(differ) > 4 else ''}); build it on model.params")
    foreign = [k for k in mine if not _same_array(opt.params[k], model.params[k])]
    if foreign:
        raise ValueError(f"optimizer must be built on this model's own arrays (model.params); its arrays "
                         f"{foreign[:3]}{'...' if len(foreign) > 3 else ''} are other arrays of the same "
                         "shapes (another model's, or copies), so training would update them and leave "
                         "this model unchanged")
