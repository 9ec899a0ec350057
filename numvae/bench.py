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


def _step_products(x_dim, hidden, z_dim, batch_size, dtype, n_samples=1, seed=0):
    """The matrix products of one training step as ``(record, fn)`` pairs; ``fn()`` computes one."""
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(seed)

    def rand(*shape):
        return rng.standard_normal(shape, dtype=np.float64).astype(dtype)

    products = []
    for name, n_in, n_out in layer_shapes(x_dim, hidden, z_dim):
        rows = batch_size * (n_samples if name.startswith("dec") else 1)
        x, W, d = rand(rows, n_in), rand(n_in, n_out), rand(rows, n_out)
        ops = [("forward x@W", x, W, np.empty((rows, n_out), dtype), (rows, n_in, n_out)),
               ("weight grad x.T@d", x.T, d, np.empty((n_in, n_out), dtype), (n_in, rows, n_out))]
        if name != "enc.0":  # the data need no gradient
            ops.append(("input grad d@W.T", d, W.T, np.empty((rows, n_in), dtype), (rows, n_out, n_in)))
        for op, a, b, c, shape in ops:
            record = {"layer": f"{name} ({n_in}->{n_out})", "op": op, "shape": shape}
            products.append((record, lambda a=a, b=b, c=c: np.matmul(a, b, out=c)))
    return products


def _floor_summary(products, samples):
    """Per-product medians of `samples` (one list per product), summed: the floor."""
    records, total, total_p10, flops = [], 0.0, 0.0, 0.0
    for (record, _), times in zip(products, samples):
        t, t10 = float(np.median(times)), float(np.percentile(times, 10))
        records.append(dict(record, seconds=t, seconds_p10=t10))
        total += t
        total_p10 += t10
        flops += 2.0 * float(np.prod(record["shape"]))
    return {"seconds": total, "seconds_p10": total_p10, "flops": flops, "gflops": flops / total / 1e9,
            "products": records}


def gemm_floor(x_dim, hidden, z_dim, batch_size, dtype=np.float32, n_samples=1, seed=0, repeats=50):
    r"""Time the matrix products of one training step at their real shapes: the step's floor.

    Parameters
    ----------
    x_dim, hidden, z_dim : architecture, as for :class:`numvae.vae.VAE`
    batch_size : int
        N; the decoder sees N·n_samples rows.
    dtype : numpy floating dtype
    repeats : int
        Timed calls of each product (after one untimed call).

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
    products = _step_products(x_dim, hidden, z_dim, batch_size, dtype, n_samples, seed)
    for _, fn in products:
        fn()
    return _floor_summary(products, [_call_times(fn, repeats) for _, fn in products])


class _Stepper:
    """Runs real training steps as ``fit`` does: batches gathered in a seeded random order, ``train_step``, Adam."""

    def __init__(self, model, X, batch_size, seed=0, lr=1e-3):
        self.model, self.batch_size = model, batch_size
        self.rng = np.random.default_rng(seed)
        self.opt = Adam(model.params, lr=lr)
        self.batch = Batcher(X, batch_size)
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
            xb = self.batch(self.order[b * self.batch_size:(b + 1) * self.batch_size])  # (M, D)
            loss, problem = train_step(self.model, self.opt, xb, self.rng)
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
          steps=200, warmup_steps=20, k=1000, ll_n=1000, seed=0, data="given", rounds=5, progress=None):
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
        The steps and as many calls of each matrix product are timed in this
        many alternating rounds.
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
    steps, warmup_steps = check_int(steps, "steps", 1), check_int(warmup_steps, "warmup_steps", 0)
    rounds = min(check_int(rounds, "rounds", 1), steps)
    k, ll_n = check_int(k, "k", 0), check_int(ll_n, "ll_n", 0)
    hidden = tuple(hidden)
    x_dim = X.shape[1]
    Xd = X.astype(dtype, copy=False)
    result = {"arch": "-".join(str(w) for w in (x_dim, *hidden, z_dim)) + f" {activation}",
              "dtype": dtype, "data": data, "machine": machine_info(),
              "load_before": os.getloadavg()[0], "rows": []}
    model = None
    for bs in batch_sizes:
        bs = check_int(bs, "batch size", 1)
        # The floor and the step are measured in alternating rounds, so both
        # see the same (possibly shared, changing) machine.
        products = _step_products(x_dim, hidden, z_dim, bs, dtype, seed=seed)
        model = VAE(x_dim, hidden, z_dim, "bernoulli", activation, dtype=dtype, seed=seed)
        stepper = _Stepper(model, Xd, bs, seed)
        stepper.run(warmup_steps)
        for _, fn in products:
            fn()
        samples, step_times = [[] for _ in products], []
        for r in range(rounds):
            for times, (_, fn) in zip(samples, products):
                times += _call_times(fn, max(1, -(-steps // rounds)))
            step_times += stepper.run(steps // rounds + (r < steps % rounds))
        floor = _floor_summary(products, samples)
        p10, q25, step, q75 = (float(q) for q in np.percentile(step_times, [10, 25, 50, 75]))
        result["rows"].append({
            "batch_size": bs, "floor_s": floor["seconds"], "step_s": step, "step_iqr_s": (q25, q75),
            "ratio": step / floor["seconds"],
            # The fastest decile of each, a view less sensitive to other processes.
            "floor_p10_s": floor["seconds_p10"], "step_p10_s": p10, "ratio_p10": p10 / floor["seconds_p10"], "samples_per_s": bs / step,
            "epoch_s": step * EPOCH_ROWS / bs, "floor_epoch_s": floor["seconds"] * EPOCH_ROWS / bs,
            "floor_gflops": floor["gflops"], "step_gflops": floor["flops"] / step / 1e9,
            "products": floor["products"]})
        if progress is not None:
            progress.line(f"{result['arch']} batch {bs}: step {step * 1e3:.2f} ms, floor "
                          f"{floor['seconds'] * 1e3:.2f} ms", done=progress.done + 1)
    # Memory of the step: 5 more steps of the last model under tracemalloc.
    batch = Batcher(Xd, bs)
    opt = Adam(model.params)
    rng = np.random.default_rng(seed)
    train_step(model, opt, batch(np.arange(bs)), rng)

    def five_steps():
        for _ in range(5):
            train_step(model, opt, batch(np.arange(bs)), rng)

    memory = {"step_traced_peak_bytes": _traced_peak(five_steps)}
    if k and ll_n:
        xl = Xd[:ll_n]
        t0 = time.perf_counter()
        model.log_likelihood(xl, k=k, rng=seed)
        seconds = time.perf_counter() - t0
        # Memory on a tenth of the rows (peak does not grow with N: the work is blocked).
        peak = _traced_peak(lambda: model.log_likelihood(xl[:max(1, ll_n // 10)], k=k, rng=seed))
        result["log_likelihood"] = {"k": k, "n": ll_n, "seconds": seconds, "traced_peak_bytes": peak}
        if progress is not None:
            progress.line(f"{result['arch']} log_likelihood k={k} on {ll_n} rows: {seconds:.2f} s",
                          done=progress.done + 1)
    else:
        result["log_likelihood"] = None
    memory["max_rss_bytes"] = _max_rss_bytes()
    result["memory"] = memory
    result["load_after"] = os.getloadavg()[0]
    return result


def format_table(results):
    """A short plain-text table of :func:`bench` results (a list of them).

    The data the results were measured on is not repeated here: ``numvae
    bench`` prints it once, before measuring, and each result keeps it under
    ``"data"``.
    """
    lines = []
    m = results[0]["machine"]
    lines.append(f"numpy {m['numpy']}, {m['blas']}, {m['cpus']} CPUs")
    head = (f"{'architecture':<26}{'dtype':<8}{'batch':>6}{'floor ms':>10}{'step ms':>9}{'ratio':>7}"
            f"{'samples/s':>11}{'s/epoch':>9}{'floor s/ep':>11}{'GFLOP/s':>9}{'ratio p10':>10}")
    lines += [head, "-" * len(head)]
    for r in results:
        for row in r["rows"]:
            lines.append(f"{r['arch']:<26}{r['dtype']:<8}{row['batch_size']:>6}{row['floor_s'] * 1e3:>10.3f}"
                         f"{row['step_s'] * 1e3:>9.3f}{row['ratio']:>7.2f}{row['samples_per_s']:>11.0f}"
                         f"{row['epoch_s']:>9.2f}{row['floor_epoch_s']:>11.2f}{row['step_gflops']:>9.1f}"
                         f"{row['ratio_p10']:>10.2f}")
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
                 "s/epoch per 60,000 images; GFLOP/s = the products' FLOPs / step time; "
                 "ratio p10: the same ratio of 10th percentiles.")
    return "\n".join(lines)
