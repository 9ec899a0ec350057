"""numvae: variational autoencoders and probabilistic PCA in pure NumPy.

Every gradient is derived and written by hand (no autodiff) and checked against
central finite differences; probabilistic PCA, whose posterior and likelihood are
exact, is the baseline every VAE claim is measured against. One concept a
module: ``numvae.data``, ``numvae.vae``, ``numvae.ppca``, ``numvae.train``, ...

``import numvae`` is enough: each submodule is imported the first time it is
used as an attribute (``numvae.data.load_digits()``), so the command line starts
without loading matplotlib. The most used names are here too:

``numvae.VAE``
    :class:`numvae.vae.VAE`
``numvae.PPCA``
    :class:`numvae.ppca.PPCA`
``numvae.VAEEstimator``
    :class:`numvae.estimator.VAEEstimator`
``numvae.fit``
    :func:`numvae.train.fit`

No top-level name hides a module: ``numvae.gradcheck`` is the module, its
function is ``numvae.gradcheck.gradcheck``.
"""

import importlib
import pkgutil

__version__ = "0.2.0"

# Every submodule, found on disk so that a new module needs no entry here.
# `__main__` runs the command line when imported, so it is not one of them.
_SUBMODULES = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
# Top-level name -> the module it comes from.
_SHORTCUTS = {"VAE": "vae", "PPCA": "ppca", "VAEEstimator": "estimator", "fit": "train"}

# The shortcuts are left out of __all__: a star import or pdoc would import
# their modules through it. They are in dir(numvae) and documented above.
__all__ = ["__version__", *_SUBMODULES]


def __getattr__(name):
    """Import a submodule, or the module behind a shortcut, on first use (PEP 562)."""
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _SHORTCUTS:
        return getattr(importlib.import_module(f"{__name__}.{_SHORTCUTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__) | set(_SHORTCUTS))
