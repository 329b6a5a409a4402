"""evaluate_individual on digits: happy path, invalid, ill-fitted, OOM, warm start."""

import json

import pytest
import torch
from torch import nn

from neronet import evaluator
from neronet.augment import DeviceData
from neronet.config import FitnessConfig, TrainingConfig
from neronet.data import load_dataset, make_splits
from neronet.data.splits import DataSplits
from neronet.evaluator import EvalSettings, evaluate_individual, load_weights
from neronet.fitness import weighted_hrs
from neronet.spec import INPUT, LayerSpec, LearningSpec, NetworkSpec, NodeSpec
from neronet.train.core import accuracy

ADAM = LearningSpec(optimizer="adam", lr=0.01, batch_size=64, early_stop=100)
SETTINGS = EvalSettings(
    training=TrainingConfig(device="cpu", max_epochs=5),
    fitness=FitnessConfig(attack_eps=0.1),
)


@pytest.fixture(scope="module")
def splits() -> DataSplits:
    return make_splits(load_dataset("digits"), train=900, control=250, fitness=250, seed=0)


def conv(filters: int, kernel: int = 3, padding: str = "same") -> LayerSpec:
    params = {"filters": filters, "kernel": kernel, "stride": 1, "padding": padding, "bias": True}
    return LayerSpec("conv", params)


def small_spec(first_kernel: int = 3, first_padding: str = "same") -> NetworkSpec:
    """conv-bn-relu-maxpool, conv-bn-relu-global avg pool, fc to 10 classes."""
    relu = LayerSpec("act", {"fn": "relu"})
    pool = LayerSpec("pool", {"op": "max", "kernel": 2, "stride": 2, "padding": "valid"})
    nodes = (
        NodeSpec("stem", (INPUT,), (conv(16, first_kernel, first_padding), LayerSpec("bn"), relu)),
        NodeSpec("node", (0,), (pool, conv(32), LayerSpec("bn"), relu)),
        NodeSpec("gpool", (1,), (LayerSpec("gpool", {"op": "avg"}),)),
        NodeSpec("softmax", (2,), (LayerSpec("fc", {"units": 10, "bias": True}),)),
    )
    return NetworkSpec(input_shape=(1, 8, 8), num_classes=10, nodes=nodes)


class Constant(nn.Module):
    """Always predicts class 3 (a trainable bias, frozen by lr=0)."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(10))
        with torch.no_grad():
            self.bias[3] = 5.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bias + 0.0 * x.flatten(1).sum(1, keepdim=True)


class Failing(nn.Module):
    """Raises ``error`` on the first forward pass."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.error = error

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise self.error


def test_happy_path_metrics_weights_and_record(splits: DataSplits) -> None:
    spec = small_spec()
    ev = evaluate_individual(spec, ADAM, 60.0, splits, SETTINGS, seed=0)
    assert ev.status == "ok", ev.reason
    assert ev.reason is None
    assert ev.clean_accuracy > 0.5
    assert 0.0 <= ev.adversarial_accuracy <= 1.0
    assert ev.overall_adversarial_accuracy == pytest.approx(
        ev.clean_accuracy * ev.adversarial_accuracy
    )
    assert ev.fitness == pytest.approx(weighted_hrs(ev.clean_accuracy, ev.adversarial_accuracy))
    assert ev.epochs == 5 and len(ev.history) == 5 and ev.stop_reason == "max_epochs"
    assert ev.train_seconds > 0 and ev.attack_seconds > 0 and ev.eval_seconds > 0
    assert ev.parameters == sum(p.numel() for p in evaluator.build(spec).parameters())

    model = load_weights(spec, ev.weights)
    data = DeviceData.from_splits(splits, "cpu")
    assert accuracy(model, data.fitness, 64) == pytest.approx(ev.clean_accuracy)
    assert accuracy(model, data.control, 64) == pytest.approx(ev.control_accuracy)

    record = ev.to_record()
    assert "weights" not in record and "train_state" not in record
    assert json.loads(json.dumps(record, allow_nan=False))["status"] == "ok"


def test_deterministic_given_seed(splits: DataSplits) -> None:
    settings = EvalSettings(training=TrainingConfig(device="cpu", max_epochs=2))
    data = DeviceData.from_splits(splits, "cpu")
    first = evaluate_individual(small_spec(), ADAM, 60.0, data, settings, seed=4)
    second = evaluate_individual(small_spec(), ADAM, 60.0, data, settings, seed=4)
    keys = ("train_loss", "control_accuracy")
    assert [[r[k] for k in keys] for r in first.history] == [
        [r[k] for k in keys] for r in second.history
    ]
    assert first.adversarial_accuracy == second.adversarial_accuracy


def test_warm_start_continues_training(splits: DataSplits) -> None:
    settings = EvalSettings(training=TrainingConfig(device="cpu", max_epochs=2))
    parent = evaluate_individual(small_spec(), ADAM, 60.0, splits, settings, seed=0)
    child = evaluate_individual(
        small_spec(), ADAM, 60.0, splits, settings, seed=1, warm_start=parent.train_state
    )
    assert child.status == "ok"
    assert [r["epoch"] for r in child.history] == [1, 2, 3, 4]
    assert child.history[:2] == parent.history
    assert child.epochs == 2
    assert child.control_accuracy >= parent.control_accuracy


def test_warmup_still_measures_the_attack(splits: DataSplits) -> None:
    settings = EvalSettings(training=SETTINGS.training, fitness=FitnessConfig(), warmup=True)
    ev = evaluate_individual(small_spec(), ADAM, 60.0, splits, settings, seed=0)
    assert ev.status == "ok"
    assert ev.adversarial_accuracy is not None and ev.attack_seconds > 0.0
    assert ev.fitness == ev.clean_accuracy


def test_invalid_architecture_is_reported_not_raised(splits: DataSplits) -> None:
    spec = small_spec(first_kernel=9, first_padding="valid")  # 8x8 input, 9x9 kernel
    ev = evaluate_individual(spec, ADAM, 60.0, splits, SETTINGS, seed=0)
    assert ev.status == "invalid"
    assert ev.reason.startswith("invalid architecture: ")
    assert "\n" not in ev.reason
    assert ev.weights is None and ev.clean_accuracy is None


def test_constant_class_model_is_ill_fitted(
    splits: DataSplits, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(evaluator, "build", lambda spec: Constant())
    frozen = LearningSpec(optimizer="sgd", lr=0.0, batch_size=64)
    ev = evaluate_individual(small_spec(), frozen, 60.0, splits, SETTINGS, seed=0)
    assert ev.status == "ill-fitted"
    assert ev.reason.startswith("class 3 predicted for 100.0%")
    assert ev.adversarial_accuracy is None and ev.attack_seconds == 0.0
    assert ev.fitness == SETTINGS.fitness.ill_fitted_penalty
    assert ev.clean_accuracy == pytest.approx(float((splits.fitness.y == 3).mean()))


def test_non_finite_loss_is_ill_fitted(splits: DataSplits) -> None:
    wild = LearningSpec(optimizer="sgd", lr=1e6, momentum=0.9, batch_size=64)
    ev = evaluate_individual(small_spec(), wild, 60.0, splits, SETTINGS, seed=0)
    assert ev.status == "ill-fitted"
    assert ev.reason.startswith("non-finite loss at epoch ")
    assert ev.stop_reason == "non_finite"
    assert ev.adversarial_accuracy is None
    json.dumps(ev.to_record(), allow_nan=False)  # the NaN loss is stored as null


def test_out_of_memory_is_invalid(splits: DataSplits, monkeypatch: pytest.MonkeyPatch) -> None:
    oom = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB\nmore text")
    monkeypatch.setattr(evaluator, "build", lambda spec: Failing(oom))
    ev = evaluate_individual(small_spec(), ADAM, 60.0, splits, SETTINGS, seed=0)
    assert ev.status == "invalid"
    assert ev.reason == "out of memory: CUDA out of memory. Tried to allocate 80.00 GiB"
    assert ev.parameters is not None


def test_build_crash_is_invalid(splits: DataSplits, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(spec: NetworkSpec) -> nn.Module:
        raise ValueError("kernel larger than input")

    monkeypatch.setattr(evaluator, "build", broken)
    ev = evaluate_individual(small_spec(), ADAM, 60.0, splits, SETTINGS, seed=0)
    assert ev.status == "invalid"
    assert ev.reason == "invalid architecture: build failed: ValueError: kernel larger than input"


def test_other_errors_propagate(splits: DataSplits, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug is not an invalid individual: it must surface."""
    monkeypatch.setattr(evaluator, "build", lambda spec: Failing(RuntimeError("shape bug")))
    with pytest.raises(RuntimeError, match="shape bug"):
        evaluate_individual(small_spec(), ADAM, 60.0, splits, SETTINGS, seed=0)
