r"""The variational posteriors :math:`q_\phi(z|x)`: one small object per family.

The encoder MLP ends in ``n_outputs`` units, the raw output ``h`` (N, n_outputs);
a posterior family reads its parameters from ``h`` and knows

* ``split(h)``: the parameters, e.g. ``(mu, logvar)``;
* ``sample(params, eps)``: :math:`z = g(\epsilon, \phi, x)` (lecture 002,
  *change of variables*, eq. 6) and what its backward needs;
* ``log_q(z, params)``: :math:`\log q(z|x)`;
* ``kl_terms(params)``: the closed-form :math:`KL(q\,\|\,\mathcal N(0, I))` per
  datapoint and one KL per latent dimension (the free-bits and active-unit unit);
* ``backward(params, cache, eps, dz, kl_weight)``: from :math:`\partial/\partial z`
  and the KL's weight in the loss to :math:`\partial/\partial h`;
* ``covariance(params)`` and ``outputs(mu, cov)``: to and from a plain
  Gaussian, so per-datapoint inference can start from any encoder.

:func:`make_posterior` picks one by name.
"""

import numpy as np

from numvae.distributions import gaussian_log_density, kl_standard_normal_grad, kl_standard_normal_terms

POSTERIORS = ("diagonal",)


class DiagonalGaussian:
    r""":math:`q(z|x) = \mathcal N(\mu, \operatorname{diag}\,e^{\log\sigma^2})`; the encoder outputs :math:`(\mu, \log\sigma^2)`.

    Lecture 000 (*VAE*) and lecture 002 (*Factorized Gaussian posteriors*):
    :math:`z = \mu + \sigma\odot\epsilon`, whose Jacobian
    :math:`\operatorname{diag}\sigma` has :math:`\log|\det| = \sum_j\log\sigma_j`.
    """

    name = "diagonal"

    def __init__(self, z_dim):
        self.z_dim = z_dim
        self.n_outputs = 2 * z_dim

    def split(self, h):
        """``(mu, logvar)``, the two halves of the encoder output (views)."""
        return h[..., :self.z_dim], h[..., self.z_dim:]                                # (N, K) each

    def sample(self, params, eps):
        r"""z = mu + σ ⊙ eps (L, N, K); the cache is σ = exp(½ logvar)."""
        mu, logvar = params
        sigma = np.exp(0.5 * logvar)                                                   # (N, K)
        return mu + sigma * eps, sigma                                                 # (L, N, K)

    def log_q(self, z, params):
        r""":math:`\log\mathcal N(z;\mu,\operatorname{diag}\sigma^2)`, shape (L, N)."""
        mu, logvar = params
        return gaussian_log_density(z, mu, logvar, check=False)

    def kl_terms(self, params):
        r"""KL per datapoint (N,) and its per-dimension terms :math:`-\tfrac12(1+\log\sigma_j^2-\mu_j^2-\sigma_j^2)` (N, K)."""
        terms = kl_standard_normal_terms(*params)                                      # (N, K)
        return terms.sum(axis=-1), terms

    def check_free_bits(self, free_bits):
        """Free bits are defined: the KL is a sum of per-dimension terms."""

    def backward(self, params, sigma, eps, dz, kl_weight):
        r"""Gradient with respect to the encoder output ``(mu, logvar)``, shape (N, 2K).

        Parameters
        ----------
        dz : ndarray of shape (L, N, K)
            :math:`\partial\,\text{loss}/\partial z^{(l)}`.
        kl_weight : ndarray of shape (K,)
            :math:`\partial\,\text{loss}/\partial KL_{nj}`, per dimension (free bits zero some).

        Notes
        -----
        Because :math:`z = \mu + e^{\lambda/2}\epsilon`, :math:`\lambda = \log\sigma^2`:
        :math:`\partial/\partial\mu = \sum_l\partial/\partial z^{(l)} + w\,\mu` and
        :math:`\partial/\partial\lambda = \sum_l\partial/\partial z^{(l)}\odot\epsilon^{(l)}\odot\tfrac12\sigma
        + w\cdot\tfrac12(\sigma^2 - 1)`.
        """
        mu, logvar = params
        dkl_dmu, dkl_dlogvar = kl_standard_normal_grad(mu, logvar)                     # (N, K) each
        # mu feeds two paths: every sample z^(l) = mu + sigma*eps^(l), and the closed-form KL.
        dmu = dz.sum(axis=0) + kl_weight * dkl_dmu                                     # (N, K) decoder path + KL path
        # logvar too: ∂z/∂logvar = eps ⊙ ½exp(½logvar) = eps ⊙ ½sigma, and the KL.
        dlogvar = (dz * eps).sum(axis=0) * (0.5 * sigma) + kl_weight * dkl_dlogvar     # (N, K) decoder path + KL path
        return np.concatenate([dmu, dlogvar], axis=-1)                                 # (N, 2K)

    def covariance(self, params):
        """Covariances diag(exp(logvar)), shape (N, K, K)."""
        return np.exp(params[1])[..., None] * np.eye(self.z_dim)

    def outputs(self, mu, cov):
        """The encoder output of the member closest to N(mu, cov) in this family: the same marginal variances."""
        return np.concatenate([mu, np.log(np.diagonal(cov, axis1=-2, axis2=-1))], axis=-1)


def make_posterior(posterior, z_dim):
    """The posterior object named by the VAE's `posterior` argument."""
    return {"diagonal": DiagonalGaussian}[posterior](z_dim)
