r"""The variational posteriors :math:`q_\phi(z|x)`: one small object per family.

The encoder MLP ends in ``n_outputs`` units, the raw output ``h`` (N, n_outputs);
a posterior family reads its parameters from ``h`` and knows

* ``split(h)``: the parameters, e.g. ``(mu, logvar)``;
* ``sample(params, eps)``: :math:`z = g(\epsilon, \phi, x)` (lecture 002,
  *change of variables*, eq. 6) and what its backward needs;
* ``log_q(z, params)``: :math:`\log q(z|x)`;
* ``score_z(params, z)``: :math:`\partial\log q(z|x)/\partial z`, the
  parameters held fixed (the path-derivative gradient needs it);
* ``kl_terms(params)``: the closed-form :math:`KL(q\,\|\,\mathcal N(0, I))` per
  datapoint and one KL per latent dimension (the free-bits and active-unit unit);
* three backward pieces, each to :math:`\partial/\partial h` (N, n_outputs),
  which an objective (``numvae.objectives``) adds up as its formula says:
  ``backward(params, cache, eps, dz)``, the path through the sample
  :math:`z = g(\epsilon, \phi)`; ``kl_backward(params, kl_weight)``, the
  closed-form KL; ``log_q_backward(params, z, weight)``, :math:`\log q(z|x)`
  through its parameters with z held fixed;
* ``covariance(params)`` and ``outputs(mu, cov)``: to and from a plain
  Gaussian, so per-datapoint inference can start from any encoder.

Each family declares its ``name``, how many encoder outputs it reads for K
latents (``outputs_for``) and whether free bits apply to it (``free_bits``):
a per-dimension KL. :data:`POSTERIORS` registers them and :func:`make_posterior`
builds one by name.
"""

from functools import lru_cache

import numpy as np

from numvae.checks import registry
from numvae.distributions import LOG_2PI, gaussian_log_density, kl_standard_normal_grad, kl_standard_normal_terms


class DiagonalGaussian:
    r""":math:`q(z|x) = \mathcal N(\mu, \operatorname{diag}\,e^{\log\sigma^2})`; the encoder outputs :math:`(\mu, \log\sigma^2)`.

    Lecture 000 (*VAE*) and lecture 002 (*Factorized Gaussian posteriors*):
    :math:`z = \mu + \sigma\odot\epsilon`, whose Jacobian
    :math:`\operatorname{diag}\sigma` has :math:`\log|\det| = \sum_j\log\sigma_j`.
    """

    name = "diagonal"
    param_names = ("mu", "logvar")
    free_bits = True          # the KL is a sum of one term per latent dimension

    @staticmethod
    def outputs_for(z_dim):
        """Encoder outputs for `z_dim` latents: the means and the log-variances."""
        return 2 * z_dim

    def __init__(self, z_dim):
        self.z_dim = z_dim
        self.n_outputs = self.outputs_for(z_dim)

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

    def score_z(self, params, z):
        r""":math:`\partial\log q(z)/\partial z = -(z-\mu)/\sigma^2`, shape of `z` (S, N, K)."""
        mu, logvar = params
        return -(z - mu) * np.exp(-logvar)

    def kl_terms(self, params):
        r"""KL per datapoint (N,) and its per-dimension terms :math:`-\tfrac12(1+\log\sigma_j^2-\mu_j^2-\sigma_j^2)` (N, K)."""
        terms = kl_standard_normal_terms(*params)                                      # (N, K)
        return terms.sum(axis=-1), terms

    def backward(self, params, sigma, eps, dz):
        r"""Gradient with respect to the encoder output ``(mu, logvar)`` through the samples, shape (N, 2K).

        Parameters
        ----------
        dz : ndarray of shape (L, N, K)
            :math:`\partial\,\text{loss}/\partial z^{(l)}`.

        Notes
        -----
        Because :math:`z = \mu + e^{\lambda/2}\epsilon`, :math:`\lambda = \log\sigma^2`:
        :math:`\partial/\partial\mu = \sum_l\partial/\partial z^{(l)}` and
        :math:`\partial/\partial\lambda = \sum_l\partial/\partial z^{(l)}\odot\epsilon^{(l)}\odot\tfrac12\sigma`
        (Kingma & Welling 2014; lecture 002, *reparameterization trick*).
        """
        dmu = dz.sum(axis=0)                                                           # (N, K) ∂z/∂mu = 1
        # ∂z/∂logvar = eps ⊙ ½exp(½logvar) = eps ⊙ ½sigma
        dlogvar = (dz * eps).sum(axis=0) * (0.5 * sigma)                               # (N, K)
        return np.concatenate([dmu, dlogvar], axis=-1)                                 # (N, 2K)

    def kl_backward(self, params, kl_weight):
        r"""Gradient of :math:`\sum_n\sum_j w_j KL_{nj}` with respect to ``(mu, logvar)``, shape (N, 2K).

        `kl_weight` (K,) is :math:`w_j = \partial\,\text{loss}/\partial KL_{nj}`
        (free bits zero some); :math:`\partial KL_{nj}/\partial\mu_j = \mu_j`,
        :math:`\partial KL_{nj}/\partial\lambda_j = \tfrac12(\sigma_j^2 - 1)`.
        """
        dkl_dmu, dkl_dlogvar = kl_standard_normal_grad(*params)                        # (N, K) each
        return np.concatenate([kl_weight * dkl_dmu, kl_weight * dkl_dlogvar], axis=-1)

    def log_q_backward(self, params, z, weight):
        r"""Gradient of :math:`\sum_{s,n} w_{sn}\log q(z_{sn}|\mu_n, \lambda_n)` with z held fixed, shape (N, 2K).

        With :math:`\log q = -\tfrac12\sum_j\bigl(\log 2\pi + \lambda_j + (z_j-\mu_j)^2e^{-\lambda_j}\bigr)`:
        :math:`\partial/\partial\mu_j = (z_j-\mu_j)e^{-\lambda_j}` and
        :math:`\partial/\partial\lambda_j = \tfrac12\bigl((z_j-\mu_j)^2e^{-\lambda_j} - 1\bigr)`.
        Added to the path through z (``score_z`` times :math:`\partial z/\partial\phi`),
        the two cancel in μ and leave −½ in λ: the entropy's gradient.
        """
        mu, logvar = params
        u = (z - mu) * np.exp(-logvar)                                                 # (S, N, K) (z − mu)/σ²
        w = weight[..., None]                                                          # (S, N, 1)
        dmu = (w * u).sum(axis=0)                                                      # (N, K)
        dlogvar = 0.5 * (w * (u * (z - mu) - 1.0)).sum(axis=0)                         # (N, K)
        return np.concatenate([dmu, dlogvar], axis=-1)

    def precondition(self, params, g):
        r"""Scale a gradient (N, 2K) by the inverse curvature of the ELBO at the best q: :math:`(\sigma^2 g_\mu,\ 2g_\lambda)`.

        For a Gaussian target and q at its mean-field optimum, the ELBO's
        curvature is :math:`\Lambda_{jj} = 1/\sigma_j^2` in :math:`\mu_j` and ½ in
        :math:`\lambda_j = \log\sigma_j^2` (from :math:`\tfrac12\lambda - \tfrac12\Lambda_{jj}e^{\lambda}`).
        """
        K = self.z_dim
        return np.concatenate([np.exp(params[1]) * g[..., :K], 2.0 * g[..., K:]], axis=-1)

    def covariance(self, params):
        """Covariances diag(exp(logvar)), shape (N, K, K)."""
        return np.exp(params[1])[..., None] * np.eye(self.z_dim)

    def outputs(self, mu, cov):
        """The encoder output of the member closest to N(mu, cov) in this family: the same marginal variances."""
        return np.concatenate([mu, np.log(np.diagonal(cov, axis1=-2, axis2=-1))], axis=-1)


class FullGaussian:
    r""":math:`q(z|x) = \mathcal N(\mu, LL^\top)`, L lower-triangular with a positive diagonal.

    The encoder outputs :math:`K + K(K+1)/2` numbers: :math:`\mu`, then
    :math:`\lambda_j = \log L_{jj}^2` (so :math:`L_{jj} = e^{\lambda_j/2} > 0`
    whatever the network outputs, and a diagonal L is the diagonal family with
    ``logvar`` = λ, at the same scale), then the strictly lower entries row by
    row (``np.tril_indices(K, -1)``), unconstrained. (Measured on the digits of
    ``numvae compare``, K = 2 and 8, 40 epochs: :math:`L_{jj} = e^{\lambda_j}`
    instead trains to an ELBO 2 to 4 nats lower.)

    Lecture 002, *change of variables*: :math:`z = \mu + L\epsilon` has Jacobian
    :math:`\partial z/\partial\epsilon = L`, whose determinant is the product
    of the diagonal (L is triangular), so

    .. math:: \log q(z|x) = \log\mathcal N(\epsilon; 0, I) - \sum_j\log L_{jj},\qquad
              \epsilon = L^{-1}(z - \mu),

    and the Gaussian KL of lecture 003 with :math:`\Sigma_1 = LL^\top`,
    :math:`\Sigma_2 = I` (:math:`\operatorname{tr}LL^\top = \sum_{ij}L_{ij}^2`,
    :math:`\log|LL^\top| = 2\sum_j\log L_{jj}`):

    .. math:: KL(q\,\|\,\mathcal N(0, I)) = \tfrac12\Bigl(\sum_{ij}L_{ij}^2 + \mu^\top\mu - K\Bigr)
              - \sum_j\log L_{jj}.

    Free bits are refused (``free_bits = False``): this KL does not split into
    one term per latent dimension (the marginal KLs of :meth:`kl_terms` sum to
    less than it, the rest being the correlation between dimensions), so
    "λ nats per dimension" has no one meaning here.
    """

    name = "full"
    param_names = ("mu", "L")
    free_bits = False         # see above: no per-dimension KL

    @staticmethod
    def outputs_for(z_dim):
        """Encoder outputs for `z_dim` latents: the mean, then the K(K+1)/2 entries of L."""
        return z_dim + z_dim * (z_dim + 1) // 2

    def __init__(self, z_dim):
        self.z_dim = z_dim
        self.n_outputs = self.outputs_for(z_dim)
        self._lower = np.tril_indices(z_dim, -1)
        self._diag = np.diag_indices(z_dim)

    def split(self, h):
        """``(mu, L)``: the mean (a view, (N, K)) and the Cholesky factor (a new array, (N, K, K))."""
        K = self.z_dim
        L = np.zeros(h.shape[:-1] + (K, K), dtype=h.dtype)                            # (N, K, K)
        L[..., self._diag[0], self._diag[1]] = np.exp(0.5 * h[..., K:2 * K])           # L_jj = exp(½ lambda_j)
        L[..., self._lower[0], self._lower[1]] = h[..., 2 * K:]
        return h[..., :K], L

    def sample(self, params, eps):
        r""":math:`z = \mu + L\epsilon`, shape (L, N, K); no cache (L is in `params`)."""
        mu, L = params
        return mu + np.einsum("nij,snj->sni", L, eps), None                            # (S, N, K)

    def log_q(self, z, params):
        r""":math:`\log\mathcal N(L^{-1}(z-\mu); 0, I) - \sum_j\log L_{jj}`, shape (S, N)."""
        mu, L = params
        eps = np.einsum("nij,snj->sni", np.linalg.inv(L), z - mu)                      # (S, N, K) L⁻¹(z − mu)
        log_det = np.log(np.diagonal(L, axis1=-2, axis2=-1)).sum(-1)                   # (N,) log|det L|
        return -0.5 * (self.z_dim * LOG_2PI + (eps * eps).sum(-1)) - log_det

    def score_z(self, params, z):
        r""":math:`\partial\log q(z)/\partial z = -(LL^\top)^{-1}(z-\mu) = -L^{-\top}L^{-1}(z-\mu)`, shape (S, N, K)."""
        mu, L = params
        Linv = np.linalg.inv(L)                                                        # (N, K, K)
        return -np.einsum("nji,snj->sni", Linv, np.einsum("nij,snj->sni", Linv, z - mu))

    def kl_terms(self, params):
        r"""The KL above per datapoint (N,), and the marginal KL of each dimension (N, K).

        The marginal of :math:`z_j` is :math:`\mathcal N(\mu_j, \Sigma_{jj})`,
        :math:`\Sigma_{jj} = \sum_i L_{ji}^2`; its KL to N(0, 1) is
        :math:`\tfrac12(\Sigma_{jj} + \mu_j^2 - 1 - \log\Sigma_{jj})`. These are what
        ``last_terms["kl_per_dim"]`` reports (their sum is at most the KL).
        """
        mu, L = params
        K = self.z_dim
        log_diag = np.log(np.diagonal(L, axis1=-2, axis2=-1))                          # (N, K)
        kl = 0.5 * ((L * L).sum(axis=(-2, -1)) + (mu * mu).sum(-1) - K) - log_diag.sum(-1)   # (N,)
        var = (L * L).sum(-1)                                                          # (N, K) Σ_jj
        return kl, 0.5 * (var + mu * mu - 1.0 - np.log(var))

    def backward(self, params, cache, eps, dz):
        r"""Gradient with respect to the encoder output :math:`(\mu, \lambda, L_{\text{lower}})` through the samples.

        Parameters
        ----------
        dz : ndarray of shape (S, N, K)

        Notes
        -----
        From :math:`z = \mu + L\epsilon`: :math:`\partial/\partial\mu = \sum_s\partial/\partial z^{(s)}`,
        :math:`\partial/\partial L_{ij} = \sum_s(\partial/\partial z_i^{(s)})\,\epsilon_j^{(s)}` (i ≥ j).
        """
        L = params[1]
        return self._to_outputs(L, dz.sum(axis=0), np.einsum("sni,snj->nij", dz, eps))

    def kl_backward(self, params, kl_weight):
        r"""Gradient of :math:`w\sum_n KL_n` with respect to the encoder output, shape (N, n_outputs).

        `kl_weight` (K,) holds :math:`w = \partial\,\text{loss}/\partial KL` K times
        (free bits are refused, so all entries are equal).
        :math:`\partial KL/\partial\mu = \mu`, :math:`\partial KL/\partial L_{ij} = L_{ij} - \delta_{ij}/L_{jj}`.
        """
        mu, L = params
        w = kl_weight[:, None]                                                         # (K, 1) weight of row i of L
        dL = w * L                                                                     # (N, K, K) the KL's ½ΣL²
        dL[..., self._diag[0], self._diag[1]] -= kl_weight / np.diagonal(L, axis1=-2, axis2=-1)   # its −Σ log L_jj
        return self._to_outputs(L, kl_weight * mu, dL)

    def log_q_backward(self, params, z, weight):
        r"""Gradient of :math:`\sum_{s,n} w_{sn}\log q(z_{sn}|\mu_n, L_n)` with z held fixed, shape (N, n_outputs).

        With :math:`u = L^{-1}(z-\mu)` and :math:`\log q = -\tfrac12(K\log 2\pi + u^\top u) - \sum_j\log L_{jj}`:
        :math:`du = -L^{-1}(d\mu + dL\,u)`, so :math:`\partial\log q/\partial\mu = L^{-\top}u` and
        :math:`\partial\log q/\partial L = (L^{-\top}u)\,u^\top - \operatorname{diag}(1/L_{jj})`
        (its lower triangle: the upper one is not a parameter).
        """
        mu, L = params
        Linv = np.linalg.inv(L)                                                        # (N, K, K)
        u = np.einsum("nij,snj->sni", Linv, z - mu)                                    # (S, N, K) L⁻¹(z − mu)
        a = weight[..., None] * np.einsum("nji,snj->sni", Linv, u)                     # (S, N, K) w L⁻ᵀu
        dL = np.einsum("sni,snj->nij", a, u)                                           # (N, K, K)
        dL[..., self._diag[0], self._diag[1]] -= weight.sum(axis=0)[:, None] / np.diagonal(L, axis1=-2, axis2=-1)
        return self._to_outputs(L, a.sum(axis=0), dL)

    def _to_outputs(self, L, dmu, dL):
        r"""From :math:`\partial/\partial\mu` (N, K) and :math:`\partial/\partial L` (N, K, K) to the encoder output's.

        The diagonal is :math:`L_{jj} = e^{\lambda_j/2}`, so :math:`\partial/\partial\lambda_j = \tfrac12L_{jj}\,\partial/\partial L_{jj}`;
        the strictly lower entries are outputs themselves; the upper ones are not parameters.
        """
        dlam = dL[..., self._diag[0], self._diag[1]] * (0.5 * np.diagonal(L, axis1=-2, axis2=-1))   # (N, K)
        return np.concatenate([dmu, dlam, dL[..., self._lower[0], self._lower[1]]], axis=-1)

    def precondition(self, params, g):
        r"""Scale a gradient (N, n_outputs) by the inverse curvature of the ELBO where q is the posterior.

        With :math:`\Sigma = LL^\top` and a Gaussian target of precision
        :math:`\Lambda = \Sigma^{-1}`: :math:`\Sigma g_\mu` for the mean (the
        natural gradient: one Newton step there), 2 for :math:`\lambda_j` (the
        curvature of :math:`\tfrac12\lambda - \tfrac12\Lambda_{jj}e^{\lambda}` at its optimum
        is −½), :math:`1/\Lambda_{ii}` for :math:`L_{ij}` (from
        :math:`-\tfrac12\operatorname{tr}\Lambda LL^\top`).
        """
        mu, L = params
        K = self.z_dim
        cov = self.covariance(params)                                                  # (N, K, K)
        prec_diag = np.diagonal(np.linalg.inv(cov), axis1=-2, axis2=-1)                 # (N, K) Λ_ii
        return np.concatenate([np.einsum("nij,nj->ni", cov, g[..., :K]), 2.0 * g[..., K:2 * K],
                               g[..., 2 * K:] / prec_diag[..., self._lower[0]]], axis=-1)

    def covariance(self, params):
        """:math:`LL^\top`, shape (N, K, K)."""
        L = params[1]
        return L @ np.swapaxes(L, -1, -2)

    def outputs(self, mu, cov):
        """The encoder output of N(mu, cov): its Cholesky factor's log squared diagonal and lower entries."""
        L = np.linalg.cholesky(cov)                                                    # (N, K, K)
        return np.concatenate([mu, 2.0 * np.log(L[..., self._diag[0], self._diag[1]]),
                               L[..., self._lower[0], self._lower[1]]], axis=-1)


POSTERIORS = registry(DiagonalGaussian, FullGaussian)


@lru_cache(maxsize=64)
def make_posterior(posterior, z_dim):
    """The family named `posterior` (one of :data:`POSTERIORS`) for `z_dim` latents.

    A family holds no state but its sizes, so one object per (name, K) serves
    every caller: a loop that names its family at every step builds it once.
    """
    return POSTERIORS[posterior](z_dim)
