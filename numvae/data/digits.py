r"""The UCI optical-recognition handwritten digits, embedded in numvae: :func:`load_digits`.

1797 images of 8x8 pixels with 17 grey levels (Alpaydin & Kaynak 1998, UCI
*Optical Recognition of Handwritten Digits*, the test set ``optdigits.tes``;
CC BY 4.0) ship inside the package as ``numvae/_embedded/digits.csv.gz``, the
copy shipped with scikit-learn (provenance and checksums in the repository's
``data/README.md``): one CSV row per image, 64 pixel counts 0..16 and then the
label. :func:`load_digits` finds the file by the search order
(:func:`numvae.data.search.locate`), so a copy under ``root=`` or
``$NUMVAE_DATA`` is read before the embedded one.
"""

import zlib
from importlib import resources

import numpy as np

from numvae.data.search import locate

__all__ = ["load_digits"]


def load_digits(root=None):
    r"""Load the UCI optical-recognition handwritten digits (embedded, 1797 images).

    Parameters
    ----------
    root : str or Path, optional
        Folder holding ``digits.csv.gz`` (or ``digits.csv``), searched first
        (see :func:`locate` for the search order; the embedded copy is found
        without it).

    Returns
    -------
    X : ndarray of shape (1797, 64), float64
        Pixel counts 0..16 divided by 16, so in [0, 1] on a grid of 17 levels
        (use ``levels=17`` with :func:`numvae.data.dequantize`). Row-major 8x8 images.
    y : ndarray of shape (1797,), int64
        The digit, 0..9.

    Notes
    -----
    Each pixel counts the "on" pixels of a 4x4 block of a 32x32 binary bitmap,
    hence 0..16 (Alpaydin & Kaynak 1998, UCI *Optical Recognition of
    Handwritten Digits*, test set ``optdigits.tes``). The file is the copy
    shipped with scikit-learn; see ``data/README.md``.
    """
    (found,), _ = locate("digits", root=root)
    with resources.as_file(found) as path:
        return _read_digits(path)


def _read_digits(path):
    """Read and check the digits CSV at `path`; return (X, y)."""
    try:
        table = np.loadtxt(path, delimiter=",", ndmin=2)
    except (OSError, ValueError, EOFError, zlib.error) as exc:
        raise ValueError(f"{path} is not a readable digits CSV ({exc})") from None
    # 64 pixels then the label; every entry a small integer.
    if table.shape[1] != 65 or not np.array_equal(table, np.round(table)):
        raise ValueError(f"{path} must hold rows of 64 integer pixels and a label; got shape {table.shape}")
    pixels, labels = table[:, :64], table[:, 64].astype(np.int64)
    if pixels.min() < 0 or pixels.max() > 16 or labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{path} must hold pixels in 0..16 and labels in 0..9")
    return pixels / 16.0, labels
