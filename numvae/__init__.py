"""numvae: variational autoencoders and probabilistic PCA in pure NumPy.

Every gradient is derived and written by hand (no autodiff) and checked against
central finite differences; probabilistic PCA, whose posterior and likelihood are
exact, is the baseline every VAE claim is measured against. One concept a module:
``distributions``, ``nn``, ``vae``, ``ppca``, ``train``, ``compare``, ``plots``, ... (the
project README lists them).
"""

__version__ = "0.1.0"
