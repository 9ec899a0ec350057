"""The `numvae` command (also `python -m numvae`).

Each subcommand is a pair of small functions, ``_add_<name>(parser)`` that
declares its arguments and ``_run_<name>(args)`` that does the work by calling
the library and returns the exit status. ``COMMANDS`` lists them, main job
first. Every option has a help text, and ``--help`` shows its default.

Option names are the Python names of the same concept with ``-`` for ``_``
(``--z-dim`` is ``z_dim``, ``--kl-warmup-epochs`` is ``kl_warmup_epochs``,
``--k`` is the ``k`` of ``log_likelihood``); the few older spellings still
accepted (``--latent``, ``--kl-warmup``, ``--ll-k``, ``--warmup``) are hidden
aliases.
"""

import argparse
import contextlib
import math
import os
import sys
from pathlib import Path

import numvae
# The families' registries give the choices of --decoder, --posterior and --activation (numpy and
# scipy.special come with them; matplotlib and the data are still imported only by the commands).
from numvae.objectives import IWAE
from numvae.likelihoods import LIKELIHOODS
from numvae.nn import ACTIVATIONS
from numvae.posteriors import POSTERIORS

# Why the command line trains in float32 while numvae.vae.VAE defaults to float64.
DTYPE_HELP = ("float32 is the fast path (about twice the speed of float64 on BLAS, as `numvae bench` "
              "measures); in Python, VAE(...) defaults to float64, the precision gradient checks and the "
              "lessons need")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's formatter that appends ``(default: X)`` to every option's help.

    An option whose default is None is left alone: its help says what
    happens when it is not given.
    """

    def _get_help_string(self, action):
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def _alias(p, old, dest, **kwargs):
    """Accept the older option spelling `old` for `dest`, without showing it in --help."""
    p.add_argument(old, dest=dest, default=argparse.SUPPRESS, help=argparse.SUPPRESS, **kwargs)


def _add_quiet(p):
    p.add_argument("--quiet", action="store_true", help="no progress lines (they go to standard error)")


# Where ``numvae train`` writes when --out is not given (git-ignored, like runs/compare).
TRAIN_OUT = "runs/train"
# What ``numvae train`` writes into its folder: a new run there replaces all of them.
RUN_FILES = ("model.npz", "history.csv", "history.json", "learning_curves.png", "reconstructions.png",
             "samples.png", "latent.png", "manifold.png", "swaps.png")


# What ``numvae compare`` writes into its folder (``numvae.compare.write_report``).
COMPARE_FILES = ("comparison.csv", "comparison.md", "loglik_vs_latent.png", "reconstructions.png",
                 "latent_ppca.png", "latent_vae.png")


def _missing_folders(path):
    """`path` and those of its parents that do not exist yet, deepest first: what a command would create."""
    path = Path(path)
    return [p for p in (path, *path.parents) if not p.exists()]


@contextlib.contextmanager
def _no_folder_left_on_failure(path, created):
    """If the body fails, remove what it left in `path` that holds nothing: the run lock, and the
    folders of `created` (:func:`_missing_folders`, taken before they were made) that are empty.

    A refused or failed command should leave the disk as it found it; a folder
    holding anything else (the checkpoint of a run that failed later) is kept.
    Entered inside the run lock, so the lock file goes while it is still held.
    """
    from numvae.runlock import LOCK_NAME

    try:
        yield
    except BaseException:
        try:
            if set(os.listdir(path)) == {LOCK_NAME}:
                (Path(path) / LOCK_NAME).unlink()
            for p in created:
                p.rmdir()   # fails when not empty: then it holds something of the run, kept with its parents
        except OSError:
            pass
        raise


def _seed(text):
    """argparse type of every --seed: a non-negative integer, refused by name otherwise."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer; got {text!r}")
    return value


_seed.metavar = "SEED"


def _uniform_metavars(parser):
    """Give every option that takes a free value (no choices) the metavar of its type: N for an
    integer, X for a real number, N,... for a list, SEED; explicit ones (DIR, FILE, K, EPOCHS) stay.

    argparse's default would be the option's own name in capitals (BATCH_SIZE), which
    reads as a different kind of thing on every line of the usage.
    """
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _uniform_metavars(sub)
        elif action.option_strings and action.nargs is None and action.choices is None and action.metavar is None:
            action.metavar = getattr(action.type, "metavar", "VALUE")


def _int_at_least(minimum):
    """argparse type: an integer >= `minimum`, refused under the option's name (``argument --k: ...``)."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}; got {text!r}")
        return value
    parse.metavar = "N"
    return parse


def _number(strict):
    """argparse type: a finite number > 0 (`strict`) or >= 0, refused under the option's name."""
    bound = "> 0" if strict else ">= 0"

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and (value > 0 if strict else value >= 0)):
            raise argparse.ArgumentTypeError(f"must be a finite number {bound}; got {text!r}")
        return value
    parse.metavar = "X"
    return parse


def _int_list(allow_empty, example):
    """argparse type: comma-separated integers >= 1 (``'200,200'`` -> ``(200, 200)``), no empty entry.

    With `allow_empty`, ``''`` is ``()`` (``--hidden ''``: a linear VAE).
    """
    def parse(text):
        if not text.strip() and allow_empty:
            return ()
        try:
            values = tuple(int(part) for part in text.split(","))   # int() refuses '' and ' ', so '2,,4' fails
        except ValueError:
            values = ()
        if not values or min(values) < 1:
            raise argparse.ArgumentTypeError(f"must be comma-separated integers >= 1 like {example}"
                                             f"{' (or empty)' if allow_empty else ''}; got {text!r}")
        return values
    parse.metavar = "N,..."
    return parse


def _add_gradcheck(p):
    p.add_argument("--seed", type=_seed, default=0, help="seed of the random model and data")
    p.add_argument("--tol", type=_number(strict=True), default=1e-6, help="largest relative error that passes")
    _add_quiet(p)   # every command takes --quiet; gradcheck prints no progress


def _run_gradcheck(args):
    from numvae.gradcheck import vae_reports

    reports = vae_reports(seed=args.seed, tol=args.tol)
    for title, report in reports:
        print(f"{title}\n{report}\n")
    failed = [title for title, report in reports if not report.passed]
    print(f"{len(reports) - len(failed)} of {len(reports)} gradient checks passed"
          + "".join(f"\nFAILED: {t}" for t in failed))
    return 1 if failed else 0


def _add_data(p):
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", formatter_class=HelpFormatter,
                                 help="show each dataset, where it was found and its size",
                                 description="Show each dataset, where it was found (or how to get it) "
                                             "and its size on disk.")
    listing.add_argument("--data-root", default=None, metavar="DIR",
                         help="folder searched first, as for train and compare (default: none)")
    fetch = actions.add_parser("fetch", formatter_class=HelpFormatter,
                               help="download MNIST or Fashion-MNIST and check their MD5s",
                               description="Download and verify the four IDX files of MNIST or Fashion-MNIST.")
    _add_quiet(listing)   # every command takes --quiet; listing prints no progress
    fetch.add_argument("name", choices=["fashion-mnist", "mnist"], help="which dataset")
    fetch.add_argument("--dest", default=None, metavar="DIR",
                       help="folder to save into (default: $NUMVAE_DATA/NAME if set, else the user cache, "
                            "$XDG_CACHE_HOME/numvae/NAME or ~/.cache/numvae/NAME)")
    _add_quiet(fetch)


def _run_data(args):
    if args.action == "list":
        return _run_data_list(args)
    from numvae.data import default_fetch_dest, fetch

    dest = args.dest if args.dest is not None else default_fetch_dest(args.name)
    try:
        fetch(args.name, dest, log=print, progress=not args.quiet)
    except OSError as exc:  # network failures; nothing partial was kept
        print(f"numvae data: error: {exc}", file=sys.stderr)
        return 1
    # The default destination is searched by the loaders; another one must be given as root=.
    root = "" if args.dest is None else f", root={str(dest)!r}"
    print(f"done: load it with numvae.data.load_mnist_like({args.name!r}, 'train'{root})")
    return 0


def _run_data_list(args):
    from numvae.data import list_datasets

    rows = list_datasets(args.data_root)
    print(f"{'dataset':<15}{'split':<7}{'size':>9}  found in")
    for r in rows:
        size = f"{r['bytes'] / 1e6:.1f} MB" if r["bytes"] is not None else "-"
        where = f"{r['found_in']}: {r['folder']}" if r["folder"] else f"NOT FOUND. {r['how_to_get']}"
        print(f"{r['name']:<15}{r['split'] or '-':<7}{size:>9}  {where}")
    return 0


def _add_data_choice(p, digits_help):
    """--data and --data-root, shared by train and compare."""
    p.add_argument("--data", choices=["digits", "fashion-mnist", "mnist"], default="digits",
                   help=f"digits: the embedded 8x8 UCI digits, {digits_help}; "
                        "fashion-mnist, mnist: the train split for training and the test split for evaluation")
    p.add_argument("--data-root", default=None, metavar="DIR",
                   help="folder searched first for any dataset, digits included (default: none; "
                        "`numvae data list` shows the search order's findings)")


def _add_train(p):
    _add_data_choice(p, "split 80/20 into train/valid with --seed")
    p.add_argument("--decoder", choices=list(LIKELIHOODS), default="bernoulli",
                   help="likelihood p(x|z) of the decoder")
    p.add_argument("--hidden", type=_int_list(True, "200,200"), default="400",
                   help="hidden widths, comma-separated (e.g. 200,200); '' for linear")
    p.add_argument("--z-dim", type=_int_at_least(1), default=20, metavar="K",
                   help="latent size K, z_dim in Python (2 also draws latent.png, manifold.png)")
    _alias(p, "--latent", "z_dim", type=_int_at_least(1))
    p.add_argument("--epochs", type=_int_at_least(0), default=10,
                   help="passes over the training data (10: seconds on digits)")
    p.add_argument("--batch-size", type=_int_at_least(1), default=100, help="minibatch size M")
    p.add_argument("--optimizer", choices=["adam", "sgd"], default="adam", help="update rule")
    p.add_argument("--lr", type=_number(strict=True), default=1e-3, help="learning rate")
    p.add_argument("--kl-warmup-epochs", type=_number(strict=False), default=0.0, metavar="EPOCHS",
                   help="epochs of linear KL warm-up from 0 to 1 (Bowman et al. 2015); 0: none")
    _alias(p, "--kl-warmup", "kl_warmup_epochs", type=_number(strict=False))
    p.add_argument("--free-bits", type=_number(strict=False), default=0.0, metavar="NATS",
                   help="free bits per latent dimension (Kingma et al. 2016); 0: none")
    p.add_argument("--posterior", choices=list(POSTERIORS), default="diagonal",
                   help="q(z|x): diagonal Gaussian, or full covariance through a Cholesky factor (no free bits)")
    p.add_argument("--objective", choices=list(TRAIN_OBJECTIVES), default="elbo",
                   help="training loss: the ELBO; the importance-weighted bound L_k (Burda et al. 2015) with its "
                        "gradient (iwae) or the doubly reparameterized one (dreg; Tucker et al. 2019)")
    p.add_argument("--iwae-k", type=_int_at_least(1), default=5, metavar="K",
                   help="importance samples k of --objective iwae or dreg")
    p.add_argument("--condition", choices=["none", "labels"], default="none",
                   help="labels: a conditional VAE (numvae.conditional), the class label one-hot into encoder "
                        "and decoder, trained on the data's labels; writes swaps.png (each row a validation "
                        "image, then its style drawn as every label)")
    p.add_argument("--binarize", action="store_true",
                   help="dynamic binarization: a fresh Bernoulli sample of every batch")
    p.add_argument("--seed", type=_seed, default=0, help="seed of the weights, the split, batches and noise")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32", help=DTYPE_HELP)
    p.add_argument("--threads", choices=["1", "2"], default="1",
                   help="threads of the element-wise work (VAE(threads=): the Bernoulli likelihood, and Adam's "
                        "update), float32 only; the same numbers either way, 2 pays on an idle second core with "
                        "large batches. The BLAS has its own: OPENBLAS_NUM_THREADS")
    p.add_argument("--out", default=None, metavar="DIR",
                   help=f"output folder (created; default: {TRAIN_OUT}): model.npz, history, figures; one "
                        "that holds a run is refused without --force or --resume")
    p.add_argument("--resume", default=None, metavar="DIR",
                   help="continue the run in DIR (killed, or for more --epochs) with the options it was "
                        "started with, read from its checkpoint (only --epochs, --threads, --quiet and "
                        "--data-root may be given); it ends exactly as an uninterrupted run would "
                        "(default: start a new run)")
    p.add_argument("--force", action="store_true",
                   help="replace the run held in --out (all its files; its checkpoint only once the new run "
                        "has written its first)")
    _add_quiet(p)


# --objective's names -> the objective (numvae.objectives) with --iwae-k samples.
TRAIN_OBJECTIVES = {"elbo": lambda args: None,   # fit's own ELBO, from --kl-warmup-epochs and --free-bits
                    "iwae": lambda args: IWAE(args.iwae_k), "dreg": lambda args: IWAE(args.iwae_k, "dreg")}


# VAE(...)'s argument names in its size error -> the options of `numvae train` that set them.
_VAE_OPTIONS = {"hidden=": "--hidden ", "z_dim=": "--z-dim ", "posterior ": "--posterior "}


def _as_options(message):
    """`message` of a VAE(...) error with its Python argument names replaced by `numvae train`'s options."""
    for name, option in _VAE_OPTIONS.items():
        message = message.replace(name, option)
    return message.replace("x_dim=", "data columns ")


# A resumed run keeps every option it was started with but these, which do not change
# its trajectory (--data-root only says where to find the same data; its fingerprint is checked).
_RESUME_MAY_CHANGE = ("--epochs", "--threads", "--quiet", "--data-root")


def _given_options(argv):
    """The dests of the options typed in `argv`: a default left alone is not a choice the user made."""
    parser = build_parser()
    parsers = [parser]
    while parsers:
        for action in parsers.pop()._actions:
            if isinstance(action, argparse._SubParsersAction):
                parsers.extend(action.choices.values())
            else:
                action.default = argparse.SUPPRESS
    return set(vars(parser.parse_known_args(argv)[0]))


def _recorded_objective(settings):
    """``--objective``, ``--iwae-k``, ``--kl-warmup-epochs`` and ``--free-bits`` of a run's settings (0.2's flat ones too)."""
    objective = settings.get("objective")
    if not isinstance(objective, dict):   # numvae 0.2 kept the ELBO's numbers flat
        return {"kl_warmup_epochs": settings.get("kl_warmup_epochs"), "free_bits": settings.get("free_bits")}
    if objective.get("name") == "iwae":
        return {"objective": objective.get("estimator"), "iwae_k": objective.get("k")}
    return {"objective": "elbo", "kl_warmup_epochs": objective.get("warmup_epochs"),
            "free_bits": objective.get("free_bits")}


def _recorded_options(run):
    """``{dest: value}`` of `numvae train`'s options, read from a checkpoint's training record `run`.

    The settings that fit checks on resume are the authority (they are what the
    run was trained with); --data and the target --epochs come from the note
    `numvae train` keeps beside them. Whatever the record lacks (a run started
    from Python) is left out, and the command line's value is used for it.
    """
    settings = run.get("settings") if isinstance(run, dict) else None
    if not isinstance(settings, dict):
        return {}
    config = settings.get("config") if isinstance(settings.get("config"), dict) else {}
    optimizer = settings.get("optimizer") if isinstance(settings.get("optimizer"), dict) else {}
    info = run.get("info") if isinstance(run.get("info"), dict) else {}
    found = {"hidden": config.get("hidden"), "z_dim": config.get("z_dim"), "decoder": config.get("decoder"),
             "posterior": config.get("posterior"), "dtype": config.get("dtype"), "seed": config.get("seed"),
             "optimizer": optimizer.get("name"), "lr": optimizer.get("lr"), "batch_size": settings.get("batch_size"),
             **_recorded_objective(settings),
             "binarize": settings.get("binarize"), "data": info.get("data"),
             "condition": ("labels" if "n_classes" in config else "none") if config else None, "epochs": info.get("epochs"),
             "data_root": info.get("data_root")}
    if isinstance(found["hidden"], list):
        found["hidden"] = tuple(found["hidden"])
    return {k: v for k, v in found.items() if v is not None or k == "data_root" and "data_root" in info}


def _shown(dest, value):
    """An option's value as it is typed: ``--hidden 200,200``, ``--binarize`` or not."""
    option = "--" + dest.replace("_", "-")
    if isinstance(value, bool):
        return option if value else f"no {option}"
    if isinstance(value, (tuple, list)):
        return f"{option} {','.join(map(str, value)) or repr('')}"
    return f"{option} {value}"


def _options_of_the_run(args, out, given):
    """Set `args` to the options of the run in `out`; refuse a given option that differs, before any data is loaded.

    Raises ``ValueError`` naming each conflicting option, its value and the run's.
    """
    from numvae.io import load_checkpoint

    _, meta, _ = load_checkpoint(out / "model.npz", None, training=True)   # a VAE's or a ConditionalVAE's
    recorded = _recorded_options(meta.get("training"))
    may_change = {o[2:].replace("-", "_") for o in _RESUME_MAY_CHANGE}
    conflicts = [f"{_shown(dest, getattr(args, dest))} (the run has {_shown(dest, value)})"
                 for dest, value in recorded.items()
                 if dest in given and dest not in may_change and getattr(args, dest) != value]
    if conflicts:
        raise ValueError(f"--resume {out}: the run keeps the options it was started with (only "
                         f"{', '.join(_RESUME_MAY_CHANGE)} may be given): drop {'; '.join(conflicts)}")
    for dest, value in recorded.items():
        if dest not in given:
            setattr(args, dest, value)


def _train_data(args):
    """Return (X_train, y_train, X_valid, y_valid, description) for ``numvae train``."""
    from numvae.data import load_digits, load_mnist_like, split

    if args.data == "digits":
        X, y = load_digits(args.data_root)
        (X_tr, y_tr), (X_va, y_va) = split(X, [0.8, 0.2], args.seed, y=y)
        return X_tr, y_tr, X_va, y_va, f"digits: {len(X_tr)} train / {len(X_va)} valid rows (seeded 80/20 split)"
    X_va, y_va = load_mnist_like(args.data, "test", args.data_root)
    try:
        X_tr, y_tr = load_mnist_like(args.data, "train", args.data_root)
    except FileNotFoundError:
        # Only the test split is available (numvae embeds Fashion-MNIST's):
        # train on part of it rather than fail, and say so.
        (X_tr, y_tr), (X_va, y_va) = split(X_va, [0.8, 0.2], args.seed, y=y_va)
        return X_tr, y_tr, X_va, y_va, (f"{args.data}: train split NOT found, so the test split is cut 80/20: "
                                  f"{len(X_tr)} train / {len(X_va)} valid rows")
    return X_tr, y_tr, X_va, y_va, f"{args.data}: train split ({len(X_tr)} rows) for training, test split ({len(X_va)}) for validation"


def _train_folder(args, held):
    """The run folder of ``numvae train``, checked and locked before any work.

    The folder's lock (``numvae.runlock``) is entered on the ExitStack `held`,
    so no second process trains into it. With --force the old run's figures
    go at once, but its checkpoint and history stay until the new run's first
    checkpoint replaces them (atomically), so a new run that fails early
    loses nothing of the old one.
    """
    from numvae.io import check_output_folder
    from numvae.runlock import run_lock

    if args.resume is not None:
        out = Path(args.resume)
        if args.out is not None and Path(args.out) != out:
            raise ValueError(f"--out {args.out} and --resume {out} name different folders; give one")
        if args.force:
            raise ValueError("--force replaces a run and --resume continues it; give one")
        if not (out / "model.npz").is_file():
            raise FileNotFoundError(f"--resume {out}: there is no {out / 'model.npz'}, so no run to resume "
                                    f"(start it with --out {out})")
        created = _missing_folders(out)
        out = check_output_folder(out, "--resume")
        held.enter_context(run_lock(out, "--resume"))
        held.enter_context(_no_folder_left_on_failure(out, created))
        _options_of_the_run(args, out, getattr(args, "given", set()))
        return out
    created = _missing_folders(args.out if args.out is not None else TRAIN_OUT)
    out = check_output_folder(args.out if args.out is not None else TRAIN_OUT, "--out")
    held.enter_context(run_lock(out, "--out"))
    held.enter_context(_no_folder_left_on_failure(out, created))
    old = [name for name in RUN_FILES if (out / name).exists()]
    if old and not args.force:
        raise FileExistsError(f"--out {out} holds an earlier run ({', '.join(old)}); continue it with "
                              f"--resume {out}, replace it with --force, or choose another --out")
    for name in old:  # the figures now, so the folder never shows the new checkpoint beside old figures
        if name not in _CHECKPOINT_FILES:
            (out / name).unlink()
    return out


# Replaced atomically by the new run's first checkpoint under --force, never deleted before.
_CHECKPOINT_FILES = ("model.npz", "history.csv", "history.json")


def _run_train(args):
    if args.objective != "elbo" and (args.free_bits or args.kl_warmup_epochs):   # fit refuses them too, but later
        raise ValueError(f"--free-bits and --kl-warmup-epochs belong to --objective elbo; --objective "
                         f"{args.objective} has no KL term (got --free-bits {args.free_bits:g}, "
                         f"--kl-warmup-epochs {args.kl_warmup_epochs:g})")
    if args.free_bits and not POSTERIORS[args.posterior].free_bits:   # fit refuses it too, but later
        raise ValueError(f"--free-bits must be 0 with --posterior {args.posterior} (its KL does not split into one "
                         f"term per latent dimension); got --free-bits {args.free_bits:g}")
    with contextlib.ExitStack() as held:   # the run folder's lock, taken by _train_folder
        return _train_in(args, _train_folder(args, held))


def _train_in(args, out):
    import numpy as np

    from numvae import plots
    from numvae.train import fit
    from numvae.vae import VAE

    if args.threads == "2" and args.dtype != "float32":   # after --resume has read the run's --dtype
        raise ValueError("--threads 2 needs --dtype float32 (float64 trains on the plain path, one thread)")
    conditional = args.condition == "labels"
    if conditional and args.threads == "2":
        raise ValueError("--threads 2 needs the fast path, which --condition labels does not take "
                         "(the conditional VAE trains on the teaching path, one thread)")
    X_tr, y_tr, X_va, y_va, description = _train_data(args)
    print(description)
    try:
        if conditional:
            from numvae.conditional import ConditionalVAE

            n_classes = int(max(y_tr.max(), y_va.max())) + 1
            model = ConditionalVAE(X_tr.shape[1], n_classes, hidden=args.hidden, z_dim=args.z_dim,
                                   decoder=args.decoder, dtype=args.dtype, seed=args.seed, posterior=args.posterior)
        else:
            # float32 is the fast training path: the model runs through numvae.fast (same numbers, faster).
            model = VAE(X_tr.shape[1], hidden=args.hidden, z_dim=args.z_dim, decoder=args.decoder,
                        dtype=args.dtype, seed=args.seed, posterior=args.posterior, fast=args.dtype == "float32",
                        threads=int(args.threads))
    except ValueError as exc:   # the only one left after parsing: sizes too large for this machine
        raise ValueError(_as_options(str(exc))) from None
    labels = {"y": y_tr, "y_valid": y_va} if conditional else {}
    try:
        history = fit(model, X_tr, X_va, epochs=args.epochs, batch_size=args.batch_size,
                      optimizer=args.optimizer, lr=args.lr, kl_warmup_epochs=args.kl_warmup_epochs,
                      free_bits=args.free_bits, binarize=args.binarize, seed=args.seed,
                      progress=not args.quiet, checkpoint=out / "model.npz", resume=args.resume is not None,
                      objective=TRAIN_OBJECTIVES[args.objective](args),
                      run_info={"data": args.data, "data_root": args.data_root, "epochs": args.epochs}, **labels)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f"{out} keeps the last finished epoch, if any; continue with --resume {out} "
                                "(it keeps the run's options)") from None
    history.to_csv(out / "history.csv")
    history.to_json(out / "history.json")
    written = ["model.npz", "history.csv", "history.json"]
    if len(history):
        plots.learning_curves(history, path=out / "learning_curves.png")
        written.append("learning_curves.png")
    else:  # --epochs 0: nothing to plot, but the untrained model is still saved
        model.save(out / "model.npz")
    if conditional:
        written += _conditional_figures(model, X_va, y_va, args, out)
    else:
        written += _figures(model, X_va, y_va, args, out)
    if len(history):
        last = history.last
        print(f"final valid ELBO {last['valid_elbo']:.2f} nats (train {last['train_elbo']:.2f}), "
              f"{np.mean(history['seconds']):.2f} s/epoch, {last['active_units']}/{model.z_dim} active units")
    print(f"wrote {', '.join(written)} to {out}")
    return 0


def _conditional_figures(model, X_va, y_va, args, out):
    """A conditional run's figures: reconstructions, samples of every label, the swap grid; their names."""
    import numpy as np

    from numvae import plots

    C = model.n_classes
    name = f"conditional VAE, {args.decoder} decoder, K = {model.z_dim}, {args.data}"
    shown, labels = X_va[:32], y_va[:32]
    plots.reconstructions(shown, model.reconstruct(shown, labels), ncols=8, path=out / "reconstructions.png",
                          model=f"{name}: validation images")
    plots.samples_grid(model.sample(np.arange(8 * C) % C, rng=args.seed), ncols=C, path=out / "samples.png",
                       model=f"{name}: column j drawn with label j")
    sources, source_labels = X_va[:8], y_va[:8]
    grid = [np.vstack([x[None], model.swap(np.repeat(x[None], C, 0), np.repeat(a, C), np.arange(C))])
            for x, a in zip(sources, source_labels)]
    plots.image_grid(np.vstack(grid), ncols=C + 1, path=out / "swaps.png",
                     title=f"{name}: a validation image, then its z decoded with labels 0..{C - 1}")
    return ["reconstructions.png", "samples.png", "swaps.png"]


def _figures(model, X_va, y_va, args, out):
    """A VAE run's figures: reconstructions and samples, and for K = 2 the latent scatter and manifold; their names."""
    from numvae import plots

    written = []
    shown = X_va[:32]
    name = f"VAE, {args.decoder} decoder, K = {model.z_dim}, {args.data}"
    plots.reconstructions(shown, model.reconstruct(shown), ncols=8, path=out / "reconstructions.png",
                          model=f"{name}: validation images")
    plots.samples_grid(model.sample(64, rng=args.seed), ncols=8, path=out / "samples.png", model=name)
    written += ["reconstructions.png", "samples.png"]
    if model.z_dim == 2:
        mu, _ = model.encode(X_va)
        plots.latent_scatter(mu, y_va, path=out / "latent.png",
                             title=f"{name}: posterior means of {len(X_va)} validation images")
        z, _ = plots.manifold_z(15)
        plots.manifold(model.decode(z), path=out / "manifold.png", model=name)
        written += ["latent.png", "manifold.png"]
    return written


def _add_sample(p):
    p.add_argument("checkpoint", help="a model.npz written by numvae train")
    p.add_argument("--n", type=_int_at_least(1), default=64, help="number of samples")
    p.add_argument("--seed", type=_seed, default=0, help="seed of z ~ N(0, I)")
    p.add_argument("--out", default=None, metavar="FILE.png",
                   help="image to write (default: <checkpoint>_samples.png beside the checkpoint)")
    _add_quiet(p)   # every command takes --quiet; sample prints no progress


def _run_sample(args):
    from pathlib import Path

    from numvae import plots
    from numvae.io import check_output_file
    from numvae.vae import VAE

    model = VAE.load(args.checkpoint)   # first: the default --out is beside it
    ckpt = Path(args.checkpoint)
    out = check_output_file(args.out if args.out else ckpt.with_name(f"{ckpt.stem}_samples.png"), "--out")
    plots.samples_grid(model.sample(args.n, rng=args.seed), path=out,
                       model=f"VAE, {model.config['decoder']} decoder, K = {model.z_dim} ({ckpt.name})")
    print(f"wrote {args.n} samples to {out}")
    return 0


def _add_compare(p):
    _add_data_choice(p, "one seeded 80/20 train/test split")
    p.add_argument("--z-dim", type=_int_list(False, "2,4"), default="2,4,8,16", metavar="K,...",
                   help="latent sizes K to compare, comma-separated (z_dim of the VAEs, n_components of pPCA)")
    _alias(p, "--latent", "z_dim", type=_int_list(False, "2,4"))
    p.add_argument("--hidden", type=_int_list(True, "128"), default="128",
                   help="hidden widths of the nonlinear VAE, comma-separated")
    p.add_argument("--epochs", type=_int_at_least(1), default=40, help="training epochs of each VAE")
    p.add_argument("--batch-size", type=_int_at_least(1), default=32, help="minibatch size of the VAEs' training")
    p.add_argument("--lr", type=_number(strict=True), default=3e-3, help="Adam learning rate")
    p.add_argument("--k", type=_int_at_least(1), default=500,
                   help="importance samples per test image for the VAE log p(x)")
    p.add_argument("--objective", choices=list(TRAIN_OBJECTIVES), default="elbo",
                   help="what every VAE is trained on: the ELBO; the importance-weighted bound L_k (Burda et al. "
                        "2015) with its gradient (iwae) or the doubly reparameterized one (dreg; Tucker et al. "
                        "2019); recorded in the table's 'trained on' column")
    p.add_argument("--iwae-k", type=_int_at_least(1), default=5, metavar="K",
                   help="importance samples k of --objective iwae or dreg (not --k, the test log p(x)'s)")
    p.add_argument("--seed", type=_seed, default=0, help="seed of the split, dequantization, weights and batches")
    p.add_argument("--out", default="runs/compare", metavar="DIR",
                   help="folder for comparison.csv, comparison.md and the figures (created); one that holds "
                        "an earlier comparison is refused without --force")
    p.add_argument("--force", action="store_true", help="replace the comparison held in --out")
    _add_quiet(p)


def _run_compare(args):
    from numvae.io import check_output_folder

    created = _missing_folders(args.out)
    out = check_output_folder(args.out, "--out")
    with _no_folder_left_on_failure(out, created):
        old = [name for name in COMPARE_FILES if (out / name).exists()]
        if old and not args.force:
            raise FileExistsError(f"--out {out} holds an earlier comparison ({', '.join(old)}); replace it "
                                  "with --force, or choose another --out")
        return _compare_in(args)


def _compare_in(args):
    from numvae.compare import compare, write_report

    z_dims = args.z_dim
    if not args.quiet:
        print(f"pPCA, linear VAE and VAE on {args.data}, latent sizes {list(z_dims)} ...", file=sys.stderr, flush=True)
    try:
        result = compare(args.data, z_dim=z_dims, epochs=args.epochs, hidden=args.hidden,
                         k=args.k, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
                         data_root=args.data_root, progress=not args.quiet,
                         objective=TRAIN_OBJECTIVES[args.objective](args))
    except ValueError as exc:   # the one left after parsing: a K not below the data's dimension
        message = str(exc)
        raise ValueError("--z-dim" + message[len("z_dim"):] if message.startswith("z_dim:") else message) from None
    paths = write_report(result, args.out)
    print(result.to_markdown())
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _add_bench(p):
    p.add_argument("--hidden", type=_int_list(True, "400"), default="400", help="hidden widths, comma-separated")
    p.add_argument("--z-dim", type=_int_at_least(1), default=20, metavar="K", help="latent size K (z_dim)")
    _alias(p, "--latent", "z_dim", type=_int_at_least(1))
    p.add_argument("--activation", default="relu", choices=[a for a in ACTIVATIONS if a != "identity"],
                   help="hidden activation")
    p.add_argument("--batch-size", type=_int_list(False, "100,500"), default="100",
                   help="batch sizes, comma-separated (e.g. 100,500)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32", help=DTYPE_HELP)
    p.add_argument("--steps", type=_int_at_least(1), default=200, help="timed training steps (median reported)")
    p.add_argument("--warmup-steps", type=_int_at_least(0), default=20,
                   help="untimed training steps before timing (not the KL warm-up)")
    _alias(p, "--warmup", "warmup_steps", type=_int_at_least(0))
    p.add_argument("--k", type=_int_at_least(0), default=1000,
                   help="importance samples of the timed log_likelihood (0: skip it)")
    _alias(p, "--ll-k", "k", type=_int_at_least(0))
    p.add_argument("--ll-n", type=_int_at_least(1), default=1000, help="rows of the timed log_likelihood")
    p.add_argument("--threads", choices=["1", "2"], default="1",
                   help="threads of the element-wise work: the Bernoulli likelihood (VAE(threads=)) and Adam's "
                        "update (Adam alone is timed with the other choice too); the BLAS has its own, "
                        "OPENBLAS_NUM_THREADS")
    _alias(p, "--adam-threads", "threads", choices=["1", "2"])
    p.add_argument("--objective", choices=list(TRAIN_OBJECTIVES), default="elbo",
                   help="iwae or dreg: time a step of the importance-weighted bound against the ELBO step with "
                        "--iwae-k samples and their matrix-product floor, instead of the ELBO benchmark")
    p.add_argument("--iwae-k", type=_int_at_least(1), default=5, metavar="K",
                   help="importance samples k of --objective iwae or dreg")
    p.add_argument("--plain", action="store_true",
                   help="time the plain teaching path (VAE(fast=False), one thread) instead of the fast wing")
    p.add_argument("--only", action="store_true",
                   help="only the architecture given; without it 784-200-200-50 tanh is measured too")
    p.add_argument("--data-root", default=None, metavar="DIR",
                   help="folder searched first for Fashion-MNIST's train split (default: the search order "
                        "of `numvae data list`; random data of the same shape if not found)")
    p.add_argument("--json", default=None, metavar="FILE",
                   help="also write the full results as JSON (default: no file)")
    p.add_argument("--seed", type=_seed, default=0, help="seed of the weights, batches and random data")
    _add_quiet(p)


def _run_bench(args):
    import json

    from numvae.fast.bench import (DEFAULT_ARCHS, bench, bench_objective, format_objective_table, format_table,
                                   load_bench_data)
    from numvae.io import check_output_file, write_text
    from numvae.progress import Progress

    if args.json:
        check_output_file(args.json, "--json")
    if args.plain and args.threads == "2":
        raise ValueError("--plain times the teaching path, which has one thread; drop --threads 2")

    archs = [{"hidden": args.hidden, "z_dim": args.z_dim, "activation": args.activation}]
    if not args.only:
        archs += [a for a in DEFAULT_ARCHS[1:] if a != archs[0]]
    batch_sizes = args.batch_size
    X, description = load_bench_data(args.data_root, seed=args.seed)
    print(f"data: {description}", flush=True)
    if args.objective != "elbo":   # the IWAE step against the ELBO's with k samples, for the architecture given
        objective = TRAIN_OBJECTIVES[args.objective](args)
        results = [bench_objective(X, objective, **archs[0], batch_size=bs, dtype=args.dtype, steps=args.steps,
                                   warmup_steps=args.warmup_steps, seed=args.seed, fast=not args.plain)
                   for bs in batch_sizes]
        table = format_objective_table(results)
    else:
        # One unit per timed batch size and per timed log_likelihood.
        tracker = Progress(len(archs) * (len(batch_sizes) + bool(args.k and args.ll_n)), "bench", quiet=args.quiet)
        results = [bench(X, **arch, batch_sizes=batch_sizes, dtype=args.dtype, steps=args.steps,
                         warmup_steps=args.warmup_steps, k=args.k, ll_n=args.ll_n, seed=args.seed,
                         threads=int(args.threads), data=description, progress=tracker, fast=not args.plain)
                   for arch in archs]
        table = format_table(results)
    print(table)
    if args.json:
        write_text(args.json, json.dumps(results, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


def _add_course(p):
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    b = actions.add_parser("build", formatter_class=HelpFormatter,
                           help="execute every lesson as a notebook and write the course site with its API reference",
                           description="Execute every lesson as a notebook and write a static site that opens "
                                       "offline: the lessons typeset, every output and figure in place, the API "
                                       "reference beside them. Needs the course extra.")
    b.add_argument("--out", required=True, metavar="DIR",
                   help="the site's folder, required (no default): new, empty, or a site a previous build "
                        "wrote; open DIR/index.html")
    b.add_argument("--full", action="store_true", help="run the lessons at full size (minutes each), not fast mode")
    b.add_argument("--lessons", default=None, metavar="DIR",
                   help="the lessons folder (default: lessons/ beside the package, in a checkout)")
    b.add_argument("--reuse", default=None, metavar="DIR",
                   help="notebooks/ of a previous build: lessons unchanged since, in the same mode, are not run "
                        "again (default: every lesson runs)")
    _add_quiet(b)


def _run_course(args):
    from numvae.course import build

    try:
        build(args.out, lessons=args.lessons, full=args.full, reuse=args.reuse,
              log=(lambda *a: None) if args.quiet else print)
    except ImportError as exc:
        print(f"numvae course: error: {exc}", file=sys.stderr)
        return 2
    return 0


# name -> (help, add_arguments, run), in the order of `numvae --help`: the main job first.
COMMANDS = {
    "compare": ("held-out log-likelihood of pPCA, a linear VAE and a VAE for several latent sizes",
                _add_compare, _run_compare),
    "train": ("train a VAE and write its checkpoint, history and figures", _add_train, _run_train),
    "sample": ("draw samples from a trained VAE into a PNG grid", _add_sample, _run_sample),
    "gradcheck": ("check hand-written gradients against central finite differences",
                  _add_gradcheck, _run_gradcheck),
    "bench": ("time a training step against its matrix-multiply floor, and log_likelihood",
              _add_bench, _run_bench),
    "data": ("list the datasets numvae finds, or fetch MNIST or Fashion-MNIST", _add_data, _run_data),
    "course": ("build the course as a site to read offline: lessons, outputs, API reference",
               _add_course, _run_course),
}


def build_parser():
    """The ``numvae`` argument parser: one subparser per entry of ``COMMANDS``, in that order.

    Returns
    -------
    argparse.ArgumentParser
        Every option has a help text and its default is shown
        (:class:`HelpFormatter`).
    """
    parser = argparse.ArgumentParser(
        prog="numvae", formatter_class=HelpFormatter,
        description="Variational autoencoders and probabilistic PCA in pure NumPy.")
    parser.add_argument("--version", action="version", version=f"numvae {numvae.__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error (also: environment variable NUMVAE_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, add_arguments, _) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, formatter_class=HelpFormatter)
        add_arguments(p)
        # Also accepted after the command; SUPPRESS keeps it from resetting a --debug given before it.
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the full traceback of an error")
    _uniform_metavars(parser)
    return parser


def _command_parser(parser, args):
    """The innermost (sub)command parser that `args` went through (``numvae data list``'s for that command)."""
    while True:
        actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        chosen = getattr(args, actions[0].dest, None) if actions else None
        if chosen is None:
            return parser
        parser = actions[0].choices[chosen]


# Errors that mean the command line was wrong (exit status 2, as argparse uses); any
# other error means the work failed (status 1).
_USAGE_ERRORS = (ValueError, FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError)


def _describe(exc):
    """One line saying what went wrong, for an error the user can cause or meet."""
    if isinstance(exc, MemoryError):
        shape, dtype = getattr(exc, "shape", None), getattr(exc, "dtype", None)
        if shape is not None and dtype is not None:
            gib = math.prod(shape) * dtype.itemsize / 2 ** 30
            return (f"not enough memory: an array of shape {tuple(shape)} ({dtype}) would need {gib:,.1f} GiB; "
                    "choose smaller sizes")
        return f"not enough memory ({exc}); choose smaller sizes"
    if isinstance(exc, (ValueError, OSError, FloatingPointError)):
        return str(exc)
    return f"unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback, and please report it)"


def main(argv=None):
    """Run the ``numvae`` command with `argv` (default: ``sys.argv[1:]``) and return its exit status.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program name.

    Returns
    -------
    int
        0 on success; 1 if the work itself failed (a gradient check, a
        diverged training, a download); 2 for bad arguments or missing files,
        reported on standard error as ``numvae COMMAND: error: ...``.
    """
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:   # by the subcommand's own parser and usage, not the top level's
        _command_parser(parser, args).error(f"unrecognized arguments: {' '.join(extra)}")
    args.given = _given_options(sys.argv[1:] if argv is None else argv)   # for --resume: what was typed
    if args.command is None:
        parser.print_help()
        return 2
    debug = args.debug or os.environ.get("NUMVAE_DEBUG", "") not in ("", "0")
    try:
        return COMMANDS[args.command][2](args)
    except KeyboardInterrupt as exc:
        if debug:
            raise
        print(f"numvae {args.command}: interrupted" + (f": {exc}" if str(exc) else ""), file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            raise
        message = " ".join(_describe(exc).split())   # one line, whatever the message held
        print(f"numvae {args.command}: error: {message}", file=sys.stderr)
        return 2 if isinstance(exc, _USAGE_ERRORS) else 1


if __name__ == "__main__":
    sys.exit(main())
