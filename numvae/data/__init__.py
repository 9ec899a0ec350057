"""Data: the embedded datasets, the IDX (MNIST) file format, synthetic data, preprocessing.

``numvae.data`` is a package, being split into one module per concern:
:mod:`numvae.data.idx` holds the IDX format,
:mod:`numvae.data.mnist` the MNIST-like loader,
:mod:`numvae.data.download` the download with checksums,
:mod:`numvae.data.synthetic` the synthetic data and
:mod:`numvae.data.preprocess` the preprocessing; every other name still lives
in :mod:`numvae.data.search`. Each public name is re-exported
here, so ``numvae.data.load_digits()`` and ``from numvae.data import split``
work as before.
"""

from numvae.checks import check_matrix
from numvae.data.search import (DATASETS, DIGITS_STEM, EMBEDDED_DATA_DIR, ENV_VAR, MNIST_LIKE, SYSTEM_DATA_DIR,
                                cache_dir, default_fetch_dest, download_dir, list_datasets, load_digits, locate)
from numvae.data.idx import GZIP_MAGIC, IDX_DTYPES, read_idx, write_idx
from numvae.data.mnist import load_mnist_like
from numvae.data.download import MD5, MIRRORS, REPACKED_MD5, fetch
from numvae.data.synthetic import make_manifold_data, make_ppca_data
from numvae.data.preprocess import binarize, dequantize, dequantized_bits_per_dim, split

__all__ = [
    "EMBEDDED_DATA_DIR", "SYSTEM_DATA_DIR", "DATASETS", "MNIST_LIKE", "check_matrix",
    "cache_dir", "download_dir", "locate", "list_datasets",
    "load_digits", "read_idx", "write_idx", "load_mnist_like", "fetch", "default_fetch_dest",
    "make_ppca_data", "make_manifold_data",
    "binarize", "dequantize", "dequantized_bits_per_dim", "split",
]
