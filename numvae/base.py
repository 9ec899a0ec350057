r"""scikit-learn's estimator protocol, without scikit-learn: what ``PPCA`` and ``VAEEstimator`` share.

scikit-learn's contract for an estimator (its developer guide, *Developing
scikit-learn estimators*) is short: ``__init__`` only stores its keyword
arguments under their own names; ``get_params`` and ``set_params`` read and
write them (that is all ``clone`` and ``GridSearchCV`` need); ``fit`` validates
them, learns attributes whose names end in ``_`` and returns ``self``; a method
called before ``fit`` raises ``NotFittedError``; data of the wrong width,
dimension or type is refused in the words its ``check_estimator`` looks for.
:class:`Estimator` holds those habits once, and :func:`as_data` the input
check, so that an estimator of numvae is its constructor, ``fit`` and its
methods. scikit-learn itself is imported only inside ``__sklearn_tags__``,
which only scikit-learn calls.
"""

import inspect

import numpy as np
from scipy import sparse

from numvae.checks import check_array


class NotFittedError(ValueError, AttributeError):
    """A method of an estimator was called before ``fit``.

    Both a ``ValueError`` and an ``AttributeError``, as scikit-learn's
    ``sklearn.exceptions.NotFittedError`` is, so that code catching either
    (``hasattr`` included) sees it as scikit-learn's.
    """


def as_data(X, name="X", who="the estimator"):
    """`X` as a 2-D float64 array, or the error scikit-learn's checks expect, naming `name`.

    Sparse and complex input are refused (numvae's estimators work with dense
    real data); an object array is converted like any array-like, so a
    non-numeric entry is the ``TypeError`` of the conversion, prefixed with the
    argument's name. `who` names the estimator in the sparse-input message.
    """
    if sparse.issparse(X):
        raise TypeError(f"{name} is a sparse matrix, but {who} needs dense data; pass {name}.toarray()")
    try:
        arr = np.asarray(X)
    except ValueError as exc:  # ragged lists
        raise ValueError(f"{name} must be a numeric array; got {type(X).__name__} ({exc})") from None
    if arr.dtype.kind == "c":
        raise ValueError(f"{name}: Complex data not supported; got dtype {arr.dtype}")
    if arr.dtype.kind == "O":
        try:
            arr = arr.astype(np.float64)
        except TypeError as exc:
            raise TypeError(f"{name} must hold numbers: {exc}") from None
        except ValueError as exc:  # ragged lists: NumPy < 1.24 makes them object arrays
            raise ValueError(f"{name} must be a numeric array; got {type(X).__name__} ({exc})") from None
    if arr.ndim == 1:
        raise ValueError(f"{name} must be a 2-D array; got shape {arr.shape}. Reshape your data with "
                         f"{name}.reshape(-1, 1) if it has one feature, {name}.reshape(1, -1) if it is one sample")
    return check_array(arr, name, ndim=2, dtype=np.float64)


class Estimator:
    """The estimator protocol: parameters from ``__init__``'s signature, the fitted check, the width check.

    A subclass's ``__init__`` stores each keyword argument under its own name;
    it sets :attr:`fitted_attribute` to the name of an attribute that ``fit``
    creates, and may extend :attr:`not_fitted_hint`.
    """

    #: An attribute that exists exactly when the estimator is fitted.
    fitted_attribute = "n_features_in_"
    #: What the not-fitted error tells the user to do.
    not_fitted_hint = "call fit(X) before using it"

    @classmethod
    def _param_names(cls):
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def get_params(self, deep=True):
        """The hyper-parameters of ``__init__`` as a dict (`deep` is accepted for scikit-learn; nothing is nested)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Set hyper-parameters by name and return ``self``; they are validated by ``fit``."""
        valid = self._param_names()
        for name in params:
            if name not in valid:
                raise ValueError(f"Invalid parameter {name!r} for estimator {type(self).__name__}; "
                                 f"valid parameters are {valid}")
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __repr__(self):
        defaults = {name: p.default for name, p in inspect.signature(type(self).__init__).parameters.items()}
        changed = [f"{name}={value!r}" for name, value in self.get_params().items()
                   if not (value is defaults[name] or (type(value) is type(defaults[name])
                                                      and value == defaults[name]))]
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_is_fitted__(self):
        return hasattr(self, self.fitted_attribute)

    def _check_fitted(self):
        """Raise :class:`NotFittedError` unless ``fit`` has run."""
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: {self.not_fitted_hint}")

    def _check_X(self, X, name="X"):
        """`X` (see :func:`as_data`) of the width seen in ``fit``, after the fitted check."""
        self._check_fitted()
        X = as_data(X, name, type(self).__name__)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"{name} has {X.shape[1]} features, but {type(self).__name__} is expecting "
                             f"{self.n_features_in_} features as input")
        return X
