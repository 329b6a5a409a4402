"""Datasets (digits, Fashion-MNIST, CIFAR-10 and plug-ins' ones, by name in ``DATASETS``),
the decoded-array cache and search splits.

Everything is uint8 ``(N, C, H, W)`` images with int64 labels; see
:func:`load_dataset` and :func:`make_splits`.
"""

from neronet.data.cache import CACHE_ENV, resolve_cache_dir
from neronet.data.dataset import Dataset, Split, first_per_class
from neronet.data.registry import DATASETS, DatasetLoader, Source, load_dataset
from neronet.data.splits import (
    PAPER_SPLIT,
    DataSplits,
    full_train_test,
    hold_out,
    make_splits,
    paper_split_sizes,
)

__all__ = [
    "CACHE_ENV",
    "DATASETS",
    "PAPER_SPLIT",
    "DataSplits",
    "Dataset",
    "DatasetLoader",
    "Source",
    "Split",
    "first_per_class",
    "full_train_test",
    "hold_out",
    "load_dataset",
    "make_splits",
    "paper_split_sizes",
    "resolve_cache_dir",
]
