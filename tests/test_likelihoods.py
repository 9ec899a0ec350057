"""numvae.likelihoods: the registries of families, and the Poisson family end to end.

The Poisson likelihood is held to scipy's pmf, to its own normalization and
mean by brute-force sums over the counts, and its gradient to central finite
differences; a VAE with it trains on the digits' counts. The other families
are tested in test_vae.py and test_distributions.py.
"""

import numpy as np
import pytest
from scipy import stats

from numvae import likelihoods, nn, posteriors
from numvae.cli import build_parser
from numvae.data import load_digits, split
from numvae.gradcheck import VAE_CASES
from numvae.train import fit
from numvae.vae import VAE


@pytest.mark.parametrize("registry", [likelihoods.LIKELIHOODS, posteriors.POSTERIORS, nn.ACTIVATIONS],
                         ids=["likelihoods", "posteriors", "activations"])
def test_every_family_is_registered_under_the_name_it_declares(registry):
    assert registry and all(cls.name == name for name, cls in registry.items())


def test_the_command_line_and_the_gradient_checks_take_their_families_from_the_registries():
    sub = {a.dest: a for a in build_parser()._subparsers._group_actions[0].choices["train"]._actions}
    assert list(sub["decoder"].choices) == list(likelihoods.LIKELIHOODS)
    assert list(sub["posterior"].choices) == list(posteriors.POSTERIORS)
    covered = {(decoder, var, posterior) for decoder, var, _, _, _, posterior in VAE_CASES}
    for name, family in likelihoods.LIKELIHOODS.items():
        for var in family.variances or ("pixel",):
            for posterior in posteriors.POSTERIORS:
                assert (name, var, posterior) in covered
    assert {case[3] for case in VAE_CASES} == set(nn.ACTIVATIONS) - {"identity"}


def test_the_registry_refuses_two_families_of_one_name():
    from numvae.checks import registry

    class Twin(likelihoods.Bernoulli):
        pass
    with pytest.raises(ValueError, match="distinct"):
        registry(likelihoods.Bernoulli, Twin)


# --- the Poisson family ------------------------------------------------------------------

def poisson():
    return likelihoods.make_likelihood("poisson", 5, np.float64)


def test_poisson_log_prob_is_scipys_pmf_summed_over_pixels():
    rng = np.random.default_rng(0)
    x = rng.poisson(4.0, size=(6, 5)).astype(float)                 # (N, D)
    out = rng.normal(1.0, 1.5, size=(3, 6, 5))                       # (L, N, D) log-rates
    want = stats.poisson.logpmf(x, np.exp(out)).sum(axis=-1)         # (L, N)
    np.testing.assert_allclose(poisson().log_prob(x, out), want, rtol=1e-12)


@pytest.mark.parametrize("log_rate", [-3.0, 0.0, 1.7, 3.0])
def test_poisson_probabilities_sum_to_one_and_their_mean_is_the_decoded_mean(log_rate):
    lik = likelihoods.make_likelihood("poisson", 1, np.float64)
    counts = np.arange(400.0)[:, None]                              # far past the rate's mass (e³ ≈ 20)
    p = np.exp(lik.log_prob(counts, np.full((1, 400, 1), log_rate)))[0]
    assert abs(p.sum() - 1) < 1e-12
    np.testing.assert_allclose(p @ counts[:, 0], lik.mean(np.array([log_rate])), rtol=1e-12)


def test_poisson_gradient_matches_central_differences():
    rng = np.random.default_rng(1)
    lik, x = poisson(), rng.poisson(3.0, size=(4, 5)).astype(float)
    out, h = rng.normal(size=(2, 4, 5)), 1e-6
    numeric = np.empty_like(out)
    for idx in np.ndindex(out.shape):
        up, down = out.copy(), out.copy()
        up[idx] += h
        down[idx] -= h
        numeric[idx] = (lik.log_prob(x, up).sum() - lik.log_prob(x, down).sum()) / (2 * h)
    grad = lik.grad(x, out)
    assert np.max(np.abs(grad - numeric) / np.maximum(np.abs(numeric), 1e-3)) < 1e-6
    log_p, dout = lik.backward(x, out, -0.5)
    np.testing.assert_array_equal(log_p, lik.log_prob(x, out))
    np.testing.assert_allclose(dout, -0.5 * grad, rtol=1e-15)


@pytest.mark.parametrize("bad", [-1.0, 0.5, 2.25])
def test_poisson_refuses_what_is_not_a_count_by_name(bad):
    x = np.array([[0.0, 1.0, 2.0, 3.0, bad]])
    with pytest.raises(ValueError, match=rf"^X must hold counts \(integers >= 0\); got {bad!r}"):
        poisson().check_x(x, "X")
    assert poisson().check_x(x[:, :4], "X") is not None


def test_a_poisson_vae_trains_on_the_digits_counts_and_refuses_grey_levels():
    X, y = load_digits()
    (X_tr, _), (X_va, _) = split(np.round(X * 16), [0.8, 0.2], 0, y=y)    # back to 0..16 pixels on per 4 x 4 block
    model = VAE(64, hidden=(32,), z_dim=4, decoder="poisson", activation="tanh", seed=0)   # bounded log-rates
    before = model.elbo(X_va, rng=1)[0].mean()
    history = fit(model, X_tr, X_va, epochs=3, batch_size=50, seed=0, progress=False)
    assert history["valid_elbo"][-1] > before + 50           # nats per image: an untrained decoder is far off
    with pytest.raises(ValueError, match=r"X \(a poisson decoder needs counts \(integers >= 0\)\) must hold counts"):
        fit(model, X_tr / 16, epochs=1, progress=False)
