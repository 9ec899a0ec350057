r"""An adversary on the code: a classifier c(y|z) that the encoder learns to defeat.

Lecture 001 (*Disentangling FoVs*) names the method: combine a VAE with
adversarial training. A conditional VAE (``numvae.conditional``) is *told* the
label, so nothing forces its code to forget it; an adversary does. Two players
share one forward pass on a labelled batch:

* the **adversary** :math:`c_\psi(y|z)`, an MLP of ``numvae.nn`` from the code
  :math:`\mu_\phi(x, y)` to class logits, minimises its cross-entropy
  :math:`\mathrm{CE}(\psi; \phi) = -\frac1N\sum_n\log c_\psi(y_n|\mu_\phi(x_n, y_n))`;
* the **model** minimises its own loss minus λ times the adversary's,

  .. math:: J(\theta, \phi; \psi) = -\text{ELBO}(\theta, \phi) - \lambda\,\mathrm{CE}(\psi; \phi),

  i.e. it is rewarded when the adversary cannot tell the label from the code.

This is gradient reversal (Ganin & Lempitsky 2015) as the Fader networks of
Lample et al. 2017 use it on their code: in one pass the adversary receives
:math:`+\partial\mathrm{CE}/\partial\psi` and the encoder
:math:`-\lambda\,\partial\mathrm{CE}/\partial\mu` on its mean outputs. It is not
the gradient of one objective, so each player's gradient is checked against
finite differences of *its own* loss with the other player frozen
(``tests/test_adversary.py``).

Mathieu, Zhao, Sprechmann, Ramesh & LeCun 2016 put their adversary elsewhere:
a discriminator judges *images* — real ones against images decoded from the
code of one image and the label of another — so it pushes the swapped images to
look real, and reaches the code only through the decoder. The adversary here
judges the code itself, which is what "z forgets the label" measures directly.
"""

import numpy as np
from scipy.special import logsumexp, softmax

from numvae.checks import as_generator, check_choice, check_int, check_labels, check_matrix, check_positive, registry
from numvae.nn import MLP
from numvae.optim import Adam


class Adversary:
    r"""The classifier :math:`c_\psi(y|z)`: an MLP from K code units to C logits, and its cross-entropy.

    Parameters
    ----------
    z_dim, n_classes : int
    hidden : tuple of int
        Hidden widths of the MLP.
    activation : str
    dtype : numpy floating dtype
    seed : int or None

    Attributes
    ----------
    params, grads : dict[str, ndarray]
        The MLP's (``"0.W"``, ...); ``grads`` of the last :meth:`loss_and_grads`.
    """

    def __init__(self, z_dim, n_classes, hidden=(32,), activation="relu", dtype=np.float64, seed=0):
        self.z_dim = check_int(z_dim, "z_dim", 1)
        self.n_classes = check_int(n_classes, "n_classes", 2)
        self.net = MLP((self.z_dim, *hidden, self.n_classes), activation, "identity", dtype,
                       np.random.default_rng(seed))

    @property
    def params(self):
        """The MLP's parameter arrays by name."""
        return self.net.params

    @property
    def grads(self):
        """The MLP's gradients of the last backward pass."""
        return self.net.grads

    def loss_and_grads(self, z, y):
        r"""Mean cross-entropy of the labels `y` given codes `z` (N, K), its parameter gradients, and ∂CE/∂z.

        .. math:: \mathrm{CE} = \frac1N\sum_n\bigl(\operatorname{logsumexp}_c l_{nc} - l_{ny_n}\bigr),
                  \qquad \frac{\partial\mathrm{CE}}{\partial l} = \frac1N(P - E)

        with P the softmax of the logits l and E the one-hot labels; the MLP's
        backward takes it to ``grads`` and to :math:`\partial\mathrm{CE}/\partial z`.

        Returns
        -------
        loss : float
        grads : dict[str, ndarray]
        dz : ndarray of shape (N, K)
        """
        z = check_matrix(z, "z", n_features=self.z_dim)
        y = check_labels(y, "y", self.n_classes, z.shape[0])
        N = z.shape[0]
        logits = self.net.forward(z)                                                   # (N, C)
        loss = float(np.mean(logsumexp(logits, axis=1) - logits[np.arange(N), y]))
        dlogits = softmax(logits, axis=1)
        dlogits[np.arange(N), y] -= 1
        dz = self.net.backward(dlogits / N)                                            # sets grads
        return loss, self.grads, dz

    def confusion_and_grad(self, z):
        r"""Cross-entropy of the uniform distribution under the adversary, and its gradient in `z` (N, K).

        .. math:: \mathrm{CE}_u = -\frac1N\sum_n\frac1C\sum_c\log c_\psi(c|z_n),\qquad
                  \frac{\partial\mathrm{CE}_u}{\partial l} = \frac1N\bigl(P - \tfrac1C\bigr)

        Least, :math:`\log C`, where the adversary's guess is uniform: a code it
        cannot read. Leaves ``grads`` holding this loss's parameter gradient;
        :meth:`loss_and_grads` after it sets them back to the cross-entropy's.
        """
        z = check_matrix(z, "z", n_features=self.z_dim)
        logits = self.net.forward(z)
        log_p = logits - logsumexp(logits, axis=1, keepdims=True)
        loss = float(-log_p.mean())
        dz = self.net.backward((softmax(logits, axis=1) - 1.0 / self.n_classes) / z.shape[0])
        return loss, dz

    def predict(self, z):
        """The adversary's guess of the label of every code, shape (N,)."""
        return np.argmax(self.net.forward(check_matrix(z, "z", n_features=self.z_dim)), axis=1)


class Reversal:
    r"""The encoder's adversarial term :math:`-\mathrm{CE}`: make the adversary wrong (gradient reversal).

    Minimising it rewards a code from which the adversary predicts a *wrong*
    label with confidence, and that needs the label in the code: against a
    strong reversal a fresh classifier may read more of y, not less
    (the lesson measures it).
    """

    name = "reversal"

    def encoder_term(self, adversary, mu, y):
        """``(value, d value / d mu, CE)``; leaves the adversary's ``grads`` at its own CE's."""
        ce, _, dmu = adversary.loss_and_grads(mu, y)
        return -ce, -dmu, ce


class Confusion:
    r"""The encoder's adversarial term :math:`\mathrm{CE}_u`: make the adversary unsure (Tzeng et al. 2015).

    The cross-entropy of the uniform distribution under the adversary
    (:meth:`Adversary.confusion_and_grad`), least where the adversary's guess
    is uniform, whatever the true label: no reward for hiding the label in a
    misleading way.
    """

    name = "confusion"

    def encoder_term(self, adversary, mu, y):
        """``(value, d value / d mu, CE)``; leaves the adversary's ``grads`` at its own CE's."""
        value, dmu = adversary.confusion_and_grad(mu)
        ce, _, _ = adversary.loss_and_grads(mu, y)      # the adversary's own gradient, for its optimiser
        return value, dmu, ce


ENCODER_TARGETS = registry(Reversal, Confusion)


class AdversarialELBO:
    r"""The model's loss :math:`-\text{ELBO} + \lambda\,T` against a frozen :class:`Adversary`, T its target's term.

    Parameters
    ----------
    adversary : Adversary
    lam : float >= 0
        λ; 0 is the conditional VAE's own ELBO.
    beta : float >= 0
        Weight of the KL term, as in ``numvae.objectives.ELBO``.
    n_samples : int >= 1
    target : {"reversal", "confusion"}
        The encoder's adversarial term T (:data:`ENCODER_TARGETS`):
        :class:`Reversal`, :math:`T = -\mathrm{CE}` (the loss minus λ times
        the adversary's, as Lample et al. 2017), or :class:`Confusion`,
        :math:`T = \mathrm{CE}_u`.

    Notes
    -----
    Called with a labelled model (``ConditionalVAE.given(y)``, whose ``y`` it
    reads). The ELBO's backward is ``numvae.objectives.ELBO``'s; the adversary
    adds :math:`-\lambda\,\partial\mathrm{CE}/\partial\mu` to the encoder's mean
    outputs (the first K of every posterior family's outputs). As a side effect
    the adversary's ``grads`` hold :math:`\partial\mathrm{CE}/\partial\psi` at the same
    codes: what its own optimiser steps on.
    """

    name = "adversarial_elbo"

    def __init__(self, adversary, lam, beta=1.0, n_samples=1, target="reversal"):
        if not isinstance(adversary, Adversary):
            raise ValueError(f"adversary must be an Adversary; got {type(adversary).__name__}")
        self.adversary = adversary
        self.lam = float(check_positive(lam, "lam", strict=False))
        self.beta = float(check_positive(beta, "beta", strict=False))
        self.n_samples = check_int(n_samples, "n_samples", 1)
        self.target = ENCODER_TARGETS[check_choice(target, "target", ENCODER_TARGETS)]()

    def loss_and_grads(self, model, x, rng=None, eps=None):
        """The loss on a labelled minibatch and its gradient for every parameter of the model; sets ``last_terms``."""
        if not hasattr(model, "y"):
            raise ValueError("model must be a labelled conditional model (ConditionalVAE.given(y)); "
                             f"got {type(model).__name__}")
        p = model.forward(x, self.n_samples, rng, eps)
        N, L, K = p.x.shape[0], self.n_samples, model.z_dim
        log_px, dout = model.likelihood.backward(p.x, p.out, -1.0 / (N * L))
        rec = log_px.mean(axis=0)
        kl, kl_terms = model.posterior.kl_terms(p.q)
        mu = p.q[0]                                                                    # (N, K): the code
        term, dmu, ce = self.target.encoder_term(self.adversary, mu, model.y)           # the adversary's grads too
        loss = float(-rec.mean() + self.beta * kl.mean() + self.lam * term)
        model.last_terms = {"rec": rec, "kl": kl, "kl_per_dim": kl_terms.mean(axis=0), "adversary_ce": ce}

        dz = model.decoder_backward(dout)
        dh = model.posterior.kl_backward(p.q, np.full(K, self.beta / N, dtype=model.dtype))
        dh[:, :K] += self.lam * dmu                                                    # e.g. reversed: −λ ∂CE/∂mu
        return loss, model.encoder_backward(p, dz, dh)


def fit_adversarial(model, X, y, lam, epochs=10, batch_size=50, lr=1e-3, adversary_lr=None, adversary_hidden=(32,),
                    adversary_steps=5, adversary_activation="tanh", beta=1.0, target="reversal", seed=0):
    r"""Train a ``ConditionalVAE`` and an :class:`Adversary` on its codes together, by gradient reversal.

    Every minibatch: one forward pass; the model's Adam steps on
    :class:`AdversarialELBO`'s gradient, the adversary's Adam on
    :math:`\partial\mathrm{CE}/\partial\psi` at the same codes; then
    ``adversary_steps - 1`` more adversary steps on the batch's codes as the
    updated encoder gives them. An adversary that keeps up matters: against a
    lagging one the encoder learns to hide the label from *it* (a rotation of
    the code suffices) while a fresh classifier still reads it.

    Parameters
    ----------
    model : ConditionalVAE
        Updated in place.
    X : ndarray of shape (N, D)
    y : ndarray of shape (N,), int
    lam : float >= 0
    epochs, batch_size : int
    lr, adversary_lr : float
        The two Adam learning rates (`adversary_lr` defaults to `lr`).
    adversary_hidden : tuple of int
    adversary_activation : str
        The adversary's hidden activation (``numvae.nn.ACTIVATIONS``).
    adversary_steps : int >= 1
    target : {"reversal", "confusion"}
        The encoder's adversarial term (:class:`AdversarialELBO`).
    beta : float
    seed : int
        Seeds the adversary's weights, the shuffles and the noise.

    Returns
    -------
    adversary : Adversary
    history : list of dict
        Per epoch: ``"loss"``, ``"rec"``, ``"kl"``, ``"adversary_ce"`` (means over the batches).
    """
    X = model.check_x(X)
    y = check_labels(y, "y", model.n_classes, X.shape[0])
    epochs = check_int(epochs, "epochs", 0)
    batch_size = check_int(batch_size, "batch_size", 1)
    adversary_steps = check_int(adversary_steps, "adversary_steps", 1)
    adversary = Adversary(model.z_dim, model.n_classes, adversary_hidden, adversary_activation, model.dtype, seed)
    objective = AdversarialELBO(adversary, lam, beta, target=target)
    opt = Adam(model.params, lr=lr)
    opt_adv = Adam(adversary.params, lr=lr if adversary_lr is None else adversary_lr)
    rng = as_generator(seed)
    history = []
    for _ in range(epochs):
        sums = np.zeros(4)
        order = rng.permutation(X.shape[0])
        for start in range(0, X.shape[0], batch_size):
            rows = order[start:start + batch_size]
            loss, grads = objective.loss_and_grads(model.given(y[rows]), X[rows], rng=rng)
            if not np.isfinite(loss):
                raise FloatingPointError(f"adversarial training diverged (loss = {loss}); try a lower lr or lam")
            opt.step(grads)
            opt_adv.step(adversary.grads)
            if adversary_steps > 1:
                codes = model.encode(X[rows], y[rows])[0]
                for _ in range(adversary_steps - 1):
                    opt_adv.step(adversary.loss_and_grads(codes, y[rows])[1])
            t = model.last_terms
            sums += len(rows) * np.array([loss, t["rec"].mean(), t["kl"].mean(), t["adversary_ce"]])
        history.append(dict(zip(("loss", "rec", "kl", "adversary_ce"), sums / X.shape[0])))
    return adversary, history
