"""CIFAR-10: python-version batches, an image folder / zip, or the canonical download.

The python-version batches are pickles. ``pickle.load`` would run whatever a
tampered file asks for, so :class:`_BatchUnpickler` resolves only the three
numpy globals an ndarray needs; anything else is refused as a corrupt batch.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from neronet.data.cache import cached, fingerprint
from neronet.data.dataset import Dataset
from neronet.data.download import extract_tar, fetch
from neronet.data.imagefolder import load_image_folder
from neronet.data.registry import DATASETS, DatasetLoader, Source
from neronet.errors import DataError

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
ARCHIVE_NAME = "cifar-10-python.tar.gz"
BATCHES_DIR = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META_FILE = "batches.meta"
BATCH_FILES = (*TRAIN_BATCHES, TEST_BATCH, META_FILE)
TAR_SUFFIXES = (".tar.gz", ".tgz", ".tar")
_IMAGE_SHAPE = (3, 32, 32)

_RECONSTRUCT = np.zeros(0).__reduce__()[0]  # numpy's array reconstructor, any numpy version
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, numbers, strings and numpy arrays, nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused global {module}.{name}") from None


def _unpickle(path: Path) -> dict[str, Any]:
    """Restricted-unpickle a batch file into a dict with str keys."""
    try:
        with path.open("rb") as handle:
            # encoding="bytes": the original files are Python 2 pickles of byte strings.
            obj = _BatchUnpickler(handle, encoding="bytes").load()
    # Parsing untrusted bytes can fail in many ways; each means "not a valid batch".
    except Exception as err:
        raise DataError(
            f"'{path}' is not a valid CIFAR-10 batch ({err}); use the original python-version files"
        ) from None
    if not isinstance(obj, dict):
        raise DataError(
            f"'{path}' holds a {type(obj).__name__}, not a CIFAR-10 batch dict; "
            "use the original python-version files"
        )
    return {k.decode() if isinstance(k, bytes) else str(k): v for k, v in obj.items()}


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file -> ``(x (N, 3, 32, 32) uint8, y (N,) int64)``."""
    batch = _unpickle(path)
    data, labels = batch.get("data"), batch.get("labels")
    size = int(np.prod(_IMAGE_SHAPE))
    if not (
        isinstance(data, np.ndarray)
        and data.dtype == np.uint8
        and data.ndim == 2
        and data.shape[1] == size
        and isinstance(labels, list)
        and len(labels) == len(data)
    ):
        raise DataError(
            f"'{path}' lacks uint8 'data' (N, {size}) with N 'labels'; "
            "use the original python-version files"
        )
    return data.reshape(-1, *_IMAGE_SHAPE).copy(), np.asarray(labels, dtype=np.int64)


def _read_classes(path: Path) -> list[str]:
    names = _unpickle(path).get("label_names")
    if not isinstance(names, list) or not names:
        raise DataError(f"'{path}' lacks 'label_names'; use the original batches.meta file")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def load_batches(root: Path, cache_dir: Path) -> Dataset:
    """The python-version batches directory (data_batch_1..5, test_batch, batches.meta)."""
    missing = [name for name in BATCH_FILES if not (root / name).is_file()]
    if missing:
        raise DataError(
            f"'{root}' lacks {', '.join(missing)}; a CIFAR-10 python-version directory "
            f"holds {', '.join(BATCH_FILES)}"
        )

    def build() -> Dataset:
        train = [read_batch(root / name) for name in TRAIN_BATCHES]
        x_test, y_test = read_batch(root / TEST_BATCH)
        return Dataset(
            name="cifar10",
            x_train=np.concatenate([x for x, _ in train]),
            y_train=np.concatenate([y for _, y in train]),
            x_test=x_test,
            y_test=y_test,
            classes=_read_classes(root / META_FILE),
        )

    files = [root / name for name in BATCH_FILES]
    return cached(cache_dir, "cifar10", f"batches {fingerprint(root, files)}", build)


def download_cifar10(cache_dir: Path, url: str | None = None, md5: str | None = None) -> Path:
    """Fetch and unpack the canonical archive into ``cache_dir``; return the batches dir.

    ``url``/``md5`` default to the module constants, read at call time so that
    tests can point them at a local fake.
    """
    url, md5 = url or CIFAR10_URL, md5 or CIFAR10_MD5
    archive = fetch(url, cache_dir / ARCHIVE_NAME, md5)
    return extract_tar(archive, cache_dir / f"cifar-10-python-{md5[:12]}") / BATCHES_DIR


def load_cifar10(path: Path | None, cache_dir: Path, download: bool, limit: int | None) -> Dataset:
    """CIFAR-10 from ``path`` (batches dir, image folder, .zip or .tar.gz) or a download.

    A given ``path`` always wins; ``download`` is used only without one.
    """
    if path is None:
        if not download:
            raise DataError(
                "cifar10 needs a path (python-version batches directory, image-folder "
                "directory or .zip); set data.path, or data.download=true to fetch it"
            )
        return load_batches(download_cifar10(cache_dir), cache_dir)
    if not path.exists():
        raise DataError(f"CIFAR-10 path '{path}' not found; pass an existing directory or archive")
    if path.is_dir():
        root = path / BATCHES_DIR if (path / BATCHES_DIR).is_dir() else path
        if any((root / name).exists() for name in BATCH_FILES):
            return load_batches(root, cache_dir)
        return load_image_folder("cifar10", path, cache_dir, limit)
    if path.name.endswith(TAR_SUFFIXES):
        unpacked = cache_dir / f"{path.name}-{fingerprint(path.parent, [path])[:16]}"
        return load_batches(extract_tar(path, unpacked) / BATCHES_DIR, cache_dir)
    if path.suffix.lower() == ".zip":
        return load_image_folder("cifar10", path, cache_dir, limit)
    raise DataError(
        f"'{path}' is not a directory, .zip or .tar.gz; point path at a CIFAR-10 "
        "batches directory, image folder or archive"
    )


@DATASETS.register("cifar10")
class Cifar10(DatasetLoader):
    """CIFAR-10 from ``data.path`` or, with ``data.download``, its canonical archive."""

    downloads = True

    def load(self, source: Source) -> Dataset:
        return load_cifar10(source.path, source.cache_dir, source.download, source.limit_per_class)
