"""``load_dataset`` by registered name, the embedded digits dataset, and a dataset
registered from outside the package used by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers_errors import error_of
from sklearn.datasets import load_digits as sklearn_digits

from neronet.config import load_config, parse_config
from neronet.data import DATASETS, Dataset, DatasetLoader, Source, load_dataset, make_splits
from neronet.errors import ConfigError
from neronet.plugins import check_plugins


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
    assert "unknown dataset 'mnist'" in message and ", ".join(sorted(DATASETS)) in message


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


class Blank(DatasetLoader):
    """Two black and two white 4x4 images, read from nowhere."""

    takes_path = False

    def load(self, source: Source) -> Dataset:
        x = np.repeat(np.array([0, 255], dtype=np.uint8), 2).reshape(4, 1, 1, 1)
        return Dataset("blank", np.tile(x, (1, 1, 4, 4)), np.array([0, 0, 1, 1]), ["b", "w"])


def test_a_registered_dataset_is_known_by_name_to_the_config_check_and_the_loader() -> None:
    config = load_config(None, ["data.dataset=blank"])  # the schema checks no names
    with pytest.raises(ConfigError, match="unknown dataset 'blank'; choose one of"):
        check_plugins(config)
    DATASETS.register("blank", Blank)
    try:
        assert check_plugins(config) is config
        ds = load_dataset("blank", limit_per_class=1)
        assert ds.input_shape == (1, 4, 4) and ds.y_train.tolist() == [0, 1]
        with pytest.raises(ConfigError, match=r"'data\.path': dataset 'blank' takes no path"):
            check_plugins(load_config(None, ["data.dataset=blank", "data.path=/tmp"]))
    finally:
        DATASETS.unregister("blank")


def test_a_stored_config_naming_a_dataset_not_installed_here_still_reads() -> None:
    assert parse_config({"data": {"dataset": "gone"}}, "run.sqlite").data.dataset == "gone"
