r"""Measuring disentanglement of specified and unspecified factors: a classifier, swaps, style, what z knows.

Lecture 001 (*Disentangling FoVs*): a model given the class label (the
*specified* factor of variation) should keep everything else — the
*unspecified* factors, here the style of the stroke — in z, and nothing of the
label. Four measures, each judged by something that is not the model:

* :class:`SoftmaxRegression`, multinomial logistic regression fitted with
  ``scipy.optimize`` (L-BFGS on the exact gradient): the independent judge of
  what digit an image shows, fitted on real training images; and, fitted on
  codes, the *fresh classifier* that says how much of y a code still holds;
* :func:`swap_accuracy`: the z of an image of class a decoded with label b,
  classified as b?
* :func:`style`: ink and slant from the image's moments, measured against the
  image's own class (:func:`relative_style`), and :func:`style_kept`: is a
  swapped image closer in style to its source than to another image of its new
  class?
* :func:`code_accuracy`: a fresh classifier's held-out accuracy on codes,
  cross-fitted, with its binomial standard error.

Every rate comes with its binomial standard error :math:`\sqrt{p(1-p)/n}`
(:func:`binomial_se`): the trials are independent pairs, one per source image.
"""

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp, softmax

from numvae.checks import as_generator, check_int, check_labels, check_matrix, check_positive


def binomial_se(p, n):
    r"""Standard error :math:`\sqrt{p(1-p)/n}` of a rate p measured on n independent trials."""
    return float(np.sqrt(p * (1 - p) / n))


def _check_labels(y, name, n):
    """`y` as N integer labels >= 0 (any number of classes)."""
    return check_labels(y, name, np.iinfo(np.int64).max, n)


class SoftmaxRegression:
    r"""Multinomial logistic regression, :math:`p(y = c|x) = \operatorname{softmax}(xW + b)_c`, with an L2 penalty.

    Parameters
    ----------
    l2 : float >= 0
        :math:`\lambda` of the penalty :math:`\tfrac\lambda2\|W\|^2` (biases
        free), added to the *mean* cross-entropy.
    max_iter : int
        L-BFGS iterations.

    Notes
    -----
    The loss and its gradient (:math:`P` the softmax probabilities, :math:`E` the
    one-hot labels, N rows):

    .. math:: J = \frac1N\sum_n\Bigl(\operatorname{logsumexp}_c\,l_{nc} - l_{n y_n}\Bigr)
              + \frac\lambda2\|W\|^2,\qquad
              \frac{\partial J}{\partial W} = \frac1N X^\top(P - E) + \lambda W,\qquad
              \frac{\partial J}{\partial b} = \frac1N\textstyle\sum_n (P - E)_n .

    The features are standardised (mean 0, variance 1 on the training rows) so
    that one λ suits pixels and codes alike. The loss is convex: the fit does
    not depend on a seed.
    """

    def __init__(self, l2=1e-3, max_iter=500):
        self.l2 = check_positive(l2, "l2", strict=False)
        self.max_iter = check_int(max_iter, "max_iter", 1)

    def loss_and_grad(self, theta, X, y, n_classes):
        """``(J, dJ/dtheta)`` at the flat parameters ``theta = [W.ravel(), b]`` on standardised `X`."""
        D = X.shape[1]
        W, b = theta[:D * n_classes].reshape(D, n_classes), theta[D * n_classes:]
        logits = X @ W + b                                                              # (N, C)
        N = X.shape[0]
        loss = np.mean(logsumexp(logits, axis=1) - logits[np.arange(N), y]) + 0.5 * self.l2 * np.sum(W * W)
        delta = softmax(logits, axis=1)
        delta[np.arange(N), y] -= 1                                                     # P - E
        delta /= N
        return loss, np.concatenate([(X.T @ delta + self.l2 * W).ravel(), delta.sum(axis=0)])

    def fit(self, X, y, n_classes=None):
        """Fit on the rows of `X` (N, D) and their integer labels `y` (N,); return ``self``."""
        X = check_matrix(X, "X", min_rows=2, dtype=np.float64)
        y = _check_labels(y, "y", X.shape[0])
        self.n_classes = int(y.max()) + 1 if n_classes is None else check_int(n_classes, "n_classes", int(y.max()) + 1)
        self.mean_, scale = X.mean(axis=0), X.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)                                   # a constant column stays 0
        Xs = (X - self.mean_) / self.scale_
        theta0 = np.zeros(X.shape[1] * self.n_classes + self.n_classes)
        res = minimize(self.loss_and_grad, theta0, args=(Xs, y, self.n_classes), jac=True, method="L-BFGS-B",
                       options={"maxiter": self.max_iter})
        D = X.shape[1]
        self.W_, self.b_ = res.x[:D * self.n_classes].reshape(D, self.n_classes), res.x[D * self.n_classes:]
        return self

    def decision_function(self, X):
        """The logits (N, C) of the rows of `X`."""
        if not hasattr(self, "W_"):
            raise ValueError("SoftmaxRegression must be fitted before it predicts; call fit(X, y) first")
        X = check_matrix(X, "X", n_features=self.W_.shape[0], dtype=np.float64)
        return ((X - self.mean_) / self.scale_) @ self.W_ + self.b_

    def predict_proba(self, X):
        """:math:`p(y|x)` for every row of `X`, shape (N, C)."""
        return softmax(self.decision_function(X), axis=1)

    def predict(self, X):
        """The most probable class of every row of `X`, shape (N,)."""
        return np.argmax(self.decision_function(X), axis=1)

    def score(self, X, y):
        """Accuracy on the rows of `X` with labels `y`: a rate in [0, 1]."""
        return float(np.mean(self.predict(X) == _check_labels(y, "y", len(X))))


def swap_targets(y, n_classes, rng):
    """For every label a a target b drawn uniformly among the other ``n_classes - 1`` labels."""
    rng = as_generator(rng)
    return (y + rng.integers(1, n_classes, size=len(y))) % n_classes


def swap_accuracy(model, classifier, X, y, rng=0):
    r"""How often the z of an image of class a, decoded with label b ≠ a, is classified as b.

    For every row of `X` (class :math:`a = y_n`) one target b is drawn uniformly
    among the other labels (:func:`swap_targets`): the n trials are independent.

    Returns
    -------
    dict
        ``accuracy`` and ``se`` (binomial), ``n``, ``chance`` (1/C),
        ``targets`` (n,) and ``swapped`` (n, D) the images.
    """
    y = _check_labels(y, "y", len(X))
    targets = swap_targets(y, model.n_classes, rng)
    swapped = model.swap(X, y, targets)
    acc = float(np.mean(classifier.predict(swapped) == targets))
    return {"accuracy": acc, "se": binomial_se(acc, len(y)), "n": len(y), "chance": 1.0 / model.n_classes,
            "targets": targets, "swapped": swapped}


def style(images, shape=(8, 8)):
    r"""Three style numbers per image from its moments: ink, slant and width.

    With the image as a mass distribution :math:`m(r, c)` over rows r
    (downwards) and columns c:

    * **ink** :math:`= \frac1{RC}\sum_{r,c} m(r, c)`, the mean grey level: for a
      given digit, a thicker stroke lays down more ink;
    * **slant** :math:`= -\mu_{rc}/\mu_{rr}`, the central second moments
      :math:`\mu_{rc} = E[(r-\bar r)(c-\bar c)]`, :math:`\mu_{rr} = E[(r-\bar r)^2]`:
      the slope :math:`dc/dr` of the least-squares line through the ink, so a
      stroke leaning right (its top to the right of its bottom; r grows
      downwards) has a positive slant. It is the shear that deskewing removes;
    * **width** :math:`= \sqrt{\mu_{cc}}`, the spread of the ink across the
      columns: a broad or a narrow hand.

    Both are properties of *how* a digit is written, and also of *which*
    digit: :func:`relative_style` removes the class's share.

    Returns
    -------
    ndarray of shape (N, 3)
        ``[:, 0]`` ink, ``[:, 1]`` slant, ``[:, 2]`` width.
    """
    images = check_matrix(images, "images", n_features=int(np.prod(shape)), dtype=np.float64)
    m = images.reshape(-1, *shape)
    rows, cols = np.mgrid[:shape[0], :shape[1]]
    mass = m.sum(axis=(1, 2))
    if np.any(mass <= 0):
        raise ValueError("images must each hold some ink (a positive sum) for their moments; got a blank image")
    r_bar = (m * rows).sum(axis=(1, 2)) / mass
    c_bar = (m * cols).sum(axis=(1, 2)) / mass
    dr = rows - r_bar[:, None, None]
    dc = cols - c_bar[:, None, None]
    mu_rr = (m * dr * dr).sum(axis=(1, 2)) / mass
    mu_rc = (m * dr * dc).sum(axis=(1, 2)) / mass
    mu_cc = (m * dc * dc).sum(axis=(1, 2)) / mass
    return np.column_stack([m.mean(axis=(1, 2)), -mu_rc / mu_rr, np.sqrt(mu_cc)])


def style_by_class(images, y, n_classes, shape=(8, 8)):
    """The mean and standard deviation of :func:`style` in every class, each of shape (C, 3): what "typical" is."""
    y = _check_labels(y, "y", len(images))
    s = style(images, shape)
    missing = sorted(set(range(n_classes)) - set(y.tolist()))
    if missing:
        raise ValueError(f"y must hold every class 0..{n_classes - 1} to measure its style; missing {missing}")
    means = np.stack([s[y == c].mean(axis=0) for c in range(n_classes)])
    stds = np.stack([s[y == c].std(axis=0) for c in range(n_classes)])
    return means, np.where(stds > 0, stds, 1.0)


def relative_style(images, labels, means, stds, shape=(8, 8)):
    r"""Style as a deviation from its class: :math:`(s(x) - m_y)/s_y` per number, shape (N, 3).

    Ink and slant depend on the digit as well as on the hand (a 1 lays down
    less ink than an 8, a 7 leans more than a 0), so an image's style is how far
    it is from its class's typical ink and slant, in that class's standard
    deviations (:func:`style_by_class`).
    """
    labels = _check_labels(labels, "labels", len(images))
    return (style(images, shape) - means[labels]) / stds[labels]


def style_kept(swapped, targets, sources, source_labels, references, means, stds, shape=(8, 8)):
    r"""Per pair: is the swapped image closer in style to its source than to a reference image of its new class?

    The swapped image (drawn as label :math:`b`), its source (of class
    :math:`a`) and the reference (an image of class b) are compared by
    :func:`relative_style`, each against its own class; distances are
    Euclidean in the three numbers. A model that kept no style would make the
    swapped image a typical b, as close to a random b as to the source: the
    rate would be near ½.

    Compare like with like: a decoded image is a mean, blurrier than any real
    one, which moves its ink and width whatever its style. The lesson passes
    the model's reconstructions of the source and of the reference, and class
    statistics of reconstructions of training images, so that the blur is
    common to all three and only the style differs.

    Returns
    -------
    dict
        ``rate`` (the fraction of pairs where the source is closer), ``se``
        (binomial), ``n``, and ``closer`` (n,) bool.
    """
    s_sw = relative_style(swapped, targets, means, stds, shape)
    s_src = relative_style(sources, source_labels, means, stds, shape)
    s_ref = relative_style(references, targets, means, stds, shape)
    closer = np.linalg.norm(s_sw - s_src, axis=1) < np.linalg.norm(s_sw - s_ref, axis=1)
    rate = float(closer.mean())
    return {"rate": rate, "se": binomial_se(rate, len(closer)), "n": len(closer), "closer": closer}


def references_of_class(targets, y_pool, rng):
    """For each target label an index into `y_pool` of a random row of that class (drawn uniformly)."""
    rng = as_generator(rng)
    out = np.empty(len(targets), dtype=np.int64)
    for n, b in enumerate(targets):
        rows = np.flatnonzero(y_pool == b)
        if rows.size == 0:
            raise ValueError(f"y_pool must hold every target label; label {int(b)} has no row")
        out[n] = rng.choice(rows)
    return out


def code_accuracy(codes, y, rng=0, l2=1e-3):
    r"""A fresh classifier's accuracy at predicting y from codes, two-fold cross-fitted.

    The rows are split at random in two halves; a :class:`SoftmaxRegression`
    fitted on each half predicts the other, so every row is predicted by a
    classifier that never saw it. The binomial standard error treats the N
    predictions as independent trials (they are, given the two fits).

    Returns
    -------
    dict
        ``accuracy``, ``se``, ``n``.
    """
    codes = check_matrix(codes, "codes", min_rows=4, dtype=np.float64)
    y = _check_labels(y, "y", codes.shape[0])
    order = as_generator(rng).permutation(len(y))
    halves = order[:len(y) // 2], order[len(y) // 2:]
    n_classes = int(y.max()) + 1
    hits = 0
    for fit_rows, test_rows in (halves, halves[::-1]):
        clf = SoftmaxRegression(l2=l2).fit(codes[fit_rows], y[fit_rows], n_classes)
        hits += int(np.sum(clf.predict(codes[test_rows]) == y[test_rows]))
    acc = hits / len(y)
    return {"accuracy": acc, "se": binomial_se(acc, len(y)), "n": len(y)}
