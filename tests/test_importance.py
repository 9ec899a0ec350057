"""numvae.importance: the one importance-sampling estimator, whatever names its proposal.

Held to the closed form where pPCA makes log p(x) exact, to its own spread
over repetitions (the standard error), to a brute-force computation on the
same draws, and to itself across chunk sizes.
"""

import numpy as np
import pytest

from numvae import importance
from numvae.inference import defensive_log_px, encoder_outputs
from test_inference import exact_posterior_h, linear_problem


def test_the_encoder_the_named_proposals_and_the_defensive_mixture_all_go_through_one_estimator():
    m, _, x, _ = linear_problem(seed=1, N=6)
    h = encoder_outputs(m, x, "diagonal")
    a = m.log_likelihood(x, k=64, rng=3, return_se=True)                              # the encoder's q
    b = importance.log_px(m, x, ("diagonal", h), k=64, rng=3)                          # the same q, named
    c = defensive_log_px(m, x, ("diagonal", h), k=64, prior_share=0.0, rng=3)         # the same, by inference
    for got in (b, c):
        np.testing.assert_allclose(got[0], a[0], rtol=1e-13)
        np.testing.assert_allclose(got[1], a[1], rtol=1e-9)


@pytest.mark.parametrize("prior_share", [0.0, 0.25])
def test_the_estimate_and_its_standard_error_do_not_depend_on_the_chunking(monkeypatch, prior_share):
    m, ppca, x, _ = linear_problem(seed=2, N=5)
    proposal = ("full", exact_posterior_h(ppca, x, shift_sd=1.0))                     # weights that vary
    whole = importance.log_px(m, x, proposal, k=300, rng=7, prior_share=prior_share)
    monkeypatch.setattr(importance, "BLOCK", 5 * 6 * 7)                               # 7 draws per chunk
    assert importance.samples_per_chunk(m, 5, 300, m.posterior) == 7
    chunked = importance.log_px(m, x, proposal, k=300, rng=7, prior_share=prior_share)
    np.testing.assert_allclose(chunked[0], whole[0], rtol=1e-12)
    np.testing.assert_allclose(chunked[1], whole[1], rtol=1e-8)
    assert np.all(whole[1] > 1e-3)


def test_the_standard_error_is_the_spread_of_the_estimate_and_brute_force_agrees():
    m, ppca, x, _ = linear_problem(seed=3, N=2)
    near = ("full", exact_posterior_h(ppca, x, shift_sd=0.5))                         # weights that vary, not wildly
    # Over 300 repetitions the sd of log p̂ is within 25 % of the mean reported SE (the sd
    # of 300 draws is itself known to about 4 %; the delta method adds its own bias at k = 500).
    reps = np.array([importance.log_px(m, x, near, k=500, rng=r) for r in range(300)])       # (300, 2, 2)
    assert np.all(reps[:, 1].mean(axis=0) > 1e-3)
    np.testing.assert_allclose(reps[:, 0].std(axis=0, ddof=1), reps[:, 1].mean(axis=0), rtol=0.25)
    # The mean of p̂ (not of log p̂) is unbiased for p(x): within 4 of its standard errors.
    ratio = np.exp(reps[:, 0] - ppca.log_likelihood(x))                                # p̂ / p(x)
    assert np.all(np.abs(ratio.mean(axis=0) - 1) <= 4 * ratio.std(axis=0, ddof=1) / np.sqrt(len(ratio)))
    # By hand on the same draws, with the untrained encoder's q: log mean w and the
    # delta-method SE from the weights themselves.
    proposal = ("diagonal", encoder_outputs(m, x, "diagonal"))
    eps = np.random.default_rng(0).standard_normal((500, 2, m.z_dim))
    mu, logvar = m.encode(x)
    z = mu + np.exp(0.5 * logvar) * eps
    log_w = (m.likelihood.log_prob(x, m.decoder.forward(z))
             - 0.5 * (z ** 2).sum(-1) + 0.5 * (((z - mu) ** 2) * np.exp(-logvar) + logvar).sum(-1))
    w = np.exp(log_w - log_w.max(0))
    got = importance.log_px(m, x, proposal, k=500, rng=0)
    np.testing.assert_allclose(got[0], log_w.max(0) + np.log(w.mean(0)), rtol=1e-12)
    np.testing.assert_allclose(got[1], w.std(0, ddof=1) / np.sqrt(500) / w.mean(0), rtol=1e-10)


def test_one_draw_has_an_estimate_but_no_standard_error():
    m, _, x, _ = linear_problem(seed=4, N=3)
    log_p, se = m.log_likelihood(x, k=1, rng=0, return_se=True)
    assert np.all(np.isfinite(log_p)) and np.all(np.isnan(se))


@pytest.mark.parametrize("proposal, match", [
    (("flow", np.zeros((3, 6))), r"proposal's posterior must be one of \['diagonal', 'full'\]"),
    ("diagonal", r"proposal must be a pair \(posterior name, h\)"),
    (("diagonal", np.zeros((3, 5))), r"proposal parameters must have shape \(N, n_outputs\) = \(3, 6\)"),
    (("diagonal", np.full((3, 6), np.nan)), "proposal parameters"),
])
def test_a_proposal_is_named_one_way_and_checked(proposal, match):
    m, _, x, _ = linear_problem(seed=5, N=3)
    with pytest.raises(ValueError, match=match):
        m.log_likelihood(x, k=4, proposal=proposal)
