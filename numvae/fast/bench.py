r"""How fast does numvae train, compared with what the machine's BLAS allows?

One training step of an MLP VAE is dominated by its matrix products. For every
``Linear`` layer :math:`n_{in}\to n_{out}` on a batch of R rows:

========================  ==========================  ========================
forward                   :math:`y = xW`              (R, n_in) @ (n_in, n_out)
weight gradient           :math:`\partial W = x^\top\delta`   (n_in, R) @ (R, n_out)
input gradient            :math:`\partial x = \delta W^\top`  (R, n_out) @ (n_out, n_in)
========================  ==========================  ========================

(the first encoder layer needs no input gradient: nothing lies before the
data). Timing exactly those products at the real shapes, in the real dtype, with
the same BLAS, in the order the step runs them and on the model's own weight
and gradient arrays, gives a **floor** for the step: :func:`gemm_floor`.
Everything else is overhead above it, and :func:`bench` splits it by timing
the public building blocks of the step alone on the step's shapes: the
element-wise work of the networks (activations and their derivatives, bias
adds and sums, the reparameterization), the likelihood and the KL with their
gradients (``numvae.distributions``), the optimizer (``Adam.step``); the rest
(batch gathering, Python, the finiteness check) is what remains of the real
step, ``numvae.train.train_step`` on batches gathered as ``fit`` gathers them
(:func:`time_train_step`). It also reports the throughput, the time of the
importance-sampled log-likelihood, the memory used, and which BLAS kernel runs
with how many threads (:func:`blas_runtime`). ``numvae bench`` prints
:func:`format_table` of it.

All times are medians of many repetitions, in alternating rounds (the machine
may be shared; the load average before and after is recorded with every
result so a reader can judge). Nothing here is asserted: speed claims live in
the numbers this prints.
"""

import ctypes
import os
import platform
import resource
import time
import tracemalloc

import numpy as np

from numvae.checks import check_choice, check_int, check_matrix
from numvae.distributions import kl_standard_normal_grad, kl_standard_normal_terms
from numvae.importance import samples_per_chunk
from numvae.nn import make_activation
from numvae.train import train_step
from numvae.vae import VAE

# The two architectures of the issue: Kingma & Welling's 784-400-20 ReLU VAE,
# and a deeper tanh one.
DEFAULT_ARCHS = (
    {"hidden": (400,), "z_dim": 20, "activation": "relu"},
    {"hidden": (200, 200), "z_dim": 50, "activation": "tanh"},
)
EPOCH_ROWS = 60_000  # "seconds per epoch" is per 60,000 images, the size of (Fashion-)MNIST's train split


def _call_times(fn, repeats):
    """Wall times of `repeats` calls of ``fn()``."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def layer_shapes(x_dim, hidden, z_dim):
    """The ``(name, n_in, n_out)`` of every Linear layer of a VAE, encoder first.

    The encoder is ``x_dim -> hidden... -> 2 z_dim`` (one fused output layer
    for mu and logvar), the decoder ``z_dim -> reversed(hidden)... -> x_dim``.
    """
    enc = (x_dim, *hidden, 2 * z_dim)
    dec = (z_dim, *hidden[::-1], x_dim)
    return ([(f"enc.{i}", a, b) for i, (a, b) in enumerate(zip(enc[:-1], enc[1:]))]
            + [(f"dec.{i}", a, b) for i, (a, b) in enumerate(zip(dec[:-1], dec[1:]))])


def _step_products(model, batch_size, n_samples=1, seed=0):
    """The matrix products of one training step of `model`, in the order the step runs them: ``(record, fn)`` pairs.

    Forward through the encoder and the decoder, then backward through the
    decoder and the encoder, each layer's weight gradient before its input
    gradient, as ``numvae.nn.Linear.backward`` does. The weights are the
    model's own arrays and the weight gradients are written into the model's
    own gradient arrays (the step overwrites them anyway); each product's
    output is the next one's input, as in the step, so the operands sit in
    the caches where the step leaves them.
    """
    dtype = model.dtype
    rng = np.random.default_rng(seed)

    def rand(rows, cols):
        return rng.standard_normal((rows, cols)).astype(dtype)

    layers = layer_shapes(model.x_dim, tuple(model.config["hidden"]), model.z_dim)
    rows = {"enc": batch_size, "dec": batch_size * n_samples}   # the decoder sees N * n_samples rows
    forward, backward, inputs = [], [], {}
    for net in ("enc", "dec"):
        x = None
        for name, n_in, n_out in (layer for layer in layers if layer[0].startswith(net)):
            m = rows[net]
            x = rand(m, n_in) if x is None else x                # the data, or z, for the first layer
            y, W = np.empty((m, n_out), dtype), model.params[f"{name}.W"]
            inputs[name] = x
            record = {"layer": f"{name} ({n_in}->{n_out})", "op": "forward x@W", "shape": (m, n_in, n_out)}
            forward.append((record, lambda x=x, W=W, y=y: np.matmul(x, W, out=y)))
            x = y
    for net in ("dec", "enc"):
        d = None
        for name, n_in, n_out in reversed([layer for layer in layers if layer[0].startswith(net)]):
            m = rows[net]
            d = rand(m, n_out) if d is None else d               # the output's gradient, for the last layer
            W, dW, x = model.params[f"{name}.W"], model.grads[f"{name}.W"], inputs[name]
            record = {"layer": f"{name} ({n_in}->{n_out})", "op": "weight grad x.T@d", "shape": (n_in, m, n_out)}
            backward.append((record, lambda x=x, d=d, dW=dW: np.matmul(x.T, d, out=dW)))
            if name == "enc.0":                                  # the data need no gradient
                break
            dx = np.empty((m, n_in), dtype)
            record = {"layer": f"{name} ({n_in}->{n_out})", "op": "input grad d@W.T", "shape": (m, n_out, n_in)}
            backward.append((record, lambda d=d, W=W, dx=dx: np.matmul(d, W.T, out=dx)))
            d = dx
    return forward + backward


def log_likelihood_blocks(model, k, n, batch_size=100):
    """``{rows: count}``: the decoder passes of ``model.log_likelihood`` with `k` samples on `n` rows, by size."""
    counts = {}
    for start in range(0, n, batch_size):
        B = min(batch_size, n - start)
        chunk = samples_per_chunk(model, B, k)
        full, last = divmod(k, chunk)
        counts[chunk * B] = counts.get(chunk * B, 0) + full
        if last:
            counts[last * B] = counts.get(last * B, 0) + 1
    return counts


def log_likelihood_floor(model, k, n, batch_size=100, repeats=5, seed=0):
    r"""Time the decoder's matrix products on the :math:`k\cdot n` rows ``log_likelihood`` pushes through it.

    ``model.log_likelihood(x, k, batch_size=batch_size)`` on n rows runs the
    decoder on blocks of ``numvae.importance.samples_per_chunk`` × `batch_size` rows; each
    distinct block shape is timed (`repeats` passes over the decoder's
    products, in order, each output the next one's input; the median) and
    counted as often as the estimate meets it. That sum is the estimate's
    floor: no implementation of the same estimator can skip those products.
    The encoder's single pass over the n rows is left out (k times smaller).
    Returns seconds.
    """
    rng = np.random.default_rng(seed)
    layers = [(a, b) for name, a, b in layer_shapes(model.x_dim, tuple(model.config["hidden"]), model.z_dim)
              if name.startswith("dec")]
    Ws = [model.params[f"dec.{i}.W"] for i in range(len(layers))]
    total = 0.0
    for rows, count in log_likelihood_blocks(model, k, n, batch_size).items():
        acts = [rng.standard_normal((rows, layers[0][0])).astype(model.dtype)]
        acts += [np.empty((rows, b), model.dtype) for _, b in layers]
        def products(acts=acts):
            for x, W, y in zip(acts[:-1], Ws, acts[1:]):
                np.matmul(x, W, out=y)
        total += count * float(np.median(_call_times(products, repeats)))
    return total


def _time_passes(fns, passes):
    """Run all of `fns` in order `passes` times; return ``(pass_totals, per_fn_times)``."""
    totals, per_fn = [], [[] for _ in fns]
    for _ in range(passes):
        total = 0.0
        for times, fn in zip(per_fn, fns):
            t0 = time.perf_counter()
            fn()
            dt = time.perf_counter() - t0
            times.append(dt)
            total += dt
        totals.append(total)
    return totals, per_fn


def _spread(times):
    """Median, 10th and 90th percentiles of `times`, and (p90 - p10) / median."""
    p10, p50, p90 = (float(q) for q in np.percentile(times, [10, 50, 90]))
    return {"median": p50, "p10": p10, "p90": p90, "spread": (p90 - p10) / p50}


def _product_medians(per_product):
    """The floor: each product's median time (over the passes), summed."""
    return float(sum(np.median(times) for times in per_product))


def _floor_summary(products, totals, per_product, rounds=None):
    """The floor from timed passes over `products`: the sum of each product's median, and the spread of the passes.

    Summing per-product medians keeps a pause of the process (another job
    taking the core) out of the floor unless it hits most passes of that
    product; a whole pass's time takes every such pause in, so the passes
    give the spread, not the floor.
    """
    records, flops = [], 0.0
    for (record, _), times in zip(products, per_product):
        records.append(dict(record, seconds=float(np.median(times))))
        flops += 2.0 * float(np.prod(record["shape"]))
    floor, spread = _product_medians(per_product), _spread(totals)
    return {"seconds": floor, "seconds_p10": spread["p10"], "seconds_p90": spread["p90"],
            "spread": spread["spread"], "round_seconds": rounds or [floor],
            "flops": flops, "gflops": flops / floor / 1e9, "products": records}


def gemm_floor(x_dim, hidden, z_dim, batch_size, dtype=np.float32, n_samples=1, seed=0, repeats=50):
    r"""Time the matrix products of one training step, in the step's order on a model's arrays: the step's floor.

    Parameters
    ----------
    x_dim, hidden, z_dim : architecture, as for :class:`numvae.vae.VAE`
    batch_size : int
        N; the decoder sees N·n_samples rows.
    dtype : numpy floating dtype
    repeats : int
        Timed passes over all the products (after one untimed pass).

    Returns
    -------
    dict
        ``seconds`` (each product's median over the passes, summed: the
        floor), ``seconds_p10``, ``seconds_p90`` (percentiles of whole
        passes) and ``spread`` = (p90 - p10) / median of whole passes,
        ``flops`` (per step), ``gflops`` and ``products``: a list of
        ``{"layer", "op", "shape" (m, k, n), "seconds"}`` (each product's
        median) in the order of the step.

    Notes
    -----
    Each product is ``np.matmul(a, b, out=c)`` with the operands laid out as
    in ``numvae.nn.Linear`` (``x.T`` and ``W.T`` are transposed views, which
    BLAS takes as a flag). Timing whole passes in the step's order, rather
    than each product many times over, leaves the caches as the step leaves
    them: the floor is the time of the products inside a step, not of each
    product hot in cache, and it moves less from run to run.
    """
    model = VAE(x_dim, hidden, z_dim, dtype=dtype, seed=seed)
    products = _step_products(model, batch_size, n_samples, seed)
    fns = [fn for _, fn in products]
    _time_passes(fns, 1)
    return _floor_summary(products, *_time_passes(fns, check_int(repeats, "repeats", 1)))


def _elementwise_work(model, batch_size, n_samples, rng):
    r"""The element-wise work of the networks in one step, on the step's shapes, as a list of ``fn()``.

    Each hidden activation forward and backward (``numvae.nn.Activation``), a
    bias added to every layer's output and summed from every layer's output
    gradient, and the reparameterization :math:`z = \mu + \sigma\epsilon`
    with its backward (the noise drawn, :math:`\sigma = e^{\lambda/2}`, the
    sums over samples, the fused encoder output gradient).
    """
    dtype, N, L, K = model.dtype, batch_size, n_samples, model.z_dim
    layers = layer_shapes(model.x_dim, tuple(model.config["hidden"]), K)
    act, n_hidden = model.config["activation"], len(model.config["hidden"])
    work = []
    for name, _, n_out in layers:
        m = N * (L if name.startswith("dec") else 1)
        y, b = rng.standard_normal((m, n_out)).astype(dtype), model.params[f"{name}.b"]
        work.append(lambda y=y, b=b: y + b)                                       # x @ W + b
        work.append(lambda y=y: y.sum(axis=0))                                    # db = sum_n delta_n
        f = make_activation(act if int(name.split(".")[1]) < n_hidden else "identity")  # the output layers' is identity
        work.append(lambda f=f, y=y: f.forward(y))
        work.append(lambda f=f, y=y: f.backward(y))
    mu, logvar = (rng.standard_normal((N, K)).astype(dtype) for _ in range(2))
    dz = rng.standard_normal((L, N, K)).astype(dtype)

    def reparameterize():
        eps = rng.standard_normal((L, N, K), dtype=dtype)
        sigma = np.exp(0.5 * logvar)
        return mu + sigma * eps, eps, sigma

    def reparameterize_backward(eps, sigma):
        return np.concatenate([dz.sum(axis=0), (dz * eps).sum(axis=0) * (0.5 * sigma)], axis=1)

    work.append(lambda: reparameterize_backward(*reparameterize()[1:]))
    return work


def _likelihood_kl_work(model, batch_size, n_samples, rng):
    """The Bernoulli log-likelihood and the closed-form KL with their gradients, on the step's shapes: ``fn()``s.

    The likelihood is the model's own ``likelihood.backward``, the call the
    training step makes (scratch buffers, the model's threads); the public
    ``bernoulli_log_likelihood`` also checks its input, which the step does
    not pay for.
    """
    dtype, N, L, K = model.dtype, batch_size, n_samples, model.z_dim
    x = rng.random((N, model.x_dim)).astype(dtype)
    logits = rng.standard_normal((L, N, model.x_dim)).astype(dtype)
    mu, logvar = (rng.standard_normal((N, K)).astype(dtype) for _ in range(2))
    return [lambda: model.likelihood.backward(x, logits, -1.0 / (N * L)),
            lambda: kl_standard_normal_terms(mu, logvar), lambda: kl_standard_normal_grad(mu, logvar)]


def _optimizer_work(model, threads, seed):
    """The model's Adam's ``step`` on a model of the same layout as `model` (a copy: the real one keeps training)."""
    twin = VAE(model.x_dim, tuple(model.config["hidden"]), model.z_dim, dtype=model.dtype, seed=seed,
               fast=model.fast, threads=threads)
    rng = np.random.default_rng(seed)
    for g in twin.grads.values():
        g[...] = rng.standard_normal(g.shape) * 1e-2   # into the model's own gradient arrays (the flat buffer, if fast)
    opt = twin.optimizers["adam"](twin.params)
    return [lambda: opt.step(twin.grads)]


class _Stepper:
    """Runs real training steps as ``fit`` does: batches gathered in a seeded random order, ``train_step``, Adam."""

    def __init__(self, model, X, batch_size, seed=0, lr=1e-3, objective=None):
        self.model, self.X, self.batch_size, self.objective = model, X, batch_size, objective
        self.rng = np.random.default_rng(seed)
        self.opt = model.optimizers["adam"](model.params, lr=lr)       # the one fit builds
        self.order = self.rng.permutation(X.shape[0])
        self.n_batches = X.shape[0] // batch_size
        if self.n_batches < 1:
            raise ValueError(f"X must have at least batch_size = {batch_size} rows; got {X.shape[0]}")
        self.done = 0
        self.losses = []

    def run(self, n):
        """Take `n` steps; return their wall times."""
        times = []
        for _ in range(n):
            b = self.done % self.n_batches
            t0 = time.perf_counter()
            xb = self.X[self.order[b * self.batch_size:(b + 1) * self.batch_size]]  # (M, D)
            loss, problem = train_step(self.model, self.opt, xb, self.rng, self.objective)
            times.append(time.perf_counter() - t0)
            if problem is not None:
                raise FloatingPointError(f"bench training step {self.done} diverged: {problem}")
            self.losses.append(loss)
            self.done += 1
        return times


def time_train_step(model, X, batch_size, steps=200, warmup_steps=20, seed=0, lr=1e-3):
    """Median wall time of one real training step: gather a batch as ``fit`` does, ``train_step`` with Adam.

    The model's parameters change (it trains). Returns ``(median, (q25,
    q75), losses)`` in seconds, with the losses of all steps.
    """
    X = check_matrix(X, "X", n_features=model.x_dim, dtype=model.dtype)
    stepper = _Stepper(model, X, batch_size, seed, lr)
    stepper.run(warmup_steps)
    times = stepper.run(steps)
    q25, q50, q75 = np.percentile(times, [25, 50, 75])
    return float(q50), (float(q25), float(q75)), stepper.losses


def _traced_peak(fn):
    """Peak bytes that NumPy (and Python) allocate during ``fn()``, above what was live before (tracemalloc)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - base


def _max_rss_bytes():
    """The process's peak resident set size so far (``getrusage``; kilobytes on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if platform.system() == "Darwin" else rss * 1024


def load_bench_data(data_root=None, x_dim=784, rows=EPOCH_ROWS, seed=0):
    """Fashion-MNIST's train split if it can be found, else uniform random data of the same shape.

    Returns ``(X, description)``; the description says which.
    """
    from numvae.data import load_mnist_like

    try:
        X, _ = load_mnist_like("fashion-mnist", "train", data_root)
        if X.shape[1] == x_dim:
            return X, f"Fashion-MNIST train split ({X.shape[0]} x {X.shape[1]})"
    except FileNotFoundError:
        pass
    X = np.random.default_rng(seed).random((rows, x_dim))
    return X, f"RANDOM uniform data ({rows} x {x_dim}): Fashion-MNIST train split not found"


# OpenBLAS's query functions, under the names its builds export them: plain,
# with the 64-bit-integer suffix, and the scipy-openblas wheels' prefix.
_OPENBLAS_PREFIXES = ("openblas", "scipy_openblas")
_OPENBLAS_SUFFIXES = ("", "64_")


def _loaded_libraries(maps="/proc/self/maps"):
    """Paths of the shared objects mapped into this process whose file name mentions BLAS (Linux only; [] elsewhere)."""
    try:
        with open(maps) as f:
            paths = {line.split()[-1] for line in f if ".so" in line}
    except OSError:
        return []
    # "lib..." only: Python extensions such as scipy's _fblas link a BLAS, and
    # ctypes would find its functions through them too.
    names = {p: os.path.basename(p).lower() for p in paths}
    return sorted(p for p, n in names.items() if n.startswith("lib") and "blas" in n and os.path.isfile(p))


def _openblas_query(lib, name, restype):
    """Call OpenBLAS's ``<prefix>_get_<name><suffix>()`` in `lib` under whichever name it exports; None if none."""
    for prefix in _OPENBLAS_PREFIXES:
        for suffix in _OPENBLAS_SUFFIXES:
            fn = getattr(lib, f"{prefix}_get_{name}{suffix}", None)
            if fn is not None:
                fn.restype, fn.argtypes = restype, []
                value = fn()
                return value.decode() if isinstance(value, bytes) else value
    return None


def blas_runtime():
    """The BLAS libraries loaded in this process, asked through the library itself: the running kernel and threads.

    NumPy's ``show_config`` names the BLAS build, not the CPU kernel OpenBLAS
    picked at load time (its dynamic dispatch), which is what sets the floor.
    For every loaded OpenBLAS this asks it, with ctypes, for
    ``get_corename`` (e.g. ``Haswell``, ``Zen``), ``get_num_threads`` and
    ``get_config``, as threadpoolctl does, without depending on it.

    Returns
    -------
    list of dict
        ``{"library", "core", "threads", "config"}`` per library, NumPy's
        first; ``"unknown"`` where the library does not answer (another BLAS,
        or not Linux). Empty if no BLAS library is found.
    """
    found = []
    for path in _loaded_libraries():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        core = _openblas_query(lib, "corename", ctypes.c_char_p)
        threads = _openblas_query(lib, "num_threads", ctypes.c_int)
        config = _openblas_query(lib, "config", ctypes.c_char_p)
        if core is None and threads is None and config is None:
            continue                                     # a wrapper (e.g. scipy's _fblas), not a BLAS
        found.append({"library": os.path.basename(path), "numpy": "numpy" in path,
                      "core": core or "unknown", "threads": threads if threads is not None else "unknown",
                      "config": config or "unknown"})
    return sorted(found, key=lambda b: not b["numpy"])


def machine_info():
    """What the numbers depend on: NumPy and its BLAS (build and running kernel), the CPU count."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # older NumPy: no dict mode
        blas = "unknown"
    return {"numpy": np.__version__, "blas": blas, "blas_runtime": blas_runtime(), "cpus": os.cpu_count(),
            "machine": platform.machine(), "python": platform.python_version()}


def bench(X, hidden=(400,), z_dim=20, activation="relu", batch_sizes=(100,), dtype="float32",
          steps=200, warmup_steps=20, k=1000, ll_n=1000, seed=0, data="given", rounds=5, threads=1,
          progress=None, fast=True):
    r"""Measure one architecture: GEMM floor, real step, their ratio, throughput, log-likelihood time, memory.

    Parameters
    ----------
    X : ndarray of shape (N, D), values in [0, 1]
        Training rows (Bernoulli decoder); the first `ll_n` are also used for
        the log-likelihood.
    hidden, z_dim, activation : architecture of the VAE (Bernoulli decoder)
    batch_sizes : sequence of int
        One floor and one step timing per batch size.
    dtype : {"float32", "float64"}
    steps, warmup_steps : int
        Timed steps (median reported) after `warmup_steps` untimed ones.
    rounds : int
        The steps, as many passes over the matrix products (the floor) and as
        many calls of each piece of the split are timed in this many
        alternating rounds.
    threads : {1, 2}
        Threads of the element-wise work in the timed step and
        log-likelihood: the model's (``VAE(threads=)``: the Bernoulli
        likelihood, and its Adam). The optimizer piece is also timed with the
        other choice. The matrix products use the BLAS's own threads
        (``OPENBLAS_NUM_THREADS``), and so does the floor.
    fast : bool
        Time the fast wing (``VAE(fast=True)``, the default) or the plain
        teaching path (``fast=False``, one thread only).
    k, ll_n : int
        ``log_likelihood`` with `k` importance samples on `ll_n` rows is
        timed once; 0 skips it.
    data : str
        Description of `X`, copied into the result.
    progress : numvae.progress.Progress, optional
        Gets one :meth:`~numvae.progress.Progress.line` per batch size
        measured and one for the log-likelihood (the CLI shares one across
        architectures).

    Returns
    -------
    dict
        ``arch``, ``dtype``, ``data``, ``machine`` (see :func:`machine_info`),
        ``load_before`` and ``load_after`` (1-minute load averages; the
        1-, 5- and 15-minute ones in ``load_avg_before``, ``load_avg_after``),
        ``rows`` (one dict per batch size: ``batch_size``, ``floor_s`` with
        ``floor_p10_s``, ``floor_p90_s``, ``floor_spread`` = (p90 - p10) /
        median of whole passes and ``floor_round_s``, the floor of each
        round, ``step_s``,
        ``step_iqr_s``, ``ratio``, ``samples_per_s``, ``epoch_s`` and
        ``floor_epoch_s`` per 60,000 rows, ``floor_gflops``, ``step_gflops``,
        ``split_s`` and ``split_share``: the step's time in ``products``,
        ``elementwise``, ``likelihood_kl``, ``optimizer`` and ``rest`` = the
        step minus the other four, ``gather_s`` (batch gathering, part of the
        rest), ``optimizer_other_threads_s``, ``products``),
        ``log_likelihood`` (``k``, ``n``, ``seconds``, ``floor_s`` from
        :func:`log_likelihood_floor` and ``ratio`` = seconds / floor_s,
        ``traced_peak_bytes``) and ``memory``: ``step_traced_peak_bytes``,
        NumPy's peak allocation during 5 steps above what was live before
        (tracemalloc), and ``max_rss_bytes``, the whole process's peak
        resident set so far (getrusage: includes the dataset and everything
        run before in the process).
    """
    check_choice(dtype, "dtype", ("float32", "float64"))
    X = check_matrix(X, "X")
    steps, warmup_steps = check_int(steps, "steps", 1), check_int(warmup_steps, "warmup_steps", 0)
    rounds = min(check_int(rounds, "rounds", 1), steps)
    k, ll_n = check_int(k, "k", 0), check_int(ll_n, "ll_n", 0)
    hidden = tuple(hidden)
    x_dim = X.shape[1]
    Xd = X.astype(dtype, copy=False)
    result = {"arch": "-".join(str(w) for w in (x_dim, *hidden, z_dim)) + f" {activation}",
              "dtype": dtype, "data": data, "machine": machine_info(), "threads": threads, "fast": bool(fast),
              "load_before": os.getloadavg()[0], "load_avg_before": os.getloadavg(), "rows": []}
    model = None
    for bs in batch_sizes:
        bs = check_int(bs, "batch size", 1)
        model = VAE(x_dim, hidden, z_dim, "bernoulli", activation, dtype=dtype, seed=seed, fast=fast,
                    threads=threads)
        stepper = _Stepper(model, Xd, bs, seed)
        rng = np.random.default_rng(seed)
        products = _step_products(model, bs, seed=seed)
        pieces = {"products": [fn for _, fn in products],
                  "elementwise": _elementwise_work(model, bs, 1, rng),
                  "likelihood_kl": _likelihood_kl_work(model, bs, 1, rng),
                  "optimizer": _optimizer_work(model, threads, seed),
                  "gather": [lambda: Xd[stepper.order[:bs]]]}
        if fast:
            pieces["optimizer_other_threads"] = _optimizer_work(model, 3 - threads, seed)
        stepper.run(warmup_steps)
        for fns in pieces.values():
            _time_passes(fns, 1)
        # Everything is measured in alternating rounds, so the floor, the
        # pieces and the step all see the same (possibly shared, changing) machine.
        step_times, totals = [], {name: [] for name in pieces}
        per_product, round_floors = [[] for _ in products], []
        passes = max(1, -(-steps // rounds))
        for r in range(rounds):
            floor_totals, floor_each = _time_passes(pieces["products"], passes)
            totals["products"] += floor_totals
            round_floors.append(_product_medians(floor_each))
            for times, more in zip(per_product, floor_each):
                times += more
            for name, fns in pieces.items():
                if name != "products":
                    totals[name] += _time_passes(fns, passes)[0]
            step_times += stepper.run(steps // rounds + (r < steps % rounds))
        floor = _floor_summary(products, totals["products"], per_product, round_floors)
        p10, q25, step, q75 = (float(q) for q in np.percentile(step_times, [10, 25, 50, 75]))
        medians = {name: float(np.median(t)) for name, t in totals.items()}
        medians["products"] = floor["seconds"]
        split = {name: medians[name] for name in ("products", "elementwise", "likelihood_kl", "optimizer")}
        split["rest"] = step - sum(split.values())     # batch gathering, Python, the finiteness check
        result["rows"].append({
            "batch_size": bs, "floor_s": floor["seconds"], "floor_p10_s": floor["seconds_p10"],
            "floor_p90_s": floor["seconds_p90"], "floor_spread": floor["spread"],
            "floor_round_s": floor["round_seconds"],
            "step_s": step, "step_iqr_s": (q25, q75), "ratio": step / floor["seconds"],
            # The fastest decile of each, a view less sensitive to other processes.
            "step_p10_s": p10, "ratio_p10": p10 / floor["seconds_p10"], "samples_per_s": bs / step,
            "epoch_s": step * EPOCH_ROWS / bs, "floor_epoch_s": floor["seconds"] * EPOCH_ROWS / bs,
            "floor_gflops": floor["gflops"], "step_gflops": floor["flops"] / step / 1e9,
            "split_s": split, "split_share": {name: t / step for name, t in split.items()},
            "gather_s": medians["gather"], "optimizer_other_threads_s": medians.get("optimizer_other_threads"),
            "products": floor["products"]})
        if progress is not None:
            progress.line(f"{result['arch']} batch {bs}: step {step * 1e3:.2f} ms, floor "
                          f"{floor['seconds'] * 1e3:.2f} ms", done=progress.done + 1)
    # Memory of the step: 5 more steps of the last model under tracemalloc.
    opt = model.optimizers["adam"](model.params)
    rng = np.random.default_rng(seed)
    train_step(model, opt, Xd[:bs], rng)

    def five_steps():
        for _ in range(5):
            train_step(model, opt, Xd[:bs], rng)

    memory = {"step_traced_peak_bytes": _traced_peak(five_steps)}
    if k and ll_n:
        xl = Xd[:ll_n]
        t0 = time.perf_counter()
        model.log_likelihood(xl, k=k, rng=seed)
        seconds = time.perf_counter() - t0
        floor = log_likelihood_floor(model, k, ll_n, seed=seed)
        # Memory on a tenth of the rows (peak does not grow with N: the work is blocked).
        peak = _traced_peak(lambda: model.log_likelihood(xl[:max(1, ll_n // 10)], k=k, rng=seed))
        result["log_likelihood"] = {"k": k, "n": ll_n, "seconds": seconds, "floor_s": floor,
                                    "ratio": seconds / floor, "traced_peak_bytes": peak}
        if progress is not None:
            progress.line(f"{result['arch']} log_likelihood k={k} on {ll_n} rows: {seconds:.2f} s, "
                          f"decoder floor {floor:.2f} s",
                          done=progress.done + 1)
    else:
        result["log_likelihood"] = None
    memory["max_rss_bytes"] = _max_rss_bytes()
    result["memory"] = memory
    result["load_after"], result["load_avg_after"] = os.getloadavg()[0], os.getloadavg()
    return result


def bench_objective(X, objective, hidden=(400,), z_dim=20, activation="relu", batch_size=100, dtype="float32",
                    steps=50, warmup_steps=5, seed=0, rounds=5, fast=True):
    r"""What a step of `objective` (``IWAE(k)``) costs against the ELBO step with ``n_samples = k`` and their floor.

    Both steps send N·k rows through the decoder, so both have the same
    matrix products (:func:`gemm_floor` with ``n_samples = k``): the floor of
    k decoder passes on N rows. The two steps and the floor are timed in
    alternating rounds on one model each (same architecture and seed).
    Memory: NumPy's peak allocation during 3 steps of each (tracemalloc)
    above what was live before.

    Returns
    -------
    dict
        ``objective`` (its settings), ``batch_size``, ``k``, ``step_s``,
        ``elbo_step_s``, ``floor_s``, ``ratio_to_elbo``, ``ratio_to_floor``,
        ``elbo_ratio_to_floor``, ``traced_peak_bytes``, ``elbo_traced_peak_bytes``.
    """
    from numvae.objectives import ELBO

    check_choice(dtype, "dtype", ("float32", "float64"))
    X = check_matrix(X, "X").astype(dtype, copy=False)
    k, bs = objective.n_samples, check_int(batch_size, "batch_size", 1)
    elbo = ELBO(n_samples=k)
    steppers = {}
    for name, obj in (("objective", objective), ("elbo", elbo)):
        model = VAE(X.shape[1], tuple(hidden), z_dim, "bernoulli", activation, dtype=dtype, seed=seed, fast=fast)
        steppers[name] = _Stepper(model, X, bs, seed, objective=obj)
        steppers[name].run(warmup_steps)
    products = [fn for _, fn in _step_products(steppers["elbo"].model, bs, k, seed)]
    _time_passes(products, 1)
    times = {"objective": [], "elbo": [], "floor": []}
    for r in range(rounds):
        n = steps // rounds + (r < steps % rounds)
        times["floor"] += _time_passes(products, n)[0]
        for name, stepper in steppers.items():
            times[name] += stepper.run(n)
    med = {name: float(np.median(t)) for name, t in times.items()}
    peaks = {name: _traced_peak(lambda st=st: st.run(3)) for name, st in steppers.items()}
    return {"objective": objective.settings(), "batch_size": bs, "k": k, "step_s": med["objective"],
            "elbo_step_s": med["elbo"], "floor_s": med["floor"], "ratio_to_elbo": med["objective"] / med["elbo"],
            "ratio_to_floor": med["objective"] / med["floor"], "elbo_ratio_to_floor": med["elbo"] / med["floor"],
            "traced_peak_bytes": peaks["objective"], "elbo_traced_peak_bytes": peaks["elbo"]}


def format_objective_table(rows):
    """A plain-text table of :func:`bench_objective` results."""
    lines = ["objective          batch   k   step ms   ELBO(L=k) ms   floor ms   /ELBO   /floor   peak MB   ELBO peak MB"]
    for r in rows:
        o = r["objective"]
        name = f"{o['name']}({o.get('estimator', '')}, k={r['k']})"
        lines.append(f"{name:<18} {r['batch_size']:>5} {r['k']:>3} {r['step_s'] * 1e3:>9.2f} {r['elbo_step_s'] * 1e3:>14.2f} "
                     f"{r['floor_s'] * 1e3:>10.2f} {r['ratio_to_elbo']:>7.2f} {r['ratio_to_floor']:>8.2f} "
                     f"{r['traced_peak_bytes'] / 2**20:>9.2f} {r['elbo_traced_peak_bytes'] / 2**20:>14.2f}")
    return "\n".join(lines)


def _blas_text(machine):
    """One line on the BLAS: its build, and the kernel and threads NumPy's OpenBLAS reports running."""
    running = machine.get("blas_runtime") or []
    if not running:
        return f"{machine['blas']} (running kernel and threads: unknown)"
    b = running[0]
    return f"{machine['blas']}, running kernel {b['core']}, {b['threads']} BLAS threads ({b['library']})"


def format_table(results):
    """A short plain-text table of :func:`bench` results (a list of them).

    The data the results were measured on is not repeated here: ``numvae
    bench`` prints it once, before measuring, and each result keeps it under
    ``"data"``.
    """
    lines = []
    m = results[0]["machine"]
    path = "the fast wing (VAE(fast=True))" if results[0].get("fast", True) else "the plain teaching path (VAE(fast=False))"
    lines.append(f"numpy {m['numpy']}, {_blas_text(m)}, {m['cpus']} CPUs; {path}")
    head = (f"{'architecture':<26}{'dtype':<8}{'batch':>6}{'floor ms':>10}{'spread':>8}{'step ms':>9}{'ratio':>7}"
            f"{'samples/s':>11}{'s/epoch':>9}{'floor s/ep':>11}{'GFLOP/s':>9}{'ratio p10':>10}")
    lines += [head, "-" * len(head)]
    for r in results:
        for row in r["rows"]:
            lines.append(f"{r['arch']:<26}{r['dtype']:<8}{row['batch_size']:>6}{row['floor_s'] * 1e3:>10.3f}"
                         f"{row['floor_spread']:>8.0%}{row['step_s'] * 1e3:>9.3f}{row['ratio']:>7.2f}"
                         f"{row['samples_per_s']:>11.0f}{row['epoch_s']:>9.2f}{row['floor_epoch_s']:>11.2f}"
                         f"{row['step_gflops']:>9.1f}{row['ratio_p10']:>10.2f}")
    lines.append("")
    lines.append("where the step goes (ms, share of the step):")
    for r in results:
        for row in r["rows"]:
            parts = ", ".join(f"{name} {t * 1e3:.3f} ({row['split_share'][name]:.0%})"
                              for name, t in row["split_s"].items())
            other = row["optimizer_other_threads_s"]
            other = f"; Adam with {3 - r['threads']} thread(s) {other * 1e3:.3f}" if other is not None else ""
            lines.append(f"  {r['arch']} batch {row['batch_size']}: {parts}; of the rest, batch gathering "
                         f"{row['gather_s'] * 1e3:.3f}{other}")
    lines.append("")
    for r in results:
        ll = r["log_likelihood"]
        mem = r["memory"]
        ll_text = (f"log_likelihood k={ll['k']} on {ll['n']} rows: {ll['seconds']:.2f} s, decoder floor "
                   f"{ll['floor_s']:.2f} s, ratio {ll['ratio']:.2f} (traced peak {ll['traced_peak_bytes'] / 2**20:.0f} MiB)" if ll else "log_likelihood: skipped")
        before, after = (" ".join(f"{a:.2f}" for a in r[key]) for key in ("load_avg_before", "load_avg_after"))
        lines.append(f"{r['arch']} {r['dtype']}: {ll_text}; step traced peak "
                     f"{mem['step_traced_peak_bytes'] / 2**20:.1f} MiB; process max RSS "
                     f"{mem['max_rss_bytes'] / 2**20:.0f} MiB; load average (1, 5, 15 min) {before} -> {after}")
    lines.append("floor: the step's matrix products alone, timed in passes in the step's order (each product's "
                 "median, summed); spread: (p90 - p10) / median of whole passes; ratio = step / floor; s/epoch per 60,000 images; "
                 "GFLOP/s = the products' FLOPs / step time; ratio p10: the same ratio of 10th percentiles. "
                 "The split times the step's building blocks alone on its shapes; rest = step minus the others.")
    return "\n".join(lines)
