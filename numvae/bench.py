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
the same BLAS, gives a **floor** for the step: :func:`gemm_floor`. Everything
else (activations, the likelihood, the KL, sampling, Adam, batch gathering,
Python) is overhead above it. :func:`time_train_step` times the real step,
``numvae.train.train_step`` on batches gathered as ``fit`` gathers them, and
:func:`bench` puts the two side by side with the throughput, the time of the
importance-sampled log-likelihood and the memory used. ``numvae bench`` prints
:func:`format_table` of it.

All times are medians of many repetitions (the machine may be shared; the
1-minute load average is recorded with every result so a reader can judge).
Nothing here is asserted: speed claims live in the numbers this prints.
"""

import os
import platform
import resource
import time
import tracemalloc

import numpy as np

from numvae.checks import check_choice, check_int, check_matrix
from numvae.optim import Adam
from numvae.train import Batcher, train_step
from numvae.vae import VAE

# The two architectures of the issue: Kingma & Welling's 784-400-20 ReLU VAE,
# and a deeper tanh one.
DEFAULT_ARCHS = (
    {"hidden": (400,), "z_dim": 20, "activation": "relu"},
    {"hidden": (200, 200), "z_dim": 50, "activation": "tanh"},
)
EPOCH_ROWS = 60_000  # "seconds per epoch" is per 60,000 images, the size of (Fashion-)MNIST's train split


def _median_time(fn, min_repeats=20, min_seconds=0.1):
    """Median wall time of ``fn()`` over at least `min_repeats` calls and `min_seconds` (after 2 warm-up calls)."""
    fn()
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_repeats or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def layer_shapes(x_dim, hidden, z_dim):
    """The ``(name, n_in, n_out)`` of every Linear layer of a VAE, encoder first.

    The encoder is ``x_dim -> hidden... -> 2 z_dim`` (one fused output layer
    for mu and logvar), the decoder ``z_dim -> reversed(hidden)... -> x_dim``.
    """
    enc = (x_dim, *hidden, 2 * z_dim)
    dec = (z_dim, *hidden[::-1], x_dim)
    return ([(f"enc.{i}", a, b) for i, (a, b) in enumerate(zip(enc[:-1], enc[1:]))]
            + [(f"dec.{i}", a, b) for i, (a, b) in enumerate(zip(dec[:-1], dec[1:]))])


def gemm_floor(x_dim, hidden, z_dim, batch_size, dtype=np.float32, n_samples=1, seed=0,
               min_repeats=20, min_seconds=0.05):
    r"""Time the matrix products of one training step at their real shapes: the step's floor.

    Parameters
    ----------
    x_dim, hidden, z_dim : architecture, as for :class:`numvae.vae.VAE`
    batch_size : int
        N; the decoder sees N·n_samples rows.
    dtype : numpy floating dtype
    min_repeats, min_seconds : each product is timed at least this often and this long

    Returns
    -------
    dict
        ``seconds`` (sum of the per-product medians), ``flops`` (per step),
        ``gflops`` and ``products``: a list of ``{"layer", "op", "shape"
        (m, k, n), "seconds"}``.

    Notes
    -----
    Each product is ``np.matmul(a, b, out=c)`` with the same arrays reused and
    the operands laid out as in ``numvae.nn.Linear`` (``x.T`` and ``W.T`` are
    transposed views, which BLAS takes as a flag). A product repeated on the
    same arrays finds them in cache, so this is a slightly optimistic floor.
    """
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(seed)
    products = []
    total = flops = 0.0

    def rand(*shape):
        return rng.standard_normal(shape, dtype=np.float64).astype(dtype)

    for name, n_in, n_out in layer_shapes(x_dim, hidden, z_dim):
        rows = batch_size * (n_samples if name.startswith("dec") else 1)
        x, W, d = rand(rows, n_in), rand(n_in, n_out), rand(rows, n_out)
        ops = [("forward x@W", x, W, np.empty((rows, n_out), dtype), (rows, n_in, n_out)),
               ("weight grad x.T@d", x.T, d, np.empty((n_in, n_out), dtype), (n_in, rows, n_out))]
        if name != "enc.0":  # the data need no gradient
            ops.append(("input grad d@W.T", d, W.T, np.empty((rows, n_in), dtype), (rows, n_out, n_in)))
        for op, a, b, c, (m, k, n) in ops:
            t = _median_time(lambda: np.matmul(a, b, out=c), min_repeats, min_seconds)
            products.append({"layer": f"{name} ({n_in}->{n_out})", "op": op, "shape": (m, k, n), "seconds": t})
            total += t
            flops += 2.0 * m * k * n
    return {"seconds": total, "flops": flops, "gflops": flops / total / 1e9, "products": products}


def time_train_step(model, X, batch_size, steps=200, warmup=20, seed=0, lr=1e-3):
    """Median wall time of one real training step: gather a batch as ``fit`` does, ``train_step`` with Adam.

    `X` is cycled through in a seeded random order, as ``fit`` does; the
    model's parameters change (it trains). Returns ``(median, quartiles,
    losses)``: the median seconds, the 25th and 75th percentiles, and the
    losses of the timed steps.
    """
    X = check_matrix(X, "X", n_features=model.x_dim, dtype=model.dtype)
    rng = np.random.default_rng(seed)
    opt = Adam(model.params, lr=lr)
    batch = Batcher(X, batch_size)
    order = rng.permutation(X.shape[0])
    n_batches = X.shape[0] // batch_size
    if n_batches < 1:
        raise ValueError(f"X must have at least batch_size = {batch_size} rows; got {X.shape[0]}")
    times, losses = [], []
    for s in range(warmup + steps):
        b = s % n_batches
        t0 = time.perf_counter()
        xb = batch(order[b * batch_size:(b + 1) * batch_size])        # (M, D)
        loss, problem = train_step(model, opt, xb, rng)
        t1 = time.perf_counter()
        if problem is not None:
            raise FloatingPointError(f"bench training step {s} diverged: {problem}")
        if s >= warmup:
            times.append(t1 - t0)
            losses.append(loss)
    q25, q50, q75 = np.percentile(times, [25, 50, 75])
    return float(q50), (float(q25), float(q75)), losses


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


def machine_info():
    """What the numbers depend on: NumPy and its BLAS, the CPU count, the load average."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # older NumPy: no dict mode
        blas = "unknown"
    return {"numpy": np.__version__, "blas": blas, "cpus": os.cpu_count(),
            "machine": platform.machine(), "python": platform.python_version()}


def bench(X, hidden=(400,), z_dim=20, activation="relu", batch_sizes=(100,), dtype="float32",
          steps=200, warmup=20, ll_k=1000, ll_n=1000, seed=0, data="given"):
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
    steps, warmup : int
        Timed steps (median reported) after `warmup` untimed ones.
    ll_k, ll_n : int
        ``log_likelihood`` with k = `ll_k` on `ll_n` rows is timed once; 0
        skips it.
    data : str
        Description of `X`, copied into the result.

    Returns
    -------
    dict
        ``arch``, ``dtype``, ``data``, ``machine`` (see :func:`machine_info`),
        ``load_before`` and ``load_after`` (1-minute load averages), ``rows``
        (one dict per batch size: ``batch_size``, ``floor_s``, ``step_s``,
        ``step_iqr_s``, ``ratio``, ``samples_per_s``, ``epoch_s`` and
        ``floor_epoch_s`` per 60,000 rows, ``floor_gflops``, ``step_gflops``,
        ``products``), ``log_likelihood`` (``k``, ``n``, ``seconds``,
        ``traced_peak_bytes``) and ``memory``: ``step_traced_peak_bytes``,
        NumPy's peak allocation during 5 steps above what was live before
        (tracemalloc), and ``max_rss_bytes``, the whole process's peak
        resident set so far (getrusage: includes the dataset and everything
        run before in the process).
    """
    check_choice(dtype, "dtype", ("float32", "float64"))
    X = check_matrix(X, "X")
    steps, warmup = check_int(steps, "steps", 1), check_int(warmup, "warmup", 0)
    ll_k, ll_n = check_int(ll_k, "ll_k", 0), check_int(ll_n, "ll_n", 0)
    hidden = tuple(hidden)
    x_dim = X.shape[1]
    Xd = X.astype(dtype, copy=False)
    result = {"arch": "-".join(str(w) for w in (x_dim, *hidden, z_dim)) + f" {activation}",
              "dtype": dtype, "data": data, "machine": machine_info(),
              "load_before": os.getloadavg()[0], "rows": []}
    model = None
    for bs in batch_sizes:
        bs = check_int(bs, "batch size", 1)
        floor = gemm_floor(x_dim, hidden, z_dim, bs, dtype, seed=seed)
        model = VAE(x_dim, hidden, z_dim, "bernoulli", activation, dtype=dtype, seed=seed)
        step, iqr, _ = time_train_step(model, Xd, bs, steps=steps, warmup=warmup, seed=seed)
        result["rows"].append({
            "batch_size": bs, "floor_s": floor["seconds"], "step_s": step, "step_iqr_s": iqr,
            "ratio": step / floor["seconds"], "samples_per_s": bs / step,
            "epoch_s": step * EPOCH_ROWS / bs, "floor_epoch_s": floor["seconds"] * EPOCH_ROWS / bs,
            "floor_gflops": floor["gflops"], "step_gflops": floor["flops"] / step / 1e9,
            "products": floor["products"]})
    # Memory of the step: 5 more steps of the last model under tracemalloc.
    batch = Batcher(Xd, bs)
    opt = Adam(model.params)
    rng = np.random.default_rng(seed)
    train_step(model, opt, batch(np.arange(bs)), rng)

    def five_steps():
        for _ in range(5):
            train_step(model, opt, batch(np.arange(bs)), rng)

    memory = {"step_traced_peak_bytes": _traced_peak(five_steps)}
    if ll_k and ll_n:
        xl = Xd[:ll_n]
        t0 = time.perf_counter()
        model.log_likelihood(xl, k=ll_k, rng=seed)
        seconds = time.perf_counter() - t0
        # Memory on a tenth of the rows (peak does not grow with N: the work is blocked).
        peak = _traced_peak(lambda: model.log_likelihood(xl[:max(1, ll_n // 10)], k=ll_k, rng=seed))
        result["log_likelihood"] = {"k": ll_k, "n": ll_n, "seconds": seconds, "traced_peak_bytes": peak}
    else:
        result["log_likelihood"] = None
    memory["max_rss_bytes"] = _max_rss_bytes()
    result["memory"] = memory
    result["load_after"] = os.getloadavg()[0]
    return result


def format_table(results):
    """A short plain-text table of :func:`bench` results (a list of them)."""
    lines = []
    first = results[0]
    m = first["machine"]
    lines.append(f"numpy {m['numpy']}, {m['blas']}, {m['cpus']} CPUs; data: {first['data']}")
    head = (f"{'architecture':<26}{'dtype':<8}{'batch':>6}{'floor ms':>10}{'step ms':>9}{'ratio':>7}"
            f"{'samples/s':>11}{'s/epoch':>9}{'floor s/ep':>11}{'GFLOP/s':>9}")
    lines += [head, "-" * len(head)]
    for r in results:
        for row in r["rows"]:
            lines.append(f"{r['arch']:<26}{r['dtype']:<8}{row['batch_size']:>6}{row['floor_s'] * 1e3:>10.3f}"
                         f"{row['step_s'] * 1e3:>9.3f}{row['ratio']:>7.2f}{row['samples_per_s']:>11.0f}"
                         f"{row['epoch_s']:>9.2f}{row['floor_epoch_s']:>11.2f}{row['step_gflops']:>9.1f}")
    lines.append("")
    for r in results:
        ll = r["log_likelihood"]
        mem = r["memory"]
        ll_text = (f"log_likelihood k={ll['k']} on {ll['n']} rows: {ll['seconds']:.2f} s "
                   f"(traced peak {ll['traced_peak_bytes'] / 2**20:.0f} MiB)" if ll else "log_likelihood: skipped")
        lines.append(f"{r['arch']} {r['dtype']}: {ll_text}; step traced peak "
                     f"{mem['step_traced_peak_bytes'] / 2**20:.1f} MiB; process max RSS "
                     f"{mem['max_rss_bytes'] / 2**20:.0f} MiB; load {r['load_before']:.2f} -> {r['load_after']:.2f}")
    lines.append("floor: the step's matrix products alone (median each, summed); ratio = step / floor; "
                 "s/epoch per 60,000 images; GFLOP/s = the products' FLOPs / step time.")
    return "\n".join(lines)
