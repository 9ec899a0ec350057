r"""Data: the embedded datasets, the search order, the IDX (MNIST) format, downloads, synthetic data, sprites, preprocessing.

One module per concern, each a short chapter; a module imports only modules
listed before it:

``numvae.data.search``
    Where data is looked for, in order: ``root=``, ``$NUMVAE_DATA``, the user
    cache, the embedded data (``numvae/_embedded/``) and, for the MNIST-like
    sets, ``/usr/share/datasets``. :func:`locate`, :func:`list_datasets`
    (``numvae data list``), :func:`cache_dir`, :func:`download_dir`,
    :func:`default_fetch_dest`.
``numvae.data.digits``
    The embedded UCI handwritten digits (1797 images of 8x8 pixels, 17 grey
    levels): :func:`load_digits`.
``numvae.data.idx``
    The IDX file format of MNIST: :func:`read_idx`, :func:`write_idx`.
``numvae.data.mnist``
    MNIST and Fashion-MNIST (whose test split, 10,000 images of 28x28, is
    embedded): :func:`load_mnist_like`.
``numvae.data.download``
    Downloading the MNIST-like sets, each file checked against its published
    MD5: :func:`fetch` (``numvae data fetch NAME``).
``numvae.data.synthetic``
    Synthetic data with a known answer: :func:`make_ppca_data` samples exactly
    the pPCA model, so a fitted pPCA (or a linear VAE) can be compared with the
    true ``W``, ``b``, ``sigma2``; :func:`make_manifold_data` samples a curved
    2-D sheet that no 2-D linear Gaussian model explains but a 2-D nonlinear
    one can.
``numvae.data.sprites``
    Images with known factors of variation: :func:`make_sprites` draws a
    square at every combination of a few horizontal positions, vertical
    positions and sizes, each exactly once (a full factorial design, so the
    factors are exactly independent), and returns the factor values of every
    image beside it. Nothing in it is random.
``numvae.data.preprocess``
    :func:`binarize` (Bernoulli decoders need binary data), :func:`dequantize`
    with :func:`dequantized_bits_per_dim` (continuous densities on discrete
    pixels), :func:`split`.

Every public name is re-exported here: ``numvae.data.load_digits()``,
``from numvae.data import split``. The search order reads
``EMBEDDED_DATA_DIR`` and ``SYSTEM_DATA_DIR`` from :mod:`numvae.data.search`
when it runs, so that is where to point them elsewhere (as the tests do):
setting the names here changes nothing.

Randomness: every function that draws takes ``rng``, an ``np.random.Generator``
or an int seed (turned into ``np.random.default_rng(seed)``); the global NumPy
state is never used, so a seed reproduces a dataset exactly.

Data matrices are validated by :func:`numvae.checks.check_matrix`, re-exported
here as the validator models use.
"""

from numvae.checks import check_matrix
from numvae.data.search import (DATASETS, DIGITS_STEM, EMBEDDED_DATA_DIR, ENV_VAR, MNIST_LIKE, SYSTEM_DATA_DIR,
                                cache_dir, default_fetch_dest, download_dir, list_datasets, locate)
from numvae.data.digits import load_digits
from numvae.data.idx import GZIP_MAGIC, IDX_DTYPES, read_idx, write_idx
from numvae.data.mnist import load_mnist_like
from numvae.data.download import MD5, MIRRORS, REPACKED_MD5, fetch
from numvae.data.synthetic import make_manifold_data, make_ppca_data
from numvae.data.sprites import SPRITE_FACTORS, Sprites, make_sprites
from numvae.data.preprocess import binarize, dequantize, dequantized_bits_per_dim, split

# ENV_VAR, DIGITS_STEM, IDX_DTYPES, GZIP_MAGIC, MIRRORS, MD5 and REPACKED_MD5 are
# reachable here as they were on the single module, and left out of __all__ as they were.
__all__ = [
    "EMBEDDED_DATA_DIR", "SYSTEM_DATA_DIR", "DATASETS", "MNIST_LIKE", "check_matrix",
    "cache_dir", "download_dir", "locate", "list_datasets",
    "load_digits", "read_idx", "write_idx", "load_mnist_like", "fetch", "default_fetch_dest",
    "make_ppca_data", "make_manifold_data", "make_sprites", "Sprites", "SPRITE_FACTORS",
    "binarize", "dequantize", "dequantized_bits_per_dim", "split",
    # The modules, in the order above, as numvae's own __all__ lists its modules
    # (pdoc documents the modules of a package whose __all__ names them).
    "search", "digits", "idx", "mnist", "download", "synthetic", "sprites", "preprocess",
]
