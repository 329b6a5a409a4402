"""``load_dataset``: one entry point that dispatches on the dataset name."""

from __future__ import annotations

from pathlib import Path

from neronet.data.cache import resolve_cache_dir
from neronet.data.cifar import load_cifar10
from neronet.data.dataset import Dataset, first_per_class
from neronet.data.digits import load_digits
from neronet.data.idx import load_fashion_mnist
from neronet.errors import DataError

DATASETS = ("digits", "fashion-mnist", "cifar10")


def load_dataset(
    name: str,
    path: str | Path | None = None,
    cache_dir: str | Path | None = None,
    download: bool = False,
    *,
    limit_per_class: int | None = None,
) -> Dataset:
    """Load a dataset as uint8 ``(N, C, H, W)`` images and int64 labels.

    ``path``: a local copy (fashion-mnist: a directory of IDX files, default
    Debian's; cifar10: a python-version batches directory, an image-folder
    directory or .zip, or the .tar.gz). ``cache_dir``: where decoded arrays and
    downloads go (default ``$NERONET_CACHE`` or ``~/.cache/neronet``).
    ``download``: fetch CIFAR-10 from its canonical URL when no ``path`` is given.
    ``limit_per_class``: keep only the first N images per class of each split
    (an image folder then decodes only those), for quick smoke runs.
    """
    if name not in DATASETS:
        raise DataError(f"unknown dataset '{name}'; choose one of {', '.join(DATASETS)}")
    if limit_per_class is not None and limit_per_class < 1:
        raise DataError(f"limit_per_class={limit_per_class} must be >= 1; raise it or drop it")
    if download and name != "cifar10":
        raise DataError(f"download is only available for cifar10; pass a path for '{name}'")
    cache = resolve_cache_dir(cache_dir)
    source = Path(path).expanduser() if path is not None else None
    if name == "digits":
        if source is not None:
            raise DataError("digits ships with scikit-learn and takes no path; remove the path")
        dataset = load_digits()
    elif name == "fashion-mnist":
        dataset = load_fashion_mnist(source, cache)
    else:
        dataset = load_cifar10(source, cache, download, limit_per_class)
    return dataset if limit_per_class is None else first_per_class(dataset, limit_per_class)
