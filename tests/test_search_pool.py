"""A dataset without a test split: the search's splits leave its held-out images out.

Those images are the test split a run's best is retrained beside and attacked on, so a
search that drew its fitness images from them would be measured on images it selected
by. Runs begun before this rule are refused on resume, and their best cannot be
retrained on "its search images" by a version that would name other ones.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from test_cli_posttrain_attack import make_run, neronet, one_line
from test_search import StubExecutor, _config, _run

from neronet.cli import common as cli_common
from neronet.config import NeroConfig
from neronet.data import Dataset, full_train_test, hold_out, load_dataset
from neronet.data.splits import holdout_index, split_index
from neronet.errors import ConfigError, StoreError
from neronet.execution.worker import search_images, search_index, search_splits
from neronet.search.resume import diff_keys
from neronet.search.runner import HOLDOUT_LEFT_OUT, SEARCH_POOL
from neronet.store import RunStore

SIZES = {"train": 0.5, "control": 0.1, "fitness": 0.1}


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset("digits")


@pytest.fixture(scope="module")
def train_only(digits: Dataset) -> Dataset:
    """Like the offline CIFAR-10 zip: training images only."""
    return Dataset("digits", digits.x_train, digits.y_train, digits.classes)


def _with(data: dict[str, object], **posttrain: object) -> NeroConfig:
    return NeroConfig.model_validate({"seed": 5, "data": data, "posttrain": posttrain})


def test_no_split_takes_a_held_out_image(train_only: Dataset) -> None:
    config = _with({"dataset": "digits", **SIZES}, holdout=0.25, holdout_seed=3)
    held = holdout_index(train_only, 0.25, 3)["test"]
    index = search_index(train_only, config)
    for name, part in index.items():
        assert not np.isin(part, held).any(), name
    taken = np.concatenate(list(index.values()))
    assert len(set(taken.tolist())) == len(taken)  # disjoint
    kept = len(train_only.y_train) - len(held)  # fractions are of the images kept
    assert len(index["train"]) == int(0.5 * kept) and len(index["fitness"]) == int(0.1 * kept)
    # posttrain.images=search retrains on all of them: the hold-out drops none
    only = search_images(train_only, config)
    retrain, test = full_train_test(train_only, 0.25, 3, only)
    assert len(retrain.y) == len(only) and len(test.y) == len(held)


def test_the_splits_are_the_surveys(train_only: Dataset) -> None:
    """The survey holds the images out first, then draws: the same images either way."""
    config = _with({"dataset": "digits", **SIZES})
    ours = search_splits(train_only, config)
    survey = search_splits(hold_out(train_only, 0.2, 0), config)
    for name in ("train", "control", "fitness"):
        np.testing.assert_array_equal(getattr(ours, name).x, getattr(survey, name).x)
        np.testing.assert_array_equal(getattr(ours, name).y, getattr(survey, name).y)


def test_paper_sizes_scale_to_the_images_kept(train_only: Dataset) -> None:
    config = _with({"dataset": "digits"})
    kept = len(train_only.y_train) - len(holdout_index(train_only, 0.2, 0)["test"])
    assert sum(len(p) for p in search_index(train_only, config).values()) == kept


def test_a_real_test_split_changes_nothing(digits: Dataset) -> None:
    config = _with({"dataset": "digits", **SIZES}, holdout=0.25)
    index = search_index(digits, config)
    before = split_index(digits, *SIZES.values(), seed=5)  # the draw of earlier versions
    for name in SIZES:
        np.testing.assert_array_equal(index[name], before[name])


def test_the_hold_out_is_part_of_what_a_run_must_resume_with() -> None:
    a, b = _config(), _config("posttrain.holdout=0.3")
    assert diff_keys(a.search_relevant(), b.search_relevant()) == ["search_holdout.holdout"]
    c = _config("posttrain.standard.epochs=3")  # the rest of posttrain is after the search
    assert a.search_relevant() == c.search_relevant()


def _forget_pool(run: Path) -> None:
    """What a run begun before the rule looks like: no SEARCH_POOL in its meta."""
    with sqlite3.connect(run / "run.sqlite") as db:
        db.execute("DELETE FROM meta WHERE key=?", (SEARCH_POOL,))
    db.close()


def test_a_run_begun_before_the_rule_resumes_only_where_nothing_changed(
    tmp_path: Path, train_only: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config("search.generations=1")
    run = tmp_path / "r"
    _run(run, config, StubExecutor())
    assert RunStore.open(run, readonly=True).meta(SEARCH_POOL) == HOLDOUT_LEFT_OUT
    _forget_pool(run)
    _run(run, config, StubExecutor())  # digits ships a test split: its splits are as they were
    assert RunStore.open(run, readonly=True).meta(SEARCH_POOL) == HOLDOUT_LEFT_OUT
    _forget_pool(run)
    monkeypatch.setattr("neronet.data.load_dataset", lambda *a, **k: train_only)
    stored = RunStore.open(run, readonly=True).count_individuals()
    with pytest.raises(StoreError) as err:
        _run(run, config, StubExecutor())
    assert "training images, the held-out test images included" in one_line(err)
    assert "start it anew" in str(err.value)
    after = RunStore.open(run, readonly=True)
    assert after.meta(SEARCH_POOL) is None and after.count_individuals() == stored > 0


def _mark(run: Path) -> None:
    store = RunStore.open(run)
    store.set_meta(SEARCH_POOL, HOLDOUT_LEFT_OUT)
    store.close()


def test_a_runs_best_is_retrained_under_the_runs_own_hold_out(
    tmp_path: Path, train_only: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_common, "load_dataset", lambda name, path=None: train_only)
    run, new = tmp_path / "old", tmp_path / "new"
    data = {"dataset": "digits", "train": 120, "control": 30, "fitness": 40}
    make_run(run, data)  # begun before the rule: no SEARCH_POOL
    make_run(new, data)
    _mark(new)
    flags = ("--epochs", 1, "--seeds", 1, "--device", "cpu")
    with pytest.raises(ConfigError) as err:  # another hold-out would test on search images
        neronet("train", "--run", new, "--id", 1, *flags, "--out", tmp_path / "a",
                "posttrain.holdout=0.3")  # fmt: skip
    assert "is not the run's (0.2, seed 0)" in one_line(err)
    assert not (tmp_path / "a").exists()
    with pytest.raises(ConfigError) as err:  # its search images are not this version's
        neronet("train", "--run", run, "--id", 1, *flags, "--out", tmp_path / "b",
                "posttrain.images=search")  # fmt: skip
    assert "set posttrain.images=all" in one_line(err)
    assert not (tmp_path / "b").exists()
    assert neronet("train", "--run", run, "--id", 1, *flags, "--out", tmp_path / "c") == 0
    assert "selected partly on held-out images" in (tmp_path / "c" / "train.log").read_text()
    out = tmp_path / "d"
    assert neronet("train", "--run", new, "--id", 1, *flags, "--out", out,
                   "posttrain.images=search") == 0  # fmt: skip
    log = (out / "train.log").read_text()
    assert "training on the run's 150 search train + control images" in log
    assert "selected partly" not in log
