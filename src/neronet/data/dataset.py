"""The in-memory dataset types shared by every loader and the splitter.

Images stay ``uint8`` ``(N, C, H, W)`` numpy arrays from disk to the training
device: that is four times less memory than float32 and lets augmentation run
on the device (see :mod:`neronet.augment`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from neronet.errors import DataError


@dataclass(frozen=True)
class Split:
    """Images ``x`` (uint8 ``(N, C, H, W)``) and their labels ``y`` (int64 ``(N,)``)."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class Dataset:
    """A loaded dataset; the test part is optional (e.g. the CIFAR-10 JPEG zip has none)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    classes: list[str]
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None

    def __post_init__(self) -> None:
        _check_part(self.name, "train", self.x_train, self.y_train, len(self.classes))
        if (self.x_test is None) != (self.y_test is None):
            raise ValueError("x_test and y_test must both be given or both be None")
        if self.x_test is not None and self.y_test is not None:
            _check_part(self.name, "test", self.x_test, self.y_test, len(self.classes))
            if self.x_test.shape[1:] != self.x_train.shape[1:]:
                raise DataError(
                    f"dataset '{self.name}': test images are {self.x_test.shape[1:]} but train "
                    f"images are {self.x_train.shape[1:]}; give both splits the same image size"
                )

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        c, h, w = self.x_train.shape[1:]
        return int(c), int(h), int(w)

    @property
    def train(self) -> Split:
        return Split(self.x_train, self.y_train)

    @property
    def test(self) -> Split | None:
        if self.x_test is None or self.y_test is None:
            return None
        return Split(self.x_test, self.y_test)


def _check_part(name: str, part: str, x: np.ndarray, y: np.ndarray, num_classes: int) -> None:
    """Reject arrays a loader could only produce from inconsistent files."""
    if x.dtype != np.uint8 or x.ndim != 4:
        raise ValueError(f"{part} images must be uint8 (N, C, H, W), got {x.dtype} {x.shape}")
    if y.dtype != np.int64 or y.ndim != 1:
        raise ValueError(f"{part} labels must be int64 (N,), got {y.dtype} {y.shape}")
    if len(x) != len(y):
        raise DataError(
            f"dataset '{name}': {len(x)} {part} images but {len(y)} labels; "
            "use matching image and label files"
        )
    if len(y) and (y.min() < 0 or y.max() >= num_classes):
        raise DataError(
            f"dataset '{name}': {part} label {int(y.max())} outside 0..{num_classes - 1}; "
            "check that the label file belongs to this dataset"
        )


def _first_of_each_class(x: np.ndarray, y: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
    keep = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):
        keep[np.flatnonzero(y == label)[:limit]] = True
    return x[keep], y[keep]


def first_per_class(dataset: Dataset, limit: int) -> Dataset:
    """Keep the first ``limit`` images of every class in each split, in their original order.

    A deterministic way to make a big dataset small for smoke tests; taking the
    *first* images (not a random sample) keeps it independent of any seed.
    """
    x_train, y_train = _first_of_each_class(dataset.x_train, dataset.y_train, limit)
    x_test, y_test = dataset.x_test, dataset.y_test
    if x_test is not None and y_test is not None:
        x_test, y_test = _first_of_each_class(x_test, y_test, limit)
    return replace(dataset, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
