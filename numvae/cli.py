"""The `numvae` command (also `python -m numvae`).

Each subcommand is a pair of small functions, ``_add_<name>(parser)`` that
declares its arguments and ``_run_<name>(args)`` that does the work by calling
the library and returns the exit status. ``COMMANDS`` lists them.
"""

import argparse
import sys

import numvae


def _add_gradcheck(p):
    p.add_argument("--seed", type=int, default=0, help="seed of the random model and data")
    p.add_argument("--tol", type=float, default=1e-6, help="largest relative error that passes")


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
    p.add_argument("action", choices=["fetch"], help="fetch: download and verify the four IDX files")
    p.add_argument("name", choices=["mnist", "fashion-mnist"], help="which dataset")
    p.add_argument("--dest", default=None,
                   help="folder to save into (default: $NUMVAE_DATA/NAME, else numvae's data/NAME)")


def _run_data(args):
    from numvae.data import default_fetch_dest, fetch

    dest = args.dest if args.dest is not None else default_fetch_dest(args.name)
    try:
        fetch(args.name, dest, log=print)
    except OSError as exc:  # network failures; nothing partial was kept
        print(f"numvae data: error: {exc}", file=sys.stderr)
        return 1
    print(f"done: load it with numvae.data.load_mnist_like({args.name!r}, root={str(dest)!r})")
    return 0


def _add_data_choice(p, digits_help):
    """--data and --data-root, shared by train and compare."""
    p.add_argument("--data", choices=["digits", "fashion-mnist", "mnist"], default="digits",
                   help=f"digits: the embedded 8x8 UCI digits, {digits_help}; "
                        "fashion-mnist, mnist: the train split for training and the test split for evaluation")
    p.add_argument("--data-root", default=None, metavar="DIR", help="folder searched first for MNIST-format files")


def _add_train(p):
    _add_data_choice(p, "split 80/20 into train/valid with --seed")
    p.add_argument("--decoder", choices=["bernoulli", "continuous_bernoulli", "gaussian"], default="bernoulli")
    p.add_argument("--hidden", default="400", help="hidden widths, comma-separated (e.g. 200,200); '' for linear")
    p.add_argument("--latent", type=int, default=20, help="latent dimension K (2 also draws latent.png, manifold.png)")
    p.add_argument("--epochs", type=int, default=10, help="passes over the training data (10: seconds on digits)")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    p.add_argument("--kl-warmup", type=float, default=0.0, metavar="EPOCHS",
                   help="epochs of linear KL warm-up from 0 to 1 (Bowman et al. 2015); 0: none")
    p.add_argument("--free-bits", type=float, default=0.0, metavar="NATS",
                   help="free bits per latent dimension (Kingma et al. 2016); 0: none")
    p.add_argument("--posterior", choices=["diagonal", "full"], default="diagonal",
                   help="q(z|x): diagonal Gaussian, or full covariance through a Cholesky factor (no free bits)")
    p.add_argument("--binarize", action="store_true",
                   help="dynamic binarization: a fresh Bernoulli sample of every batch")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights, the split, batches and noise")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--out", default="numvae_run", metavar="DIR", help="output folder (created)")
    p.add_argument("--quiet", action="store_true", help="no progress line")


def _parse_ints(text, option):
    """'200,200' -> (200, 200); '' -> () (for --hidden: a linear VAE)."""
    try:
        return tuple(int(h) for h in text.split(",") if h.strip())
    except ValueError:
        raise ValueError(f"{option} must be comma-separated integers like 200,200; got {text!r}") from None


def _train_data(args):
    """Return (X_train, X_valid, y_valid, description) for ``numvae train``."""
    from numvae.data import load_digits, load_mnist_like, split

    if args.data == "digits":
        X, y = load_digits()
        (X_tr, _), (X_va, y_va) = split(X, [0.8, 0.2], args.seed, y=y)
        return X_tr, X_va, y_va, f"digits: {len(X_tr)} train / {len(X_va)} valid rows (seeded 80/20 split)"
    X_va, y_va = load_mnist_like(args.data, "test", args.data_root)
    try:
        X_tr, _ = load_mnist_like(args.data, "train", args.data_root)
    except FileNotFoundError:
        # Only the test split is available (numvae embeds Fashion-MNIST's):
        # train on part of it rather than fail, and say so.
        (X_tr, _), (X_va, y_va) = split(X_va, [0.8, 0.2], args.seed, y=y_va)
        return X_tr, X_va, y_va, (f"{args.data}: train split NOT found, so the test split is cut 80/20: "
                                  f"{len(X_tr)} train / {len(X_va)} valid rows")
    return X_tr, X_va, y_va, f"{args.data}: train split ({len(X_tr)} rows) for training, test split ({len(X_va)}) for validation"


def _run_train(args):
    from pathlib import Path

    import numpy as np

    from numvae import plots
    from numvae.train import fit
    from numvae.vae import VAE

    X_tr, X_va, y_va, description = _train_data(args)
    print(description)
    model = VAE(X_tr.shape[1], hidden=_parse_ints(args.hidden, '--hidden'), z_dim=args.latent, decoder=args.decoder,
                dtype=args.dtype, seed=args.seed, posterior=args.posterior)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        history = fit(model, X_tr, X_va, epochs=args.epochs, batch_size=args.batch_size,
                      optimizer=args.optimizer, lr=args.lr, kl_warmup_epochs=args.kl_warmup,
                      free_bits=args.free_bits, binarize=args.binarize, seed=args.seed,
                      progress=not args.quiet, checkpoint=out / "model.npz")
    except FloatingPointError as exc:
        print(f"numvae train: error: {exc}", file=sys.stderr)
        return 1
    history.to_csv(out / "history.csv")
    history.to_json(out / "history.json")
    written = ["model.npz", "history.csv", "history.json"]
    if len(history):
        plots.learning_curves(history, path=out / "learning_curves.png")
        written.append("learning_curves.png")
    else:  # --epochs 0: nothing to plot, but the untrained model is still saved
        model.save(out / "model.npz")
    shown = X_va[:32]
    plots.reconstructions(shown, model.reconstruct(shown), ncols=8, path=out / "reconstructions.png")
    plots.samples_grid(model.sample(64, rng=args.seed), ncols=8, path=out / "samples.png")
    written += ["reconstructions.png", "samples.png"]
    if model.z_dim == 2:
        mu, _ = model.encode(X_va)
        plots.latent_scatter(mu, y_va, path=out / "latent.png")
        z, _ = plots.manifold_z(15)
        plots.manifold(model.decode(z), path=out / "manifold.png")
        written += ["latent.png", "manifold.png"]
    if len(history):
        last = history.last
        print(f"final valid ELBO {last['valid_elbo']:.2f} nats (train {last['train_elbo']:.2f}), "
              f"{np.mean(history['seconds']):.2f} s/epoch, {last['active_units']}/{model.z_dim} active units")
    print(f"wrote {', '.join(written)} to {out}")
    return 0


def _add_sample(p):
    p.add_argument("checkpoint", help="a model.npz written by numvae train")
    p.add_argument("--n", type=int, default=64, help="number of samples")
    p.add_argument("--seed", type=int, default=0, help="seed of z ~ N(0, I)")
    p.add_argument("--out", default=None, metavar="FILE.png",
                   help="image to write (default: <checkpoint>_samples.png beside the checkpoint)")


def _run_sample(args):
    from pathlib import Path

    from numvae import plots
    from numvae.vae import VAE

    model = VAE.load(args.checkpoint)
    ckpt = Path(args.checkpoint)
    out = Path(args.out) if args.out else ckpt.with_name(f"{ckpt.stem}_samples.png")
    plots.samples_grid(model.sample(args.n, rng=args.seed), path=out)
    print(f"wrote {args.n} samples to {out}")
    return 0


def _add_compare(p):
    _add_data_choice(p, "one seeded 80/20 train/test split")
    p.add_argument("--latent", default="2,4,8,16", help="latent sizes K, comma-separated")
    p.add_argument("--hidden", default="128", help="hidden widths of the nonlinear VAE, comma-separated")
    p.add_argument("--epochs", type=int, default=40, help="training epochs of each VAE")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate")
    p.add_argument("--k", type=int, default=500, help="importance samples per test image for the VAE log p(x)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, dequantization, weights and batches")
    p.add_argument("--out", default="runs/compare", metavar="DIR",
                   help="folder for comparison.csv, comparison.md and the figures (created)")


def _run_compare(args):
    from numvae.compare import compare, write_report

    latent = _parse_ints(args.latent, "--latent")
    print(f"pPCA, linear VAE and VAE on {args.data}, latent sizes {list(latent)} ...", flush=True)
    result = compare(args.data, latent=latent, epochs=args.epochs, hidden=_parse_ints(args.hidden, "--hidden"),
                     k=args.k, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
                     data_root=args.data_root, progress=True)
    paths = write_report(result, args.out)
    print()
    print(result.to_markdown())
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _add_bench(p):
    p.add_argument("--hidden", default="400", help="hidden widths, comma-separated (default 400)")
    p.add_argument("--latent", type=int, default=20, help="latent dimension K")
    p.add_argument("--activation", default="relu", help="hidden activation")
    p.add_argument("--batch-size", default="100", help="batch sizes, comma-separated (e.g. 100,500)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--steps", type=int, default=200, help="timed training steps (median reported)")
    p.add_argument("--warmup", type=int, default=20, help="untimed steps first")
    p.add_argument("--ll-k", type=int, default=1000, help="importance samples of the timed log_likelihood (0: skip)")
    p.add_argument("--ll-n", type=int, default=1000, help="rows of the timed log_likelihood")
    p.add_argument("--only", action="store_true",
                   help="only the architecture given; without it 784-200-200-50 tanh is measured too")
    p.add_argument("--data-root", default=None, metavar="DIR", help="folder searched first for Fashion-MNIST")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the full results as JSON")
    p.add_argument("--seed", type=int, default=0)


def _run_bench(args):
    import json

    from numvae.bench import DEFAULT_ARCHS, bench, format_table, load_bench_data
    from numvae.io import write_text

    def ints(text, option):
        try:
            return tuple(int(h) for h in text.split(",") if h.strip())
        except ValueError:
            raise ValueError(f"{option} must be comma-separated integers like 100,500; got {text!r}") from None

    archs = [{"hidden": ints(args.hidden, "--hidden"), "z_dim": args.latent, "activation": args.activation}]
    if not args.only:
        archs += [a for a in DEFAULT_ARCHS[1:] if a != archs[0]]
    X, description = load_bench_data(args.data_root, seed=args.seed)
    print(f"data: {description}", flush=True)
    results = []
    for arch in archs:
        results.append(bench(X, **arch, batch_sizes=ints(args.batch_size, "--batch-size"), dtype=args.dtype,
                             steps=args.steps, warmup=args.warmup, ll_k=args.ll_k, ll_n=args.ll_n,
                             seed=args.seed, data=description))
    print(format_table(results))
    if args.json:
        write_text(args.json, json.dumps(results, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


# name -> (help, add_arguments, run)
COMMANDS = {
    "gradcheck": ("check hand-written gradients against central finite differences",
                  _add_gradcheck, _run_gradcheck),
    "data": ("fetch MNIST or Fashion-MNIST (downloads, checks MD5s)", _add_data, _run_data),
    "train": ("train a VAE and write its checkpoint, history and figures", _add_train, _run_train),
    "sample": ("draw samples from a trained VAE into a PNG grid", _add_sample, _run_sample),
    "bench": ("time a training step against its matrix-multiply floor, and log_likelihood",
              _add_bench, _run_bench),
    "compare": ("held-out log-likelihood of pPCA, a linear VAE and a VAE for several latent sizes",
                _add_compare, _run_compare),
}


def build_parser():
    parser = argparse.ArgumentParser(
        prog="numvae",
        description="Variational autoencoders and probabilistic PCA in pure NumPy.")
    parser.add_argument("--version", action="version", version=f"numvae {numvae.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, add_arguments, _) in COMMANDS.items():
        add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return COMMANDS[args.command][2](args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"numvae {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
