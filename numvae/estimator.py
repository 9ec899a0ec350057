r"""The VAE as a scikit-learn estimator: a thin class that builds and trains a :class:`~numvae.vae.VAE` in ``fit``.

The teaching :class:`~numvae.vae.VAE` is built with its input size D and owns
its parameter arrays from the constructor on; ``numvae.train.fit(model, X,
...)`` then trains it, with the epochs, learning rate and objective as
arguments of the loop. That is the right shape for the lessons, where a
model exists before it sees data, and the wrong one for scikit-learn, whose
contract (``check_estimator``) asks that the constructor only store its
arguments and that ``fit`` add the learned state as attributes ending in
``_``. :class:`VAEEstimator` is that contract around the same two calls:
every setting is a constructor argument, ``fit(X)`` reads D from X, builds
the ``VAE`` as ``model_`` and trains it with ``numvae.train.fit``, and the
scores are the VAE's own importance-sampled :math:`\log p(x)` (lecture 002,
eq. 9; Burda et al. 2015). With its defaults it is ``numvae compare``'s
MLP VAE (a Gaussian decoder with a variance per feature, starting at the
data's mean variance), so a ``GridSearchCV`` over ``n_components`` on
compare's split gives compare's numbers.

scikit-learn is not imported: the protocol is ``numvae.base.Estimator``'s, as
``PPCA``'s is.
"""

import numbers

import numpy as np

from numvae.base import Estimator, as_data
from numvae.checks import as_generator, check_choice, check_int, check_positive
from numvae.objectives import ELBO, IWAE
from numvae.train import fit
from numvae.vae import VAE

# The objective's names -> the objective with iwae_k samples (those of `numvae train --objective`).
OBJECTIVES = {"elbo": lambda k: ELBO(), "iwae": lambda k: IWAE(k), "dreg": lambda k: IWAE(k, "dreg")}


class VAEEstimator(Estimator):
    r"""A variational autoencoder with scikit-learn's estimator interface: density, transformer, sampler.

    Parameters
    ----------
    n_components : int >= 1
        The latent dimension K (scikit-learn's name, as ``PPCA``'s; the
        VAE's ``z_dim``).
    hidden : tuple of int
        Hidden widths of the encoder; the decoder mirrors them. ``()`` is a
        linear VAE.
    decoder : str
        The likelihood :math:`p_\theta(x|z)`, one of
        ``numvae.likelihoods.LIKELIHOODS``. The default ``"gaussian"`` takes
        any real data; the Bernoulli ones need data in [0, 1].
    decoder_var : {"pixel", "shared", "fixed"}
        Gaussian decoder: a log-variance learned per feature, learned and
        shared, or fixed at `decoder_logvar`.
    decoder_logvar : float or "auto"
        Gaussian decoder: the initial (or fixed) log-variance. ``"auto"``:
        the log of the training data's mean per-feature variance, as
        ``numvae compare`` starts it (0, a unit variance, if the data have none).
    posterior : {"diagonal", "full"}
        The family of :math:`q_\phi(z|x)` (``numvae.posteriors.POSTERIORS``).
    activation : str
        Hidden activation, one of ``numvae.nn.ACTIVATIONS``.
    objective : {"elbo", "iwae", "dreg"} or objective
        What training maximises: the ELBO, the importance-weighted bound
        with `iwae_k` samples and IWAE's or DReG's encoder gradient, or an
        object of ``numvae.objectives`` (e.g. ``ELBO(beta=4, warmup_epochs=5)``).
    iwae_k : int >= 1
        Importance samples of the ``"iwae"`` and ``"dreg"`` objectives.
    epochs : int >= 0
        Training epochs.
    lr : float > 0
        Adam's step size.
    batch_size : int >= 1
        Minibatch size M.
    k : int >= 1
        Importance samples per datapoint of :meth:`score_samples` and :meth:`score`.
    random_state : int, numpy.random.Generator or None
        The VAE's initialisation, training's shuffles and noise, and the
        scores' importance samples, as in scikit-learn: an int gives the same
        fit and the same scores every time (the VAE's ``seed``, the training
        seed and the scores' generator are all that int, as in
        ``numvae compare``); None draws fresh entropy each time; a
        Generator is drawn from, so successive fits and scores differ.
    verbose : bool
        Print training progress with an ETA to standard error.
    fast : bool
        Train through ``numvae.fast`` (the same numbers up to rounding, faster).
    dtype : "float64" or "float32"
        The model's floating type (float64 for checking, float32 for speed).

    Attributes
    ----------
    model_ : VAE
        The trained :class:`~numvae.vae.VAE`.
    history_ : History
        Its training history, one row per epoch (``numvae.train.fit``'s).
    n_features_in_ : int
        D, the number of columns seen in :meth:`fit`.
    decoder_logvar_ : float
        The decoder's initial log-variance `decoder_logvar` resolved to.

    Notes
    -----
    Where it differs from :class:`~numvae.vae.VAE`: ``VAE(x_dim, ...)`` owns
    its parameters from the constructor on and takes the training settings in
    ``fit(X, **options)``; here the constructor only stores its arguments and
    ``fit(X)`` builds the VAE, as scikit-learn's ``clone`` and
    ``check_estimator`` require. The scores are random (importance
    sampling): with an int `random_state` they are reproducible, but the
    noise of a row depends on its place in X, so scoring a subset of rows does
    not give the same numbers as scoring them all.
    """

    fitted_attribute = "model_"

    def __init__(self, n_components=2, hidden=(128,), decoder="gaussian", decoder_var="pixel",
                 decoder_logvar="auto", posterior="diagonal", activation="relu", objective="elbo", iwae_k=5,
                 epochs=40, lr=3e-3, batch_size=32, k=500, random_state=None, verbose=False, fast=False,
                 dtype="float64"):
        self.n_components = n_components
        self.hidden = hidden
        self.decoder = decoder
        self.decoder_var = decoder_var
        self.decoder_logvar = decoder_logvar
        self.posterior = posterior
        self.activation = activation
        self.objective = objective
        self.iwae_k = iwae_k
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.k = k
        self.random_state = random_state
        self.verbose = verbose
        self.fast = fast
        self.dtype = dtype

    def __sklearn_tags__(self):
        """Estimator tags for scikit-learn: an unsupervised density estimator and transformer of dense data."""
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

        try:                                   # a float64 model maps float64 to float64, a float32 one float32
            preserves = [np.dtype(self.dtype).name]
        except TypeError:                      # an invalid dtype is fit's error to raise, not the tags'
            preserves = []
        return Tags(estimator_type="density_estimator", target_tags=TargetTags(required=False),
                    transformer_tags=TransformerTags(preserves_dtype=preserves), input_tags=InputTags())

    # --- fitting ---------------------------------------------------------------

    def _objective(self):
        """The objective object `objective` names (or is), checked under the estimator's argument names."""
        if isinstance(self.objective, str):
            check_choice(self.objective, "objective", OBJECTIVES)
            return OBJECTIVES[self.objective](check_int(self.iwae_k, "iwae_k", 1))
        if not (hasattr(self.objective, "loss_and_grads") and hasattr(self.objective, "check_model")):
            raise ValueError(f"objective must be 'elbo', 'iwae', 'dreg' or an objective of numvae.objectives "
                             f"(ELBO, IWAE); got {self.objective!r}")
        return self.objective

    def _decoder_logvar(self, X):
        """`decoder_logvar`, or for ``"auto"`` the log of the mean per-feature variance of `X` (0 if there is none)."""
        if isinstance(self.decoder_logvar, str) and self.decoder_logvar == "auto":
            var = float(X.var(axis=0).mean())
            return float(np.log(var)) if var > 0 else 0.0
        if isinstance(self.decoder_logvar, (bool, np.bool_)) or not isinstance(self.decoder_logvar, numbers.Real) \
                or not np.isfinite(self.decoder_logvar):
            raise ValueError(f"decoder_logvar must be a finite number or 'auto'; got {self.decoder_logvar!r}")
        return float(self.decoder_logvar)

    def _seeds(self):
        """``(model seed, training seed)`` from random_state: the int itself, None, or two draws of the Generator."""
        rng = as_generator(self.random_state, "random_state", none_ok=True)   # validates random_state
        if isinstance(self.random_state, np.random.Generator):
            return tuple(int(s) for s in rng.integers(2 ** 63, size=2))
        return (None, None) if self.random_state is None else (int(self.random_state),) * 2

    def fit(self, X, y=None):
        r"""Build a :class:`~numvae.vae.VAE` for the width of `X` and train it with ``numvae.train.fit``.

        Parameters
        ----------
        X : array_like of shape (N, D)
            Training data, one datapoint per row (in [0, 1] for a Bernoulli decoder).
        y : ignored
            Accepted for scikit-learn's pipelines; the VAE is unsupervised.

        Returns
        -------
        self : VAEEstimator

        Raises
        ------
        ValueError
            A bad hyper-parameter (naming it) or bad data.
        FloatingPointError
            Training diverged (``numvae.train.fit``'s message says what to try).
        """
        X = as_data(X, "X", "VAEEstimator")
        N, D = X.shape
        for size, what in ((N, "sample"), (D, "feature")):
            if size < 1:
                raise ValueError(f"X has {size} {what}(s) (shape={(N, D)}) while a minimum of 1 is required.")
        K = check_int(self.n_components, "n_components", 1)
        check_int(self.epochs, "epochs", 0)
        check_int(self.batch_size, "batch_size", 1)
        check_int(self.k, "k", 1)
        check_positive(self.lr, "lr")
        if not isinstance(self.verbose, (bool, np.bool_)):
            raise ValueError(f"verbose must be True or False; got {self.verbose!r}")
        objective = self._objective()
        logvar0 = self._decoder_logvar(X)
        seed, train_seed = self._seeds()
        # hidden, decoder, decoder_var, posterior, activation, fast and dtype: the VAE checks them by these names.
        model = VAE(D, hidden=self.hidden, z_dim=K, decoder=self.decoder, activation=self.activation,
                    dtype=self.dtype, seed=seed, decoder_var=self.decoder_var, decoder_logvar=logvar0,
                    posterior=self.posterior, fast=self.fast)
        history = fit(model, X, epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, seed=train_seed,
                      progress=bool(self.verbose), objective=objective)
        self.model_, self.history_ = model, history
        self.n_features_in_, self.decoder_logvar_ = D, logvar0
        return self

    def fit_transform(self, X, y=None):
        """:meth:`fit` to `X`, then :meth:`transform` it: the posterior means, shape (N, K)."""
        return self.fit(X).transform(X)

    # --- using the fitted model -----------------------------------------------

    def score_samples(self, X):
        r"""Importance-sampled :math:`\log p_\theta(x)` per row with `k` samples, shape (N,), in nats.

        ``VAE.log_likelihood`` (lecture 002, eq. 9; Burda et al. 2015):
        :math:`\log\frac1k\sum_i p(x, z_i)/q(z_i|x)`, :math:`z_i\sim q(z|x)`, a
        lower bound in expectation that tightens as k grows. The noise comes
        from `random_state` (see the class).
        """
        X = self._check_X(X)
        return self.model_.log_likelihood(X, k=self.k, rng=as_generator(self.random_state, "random_state", True))

    def score(self, X, y=None):
        """Mean of :meth:`score_samples` over the rows of `X` (float, nats per datapoint); `y` is ignored.

        The score ``GridSearchCV`` maximises by default: the held-out log-likelihood.
        """
        return float(np.mean(self.score_samples(X)))

    def transform(self, X):
        r"""Posterior means :math:`\mu_\phi(x) = E_q[z|x]`, shape (N, K): ``VAE.transform``."""
        X = self._check_X(X)      # before model_ is read: the not-fitted error, not an AttributeError
        return self.model_.transform(X)

    def sample(self, n_samples=1, random_state=None):
        r"""`n_samples` points generated by the VAE: :math:`z \sim \mathcal N(0, I)`, decoded (``VAE.sample``).

        Parameters
        ----------
        n_samples : int >= 1
        random_state : int, numpy.random.Generator or None
            The prior draws' source; None uses the estimator's `random_state`.

        Returns
        -------
        ndarray of shape (n_samples, D)
            The decoder's mean at each z (lecture 000, *VAE*, testing), as
            ``VAE.sample`` returns, not a draw of x from :math:`p(x|z)`.
        """
        self._check_fitted()
        n_samples = check_int(n_samples, "n_samples", 1)
        rng = as_generator(self.random_state if random_state is None else random_state, "random_state", True)
        return self.model_.sample(n_samples, rng)
