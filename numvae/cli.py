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


# name -> (help, add_arguments, run)
COMMANDS = {
    "gradcheck": ("check hand-written gradients against central finite differences",
                  _add_gradcheck, _run_gradcheck),
    "data": ("fetch MNIST or Fashion-MNIST (downloads, checks MD5s)", _add_data, _run_data),
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
