r"""Two threads for element-wise work: one function run over the two halves of its arrays at once.

NumPy's ufuncs release the GIL while they loop, so two threads running the
same element-wise function on two halves of an array use two cores. An
element-wise operation, or a row-wise one whose rows are split between the
threads, gives every element the same operations whichever thread does it:
the result is bit for bit that of one call (tests/test_halves.py checks it).
Handing work to another thread costs tens of microseconds, so arrays below
``min_size`` elements are done in one call on the calling thread.

Used by ``numvae.optim`` (``Adam(threads=2)``: the update over the two halves
of the flat parameter array) and by the Bernoulli likelihood
(``VAE.threads = 2``: its log-likelihood and gradient over two halves of the
rows, in training and in ``VAE.log_likelihood``).
"""

import os
from concurrent.futures import ThreadPoolExecutor


class Halves:
    """Runs a function on two halves at once: the first on the calling thread, the second on one worker.

    The worker is started on first use and re-created in a forked child
    (threads do not survive a fork).
    """

    BLOCK = 1024

    def __init__(self, min_size=1 << 17):
        self.min_size = min_size
        self._pool, self._pid = None, None

    def _both(self, fn, first, second):
        """``fn(*first)`` here and ``fn(*second)`` on the worker; returns when both are done."""
        if self._pid != os.getpid():
            self._pool, self._pid = ThreadPoolExecutor(1, thread_name_prefix="numvae-halves"), os.getpid()
        other = self._pool.submit(fn, *second)
        fn(*first)
        other.result()                      # waits, and re-raises anything the worker raised

    def __call__(self, fn, *arrays):
        """``fn(*arrays)`` for equal-length 1-D arrays, split in two.

        The cut lies on a multiple of ``BLOCK`` elements, so the two threads
        never write to the same cache line.
        """
        n = arrays[0].size
        cut = n // 2 // self.BLOCK * self.BLOCK
        if n < self.min_size or cut == 0:
            fn(*arrays)
            return
        self._both(fn, [a[:cut] for a in arrays], [a[cut:] for a in arrays])

    def rows(self, fn, n_rows, row_size):
        """``fn(rows)`` with `rows` a slice of ``range(n_rows)``: once for all rows, or for each half.

        `fn` must write only the rows it is given (of arrays it shares with
        the other half); `row_size` is the number of elements a row holds,
        so that small work is not split.
        """
        cut = n_rows // 2
        if n_rows * row_size < self.min_size or cut == 0:
            fn(slice(0, n_rows))
            return
        self._both(fn, [slice(0, cut)], [slice(cut, n_rows)])
