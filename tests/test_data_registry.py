"""``load_dataset`` dispatch and the embedded digits dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers_errors import error_of
from sklearn.datasets import load_digits as sklearn_digits

from neronet.data import DATASETS, load_dataset, make_splits


def test_digits_is_uint8_with_a_fixed_stratified_test_split() -> None:
    ds = load_dataset("digits")
    assert ds.name == "digits" and ds.classes == [str(d) for d in range(10)]
    assert ds.x_train.dtype == np.uint8 and ds.x_train.shape[1:] == (1, 8, 8)
    assert ds.x_test is not None and ds.y_test is not None
    assert len(ds.y_train) + len(ds.y_test) == 1797 and len(ds.y_test) == 359
    assert ds.x_train.max() == 255 and ds.x_train.min() == 0
    share = np.bincount(ds.y_test) / np.bincount(np.concatenate([ds.y_train, ds.y_test]))
    assert np.all(np.abs(share - 0.2) < 0.03)
    again = load_dataset("digits")
    np.testing.assert_array_equal(again.x_test, ds.x_test)
    np.testing.assert_array_equal(again.y_train, ds.y_train)


def test_digits_pixels_are_rescaled_sklearn_values() -> None:
    bunch = sklearn_digits()
    expected = {
        img.tobytes(): label
        for img, label in zip(
            np.rint(bunch.images * 255 / 16).astype(np.uint8), bunch.target, strict=True
        )
    }
    ds = load_dataset("digits")
    for x, y in zip(ds.x_test[:50, 0], ds.y_test[:50], strict=True):
        assert expected[x.tobytes()] == y


def test_digits_splits_for_the_quickstart() -> None:
    splits = make_splits(load_dataset("digits"), 0.70, 0.15, 0.15, seed=0)
    assert splits.input_shape == (1, 8, 8) and splits.num_classes == 10
    assert len(splits.train) + len(splits.control) + len(splits.fitness) <= 1438


def test_limit_per_class_applies_to_every_split() -> None:
    ds = load_dataset("digits", limit_per_class=4)
    assert np.bincount(ds.y_train).tolist() == [4] * 10
    assert ds.y_test is not None and np.bincount(ds.y_test).tolist() == [4] * 10


def test_unknown_name_lists_the_valid_ones() -> None:
    message = error_of(load_dataset, "mnist")
    assert "unknown dataset 'mnist'" in message and ", ".join(DATASETS) in message


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"name": "digits", "path": "/tmp"}, "takes no path"),
        ({"name": "digits", "download": True}, "only available for cifar10"),
        ({"name": "fashion-mnist", "download": True}, "only available for cifar10"),
        ({"name": "digits", "limit_per_class": 0}, "limit_per_class=0"),
    ],
)
def test_bad_arguments(kwargs: dict, expected: str, tmp_path: Path) -> None:
    assert expected in error_of(load_dataset, cache_dir=tmp_path, **kwargs)
