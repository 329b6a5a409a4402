"""Datasets by name: each one a registered loader, read through ``load_dataset``.

A dataset is a :class:`DatasetLoader` subclass registered with
``@DATASETS.register("name")``; ``data.dataset: name`` then works wherever neronet
loads data (the search's executors and their workers, post-search training, attacks,
the transfer set, the survey), and ``neronet.plugins.check_plugins`` refuses a name
no loader is registered under, or settings it cannot read (a path it takes none of, a
download it cannot do), before a run directory exists. The built-in loaders (digits,
fashion-mnist, cifar10) live beside their parsers and are imported on the registry's
first lookup, as a plug-in's are when its package is installed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from neronet.data.cache import resolve_cache_dir
from neronet.data.dataset import Dataset, first_per_class
from neronet.errors import DataError
from neronet.registry import Registry


@dataclass(frozen=True)
class Source:
    """Where a loader reads from: ``data.path`` (None: its default, if it has one), the
    cache directory for decoded arrays and downloads, whether it may download, and the
    images per class a smoke run keeps (applied again after loading, so honouring it
    while reading is only a saving)."""

    path: Path | None
    cache_dir: Path
    download: bool = False
    limit_per_class: int | None = None


class DatasetLoader(ABC):
    """How one dataset is read; the class is what is registered."""

    takes_path: ClassVar[bool] = True
    """Whether ``data.path`` means anything to it (a bundled dataset takes none)."""
    downloads: ClassVar[bool] = False
    """Whether ``data.download`` can fetch it when no path is given."""

    @abstractmethod
    def load(self, source: Source) -> Dataset:
        """The dataset: uint8 ``(N, C, H, W)`` images, int64 labels below ``len(classes)``,
        named as registered; a missing or unreadable source is a one-line DataError."""


DATASETS: Registry[type[DatasetLoader]] = Registry(
    "dataset", builtins=("neronet.data.digits", "neronet.data.idx", "neronet.data.cifar")
)


def source_problem(name: str, path_given: bool, download: bool) -> tuple[str, str] | None:
    """``(setting, problem)`` if dataset ``name`` (registered) cannot read what it is given,
    else None: one check for :func:`load_dataset` and ``check_plugins``."""
    loader = DATASETS.get(name)
    if path_given and not loader.takes_path:
        return "path", f"dataset '{name}' takes no path; remove the path"
    if download and not loader.downloads:
        able = [n for n in DATASETS.names() if DATASETS.get(n).downloads]
        return "download", (
            f"download is only available for {', '.join(able) or 'no dataset'}; "
            f"pass a path for '{name}'"
        )
    return None


def load_dataset(
    name: str,
    path: str | Path | None = None,
    cache_dir: str | Path | None = None,
    download: bool = False,
    *,
    limit_per_class: int | None = None,
) -> Dataset:
    """Load the registered dataset ``name`` as uint8 ``(N, C, H, W)`` images and int64 labels.

    ``path``: a local copy (fashion-mnist: a directory of IDX files, default
    Debian's; cifar10: a python-version batches directory, an image-folder
    directory or .zip, or the .tar.gz). ``cache_dir``: where decoded arrays and
    downloads go (default ``$NERONET_CACHE`` or ``~/.cache/neronet``).
    ``download``: fetch the dataset (CIFAR-10) from its canonical URL when no ``path``
    is given. ``limit_per_class``: keep only the first N images per class of each split
    (an image folder then decodes only those), for quick smoke runs.
    """
    if name not in DATASETS:
        raise DataError(DATASETS.unknown(name))
    if limit_per_class is not None and limit_per_class < 1:
        raise DataError(f"limit_per_class={limit_per_class} must be >= 1; raise it or drop it")
    problem = source_problem(name, path is not None, download)
    if problem is not None:
        raise DataError(problem[1])
    source = Source(
        Path(path).expanduser() if path is not None else None,
        resolve_cache_dir(cache_dir),
        download,
        limit_per_class,
    )
    dataset = DATASETS.get(name)().load(source)
    return dataset if limit_per_class is None else first_per_class(dataset, limit_per_class)
