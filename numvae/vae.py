r"""The variational autoencoder: encoder, reparameterization, decoder, and the backward pieces an objective combines.

One chapter, read top to bottom. The model composes four parts:

1. the encoder, ONE MLP from x to the parameters of :math:`q_\phi(z|x)`, read
   by a posterior family (``numvae.posteriors``): for the diagonal Gaussian its
   output layer has :math:`2K` units, the mean and the log-variance (lecture
   000, *VAE*);
2. the reparameterization :math:`z = \mu + \exp(\tfrac12\log\sigma^2)\odot\epsilon`,
   :math:`\epsilon \sim \mathcal N(0, I)` (lecture 002, *reparameterization trick*;
   Kingma & Welling 2014), done by the posterior;
3. the decoder MLP :math:`z \to` logits (Bernoulli and continuous Bernoulli
   likelihoods) or mean (Gaussian likelihood, with a log-variance that is
   learned per pixel, learned and shared, or fixed), read by a likelihood
   family (``numvae.likelihoods``);
4. the pieces an objective (``numvae.objectives``: the ELBO
   :math:`E_q\log p(x|z) - KL(q(z|x)\,\|\,\mathcal N(0,I))`, the
   importance-weighted bound) combines: :meth:`VAE.forward`, kept for
   :meth:`VAE.decoder_backward` and :meth:`VAE.encoder_backward`, the
   backward written out by hand, path by path; :meth:`VAE.loss_and_grads`
   is the ELBO's;
5. the importance-sampled :math:`\log p(x)` (lecture 002, eq. 9; Burda et al. 2015);
6. sampling, reconstruction, saving and loading.

No autodiff: an objective runs the forward pass, then walks it backwards, and ``numvae.gradcheck`` checks every entry against finite differences.
The VAE never asks which family it holds: each part answers the same few calls.

This is the teaching path: every line below is a formula of the lectures.
``VAE(..., fast=True)`` hands the model to ``numvae.fast``, which swaps its
parts for subclasses that compute the same numbers faster (one flat parameter
buffer, fused kernels, two threads); nothing in this module changes.
"""

import numbers
from collections import namedtuple

import numpy as np

from numvae.checks import (as_generator, check_array, check_choice, check_finite_result, check_float_dtype, check_int,
                           check_matrix, check_threads, check_vae_size, check_widths)
from numvae import importance
from numvae.objectives import ELBO
from numvae.fast import accelerate
from numvae.io import load_model, save_checkpoint
from numvae.likelihoods import DECODER_VARS, LIKELIHOODS, make_likelihood
from numvae.nn import ACTIVATIONS, MLP
from numvae.optim import OPTIMIZERS
from numvae.posteriors import POSTERIORS, make_posterior



class Pass(namedtuple("Pass", "x eps q cache z out")):
    """One forward pass of :meth:`VAE.forward`, kept for the backward (see there for the fields)."""


def _check_speed(fast, threads):
    """`threads` (1 or 2) if `fast` is a bool and two threads come with the fast path; else ``ValueError``."""
    if not isinstance(fast, (bool, np.bool_)):
        raise ValueError(f"fast must be True or False; got {fast!r}")
    if check_threads(threads) == 2 and not fast:
        raise ValueError("threads=2 needs fast=True (the plain path computes on one thread); got fast=False")
    return int(threads)



def check_architecture(x_dim, hidden, z_dim, decoder, activation, dtype, seed, decoder_var, decoder_logvar, posterior):
    """The constructor arguments a VAE and a conditional VAE share, checked (``ValueError`` naming the one that is not).

    Returns ``(x_dim, hidden, z_dim, dtype, seed, decoder_logvar)`` as the model stores them.
    """
    x_dim = check_int(x_dim, "x_dim", 1)
    z_dim = check_int(z_dim, "z_dim", 1)
    hidden = check_widths(hidden)
    check_choice(decoder, "decoder", LIKELIHOODS)
    check_choice(activation, "activation", ACTIVATIONS)
    check_choice(decoder_var, "decoder_var", DECODER_VARS)
    check_choice(posterior, "posterior", POSTERIORS)
    dtype = check_float_dtype(dtype)
    if seed is not None:
        seed = check_int(seed, "seed", 0)
    if not (isinstance(decoder_logvar, numbers.Real) and np.isfinite(decoder_logvar)):
        raise ValueError(f"decoder_logvar must be a finite number; got {decoder_logvar!r}")
    return x_dim, hidden, z_dim, dtype, seed, float(decoder_logvar)

class VAE:
    r"""Variational autoencoder: a Gaussian posterior family, an N(0, I) prior, a decoder likelihood.

    Parameters
    ----------
    x_dim : int
        Data dimension D.
    hidden : tuple of int
        Hidden widths of the encoder; the decoder uses them in reverse. ``()``
        gives a linear encoder and decoder (the linear VAE compared with pPCA).
    z_dim : int
        Latent dimension K.
    decoder : {"bernoulli", "continuous_bernoulli", "gaussian"}
        Likelihood :math:`p_\theta(x|z)`.
    activation : str
        Hidden activation, one of ``numvae.nn.ACTIVATIONS``.
    dtype : numpy floating dtype or its name
        float64 for checking, float32 for fast training; kept throughout.
    seed : int or None
        Seed of the weight initialization.
    decoder_var : {"pixel", "shared", "fixed"}
        Gaussian decoder only: log-variance learned per pixel (parameter
        ``"dec.logvar"`` of shape (D,)), learned and shared by all pixels
        (shape (1,)), or fixed at `decoder_logvar` (not a parameter).
    decoder_logvar : float
        Gaussian decoder only: the initial (or fixed) decoder log-variance.
    posterior : {"diagonal", "full"}
        Family of :math:`q_\phi(z|x)` (``numvae.posteriors``): ``"diagonal"``,
        :math:`\mathcal N(\mu, \operatorname{diag}\sigma^2)` (encoder output 2K),
        or ``"full"``, :math:`\mathcal N(\mu, LL^\top)` with a lower-triangular
        Cholesky factor (encoder output K + K(K+1)/2; free bits refused).
    fast : bool
        False (the default): the teaching path, every part as this module and
        ``numvae.nn``, ``numvae.likelihoods`` and ``numvae.optim`` write it.
        True: the same model through ``numvae.fast`` (flat parameter storage,
        fused Bernoulli kernels, a fused Adam), the same numbers up to rounding
        and faster; what ``numvae train`` uses for float32. Not saved: a
        checkpoint of either loads into either.
    threads : {1, 2}
        With ``fast=True``: threads of the Bernoulli likelihood's element-wise
        work, in training and in :meth:`log_likelihood`, and of ``fit``'s Adam
        (``numvae.fast.halves``); bit for bit the same numbers, faster only
        when a second core is idle and the arrays are large. The plain path
        has one.

    Attributes
    ----------
    params : dict[str, ndarray]
        ``"enc.0.W"``, ``"enc.0.b"``, ..., ``"dec.0.W"``, ..., and
        ``"dec.logvar"`` when learned: the parts' live arrays (updating them
        in place updates the model).
    grads : dict[str, ndarray]
        Same keys and shapes: the gradients of the last :meth:`loss_and_grads`.
    config : dict
        The constructor arguments, JSON-serialisable: ``VAE(**config)``
        rebuilds the architecture.
    likelihood, posterior : objects of ``numvae.likelihoods`` and ``numvae.posteriors``
        The two families the model composes; it never branches on which they are.
    last_terms : dict or None
        ``{"rec": (N,), "kl": (N,), "kl_per_dim": (K,)}`` of the last
        :meth:`loss_and_grads` call.
    optimizers : dict
        ``{"adam": ..., "sgd": ...}``: the optimizer classes ``fit`` builds on
        :attr:`params` (``numvae.optim``'s, or the fast wing's).
    """

    def __init__(self, x_dim, hidden=(400,), z_dim=20, decoder="bernoulli", activation="relu",
                 dtype=np.float64, seed=0, decoder_var="pixel", decoder_logvar=0.0, posterior="diagonal",
                 fast=False, threads=1):
        x_dim, hidden, z_dim, dtype, seed, decoder_logvar = check_architecture(
            x_dim, hidden, z_dim, decoder, activation, dtype, seed, decoder_var, decoder_logvar, posterior)
        threads = _check_speed(fast, threads)

        check_vae_size(x_dim, hidden, z_dim, POSTERIORS[posterior], dtype)   # before any allocation
        self.x_dim, self.z_dim, self.dtype = x_dim, z_dim, dtype
        self.config = {"x_dim": x_dim, "hidden": list(hidden), "z_dim": z_dim, "decoder": decoder,
                       "activation": activation, "dtype": dtype.name, "seed": seed,
                       "decoder_var": decoder_var, "decoder_logvar": float(decoder_logvar),
                       "posterior": posterior}
        self.posterior = make_posterior(posterior, z_dim)
        self.likelihood = make_likelihood(decoder, x_dim, dtype, decoder_var, float(decoder_logvar))
        rng = np.random.default_rng(seed)
        # Encoder: one MLP whose fused output layer holds every parameter of q(z|x).
        self.encoder = MLP((x_dim, *hidden, self.posterior.n_outputs), activation, "identity", dtype, rng)
        # Decoder: z -> logits (Bernoulli, continuous Bernoulli) or mean (Gaussian).
        self.decoder = MLP((z_dim, *hidden[::-1], x_dim), activation, "identity", dtype, rng)
        self.optimizers = OPTIMIZERS
        self.fast, self.threads = bool(fast), threads
        if fast:
            accelerate(self, threads)       # the one switch into numvae.fast: same numbers, faster parts
        self.last_terms = None

    def _parts(self):
        """``(prefix, part)`` for every part with parameters, in the order of :attr:`params`."""
        # The likelihood's own parameters (the Gaussian's learned log-variance) are the decoder's: "dec.<name>".
        return (("enc", self.encoder), ("dec", self.decoder), ("dec", self.likelihood))

    @property
    def params(self):
        """The parts' parameter arrays by name (see the class's Attributes); a new dict of the live arrays."""
        return {f"{prefix}.{k}": p for prefix, part in self._parts() for k, p in part.params.items()}

    @property
    def grads(self):
        """The parts' gradients of the last backward pass, by the names of ``params``."""
        return {f"{prefix}.{k}": g for prefix, part in self._parts() for k, g in part.grads.items()}

    def __repr__(self):
        c = self.config
        return (f"VAE(x_dim={c['x_dim']}, hidden={tuple(c['hidden'])}, z_dim={c['z_dim']}, "
                f"decoder={c['decoder']!r}, posterior={c['posterior']!r}, dtype={c['dtype']})")

    # --- input checks ---------------------------------------------------------

    def check_x(self, x, dtype=None):
        """`x` as an (N, D) array of the model's dtype (or `dtype`), in the likelihood's support; else ``ValueError``."""
        x = check_matrix(x, "x", n_features=self.x_dim, dtype=self.dtype if dtype is None else dtype)
        return self.likelihood.check_x(x)

    def _noise(self, eps, rng, n_samples, n):
        r"""The standard normal noise :math:`\epsilon`, shape ``(n_samples, n, K)``: drawn, or `eps` checked."""
        shape = (n_samples, n, self.z_dim)
        if eps is None:
            return as_generator(rng, none_ok=True).standard_normal(shape, dtype=self.dtype)  # (L, N, K)
        eps = check_array(eps, "eps", dtype=self.dtype)
        if n_samples == 1 and eps.shape == shape[1:]:
            return eps[None]                                                            # (1, N, K)
        if eps.shape != shape:
            raise ValueError(f"eps must have shape (n_samples, N, K) = {shape}"
                             + (f" or (N, K) = {shape[1:]}" if n_samples == 1 else "")
                             + f"; got {eps.shape}")
        return eps

    # --- forward --------------------------------------------------------------

    def encode(self, x):
        r"""Parameters of :math:`q_\phi(z|x)`.

        Parameters
        ----------
        x : ndarray of shape (N, D)

        Returns
        -------
        mu : ndarray of shape (N, K)
        logvar : ndarray of shape (N, K)
            Diagonal posterior, :math:`\mathcal N(\mu, \operatorname{diag}\exp(\log\sigma^2))`:
            the two halves of the encoder's fused 2K-unit output layer;
            `logvar` is :math:`\log\sigma^2`, never σ.
        or L : ndarray of shape (N, K, K)
            Full-covariance posterior, :math:`\mathcal N(\mu, LL^\top)`: the
            lower-triangular Cholesky factor.
        """
        return self._encode(self.check_x(x))

    def _encode(self, x):
        return self.posterior.split(self.encoder.forward(x))                           # h (N, n_outputs) -> params

    def decode(self, z):
        r"""Mean of :math:`p_\theta(x|z)`.

        Parameters
        ----------
        z : ndarray of shape (N, K)

        Returns
        -------
        ndarray of shape (N, D)
            :math:`\sigma(\text{logits})` for the Bernoulli; the continuous
            Bernoulli's mean (``distributions.continuous_bernoulli_mean``,
            which is not :math:`\sigma(\text{logits})`); the mean for the Gaussian.
        """
        z = check_matrix(z, "z", n_features=self.z_dim, dtype=self.dtype)
        return self.likelihood.mean(self.decoder.forward(z))                           # (N, D)

    def reconstruct(self, x):
        r"""``decode(mu)``: the mean of :math:`p(x|z)` at the posterior mean of :math:`q(z|x)`."""
        mu, _ = self.encode(x)
        return self.decode(mu)

    def sample(self, n, rng=None):
        r"""Generate `n` points: :math:`z \sim \mathcal N(0, I)`, return the decoder's mean.

        Lecture 000 (*VAE*, testing): remove the encoder, sample z from the
        prior, decode.

        Returns
        -------
        ndarray of shape (n, D)
        """
        n = check_int(n, "n", 1)
        z = as_generator(rng, none_ok=True).standard_normal((n, self.z_dim), dtype=self.dtype)  # (n, K)
        return self.decode(z)

    def forward(self, x, n_samples=1, rng=None, eps=None):
        r"""One forward pass, kept for the backward: what an objective (``numvae.objectives``) combines.

        Parameters
        ----------
        x : ndarray of shape (N, D)
        n_samples : int
            Samples of z per datapoint, S.
        rng : numpy.random.Generator or int, optional
        eps : ndarray of shape (S, N, K), or (N, K) for S = 1, optional
            The noise itself.

        Returns
        -------
        Pass
            ``x`` (checked), ``eps`` (S, N, K), ``q`` (the posterior's
            parameters, e.g. ``(mu, logvar)``), ``cache`` (what the
            posterior's backward needs), ``z`` (S, N, K) and ``out``
            (S, N, D), the decoder's output read by the likelihood.
        """
        x = self.check_x(x)
        n_samples = check_int(n_samples, "n_samples", 1)
        eps = self._noise(eps, rng, n_samples, x.shape[0])                             # (S, N, K)
        q = self._encode(x)                                                            # e.g. (mu, logvar), (N, K) each
        z, cache = self.posterior.sample(q, eps)                                       # (S, N, K)
        return Pass(x, eps, q, cache, z, self.decoder.forward(z))                      # out (S, N, D)

    def decoder_backward(self, dout):
        r"""From :math:`\partial\,\text{loss}/\partial\,\text{out}` (S, N, D) to :math:`\partial/\partial z` (S, N, K); sets ``dec.*`` grads."""
        return self.decoder.backward(dout)

    def encoder_backward(self, p, dz, dh=None):
        r"""From :math:`\partial\,\text{loss}/\partial z` (S, N, K) of the pass `p` to the encoder's grads; returns :attr:`grads`.

        The posterior takes `dz` through :math:`z = g(\epsilon, \phi)`;
        `dh` (N, n_outputs), optional, is what the objective adds directly
        on the encoder's output (the closed-form KL, or :math:`\log q` at fixed z).
        """
        dh_total = self.posterior.backward(p.q, p.cache, p.eps, dz)                    # (N, n_outputs)
        if dh is not None:
            dh_total = dh_total + dh
        # The data need no gradient: the encoder's first layer skips its input gradient.
        self.encoder.backward(dh_total, need_input_grad=False)                         # sets enc.* grads
        return self.grads

    def elbo(self, x, n_samples=1, rng=None, eps=None):
        r"""Per-datapoint ELBO and its two terms, in nats.

        Parameters
        ----------
        x : ndarray of shape (N, D)
            In [0, 1] for the Bernoulli and continuous Bernoulli decoders.
        n_samples : int
            L, the number of reparameterized samples averaged in the
            reconstruction term.
        rng : numpy.random.Generator or int, optional
            Source of the noise (ignored when `eps` is given).
        eps : ndarray of shape (N, K) or (n_samples, N, K), optional
            The noise itself, to make the result deterministic.

        Returns
        -------
        elbo, rec, kl : ndarray of shape (N,)
            ``elbo = rec - kl``.

        Raises
        ------
        ValueError
            Bad input, naming the argument.
        FloatingPointError
            The forward pass overflowed (parameters too large for the dtype,
            e.g. a checkpoint with weights of 1e300): a NaN or infinite ELBO
            is never returned.

        Notes
        -----
        Lecture 000 (*Generative models - Variational Bayes Approach*):

        .. math:: \mathcal L(x) \approx \frac1L\sum_{l=1}^L \log p_\theta(x|z^{(l)})
                  - KL\bigl(q_\phi(z|x)\,\|\,\mathcal N(0,I)\bigr),\qquad
                  z^{(l)} = \mu + \sigma\odot\epsilon^{(l)}

        with the KL in closed form,
        :math:`-\tfrac12\sum_j(1+\log\sigma_j^2-\mu_j^2-\sigma_j^2)` for the
        diagonal family (the full one's is in ``posteriors.FullGaussian``).
        """
        p = self.forward(x, n_samples, rng, eps)
        rec = self.likelihood.log_prob(p.x, p.out).mean(axis=0)                        # (N,)
        kl, _ = self.posterior.kl_terms(p.q)                                           # (N,)
        return check_finite_result(rec - kl, "VAE.elbo"), rec, kl

    # --- the loss and its gradient ---------------------------------------------

    def loss_and_grads(self, x, rng=None, eps=None, n_samples=1, beta=1.0, free_bits=0.0):
        r"""Training loss on a minibatch and its gradient with respect to every parameter.

        Parameters
        ----------
        x : ndarray of shape (N, D)
        rng : numpy.random.Generator or int, optional
        eps : ndarray of shape (N, K) or (n_samples, N, K), optional
            Frozen noise: the loss becomes a deterministic function of the
            parameters (what a gradient check needs).
        n_samples : int
            L reparameterized samples per datapoint.
        beta : float >= 0
            Weight of the KL term (β-VAE; KL annealing varies it).
        free_bits : float >= 0
            λ of free bits, in nats per latent dimension; 0 switches it off.
            Only for the diagonal posterior: with ``posterior="full"`` a
            positive value is a ``ValueError`` (the full-covariance KL has no
            per-dimension split).

        Returns
        -------
        loss : float
        grads : dict[str, ndarray]
            Keys and shapes of :attr:`params`: the gradients of this call
            (with ``fast=True`` views of the flat gradient buffer, which the
            next call overwrites: copy to keep).

        Notes
        -----
        The loss is ``numvae.objectives.ELBO(beta, free_bits, n_samples)``'s
        (its docstring has the formula and the backward), which this method
        calls: ``fit`` takes that object, or any other objective, directly.

        The minibatch estimator. Lecture 000 (*VAE*) writes the full-data
        objective from a batch :math:`\mathcal B` of M out of N points as
        :math:`\frac MN\sum_{x\in\mathcal B}\mathcal L(x)`; the factor is
        inverted. Unbiasedness for the full-data sum needs
        :math:`E\bigl[\frac NM\sum_{x\in\mathcal B}\mathcal L(x)\bigr] = \sum_{\text{all } x}\mathcal L(x)`,
        so the factor is N/M. The mean over the batch used here is that
        estimator divided by N (the data set size): the same direction of
        steepest ascent, a step size that does not depend on the data size.

        The backward pass (β = 1, λ = 0 for brevity): with
        :math:`\delta = \partial\,\text{loss}/\partial\,\text{out} = -\frac{1}{NL}\,\partial\log p/\partial\,\text{out}`,
        the decoder's backward gives :math:`\partial/\partial z`; then, because
        :math:`z = \mu + e^{\lambda/2}\epsilon` with :math:`\lambda = \log\sigma^2`,

        .. math:: \frac{\partial}{\partial\mu} = \sum_l\frac{\partial}{\partial z^{(l)}} + \frac1N\mu,\qquad
                  \frac{\partial}{\partial\lambda} = \sum_l\frac{\partial}{\partial z^{(l)}}\odot\epsilon^{(l)}\odot\tfrac12e^{\lambda/2}
                  + \frac1N\cdot\tfrac12\bigl(e^{\lambda}-1\bigr)

        (Kingma & Welling 2014; lecture 002, *reparameterization trick*): the
        posterior's ``backward`` (the path through z) plus its ``kl_backward``,
        and the encoder's backward takes both halves of its fused output layer.
        The full-covariance family (``posteriors.FullGaussian``) goes through L instead.
        """
        return ELBO(beta, free_bits, n_samples).loss_and_grads(self, x, rng=rng, eps=eps)

    # --- the marginal likelihood ------------------------------------------------

    def log_likelihood(self, x, k=1000, rng=None, batch_size=100, proposal=None, return_se=False):
        r"""Importance-sampled estimate of :math:`\log p_\theta(x)` per datapoint, in nats.

        Parameters
        ----------
        x : ndarray of shape (N, D)
        k : int
            Number of importance samples per datapoint. k = 1 is a one-sample
            ELBO estimate; the estimate is a lower bound in expectation that
            tightens as k grows (Burda et al. 2015, theorem 1).
        rng : numpy.random.Generator or int, optional
        batch_size : int
            Datapoints per block. Samples are drawn in chunks too, so memory
            stays bounded (about ``2**21`` entries per array) for any k and N.
        proposal : (str, ndarray of shape (N, n_outputs)), optional
            A proposal other than the encoder's :math:`q_\phi(z|x)`: the name
            of a posterior family (``numvae.posteriors.POSTERIORS``) and its raw
            parameters for every row of `x` (e.g. a per-datapoint optimum from
            ``numvae.inference``), as everywhere in numvae.
        return_se : bool
            Also return the estimate's standard error (delta method; NaN for k = 1).

        Returns
        -------
        ndarray of shape (N,), float64
            And its standard error, of the same shape, if `return_se`.

        Raises
        ------
        ValueError
            Bad input, naming the argument.
        FloatingPointError
            The forward pass overflowed (parameters too large for the dtype):
            a NaN or infinite estimate is never returned.

        Notes
        -----
        Lecture 002 (*marginal likelihood*, eq. 9):

        .. math:: \log p(x) \approx \log\frac1k\sum_{i=1}^k
                  \frac{p_\theta(x|z_i)\,p(z_i)}{q_\phi(z_i|x)},\qquad z_i\sim q_\phi(z|x)

        The estimator is ``numvae.importance.log_px``, the one every proposal
        of numvae goes through: the decoder and :math:`\log p(x|z)` in the
        model's dtype, in blocks of samples so that memory stays bounded for
        any k, the log weights in float64, summed across blocks with a running
        shift so that no exponential overflows.
        """
        log_p, se = importance.log_px(self, self.check_x(x), proposal, k, rng, batch_size, what="VAE.log_likelihood")
        return (log_p, se) if return_se else log_p

    # --- files ----------------------------------------------------------------

    def save(self, path):
        """Write the parameters and config to one ``.npz`` checkpoint, atomically (``numvae.io``)."""
        save_checkpoint(path, self.params, "VAE", self.config)

    @classmethod
    def load(cls, path, fast=False, threads=1):
        """Rebuild a model saved by :meth:`save`; `fast` and `threads` as in the constructor (not saved).

        Raises ``FileNotFoundError`` if `path` does not exist, and
        ``ValueError`` naming the problem if the file is not a VAE checkpoint,
        its config is invalid, or an array is missing, extra, of the wrong
        shape or not finite.
        """
        _check_speed(fast, threads)     # before the file: these are not the checkpoint's errors
        return load_model(cls, path, "VAE", fast=fast, threads=threads)

    # --- scikit-learn's habits --------------------------------------------------

    def fit(self, X, X_valid=None, **kwargs):
        """Train on the rows of `X` with :func:`numvae.train.fit` and return ``self``.

        `X_valid` and the keyword arguments (``epochs``, ``batch_size``, ``lr``,
        ``kl_warmup_epochs``, ``seed``, ``checkpoint``, ...) are those of
        :func:`numvae.train.fit`; its :class:`~numvae.train.History` is kept as
        ``history_``. ``model.fit(X).transform(X)`` then reads as in scikit-learn.
        """
        from numvae import train   # on use: a top-level import would turn any import of vae by train into a cycle

        self.history_ = train.fit(self, X, X_valid, **kwargs)
        return self

    def score_samples(self, X, k=1000, rng=None):
        r"""scikit-learn's name for :meth:`log_likelihood`: importance-sampled :math:`\log p_\theta(x)`, shape (N,)."""
        return self.log_likelihood(X, k=k, rng=rng)

    def transform(self, X):
        r"""Posterior means :math:`\mu_\phi(x) = E_q[z|x]` per row, shape (N, K): the first output of :meth:`encode`."""
        return self.encode(X)[0]
