"""The adversary on the code: each player's gradient against finite differences of its own loss, the other frozen."""

import numpy as np
import pytest
from scipy.special import logsumexp, softmax

from numvae.adversary import ENCODER_TARGETS, Adversary, AdversarialELBO, fit_adversarial
from numvae.conditional import ConditionalVAE
from numvae.gradcheck import VAE_EPS, conditional_case, gradcheck
from numvae.objectives import ELBO


def batch(seed=0):
    model, _, (x, y, eps) = conditional_case("bernoulli", seed=seed, n_samples=1)
    return model, x, y, eps[0]


def frozen_adversary(model, seed=0):
    adversary = Adversary(model.z_dim, model.n_classes, hidden=(4,), activation="tanh", seed=seed)
    rng = np.random.default_rng(seed)
    for p in adversary.params.values():
        p[...] = rng.normal(0, 0.7, p.shape)
    return adversary


@pytest.mark.parametrize("target", list(ENCODER_TARGETS))
def test_the_models_gradient_is_that_of_its_own_loss_with_the_adversary_frozen(target):
    model, x, y, eps = batch(seed=1)
    adversary = frozen_adversary(model, seed=2)
    before = {k: v.copy() for k, v in adversary.params.items()}
    objective = AdversarialELBO(adversary, lam=2.5, beta=0.7, target=target)
    report = gradcheck(lambda p: objective.loss_and_grads(model.given(y), x, eps=eps), model.params, eps=VAE_EPS)
    assert report.passed, str(report)
    for k, v in adversary.params.items():          # frozen: the model's loss never moves the adversary
        np.testing.assert_array_equal(v, before[k])


def test_the_adversarys_gradient_is_that_of_its_own_cross_entropy_with_the_model_frozen():
    model, x, y, eps = batch(seed=3)
    adversary = frozen_adversary(model, seed=4)
    objective = AdversarialELBO(adversary, lam=1.0)
    objective.loss_and_grads(model.given(y), x, eps=eps)           # sets the adversary's grads as a side effect
    side = {k: v.copy() for k, v in adversary.grads.items()}
    mu = model.encode(x, y)[0].copy()

    def fun(params):
        loss, grads, _ = adversary.loss_and_grads(mu, y)
        return loss, grads
    report = gradcheck(fun, adversary.params, eps=VAE_EPS)
    assert report.passed, str(report)
    for k in side:                                                  # the side effect is that gradient
        np.testing.assert_allclose(side[k], adversary.loss_and_grads(mu, y)[1][k], rtol=1e-12, atol=1e-15)


def test_cross_entropy_and_confusion_match_their_formulas_and_input_gradients():
    rng = np.random.default_rng(5)
    adversary = Adversary(3, 4, hidden=(5,), activation="tanh", seed=5)
    z, y = rng.normal(size=(6, 3)), rng.integers(0, 4, 6)
    logits = adversary.net.forward(z)
    ce, _, dz = adversary.loss_and_grads(z, y)
    assert ce == pytest.approx(np.mean(logsumexp(logits, 1) - logits[np.arange(6), y]), rel=1e-12)
    u, du = adversary.confusion_and_grad(z)
    assert u == pytest.approx(-np.mean(np.log(softmax(logits, 1))), rel=1e-12)
    assert u >= np.log(4) - 1e-12                     # the uniform guess is the least
    for fun, grad in ((lambda zz: adversary.loss_and_grads(zz, y)[0], dz),
                      (lambda zz: adversary.confusion_and_grad(zz)[0], du)):
        report = gradcheck(lambda p: (fun(p["z"]), {"z": grad}), {"z": z.copy()}, eps=VAE_EPS)
        assert report.passed, str(report)


def test_lam_zero_is_the_elbo_and_the_reversal_is_minus_lam_times_the_cross_entropy():
    model, x, y, eps = batch(seed=6)
    adversary = frozen_adversary(model, seed=7)
    elbo_loss, g = ELBO().loss_and_grads(model.given(y), x, eps=eps)
    g = {k: v.copy() for k, v in g.items()}
    loss0, g0 = AdversarialELBO(adversary, 0.0).loss_and_grads(model.given(y), x, eps=eps)
    assert loss0 == pytest.approx(elbo_loss, rel=1e-12)
    for k in g:
        np.testing.assert_allclose(g0[k], g[k], rtol=1e-12, atol=1e-15)
    loss, _ = AdversarialELBO(adversary, 3.0).loss_and_grads(model.given(y), x, eps=eps)
    ce = adversary.loss_and_grads(model.encode(x, y)[0], y)[0]
    assert loss == pytest.approx(elbo_loss - 3.0 * ce, rel=1e-12)
    assert model.last_terms["adversary_ce"] == pytest.approx(ce, rel=1e-12)


def test_bad_input_is_named():
    model, x, y, eps = batch()
    adversary = frozen_adversary(model)
    with pytest.raises(ValueError, match="adversary"):
        AdversarialELBO("not one", 1.0)
    with pytest.raises(ValueError, match="lam"):
        AdversarialELBO(adversary, -1.0)
    with pytest.raises(ValueError, match="target"):
        AdversarialELBO(adversary, 1.0, target="fgsm")
    with pytest.raises(ValueError, match="labelled conditional model"):
        AdversarialELBO(adversary, 1.0).loss_and_grads(model, x, eps=eps)
    with pytest.raises(ValueError, match="y"):
        fit_adversarial(model, x, y[:-1], 1.0, epochs=1)
    with pytest.raises(ValueError, match="adversary_steps"):
        fit_adversarial(model, x, y, 1.0, epochs=1, adversary_steps=0)


def test_fit_adversarial_trains_both_players():
    from numvae.data import load_digits

    X, y = load_digits()
    X, y = X[:300], y[:300]
    model = ConditionalVAE(64, 10, hidden=(16,), z_dim=3, seed=0)
    adversary, history = fit_adversarial(model, X, y, 0.0, epochs=6, batch_size=30, lr=3e-3, adversary_lr=1e-2)
    assert history[-1]["rec"] > history[0]["rec"] + 2                     # the model learnt
    assert history[-1]["adversary_ce"] < history[0]["adversary_ce"]        # and the adversary too
    assert {"loss", "rec", "kl", "adversary_ce"} == set(history[0])
