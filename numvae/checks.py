"""Input validation shared by every module.

One place decides what a valid array is, so every public function fails the
same way on bad input: a ``ValueError`` that names the argument, says what was
expected and what was given. Nothing should fail later with a NumPy broadcast
error that the user has to decode.
"""

import numbers
import os
from pathlib import Path

import numpy as np


def check_array(a, name, ndim=None, dtype=None, finite=True):
    """Return `a` as a floating ndarray, or raise ``ValueError`` naming `name`.

    Parameters
    ----------
    a : array_like
        The value to check.
    name : str
        The argument's name, used in error messages.
    ndim : int, optional
        Required number of dimensions.
    dtype : numpy dtype, optional
        Floating dtype to convert to. By default float arrays keep their
        dtype and anything else becomes float64.
    finite : bool
        Reject NaN and infinite entries.
    """
    try:
        arr = np.asarray(a)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} must be a numeric array; got {type(a).__name__} ({exc})") from None
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a numeric array; got dtype {arr.dtype}")
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    elif arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array; got shape {arr.shape}")
    if finite and not np.isfinite(arr).all():
        n_bad = int(arr.size - np.isfinite(arr).sum())
        raise ValueError(f"{name} must be finite; got {n_bad} NaN or infinite entries")
    return arr


def check_matrix(X, name="X", n_features=None, min_rows=1, dtype=None):
    """Validate a data matrix: 2-D ``(N, D)``, numeric, finite, at least `min_rows` rows.

    This is the single validator the models call on data. With `n_features`
    the width must match (e.g. the model's ``x_dim``).
    """
    X = check_array(X, name, ndim=2, dtype=dtype)
    if X.shape[0] < min_rows:
        raise ValueError(f"{name} must have at least {min_rows} rows; got shape {X.shape}")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} must have shape (N, {n_features}) for this model; got {X.shape}")
    return X


def check_data(X, name, n_features, dtype, likelihood=None, binarize=False):
    """Training data: a matrix of `n_features` columns in `dtype`, in `likelihood`'s support, in [0, 1] to binarize.

    Each failure is a ``ValueError`` under the argument's own `name`, saying
    what the family needs (``likelihood.support``) when it refuses the data.
    """
    X = check_matrix(X, name, n_features=n_features, dtype=dtype)
    if likelihood is not None:
        need = f" (a {likelihood.name} decoder needs {likelihood.support})" if likelihood.support else ""
        likelihood.check_x(X, f"{name}{need}")
    if binarize:
        check_unit_interval(X, f"{name} (binarize=True)")
    return X


def check_labels(y, name, n_classes, n=None):
    """`y` as an int64 vector of class indices in ``0..n_classes-1`` (of length `n` if given), or ``ValueError``."""
    try:
        arr = np.asarray(y)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} must be a vector of integer class labels; got {type(y).__name__} ({exc})") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D vector of integer class labels; got shape {arr.shape}")
    if arr.dtype.kind not in "iuf" or (arr.dtype.kind == "f" and not np.all(np.isfinite(arr))):
        raise ValueError(f"{name} must hold integer class labels; got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and not np.array_equal(arr, np.round(arr)):
        raise ValueError(f"{name} must hold integer class labels; got non-integer values such as "
                         f"{arr[arr != np.round(arr)][0]!r}")
    arr = arr.astype(np.int64)
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} must have one label per row of the data ({n}); got {arr.shape[0]}")
    if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        bad = arr[(arr < 0) | (arr >= n_classes)][0]
        raise ValueError(f"{name} must hold labels in 0..{n_classes - 1}; got {int(bad)}")
    return arr


def check_unit_interval(x, name):
    """Raise ``ValueError`` unless every entry of `x` lies in [0, 1]."""
    if x.size and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"{name} must lie in [0, 1]; got values in [{x.min():.4g}, {x.max():.4g}]")
    return x


def check_choice(value, name, choices):
    """Raise ``ValueError`` unless `value` is one of `choices`."""
    try:
        ok = value in choices
    except TypeError:  # an unhashable value (a list) cannot be a key of a dict of choices
        ok = False
    if not ok:
        raise ValueError(f"{name} must be one of {sorted(choices)}; got {value!r}")
    return value


def registry(*families):
    """``{family.name: family}`` for classes that each declare a distinct ``name``: what ``check_choice`` and the CLI read."""
    names = [family.name for family in families]
    if len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"families must declare distinct, non-empty names; got {names}")
    return dict(zip(names, families))


def is_real(value):
    """True for a real scalar (a Python or NumPy int or float, or a 0-d array of one); False for bools,
    strings, None and arrays with entries."""
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        return True
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_positive(value, name, strict=True):
    """Raise ``ValueError`` unless the scalar `value` is a finite number > 0 (>= 0 if not strict)."""
    bound = "> 0" if strict else ">= 0"
    if not is_real(value):
        raise ValueError(f"{name} must be a finite number {bound}; got {type(value).__name__} {value!r}")
    ok = np.isfinite(value) and (value > 0 if strict else value >= 0)
    if not ok:
        raise ValueError(f"{name} must be a finite number {bound}; got {value!r}")
    return value


def check_int(value, name, minimum):
    """Return `value` as an int, or raise ``ValueError`` unless it is an integer >= `minimum`."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def check_threads(value, name="threads"):
    """Return `value` as 1 or 2 (the threads ``numvae.fast.halves`` can use), or raise ``ValueError`` naming `name`."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value not in (1, 2):
        raise ValueError(f"{name} must be 1 or 2; got {value!r}")
    return int(value)


def as_generator(rng, name="rng", none_ok=False):
    """Return `rng` as a ``np.random.Generator``, or raise ``ValueError`` naming `name`.

    A Generator passes through; a non-negative int, a ``SeedSequence`` or a
    ``BitGenerator`` seeds one, exactly as ``np.random.default_rng`` does. None
    gives fresh entropy if `none_ok` (for noise, where a caller may not care),
    else is refused (data generators must be reproducible). A negative, float,
    string or bool seed is refused here, under the argument's name, instead of
    deep inside NumPy.

    numvae never touches NumPy's global random state: every stochastic function
    takes a Generator or a seed, so a run is reproducible from its arguments.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if (rng is None and none_ok) or isinstance(rng, (np.random.SeedSequence, np.random.BitGenerator)):
        return np.random.default_rng(rng)
    if isinstance(rng, numbers.Integral) and not isinstance(rng, (bool, np.bool_)) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise ValueError(f"{name} must be a numpy.random.Generator or a non-negative int seed"
                     f"{' or None' if none_ok else ''}; got {rng!r}")


def check_path(path, name):
    """Return `path` as a ``pathlib.Path``, or raise ``ValueError`` naming `name` unless it is a str or PathLike."""
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"{name} must be a path (str or os.PathLike); got {type(path).__name__} {path!r}")
    return Path(path)


def check_input_file(path, name, what, expected="a file"):
    """Return `path` as a ``pathlib.Path`` to an existing file, or raise naming `what` it should be.

    ``ValueError`` (via :func:`check_path`) for a non-path, ``IsADirectoryError``
    for a folder (not reported as missing), ``FileNotFoundError`` otherwise.
    """
    path = check_path(path, name)
    if path.is_dir():
        raise IsADirectoryError(f"{what} {path} is a directory; expected {expected}")
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    return path


def check_widths(hidden, name="hidden"):
    """Return `hidden` as a tuple of positive ints (layer widths; empty is allowed)."""
    try:
        hidden = tuple(hidden)
    except TypeError:
        raise ValueError(f"{name} must be a sequence of positive integers; got {hidden!r}") from None
    return tuple(check_int(h, f"{name} widths", 1) for h in hidden)


def physical_memory():
    """This machine's physical memory in bytes, or None where the system does not say (not POSIX)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_vae_size(x_dim, hidden, z_dim, posterior, dtype):
    """Raise ``ValueError`` naming the sizes if a VAE of them cannot hold its parameters in memory.

    Counted before anything is allocated (the full posterior's index arrays
    alone are O(K²)), so ``VAE(z_dim=10**12)`` is refused by name instead of
    ending in NumPy's ``MemoryError``. The bound is the parameters and their
    gradients against the machine's physical memory; training needs more
    (the optimizer's state, the activations), so passing it does not promise
    that a run fits.
    """
    q_outputs = posterior.outputs_for(z_dim)                        # the posterior family (a class), not built
    n = 0
    for sizes in ((x_dim, *hidden, q_outputs), (z_dim, *hidden[::-1], x_dim)):
        n += sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))   # weights and biases, as MLP.n_params
    n += x_dim                                                      # at most the likelihood's own (per pixel)
    need, have = 2 * n * np.dtype(dtype).itemsize, physical_memory()
    if have is not None and need > have:
        raise ValueError(f"x_dim={x_dim}, hidden={tuple(hidden)}, z_dim={z_dim} (posterior {posterior.name!r}) give "
                         f"{n:,} parameters: {need / 2 ** 30:,.1f} GiB for them and their gradients in "
                         f"{np.dtype(dtype).name}, more than this machine's {have / 2 ** 30:,.1f} GiB of memory; "
                         "choose smaller sizes")
    return n


# The floating types numvae computes in end to end. float16 has no BLAS and no
# dtype= in NumPy's standard_normal; longdouble neither, and is not portable.
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_float_dtype(dtype, name="dtype"):
    """Return `dtype` as float32 or float64, or raise ``ValueError`` naming `name`."""
    try:
        dtype = np.dtype(dtype)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a floating dtype, float32 or float64; got {dtype!r}") from None
    if dtype not in FLOAT_DTYPES:
        raise ValueError(f"{name} must be a floating dtype, float32 or float64 (the two numvae supports "
                         f"end to end); got {dtype}")
    return dtype


def check_finite_result(values, what):
    """Raise ``FloatingPointError`` if the result `values` of a forward pass on valid input is not finite.

    The inputs were checked, so a NaN or infinity here means the arithmetic
    overflowed (parameters too large, e.g. weights of 1e300 in a checkpoint):
    an error, not a result. It is not a ``ValueError`` because no argument was
    invalid; training's divergence is the same type.
    """
    finite = np.isfinite(values)
    if not finite.all():
        raise FloatingPointError(
            f"{what} overflowed: {finite.size - int(finite.sum())} of {finite.size} values are NaN or "
            "infinite although the input was finite; the model's parameters are too large for "
            "its floating type (a diverged run or a corrupt checkpoint)")
    return values
