"""The layers' hot methods for the flat buffer: ``numvae.nn.Linear`` and the identity activation, cheaper.

The plain Linear layer sets new gradient arrays on every backward; this one
writes them into the arrays it holds, views of the model's one flat gradient
buffer (``numvae.fast.storage``), so that the flat optimizer and the
finiteness check see every gradient of the model as one array; its forward
adds the bias in place. The plain identity activation returns ``dout``
times an array of ones; this one returns ``dout``. The numbers are the plain
layers'.
"""

import numpy as np

from numvae import nn


class FlatLinear(nn.Linear):
    """A ``Linear`` whose backward writes ``grads`` in place (``out=``) instead of replacing them."""

    def forward(self, x):
        W = self.params["W"]
        self.cache = x
        y = x.reshape(-1, W.shape[0]) @ W                     # (rows, n_out), a new array ...
        y += self.params["b"]                                 # ... so the bias goes in in place
        return y.reshape(x.shape[:-1] + (W.shape[1],))

    def backward(self, dout, need_input_grad=True):
        W = self.params["W"]
        x = self.cache.reshape(-1, W.shape[0])                # (rows, n_in)
        d = dout.reshape(-1, W.shape[1])                      # (rows, n_out)
        np.matmul(x.T, d, out=self.grads["W"])                # (n_in, n_out)
        d.sum(axis=0, out=self.grads["b"])                    # (n_out,)
        if not need_input_grad:
            return None
        return (d @ W.T).reshape(dout.shape[:-1] + (W.shape[0],))


class Identity(nn.Identity):
    """The identity activation without its work: ``y = x`` and ``dx = dout``, no product with ones."""

    def forward(self, x):
        return x

    def backward(self, dout):
        return dout


TWINS = {nn.Linear: FlatLinear, nn.Identity: Identity}
