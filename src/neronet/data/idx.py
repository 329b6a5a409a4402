"""Fashion-MNIST from IDX files (plain or gzipped), parsed without extra packages.

IDX layout (LeCun's MNIST format): two zero bytes, a type byte (0x08 =
unsigned byte, the only type these datasets use), the number of dimensions,
then each dimension as a big-endian uint32, then the values in C order.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from neronet.data.cache import cached, fingerprint
from neronet.data.dataset import Dataset
from neronet.data.registry import DATASETS, DatasetLoader, Source
from neronet.errors import DataError

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
_UBYTE = 0x08
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    """File contents, gunzipped when the file starts with the gzip magic number."""
    raw = path.read_bytes()
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"'{path}' is a corrupt gzip file ({err}); copy it again") from None


def read_idx(path: Path) -> np.ndarray:
    """Parse an unsigned-byte IDX file into a writable uint8 array of its shape."""
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] or raw[1]:
        raise DataError(f"'{path}' is not an IDX file (bad magic number); use the original file")
    if raw[2] != _UBYTE:
        raise DataError(
            f"'{path}' holds IDX type 0x{raw[2]:02x}; neronet reads unsigned-byte (0x08) files only"
        )
    header = 4 + 4 * raw[3]
    if len(raw) < header:
        raise DataError(f"'{path}' is truncated inside its header; copy the file again")
    dims = struct.unpack(f">{raw[3]}I", raw[4:header])
    if len(raw) - header != math.prod(dims):
        raise DataError(
            f"'{path}' has {len(raw) - header} data bytes but its header promises "
            f"{math.prod(dims)} for shape {dims}; the file is truncated or corrupt, copy it again"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()


def _find_files(root: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for part, base in IDX_FILES.items():
        for candidate in (root / base, root / f"{base}.gz"):
            if candidate.is_file():
                found[part] = candidate
                break
    missing = [f"{base}(.gz)" for part, base in IDX_FILES.items() if part not in found]
    if missing:
        raise DataError(
            f"'{root}' lacks {', '.join(missing)}; put the four Fashion-MNIST IDX files there"
        )
    return found


def _images(path: Path) -> np.ndarray:
    array = read_idx(path)
    if array.ndim != 3:
        raise DataError(
            f"'{path}' has shape {array.shape}, not (N, rows, cols); use the original image file"
        )
    return array[:, None]


def _labels(path: Path) -> np.ndarray:
    array = read_idx(path)
    if array.ndim != 1:
        raise DataError(f"'{path}' has shape {array.shape}, not (N,); use the original label file")
    return array.astype(np.int64)


def load_fashion_mnist(path: Path | None, cache_dir: Path) -> Dataset:
    """Fashion-MNIST from ``path`` (default: Debian's dataset-fashion-mnist directory)."""
    root = Path(path) if path is not None else FASHION_MNIST_DIR
    if not root.is_dir():
        raise DataError(
            f"Fashion-MNIST directory '{root}' not found; install Debian's "
            "dataset-fashion-mnist or pass a directory holding the four IDX files"
        )
    files = _find_files(root)

    def build() -> Dataset:
        return Dataset(
            name="fashion-mnist",
            x_train=_images(files["x_train"]),
            y_train=_labels(files["y_train"]),
            x_test=_images(files["x_test"]),
            y_test=_labels(files["y_test"]),
            classes=list(FASHION_MNIST_CLASSES),
        )

    return cached(cache_dir, "fashion-mnist", fingerprint(root, files.values()), build)


@DATASETS.register("fashion-mnist")
class FashionMnist(DatasetLoader):
    """Fashion-MNIST from ``data.path`` or Debian's ``dataset-fashion-mnist``."""

    def load(self, source: Source) -> Dataset:
        return load_fashion_mnist(source.path, source.cache_dir)
