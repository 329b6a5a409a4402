"""Post-search training on scikit-learn digits: schedules, exact resume, seeds, settings.

A two-conv CNN trains in a fraction of a second per epoch, so a real kill and
resume can be compared bit for bit with an uninterrupted run.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

import neronet
from neronet.augment import DeviceSplit
from neronet.config import AdversarialTraining, PostTrainConfig, StandardTraining, parse_config
from neronet.data import Dataset, full_train_test, load_dataset
from neronet.errors import ConfigError, DataError, InvalidArchitecture, StoreError
from neronet.export import spec_from_safetensors
from neronet.nn import build
from neronet.spec import LayerSpec, NetworkSpec, NodeSpec
from neronet.train.core import accuracy
from neronet.train.epoch_loop import lr_schedule
from neronet.train.posttrain import accuracy_text, summarize, train_seeds
from neronet.train.training_dir import held_out_note


def tiny_spec(input_shape: tuple[int, int, int] = (1, 8, 8)) -> NetworkSpec:
    """Two convs, BatchNorm, max-pool, dropout (so the global RNG matters) and an fc head."""

    def conv(filters: int) -> LayerSpec:
        params = {"filters": filters, "kernel": 3, "stride": 1, "padding": "same", "bias": False}
        return LayerSpec("conv", params)

    relu = LayerSpec("act", {"fn": "relu"})
    pool = LayerSpec("pool", {"op": "max", "kernel": 2, "stride": 2, "padding": "valid"})
    return NetworkSpec(
        input_shape,
        10,
        (
            NodeSpec("conv", (-1,), (conv(16), LayerSpec("bn"), relu)),
            NodeSpec("conv", (0,), (conv(32), LayerSpec("bn"), relu, pool)),
            NodeSpec(
                "fc",
                (1,),
                (LayerSpec("dropout", {"rate": 0.1}), LayerSpec("fc", {"units": 10, "bias": True})),
            ),
        ),
    )


def quick(mode: str, epochs: int = 3, seeds: int = 1, lr: float = 0.05) -> PostTrainConfig:
    """CPU-sized schedules: a few epochs, digits-sized PGD (eps 0.15, step eps/4, 3 steps)."""
    return PostTrainConfig(
        mode=mode,
        seeds=seeds,
        device="cpu",
        amp="off",
        standard=StandardTraining(epochs=epochs, lr=lr),
        adversarial=AdversarialTraining(epochs=epochs, lr=lr, eps=0.15, alpha=0.0375, steps=3),
    )


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset("digits")


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = load_file(str(a)), load_file(str(b))
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key


class Interrupted(Exception):
    pass


# ----------------------------------------------------------------------------- schedules


def test_paper_defaults() -> None:
    config = PostTrainConfig()
    s, a = config.standard, config.adversarial
    assert (s.epochs, s.batch_size, s.lr, s.momentum, s.grad_clip) == (350, 128, 0.025, 0.9, 5.0)
    assert s.schedule == "cosine" and s.weight_decay == 3e-4 and s.augment
    assert (a.epochs, a.batch_size, a.lr, a.steps, a.grad_clip) == (200, 64, 0.1, 7, 5.0)
    assert (a.eps, a.alpha, a.schedule) == (8 / 255, 2 / 255, "step")
    assert config.seeds == 10 and config.mode == "standard"


def test_cosine_schedule_anneals_to_zero() -> None:
    s = StandardTraining(epochs=10, lr=0.025)
    schedule = lr_schedule(s, steps_per_epoch=7)
    values = [schedule(step) for step in range(70)]
    assert values[0] == pytest.approx(0.025)
    assert all(later < earlier for earlier, later in itertools.pairwise(values))
    assert values[-1] < 1e-3 * values[0]
    assert schedule(70) == pytest.approx(0.0, abs=1e-12)
    assert values[35] == pytest.approx(0.0125)


def test_step_schedule_decays_at_epochs_100_and_150_of_200() -> None:
    a = AdversarialTraining()
    schedule = lr_schedule(a, steps_per_epoch=5)

    def at_epoch(epoch: int) -> float:
        return schedule(epoch * 5)

    assert at_epoch(0) == at_epoch(99) == pytest.approx(0.1)
    assert at_epoch(100) == at_epoch(149) == pytest.approx(0.01)
    assert at_epoch(150) == at_epoch(199) == pytest.approx(0.001)


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"standard": {"epochs": 0}}, "posttrain.standard.epochs"),
        ({"adversarial": {"milestones": [1.5]}}, "posttrain.adversarial.milestones"),
        ({"standard": {"warmup": 3}}, "posttrain.standard.warmup"),
        ({"mode": "robust"}, "posttrain.mode"),
        ({"test_every": -1}, "posttrain.test_every"),
    ],
)
def test_bad_settings_are_one_line_config_errors(data: dict, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"posttrain": data}, "train.yaml")
    message = str(err.value)
    assert key in message and "\n" not in message


# ------------------------------------------------------------------------ train / resume


@pytest.mark.parametrize("mode", ["standard", "adversarial"])
def test_interrupted_training_resumes_bit_identical(
    digits: Dataset, tmp_path: Path, mode: str
) -> None:
    spec, config = tiny_spec(), quick(mode)
    [full] = train_seeds(spec, digits, config, tmp_path / "full")

    def stop_after_two(info: dict) -> None:
        if info["epoch"] == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        train_seeds(spec, digits, config, tmp_path / "cut", progress=stop_after_two)
    checkpoints = tmp_path / "cut" / "seed-0" / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == [
        "epoch-0002.safetensors",
        "epoch-0002.state.pt",
    ]
    state = torch.load(
        io.BytesIO((checkpoints / "epoch-0002.state.pt").read_bytes()), weights_only=True
    )
    assert state["epoch"] == 2 and state["optimizer"]["state"]
    seen: list[int] = []
    [resumed] = train_seeds(
        spec, digits, config, tmp_path / "cut", progress=lambda i: seen.append(i["epoch"])
    )
    assert seen == [3]
    assert_same_weights(full.model_path, resumed.model_path)
    assert [e.test_accuracy for e in resumed.history] == [e.test_accuracy for e in full.history]
    assert not checkpoints.exists()
    saved_spec, _ = spec_from_safetensors(resumed.model_path)
    assert saved_spec == spec


KILL_SCRIPT = """
import os, signal, sys, threading
from neronet.data import load_dataset
from neronet.train.posttrain import PostTrainConfig, train_seeds
from neronet.spec import NetworkSpec

spec = NetworkSpec.from_json(open(sys.argv[1]).read())
config = PostTrainConfig.model_validate_json(open(sys.argv[2]).read())

def kill_during_epoch_three(info):
    if info["epoch"] == 2:
        threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGKILL)).start()

train_seeds(spec, load_dataset("digits"), config, sys.argv[3], progress=kill_during_epoch_three)
"""


def test_sigkilled_training_resumes_bit_identical(digits: Dataset, tmp_path: Path) -> None:
    spec, config = tiny_spec(), quick("adversarial", epochs=4)
    (tmp_path / "spec.json").write_text(spec.to_json())
    (tmp_path / "config.json").write_text(config.model_dump_json())
    root = str(Path(neronet.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": root, "OMP_NUM_THREADS": "1"}
    args = [tmp_path / "spec.json", tmp_path / "config.json", tmp_path / "cut"]
    proc = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, *map(str, args)], env=env, timeout=300, check=False
    )
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "cut" / "seed-0" / "model.safetensors").exists()
    [resumed] = train_seeds(spec, digits, config, tmp_path / "cut")
    [full] = train_seeds(spec, digits, config, tmp_path / "full")
    assert_same_weights(full.model_path, resumed.model_path)


def test_several_seeds_and_rerun_reads_them_back(digits: Dataset, tmp_path: Path) -> None:
    spec, config = tiny_spec(), quick("standard", epochs=1, seeds=2)
    results = train_seeds(spec, digits, config, tmp_path)
    assert [r.seed for r in results] == [0, 1]
    first, second = (load_file(str(r.model_path)) for r in results)
    assert not torch.equal(first["nodes.0.0.weight"], second["nodes.0.0.weight"])
    rows = (tmp_path / "train_results.csv").read_text().splitlines()
    assert rows[0].startswith("seed,") and len(rows) == 3
    mean, std = summarize(results)
    accuracies = [r.test_accuracy for r in results]
    assert mean == pytest.approx(np.mean(accuracies)) and std == pytest.approx(
        np.std(accuracies, ddof=1)
    )
    calls: list[dict] = []
    again = train_seeds(spec, digits, config, tmp_path, progress=calls.append)
    assert calls == []
    assert [r.test_accuracy for r in again] == accuracies
    meta = json.loads((tmp_path / "train.json").read_text())
    assert meta["dataset"] == "digits" and meta["spec_digest"] == spec.digest()


def test_the_test_split_is_tested_after_the_last_epoch_or_every_nth_and_decides_nothing(
    digits: Dataset, tmp_path: Path
) -> None:
    """By default only the last epoch is tested; ``test_every`` adds a curve. Testing
    consumes no randomness and touches no weights: every setting gives the same model and
    the same final accuracy, and the untested epochs are "-" in the progress line."""
    spec = tiny_spec()
    runs = {}
    for every in (0, 2, 1):
        config = quick("standard", epochs=3).model_copy(update={"test_every": every})
        seen: list[dict] = []
        [runs[every]] = train_seeds(
            spec, digits, config, tmp_path / str(every), progress=seen.append
        )
        assert [e["test_accuracy"] is None for e in seen] == [
            e.test_accuracy is None for e in runs[every].history
        ]
    tested = {k: [e.test_accuracy is not None for e in r.history] for k, r in runs.items()}
    assert tested == {0: [False, False, True], 2: [False, True, True], 1: [True, True, True]}
    for every in (0, 2):
        assert_same_weights(runs[1].model_path, runs[every].model_path)
        assert runs[every].test_accuracy == runs[1].test_accuracy
        assert [e.train_loss for e in runs[every].history] == [
            e.train_loss for e in runs[1].history
        ]
    assert runs[2].history[1].test_accuracy == runs[1].history[1].test_accuracy
    assert parse_config({"posttrain": {"test_every": 5}}).posttrain.test_every == 5
    assert accuracy_text({"test_accuracy": None}, 3) == "-"
    assert accuracy_text({"test_accuracy": 0.5}, 3) == "0.500"


def test_resume_with_other_settings_is_refused(digits: Dataset, tmp_path: Path) -> None:
    spec = tiny_spec()
    train_seeds(spec, digits, quick("standard", epochs=1), tmp_path)
    with pytest.raises(StoreError, match="schedule"):
        train_seeds(spec, digits, quick("standard", epochs=1, lr=0.1), tmp_path)


def test_corrupt_checkpoint_is_a_store_error(digits: Dataset, tmp_path: Path) -> None:
    spec, config = tiny_spec(), quick("standard", epochs=2)

    def stop(info: dict) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        train_seeds(spec, digits, config, tmp_path, progress=stop)
    (tmp_path / "seed-0" / "checkpoints" / "epoch-0001.state.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(StoreError, match="delete"):
        train_seeds(spec, digits, config, tmp_path)


def test_architecture_must_fit_the_dataset(digits: Dataset, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"\(3, 32, 32\)"):
        train_seeds(tiny_spec((3, 32, 32)), digits, quick("standard"), tmp_path)


def unbuildable_spec() -> NetworkSpec:
    """Fits 8x8 digits but four 2x2 poolings shrink the image below 1x1."""
    pool = LayerSpec("pool", {"op": "max", "kernel": 2, "stride": 2, "padding": "valid"})
    head = tiny_spec().nodes[2]
    return NetworkSpec((1, 8, 8), 10, (NodeSpec("conv", (-1,), (pool,) * 4), head))


def test_a_start_that_fails_claims_nothing(
    digits: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing trained, so a retry with another schedule must not be refused."""
    with pytest.raises(InvalidArchitecture):
        train_seeds(unbuildable_spec(), digits, quick("standard"), tmp_path)
    assert not (tmp_path / "train.json").exists()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    on_gpu = quick("standard", epochs=3).model_copy(update={"device": "cuda"})
    with pytest.raises(ConfigError, match="CUDA is unavailable"):
        train_seeds(tiny_spec(), digits, on_gpu, tmp_path)
    assert not (tmp_path / "train.json").exists()
    [result] = train_seeds(tiny_spec(), digits, quick("standard", epochs=1), tmp_path)
    assert result.epochs == 1 and (tmp_path / "train.json").is_file()


def truncate_model(seed_dir: Path) -> None:
    model = seed_dir / "model.safetensors"
    model.write_bytes(model.read_bytes()[:-64])


def corrupt_history(seed_dir: Path) -> None:
    (seed_dir / "history.json").write_text('[{"epoch": 1, "train_lo')


@pytest.mark.parametrize("damage", [truncate_model, corrupt_history])
def test_unusable_final_files_are_retrained(
    digits: Dataset, tmp_path: Path, damage: object, caplog: pytest.LogCaptureFixture
) -> None:
    spec, config = tiny_spec(), quick("standard", epochs=2)
    [full] = train_seeds(spec, digits, config, tmp_path / "full")
    [done] = train_seeds(spec, digits, config, tmp_path / "out")
    assert callable(damage)
    damage(tmp_path / "out" / "seed-0")
    seen: list[int] = []
    with caplog.at_level(logging.WARNING, logger="neronet.train.posttrain"):
        [again] = train_seeds(
            spec, digits, config, tmp_path / "out", progress=lambda i: seen.append(i["epoch"])
        )
    assert seen == [1, 2]  # retrained from scratch: no checkpoints are left after finishing
    assert "unusable" in caplog.text and "training the seed again" in caplog.text
    assert_same_weights(full.model_path, again.model_path)
    assert [e.test_accuracy for e in again.history] == [e.test_accuracy for e in done.history]
    calls: list[dict] = []
    train_seeds(spec, digits, config, tmp_path / "out", progress=calls.append)
    assert calls == []  # the rewritten files are trusted again


def test_stray_checkpoint_files_are_ignored(digits: Dataset, tmp_path: Path) -> None:
    spec, config = tiny_spec(), quick("standard", epochs=2)

    def stop(info: dict) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        train_seeds(spec, digits, config, tmp_path, progress=stop)
    checkpoints = tmp_path / "seed-0" / "checkpoints"
    stray = checkpoints / "epoch-abc.safetensors"
    stray.write_bytes(b"a user's file")
    seen: list[int] = []
    [result] = train_seeds(
        spec, digits, config, tmp_path, progress=lambda i: seen.append(i["epoch"])
    )
    assert seen == [2] and result.epochs == 2
    assert [p.name for p in checkpoints.iterdir()] == [stray.name]  # ours removed, not theirs


def test_train_only_dataset_holds_out_a_stratified_test_split(
    digits: Dataset, tmp_path: Path
) -> None:
    """Like the offline CIFAR-10 zip: no test split, so a seeded part of train is held out."""
    train_only = Dataset("train-only", digits.x_train, digits.y_train, digits.classes)
    config = quick("standard", epochs=1).model_copy(update={"holdout": 0.25, "holdout_seed": 3})
    [result] = train_seeds(tiny_spec(), train_only, config, tmp_path)
    with safe_open(str(result.model_path), "pt") as handle:
        meta = handle.metadata()
    assert (meta["holdout"], meta["holdout_seed"]) == ("0.25", "3")
    rest, held = full_train_test(train_only, 0.25, 3)
    assert len(held) == len(digits.y_train) // 4 and len(rest) + len(held) == len(digits.y_train)
    assert np.bincount(held.y).min() > 0
    spec, weights = spec_from_safetensors(result.model_path)
    model = build(spec)
    model.load_state_dict(weights)
    split = DeviceSplit.from_split(held, torch.device("cpu"))
    assert accuracy(model.eval(), split, 512, channels_last=True) == result.test_accuracy
    note = held_out_note(train_only, 0.25, 3)
    assert note is not None and f"{len(held)} of its {len(digits.y_train)}" in note
    assert held_out_note(digits, 0.25, 3) is None
    record = json.loads((tmp_path / "train.json").read_text())
    assert record["test_split"] == {"holdout": "0.25", "holdout_seed": "3"}
    other = config.model_copy(update={"holdout_seed": 4})
    with pytest.raises(StoreError, match="test_split"):
        train_seeds(tiny_spec(), train_only, other, tmp_path)


def test_divergence_is_reported(digits: Dataset, tmp_path: Path) -> None:
    config = quick("standard", epochs=1, lr=1e30)  # settings must be finite
    with pytest.raises(neronet.errors.NeronetError, match="diverged"):
        train_seeds(tiny_spec(), digits, config, tmp_path)


def test_a_memo_shares_finished_seeds_between_trainings(digits: Dataset, tmp_path: Path) -> None:
    """A seed another training finished the same way is copied from the memo, not trained;
    another seed or schedule is trained (and kept); a damaged copy is trained again and
    replaced."""
    memo = tmp_path / "memo"
    config = quick("standard", epochs=1, seeds=2)
    first = train_seeds(tiny_spec(), digits, config, tmp_path / "first", memo=memo)
    assert len(list(memo.iterdir())) == 2  # one entry per seed

    epochs: list[int] = []

    def count(info: dict) -> None:
        epochs.append(info["epoch"])

    second = train_seeds(
        tiny_spec(), digits, config, tmp_path / "second", memo=memo, progress=count
    )
    assert epochs == []  # nothing trained
    assert [r.test_accuracy for r in second] == [r.test_accuracy for r in first]
    for a, b in zip(first, second, strict=True):
        assert a.model_path.read_bytes() == b.model_path.read_bytes()
    assert (tmp_path / "second" / "train.json").is_file()  # claimed as a training of its own
    longer = train_seeds(
        tiny_spec(), digits, quick("standard", epochs=2), tmp_path / "l", memo=memo
    )
    assert len(longer) == 1 and len(list(memo.iterdir())) == 3
    for entry in memo.iterdir():
        truncate_model(entry)
    third = train_seeds(tiny_spec(), digits, config, tmp_path / "third", memo=memo, progress=count)
    assert epochs == [1, 1]  # both seeds' copies unusable: trained again
    assert [r.test_accuracy for r in third] == [r.test_accuracy for r in first]
    again = [entry / "model.safetensors" for entry in memo.iterdir()]
    assert sum(path.read_bytes() == r.model_path.read_bytes() for path in again for r in third) == 2
