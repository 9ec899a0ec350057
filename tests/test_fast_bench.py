"""numvae.fast.bench and `numvae bench`: the fields are there and consistent. No timed assertions."""

import json
from collections import Counter
import sys

import numpy as np
import pytest

from numvae.fast.bench import bench, format_table, gemm_floor, layer_shapes, log_likelihood_blocks
from numvae.cli import main
from numvae.vae import VAE


def test_layer_shapes_fuse_the_encoder_output_and_mirror_the_decoder():
    assert layer_shapes(784, (400,), 20) == [("enc.0", 784, 400), ("enc.1", 400, 40),
                                             ("dec.0", 20, 400), ("dec.1", 400, 784)]
    assert layer_shapes(6, (), 2) == [("enc.0", 6, 4), ("dec.0", 2, 6)]


def test_gemm_floor_times_every_product_of_a_step_but_the_data_gradient_in_the_step_order():
    f = gemm_floor(12, (8, 5), 3, batch_size=4, dtype=np.float32, n_samples=2, repeats=3)
    ops = [(p["layer"].split()[0], p["op"].split()[0]) for p in f["products"]]
    # 6 layers x 3 products, minus the input gradient of the first encoder layer, in the order
    # of the step: forward encoder then decoder, backward decoder then encoder, each layer's
    # weight gradient before its input gradient (numvae.nn.Linear.backward).
    assert ops == ([(f"enc.{i}", "forward") for i in range(3)] + [(f"dec.{i}", "forward") for i in range(3)]
                   + [(f"dec.{i}", op) for i in (2, 1, 0) for op in ("weight", "input")]
                   + [("enc.2", "weight"), ("enc.2", "input"), ("enc.1", "weight"), ("enc.1", "input"),
                      ("enc.0", "weight")])
    # FLOPs: 2 m k n per product; the decoder sees N * n_samples = 8 rows.
    fwd = {p["layer"].split()[0]: p["shape"] for p in f["products"] if p["op"].startswith("forward")}
    assert fwd["enc.0"] == (4, 12, 8) and fwd["enc.2"] == (4, 5, 6) and fwd["dec.0"] == (8, 3, 5)
    assert f["flops"] == sum(2.0 * np.prod(p["shape"]) for p in f["products"])
    # The floor sums each product's median; the spread is that of whole passes.
    assert f["seconds"] == pytest.approx(sum(p["seconds"] for p in f["products"]))
    assert 0 < f["seconds_p10"] <= f["seconds_p90"] and f["spread"] >= 0
    assert f["gflops"] == pytest.approx(f["flops"] / f["seconds"] / 1e9)


def test_the_floor_products_compute_the_layers_products_on_the_model_arrays():
    from numvae.fast.bench import _step_products

    model = VAE(6, (4,), 2, dtype=np.float64, seed=0)
    products = _step_products(model, batch_size=3, n_samples=2)
    for _, fn in products:
        fn()
    # Each weight-gradient product wrote x.T @ d into the model's own gradient array,
    # with x the forward input and d the upstream gradient it was handed.
    for record, fn in products:
        name = record["layer"].split()[0]
        if record["op"].startswith("weight"):
            x, d, dW = fn.__defaults__
            assert dW is model.grads[f"{name}.W"]
            np.testing.assert_allclose(dW, x.T @ d, rtol=1e-12)
        elif record["op"].startswith("forward"):
            x, W, y = fn.__defaults__
            assert W is model.params[f"{name}.W"]
            np.testing.assert_allclose(y, x @ W, rtol=1e-12)
    # The outputs chain as in the step: enc.0's output is enc.1's input, dec.1's input gradient is dec.0's d.
    by = {(r["layer"].split()[0], r["op"].split()[0]): fn.__defaults__ for r, fn in products}
    assert by[("enc.1", "forward")][0] is by[("enc.0", "forward")][2]
    assert by[("dec.0", "weight")][1] is by[("dec.1", "input")][2]
    assert by[("dec.1", "forward")][0].shape == (6, 4)          # the decoder on N * n_samples rows


def test_blas_runtime_reads_the_loaded_openblas_or_says_unknown(tmp_path):
    from numvae.fast.bench import _loaded_libraries, blas_runtime, machine_info

    found = blas_runtime()
    for b in found:
        assert set(b) == {"library", "numpy", "core", "threads", "config"}
        assert b["library"].startswith("lib") and "blas" in b["library"].lower()
    openblas = [b for b in found if "openblas" in b["library"].lower()]
    if sys.platform == "linux" and "openblas" in machine_info()["blas"].lower():
        # NumPy built on OpenBLAS, on Linux: it is found, it answers, first, with a real thread count.
        assert openblas and found[0]["numpy"]
    assert all(isinstance(b["threads"], int) and b["threads"] >= 1 for b in openblas)
    assert all(b["core"] != "unknown" and "OpenBLAS" in b["config"] for b in openblas)
    # A maps file listing no BLAS, or none at all: nothing found, no error.
    maps = tmp_path / "maps"
    maps.write_text("7f00-7f01 r-xp 00000000 00:00 0  /usr/lib/libc.so.6\n")
    assert _loaded_libraries(str(maps)) == []
    assert _loaded_libraries(str(tmp_path / "missing")) == []


def test_bench_on_a_tiny_config_returns_every_field():
    X = np.random.default_rng(0).random((300, 10))
    r = bench(X, hidden=(7,), z_dim=2, activation="tanh", batch_sizes=(20, 50), steps=5, warmup_steps=1,
              k=7, ll_n=15, data="random")
    assert r["arch"] == "10-7-2 tanh" and r["dtype"] == "float32" and r["data"] == "random"
    assert [row["batch_size"] for row in r["rows"]] == [20, 50]
    for row in r["rows"]:
        assert row["ratio"] == pytest.approx(row["step_s"] / row["floor_s"])
        # The split adds up to the step, its shares to 1; the rest is what the four pieces leave.
        split = row["split_s"]
        assert list(split) == ["products", "elementwise", "likelihood_kl", "optimizer", "rest"]
        assert sum(split.values()) == pytest.approx(row["step_s"])
        assert sum(row["split_share"].values()) == pytest.approx(1.0)
        assert split["products"] == row["floor_s"] and all(split[k] > 0 for k in list(split)[:4])
        assert row["floor_s"] == pytest.approx(sum(p["seconds"] for p in row["products"]))
        assert row["floor_p10_s"] <= row["floor_p90_s"] and len(row["floor_round_s"]) == 5
        assert row["samples_per_s"] == pytest.approx(row["batch_size"] / row["step_s"])
        assert row["epoch_s"] == pytest.approx(row["step_s"] * 60_000 / row["batch_size"])
        assert row["step_iqr_s"][0] <= row["step_s"] <= row["step_iqr_s"][1]
    ll = r["log_likelihood"]
    assert ll["k"] == 7 and ll["seconds"] > 0 and ll["floor_s"] > 0
    assert ll["ratio"] == pytest.approx(ll["seconds"] / ll["floor_s"])
    assert r["memory"]["step_traced_peak_bytes"] > 0 and r["memory"]["max_rss_bytes"] > 0
    json.dumps(r)  # the CLI writes it as JSON
    text = format_table([r])
    assert "10-7-2 tanh" in text and "ratio" in text and "log_likelihood k=7 on 15 rows" in text
    assert "10-7-2 tanh batch 20: products" in text and "load average (1, 5, 15 min)" in text
    assert len(r["load_avg_before"]) == 3 and r["threads"] == 1


def test_bench_times_the_plain_path_when_asked():
    X = np.random.default_rng(0).random((300, 10))
    r = bench(X, hidden=(7,), z_dim=2, batch_sizes=(20,), steps=3, warmup_steps=1, k=0, fast=False)
    assert r["fast"] is False and r["rows"][0]["optimizer_other_threads_s"] is None
    assert r["rows"][0]["step_s"] > 0 and "plain teaching path" in format_table([r])
    assert "fast wing" in format_table([bench(X, hidden=(7,), z_dim=2, batch_sizes=(20,), steps=2, k=0)])


def test_cli_bench_plain_refuses_two_threads(capsys):
    assert main(["bench", "--plain", "--threads", "2", "--quiet"]) == 2
    assert "--plain times the teaching path" in capsys.readouterr().err


def test_bench_rejects_bad_arguments():
    X = np.random.default_rng(0).random((30, 4))
    with pytest.raises(ValueError, match="dtype"):
        bench(X, hidden=(3,), z_dim=2, dtype="float16")
    with pytest.raises(ValueError, match="at least batch_size = 100 rows"):
        bench(X, hidden=(3,), z_dim=2, batch_sizes=(100,), steps=1, k=0)


def test_cli_bench_prints_the_table_and_writes_json(tmp_path, capsys, monkeypatch):
    import numvae.fast.bench as bench_module

    # Small random data instead of Fashion-MNIST, so the test takes a second.
    X = np.random.default_rng(0).random((200, 784))
    monkeypatch.setattr(bench_module, "load_bench_data", lambda root=None, seed=0: (X, "random test data"))
    out = tmp_path / "bench.json"
    code = main(["bench", "--hidden", "16", "--z-dim", "2", "--batch-size", "20,40", "--steps", "3",
                 "--warmup-steps", "1", "--k", "5", "--ll-n", "10", "--only", "--json", str(out)])
    assert code == 0
    captured = capsys.readouterr()
    text = captured.out
    assert text.count("random test data") == 1  # the data line, once
    assert "784-16-2 relu" in text and "200-200" not in text
    results = json.loads(out.read_text())
    assert len(results) == 1 and [r["batch_size"] for r in results[0]["rows"]] == [20, 40]
    assert results[0]["log_likelihood"]["k"] == 5
    # Progress: one whole line per batch size and one for the log-likelihood, on stderr.
    progress = captured.err.splitlines()
    assert len(progress) == 3 and all(line.startswith("bench") and "ETA" in line for line in progress)
    assert "\r" not in captured.err and progress[-1].split()[1] == "100%"


def test_cli_bench_old_option_spellings_still_work_and_quiet_silences(capsys, monkeypatch):
    import numvae.fast.bench as bench_module

    X = np.random.default_rng(0).random((100, 784))
    monkeypatch.setattr(bench_module, "load_bench_data", lambda root=None, seed=0: (X, "random test data"))
    assert main(["bench", "--hidden", "8", "--latent", "3", "--batch-size", "20", "--steps", "2",
                 "--warmup", "0", "--ll-k", "0", "--only", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "784-8-3 relu" in captured.out and "log_likelihood: skipped" in captured.out
    assert captured.err == ""


@pytest.mark.parametrize("k, n", [(7, 15), (1000, 250), (3, 1)])
def test_log_likelihood_floor_counts_the_decoder_passes_log_likelihood_makes(k, n):
    # The floor times the decoder's products on the block shapes it counts: the counts
    # must be those of the real estimate, recorded by spying on the decoder.
    model = VAE(784, hidden=(40,), z_dim=3, seed=0)
    seen = Counter()
    forward = model.decoder.forward

    def spy(z, **kwargs):
        seen[z.shape[0] * z.shape[1]] += 1
        return forward(z, **kwargs)

    model.decoder.forward = spy
    model.log_likelihood(np.full((n, 784), 0.5), k=k, rng=0)
    assert log_likelihood_blocks(model, k, n) == dict(seen)
    assert sum(rows * count for rows, count in seen.items()) == k * n


def test_bench_objective_times_iwae_against_the_elbo_with_k_samples_and_their_floor():
    from numvae.fast.bench import bench_objective, format_objective_table
    from numvae.objectives import IWAE

    X = np.random.default_rng(0).uniform(size=(200, 30))
    row = bench_objective(X, IWAE(4, "dreg"), hidden=(16,), z_dim=3, batch_size=50, steps=4, warmup_steps=1,
                          rounds=2)
    assert row["k"] == 4 and row["objective"] == {"name": "iwae", "k": 4, "estimator": "dreg"}
    assert all(row[key] > 0 for key in ("step_s", "elbo_step_s", "floor_s"))
    assert row["ratio_to_floor"] == row["step_s"] / row["floor_s"]
    # The (k, N, D) block is not copied more than the ELBO step with L = k copies it: the only extra
    # allocations are (k, N) arrays of weights, well under a tenth of the step's peak.
    assert row["traced_peak_bytes"] <= 1.1 * row["elbo_traced_peak_bytes"]
    assert "dreg" in format_objective_table([row])


def test_cli_bench_objective_prints_the_iwae_table_and_writes_json(tmp_path, capsys, monkeypatch):
    import numvae.fast.bench as bench_module

    X = np.random.default_rng(0).random((200, 784))
    monkeypatch.setattr(bench_module, "load_bench_data", lambda root=None, seed=0: (X, "random test data"))
    out = tmp_path / "iwae.json"
    assert main(["bench", "--objective", "dreg", "--iwae-k", "3", "--hidden", "16", "--z-dim", "2",
                 "--batch-size", "20,40", "--steps", "2", "--warmup-steps", "0", "--json", str(out)]) == 0
    assert "iwae(dreg, k=3)" in capsys.readouterr().out
    rows = json.loads(out.read_text())
    assert [r["batch_size"] for r in rows] == [20, 40] and all(r["k"] == 3 for r in rows)
