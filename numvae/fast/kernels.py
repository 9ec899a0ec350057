r"""The Bernoulli log-likelihood and its gradient as fused kernels over scratch arrays.

The same numbers as ``numvae.distributions.bernoulli_log_likelihood`` and
``bernoulli_log_likelihood_grad`` (:math:`\sum_j x_jl_j - \operatorname{softplus}(l_j)`
and :math:`x - \sigma(l)`), written so that the arrays of the shape of the
logits are read and written as few times as possible, into arrays the caller
keeps, and so that the gradient reuses the likelihood's :math:`e^{-|l|}`
instead of a second ``exp``. tests/test_fast.py holds them to the plain
formulas.
"""

import numpy as np


def bernoulli_log_likelihood_into(x, logits, out=None, tmp=None):
    r""":func:`numvae.distributions.bernoulli_log_likelihood` without input checks, in scratch arrays.

    With :math:`\operatorname{softplus}(l) = \max(l, 0) + \log(1 + e^{-|l|})`
    (the formula ``np.logaddexp(0, l)`` uses) and
    :math:`\max(l, 0) = \tfrac12(l + |l|)`,

    .. math:: \sum_j x_jl_j - \operatorname{softplus}(l_j)
              = \sum_j x_jl_j - \tfrac12\Bigl(\sum_j l_j + \sum_j|l_j|\Bigr)
                - \sum_j\log(1 + e^{-|l_j|}),

    written so that the arrays of the shape of `logits` are written as few
    times as possible: :math:`|l|` once, turned into :math:`e = e^{-|l|}` in
    place, then :math:`1 + e` into `out` and its log in place; the sums are
    reductions, and
    :math:`\sum_j x_jl_j` is one ``einsum`` (a fused multiply-add, no
    product array). ``log(1 + e)`` rather than ``log1p(e)``: NumPy's float32
    ``log`` has SIMD loops and ``log1p`` none (measured 17 against 82 ms on
    2·10⁶ floats). For e below the dtype's epsilon ``1 + e`` rounds to 1 and
    the term to 0 instead of e, an absolute error below ε per pixel
    (1.2e-7 in float32), under the rounding of the sums it enters. The
    split of max(l, 0) into two sums rounds like one sum of :math:`|l|`.

    `out` (the broadcast shape of `x` and `logits`) and `tmp` (the shape of
    `logits`) are optional scratch arrays, so a training loop allocates
    nothing; on return `tmp` holds ``exp(-|l|)``, which the gradient reuses.
    """
    if out is None:
        out = np.empty(np.broadcast_shapes(x.shape, logits.shape), dtype=np.result_type(x, logits))
    a = np.abs(logits, out=tmp)                        # |l|
    logp = np.einsum("...j,...j->...", x, logits)      # sum x l, broadcast over samples
    logp -= 0.5 * (logits.sum(axis=-1) + a.sum(axis=-1))   # - sum max(l, 0)
    np.negative(a, out=a)
    np.exp(a, out=a)                                   # e = exp(-|l|) in (0, 1]: never overflows
    one_plus_e = np.add(a, 1, out=out)                 # 1 + e, beside e (kept for the gradient)
    logp -= np.log(one_plus_e, out=one_plus_e).sum(axis=-1)   # - sum log(1 + exp(-|l|))
    return logp


def bernoulli_log_likelihood_and_grad_into(x, logits, grad_out, tmp):
    r""":func:`numvae.distributions.bernoulli_log_likelihood` and its gradient :math:`x - \sigma(l)` in one pass, for training.

    `grad_out` and `tmp` are scratch arrays of the shape of `logits`; the
    gradient is written into `grad_out`. Returns ``(log_p, grad_out)``.

    Both share :math:`e = \exp(-|l|)`:
    :math:`\sigma(l) = \exp(\min(l, 0)) / (1 + e)`, which is :math:`1/(1+e)`
    for :math:`l \ge 0` and :math:`e/(1+e)` for :math:`l < 0`: no overflow,
    no cancellation, the accuracy of ``scipy.special.expit``. The numerator
    :math:`\exp(\min(l, 0))` is :math:`\max(e, [l \ge 0])` (1 where
    :math:`l \ge 0`, since :math:`e \le 1`; :math:`e = e^{l}` where
    :math:`l < 0`): the same number as a second ``exp``, for two cheap passes.
    """
    logp = bernoulli_log_likelihood_into(x, logits, out=grad_out, tmp=tmp)     # tmp holds e = exp(-|l|)
    sig = np.greater_equal(logits, 0, out=grad_out)                        # [l >= 0] as 1.0 / 0.0
    np.maximum(sig, tmp, out=sig)                                          # exp(min(l, 0)); NaN stays NaN
    tmp += 1
    sig /= tmp                                                             # sigma(l) = exp(min(l, 0)) / (1 + e)
    return logp, np.subtract(x, sig, out=sig)                              # x - sigma(l)

