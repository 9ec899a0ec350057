"""The machinery every lesson shares, and nothing else.

A lesson starts with ``L = setup("title")`` and then uses

* ``L.fast``      -- True with ``--fast`` or ``NUMVAE_FAST=1``: smaller sizes for CI;
* ``L.size(full, fast)`` -- pick a size for the current mode;
* ``L.rng``       -- a seeded ``np.random.Generator`` (never the global NumPy state);
* ``L.savefig(fig, name)`` -- write ``<out>/<name>.png`` atomically and print
  ``figure: <path>`` (tests/test_lessons.py collects these lines);
* ``check(name, got, expected, atol, rtol)`` -- print a comparison and assert it;
* ``check_that(name, condition, detail)`` -- print and assert a claim that is not an equality.

Every numerical claim a lesson makes goes through ``check`` or ``check_that``,
so a wrong formula stops the lesson with a message that says which claim
failed and by how much.
"""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")   # headless before pyplot is ever imported
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from numvae.io import atomic_open  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "figures"


class Lesson:
    """Mode, output folder and random generator of one lesson run."""

    def __init__(self, fast, out, seed):
        self.fast = fast
        self.out = Path(out)
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def size(self, full, fast):
        """`full` in the default mode, `fast` with ``--fast``."""
        return fast if self.fast else full

    def savefig(self, fig, name):
        """Save `fig` as ``<out>/<name>.png`` (atomically), close it, print ``figure: <path>``."""
        path = self.out / f"{name}.png"
        with atomic_open(path, "wb") as f:
            fig.savefig(f, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        print(f"figure: {path}")
        return path


def setup(title, seed=0, argv=None):
    """Parse ``--fast``, ``--out`` and ``--seed``, print a header, return a :class:`Lesson`.

    Unknown arguments are ignored, so the same file runs inside Jupyter (whose
    kernel passes its own ``-f ...``).
    """
    parser = argparse.ArgumentParser(description=title)
    parser.add_argument("--fast", action="store_true",
                        help="small sizes, for CI (also: environment NUMVAE_FAST=1)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help=f"folder for figures (default {DEFAULT_OUT})")
    parser.add_argument("--seed", type=int, default=seed, help=f"seed of the lesson's generator (default {seed})")
    args, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    fast = args.fast or os.environ.get("NUMVAE_FAST", "") not in ("", "0")
    np.set_printoptions(precision=5, suppress=True)
    print(f"== {title}  ({'fast' if fast else 'full'} mode, seed {args.seed}, figures in {args.out})")
    return Lesson(fast, args.out, args.seed)


def check(name, got, expected, atol=0.0, rtol=0.0):
    """Print `got` against `expected` and assert ``|got - expected| <= atol + rtol*|expected|`` everywhere.

    Arrays are compared element-wise; the line shows the worst element.
    """
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    err = np.abs(got - expected)
    tol = atol + rtol * np.abs(expected) + np.zeros_like(err)
    ok = bool(np.all(err <= tol))                        # False for NaN too
    worst = np.unravel_index(np.argmax(err / (tol + 1e-300)), err.shape)   # closest to failing
    where = f" at {tuple(int(i) for i in worst)}" if err.ndim else ""
    g, e = np.broadcast_to(got, err.shape)[worst], np.broadcast_to(expected, err.shape)[worst]
    print(f"  [{'ok' if ok else 'FAIL'}] {name}: got {g:.6g}, expected {e:.6g}{where}, "
          f"|diff| {err[worst]:.2g} {'<=' if ok else '>'} tol {tol[worst]:.2g}")
    if not ok:
        raise AssertionError(f"{name}: got {g:.10g}, expected {e:.10g}{where}; |diff| = {err[worst]:.3g} "
                             f"exceeds tolerance {tol[worst]:.3g} (atol={atol}, rtol={rtol})")


def check_that(name, condition, detail=""):
    """Print and assert a claim that is not an equality (an inequality, an ordering, a sign)."""
    ok = bool(np.all(condition))
    print(f"  [{'ok' if ok else 'FAIL'}] {name}" + (f": {detail}" if detail else ""))
    if not ok:
        raise AssertionError(f"{name} does not hold" + (f": {detail}" if detail else ""))
