r"""Resuming a run: the state ``fit`` saves after every epoch, and its restoration.

The checkpoint of a run holds, beside the parameters, everything the rest of
the run depends on: the epoch reached, the optimizer's state arrays and step
count (Adam's :math:`m, v, t`, SGD's velocity), the bit generator state of the
training generator, the root seed's entropy, the history, and fingerprints of
the data (SHA-256 of `X` and `X_valid` as trained on) and of the settings (the
model's config, the optimizer's hyper-parameters, the batch size, the
objective with its settings (``numvae.objectives``), binarization). ``fit(..., resume=True)`` reads it back
(:func:`read_run`), checks that it is this run (:func:`restore_run`: the same
settings and data, or a ``ValueError`` naming what differs) and continues a
killed run to exactly the parameters an uninterrupted run would have reached:
the same shuffles, the same noise, the same Adam moments, bit for bit.
"""

import copy
import hashlib
import json

import numpy as np

from numvae.checks import check_int
from numvae.history import History
from numvae.io import fill_params, load_checkpoint, save_checkpoint

HISTORY_FILES = ("history.csv", "history.json")


def fingerprint(X):
    """SHA-256 of an array's shape, dtype and bytes: what a resumed run checks its data against."""
    h = hashlib.sha256(f"{X.shape} {X.dtype.str}".encode())
    h.update(np.ascontiguousarray(X).data)
    return h.hexdigest()


def run_settings(model, opt, batch_size, objective, binarize, entropy):
    """Everything besides the data and `epochs` that the trajectory depends on, as plain JSON values."""
    record = {"model": type(model).__name__, "config": model.config, "optimizer": opt.settings(),
              "batch_size": batch_size, "objective": objective.settings(), "binarize": bool(binarize),
              "seed_entropy": int(entropy)}
    return json.loads(json.dumps(record))   # tuples -> lists, as they come back from the file


def _upgraded(settings):
    """A run's settings as this version records them: a run of numvae 0.2 kept the ELBO's three numbers flat."""
    if "objective" in settings or "free_bits" not in settings:
        return settings
    old = dict(settings)
    objective = {"name": "elbo", "beta": 1.0, "free_bits": float(old.pop("free_bits")),
                 "n_samples": old.pop("n_samples", 1), "warmup_epochs": float(old.pop("kl_warmup_epochs", 0.0))}
    return {**old, "objective": objective}


def write_history(history, checkpoint):
    """``history.csv`` and ``history.json`` beside `checkpoint`, each atomically."""
    history.to_csv(checkpoint.parent / HISTORY_FILES[0])
    history.to_json(checkpoint.parent / HISTORY_FILES[1])


def save_run(checkpoint, model, opt, rng, epoch, settings, data, history, info=None):
    """The checkpoint with the run's state, then the history files beside it; each atomically."""
    t, opt_arrays = opt.state()
    training = {"epoch": epoch, "settings": settings, "data": data, "rng": rng.bit_generator.state,
                "optimizer_t": t, "history": history.to_dict()}
    if info is not None:
        training["info"] = info
    save_checkpoint(checkpoint, model.params, type(model).__name__, model.config, training, opt_arrays)
    write_history(history, checkpoint)


def read_run(checkpoint, model):
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


def restore_run(run, checkpoint, model, opt, rng, settings, data, epochs):
    """Check that `run` is this run and fits in `epochs`, then restore parameters, optimizer, generator.

    Returns ``(epoch, history)``. Nothing is changed unless every check passes.
    """
    differ = _differences(_upgraded(run["settings"]), settings)
    if differ:
        raise ValueError(f"cannot resume the run in {checkpoint}: its settings differ from this call's ("
                         + "; ".join(differ) + ")")
    for name in ("X", "X_valid", "y", "y_valid"):    # y, y_valid: a conditional run's labels (absent elsewhere)
        if run["data"].get(name) != data.get(name):
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
