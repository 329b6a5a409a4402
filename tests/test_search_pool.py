"""A dataset without a test split: the search's splits leave its held-out images out.

Those images are the test split a run's best is retrained beside and attacked on, so a
search that drew its fitness images from them would be measured on images it selected
by. Runs begun before this rule are refused on resume, and their best cannot be
retrained on "its search images" by a version that would name other ones.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from test_cli_posttrain_attack import make_run, neronet, one_line
from test_search import StubExecutor, _config, _run

from neronet.cli import common as cli_common
from neronet.config import NeroConfig, grammar_text
from neronet.data import Dataset, full_train_test, hold_out, load_dataset
from neronet.data.splits import holdout_index, split_index
from neronet.errors import ConfigError, StoreError
from neronet.execution.worker import search_images, search_index, search_splits
from neronet.search.resume import diff_keys
from neronet.search.runner import HOLDOUT_LEFT_OUT, SEARCH_POOL, SearchRun
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


def test_a_run_begun_before_the_rule_searches_on_only_where_nothing_changed(
    tmp_path: Path, train_only: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config("search.generations=1")
    run = tmp_path / "r"
    _run(run, config, StubExecutor())
    assert RunStore.open(run, readonly=True).meta(SEARCH_POOL) == HOLDOUT_LEFT_OUT
    _forget_pool(run)
    monkeypatch.setattr("neronet.data.load_dataset", lambda *a, **k: train_only)
    _run(run, config, StubExecutor())  # finished and unchanged: nothing searches again
    assert RunStore.open(run, readonly=True).meta(SEARCH_POOL) is None  # still the old one's
    longer = _config("search.generations=2")
    stored = RunStore.open(run, readonly=True).count_individuals()
    with pytest.raises(StoreError) as err:  # refused before --allow-changed rewrites it
        _run(run, longer, StubExecutor(), allow_changed=True)
    assert "training images, the held-out test images included" in one_line(err)
    assert "start it anew" in str(err.value)
    after = RunStore.open(run, readonly=True)
    assert after.meta(SEARCH_POOL) is None and after.count_individuals() == stored > 0
    assert after.meta("finished") is True and after.config().search.generations == 1
    assert not any(kind == "resume-changed" for _, kind, _ in after.events())
    monkeypatch.undo()  # digits ships a test split: its splits are as they were, so it goes on
    _run(run, longer, StubExecutor(), allow_changed=True)
    assert RunStore.open(run, readonly=True).meta(SEARCH_POOL) == HOLDOUT_LEFT_OUT


def test_an_executor_on_another_hold_out_is_refused(tmp_path: Path) -> None:
    config = _config("search.generations=1")
    wrong = StubExecutor()
    wrong.data_splits = _config("posttrain.holdout=0.3").splits_identity
    text, name = grammar_text(config)
    with pytest.raises(ValueError, match=r"'holdout': 0\.3"):
        SearchRun.open(config, text, name, tmp_path / "r").run(wrong)


def test_an_executor_handed_in_is_left_open(tmp_path: Path) -> None:
    """The caller owns it (a study's lanes, a test's cluster): a run closes only its own."""

    class Counting(StubExecutor):
        closed = 0

        def close(self) -> None:
            self.closed += 1

    executor = Counting()
    _run(tmp_path / "r", _config("search.generations=1"), executor)
    assert executor.requests and executor.closed == 0


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
    assert "set posttrain.holdout=0.2 posttrain.holdout_seed=0, or leave" in one_line(err)
    assert not (tmp_path / "a").exists()
    # the same images as a count: not another hold-out
    count = int(0.2 * len(train_only.y_train))
    out = tmp_path / "b"
    assert neronet("train", "--run", new, "--id", 1, *flags, "--out", out,
                   f"posttrain.holdout={count}", "posttrain.images=search") == 0  # fmt: skip
    log = (out / "train.log").read_text()
    assert "training on the run's 150 search train + control images, not" in log
    assert "selected partly" not in log
    # a config file without a hold-out retrains under the run's, not the file's default
    other = tmp_path / "other.yaml"
    other.write_text("posttrain:\n  standard:\n    epochs: 1\n")
    run_03 = tmp_path / "run03"
    make_run(run_03, data)
    _mark(run_03)
    store = RunStore.open(run_03)
    store.set_meta("config", {"data": data, "posttrain": {"holdout": 0.3}})
    store.close()
    out = tmp_path / "c"
    assert neronet("train", "--run", run_03, "--id", 1, *flags, "--out", out,
                   "--config", other) == 0  # fmt: skip
    assert "holdout=0.3" in (out / "train.log").read_text()
    # a run begun before: its own draw of every image, less the held-out ones, and said
    out = tmp_path / "d"
    assert neronet("train", "--run", run, "--id", 1, *flags, "--out", out,
                   "posttrain.images=search") == 0  # fmt: skip
    log = (out / "train.log").read_text()
    assert "selected partly on held-out images" in log
    assert "(less any the hold-out takes)" in log
    config = NeroConfig.model_validate({"data": data})
    old = search_images(train_only, config, without_holdout=False)  # the draw it searched on
    assert np.isin(old, holdout_index(train_only, 0.2, 0)["test"]).any()
    assert f"run's {len(old)} search train + control images (less any" in log
    recorded = json.loads((out / "train.json").read_text())["images"]
    assert recorded == hashlib.sha256(old).hexdigest()
