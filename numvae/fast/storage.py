"""One flat buffer for every parameter of a model, and one for every gradient.

An element-wise update of a thousand small arrays costs a thousand Python
calls; of one flat array, one. :func:`tie` moves the parameters of a model's
parts into one 1-D buffer (and their gradients into another), leaving each
part a view of its own stretch in its ``params`` and ``grads`` dicts, so the
parts compute as before while the optimizer (``numvae.fast.optim``) and the
finiteness check see one array. :func:`flat_storage` finds that buffer again
from the views.
"""

import numpy as np


def tie(parts, dtype):
    """Move the ``params`` and ``grads`` of `parts`, in order, into two flat arrays; return them.

    Each part keeps dicts of the same keys and shapes, now views: writing a
    parameter writes the flat array, and a part that writes its gradients in
    place (``out=``) writes the flat gradient array.
    """
    n = sum(p.size for part in parts for p in part.params.values())
    flat_params, flat_grads = np.empty(n, dtype=dtype), np.zeros(n, dtype=dtype)
    offset = 0
    for part in parts:
        for name, p in part.params.items():
            stretch = slice(offset, offset + p.size)
            offset = stretch.stop
            flat_params[stretch] = p.ravel()
            part.params[name] = flat_params[stretch].reshape(p.shape)
            part.grads[name] = flat_grads[stretch].reshape(p.shape)
    return flat_params, flat_grads


def _owner(a):
    """The array that owns `a`'s memory (`a` itself if it is not a view)."""
    return a if a.base is None else a.base


def flat_storage(arrays):
    """The 1-D array that `arrays`, in order, tile exactly as contiguous views; None if there is none.

    For the parameters of a model that :func:`tie` laid out this is its flat
    parameter array: an update applied to it element-wise is applied to
    every parameter.
    """
    arrays = list(arrays)
    if not arrays:
        return None
    base = _owner(arrays[0])
    if not isinstance(base, np.ndarray) or base.ndim != 1 or not base.flags.c_contiguous:
        return None
    address = start = base.__array_interface__["data"][0]
    for a in arrays:
        if _owner(a) is not base or a.dtype != base.dtype or not a.flags.c_contiguous \
                or a.__array_interface__["data"][0] != address:
            return None
        address += a.nbytes
    return base if address == start + base.nbytes else None
