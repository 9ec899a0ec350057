"""The machinery every lesson shares, and nothing else.

A lesson starts with ``L = setup("title")`` and then uses

* ``L.fast``      -- True with ``--fast``, ``NUMVAE_FAST=1`` or ``setup(..., fast=True)``:
  smaller sizes, seconds instead of minutes;
* ``L.out``       -- the figures' folder: ``--out``, ``NUMVAE_OUT`` or ``setup(..., out=DIR)``,
  default ``lessons/figures/``;
* ``L.size(full, fast)`` -- pick a size for the current mode;
* ``L.rng``, ``L.seed`` -- a seeded ``np.random.Generator`` (never the global NumPy state)
  and its seed: ``--seed``, ``NUMVAE_SEED`` or ``setup(..., seed=S)``, default 0;
* ``L.rng_for(purpose)`` -- a separate generator (a your-turn cell's grading inputs), so that
  grading draws nothing from ``L.rng``;
* ``L.savefig(fig, name)`` -- write ``<out>/<name>.png`` atomically, print
  ``figure: <path>`` (tests/test_lessons.py collects these lines) and, inside a
  Jupyter kernel, show the picture under the cell that made it;
* ``check(name, got, expected, atol, rtol)`` -- print a comparison and assert it;
* ``check_that(name, condition, detail)`` -- print and assert a claim that is not an equality;
* ``grade(task, got, expected, mistakes, hint)`` -- grade a "your turn" answer: ``[ok]`` when it
  equals the reference, otherwise stop with a hint naming the step that is wrong (chosen by which
  plausible mistake the answer matches);
* ``YourTurn`` -- what a "your turn" stub of the student version raises (see
  ``make_student_version.py``): run as a script the lesson then prints that one line and exits
  with status 2; in a notebook the cell shows it, without a traceback.

Every numerical claim a lesson makes goes through ``check`` or ``check_that``,
so a wrong formula stops the lesson with a message that says which claim
failed and by how much.

Run as a script (``python lessons/NN_x.py``) a lesson draws headless (the Agg
backend) and only writes files. Run inside IPython/Jupyter it keeps the
kernel's backend, so the student's own plots appear as usual too.
"""

import argparse
import io
import os
import sys
import zlib
from pathlib import Path


def in_kernel():
    """True inside a Jupyter/IPython kernel (a notebook, VS Code's interactive window)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and hasattr(shell, "kernel")


if not in_kernel():
    os.environ.setdefault("MPLBACKEND", "Agg")   # headless before pyplot is ever imported
    import matplotlib

    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from numvae.io import atomic_open, check_output_folder  # noqa: E402
from numvae.plots import missing_labels  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "figures"


class Lesson:
    """Mode, output folder and random generator of one lesson run."""

    def __init__(self, fast, out, seed):
        self.fast = fast
        self.out = Path(out)
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def rng_for(self, purpose):
        """A generator of its own for `purpose` (say, a your-turn cell's grading inputs).

        Seeded from the lesson's seed and the name, so drawing from it leaves
        ``rng``'s stream, and with it every number of the lesson, as it was.
        """
        return np.random.default_rng([self.seed, zlib.crc32(purpose.encode("utf-8"))])

    def size(self, full, fast):
        """`full` in the default mode, `fast` with ``--fast``."""
        return fast if self.fast else full

    def savefig(self, fig, name):
        """Save `fig` as ``<out>/<name>.png`` (atomically), show it in a kernel, close it, print its path."""
        missing = missing_labels(fig)
        check_that(f"figure {name} says what it shows (titles, axis labels)", not missing, "; ".join(missing))
        path = self.out / f"{name}.png"
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        with atomic_open(path, "wb") as f:
            f.write(buf.getvalue())
        plt.close(fig)
        if in_kernel():
            from IPython.display import Image, display
            display(Image(data=buf.getvalue(), format="png"))   # the very bytes written to `path`
        print(f"figure: {path}")
        return path


def _seed_arg(text):
    """argparse type of ``--seed``: a non-negative integer, as the numvae CLI takes it."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer; got {text!r}")
    return value


def _out_arg(text):
    """argparse type of ``--out``: a folder the figures can be written to, created now.

    Checked here, before the lesson computes anything, so that a read-only
    folder or one under a file fails at once and by name, not with a
    traceback after the first figure.
    """
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"must be a folder for the figures; {text!r} is an existing file")
    try:
        check_output_folder(path, "folder")
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"must be a folder the figures can be written to; {exc}") from None
    return path


def setup(title, seed=0, argv=None, fast=None, out=None):
    """Parse ``--fast``, ``--out`` and ``--seed``, print a header, return a :class:`Lesson`.

    Parameters
    ----------
    title : str
    seed : int
        Default seed. ``NUMVAE_SEED`` in the environment overrides it (so a
        notebook takes its seed from the environment, as it takes its mode
        from ``NUMVAE_FAST``, without editing a cell), and ``--seed`` on the
        command line overrides both.
    argv : list of str, optional
        The arguments to parse; default ``sys.argv[1:]``. Unknown arguments are
        ignored, so the same file runs inside Jupyter (whose kernel passes its
        own ``-f ...``).
    fast, out : optional
        Chosen from inside a notebook, where there is no command line:
        ``setup("...", fast=True)`` for small sizes, ``out="DIR"`` for the
        figures' folder. Given, they take precedence over the arguments.

    Run as a script (`argv` not given, no kernel), it also installs the
    ``sys.excepthook`` that reports an unfilled :class:`YourTurn` stub or a
    :class:`WrongAnswer` by its message alone, with exit status 2 or 1.

    A bad ``--seed`` or ``NUMVAE_SEED`` (negative, a float, a word) or an ``--out`` that is an
    existing file, lies under one or cannot be written stops the run with an
    argparse error naming the option, before any work; the same values given
    as arguments raise ``ValueError``.
    """
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    parser = argparse.ArgumentParser(description=title)
    given_default, env_seed = seed, os.environ.get("NUMVAE_SEED", "")
    if env_seed != "":
        try:
            seed = _seed_arg(env_seed)
        except argparse.ArgumentTypeError as err:
            parser.error(f"NUMVAE_SEED (the default of --seed) {err}")
    parser.add_argument("--fast", action="store_true",
                        help="small sizes, seconds instead of minutes (also: NUMVAE_FAST=1)")
    # No default here: argparse would check (and create) it even when setup(out=...) overrides it.
    parser.add_argument("--out", type=_out_arg, default=None,
                        help=f"folder for figures (default NUMVAE_OUT or {DEFAULT_OUT})")
    parser.add_argument("--seed", type=_seed_arg, default=int(seed),
                        help=f"seed of the lesson's generator (default NUMVAE_SEED or {given_default})")
    args, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    if fast is None:
        fast = args.fast or os.environ.get("NUMVAE_FAST", "") not in ("", "0")
    if out is None and args.out is not None:
        out = args.out
    elif out is None:
        default = os.environ.get("NUMVAE_OUT", str(DEFAULT_OUT))
        try:
            out = _out_arg(default)
        except argparse.ArgumentTypeError as err:
            parser.error(f"argument --out (not given, so NUMVAE_OUT or {DEFAULT_OUT}: {default!r}): {err}")
    else:
        try:
            out = _out_arg(str(out))
        except argparse.ArgumentTypeError as err:
            raise ValueError(f"out {err}") from None
    np.set_printoptions(precision=5, suppress=True)
    if argv is None and not in_kernel():   # a script's run (a kernel renders them by _render_traceback_)
        sys.excepthook = _answer_hook
    print(f"== {title}  ({'fast' if fast else 'full'} mode, seed {args.seed}, figures in {out})")
    return Lesson(bool(fast), out, args.seed)


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


# ---------------------------------------------------------------------------
# "Your turn" cells: the stub a student fills in, and the grading of the answer.

class YourTurn(NotImplementedError):
    """Raised by a "your turn" stub of the student version: the message says what to write.

    A script stops with this one line and exit status 2 (see :func:`setup`); in a
    Jupyter kernel ``_render_traceback_`` makes the cell show the line instead of a
    traceback (IPython's hook for exceptions that render themselves).
    """

    exit_status = 2

    def _render_traceback_(self):
        return [str(self)]


class WrongAnswer(AssertionError):
    """A "your turn" answer that differs from the reference; the message ends with the hint."""

    exit_status = 1

    def _render_traceback_(self):
        return str(self).splitlines()


def _answer_hook(etype, value, tb, _previous=sys.excepthook):
    """sys.excepthook of a lesson run as a script: an unfilled stub or a wrong answer is reported
    by its message alone (the hint names the step; a traceback into the grader would not help)."""
    if not (isinstance(etype, type) and issubclass(etype, (YourTurn, WrongAnswer))):
        return _previous(etype, value, tb)
    sys.stdout.flush()
    print(str(value), file=sys.stderr, flush=True)
    os._exit(etype.exit_status)   # after the hook the interpreter would exit with 1 whatever we return


def _same(got, value, atol, rtol):
    """True if `got` equals `value` in shape and, within the tolerance, in every entry (inf == inf)."""
    try:
        got, value = np.asarray(got, dtype=float), np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return False
    if got.shape != value.shape:
        return False
    with np.errstate(invalid="ignore"):
        return bool(np.all(np.isclose(got, value, atol=atol, rtol=rtol, equal_nan=True)))


def _mistake_value(value):
    """A mistake's wrong answer: `value` itself, or what it returns if callable (None if that raises)."""
    if not callable(value):
        return value
    try:
        with np.errstate(all="ignore"):
            return value()
    except Exception:                       # a slip that does not even compute at these shapes
        return None


def _describe(a):
    """A short account of an answer for the FAIL line: its shape, or its value if it is a number."""
    try:
        a = np.asarray(a, dtype=float)
    except (TypeError, ValueError):
        return f"a {type(a).__name__}"
    if a.ndim == 0:
        return f"{float(a):.6g}"
    bad = int(a.size - np.count_nonzero(np.isfinite(a)))
    return f"an array of shape {a.shape}" + (f" with {bad} entries inf or nan" if bad else "")


def grade(task, got, expected, mistakes=(), hint="", atol=1e-10, rtol=1e-8):
    """Grade a "your turn" answer against an independent reference, with a hint if it is wrong.

    Parameters
    ----------
    task : str
        What the student wrote ("the Gaussian KL, section 3").
    got : array_like
        The student's answer.
    expected : array_like
        The reference: the library's function, a closed form, a brute force --
        computed without the student's code, and without drawing from the
        lesson's generator (so the lesson's numbers do not depend on the grading).
    mistakes : sequence of (array_like or callable, str)
        Plausible wrong answers, each computed from the same inputs, with the
        hint that names the step that produces it ("the −1 per dimension is
        missing"). The first one the answer equals gives the hint. A callable
        is called only if the answer is wrong, and skipped if it raises (a
        transposed matrix that does not multiply at these shapes).
    hint : str
        The hint when the answer matches none of the mistakes.
    atol, rtol : float
        The tolerance of the comparisons, as in :func:`numpy.isclose`
        (``inf`` equals ``inf``, ``nan`` equals ``nan``).

    Prints ``[ok]`` and returns `got` as an array when it matches; otherwise
    prints ``[FAIL]`` and raises :class:`WrongAnswer`, whose message ends with the hint.
    """
    if _same(got, expected, atol, rtol):
        print(f"  [ok] your turn, {task}: equals the reference")
        return np.asarray(got, dtype=float)
    expected = np.asarray(expected, dtype=float)
    why = next((h for value, h in mistakes if _same(got, _mistake_value(value), atol, rtol)), None)
    if why is None:
        try:
            got_shape = np.asarray(got, dtype=float).shape
        except (TypeError, ValueError):
            got_shape = None
        if got_shape is None:
            why = f"the answer is not an array of numbers but {_describe(got)}. " + hint
        elif got_shape != expected.shape:
            why = f"the shape is {got_shape}, the reference's is {expected.shape}. " + hint
        elif not np.all(np.isfinite(np.asarray(got, dtype=float))) and np.all(np.isfinite(expected)):
            why = "some entries are inf or nan where the answer is finite: an exp overflowed, a log of 0 " \
                  "or a division by 0 happened. " + hint
        else:
            why = hint
    line = f"your turn, {task}: got {_describe(got)}, expected {_describe(expected)}"
    print(f"  [FAIL] {line}")
    raise WrongAnswer(f"{line}\nhint: {why.strip()}")
