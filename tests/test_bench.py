"""numvae.bench and `numvae bench`: the fields are there and consistent. No timed assertions."""

import json

import numpy as np
import pytest

from numvae.bench import bench, format_table, gemm_floor, layer_shapes
from numvae.cli import main


def test_layer_shapes_fuse_the_encoder_output_and_mirror_the_decoder():
    assert layer_shapes(784, (400,), 20) == [("enc.0", 784, 400), ("enc.1", 400, 40),
                                             ("dec.0", 20, 400), ("dec.1", 400, 784)]
    assert layer_shapes(6, (), 2) == [("enc.0", 6, 4), ("dec.0", 2, 6)]


def test_gemm_floor_times_every_product_of_a_step_but_the_data_gradient():
    f = gemm_floor(12, (8, 5), 3, batch_size=4, dtype=np.float32, n_samples=2, repeats=3)
    ops = [(p["layer"].split()[0], p["op"].split()[0]) for p in f["products"]]
    # 6 layers x 3 products, minus the input gradient of the first encoder layer.
    assert len(ops) == 17 and ("enc.0", "input") not in ops and ("enc.1", "input") in ops
    # FLOPs: 2 m k n per product; the decoder sees N * n_samples = 8 rows.
    fwd = {p["layer"].split()[0]: p["shape"] for p in f["products"] if p["op"].startswith("forward")}
    assert fwd["enc.0"] == (4, 12, 8) and fwd["dec.0"] == (8, 3, 5)
    assert f["flops"] == sum(2.0 * np.prod(p["shape"]) for p in f["products"])
    assert f["seconds"] == pytest.approx(sum(p["seconds"] for p in f["products"]))
    assert f["seconds"] > 0 and f["gflops"] > 0


def test_bench_on_a_tiny_config_returns_every_field():
    X = np.random.default_rng(0).random((300, 10))
    r = bench(X, hidden=(7,), z_dim=2, activation="tanh", batch_sizes=(20, 50), steps=5, warmup_steps=1,
              k=7, ll_n=15, data="random")
    assert r["arch"] == "10-7-2 tanh" and r["dtype"] == "float32" and r["data"] == "random"
    assert [row["batch_size"] for row in r["rows"]] == [20, 50]
    for row in r["rows"]:
        assert row["ratio"] == pytest.approx(row["step_s"] / row["floor_s"])
        assert row["samples_per_s"] == pytest.approx(row["batch_size"] / row["step_s"])
        assert row["epoch_s"] == pytest.approx(row["step_s"] * 60_000 / row["batch_size"])
        assert row["step_iqr_s"][0] <= row["step_s"] <= row["step_iqr_s"][1]
    assert r["log_likelihood"]["k"] == 7 and r["log_likelihood"]["seconds"] > 0
    assert r["memory"]["step_traced_peak_bytes"] > 0 and r["memory"]["max_rss_bytes"] > 0
    json.dumps(r)  # the CLI writes it as JSON
    text = format_table([r])
    assert "10-7-2 tanh" in text and "ratio" in text and "log_likelihood k=7 on 15 rows" in text


def test_bench_rejects_bad_arguments():
    X = np.random.default_rng(0).random((30, 4))
    with pytest.raises(ValueError, match="dtype"):
        bench(X, hidden=(3,), z_dim=2, dtype="float16")
    with pytest.raises(ValueError, match="at least batch_size = 100 rows"):
        bench(X, hidden=(3,), z_dim=2, batch_sizes=(100,), steps=1, k=0)


def test_cli_bench_prints_the_table_and_writes_json(tmp_path, capsys, monkeypatch):
    import numvae.bench as bench_module

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
    import numvae.bench as bench_module

    X = np.random.default_rng(0).random((100, 784))
    monkeypatch.setattr(bench_module, "load_bench_data", lambda root=None, seed=0: (X, "random test data"))
    assert main(["bench", "--hidden", "8", "--latent", "3", "--batch-size", "20", "--steps", "2",
                 "--warmup", "0", "--ll-k", "0", "--only", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "784-8-3 relu" in captured.out and "log_likelihood: skipped" in captured.out
    assert captured.err == ""
