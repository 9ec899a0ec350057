r"""The speed wing: the same VAE, computed faster, and the benchmark that measures it.

Everything a student reads in ``numvae.vae`` and the modules below it is the
mathematics, written as the lectures write it. Everything that is there only
to go faster lives here, behind one switch, ``VAE(..., fast=True)`` (the
command line's float32 training turns it on), which calls :func:`accelerate`:

* ``storage``: every parameter of the model a view into one flat buffer, and
  every gradient into another;
* ``nn``: the Linear layer writing its gradients into those views, and the
  identity activation without a product with ones;
* ``likelihoods`` and ``kernels``: the Bernoulli log-likelihood and its
  gradient in one fused pass over scratch arrays kept between calls;
* ``optim``: SGD and Adam as one fused pass over the flat buffers, and the
  finiteness check of the gradients as one BLAS dot product;
* ``halves``: the element-wise work of the likelihood and of the optimizer
  over two threads (``threads=2``);
* ``bench``: ``numvae bench``, the step against its matrix-multiply floor.

Each fast part is a subclass of the plain one that overrides only its hot
methods, so it answers the same calls. tests/test_fast.py holds every one of
them to its plain original (values to 1e-12 relative, gradients to 1e-12
normwise in float64), and a 200-step training run to the plain run's.
"""

from numvae.fast import likelihoods, nn
from numvae.fast.optim import optimizers
from numvae.fast.storage import tie


def twin(part, cls):
    """A `cls` (a fast subclass of `part`'s class) holding the very state of `part`."""
    fast = cls.__new__(cls)
    vars(fast).update(vars(part))
    return fast


def _twin_or_self(part, twins):
    """`part`'s fast twin if its class has one in `twins`, else `part` itself (the plain one serves)."""
    return twin(part, twins[type(part)]) if type(part) in twins else part


def accelerate(model, threads=1):
    """Give `model` (a ``numvae.vae.VAE`` just built) the fast parts; its parameters keep their values.

    The layers become :class:`~numvae.fast.nn.FlatLinear` (and the identity
    activations :class:`~numvae.fast.nn.Identity`), the Bernoulli and
    Gaussian likelihoods their twins in ``numvae.fast.likelihoods``, every
    parameter and gradient a view of one flat buffer (in the order of
    ``model.params``), and ``model.optimizers`` the flat optimizers with
    `threads` threads.
    """
    for net in (model.encoder, model.decoder):
        net.layers = [_twin_or_self(layer, nn.TWINS) for layer in net.layers]
    plain = model.likelihood
    model.likelihood = _twin_or_self(plain, likelihoods.TWINS)   # the continuous Bernoulli has none
    if model.likelihood is not plain:
        model.likelihood.speed_up(threads)
    model.flat_params, model.flat_grads = tie([*model.encoder.linears, *model.decoder.linears, model.likelihood],
                                              model.dtype)
    model.optimizers = optimizers(threads)
