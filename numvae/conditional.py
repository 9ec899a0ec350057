r"""The conditional VAE: q(z|x, y) and p(x|z, y), the label an input of both networks.

Lecture 001 (*Disentangling FoVs*) splits what makes an image into factors of
variation that are *specified* — given with the data, as the class label of a
digit — and *unspecified*, which no label names (the style of the stroke). A
conditional VAE (Kingma, Rezende, Mohamed & Welling 2014, "Semi-supervised
learning with deep generative models", their model M2 with y observed; Sohn,
Lee & Yan 2015) hands the specified factor y to both networks:

.. math:: p_\theta(x, z | y) = p_\theta(x|z, y)\,\mathcal N(z; 0, I),\qquad
          q_\phi(z|x, y),

so the prior on z does not depend on y and the ELBO of :math:`\log p(x|y)` is the
VAE's with y beside x and z:

.. math:: \log p_\theta(x|y) \ge E_{q_\phi(z|x,y)}\log p_\theta(x|z, y)
          - KL\bigl(q_\phi(z|x, y)\,\|\,\mathcal N(0, I)\bigr).

(Jensen's inequality on :math:`\log\int p(x|z,y)p(z)\,dz` with q as the
proposal, as in lecture 000 for the plain VAE: y is held fixed throughout.)
Since the decoder is told y, the KL term pays for every nat of z spent on the
label: the cheapest z carries only what y does not say, the unspecified factors.

The label is one-hot, :math:`e_y\in\{0,1\}^C`, concatenated to the encoder's input
:math:`[x, e_y]` and to the decoder's :math:`[z, e_y]`; the families
(``numvae.posteriors``, ``numvae.likelihoods``) and the layers (``numvae.nn``)
are the plain VAE's. The backward is the VAE's: the decoder's input gradient is
cut to its first K columns (the label needs no gradient), and the encoder's
first layer skips its input gradient as before.

Every method that reads data takes the labels explicitly. The objectives of
``numvae.objectives`` call ``model.forward(x, ...)`` with no label: they are
handed :meth:`ConditionalVAE.given` (the model with the labels of one batch
bound), which answers their calls, so the ELBO, IWAE and ``fit`` work unchanged.
"""

import numpy as np

from numvae.checks import as_generator, check_array, check_finite_result, check_int, check_labels, check_matrix
from numvae.io import load_model, save_checkpoint
from numvae.likelihoods import make_likelihood
from numvae.nn import MLP
from numvae.objectives import ELBO
from numvae.optim import OPTIMIZERS
from numvae.posteriors import make_posterior
from numvae.vae import VAE, Pass, check_architecture

KIND = "ConditionalVAE"


def one_hot(y, n_classes, dtype=np.float64):
    r"""The rows :math:`e_{y_n}` of the identity: shape (N, n_classes), 1 in column :math:`y_n`."""
    out = np.zeros((len(y), n_classes), dtype=dtype)
    out[np.arange(len(y)), y] = 1
    return out


class ConditionalVAE:
    r"""Conditional VAE: :math:`q_\phi(z|x, y)`, :math:`p_\theta(x|z, y)`, prior :math:`\mathcal N(0, I)`.

    Parameters
    ----------
    x_dim : int
        Data dimension D.
    n_classes : int >= 2
        C, the number of labels; a label is an integer 0..C-1, one-hot inside.
    hidden, z_dim, decoder, activation, dtype, seed, decoder_var, decoder_logvar, posterior
        As for :class:`numvae.vae.VAE`. The encoder is the MLP
        :math:`(D + C) \to \text{hidden} \to` the posterior's outputs, the
        decoder :math:`(K + C) \to \text{hidden reversed} \to D`.

    Attributes
    ----------
    params, grads : dict[str, ndarray]
        ``"enc.0.W"`` (shape (D + C, H)), ..., ``"dec.0.W"`` (shape (K + C, H)),
        ...: the VAE's names; the label's weights are the last C rows of each
        first layer.
    config : dict
        The constructor arguments: ``ConditionalVAE(**config)`` rebuilds it.
    likelihood, posterior
        The families, as in the VAE.
    last_terms : dict or None
        As in the VAE, of the last loss computed.
    """

    def __init__(self, x_dim, n_classes, hidden=(400,), z_dim=20, decoder="bernoulli", activation="relu",
                 dtype=np.float64, seed=0, decoder_var="pixel", decoder_logvar=0.0, posterior="diagonal"):
        x_dim, hidden, z_dim, dtype, seed, decoder_logvar = check_architecture(
            x_dim, hidden, z_dim, decoder, activation, dtype, seed, decoder_var, decoder_logvar, posterior)
        n_classes = check_int(n_classes, "n_classes", 2)
        self.x_dim, self.n_classes, self.z_dim, self.dtype = x_dim, n_classes, z_dim, dtype
        self.config = {"x_dim": x_dim, "n_classes": n_classes, "hidden": list(hidden), "z_dim": z_dim,
                       "decoder": decoder, "activation": activation, "dtype": dtype.name, "seed": seed,
                       "decoder_var": decoder_var, "decoder_logvar": float(decoder_logvar), "posterior": posterior}
        self.posterior = make_posterior(posterior, z_dim)
        self.likelihood = make_likelihood(decoder, x_dim, dtype, decoder_var, float(decoder_logvar))
        rng = np.random.default_rng(seed)
        self.encoder = MLP((x_dim + n_classes, *hidden, self.posterior.n_outputs), activation, "identity", dtype, rng)
        self.decoder = MLP((z_dim + n_classes, *hidden[::-1], x_dim), activation, "identity", dtype, rng)
        self.optimizers = OPTIMIZERS
        self.last_terms = None

    # The same parts as the VAE's (encoder, decoder, likelihood), so the same names for their arrays.
    _parts, params, grads = VAE._parts, VAE.params, VAE.grads

    def __repr__(self):
        c = self.config
        return (f"ConditionalVAE(x_dim={c['x_dim']}, n_classes={c['n_classes']}, hidden={tuple(c['hidden'])}, "
                f"z_dim={c['z_dim']}, decoder={c['decoder']!r}, posterior={c['posterior']!r}, dtype={c['dtype']})")

    # --- input checks ---------------------------------------------------------

    def check_x(self, x):
        """`x` as an (N, D) array of the model's dtype in the likelihood's support; else ``ValueError``."""
        return self.likelihood.check_x(check_matrix(x, "x", n_features=self.x_dim, dtype=self.dtype))

    def check_y(self, y, n, name="y"):
        """`y` (N labels) as its one-hot matrix (N, C) in the model's dtype; else ``ValueError`` naming `name`."""
        return one_hot(check_labels(y, name, self.n_classes, n), self.n_classes, self.dtype)

    def _noise(self, eps, rng, n_samples, n):
        shape = (n_samples, n, self.z_dim)
        if eps is None:
            return as_generator(rng, none_ok=True).standard_normal(shape, dtype=self.dtype)  # (S, N, K)
        eps = check_array(eps, "eps", dtype=self.dtype)
        if n_samples == 1 and eps.shape == shape[1:]:
            return eps[None]
        if eps.shape != shape:
            raise ValueError(f"eps must have shape (n_samples, N, K) = {shape}; got {eps.shape}")
        return eps

    # --- forward --------------------------------------------------------------

    def _encode(self, x, e):
        return self.posterior.split(self.encoder.forward(np.concatenate([x, e], axis=-1)))   # [x, e_y] (N, D+C)

    def _decode_out(self, z, e):
        e = np.broadcast_to(e, z.shape[:-1] + e.shape[-1:])                                 # (S, N, C)
        return self.decoder.forward(np.concatenate([z, e], axis=-1))                        # [z, e_y] -> (S, N, D)

    def encode(self, x, y):
        r"""Parameters of :math:`q_\phi(z|x, y)`, e.g. ``(mu, logvar)`` of shape (N, K) each."""
        x = self.check_x(x)
        return self._encode(x, self.check_y(y, x.shape[0]))

    def decode(self, z, y):
        r"""Mean of :math:`p_\theta(x|z, y)`, shape (N, D): the image of style z drawn as label y."""
        z = check_matrix(z, "z", n_features=self.z_dim, dtype=self.dtype)
        return self.likelihood.mean(self._decode_out(z, self.check_y(y, z.shape[0])))

    def reconstruct(self, x, y):
        r"""``decode(mu, y)`` at the posterior mean of :math:`q(z|x, y)`."""
        return self.decode(self.encode(x, y)[0], y)

    def swap(self, x, y, y_new):
        r"""``decode(mu(x, y), y_new)``: the style of each image, drawn as another label (lecture 001's transfer)."""
        return self.decode(self.encode(x, y)[0], y_new)

    def sample(self, y, rng=None):
        r"""One image per label of `y`: :math:`z\sim\mathcal N(0, I)`, the decoder's mean given that label."""
        y = check_labels(y, "y", self.n_classes)
        z = as_generator(rng, none_ok=True).standard_normal((len(y), self.z_dim), dtype=self.dtype)
        return self.decode(z, y)

    def forward(self, x, y, n_samples=1, rng=None, eps=None):
        """One forward pass kept for the backward, as ``VAE.forward`` (a :class:`numvae.vae.Pass`), with labels `y`."""
        x = self.check_x(x)
        e = self.check_y(y, x.shape[0])
        n_samples = check_int(n_samples, "n_samples", 1)
        eps = self._noise(eps, rng, n_samples, x.shape[0])                                  # (S, N, K)
        q = self._encode(x, e)
        z, cache = self.posterior.sample(q, eps)                                            # (S, N, K)
        return Pass(x, eps, q, cache, z, self._decode_out(z, e))

    def decoder_backward(self, dout):
        r""":math:`\partial/\partial z` (S, N, K) from :math:`\partial/\partial\,\text{out}`; the label's columns dropped."""
        return self.decoder.backward(dout)[..., :self.z_dim]                               # (S, N, K+C) -> (S, N, K)

    def encoder_backward(self, p, dz, dh=None):
        """The encoder's grads from ∂loss/∂z of the pass `p` (and `dh` on its outputs), as ``VAE.encoder_backward``."""
        dh_total = self.posterior.backward(p.q, p.cache, p.eps, dz)
        if dh is not None:
            dh_total = dh_total + dh
        self.encoder.backward(dh_total, need_input_grad=False)
        return self.grads

    def given(self, y):
        """This model with the labels `y` bound: what the objectives and ``fit`` call (:class:`Given`)."""
        return Given(self, y)

    def elbo(self, x, y, n_samples=1, rng=None, eps=None):
        r"""Per-datapoint ELBO of :math:`\log p(x|y)` and its two terms, in nats: ``elbo, rec, kl`` of shape (N,)."""
        p = self.forward(x, y, n_samples, rng, eps)
        rec = self.likelihood.log_prob(p.x, p.out).mean(axis=0)
        kl, _ = self.posterior.kl_terms(p.q)
        return check_finite_result(rec - kl, "ConditionalVAE.elbo"), rec, kl

    def loss_and_grads(self, x, y, rng=None, eps=None, n_samples=1, beta=1.0, free_bits=0.0):
        """``ELBO(beta, free_bits, n_samples)``'s loss on a labelled minibatch and its gradient, as ``VAE.loss_and_grads``."""
        return ELBO(beta, free_bits, n_samples).loss_and_grads(self.given(y), x, rng=rng, eps=eps)

    # --- files and training ------------------------------------------------------

    def save(self, path):
        """Write the parameters and config to one ``.npz`` checkpoint, atomically (``numvae.io``)."""
        save_checkpoint(path, self.params, KIND, self.config)

    @classmethod
    def load(cls, path):
        """Rebuild a model saved by :meth:`save`; errors as ``VAE.load``."""
        return load_model(cls, path, KIND)

    def fit(self, X, y, X_valid=None, y_valid=None, **kwargs):
        """Train with :func:`numvae.train.fit` on the rows of `X` and their labels `y`; return ``self``."""
        from numvae import train   # on use, as in VAE.fit

        self.history_ = train.fit(self, X, X_valid, y=y, y_valid=y_valid, **kwargs)
        return self

    def transform(self, X, y):
        r"""Posterior means :math:`\mu_\phi(x, y)`, shape (N, K)."""
        return self.encode(X, y)[0]


class Given:
    """A :class:`ConditionalVAE` with the labels of one batch bound: the VAE's calls, with the label implicit.

    ``forward(x, ...)``, ``elbo(x, ...)`` and ``encode(x)`` pass the bound
    labels on (their number must match the rows of `x`); everything else
    (``params``, ``grads``, ``last_terms``, the families, the backward) is the
    model's own, so the objectives train the model itself.
    """

    def __init__(self, model, y):
        self.model = model
        self.y = check_labels(y, "y", model.n_classes)

    def __getattr__(self, name):        # params, grads, config, dtype, z_dim, likelihood, posterior, ...
        return getattr(self.model, name)

    @property
    def last_terms(self):
        """The model's ``last_terms``: set by an objective through this view."""
        return self.model.last_terms

    @last_terms.setter
    def last_terms(self, value):
        self.model.last_terms = value

    def forward(self, x, n_samples=1, rng=None, eps=None):
        """``model.forward(x, y, ...)`` with the bound labels."""
        return self.model.forward(x, self.y, n_samples, rng, eps)

    def elbo(self, x, n_samples=1, rng=None, eps=None):
        """``model.elbo(x, y, ...)`` with the bound labels."""
        return self.model.elbo(x, self.y, n_samples, rng, eps)

    def encode(self, x):
        """``model.encode(x, y)`` with the bound labels."""
        return self.model.encode(x, self.y)

    def loss_and_grads(self, x, rng=None, eps=None, n_samples=1, beta=1.0, free_bits=0.0):
        """``model.loss_and_grads(x, y, ...)`` with the bound labels."""
        return self.model.loss_and_grads(x, self.y, rng, eps, n_samples, beta, free_bits)
