"""``numvae.nn.Linear`` with its parameters and gradients in a flat buffer it does not own.

The plain layer sets new gradient arrays on every backward; this one writes
them into the arrays it holds, views of the model's one flat gradient buffer
(``numvae.fast.storage``), so that the flat optimizer and the finiteness
check see every gradient of the model as one array. The products and sums
are the plain layer's.
"""

import numpy as np

from numvae.nn import Linear


class FlatLinear(Linear):
    """A ``Linear`` whose backward writes ``grads`` in place (``out=``) instead of replacing them."""

    def backward(self, dout, need_input_grad=True):
        W = self.params["W"]
        x = self.cache.reshape(-1, W.shape[0])                # (rows, n_in)
        d = dout.reshape(-1, W.shape[1])                      # (rows, n_out)
        np.matmul(x.T, d, out=self.grads["W"])                # (n_in, n_out)
        d.sum(axis=0, out=self.grads["b"])                    # (n_out,)
        if not need_input_grad:
            return None
        return (d @ W.T).reshape(dout.shape[:-1] + (W.shape[0],))
