r"""The IDX file format of MNIST and Fashion-MNIST: :func:`read_idx` and :func:`write_idx`.

An IDX file (LeCun et al., the MNIST database page) is: two zero bytes, a
dtype code, the number of dimensions n, then n big-endian uint32 sizes, then
the values, big-endian, row-major. MNIST and Fashion-MNIST ship it gzipped.
``IDX_DTYPES`` maps each dtype code to its big-endian NumPy dtype;
:func:`read_idx` tells a gzipped file by its first two bytes, ``GZIP_MAGIC``,
not by its name.
"""

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from numvae.checks import check_input_file
from numvae.io import atomic_open

__all__ = ["read_idx", "write_idx"]


IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path):
    r"""Read an IDX file (the MNIST format), plain or gzip-compressed.

    Parameters
    ----------
    path : str or Path
        The file. Compression is detected from the first two bytes (the gzip
        magic ``1f 8b``), not from the name.

    Returns
    -------
    ndarray
        Shape and dtype as the header says (native byte order): e.g.
        ``(N, 28, 28)`` uint8 for images, ``(N,)`` uint8 for labels.

    Raises
    ------
    FileNotFoundError, IsADirectoryError
        If `path` does not exist, or is a folder.
    ValueError
        Naming the file, if the gzip stream is corrupt or truncated, the magic
        is wrong (first two bytes not zero, unknown dtype code, zero
        dimensions), the header is cut short, or the payload is not exactly
        ``prod(dims) * itemsize`` bytes.

    Notes
    -----
    Header: bytes 0-1 are ``00 00``; byte 2 the dtype (0x08 ubyte, 0x09 byte,
    0x0B short, 0x0C int, 0x0D float, 0x0E double); byte 3 the number of
    dimensions n; then n big-endian uint32 sizes. Format as described on the
    MNIST database page (LeCun, Cortes & Burges).
    """
    path = check_input_file(path, "path", "IDX file")
    raw = path.read_bytes()
    if raw[:2] == GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
            raise ValueError(f"IDX file {path}: corrupt or truncated gzip stream ({exc})") from None
    if len(raw) < 4:
        raise ValueError(f"IDX file {path}: {len(raw)} bytes is too short for the 4-byte magic number")
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"IDX file {path}: bad magic number, the first two bytes must be 00 00; "
                         f"got {raw[:2].hex(' ')}")
    code, ndim = raw[2], raw[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise ValueError(f"IDX file {path}: unknown dtype code 0x{code:02X} in the magic number; expected one of {known}")
    if ndim < 1:
        raise ValueError(f"IDX file {path}: the magic number declares 0 dimensions; expected at least 1")
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise ValueError(f"IDX file {path}: truncated header, {ndim} dimensions need {header_len} bytes; "
                         f"the file has {len(raw)}")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = math.prod(dims) * dtype.itemsize  # exact: an int64 product could wrap round to a small number
    got = len(raw) - header_len
    if got != expected:
        what = "truncated" if got < expected else "wrong size"
        raise ValueError(f"IDX file {path}: {what}, header dims {dims} of {dtype.itemsize}-byte values "
                         f"need a {expected}-byte payload; got {got} bytes")
    data = np.frombuffer(raw, dtype=dtype, offset=header_len).reshape(dims)
    return data.astype(dtype.newbyteorder("="))  # a native-order, writable copy


def write_idx(path, array, compress=None):
    r"""Write `array` to `path` in the IDX format, atomically.

    Parameters
    ----------
    path : str or Path
        Destination.
    array : ndarray with at least 1 dimension
        dtype uint8, int8, int16, int32, float32 or float64 (the six IDX types).
    compress : bool, optional
        Gzip the file. By default, gzip when `path` ends in ``.gz``. The gzip
        header carries no name and a zero timestamp, so the same array always
        gives the same bytes.

    See :func:`read_idx` for the format.
    """
    arr = np.asarray(array)
    code = next((c for c, dt in IDX_DTYPES.items() if dt.newbyteorder("=") == arr.dtype.newbyteorder("=")), None)
    if code is None:
        raise ValueError(f"array must have an IDX dtype (uint8, int8, int16, int32, float32, float64); "
                         f"got {arr.dtype}")
    if not 1 <= arr.ndim <= 255 or max(arr.shape) >= 2**32:
        raise ValueError(f"array must have 1 to 255 dimensions, each below 2**32; got shape {arr.shape}")
    path = Path(path)
    if compress is None:
        compress = path.name.endswith(".gz")
    header = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    payload = header + arr.astype(IDX_DTYPES[code]).tobytes()
    if compress:
        payload = gzip.compress(payload, compresslevel=9, mtime=0)
    with atomic_open(path, "wb") as f:
        f.write(payload)
    return path
