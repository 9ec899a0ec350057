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
the run depends on (the optimizer's state, the generator's state, the epoch,
the history; see :func:`fit`), so ``fit(..., resume=True)`` continues a killed
run to exactly the parameters an uninterrupted run would have reached: the
same shuffles, the same noise, the same Adam moments, bit for bit.
"""

import copy
import csv
import hashlib
import io as _io
import json
import math
import time

import numpy as np

from numvae.checks import check_choice, check_int, check_input_file, check_matrix, check_positive, check_unit_interval
from numvae.data import binarize as _binarize
from numvae.io import check_output_file, fill_params, load_checkpoint, save_checkpoint, write_text
from numvae.optim import OPTIMIZERS, Optimizer
from numvae.progress import Progress

# How many validation rows go through the model at once: bounds memory for
# large validation sets (10,000 x 784 Fashion-MNIST) without changing the result.
EVAL_BATCH = 1000
# Rows of the training data used for the active-unit count when there is no
# validation set: the variance of 1000 encoder means is accurate enough to
# compare with the 0.01 threshold.
ACTIVE_UNITS_ROWS = 1000
# Burda et al. 2015 (Importance weighted autoencoders): unit u is active if Var_x E_q[z_u | x] > 0.01.
ACTIVE_THRESHOLD = 0.01


def kl_weight(step, warmup_steps):
    r"""KL weight :math:`\beta` at optimisation step `step` (0-based) of a linear warm-up.

    Parameters
    ----------
    step : int
        Number of steps taken before this one.
    warmup_steps : int
        Length of the warm-up; 0 means no warm-up (:math:`\beta = 1` throughout).

    Returns
    -------
    float

    Notes
    -----
    .. math:: \beta_t = \min\!\left(1,\ \frac{t+1}{T}\right)

    (Bowman et al. 2015, *Generating sentences from a continuous space*,
    anneal the KL weight from 0 to 1.) Starting at :math:`1/T`
    rather than 0 means no step ignores the KL entirely, and the last warm-up
    step :math:`t = T-1` is the first with :math:`\beta = 1`.
    """
    if warmup_steps <= 0:
        return 1.0
    return min(1.0, (step + 1) / warmup_steps)


class History:
    """Per-epoch training record: a dict of equal-length lists, one per field.

    Fields (ELBOs, rec and KL are per datapoint, in nats; ELBO = rec - KL):

    ``epoch``           1, 2, ...
    ``beta``            KL weight at the epoch's last step
    ``train_loss``      mean of the minimised (annealed, free-bits) batch losses
    ``train_elbo``, ``train_rec``, ``train_kl``
                        means over the epoch's datapoints of the true ELBO terms
                        (parameters move during the epoch, as usual)
    ``valid_elbo``, ``valid_rec``, ``valid_kl``
                        means on the validation set at the epoch's end, with the
                        same noise every epoch; ``None`` without a validation set
    ``active_units``    number of latent units with Var_x E_q[z_u|x] > 0.01
    ``seconds``         wall time of the whole epoch (training and evaluation)
    ``samples_per_s``   training throughput: datapoints / time in training steps

    ``history["valid_elbo"]`` is a list; ``len(history)`` is the number of epochs.
    """

    FIELDS = ("epoch", "beta", "train_loss", "train_elbo", "train_rec", "train_kl",
              "valid_elbo", "valid_rec", "valid_kl", "active_units", "seconds", "samples_per_s")

    def __init__(self, columns=None):
        self.columns = {f: [] for f in self.FIELDS}
        if columns is not None:
            for f in self.FIELDS:
                self.columns[f] = list(columns[f])

    def append(self, row):
        """Add one epoch: `row` is a dict with every field of ``FIELDS`` (a ValueError names those missing)."""
        missing = set(self.FIELDS) - set(row)
        if missing:
            raise ValueError(f"row is missing fields {sorted(missing)}")
        for f in self.FIELDS:
            self.columns[f].append(row[f])

    def __getitem__(self, field):
        return self.columns[field]

    def __len__(self):
        return len(self.columns["epoch"])

    @property
    def last(self):
        """The last epoch's row as a dict (``{}`` before the first epoch)."""
        return {f: self.columns[f][-1] for f in self.FIELDS} if len(self) else {}

    def rows(self):
        """Rows as dicts, first epoch first."""
        return [{f: self.columns[f][i] for f in self.FIELDS} for i in range(len(self))]

    def to_dict(self):
        """``{field: [per-epoch values]}``, a copy (what :meth:`to_json` writes)."""
        return {f: list(v) for f, v in self.columns.items()}

    def to_csv(self, path):
        """Write a header line and one line per epoch, atomically. Missing values are empty cells."""
        buf = _io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self.FIELDS)
        for row in self.rows():
            writer.writerow(["" if row[f] is None else repr(row[f]) for f in self.FIELDS])
        write_text(path, buf.getvalue())

    def to_json(self, path):
        """Write ``{field: [per-epoch values]}`` atomically; missing values are ``null``."""
        write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def from_json(cls, path):
        """Read a history written by :meth:`to_json`.

        Raises ``FileNotFoundError`` or ``IsADirectoryError`` for a path that
        is not a file, and ``ValueError`` naming the file if it is not JSON
        (e.g. truncated), not an object of lists, lacks a field, or its
        columns have different lengths (ragged).
        """
        path = check_input_file(path, "path", "history file", "a .json file")
        try:
            columns = json.loads(path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"history file {path} is not valid JSON, perhaps truncated ({exc})") from None
        if not isinstance(columns, dict):
            raise ValueError(f"history file {path} must hold a JSON object of per-field lists; "
                             f"got {type(columns).__name__}")
        missing = set(cls.FIELDS) - set(columns)
        if missing:
            raise ValueError(f"history file {path} lacks fields {sorted(missing)}")
        lengths = {f: len(columns[f]) if isinstance(columns[f], list) else None for f in cls.FIELDS}
        if None in lengths.values() or len(set(lengths.values())) > 1:
            raise ValueError(f"history file {path} must hold one list per field, all of the same length; "
                             f"got lengths {lengths}")
        return cls(columns)

    def __repr__(self):
        return f"History({len(self)} epochs)"


def _evaluate(model, X, seed_seq):
    """Mean ELBO, rec and KL of `X` with noise from a fresh generator on `seed_seq`.

    A fresh generator each call means the same eps every epoch (common random
    numbers), so epoch-to-epoch changes are the model's, not the noise's.
    """
    rng = np.random.default_rng(seed_seq)
    totals = np.zeros(3)
    for start in range(0, X.shape[0], EVAL_BATCH):
        elbo, rec, kl = model.elbo(X[start:start + EVAL_BATCH], rng=rng)
        totals += [np.sum(elbo), np.sum(rec), np.sum(kl)]
    return totals / X.shape[0]


def active_units(model, X, threshold=ACTIVE_THRESHOLD):
    r"""Number of active latent units (Burda et al. 2015, *Importance weighted autoencoders*).

    .. math:: A_u = \mathrm{Var}_{x}\big(\mathbb E_{q(z|x)}[z_u]\big) > 0.01

    :math:`\mathbb E_q[z_u|x]` is the encoder mean :math:`\mu_u(x)`; the
    variance is over the rows of `X`. A unit whose mean ignores the input
    carries no information about it, whatever its KL.

    Returns
    -------
    count : int
    variances : ndarray of shape (K,)
    """
    mus = [model.encode(X[s:s + EVAL_BATCH])[0] for s in range(0, X.shape[0], EVAL_BATCH)]
    var = np.var(np.concatenate(mus, axis=0), axis=0)  # (K,)
    return int(np.sum(var > threshold)), var


def train_step(model, opt, xb, rng, beta=1.0, free_bits=0.0, n_samples=1):
    """One optimisation step on the batch `xb`: loss and gradient, a finiteness check, the update.

    :func:`fit` runs this for every batch, and ``numvae bench`` times it.

    Returns
    -------
    loss : float
    problem : str or None
        None, or what was not finite (then the parameters were not updated).
    """
    loss, grads = model.loss_and_grads(xb, rng=rng, n_samples=n_samples, beta=beta, free_bits=free_bits)
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
        checkpoint=None, n_samples=1, resume=False, run_info=None):
    r"""Train `model` on the rows of `X` by minibatch gradient ascent on the ELBO.

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
        changes every step (:func:`kl_weight`).
    free_bits : float >= 0
        Nats per latent dimension, passed to ``model.loss_and_grads``.
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
        Monte Carlo samples L of z per datapoint in the training loss.
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
    `kl_warmup_epochs`, `free_bits`, `binarize`, `n_samples`). A run is only
    resumed at an epoch boundary: a run killed inside an epoch repeats that
    epoch from its start, with the same shuffle and the same noise.
    """
    X = check_matrix(X, "X", n_features=model.x_dim, dtype=model.dtype)
    if X_valid is not None:
        X_valid = check_matrix(X_valid, "X_valid", n_features=model.x_dim, dtype=model.dtype)
    _check_support(model, X, "X")
    if X_valid is not None:
        _check_support(model, X_valid, "X_valid")
    epochs = check_int(epochs, "epochs", 0)
    batch_size = check_int(batch_size, "batch_size", 1)
    n_samples = check_int(n_samples, "n_samples", 1)
    check_positive(kl_warmup_epochs, "kl_warmup_epochs", strict=False)
    check_positive(free_bits, "free_bits", strict=False)
    if seed is not None:
        seed = check_int(seed, "seed", 0)
    if not isinstance(resume, (bool, np.bool_)):
        raise ValueError(f"resume must be True or False; got {resume!r}")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs the checkpoint of the run to continue; got checkpoint=None")
    if isinstance(optimizer, Optimizer):
        _check_optimizer(optimizer, model)
        opt = optimizer
    else:
        check_choice(optimizer, "optimizer", OPTIMIZERS)
        # The model's own optimizer classes (numvae.optim's, or the fast wing's for VAE(fast=True)).
        opt = getattr(model, "optimizers", OPTIMIZERS)[optimizer](model.params, lr=lr)  # validates lr
    if binarize:
        check_unit_interval(X, "X (binarize=True)")
        if X_valid is not None:
            check_unit_interval(X_valid, "X_valid (binarize=True)")
    if checkpoint is not None:
        checkpoint = check_output_file(checkpoint, "checkpoint")
    if run_info is not None:   # before the first epoch, not when the first checkpoint is written
        try:
            run_info = json.loads(json.dumps(run_info))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"run_info must be JSON-serialisable; got {type(run_info).__name__} ({exc})") from None
    run = _read_run(checkpoint, model) if resume else None

    # One root seed: the training generator is default_rng(seed) itself; the
    # evaluation streams are spawned children, independent of it, so evaluating
    # (or not) never changes the training trajectory. seed=None draws the
    # root's entropy once; the checkpoint records it.
    if seed is None and run is not None:
        seed = run["settings"]["seed_entropy"]
    root = np.random.SeedSequence(seed)
    rng = np.random.default_rng(root)
    eval_noise, eval_data = root.spawn(2)
    data_rng = np.random.default_rng(eval_data)

    history, start_epoch = History(), 0
    if checkpoint is not None:
        settings = _settings(model, opt, batch_size, kl_warmup_epochs, free_bits, binarize, n_samples,
                             root.entropy)
        data = {"X": _fingerprint(X), "X_valid": None if X_valid is None else _fingerprint(X_valid)}
    if run is not None:
        start_epoch, history = _restore_run(run, checkpoint, model, opt, rng, settings, data, epochs)
        _write_history(history, checkpoint)  # in case the kill fell between the checkpoint and the history

    N = X.shape[0]
    n_batches = math.ceil(N / batch_size)
    warmup_steps = math.ceil(kl_warmup_epochs * n_batches)
    if X_valid is not None:
        X_eval = X_valid
    else:
        X_eval = X[np.sort(data_rng.permutation(N)[:ACTIVE_UNITS_ROWS])]
    if binarize:
        X_eval = _binarize(X_eval, data_rng).astype(model.dtype)

    step = start_epoch * n_batches
    last_saved = start_epoch
    tracker = progress if hasattr(progress, "line") else Progress((epochs - start_epoch) * n_batches, "train",
                                                                  quiet=not progress)
    for epoch in range(start_epoch + 1, epochs + 1):
        epoch_start = time.perf_counter()
        train_time = 0.0
        sums = np.zeros(3)  # loss * batch size, rec, kl
        beta = 1.0
        order = rng.permutation(N)
        for b in range(n_batches):
            t0 = time.perf_counter()
            xb = X[order[b * batch_size:(b + 1) * batch_size]]  # (M, D)
            if binarize:
                xb = _binarize(xb, rng).astype(model.dtype)
            beta = kl_weight(step, warmup_steps)
            loss, problem = train_step(model, opt, xb, rng, beta, free_bits, n_samples)
            if problem is not None:
                raise _divergence(epoch, epochs, b + 1, n_batches, problem, opt.lr, checkpoint, last_saved)
            step += 1
            terms = model.last_terms
            sums += [loss * xb.shape[0], np.sum(terms["rec"]), np.sum(terms["kl"])]
            train_time += time.perf_counter() - t0
            tracker.update((epoch - 1 - start_epoch) * n_batches + b + 1,   # batches of this call
                           f"epoch {epoch}/{epochs}  batch {b + 1}/{n_batches}  loss {loss:.2f}  beta {beta:.3f}")

        loss_mean, rec_mean, kl_mean = sums / N
        # Every batch loss and gradient was finite; make sure the last step did
        # not push a parameter to inf either, before evaluating and saving.
        bad = [k for k, p in model.params.items() if not np.all(np.isfinite(p))]
        if bad:
            raise _divergence(epoch, epochs, n_batches, n_batches, f"non-finite parameters {bad}",
                              opt.lr, checkpoint, last_saved)
        if X_valid is not None:
            try:
                v_elbo, v_rec, v_kl = (float(v) for v in _evaluate(model, X_eval, eval_noise))
                problem = None if np.isfinite(v_elbo) else f"validation ELBO = {v_elbo}"
            except FloatingPointError as exc:  # the model's own overflow check
                problem = f"validation ELBO: {exc}"
            if problem is not None:
                raise _divergence(epoch, epochs, 0, n_batches, problem, opt.lr, checkpoint, last_saved)
        else:
            v_elbo = v_rec = v_kl = None
        n_active, _ = active_units(model, X_eval)

        seconds = time.perf_counter() - epoch_start
        history.append({
            "epoch": epoch, "beta": float(beta), "train_loss": float(loss_mean),
            "train_elbo": float(rec_mean - kl_mean), "train_rec": float(rec_mean), "train_kl": float(kl_mean),
            "valid_elbo": v_elbo, "valid_rec": v_rec, "valid_kl": v_kl,
            "active_units": n_active, "seconds": seconds, "samples_per_s": N / max(train_time, 1e-12),
        })
        if checkpoint is not None:
            _save_run(checkpoint, model, opt, rng, epoch, settings, data, history, run_info)
            last_saved = epoch
        valid = f"  valid ELBO {v_elbo:.2f}" if v_elbo is not None else ""
        tracker.line(f"epoch {epoch}/{epochs}  train ELBO {rec_mean - kl_mean:.2f} (rec {rec_mean:.2f}, "
                     f"KL {kl_mean:.2f}){valid}  AU {n_active}  beta {beta:.3f}  {seconds:.1f} s "
                     f"({N / max(train_time, 1e-12):.0f} samples/s)", done=(epoch - start_epoch) * n_batches)
    return history


# --- checks before training -------------------------------------------------------

def _check_support(model, X, name):
    """Data in [0, 1] for the decoders that need it, under the argument's own name, before any work."""
    config = getattr(model, "config", None) or {}
    decoder = config.get("decoder")
    if decoder in ("bernoulli", "continuous_bernoulli"):
        check_unit_interval(X, f"{name} (a {decoder} decoder needs data in [0, 1])")


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


# --- the run's state: saved after every epoch, restored to resume ---------------

HISTORY_FILES = ("history.csv", "history.json")


def _fingerprint(X):
    """SHA-256 of an array's shape, dtype and bytes: what a resumed run checks its data against."""
    h = hashlib.sha256(f"{X.shape} {X.dtype.str}".encode())
    h.update(np.ascontiguousarray(X).data)
    return h.hexdigest()


def _settings(model, opt, batch_size, kl_warmup_epochs, free_bits, binarize, n_samples, entropy):
    """Everything besides the data and `epochs` that the trajectory depends on, as plain JSON values."""
    record = {"model": type(model).__name__, "config": model.config, "optimizer": opt.settings(),
              "batch_size": batch_size, "kl_warmup_epochs": float(kl_warmup_epochs),
              "free_bits": float(free_bits), "binarize": bool(binarize), "n_samples": n_samples,
              "seed_entropy": int(entropy)}
    return json.loads(json.dumps(record))   # tuples -> lists, as they come back from the file


def _write_history(history, checkpoint):
    history.to_csv(checkpoint.parent / HISTORY_FILES[0])
    history.to_json(checkpoint.parent / HISTORY_FILES[1])


def _save_run(checkpoint, model, opt, rng, epoch, settings, data, history, info=None):
    """The checkpoint with the run's state, then the history files beside it; each atomically."""
    t, opt_arrays = opt.state()
    training = {"epoch": epoch, "settings": settings, "data": data, "rng": rng.bit_generator.state,
                "optimizer_t": t, "history": history.to_dict()}
    if info is not None:
        training["info"] = info
    save_checkpoint(checkpoint, model.params, type(model).__name__, model.config, training, opt_arrays)
    _write_history(history, checkpoint)


def _read_run(checkpoint, model):
    """Load the checkpoint of the run to resume: ``{"arrays", "opt_arrays", **training record}``."""
    if not checkpoint.exists():
        raise FileNotFoundError(f"checkpoint {checkpoint} does not exist, so there is no run to resume; "
                                "start the run without resume")
    arrays, meta, opt_arrays = load_checkpoint(checkpoint, type(model).__name__, training=True)
    run = meta.get("training")
    if run is None:
        raise ValueError(f"checkpoint {checkpoint} holds a model but no training state (written by model.save "
                         "or by numvae before runs recorded theirs): it loads for sampling and evaluation, "
                         "but the run cannot be resumed")
    keys = {"epoch", "settings", "data", "rng", "optimizer_t", "history"}
    if not keys <= set(run) or not isinstance(run["settings"], dict) or "seed_entropy" not in run["settings"]:
        raise ValueError(f"checkpoint {checkpoint} has a corrupt training record: expected the keys "
                         f"{sorted(keys)}; got {sorted(run)}")
    return {**run, "arrays": arrays, "opt_arrays": opt_arrays}


def _differences(recorded, current, prefix=""):
    """``"key: run A, now B"`` for every entry where two (nested) settings records differ."""
    out = []
    for k in sorted(set(recorded) | set(current), key=str):
        a, b = recorded.get(k), current.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}: the run has {a!r}, this call {b!r}")
    return out


def _restore_run(run, checkpoint, model, opt, rng, settings, data, epochs):
    """Check that `run` is this run and fits in `epochs`, then restore parameters, optimizer, generator.

    Returns ``(epoch, history)``. Nothing is changed unless every check passes.
    """
    differ = _differences(run["settings"], settings)
    if differ:
        raise ValueError(f"cannot resume the run in {checkpoint}: its settings differ from this call's ("
                         + "; ".join(differ) + ")")
    for name in ("X", "X_valid"):
        if run["data"].get(name) != data[name]:
            raise ValueError(f"cannot resume the run in {checkpoint}: {name} is not the data it was trained on "
                             "(its fingerprint differs)")
    try:
        epoch = check_int(run["epoch"], "epoch", 0)
        history = History(run["history"])
        if len(history) != epoch:
            raise ValueError(f"its history has {len(history)} epochs, its record says {epoch}")
        rng.bit_generator.state = copy.deepcopy(run["rng"])
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"checkpoint {checkpoint} has a corrupt training record ({exc})") from None
    if epochs < epoch:
        raise ValueError(f"epochs must be at least the {epoch} epochs the run in {checkpoint} has done; "
                         f"got {epochs}")
    try:  # validates everything before it changes anything, as fill_params does
        opt.load_state(run["optimizer_t"], run["opt_arrays"])
    except ValueError as exc:
        raise ValueError(f"checkpoint {checkpoint}: {exc}") from None
    fill_params(model, run["arrays"], checkpoint)
    return epoch, history
