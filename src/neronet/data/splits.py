"""Stratified, disjoint, seeded splits of a dataset's training images.

The search trains on ``train``, early-stops on ``control`` and scores fitness
on ``fitness`` (NERO-Net: 43,000 / 3,500 / 3,500 of CIFAR-10's 50,000 training
images, a new random split per run). The test split is deliberately not part
of :class:`DataSplits`: the search must never see it. :func:`full_train_test`
serves post-search training and the final evaluation.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass

import numpy as np

from neronet.data.dataset import Dataset, Split
from neronet.errors import DataError

PAPER_SPLIT = (43000, 3500, 3500)  # train / control / fitness of 50,000 CIFAR-10 images
_EPS = 1e-9  # so that e.g. 0.7 * 1000 is 700, not 699, after floating-point error


@dataclass(frozen=True)
class DataSplits:
    """The three search splits, all drawn from the dataset's training images."""

    train: Split
    control: Split
    fitness: Split
    classes: list[str]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        c, h, w = self.train.x.shape[1:]
        return int(c), int(h), int(w)

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def paper_split_sizes(n: int) -> tuple[int, int, int]:
    """The paper's train/control/fitness counts scaled to ``n`` training images."""
    total = sum(PAPER_SPLIT)
    control = round(n * PAPER_SPLIT[1] / total)
    fitness = round(n * PAPER_SPLIT[2] / total)
    return n - control - fitness, control, fitness


def resolve_size(name: str, value: float, n: int) -> int:
    """A count (>= 1, whole) or a fraction (< 1) of ``n`` images -> a count.

    Fractions round down, so fractions summing to 1 never ask for more than ``n``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise DataError(
            f"split size {name}={value!r} must be a count >= 1 or a fraction in (0, 1); fix it"
        )
    if value < 1:
        count = math.floor(value * n + _EPS)
        if count < 1:
            raise DataError(f"{name}={value} of {n} images is under one image; use a larger value")
        return count
    if not math.isfinite(value) or value != int(value):
        raise DataError(f"{name}={value} is neither a whole count nor a fraction below 1; fix it")
    return int(value)


def _proportional(k: int, available: np.ndarray) -> np.ndarray:
    """Split ``k`` over classes in proportion to ``available`` (largest remainder, exact ints).

    Never exceeds ``available``; ties go to the lower class index, deterministically.
    """
    total = int(available.sum())
    if k == 0:
        return np.zeros_like(available)
    share, remainder = np.divmod(k * available, total)
    order = np.argsort(-remainder, kind="stable")
    share[order[: k - int(share.sum())]] += 1
    return share


def stratified_partition(
    y: np.ndarray, sizes: dict[str, int], rng: np.random.Generator, classes: list[str]
) -> dict[str, np.ndarray]:
    """Disjoint index sets of the given sizes, each holding every class in proportion.

    Every part first gets one image of every class (so no part lacks a class,
    which would make its accuracy meaningless for that class); the rest of each
    part is shared out in proportion to what each class has left. Indices come
    back shuffled, and everything depends only on ``rng``.
    """
    labels, counts = np.unique(y, return_counts=True)
    requested = " + ".join(f"{name}={size}" for name, size in sizes.items())
    if sum(sizes.values()) > len(y):
        raise DataError(
            f"split sizes {requested} = {sum(sizes.values())} exceed the {len(y)} training "
            "images; lower them or use fractions"
        )
    for name, size in sizes.items():
        if size < len(labels):
            raise DataError(
                f"split '{name}' has {size} images, fewer than the {len(labels)} classes; "
                f"make it at least {len(labels)} so that every class is in it"
            )
    parts = len(sizes)
    scarce = counts < parts
    if scarce.any():
        label = int(labels[np.argmax(scarce)])
        raise DataError(
            f"class '{classes[label]}' has only {int(counts[np.argmax(scarce)])} images but "
            f"stratifying into {'/'.join(sizes)} needs {parts}; add images of it or drop it"
        )
    pools = [rng.permutation(np.flatnonzero(y == label)) for label in labels]
    taken = np.full(len(labels), parts)  # the first `parts` of each pool: one per part
    result: dict[str, np.ndarray] = {}
    for j, (name, size) in enumerate(sizes.items()):
        extra = _proportional(size - len(labels), counts - taken)
        chosen = [pool[j : j + 1] for pool in pools]
        chosen += [pool[a : a + n] for pool, a, n in zip(pools, taken, extra, strict=True)]
        taken = taken + extra
        result[name] = rng.permutation(np.concatenate(chosen))
    return result


def _take(dataset: Dataset, index: np.ndarray) -> Split:
    return Split(dataset.x_train[index], dataset.y_train[index])


def split_index(
    dataset: Dataset,
    train: float,
    control: float,
    fitness: float,
    seed: int,
    pool: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Which training images the search's train/control/fitness splits take (indices).

    ``pool`` (indices into the training images) confines the draw to those images,
    fractions being of the pool: a dataset without a test split keeps the images its
    hold-out takes out of the search (see :func:`holdout_index`). The indices returned
    are into the whole training set either way.
    """
    y = dataset.y_train if pool is None else dataset.y_train[pool]
    n = len(y)
    sizes = {
        "train": resolve_size("train", train, n),
        "control": resolve_size("control", control, n),
        "fitness": resolve_size("fitness", fitness, n),
    }
    index = stratified_partition(y, sizes, np.random.default_rng(seed), dataset.classes)
    return index if pool is None else {name: pool[part] for name, part in index.items()}


def splits_at(dataset: Dataset, index: dict[str, np.ndarray]) -> DataSplits:
    """The search splits :func:`split_index` chose, as images."""
    return DataSplits(
        train=_take(dataset, index["train"]),
        control=_take(dataset, index["control"]),
        fitness=_take(dataset, index["fitness"]),
        classes=list(dataset.classes),
    )


def make_splits(
    dataset: Dataset, train: float, control: float, fitness: float, seed: int
) -> DataSplits:
    """Draw the search's train/control/fitness splits from the training images only."""
    return splits_at(dataset, split_index(dataset, train, control, fitness, seed))


def holdout_index(dataset: Dataset, size: float, seed: int) -> dict[str, np.ndarray]:
    """The training images kept (``train``) and held out (``test``) by a hold-out draw."""
    n = len(dataset.y_train)
    test = resolve_size("holdout", size, n)
    return stratified_partition(
        dataset.y_train,
        {"train": n - test, "test": test},
        np.random.default_rng(seed),
        dataset.classes,
    )


def hold_out(dataset: Dataset, size: float, seed: int) -> Dataset:
    """Move a stratified ``size`` (count or fraction) of the training images to a test split."""
    index = holdout_index(dataset, size, seed)
    held = _take(dataset, index["test"])
    kept = _take(dataset, index["train"])
    return dataclasses.replace(
        dataset, x_train=kept.x, y_train=kept.y, x_test=held.x, y_test=held.y
    )


def full_train_test(
    dataset: Dataset,
    holdout: float | None = None,
    seed: int = 0,
    only: np.ndarray | None = None,
) -> tuple[Split, Split]:
    """The training images and the test split, for post-search training and evaluation.

    ``holdout`` (a count or fraction) is used only when the dataset ships no
    test split, e.g. the CIFAR-10 JPEG zip: then that much of the training set
    is held out, stratified and seeded, as the test split. ``only`` (indices
    into the training images, e.g. a run's search splits) trains on those
    images alone; any of them the hold-out took are dropped, so the test split
    is the same for every ``only`` and never trained on.
    """
    if dataset.test is None:
        if holdout is None:
            raise DataError(
                f"dataset '{dataset.name}' has no test split; pass holdout= (a count or "
                "fraction of the training images) to hold one out"
            )
        index = holdout_index(dataset, holdout, seed)
        test = _take(dataset, index["test"])
        kept = index["train"] if only is None else only[~np.isin(only, index["test"])]
        return _take(dataset, kept), test
    assert dataset.test is not None
    return (dataset.train if only is None else _take(dataset, only)), dataset.test
