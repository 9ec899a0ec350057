"""Tests of numvae.data: embedded datasets, IDX files, search order, fetch, synthetic data, preprocessing.

References are independent of the code under test: class counts from UCI's
``optdigits.names``, IDX bytes assembled by hand with ``struct``, MD5s computed
here with hashlib, covariances from the model's closed form. Nothing touches the
real network: ``fetch`` is tested against an HTTP server on 127.0.0.1.
"""

import csv
import gzip
import hashlib
import http.server
import pkgutil
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

import numvae
from numvae import cli, data
from numvae.data import read_idx
# The search order reads its folders (EMBEDDED_DATA_DIR, SYSTEM_DATA_DIR) from the
# module that owns them at call time, so that is where the tests point them elsewhere.
from numvae.data import search

LEVELS_DIGITS = 17


@pytest.fixture(autouse=True)
def _no_user_data_dir(tmp_path_factory, monkeypatch):
    # A developer's own $NUMVAE_DATA or user cache must not change what these tests find.
    monkeypatch.delenv("NUMVAE_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg_cache")))


def _md5(b):
    return hashlib.md5(b).hexdigest()


def _idx_bytes(code, dims, payload):
    """An IDX file assembled by hand: 00 00, dtype code, ndim, big-endian uint32 dims, payload."""
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + payload


def _write_fake_mnist(folder, prefix, n, seed, gz=True):
    """Write `n` random 28x28 uint8 images and labels as `prefix`-*-ubyte[.gz]; return (images, labels)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    ext = ".gz" if gz else ""
    data.write_idx(folder / f"{prefix}-images-idx3-ubyte{ext}", images)
    data.write_idx(folder / f"{prefix}-labels-idx1-ubyte{ext}", labels)
    return images, labels


# --- Embedded digits ---------------------------------------------------------

# UCI optdigits.names, "Class: No of examples in testing set" (optdigits.tes).
UCI_TEST_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_digits_shape_range_levels_and_class_counts():
    X, y = data.load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float64
    assert y.shape == (1797,) and np.issubdtype(y.dtype, np.integer)
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(np.unique(X * 16), np.arange(LEVELS_DIGITS))  # all 17 grey levels occur
    np.testing.assert_array_equal(np.bincount(y, minlength=10), UCI_TEST_COUNTS)


def test_digits_match_the_csv_read_independently():
    with gzip.open(data.EMBEDDED_DATA_DIR / "digits.csv.gz", "rt") as f:
        rows = [[int(v) for v in row] for row in csv.reader(f)]
    table = np.array(rows)
    X, y = data.load_digits()
    np.testing.assert_array_equal(X * 16, table[:, :64])
    np.testing.assert_array_equal(y, table[:, 64])


def test_digits_found_from_another_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert data.load_digits()[0].shape == (1797, 64)


def test_digits_root_overrides_and_bad_file_is_rejected(tmp_path):
    rows = "\n".join(",".join(["16"] * 64 + ["3"]) for _ in range(2)) + "\n"
    with gzip.open(tmp_path / "digits.csv.gz", "wt") as f:
        f.write(rows)
    X, y = data.load_digits(root=tmp_path)
    assert X.shape == (2, 64) and np.all(X == 1.0) and list(y) == [3, 3]
    with gzip.open(tmp_path / "digits.csv.gz", "wt") as f:
        f.write(",".join(["17"] * 64 + ["3"]) + "\n")
    with pytest.raises(ValueError, match="pixels in 0..16"):
        data.load_digits(root=tmp_path)


# --- Embedded Fashion-MNIST test split --------------------------------------

def test_fashion_mnist_test_split_is_embedded():
    X, y = data.load_mnist_like("fashion-mnist", "test")
    assert X.shape == (10000, 784) and X.dtype == np.float64
    assert X.min() == 0.0 and X.max() == 1.0
    assert np.all(X * 255 == np.round(X * 255))  # 8-bit grey levels
    np.testing.assert_array_equal(np.bincount(y, minlength=10), [1000] * 10)


@pytest.mark.parametrize("stem", ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"])
def test_embedded_fashion_mnist_is_the_official_release(stem):
    # Debian rewrote the gzip header (no file name, new timestamp). Putting the
    # original header back must give the MD5 Zalando publishes, which proves the
    # compressed data is the official file and checks the MD5 recorded for fetch.
    raw = (data.EMBEDDED_DATA_DIR / "fashion-mnist" / f"{stem}.gz").read_bytes()
    assert raw[:4] == b"\x1f\x8b\x08\x00"  # gzip, deflate, no optional fields
    original_mtime = 1504176627  # 2017-08-31 10:50:27 UTC
    restored = (b"\x1f\x8b\x08\x08" + struct.pack("<I", original_mtime) + b"\x00\x03"
                + stem.encode() + b"\x00" + raw[10:])
    assert _md5(restored) == data.MD5["fashion-mnist"][f"{stem}.gz"]
    assert _md5(raw) == data.REPACKED_MD5["fashion-mnist"][f"{stem}.gz"]
    assert gzip.decompress(restored) == gzip.decompress(raw)


# --- IDX files -------------------------------------------------------------------

def test_read_idx_reads_hand_built_bytes(tmp_path):
    p = tmp_path / "u8"
    p.write_bytes(_idx_bytes(0x08, (2, 3), bytes(range(6))))
    np.testing.assert_array_equal(data.read_idx(p), [[0, 1, 2], [3, 4, 5]])
    p = tmp_path / "f8"
    p.write_bytes(_idx_bytes(0x0E, (2,), struct.pack(">2d", 1.5, -2.25)))  # big-endian doubles
    out = data.read_idx(p)
    assert out.dtype == np.float64 and list(out) == [1.5, -2.25]
    p = tmp_path / "i2"
    p.write_bytes(_idx_bytes(0x0B, (3,), struct.pack(">3h", -1, 256, 7)))
    assert list(data.read_idx(p)) == [-1, 256, 7]


def test_write_idx_writes_the_hand_built_bytes(tmp_path):
    arr = np.arange(6, dtype=np.uint8).reshape(2, 3)
    data.write_idx(tmp_path / "a", arr)
    assert (tmp_path / "a").read_bytes() == _idx_bytes(0x08, (2, 3), bytes(range(6)))
    data.write_idx(tmp_path / "a.gz", arr)
    assert gzip.decompress((tmp_path / "a.gz").read_bytes()) == _idx_bytes(0x08, (2, 3), bytes(range(6)))


@pytest.mark.parametrize("dtype, shape", [
    (np.uint8, (5, 4, 3)), (np.uint8, (7,)), (np.int8, (4, 2)), (np.int16, (3, 2, 2)),
    (np.int32, (6,)), (np.float32, (2, 3, 4)), (np.float32, (9,)), (np.float64, (3, 1, 5)),
])
@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trip(tmp_path, dtype, shape, compress):
    rng = np.random.default_rng(0)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        arr = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    else:
        arr = rng.standard_normal(shape).astype(dtype)
    # The name says the opposite of the content: compression is read from the magic bytes.
    path = tmp_path / ("plain_name" if compress else "misleading.gz")
    data.write_idx(path, arr, compress=compress)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == compress
    out = data.read_idx(path)
    assert out.dtype == arr.dtype and out.shape == arr.shape
    np.testing.assert_array_equal(out, arr)


@pytest.mark.parametrize("content, problem", [
    (_idx_bytes(0x08, (2, 3), bytes(5)), "truncated, header dims"),
    (_idx_bytes(0x08, (2, 3), bytes(7)), "wrong size, header dims"),
    (_idx_bytes(0x0D, (2,), bytes(7)), "need a 8-byte payload"),  # float32 items are 4 bytes
    (b"\x01\x00" + _idx_bytes(0x08, (1,), b"\x05")[2:], "bad magic number"),
    (_idx_bytes(0x0A, (1,), b"\x05"), "unknown dtype code 0x0A"),
    (bytes([0, 0, 0x08, 0]), "declares 0 dimensions"),
    (bytes([0, 0, 0x08, 3]) + struct.pack(">I", 10), "truncated header"),
    (b"\x00\x00", "too short"),
])
def test_read_idx_rejects_bad_files(tmp_path, content, problem):
    for name, blob in (("bad.idx", content), ("bad.idx.gz", gzip.compress(content))):
        path = tmp_path / name
        path.write_bytes(blob)
        with pytest.raises(ValueError, match=problem) as err:
            data.read_idx(path)
        assert str(path) in str(err.value)


def test_read_idx_rejects_corrupt_and_truncated_gzip(tmp_path):
    good = gzip.compress(_idx_bytes(0x08, (400,), np.random.default_rng(1).bytes(400)))
    corrupt = bytearray(good)
    corrupt[20:30] = bytes(10)  # damage the deflate stream
    cases = {"corrupt.gz": bytes(corrupt), "cut.gz": good[: len(good) // 2], "nocrc.gz": good[:-4]}
    for name, blob in cases.items():
        path = tmp_path / name
        path.write_bytes(blob)
        with pytest.raises(ValueError, match="corrupt or truncated gzip") as err:
            data.read_idx(path)
        assert str(path) in str(err.value)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.read_idx(tmp_path / "nothing")


def test_write_idx_rejects_bad_arrays(tmp_path):
    with pytest.raises(ValueError, match="array must have an IDX dtype.*got bool"):
        data.write_idx(tmp_path / "a", np.zeros(3, dtype=bool))
    with pytest.raises(ValueError, match=r"array must have 1 to 255 dimensions.*got shape \(\)"):
        data.write_idx(tmp_path / "a", np.uint8(3))
    assert not list(tmp_path.iterdir())


# --- load_mnist_like: where it looks ----------------------------------------------

@pytest.fixture
def places(tmp_path, monkeypatch):
    """One folder per search location, each holding a train split of a distinct size."""
    dirs = {k: tmp_path / k for k in ("root", "env", "xdg", "embedded", "system")}
    for k, d in dirs.items():
        d.mkdir()
    dirs["cache"] = dirs["xdg"] / "numvae"
    monkeypatch.setenv("XDG_CACHE_HOME", str(dirs["xdg"]))
    monkeypatch.setattr(search, "EMBEDDED_DATA_DIR", dirs["embedded"])
    monkeypatch.setattr(search, "SYSTEM_DATA_DIR", dirs["system"])
    # Sizes say which folder was read. The embedded, cache and system ones sit
    # in a <name>/ subfolder, the embedded one with plain (not gzipped) files;
    # the others are flat and gzipped.
    for k in ("embedded", "cache", "system"):
        (dirs[k] / "mnist").mkdir(parents=True)
    _write_fake_mnist(dirs["root"], "train", 1, seed=1)
    _write_fake_mnist(dirs["env"], "train", 2, seed=2)
    _write_fake_mnist(dirs["cache"] / "mnist", "train", 3, seed=3)
    _write_fake_mnist(dirs["embedded"] / "mnist", "train", 4, seed=4, gz=False)
    _write_fake_mnist(dirs["system"] / "mnist", "train", 5, seed=5)
    return dirs


def test_search_order_root_env_cache_embedded_system(places, monkeypatch):
    monkeypatch.setenv("NUMVAE_DATA", str(places["env"]))
    assert len(data.load_mnist_like("mnist", "train", root=places["root"])[0]) == 1
    assert len(data.load_mnist_like("mnist", "train")[0]) == 2
    monkeypatch.delenv("NUMVAE_DATA")
    assert len(data.load_mnist_like("mnist", "train")[0]) == 3
    monkeypatch.setenv("XDG_CACHE_HOME", str(places["root"].parent / "empty"))
    assert len(data.load_mnist_like("mnist", "train")[0]) == 4
    monkeypatch.setattr(search, "EMBEDDED_DATA_DIR", places["root"].parent / "empty")
    assert len(data.load_mnist_like("mnist", "train")[0]) == 5


def test_cache_dir_follows_xdg_and_falls_back_to_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert data.cache_dir() == tmp_path / "numvae"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for unset in ("", "relative/path"):  # the XDG spec: relative values are ignored
        monkeypatch.setenv("XDG_CACHE_HOME", unset)
        assert data.cache_dir() == tmp_path / "home" / ".cache" / "numvae"


def test_digits_not_found_names_every_place_and_says_to_reinstall(tmp_path, monkeypatch):
    monkeypatch.setattr(search, "EMBEDDED_DATA_DIR", tmp_path / "gone")
    with pytest.raises(FileNotFoundError, match="digits not found") as err:
        data.load_digits(root=tmp_path / "root")
    msg = str(err.value)
    for place in (tmp_path / "root", data.cache_dir(), tmp_path / "gone"):
        assert str(place) in msg
    assert "reinstall numvae" in msg and "/usr/share/datasets" not in msg
    with pytest.raises(ValueError, match="split must be None for the digits"):
        data.locate("digits", "train")


def test_digits_data_root_is_searched_first(tmp_path):
    (tmp_path / "digits").mkdir()
    with gzip.open(tmp_path / "digits" / "digits.csv.gz", "wt") as f:
        f.write(",".join(["8"] * 64 + ["1"]) + "\n")
    X, y = data.load_digits(root=tmp_path)
    assert X.shape == (1, 64) and np.all(X == 0.5) and list(y) == [1]


def test_named_subfolder_beats_files_beside_it(places):
    _write_fake_mnist(places["root"] / "mnist", "train", 6, seed=6)
    assert len(data.load_mnist_like("mnist", "train", root=places["root"])[0]) == 6


def test_load_mnist_like_values(places):
    images, labels = _write_fake_mnist(places["root"], "t10k", 6, seed=6)
    X, y = data.load_mnist_like("mnist", "test", root=places["root"])
    assert X.shape == (6, 784) and X.dtype == np.float64 and y.dtype == np.int64
    np.testing.assert_array_equal(X, images.reshape(6, 784) / 255.0)
    np.testing.assert_array_equal(y, labels)


def test_not_found_lists_every_place_and_how_to_get_it(places, monkeypatch):
    monkeypatch.setenv("NUMVAE_DATA", str(places["env"]))
    with pytest.raises(FileNotFoundError, match="fashion-mnist test split not found") as err:
        data.load_mnist_like("fashion-mnist", "test", root=places["root"])
    msg = str(err.value)
    for folder in ("root", "env", "cache", "embedded"):
        assert str(places[folder]) in msg and str(places[folder] / "fashion-mnist") in msg
    assert str(places["system"] / "fashion-mnist") in msg
    assert "apt-get install dataset-fashion-mnist" in msg and "numvae data fetch fashion-mnist" in msg


def test_mismatched_or_bad_files_are_rejected(tmp_path):
    data.write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((3, 28, 28), np.uint8))
    data.write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(4, np.uint8))
    with pytest.raises(ValueError, match="has 3 images but .* has 4 labels"):
        data.load_mnist_like("mnist", "train", root=tmp_path)
    data.write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.full(3, 10, np.uint8))
    with pytest.raises(ValueError, match="labels 0..9; got a maximum of 10"):
        data.load_mnist_like("mnist", "train", root=tmp_path)
    data.write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((3, 784), np.float32))
    with pytest.raises(ValueError, match=r"uint8 images of shape \(N, rows, cols\)"):
        data.load_mnist_like("mnist", "train", root=tmp_path)


def test_unknown_name_or_split():
    with pytest.raises(ValueError, match="name must be one of .*got 'cifar'"):
        data.load_mnist_like("cifar", "train")
    with pytest.raises(ValueError, match="split must be one of .*got 'val'"):
        data.load_mnist_like("mnist", "val")


# --- fetch, against a server on 127.0.0.1 ----------------------------------------

@pytest.fixture
def server(tmp_path, monkeypatch):
    """Serve tmp_path/served over HTTP on an ephemeral loopback port; record request paths."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    served = tmp_path / "served"
    served.mkdir()
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(served), **kwargs)

        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):  # keep pytest's output clean
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{httpd.server_address[1]}/", requests
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def _serve_fake_mnist(served):
    train = _write_fake_mnist(served, "train", 5, seed=10)
    test = _write_fake_mnist(served, "t10k", 3, seed=11)
    checksums = {p.name: _md5(p.read_bytes()) for p in served.iterdir()}
    return train, test, checksums


def test_fetch_downloads_verifies_and_skips_good_files(server, tmp_path):
    served, url, requests = server
    (train_images, train_labels), _, checksums = _serve_fake_mnist(served)
    dest = tmp_path / "dest"
    paths = data.fetch("mnist", dest, base_url=url, checksums=checksums)
    assert sorted(p.name for p in dest.iterdir()) == sorted(checksums) == sorted(p.name for p in paths)
    assert len(requests) == 4
    X, y = data.load_mnist_like("mnist", "train", root=dest)
    np.testing.assert_array_equal(X, train_images.reshape(5, 784) / 255.0)
    np.testing.assert_array_equal(y, train_labels)
    data.fetch("mnist", dest, base_url=url, checksums=checksums)
    assert len(requests) == 4  # all present with good checksums: nothing downloaded again


def test_fetch_rejects_a_corrupt_download_and_keeps_nothing(server, tmp_path):
    served, url, _ = server
    _, _, checksums = _serve_fake_mnist(served)
    first = "train-images-idx3-ubyte.gz"
    blob = bytearray((served / first).read_bytes())
    blob[-10] ^= 0xFF  # one flipped byte in transit
    (served / first).write_bytes(bytes(blob))
    dest = tmp_path / "cache" / "numvae" / "mnist"
    with pytest.raises(ValueError, match=f"checksum mismatch for {url}{first}"):
        data.fetch("mnist", dest, base_url=url, checksums=checksums)
    # No file, no temporary file, and none of the three folders fetch created.
    assert list(tmp_path.iterdir()) == [served]


def test_fetch_http_error_keeps_nothing(server, tmp_path):
    served, url, _ = server
    _, _, checksums = _serve_fake_mnist(served)
    (served / "train-images-idx3-ubyte.gz").unlink()
    dest = tmp_path / "dest"
    with pytest.raises(OSError, match="could not download .*train-images-idx3-ubyte.gz"):
        data.fetch("mnist", dest, base_url=url, checksums=checksums)
    assert not dest.exists()
    dest.mkdir()  # a folder that was there before is left, empty
    with pytest.raises(OSError, match="could not download"):
        data.fetch("mnist", dest, base_url=url, checksums=checksums)
    assert dest.is_dir() and list(dest.iterdir()) == []


def test_fetch_keeps_files_verified_before_a_failure(server, tmp_path):
    served, url, _ = server
    _, _, checksums = _serve_fake_mnist(served)
    (served / "t10k-images-idx3-ubyte.gz").unlink()  # the third of the four files
    dest = tmp_path / "dest"
    with pytest.raises(OSError, match="could not download .*t10k-images"):
        data.fetch("mnist", dest, base_url=url, checksums=checksums)
    assert sorted(p.name for p in dest.iterdir()) == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]


def test_fetch_keeps_debian_repacked_files(server, tmp_path):
    # The embedded t10k files are Debian's repack; fetch must not download them again.
    served, url, requests = server
    _write_fake_mnist(served, "train", 2, seed=12)
    checksums = {p.name: _md5(p.read_bytes()) for p in served.iterdir()}
    checksums.update({k: v for k, v in data.MD5["fashion-mnist"].items() if k.startswith("t10k")})
    dest = tmp_path / "dest"
    dest.mkdir()
    for stem in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (dest / stem).write_bytes((data.EMBEDDED_DATA_DIR / "fashion-mnist" / stem).read_bytes())
    data.fetch("fashion-mnist", dest, base_url=url, checksums=checksums)
    assert sorted(requests) == ["/train-images-idx3-ubyte.gz", "/train-labels-idx1-ubyte.gz"]
    assert data.load_mnist_like("fashion-mnist", "test", root=dest)[0].shape == (10000, 784)


def test_fetch_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="name must be one of"):
        data.fetch("cifar", tmp_path)
    with pytest.raises(ValueError, match="checksums must give an MD5 .*missing"):
        data.fetch("mnist", tmp_path, base_url="http://127.0.0.1:9/", checksums={"x": "0"})


def test_cli_data_fetch(server, tmp_path, monkeypatch, capsys):
    served, url, _ = server
    _, _, checksums = _serve_fake_mnist(served)
    monkeypatch.setitem(data.MIRRORS, "mnist", url)
    monkeypatch.setitem(data.MD5, "mnist", checksums)
    dest = tmp_path / "dest"
    assert cli.main(["data", "fetch", "mnist", "--dest", str(dest)]) == 0
    assert sorted(p.name for p in dest.iterdir()) == sorted(checksums)
    assert f"load_mnist_like('mnist', 'train', root={str(dest)!r})" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["data", "fetch", "cifar"])


def test_default_fetch_dest_is_numvae_data_or_the_user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data.default_fetch_dest("mnist") == tmp_path / "xdg" / "numvae" / "mnist"
    monkeypatch.setenv("NUMVAE_DATA", str(tmp_path))
    assert data.default_fetch_dest("fashion-mnist") == tmp_path / "fashion-mnist"
    # Never inside the installed package.
    package = Path(numvae.__file__).resolve().parent
    monkeypatch.delenv("NUMVAE_DATA")
    assert package not in data.default_fetch_dest("mnist").resolve().parents


def test_cli_data_fetch_saves_into_the_user_cache_where_loaders_find_it(server, tmp_path, monkeypatch, capsys):
    served, url, _ = server
    (train_images, _), _, checksums = _serve_fake_mnist(served)
    monkeypatch.setitem(data.MIRRORS, "mnist", url)
    monkeypatch.setitem(data.MD5, "mnist", checksums)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cli.main(["data", "fetch", "mnist"]) == 0
    fetched = tmp_path / "xdg" / "numvae" / "mnist"
    captured = capsys.readouterr()
    assert "load_mnist_like('mnist', 'train')\n" in captured.out
    assert sorted(p.name for p in fetched.iterdir()) == sorted(checksums)
    X, _ = data.load_mnist_like("mnist", "train")
    np.testing.assert_array_equal(X, train_images.reshape(5, 784) / 255.0)
    # Progress on stderr, whole lines (not a terminal here): each file's first status, with its size known.
    err = captured.err
    assert "\r" not in err and len(err.splitlines()) == 4
    assert all(line.split()[1] == "100%" and "MiB" in line and "ETA" in line for line in err.splitlines())
    for f in fetched.iterdir():
        f.unlink()
    assert cli.main(["data", "fetch", "mnist", "--quiet"]) == 0
    assert capsys.readouterr().err == "" and len(list(fetched.iterdir())) == 4


def test_list_datasets_reports_place_and_size(tmp_path, monkeypatch):
    monkeypatch.setattr(search, "SYSTEM_DATA_DIR", tmp_path / "none")
    _write_fake_mnist(tmp_path / "mnist", "t10k", 3, seed=7)
    rows = {(r["name"], r["split"]): r for r in data.list_datasets(root=tmp_path)}
    assert list(rows) == list(data.DATASETS)
    digits = rows[("digits", None)]
    assert digits["found_in"] == "numvae's embedded data"
    assert digits["bytes"] == (data.EMBEDDED_DATA_DIR / "digits.csv.gz").stat().st_size == 57523
    fm = rows[("fashion-mnist", "test")]
    assert fm["bytes"] == 4422079 + 5125 and fm["how_to_get"] is None  # sizes from data/README.md
    mnist = rows[("mnist", "test")]
    assert mnist["found_in"] == "root=" and mnist["folder"] == str(tmp_path / "mnist")
    assert mnist["bytes"] == sum((tmp_path / "mnist" / f).stat().st_size
                                 for f in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"))
    missing = rows[("mnist", "train")]
    assert missing["folder"] is None and "numvae data fetch mnist" in missing["how_to_get"]


def test_cli_data_list(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(search, "SYSTEM_DATA_DIR", tmp_path / "none")
    assert cli.main(["data", "list"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0] + " " + line.split()[1]: line for line in out.splitlines()[1:] if line.strip()}
    assert "embedded" in lines["digits -"] and "0.1 MB" in lines["digits -"]
    assert "NOT FOUND" in lines["mnist train"] and "numvae data fetch mnist" in out


# --- Synthetic data --------------------------------------------------------------

def _ppca_params():
    rng = np.random.default_rng(3)
    W = 0.6 * rng.standard_normal((5, 2))  # (D, K), scaled so sigma2 is a visible part of C
    b = rng.standard_normal(5)
    return W, b, 0.5


def test_ppca_data_moments_match_the_model():
    W, b, sigma2 = _ppca_params()
    n = 100_000
    X = data.make_ppca_data(n, W, b, sigma2, rng=0)
    assert X.shape == (n, 5)
    C = W @ W.T + sigma2 * np.eye(5)  # model covariance, Bishop PRML eq. 12.36
    # Standard errors for Gaussian data: Var(mean_i) = C_ii / n and
    # Var(S_ij) = (C_ij^2 + C_ii C_jj) / n (Isserlis); 5 standard errors.
    se_mean = np.sqrt(np.diag(C) / n)
    se_cov = np.sqrt((C**2 + np.outer(np.diag(C), np.diag(C))) / n)
    assert 5 * se_cov.max() < sigma2 / 4  # tight enough to see a wrong sigma2
    np.testing.assert_array_less(np.abs(X.mean(axis=0) - b), 5 * se_mean)
    np.testing.assert_array_less(np.abs(np.cov(X.T) - C), 5 * se_cov)


def test_ppca_data_latents_and_noise():
    W, b, sigma2 = _ppca_params()
    n = 50_000
    X, Z = data.make_ppca_data(n, W, b, sigma2, rng=np.random.default_rng(1), return_latents=True)
    assert Z.shape == (n, 2)
    E = X - Z @ W.T - b  # the noise sqrt(sigma2) * eps
    # Var of a sample variance of N(0, s2) is 2 s2^2 / n; of a sample covariance s2 / n.
    np.testing.assert_array_less(np.abs(E.var(axis=0) - sigma2), 5 * sigma2 * np.sqrt(2 / n))
    np.testing.assert_array_less(np.abs(E.T @ Z / n), 5 * np.sqrt(sigma2 / n))
    np.testing.assert_array_equal(X, data.make_ppca_data(n, W, b, sigma2, rng=np.random.default_rng(1)))


def test_ppca_data_bad_input():
    W, b, sigma2 = _ppca_params()
    with pytest.raises(ValueError, match="n must be an integer >= 1; got 0"):
        data.make_ppca_data(0, W, b, sigma2, 0)
    with pytest.raises(ValueError, match="W must be a 2-D array"):
        data.make_ppca_data(10, b, b, sigma2, 0)
    with pytest.raises(ValueError, match=r"b must have shape \(5,\) to match W"):
        data.make_ppca_data(10, W, b[:3], sigma2, 0)
    with pytest.raises(ValueError, match="sigma2 must be a finite number > 0"):
        data.make_ppca_data(10, W, b, 0.0, 0)
    with pytest.raises(ValueError, match="rng must be a numpy.random.Generator or a non-negative int"):
        data.make_ppca_data(10, W, b, sigma2, None)
    with pytest.raises(ValueError, match="rng must be"):
        data.make_ppca_data(10, W, b, sigma2, 1.5)


def test_manifold_noiseless_points_lie_on_the_roll():
    X, coords = data.make_manifold_data(2000, 7, 0.0, rng=0, return_coords=True)
    t, h = coords.T
    assert X.shape == (2000, 7) and coords.shape == (2000, 2)
    assert t.min() >= 1.5 * np.pi and t.max() < 4.5 * np.pi and h.min() >= -1 and h.max() < 1
    # The embedding has orthonormal columns, so it keeps the 3-D norm of s(t, h).
    np.testing.assert_allclose(np.sum(X**2, axis=1), (t / (4 * np.pi))**2 + h**2, rtol=1e-12)
    # Three directions exactly; a second sample lies in the same 3-D subspace.
    U = np.linalg.svd(X, full_matrices=False)[2][:3].T  # (7, 3)
    X2 = data.make_manifold_data(500, 7, 0.0, rng=1)
    assert np.abs(X2 - X2 @ U @ U.T).max() < 1e-12


def test_manifold_is_not_linear_but_is_locally_2d():
    noise, dim = 0.05, 8
    X = data.make_manifold_data(3000, dim, noise, rng=2)
    ev = np.linalg.eigvalsh(np.cov(X.T))[::-1]  # descending
    # Global linear 2-D model: the residual variance per dropped dimension is far above noise^2 ...
    assert ev[2:].sum() / (dim - 2) > 10 * noise**2
    # ... because of the roll's third direction; the other directions are noise alone.
    assert ev[2] > 50 * noise**2
    assert np.all((ev[3:] > 0.8 * noise**2) & (ev[3:] < 1.25 * noise**2))
    # A nonlinear 2-D model can do far better: in a small neighbourhood the sheet is flat.
    rng = np.random.default_rng(0)
    local = []
    for i in rng.choice(len(X), 30, replace=False):
        nearest = np.argsort(np.sum((X - X[i]) ** 2, axis=1))[:40]
        lev = np.linalg.eigvalsh(np.cov(X[nearest].T))[::-1]
        local.append(lev[2:].sum() / (dim - 2))
    assert np.median(local) < 2 * noise**2


def test_manifold_bad_input():
    with pytest.raises(ValueError, match="dim must be an integer >= 3; got 2"):
        data.make_manifold_data(10, 2, 0.1, 0)
    with pytest.raises(ValueError, match="noise must be a finite number >= 0"):
        data.make_manifold_data(10, 3, -0.1, 0)
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        data.make_manifold_data(2.5, 3, 0.1, 0)


# --- Preprocessing --------------------------------------------------------------

def test_binarize_threshold():
    X = np.array([[0.0, 0.2, 0.49, 0.5, 0.7, 1.0]])
    np.testing.assert_array_equal(data.binarize(X), [[0, 0, 0, 1, 1, 1]])


def test_binarize_samples_bernoulli():
    p = np.array([0.0, 0.1, 0.5, 0.9, 1.0])
    n = 20_000
    X = np.tile(p, (n, 1))
    B = data.binarize(X, rng=np.random.default_rng(0))
    assert set(np.unique(B)) <= {0.0, 1.0}
    assert np.all(B[:, 0] == 0) and np.all(B[:, -1] == 1)
    np.testing.assert_array_less(np.abs(B.mean(axis=0) - p), 5 * np.sqrt(p * (1 - p) / n) + 1e-12)
    np.testing.assert_array_equal(B, data.binarize(X, rng=np.random.default_rng(0)))
    assert not np.array_equal(B, data.binarize(X, rng=1))


def test_binarize_bad_input():
    with pytest.raises(ValueError, match=r"X must lie in \[0, 1\]"):
        data.binarize(np.array([[0.5, 1.2]]))
    with pytest.raises(ValueError, match="X must be a 2-D array"):
        data.binarize(np.array([0.5]))
    with pytest.raises(ValueError, match="rng must be"):
        data.binarize(np.array([[0.5]]), rng="seed")


def test_dequantize_stays_in_cells_with_the_right_mean():
    L = 17
    rng = np.random.default_rng(0)
    k = rng.integers(0, L, size=(4000, 16))
    X = k / (L - 1)
    Y = data.dequantize(X, L, rng=1)
    np.testing.assert_array_equal(np.floor(Y * L), k)  # y in [k/L, (k+1)/L)
    assert Y.min() >= 0 and Y.max() < 1
    # y - (k + 1/2)/L = (u - 1/2)/L has mean 0 and variance 1/(12 L^2).
    r = Y - (k + 0.5) / L
    assert abs(r.mean()) < 5 / (L * np.sqrt(12 * r.size))
    assert abs(r.var() - 1 / (12 * L**2)) < 0.05 / (12 * L**2)


def test_dequantize_with_explicit_noise_and_real_digits():
    X, _ = data.load_digits()
    u = np.random.default_rng(0).random(X.shape)
    Y = data.dequantize(X, LEVELS_DIGITS, rng=None, u=u)
    np.testing.assert_allclose(Y, (np.round(X * 16) + u) / 17, rtol=0, atol=1e-15)


def test_dequantize_bad_input():
    with pytest.raises(ValueError, match=r"X must hold values k/\(levels-1\)"):
        data.dequantize(np.array([[0.5]]), 4, rng=0)  # 0.5 is not a multiple of 1/3
    with pytest.raises(ValueError, match="levels must be an integer >= 2"):
        data.dequantize(np.array([[0.0]]), 1, rng=0)
    with pytest.raises(ValueError, match=r"u must have the shape of X"):
        data.dequantize(np.array([[0.0, 1.0]]), 2, rng=0, u=np.array([[0.5, 1.0]]))


def test_bits_per_dim_is_exact_for_cellwise_constant_densities():
    # The uniform density on [0,1]^D gives P(k) = L^-D exactly: log2(L) bits/dim.
    assert data.dequantized_bits_per_dim(0.0, 10, 256) == pytest.approx(8.0, rel=1e-14)
    # A density constant on each cell, p(y) = L * P(k) for y in cell k (D = 1), makes
    # the Jensen bound tight: bits/dim = -log2 P(k).
    L = 5
    P = np.array([0.1, 0.2, 0.3, 0.15, 0.25])
    log_p_y = np.log(L * P)
    np.testing.assert_allclose(data.dequantized_bits_per_dim(log_p_y, 1, L), -np.log2(P), rtol=1e-13)


def test_split_sizes_disjoint_cover_and_aligned():
    N = 103
    X = np.column_stack([np.arange(N), -np.arange(N)]).astype(float)
    y = np.arange(N)
    pieces = data.split(X, [0.7, 0.2, 0.1], rng=0, y=y)
    # floor(72.1) = 72, floor(20.6) = 20, and the last takes the rest: 103 - 92 = 11.
    assert [len(Xi) for Xi, _ in pieces] == [72, 20, 11]
    rows = np.concatenate([Xi[:, 0] for Xi, _ in pieces])
    np.testing.assert_array_equal(np.sort(rows), np.arange(N))  # disjoint and covering
    for Xi, yi in pieces:
        np.testing.assert_array_equal(Xi[:, 0], yi)
    assert not np.array_equal(rows, np.arange(N))  # shuffled
    again = data.split(X, [0.7, 0.2, 0.1], rng=0)
    np.testing.assert_array_equal(again[0], pieces[0][0])


def test_split_partial_fractions_leave_rows_out():
    X = np.arange(100.0)[:, None]
    a, b = data.split(X, [0.3, 0.25], rng=np.random.default_rng(1))
    assert (len(a), len(b)) == (30, 25)
    assert len(np.intersect1d(a, b)) == 0


def test_split_bad_input():
    X = np.zeros((10, 2))
    with pytest.raises(ValueError, match="fractions must sum to at most 1"):
        data.split(X, [0.6, 0.5], rng=0)
    with pytest.raises(ValueError, match="fractions must be a non-empty sequence of numbers > 0"):
        data.split(X, [0.5, -0.1], rng=0)
    with pytest.raises(ValueError, match="fractions must be a sequence of numbers"):
        data.split(X, ["a"], rng=0)
    with pytest.raises(ValueError, match=r"y must have shape \(10,\) to match X"):
        data.split(X, [0.5], rng=0, y=np.zeros(9))
    with pytest.raises(ValueError, match="X must be finite"):
        data.split(np.full((3, 2), np.nan), [0.5], rng=0)


def test_check_matrix_is_reexported():
    from numvae.checks import check_matrix

    assert data.check_matrix is check_matrix
    with pytest.raises(ValueError, match="X must be a 2-D array"):
        data.check_matrix(np.zeros(3))


# The public names of numvae.data when it was one module: its __all__ and its other public constants.
SINGLE_MODULE_ALL = [
    "EMBEDDED_DATA_DIR", "SYSTEM_DATA_DIR", "DATASETS", "MNIST_LIKE", "check_matrix",
    "cache_dir", "download_dir", "locate", "list_datasets",
    "load_digits", "read_idx", "write_idx", "load_mnist_like", "fetch", "default_fetch_dest",
    "make_ppca_data", "make_manifold_data",
    "binarize", "dequantize", "dequantized_bits_per_dim", "split",
]
# Added since, each listed after the generator module before it.
SPRITES_ALL = ["make_sprites", "Sprites", "SPRITE_FACTORS"]
SINGLE_MODULE_CONSTANTS = ["ENV_VAR", "DIGITS_STEM", "IDX_DTYPES", "GZIP_MAGIC", "MIRRORS", "MD5", "REPACKED_MD5"]
MODULES = ["search", "digits", "idx", "mnist", "download", "synthetic", "sprites", "preprocess"]


def test_the_package_keeps_every_public_name_each_from_the_module_that_defines_it():
    from numvae.data import digits, download, idx, mnist, preprocess, sprites, synthetic

    at = SINGLE_MODULE_ALL.index("binarize")
    assert data.__all__ == SINGLE_MODULE_ALL[:at] + SPRITES_ALL + SINGLE_MODULE_ALL[at:] + MODULES
    assert sorted(m.name for m in pkgutil.iter_modules(data.__path__)) == sorted(MODULES)  # each on disk is listed
    homes = {search: ["EMBEDDED_DATA_DIR", "SYSTEM_DATA_DIR", "ENV_VAR", "MNIST_LIKE", "DATASETS", "DIGITS_STEM",
                      "cache_dir", "download_dir", "default_fetch_dest", "locate", "list_datasets"],
             digits: ["load_digits"], idx: ["IDX_DTYPES", "GZIP_MAGIC", "read_idx", "write_idx"],
             mnist: ["load_mnist_like"], download: ["MIRRORS", "MD5", "REPACKED_MD5", "fetch"],
             synthetic: ["make_ppca_data", "make_manifold_data"], sprites: SPRITES_ALL,
             preprocess: ["binarize", "dequantize", "dequantized_bits_per_dim", "split"]}
    placed = [name for names in homes.values() for name in names]
    assert sorted(placed) == sorted(set(SINGLE_MODULE_ALL + SPRITES_ALL + SINGLE_MODULE_CONSTANTS) - {"check_matrix"})
    for module, names in homes.items():
        for name in names:
            assert getattr(data, name) is getattr(module, name), name
            if callable(getattr(module, name)):
                assert getattr(module, name).__module__ == module.__name__, name  # defined there, not imported


# --- bad input and faults (from the hostile-user review) ---

def test_idx_header_dimensions_whose_product_overflows(tmp_path):
    # 4 dims of 65536: the product 2**64 wraps to 0 in int64, matching an empty payload.
    path = tmp_path / "huge.idx"
    path.write_bytes(bytes([0, 0, 0x08, 4]) + (65536).to_bytes(4, "big") * 4)
    with pytest.raises(ValueError, match=rf"^IDX file {path}: truncated, header dims \(65536, 65536"):
        read_idx(path)
