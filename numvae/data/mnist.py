r"""MNIST and Fashion-MNIST: 28x28 grey images with labels 0..9, read from the standard IDX files.

:func:`load_mnist_like` takes the first folder of the search order
(:func:`numvae.data.search.locate`) that holds a split's images and labels
files, reads both with :func:`numvae.data.idx.read_idx`, checks that they
belong together and scales the pixels to [0, 1]. MNIST is the database of
handwritten digits of LeCun, Cortes & Burges; Fashion-MNIST (Xiao, Rasul &
Vollgraf 2017) has the same format and sizes, with clothing. Its test split is
embedded; the rest is installed by Debian's ``dataset-fashion-mnist``
(Fashion-MNIST only) or downloaded by :func:`numvae.data.fetch`. Provenance
and licences are in the repository's ``data/README.md``.
"""

from importlib import resources

import numpy as np

from numvae.checks import check_choice
from numvae.data.idx import read_idx
from numvae.data.search import MNIST_LIKE, locate

__all__ = ["load_mnist_like"]


def load_mnist_like(name, split, root=None):
    r"""Load MNIST or Fashion-MNIST from standard IDX files, scaled to [0, 1].

    Parameters
    ----------
    name : {"mnist", "fashion-mnist"}
    split : {"train", "test"}
        60,000 or 10,000 images (``train-*`` or ``t10k-*`` files).
    root : str or Path, optional
        Folder to search first.

    Returns
    -------
    X : ndarray of shape (N, 784), float64
        Grey levels 0..255 divided by 255, images flattened row-major.
    y : ndarray of shape (N,), int64
        Class labels 0..9.

    Raises
    ------
    ValueError
        Unknown `name` or `split`; a file that is not valid IDX, or images and
        labels that do not match.
    FileNotFoundError
        No folder holds both files; the message lists every folder tried.

    Notes
    -----
    The first folder of the search order (:func:`locate`) holding both the
    images and the labels file wins: `root`, ``$NUMVAE_DATA``, the user cache
    (where ``numvae data fetch`` saves), the embedded data (the Fashion-MNIST
    test split) and ``/usr/share/datasets/<name>/`` (Debian's
    ``dataset-fashion-mnist`` package), each as ``<dir>/<name>/`` and then
    ``<dir>/``. File names are the standard ones, gzipped or not:
    ``{train,t10k}-images-idx3-ubyte[.gz]``, ``{train,t10k}-labels-idx1-ubyte[.gz]``.
    """
    check_choice(name, "name", MNIST_LIKE)
    (images, labels), _ = locate(name, split, root)
    with resources.as_file(images) as images_path, resources.as_file(labels) as labels_path:
        return _read_mnist_pair(images_path, labels_path)


def _read_mnist_pair(images_path, labels_path):
    """Read and cross-check an images and a labels IDX file; return (X, y)."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(f"{images_path} must hold uint8 images of shape (N, rows, cols); "
                         f"got {images.dtype} of shape {images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(f"{labels_path} must hold uint8 labels of shape (N,); got {labels.dtype} of shape {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise ValueError(f"{labels_path} must hold labels 0..9; got a maximum of {labels.max()}")
    X = images.reshape(len(images), -1) / 255.0  # (N, rows*cols)
    return X, labels.astype(np.int64)
