r"""Training objectives: the ELBO, the importance-weighted bound (IWAE, DReG) and the autoencoder's squared error.

The model computes the pieces — a forward pass kept for the backward,
:math:`\log p(x|z)`, :math:`\log p(z)`, :math:`\log q(z|x)` and the backward of
each (``VAE.forward``, ``VAE.decoder_backward``, ``VAE.encoder_backward`` and
the posterior's ``backward``, ``kl_backward``, ``log_q_backward``); an
objective combines them into a loss and its gradient, written out by hand:

* :class:`ELBO`, :math:`\frac1L\sum_l\log p(x|z_l) - \beta\,KL(q\,\|\,p)` with
  the KL in closed form, free bits and KL warm-up (lecture 000, *VAE*;
  lecture 002, *VAE challenges*);
* :class:`IWAE`, :math:`\mathcal L_k = \log\frac1k\sum_i w_i`,
  :math:`w_i = p(x, z_i)/q(z_i|x)` (Burda, Grosse & Salakhutdinov 2015), with
  the gradient estimator ``"iwae"`` (theirs) or ``"dreg"`` (Tucker, Lawson, Gu
  & Maddison 2019);
* :class:`SquaredError`, the plain and denoising autoencoders' cost
  (lecture 003, *Auto-Encoder for Image Reconstruction*).

Every objective answers the same calls: ``loss_and_grads(model, x, rng)``
(one minibatch; frozen noise by keyword), ``value(model, x, rng)`` (the
per-datapoint loss, for held-out data), ``at_step(step, steps_per_epoch)``
(the objective of one optimisation step: the ELBO's warm-up), ``n_samples``
(samples of z a step draws per datapoint) and ``settings()`` (what a run's
checkpoint records; :func:`from_settings` rebuilds it). A new objective is
one class here and its entry in :data:`OBJECTIVES`.
"""

import math

import numpy as np
from scipy.special import logsumexp, softmax

from numvae.checks import check_choice, check_int, check_positive, registry
from numvae.distributions import LOG_2PI


def kl_weight(step, warmup_steps):
    r"""KL weight :math:`\beta_t` at optimisation step `step` (0-based) of a linear warm-up.

    .. math:: \beta_t = \min\!\left(1,\ \frac{t+1}{T}\right)

    (Bowman et al. 2015, *Generating sentences from a continuous space*,
    anneal the KL weight from 0 to 1.) Starting at :math:`1/T` rather than 0
    means no step ignores the KL entirely, and the last warm-up step
    :math:`t = T-1` is the first with :math:`\beta = 1`. ``warmup_steps`` 0:
    no warm-up, :math:`\beta_t = 1`.
    """
    if warmup_steps <= 0:
        return 1.0
    return min(1.0, (step + 1) / warmup_steps)


def log_prior(z):
    r""":math:`\log\mathcal N(z; 0, I) = -\tfrac12(\|z\|^2 + K\log 2\pi)`, summed over the last axis."""
    return -0.5 * (np.sum(z * z, axis=-1) + z.shape[-1] * LOG_2PI)


class ELBO:
    r"""The evidence lower bound with a closed-form KL: today's training loss of the VAE.

    Parameters
    ----------
    beta : float >= 0
        Weight of the KL term (β-VAE, Higgins et al. 2017).
    free_bits : float >= 0
        λ of free bits, in nats per latent dimension; 0 switches it off.
        Only for a posterior that declares ``free_bits`` (the diagonal one).
    n_samples : int >= 1
        L reparameterized samples per datapoint.
    warmup_epochs : float >= 0
        Length of a linear KL warm-up in epochs (:func:`kl_weight`); 0 switches it off.

    Notes
    -----
    With :math:`\text{rec}_n = \frac1L\sum_l\log p(x_n|z_n^{(l)})` and
    :math:`KL_{nj}` the closed-form KL of datapoint n, dimension j:

    .. math:: \text{loss} = -\frac1N\sum_n \text{rec}_n + \beta\,\mathcal K,\qquad
              \mathcal K = \begin{cases}\frac1N\sum_n\sum_j KL_{nj} & \lambda = 0\\
              \sum_j\max\bigl(\lambda, \frac1N\sum_n KL_{nj}\bigr) & \lambda > 0\end{cases}

    Free bits (Kingma et al. 2016, "Improved variational inference with
    inverse autoregressive flow"; lecture 002, *free bits*): a dimension whose
    batch-mean KL is below λ pays λ whatever it does, so its KL gradient is
    zero and the encoder may use it for free.

    The backward (β = 1, λ = 0 for brevity): each :math:`\log p(x_n|z_n^{(l)})`
    enters with weight :math:`-1/(NL)`, so the decoder's backward starts from
    :math:`\delta = -\frac1{NL}\partial\log p/\partial\,\text{out}` and gives
    :math:`\partial/\partial z`; the posterior takes it through
    :math:`z = \mu + \sigma\odot\epsilon` and adds the KL's own gradient
    :math:`\frac1N\partial KL/\partial\phi` (Kingma & Welling 2014; lecture
    002, *reparameterization trick*).
    """

    name = "elbo"

    def __init__(self, beta=1.0, free_bits=0.0, n_samples=1, warmup_epochs=0.0):
        check_positive(beta, "beta", strict=False)
        check_positive(free_bits, "free_bits", strict=False)
        check_positive(warmup_epochs, "warmup_epochs", strict=False)
        # Python floats: float32 arrays stay float32.
        self.beta, self.free_bits, self.warmup_epochs = float(beta), float(free_bits), float(warmup_epochs)
        self.n_samples = check_int(n_samples, "n_samples", 1)

    def __repr__(self):
        return (f"ELBO(beta={self.beta:g}, free_bits={self.free_bits:g}, n_samples={self.n_samples}, "
                f"warmup_epochs={self.warmup_epochs:g})")

    def settings(self):
        """The objective as plain JSON values (what a run's checkpoint records)."""
        return {"name": self.name, "beta": self.beta, "free_bits": self.free_bits, "n_samples": self.n_samples,
                "warmup_epochs": self.warmup_epochs}

    def check_model(self, model):
        """Raise ``ValueError`` if `model`'s posterior cannot take free bits; return `model`."""
        if self.free_bits > 0 and not model.posterior.free_bits:
            raise ValueError(f"free_bits must be 0 with posterior={model.posterior.name!r} (its KL does not split "
                             f"into one term per latent dimension); got free_bits={self.free_bits!r}")
        return model

    def at_step(self, step, steps_per_epoch):
        """The ELBO of optimisation step `step`: β scaled by the warm-up's :func:`kl_weight`."""
        if self.warmup_epochs == 0:
            return self
        t = kl_weight(step, math.ceil(self.warmup_epochs * steps_per_epoch))
        return type(self)(self.beta * t, self.free_bits, self.n_samples)

    def value(self, model, x, rng=None):
        """Per-datapoint loss of held-out data, shape (N,): minus the ELBO (β = 1, no free bits)."""
        elbo, _, _ = model.elbo(x, n_samples=self.n_samples, rng=rng)
        return -elbo

    def loss_and_grads(self, model, x, rng=None, eps=None):
        """The loss above on a minibatch and its gradient for every parameter of `model`; sets ``model.last_terms``.

        `eps` (``(n_samples, N, K)``, or ``(N, K)`` for one sample) freezes the
        noise: the loss becomes a deterministic function of the parameters.
        """
        self.check_model(model)
        p = model.forward(x, self.n_samples, rng, eps)
        N, L = p.x.shape[0], self.n_samples
        # Each log p(x_n | z_n^(l)) enters the loss with weight −1/(N L): dout = −dlogp/(N L).
        log_px, dout = model.likelihood.backward(p.x, p.out, -1.0 / (N * L))            # (L, N), (L, N, D)
        rec = log_px.mean(axis=0)                                                      # (N,)
        kl, kl_terms = model.posterior.kl_terms(p.q)                                   # (N,), (N, K)
        kl_per_dim = kl_terms.mean(axis=0)                                             # (K,)
        if self.free_bits > 0:
            kl_term = np.maximum(self.free_bits, kl_per_dim).sum()
            kl_active = (kl_per_dim > self.free_bits).astype(model.dtype)              # (K,) 1 where the KL counts
        else:
            kl_term = kl.mean()
            kl_active = np.ones(model.z_dim, dtype=model.dtype)                        # (K,)
        loss = float(-rec.mean() + self.beta * kl_term)
        model.last_terms = {"rec": rec, "kl": kl, "kl_per_dim": kl_per_dim}

        # Backward, in the order of the forward reversed.
        dz = model.decoder_backward(dout)                                              # (L, N, K); sets dec.* grads
        dh_kl = model.posterior.kl_backward(p.q, (self.beta / N) * kl_active)         # ∂loss/∂KL_nj = β/N
        return loss, model.encoder_backward(p, dz, dh_kl)                             # sets enc.* grads


class IWAEGradient:
    r"""Burda et al.'s estimator: the gradient of :math:`\mathcal L_k(\epsilon)` itself.

    .. math:: \nabla\mathcal L_k = \sum_i\tilde w_i\,\nabla\log w_i,\qquad
              \tilde w_i = w_i/\textstyle\sum_j w_j,

    with :math:`\nabla\log w_i` the total derivative through
    :math:`z_i = g(\epsilon_i, \phi)`: the path through z (where
    :math:`\log q` counts through its argument) and :math:`\log q`'s own
    dependence on φ at fixed z.
    """

    name = "iwae"

    def encoder_terms(self, model, p, dz_path, g, w_tilde):
        """``(dz, dh)`` for ``VAE.encoder_backward``: the path through z and −g times ∇φ log q at fixed z."""
        return dz_path, model.posterior.log_q_backward(p.q, p.z, -g)


class DReGGradient:
    r"""The doubly reparameterized estimator (Tucker et al. 2019): the encoder gradient without the score term.

    .. math:: \nabla_\phi^{\rm DReG} = \sum_i\tilde w_i^2\,
              \frac{\partial\log w_i}{\partial z_i}\frac{\partial z_i}{\partial\phi},

    :math:`\log q`'s parameters held fixed inside :math:`\log w_i` (only z
    moves). It is the gradient of the surrogate
    :math:`\sum_i \mathrm{sg}(\tilde w_i^2)\log w_i(z_i(\phi); \phi_0)`, unbiased
    for :math:`\nabla_\phi\mathcal L_k`; the decoder's gradient stays IWAE's.
    Each row of the decoder's backward is linear in its own δ, so
    :math:`\tilde w_i^2` weights come from the IWAE path's :math:`\tilde w_i`
    times one more :math:`\tilde w_i`.
    """

    name = "dreg"

    def encoder_terms(self, model, p, dz_path, g, w_tilde):
        """``(dz, None)``: the IWAE path through z, every sample's row times its w̃ once more; no score term."""
        return w_tilde[..., None] * dz_path, None


ESTIMATORS = registry(IWAEGradient, DReGGradient)


class IWAE:
    r"""The importance-weighted bound :math:`\mathcal L_k` (Burda, Grosse & Salakhutdinov 2015).

    Parameters
    ----------
    k : int >= 1
        Importance samples per datapoint. k = 1 is the ELBO with a
        Monte Carlo KL (:math:`\log p(z) - \log q(z|x)` at the same z).
    estimator : {"iwae", "dreg"}
        The encoder's gradient estimator (:data:`ESTIMATORS`):
        :class:`IWAEGradient` or :class:`DReGGradient`. The value and the
        decoder's gradient are the same.

    Notes
    -----
    With :math:`z_i = g(\epsilon_i, \phi)`, :math:`\epsilon_i\sim\mathcal N(0, I)`,

    .. math:: \log w_i = \log p(x|z_i) + \log p(z_i) - \log q(z_i|x),\qquad
              \mathcal L_k = \log\frac1k\sum_{i=1}^k w_i,\qquad
              \text{loss} = -\frac1N\sum_n\mathcal L_k(x_n).

    :math:`\mathcal L_k \le \mathcal L_{k+1} \le \log p(x)` in expectation
    (their theorem 1). The loss's gradient in :math:`\log w_{in}` is
    :math:`-\tilde w_{in}/N`, the normalised weights (a softmax of the log
    weights over i), so every backward is the ELBO's with per-sample weights:
    :math:`\log p(x|z_i)` through the decoder, :math:`\log p(z_i)` through
    :math:`\partial/\partial z_i = -z_i`, and :math:`-\log q(z_i|x)` through
    ``score_z`` (and, for ``"iwae"``, the posterior's ``log_q_backward``).
    Free bits and KL warm-up belong to the ELBO: there is no KL term here.
    """

    name = "iwae"

    def __init__(self, k, estimator="iwae"):
        self.k = check_int(k, "k", 1)
        check_choice(estimator, "estimator", ESTIMATORS)
        self.estimator = estimator
        self._gradient = ESTIMATORS[estimator]()

    @property
    def n_samples(self):
        """k: the samples of z one step draws per datapoint."""
        return self.k

    def __repr__(self):
        return f"IWAE(k={self.k}, estimator={self.estimator!r})"

    def settings(self):
        """The objective as plain JSON values (what a run's checkpoint records)."""
        return {"name": self.name, "k": self.k, "estimator": self.estimator}

    def check_model(self, model):
        """Every VAE posterior has ``log_q``, ``score_z`` and ``log_q_backward``: nothing to refuse."""
        return model

    def at_step(self, step, steps_per_epoch):
        """The same objective at every step: there is no KL weight to warm up."""
        return self

    def log_weights(self, model, p):
        r""":math:`\log w_{in} = \log p(x_n|z_{in}) + \log p(z_{in}) - \log q(z_{in}|x_n)`, shape (k, N), in the model's dtype."""
        return (model.likelihood.log_prob(p.x, p.out) + log_prior(p.z) - model.posterior.log_q(p.z, p.q))

    def bound(self, log_w):
        r""":math:`\mathcal L_k` per datapoint from the log weights (k, N): :math:`\operatorname{logsumexp}_i\log w_i - \log k`."""
        return logsumexp(log_w, axis=0) - np.log(self.k)

    def value(self, model, x, rng=None):
        """Per-datapoint loss of held-out data, shape (N,): :math:`-\\mathcal L_k`."""
        p = model.forward(x, self.k, rng)
        return -self.bound(self.log_weights(model, p))

    def loss_and_grads(self, model, x, rng=None, eps=None):
        """``-mean_n L_k(x_n)`` on a minibatch and its gradient; sets ``model.last_terms``.

        `eps` (``(k, N, K)``) freezes the noise. ``last_terms`` holds
        ``"bound"`` (N,), :math:`\\mathcal L_k`, beside the ELBO's ``"rec"`` (the
        mean of the k :math:`\\log p(x|z_i)`), ``"kl"`` and ``"kl_per_dim"`` (closed
        form), so a history of IWAE training still reports the ELBO's terms.
        """
        p = model.forward(x, self.k, rng, eps)
        N = p.x.shape[0]
        log_w = self.log_weights(model, p)                                             # (k, N)
        bound = self.bound(log_w)                                                      # (N,)
        w_tilde = softmax(log_w, axis=0).astype(model.dtype, copy=False)              # (k, N) normalised weights
        g = -w_tilde / N                                                               # (k, N) ∂loss/∂log w_in
        log_px, dout = model.likelihood.backward(p.x, p.out, g)                        # δ = g ∂log p(x|z)/∂out
        kl, kl_terms = model.posterior.kl_terms(p.q)
        model.last_terms = {"bound": bound, "rec": log_px.mean(axis=0), "kl": kl, "kl_per_dim": kl_terms.mean(axis=0)}

        # ∂loss/∂z_i: the decoder's, log p(z)'s −z, and −log q's −score_z, each times g.
        dz_path = model.decoder_backward(dout) - g[..., None] * (p.z + model.posterior.score_z(p.q, p.z))
        dz, dh = self._gradient.encoder_terms(model, p, dz_path, g, w_tilde)
        return float(-bound.mean()), model.encoder_backward(p, dz, dh)


class SquaredError:
    r"""The autoencoder's cost, :math:`\frac1N\sum_n\|x_n - f_\theta(g_\phi(\tilde x_n))\|^2` (lecture 003).

    *Auto-Encoder for Image Reconstruction* and *De-noising Auto-Encoder*:
    :math:`\tilde x_n` is :math:`x_n` itself, or its corruption
    :math:`\tilde x\sim\chi(\tilde x|x)` (``Autoencoder.corrupt``), and the
    *clean* x is reconstructed. Backward:
    :math:`\partial\,\text{loss}/\partial\hat x_n = -\frac2N(x_n - \hat x_n)`;
    the decoder's backward turns it into :math:`\partial/\partial z`, the
    encoder's fills the φ gradients. The corruption does not depend on the
    parameters, so nothing flows through it.
    """

    name = "squared_error"
    n_samples = 1

    def __repr__(self):
        return "SquaredError()"

    def settings(self):
        """The objective as plain JSON values (what a run's checkpoint records)."""
        return {"name": self.name}

    def check_model(self, model):
        """Raise ``ValueError`` unless `model` has the autoencoder's ``corrupt``; return `model`."""
        if not hasattr(model, "corrupt"):
            raise ValueError(f"objective SquaredError() trains an Autoencoder (a model with corrupt); "
                             f"got {type(model).__name__}")
        return model

    def at_step(self, step, steps_per_epoch):
        """The same objective at every step."""
        return self

    def value(self, model, x, rng=None):
        """Per-datapoint squared error of held-out data, shape (N,), on corrupted inputs for a denoiser."""
        x = model.check_x(x)
        return model.squared_error(x, model.corrupt(x, rng))

    def loss_and_grads(self, model, x, rng=None, noise=None):
        """The cost on a minibatch and its gradient; `noise` freezes the corruption; sets ``model.last_terms``."""
        self.check_model(model)
        x = model.check_x(x)
        x_tilde = model.corrupt(x, rng, noise)                                         # (N, D)
        N = x.shape[0]
        z = model.encoder.forward(x_tilde)                                             # (N, K)
        r = x - model.decoder.forward(z)                                               # (N, D) residual vs the CLEAN x
        sq_err = np.sum(r * r, axis=1)                                                 # (N,)
        model.last_terms = {"sq_err": sq_err}
        dz = model.decoder.backward((-2.0 / N) * r)                                    # (N, K); sets dec.*
        model.encoder.backward(dz)                                                     # sets enc.*
        return float(sq_err.mean()), model.grads


OBJECTIVES = registry(ELBO, IWAE, SquaredError)


def from_settings(settings):
    """The objective a run recorded with ``settings()``; ``ValueError`` for a record that names none."""
    if not isinstance(settings, dict) or settings.get("name") not in OBJECTIVES:
        raise ValueError(f"objective settings must name one of {sorted(OBJECTIVES)}; got {settings!r}")
    args = {k: v for k, v in settings.items() if k != "name"}
    return OBJECTIVES[settings["name"]](**args)
