r"""The plain and the denoising autoencoder: squared-error cost, hand-written gradient.

Lecture 003_f1b2a7a6de9ea425.txt, *Auto-Encoder for Image Reconstruction*:
an encoder :math:`g_\phi` maps x to a code z, a decoder :math:`f_\theta` maps
it back, and both are trained on the squared reconstruction error

.. math:: L(\theta, \phi) = \frac1n\sum_{i=1}^n \bigl\|x^{(i)} - f_\theta(g_\phi(x^{(i)}))\bigr\|^2 .

*De-noising Auto-Encoder* (same lecture): the input is corrupted first,
:math:`\tilde x \sim \chi(\tilde x|x)`, and the *clean* x is reconstructed,

.. math:: L(\theta, \phi) = \frac1n\sum_{i=1}^n \bigl\|x^{(i)} - f_\theta(g_\phi(\tilde x^{(i)}))\bigr\|^2 ,

with χ either additive Gaussian noise of a given standard deviation,
:math:`\tilde x = x + s\,\epsilon`, or masking noise that sets each input
entry to 0 with a given probability p (Vincent et al. 2008, *Extracting and
composing robust features with denoising autoencoders*).

The same conventions as :class:`numvae.vae.VAE`: ``params`` / ``grads`` dicts
with ``"enc.*"`` / ``"dec.*"`` keys from :class:`numvae.nn.MLP`,
``loss_and_grads`` with the backward written out by hand, the noise either
drawn from a passed ``Generator`` or given explicitly (``noise=``) so a
gradient check can freeze it, ``encode`` / ``decode`` / ``reconstruct``,
``save`` / ``load``.

The code z is a point, not a distribution: there is no prior, no KL and no
likelihood. The cost is an objective, ``numvae.objectives.SquaredError``, so
the autoencoder trains through :func:`numvae.train.fit` like the VAE
(``objective=SquaredError()``; its history has no ELBO columns);
:meth:`Autoencoder.fit` is that call, quiet, returning the losses.

Note the cost is a *sum* over the D pixels and a *mean* over datapoints, like
the VAE's per-datapoint ELBO. It equals :math:`-2\log\mathcal N(x; \hat x, I)`
up to the constant :math:`D\log 2\pi`: a plain autoencoder is a Gaussian
decoder with fixed unit variance and a deterministic encoder.
"""

import numbers

import numpy as np

from numvae.checks import (as_generator, check_array, check_choice, check_float_dtype, check_int, check_matrix,
                           check_positive, check_widths)
from numvae.io import load_model, save_checkpoint
from numvae.nn import ACTIVATIONS, MLP
from numvae.objectives import SquaredError

CORRUPTIONS = ("none", "gaussian", "masking")


class Autoencoder:
    r"""Deterministic autoencoder with squared-error cost, optionally denoising.

    Parameters
    ----------
    x_dim : int
        Data dimension D.
    hidden : tuple of int
        Hidden widths of the encoder; the decoder uses them in reverse. ``()``
        gives a linear autoencoder (whose optimum spans the principal subspace).
    z_dim : int
        Code dimension K.
    activation : str
        Hidden activation, one of ``numvae.nn.ACTIVATIONS``.
    output : {"identity", "sigmoid"}
        Activation of the decoder's last layer: ``"sigmoid"`` keeps
        reconstructions of images in (0, 1).
    corruption : {"none", "gaussian", "masking"}
        ``"none"``: the plain autoencoder. ``"gaussian"``: train on
        :math:`\tilde x = x + s\epsilon`. ``"masking"``: train on
        :math:`\tilde x = x\odot m`, :math:`m_d \sim \mathrm{Bernoulli}(1-p)`.
    noise_level : float
        s (the Gaussian noise's standard deviation, > 0) or p (the masking
        probability, in (0, 1)); ignored for ``"none"``.
    dtype : numpy floating dtype or its name
    seed : int or None
        Seed of the weight initialization.

    Attributes
    ----------
    params, grads : dict[str, ndarray]
        ``"enc.0.W"``, ``"enc.0.b"``, ..., ``"dec.0.W"``, ...: the live arrays.
    config : dict
        JSON-serialisable constructor arguments.
    last_terms : dict or None
        ``{"sq_err": (N,)}``, the per-datapoint squared error of the last
        :meth:`loss_and_grads` call.
    """

    def __init__(self, x_dim, hidden=(64,), z_dim=2, activation="relu", output="identity",
                 corruption="none", noise_level=0.0, dtype=np.float64, seed=0):
        x_dim = check_int(x_dim, "x_dim", 1)
        z_dim = check_int(z_dim, "z_dim", 1)
        hidden = check_widths(hidden)
        check_choice(activation, "activation", ACTIVATIONS)
        check_choice(output, "output", ("identity", "sigmoid"))
        check_choice(corruption, "corruption", CORRUPTIONS)
        if not isinstance(noise_level, numbers.Real) or isinstance(noise_level, bool):
            raise ValueError(f"noise_level must be a number; got {noise_level!r}")
        if corruption == "gaussian":
            check_positive(noise_level, "noise_level")
        elif corruption == "masking" and not (0.0 < noise_level < 1.0):
            raise ValueError(f"noise_level must be a drop probability in (0, 1) for masking noise; "
                             f"got {noise_level!r}")
        dtype = check_float_dtype(dtype)
        if seed is not None:
            seed = check_int(seed, "seed", 0)

        self.x_dim, self.z_dim, self.dtype = x_dim, z_dim, dtype
        self.corruption, self.noise_level = corruption, float(noise_level)
        self.config = {"x_dim": x_dim, "hidden": list(hidden), "z_dim": z_dim, "activation": activation,
                       "output": output, "corruption": corruption, "noise_level": float(noise_level),
                       "dtype": dtype.name, "seed": seed}
        rng = np.random.default_rng(seed)
        self.encoder = MLP((x_dim, *hidden, z_dim), activation, "identity", dtype, rng)   # x -> z
        self.decoder = MLP((z_dim, *hidden[::-1], x_dim), activation, output, dtype, rng)  # z -> x_hat
        self.last_terms = None

    @property
    def params(self):
        """The encoder's and decoder's parameter arrays by name (see the class's Attributes); a new dict of the live arrays."""
        return {f"{prefix}.{k}": p for prefix, net in (("enc", self.encoder), ("dec", self.decoder))
                for k, p in net.params.items()}

    @property
    def grads(self):
        """The encoder's and decoder's gradients of the last backward pass, by the names of ``params``."""
        return {f"{prefix}.{k}": g for prefix, net in (("enc", self.encoder), ("dec", self.decoder))
                for k, g in net.grads.items()}

    def __repr__(self):
        c = self.config
        noise = "" if c["corruption"] == "none" else f", {c['corruption']} noise {c['noise_level']:g}"
        return f"Autoencoder(x_dim={c['x_dim']}, hidden={tuple(c['hidden'])}, z_dim={c['z_dim']}{noise})"

    # --- the corruption χ(x̃|x) -------------------------------------------------

    def _noise(self, noise, rng, shape):
        """The raw noise: drawn (standard normal or uniform on [0, 1)), or `noise` checked."""
        if noise is None:
            rng = as_generator(np.random.default_rng() if rng is None else rng)
            if self.corruption == "gaussian":
                return rng.standard_normal(shape).astype(self.dtype, copy=False)          # (N, D)
            return rng.random(shape).astype(self.dtype, copy=False)                     # (N, D)
        noise = check_array(noise, "noise", dtype=self.dtype)
        if noise.shape != shape:
            raise ValueError(f"noise must have the shape of x {shape}; got {noise.shape}")
        if self.corruption == "masking" and noise.size and (noise.min() < 0 or noise.max() > 1):
            raise ValueError(f"noise must hold uniform draws in [0, 1] for masking noise; "
                             f"got values in [{noise.min():.4g}, {noise.max():.4g}]")
        return noise

    def corrupt(self, x, rng=None, noise=None):
        r"""Draw :math:`\tilde x \sim \chi(\tilde x|x)` (lecture 003, *De-noising Auto-Encoder*).

        Parameters
        ----------
        x : ndarray of shape (N, D)
        rng : numpy.random.Generator or int, optional
            Source of the noise (ignored when `noise` is given).
        noise : ndarray of shape (N, D), optional
            The noise itself: standard normal draws ε for ``"gaussian"``
            (:math:`\tilde x = x + s\epsilon`), uniform draws u on [0, 1] for
            ``"masking"`` (:math:`\tilde x = x\,[u \ge p]`, so each entry is
            dropped with probability p).

        Returns
        -------
        ndarray of shape (N, D)
            `x` itself for the plain autoencoder.
        """
        x = check_matrix(x, "x", n_features=self.x_dim, dtype=self.dtype)
        return self._corrupt(x, rng, noise)

    def _corrupt(self, x, rng, noise):
        if self.corruption == "none":
            return x
        noise = self._noise(noise, rng, x.shape)
        if self.corruption == "gaussian":
            return x + self.noise_level * noise                                          # (N, D)
        return x * (noise >= self.noise_level)                                           # (N, D) dropped -> 0

    # --- forward --------------------------------------------------------------

    def check_x(self, x):
        """`x` as an (N, D) array of the model's dtype; else ``ValueError`` naming it."""
        return check_matrix(x, "x", n_features=self.x_dim, dtype=self.dtype)

    def encode(self, x):
        """The code ``z = g_phi(x)``, shape (N, K). (A point, not a distribution: no log-variance.)"""
        x = check_matrix(x, "x", n_features=self.x_dim, dtype=self.dtype)
        return self.encoder.forward(x)

    def decode(self, z):
        """The reconstruction ``x_hat = f_theta(z)``, shape (N, D)."""
        z = check_matrix(z, "z", n_features=self.z_dim, dtype=self.dtype)
        return self.decoder.forward(z)

    def reconstruct(self, x):
        """``decode(encode(x))``, shape (N, D): no corruption (a denoiser is applied to what it is given)."""
        return self.decode(self.encode(x))

    def squared_error(self, x, x_input=None):
        r"""Per-datapoint :math:`\|x - f(g(x_{\rm input}))\|^2`, shape (N,); `x_input` defaults to `x`."""
        x = check_matrix(x, "x", n_features=self.x_dim, dtype=self.dtype)
        x_in = x if x_input is None else check_matrix(x_input, "x_input", n_features=self.x_dim, dtype=self.dtype)
        if x_in.shape != x.shape:
            raise ValueError(f"x_input must have the shape of x {x.shape}; got {x_in.shape}")
        r = x - self.decoder.forward(self.encoder.forward(x_in))                         # (N, D)
        return np.sum(r * r, axis=1)

    # --- the loss and its gradient -----------------------------------------------

    def loss_and_grads(self, x, rng=None, noise=None):
        r"""Squared-error cost on a minibatch and its gradient with respect to every parameter.

        Parameters
        ----------
        x : ndarray of shape (N, D)
            The clean data; corrupted here for a denoising autoencoder.
        rng : numpy.random.Generator or int, optional
            Source of the corruption noise.
        noise : ndarray of shape (N, D), optional
            Frozen corruption noise (see :meth:`corrupt`): the loss becomes a
            deterministic function of the parameters.

        Returns
        -------
        loss : float
        grads : dict[str, ndarray]
            Keys and shapes of :attr:`params`: the layers' gradients of this call.

        Notes
        -----
        Lecture 003, *Auto-Encoder for Image Reconstruction* and *De-noising
        Auto-Encoder*:

        .. math:: \text{loss} = \frac1N\sum_n\|x_n - \hat x_n\|^2,\qquad
                  \hat x_n = f_\theta(g_\phi(\tilde x_n)).

        Backward: :math:`\partial\,\text{loss}/\partial\hat x_n = -\frac2N(x_n - \hat x_n)`;
        the decoder's backward turns it into :math:`\partial/\partial z` and
        fills the θ gradients, the encoder's backward fills the φ ones. The
        corruption does not depend on the parameters, so nothing flows
        through it: x̃ is an input like x.
        """
        return SquaredError().loss_and_grads(self, x, rng=rng, noise=noise)

    # --- training ----------------------------------------------------------------

    def fit(self, X, epochs=50, batch_size=100, lr=1e-3, seed=0):
        r"""Minibatch Adam on the squared-error cost; returns the mean training loss per epoch.

        :func:`numvae.train.fit` with ``objective=SquaredError()``, quietly:
        each epoch shuffles the rows of `X` and takes one Adam step
        (:class:`numvae.optim.Adam`) per batch of `batch_size` rows; a
        denoising autoencoder draws fresh corruption noise for every batch,
        from the one generator ``default_rng(seed)`` that also shuffles.
        (``train.fit`` itself takes the rest: a validation set, checkpoints, resuming.)

        Returns
        -------
        ndarray of shape (epochs,)
            The mean over each epoch's batches of the per-datapoint squared
            error (of the corrupted inputs, for a denoiser).
        """
        from numvae import train   # on use: train imports the objectives, which know the autoencoder by its calls

        history = train.fit(self, X, epochs=epochs, batch_size=batch_size, lr=lr, seed=check_int(seed, "seed", 0),
                            progress=False, objective=SquaredError())
        return np.array(history["train_loss"], dtype=np.float64)

    # --- files ----------------------------------------------------------------

    def save(self, path):
        """Write the parameters and config to one ``.npz`` checkpoint, atomically (``numvae.io``)."""
        save_checkpoint(path, self.params, "Autoencoder", self.config)

    @classmethod
    def load(cls, path):
        """Rebuild a model saved by :meth:`save`; ``ValueError`` naming the problem if the file does not match."""
        return load_model(cls, path, "Autoencoder")
