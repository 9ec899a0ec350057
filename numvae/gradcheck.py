r"""Central finite differences against any hand-written gradient.

``gradcheck(fun, params)`` perturbs every entry of every parameter by ±eps,
evaluates the loss twice, and compares

.. math:: \hat g_i = \frac{f(\theta + \epsilon e_i) - f(\theta - \epsilon e_i)}{2\epsilon}

with the analytic gradient :math:`g_i`. The central difference has error
:math:`O(\epsilon^2)`; in float64 with :math:`\epsilon = 10^{-6}` the total
error (truncation plus rounding, about :math:`10^{-16}|f|/\epsilon`) is near
:math:`10^{-10}`, so a relative error above :math:`10^{-6}` means a wrong
gradient, not noise. The relative error is
:math:`|g - \hat g| / \max(10^{-8}, |g| + |\hat g|)`, so entries whose true
gradient is zero do not explode (Karpathy's CS231n notes use the same idea).
It knows nothing of models: ``params`` is a dict of arrays and ``fun`` reads
them.
"""

from dataclasses import dataclass

import numpy as np

from numvae.checks import check_positive


@dataclass
class ParamCheck:
    """The worst entry of one parameter's gradient check."""

    name: str
    shape: tuple
    max_abs_err: float
    max_rel_err: float
    index: tuple     # entry with the largest relative error
    analytic: float  # its hand-written gradient
    numeric: float   # its finite-difference gradient


class GradcheckReport:
    """Per-parameter results of :func:`gradcheck`; ``str()`` gives a table."""

    def __init__(self, rows, tol):
        self.rows, self.tol = rows, tol

    @property
    def passed(self):
        return all(r.max_rel_err <= self.tol for r in self.rows)

    @property
    def max_rel_err(self):
        return max((r.max_rel_err for r in self.rows), default=0.0)

    def __getitem__(self, name):
        return next(r for r in self.rows if r.name == name)

    def __str__(self):
        head = f"{'parameter':<24}{'shape':<14}{'max abs err':>12}{'max rel err':>12}  worst entry (analytic vs numeric)"
        lines = [head, "-" * len(head)]
        for r in self.rows:
            flag = "" if r.max_rel_err <= self.tol else "  FAIL"
            lines.append(f"{r.name:<24}{str(r.shape):<14}{r.max_abs_err:>12.2e}{r.max_rel_err:>12.2e}"
                         f"  {r.index}: {r.analytic:.6g} vs {r.numeric:.6g}{flag}")
        verdict = "PASS" if self.passed else "FAIL"
        lines.append(f"{verdict}: largest relative error {self.max_rel_err:.2e} (tolerance {self.tol:.0e})")
        return "\n".join(lines)


def relative_error(a, n):
    r"""Element-wise :math:`|a - n| / \max(10^{-8}, |a| + |n|)`."""
    return np.abs(a - n) / np.maximum(1e-8, np.abs(a) + np.abs(n))


def gradcheck(fun, params, eps=1e-6, tol=1e-6, keys=None):
    r"""Compare every entry of a hand-written gradient with central finite differences.

    Parameters
    ----------
    fun : callable
        ``fun(params) -> (loss, grads)``: a deterministic scalar loss (freeze any
        noise) and its gradient, a dict with the keys and shapes of `params`.
    params : dict[str, ndarray]
        float64 parameters that `fun` reads; each entry is perturbed in place
        and restored exactly.
    eps : float
        Finite-difference step.
    tol : float
        Largest relative error that passes.
    keys : iterable of str, optional
        Check only these parameters.

    Returns
    -------
    GradcheckReport
    """
    check_positive(eps, "eps")
    check_positive(tol, "tol")
    keys = list(params) if keys is None else list(keys)
    for k in keys:
        if k not in params:
            raise ValueError(f"keys names {k!r}, which is not in params {sorted(params)}")
        if params[k].dtype != np.float64:
            raise ValueError(f"params[{k!r}] must be float64 for a finite-difference check; "
                             f"got {params[k].dtype} (float32 rounding swamps the difference)")
    _, grads = fun(params)
    # Copy now: a model may reuse its gradient buffers on the next call.
    analytic = {k: np.array(grads[k], dtype=np.float64) for k in keys}
    rows = []
    for k in keys:
        p = params[k]
        if analytic[k].shape != p.shape:
            raise ValueError(f"grads[{k!r}] has shape {analytic[k].shape}; params[{k!r}] has {p.shape}")
        numeric = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + eps
            f_plus = float(fun(params)[0])
            p[idx] = old - eps
            f_minus = float(fun(params)[0])
            p[idx] = old
            numeric[idx] = (f_plus - f_minus) / (2 * eps)
        rel = relative_error(analytic[k], numeric)
        worst = np.unravel_index(np.argmax(rel), rel.shape) if rel.size else ()
        rows.append(ParamCheck(k, p.shape, float(np.abs(analytic[k] - numeric).max(initial=0.0)),
                               float(rel.max(initial=0.0)), tuple(int(i) for i in worst),
                               float(analytic[k][worst]) if rel.size else 0.0,
                               float(numeric[worst]) if rel.size else 0.0))
    return GradcheckReport(rows, tol)


def demo_report(seed=0, tol=1e-6):
    """Gradient check of a small random tanh/ReLU MLP under a Bernoulli log-likelihood loss.

    The loss is the negative mean Bernoulli log-likelihood of random binary
    targets given the MLP's logits; biases are set away from zero so a wrong
    bias gradient cannot hide.
    """
    from numvae.distributions import bernoulli_log_likelihood, bernoulli_log_likelihood_grad
    from numvae.nn import MLP

    rng = np.random.default_rng(seed)
    net = MLP((5, 7, 6, 4), activation="tanh", dtype=np.float64, rng=rng)
    for k, v in net.params.items():
        if k.endswith(".b"):
            v[:] = rng.normal(0, 0.5, size=v.shape)
    x = rng.normal(size=(8, 5))
    t = (rng.random((8, 4)) < 0.5).astype(np.float64)

    def fun(params):
        logits = net.forward(x)
        loss = -bernoulli_log_likelihood(t, logits).mean()
        net.backward(-bernoulli_log_likelihood_grad(t, logits) / len(x))
        return loss, net.grads

    return gradcheck(fun, net.params, tol=tol)
