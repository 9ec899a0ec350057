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
"""

import csv
import io as _io
import json
import math
import time
from pathlib import Path

import numpy as np

from numvae.checks import check_choice, check_int, check_matrix, check_positive, check_unit_interval
from numvae.data import binarize as _binarize
from numvae.io import write_text
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
        """Read a history written by :meth:`to_json`."""
        with open(path) as f:
            columns = json.load(f)
        missing = set(cls.FIELDS) - set(columns)
        if missing:
            raise ValueError(f"history file {path} lacks fields {sorted(missing)}")
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


class Batcher:
    """Gathers the rows of a minibatch: ``Batcher(X, batch_size)(rows)`` equals ``X[rows]``, shape (M, D).

    The rows are copied into one buffer reused for every batch (a fresh
    array per batch would cost page faults every step), so the returned batch
    is overwritten by the next call.
    """

    def __init__(self, X, batch_size):
        self.X = X
        self._buffer = np.empty((min(batch_size, X.shape[0]), X.shape[1]), dtype=X.dtype)

    def __call__(self, rows):
        out = self._buffer[:len(rows)]                               # (M, D)
        # mode="clip" lets take write straight into `out` (with "raise" it
        # goes through a temporary); `rows` are valid row numbers anyway.
        return np.take(self.X, rows, axis=0, out=out, mode="clip")


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
    # One sum per gradient is NaN or ±inf if any entry is (it may also
    # overflow on huge finite entries; the entry-wise check then decides).
    if not all(np.isfinite(g.sum()) for g in grads.values()):
        bad = [k for k, g in grads.items() if not np.all(np.isfinite(g))]
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
        checkpoint=None, n_samples=1):
    r"""Train `model` on the rows of `X` by minibatch gradient ascent on the ELBO.

    Parameters
    ----------
    model : VAE
        Anything with ``x_dim``, ``dtype``, ``params``, ``loss_and_grads``,
        ``last_terms``, ``elbo``, ``encode`` and ``save`` like
        :class:`numvae.vae.VAE`. Its parameters are updated in place.
    X : ndarray of shape (N, x_dim)
        Training data; cast once to the model's dtype.
    X_valid : ndarray of shape (N_valid, x_dim), optional
        Held-out data, evaluated at the end of every epoch and used for the
        active-unit count (else up to 1000 rows of `X` are).
    epochs : int >= 0
    batch_size : int >= 1
        M; the last batch of an epoch holds the ``N mod M`` leftover rows.
    optimizer : {"adam", "sgd"} or Optimizer
        A name (built with `lr` and default settings) or an optimizer already
        built on ``model.params`` (then `lr` is ignored), e.g.
        ``SGD(model.params, lr=0.01, momentum=0.9)``.
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
        history (except the timings). None: fresh entropy, not reproducible.
    progress : bool
        Print progress with an ETA to stderr (:class:`numvae.progress.Progress`):
        a status per batch, rewritten in place on a terminal and a whole line
        every few seconds in a log, and a whole line per epoch.
    checkpoint : str or Path, optional
        Where to ``model.save`` after every epoch whose numbers are finite, so
        a diverging epoch never replaces the last good file. ``VAE.save``
        writes atomically (``numvae.io``), so neither does a crash mid-write.
    n_samples : int >= 1
        Monte Carlo samples L of z per datapoint in the training loss.

    Returns
    -------
    History

    Raises
    ------
    ValueError
        Bad arguments, naming the argument.
    FloatingPointError
        A NaN or infinite loss, gradient or validation ELBO; the message names
        the epoch and batch and what to try.
    """
    X = check_matrix(X, "X", n_features=model.x_dim, dtype=model.dtype)
    if X_valid is not None:
        X_valid = check_matrix(X_valid, "X_valid", n_features=model.x_dim, dtype=model.dtype)
    epochs = check_int(epochs, "epochs", 0)
    batch_size = check_int(batch_size, "batch_size", 1)
    n_samples = check_int(n_samples, "n_samples", 1)
    check_positive(kl_warmup_epochs, "kl_warmup_epochs", strict=False)
    check_positive(free_bits, "free_bits", strict=False)
    if seed is not None:
        seed = check_int(seed, "seed", 0)
    if isinstance(optimizer, Optimizer):
        if optimizer.params is not model.params and set(optimizer.params) != set(model.params):
            raise ValueError("optimizer must be built on model.params")
        opt = optimizer
    else:
        check_choice(optimizer, "optimizer", OPTIMIZERS)
        opt = OPTIMIZERS[optimizer](model.params, lr=lr)  # validates lr
    if binarize:
        check_unit_interval(X, "X (binarize=True)")
        if X_valid is not None:
            check_unit_interval(X_valid, "X_valid (binarize=True)")

    # One root seed: the training generator is default_rng(seed) itself; the
    # evaluation streams are spawned children, independent of it, so evaluating
    # (or not) never changes the training trajectory.
    root = np.random.SeedSequence(seed)
    rng = np.random.default_rng(root)
    eval_noise, eval_data = root.spawn(2)
    data_rng = np.random.default_rng(eval_data)

    N = X.shape[0]
    n_batches = math.ceil(N / batch_size)
    warmup_steps = math.ceil(kl_warmup_epochs * n_batches)
    if X_valid is not None:
        X_eval = X_valid
    else:
        X_eval = X[np.sort(data_rng.permutation(N)[:ACTIVE_UNITS_ROWS])]
    if binarize:
        X_eval = _binarize(X_eval, data_rng).astype(model.dtype)

    batch = Batcher(X, batch_size)
    history = History()
    step = 0
    last_saved = 0
    tracker = Progress(epochs * n_batches, "train", quiet=not progress)
    for epoch in range(1, epochs + 1):
        epoch_start = time.perf_counter()
        train_time = 0.0
        sums = np.zeros(3)  # loss * batch size, rec, kl
        beta = 1.0
        order = rng.permutation(N)
        for b in range(n_batches):
            t0 = time.perf_counter()
            xb = batch(order[b * batch_size:(b + 1) * batch_size])  # (M, D)
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
            tracker.update((epoch - 1) * n_batches + b + 1,
                           f"epoch {epoch}/{epochs}  batch {b + 1}/{n_batches}  loss {loss:.2f}  beta {beta:.3f}")

        loss_mean, rec_mean, kl_mean = sums / N
        # Every batch loss and gradient was finite; make sure the last step did
        # not push a parameter to inf either, before evaluating and saving.
        bad = [k for k, p in model.params.items() if not np.all(np.isfinite(p))]
        if bad:
            raise _divergence(epoch, epochs, n_batches, n_batches, f"non-finite parameters {bad}",
                              opt.lr, checkpoint, last_saved)
        if X_valid is not None:
            v_elbo, v_rec, v_kl = (float(v) for v in _evaluate(model, X_eval, eval_noise))
            if not np.isfinite(v_elbo):
                raise _divergence(epoch, epochs, 0, n_batches, f"validation ELBO = {v_elbo}", opt.lr,
                                  checkpoint, last_saved)
        else:
            v_elbo = v_rec = v_kl = None
        n_active, _ = active_units(model, X_eval)
        if checkpoint is not None:
            model.save(checkpoint)   # atomic (numvae.io): a crash mid-write keeps the last good file
            last_saved = epoch

        seconds = time.perf_counter() - epoch_start
        history.append({
            "epoch": epoch, "beta": float(beta), "train_loss": float(loss_mean),
            "train_elbo": float(rec_mean - kl_mean), "train_rec": float(rec_mean), "train_kl": float(kl_mean),
            "valid_elbo": v_elbo, "valid_rec": v_rec, "valid_kl": v_kl,
            "active_units": n_active, "seconds": seconds, "samples_per_s": N / max(train_time, 1e-12),
        })
        valid = f"  valid ELBO {v_elbo:.2f}" if v_elbo is not None else ""
        tracker.line(f"epoch {epoch}/{epochs}  train ELBO {rec_mean - kl_mean:.2f} (rec {rec_mean:.2f}, "
                     f"KL {kl_mean:.2f}){valid}  AU {n_active}  beta {beta:.3f}  {seconds:.1f} s "
                     f"({N / max(train_time, 1e-12):.0f} samples/s)", done=epoch * n_batches)
    return history
