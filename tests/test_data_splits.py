"""Search splits: sizes, stratification, disjointness, determinism, no test images."""

from __future__ import annotations

import numpy as np
import pytest
from helpers_errors import error_of
from hypothesis import given, settings
from hypothesis import strategies as st

from neronet.data import (
    PAPER_SPLIT,
    Dataset,
    full_train_test,
    hold_out,
    make_splits,
    paper_split_sizes,
)
from neronet.data.splits import stratified_partition

TEST_MARK = 255  # every test image is filled with this; train images never are


def indexed_dataset(labels: np.ndarray, with_test: bool = True) -> Dataset:
    """Train image i encodes i in its first two pixels, so splits can be traced back."""
    n = len(labels)
    x = np.zeros((n, 1, 1, 2), dtype=np.uint8)
    x[:, 0, 0, 0], x[:, 0, 0, 1] = np.arange(n) // 251, np.arange(n) % 251
    classes = [f"c{i}" for i in range(int(labels.max()) + 1)]
    test = {}
    if with_test:
        test = {"x_test": np.full((5, 1, 1, 2), TEST_MARK, np.uint8),
                "y_test": np.zeros(5, np.int64)}  # fmt: skip
    return Dataset(name="fake", x_train=x, y_train=labels.astype(np.int64), classes=classes, **test)


def origin(x: np.ndarray) -> np.ndarray:
    return x[:, 0, 0, 0].astype(int) * 251 + x[:, 0, 0, 1]


def test_paper_split_on_cifar_sized_data() -> None:
    ds = indexed_dataset(np.repeat(np.arange(10), 5000))
    splits = make_splits(ds, *PAPER_SPLIT, seed=3)
    for part, size in zip((splits.train, splits.control, splits.fitness), PAPER_SPLIT, strict=True):
        assert len(part) == size and part.x.dtype == np.uint8 and part.y.dtype == np.int64
        assert np.bincount(part.y).tolist() == [size // 10] * 10  # exactly stratified
    assert splits.input_shape == (1, 1, 2) and splits.num_classes == 10
    assert splits.classes == ds.classes


def test_splits_are_disjoint_traceable_and_exclude_test() -> None:
    ds = indexed_dataset(np.random.default_rng(0).integers(0, 4, 400))
    splits = make_splits(ds, 0.6, 0.2, 0.2, seed=1)
    seen = [origin(s.x) for s in (splits.train, splits.control, splits.fitness)]
    everything = np.concatenate(seen)
    assert len(everything) == len(set(everything.tolist())) == 400
    for part, ids in zip((splits.train, splits.control, splits.fitness), seen, strict=True):
        np.testing.assert_array_equal(part.y, ds.y_train[ids])  # labels follow their images
        assert not (part.x == TEST_MARK).all(axis=(1, 2, 3)).any()
    assert not hasattr(splits, "test")


def test_fractions_summing_to_one_fit() -> None:
    ds = indexed_dataset(np.repeat(np.arange(10), 143))  # 1430 images
    splits = make_splits(ds, 0.70, 0.15, 0.15, seed=0)
    sizes = (len(splits.train), len(splits.control), len(splits.fitness))
    assert sizes == (1001, 214, 214) and sum(sizes) <= 1430


def test_stratified_on_unbalanced_classes() -> None:
    labels = np.repeat(np.arange(4), [500, 250, 150, 100])
    splits = make_splits(indexed_dataset(labels), 600, 200, 150, seed=5)
    share = np.bincount(labels) / len(labels)
    for part in (splits.train, splits.control, splits.fitness):
        assert np.all(np.abs(np.bincount(part.y, minlength=4) - share * len(part)) <= 1.5)


def test_same_seed_same_split_other_seed_other_split() -> None:
    ds = indexed_dataset(np.repeat(np.arange(3), 50))
    a, b, c = (make_splits(ds, 90, 30, 30, seed=s) for s in (4, 4, 5))
    np.testing.assert_array_equal(a.train.x, b.train.x)
    np.testing.assert_array_equal(a.fitness.y, b.fitness.y)
    assert set(origin(a.control.x)) != set(origin(c.control.x))


@settings(max_examples=40, deadline=None)
@given(
    counts=st.lists(st.integers(3, 40), min_size=2, max_size=6),
    shares=st.tuples(st.floats(0.05, 1), st.floats(0.05, 1), st.floats(0.05, 1)),
    seed=st.integers(0, 2**32 - 1),
)
def test_partition_properties(counts: list[int], shares: tuple, seed: int) -> None:
    labels = np.repeat(np.arange(len(counts)), counts)
    n, k = len(labels), len(counts)
    room = n - 3 * k  # every part takes one image of each class first
    total = sum(shares)
    sizes = {name: k + int(room * s / total) for name, s in zip("abc", shares, strict=True)}
    parts = stratified_partition(labels, sizes, np.random.default_rng(seed), ["x"] * k)
    joined = np.concatenate(list(parts.values()))
    assert len(joined) == len(np.unique(joined)) == sum(sizes.values())
    for name, index in parts.items():
        assert len(index) == sizes[name]
        assert set(labels[index].tolist()) == set(range(k))  # every class in every part


def test_paper_split_sizes() -> None:
    assert paper_split_sizes(50000) == PAPER_SPLIT
    assert paper_split_sizes(1438) == (1236, 101, 101)
    assert sum(paper_split_sizes(777)) == 777


def test_full_train_test_keeps_a_real_test_split() -> None:
    ds = indexed_dataset(np.repeat(np.arange(3), 10))
    train, test = full_train_test(ds, holdout=0.5)
    assert train.x is ds.x_train and len(train) == 30
    assert (test.x == TEST_MARK).all() and len(test) == 5


def test_full_train_test_holds_out_without_a_test_split() -> None:
    ds = indexed_dataset(np.repeat(np.arange(3), 20), with_test=False)
    message = error_of(full_train_test, ds)
    assert "no test split" in message and "holdout" in message
    train, test = full_train_test(ds, holdout=0.25, seed=2)
    assert (len(train), len(test)) == (45, 15)
    assert np.bincount(test.y).tolist() == [5, 5, 5]
    assert not set(origin(train.x)) & set(origin(test.x))
    again = hold_out(ds, 0.25, seed=2)
    np.testing.assert_array_equal(again.x_test, test.x)


def test_only_trains_on_the_given_images_and_never_on_held_out_ones() -> None:
    with_test = indexed_dataset(np.repeat(np.arange(3), 20))
    only = np.array([7, 3, 41, 12])
    train, test = full_train_test(with_test, holdout=0.25, only=only)
    assert origin(train.x).tolist() == [7, 3, 41, 12] and (test.x == TEST_MARK).all()
    np.testing.assert_array_equal(train.y, with_test.y_train[only])

    ds = indexed_dataset(np.repeat(np.arange(3), 20), with_test=False)
    _, held = full_train_test(ds, holdout=0.25, seed=2)
    held_ids = origin(held.x)
    kept = np.setdiff1d(np.arange(60), held_ids)[:5]
    chosen = np.concatenate([held_ids[:3], kept])  # three of them are test images
    train, test = full_train_test(ds, holdout=0.25, seed=2, only=chosen)
    assert origin(train.x).tolist() == kept.tolist()  # held-out ones dropped, order kept
    np.testing.assert_array_equal(test.x, held.x)  # the same test split with or without only


@pytest.mark.parametrize(
    ("sizes", "expected"),
    [
        ((100, 10, 10), "exceed the 60 training images"),
        ((0.5, 0.3, 0.3), "exceed the 60 training images"),
        ((50, 2, 5), "'control' has 2 images, fewer than the 3 classes"),
        ((0, 5, 5), "count >= 1 or a fraction"),
        ((-3, 5, 5), "count >= 1 or a fraction"),
        ((float("nan"), 5, 5), "count >= 1 or a fraction"),
        ((True, 5, 5), "count >= 1 or a fraction"),
        ((10.5, 5, 5), "neither a whole count"),
        ((float("inf"), 5, 5), "neither a whole count"),
        ((10, 0.001, 5), "under one image"),
    ],
)
def test_bad_sizes(sizes: tuple, expected: str) -> None:
    ds = indexed_dataset(np.repeat(np.arange(3), 20))
    assert expected in error_of(make_splits, ds, *sizes, seed=0)


def test_class_too_small_to_stratify() -> None:
    labels = np.concatenate([np.repeat([0, 1], 30), [2, 2]])
    message = error_of(make_splits, indexed_dataset(labels), 30, 10, 10, seed=0)
    assert "class 'c2' has only 2 images" in message and "needs 3" in message


def test_numpy_integer_sizes_are_counts() -> None:
    ds = indexed_dataset(np.repeat(np.arange(3), 20))
    splits = make_splits(ds, np.int64(30), np.float64(6), 6, seed=0)
    assert (len(splits.train), len(splits.control), len(splits.fitness)) == (30, 6, 6)
