"""evaluate_individual on digits: happy path, invalid, ill-fitted, OOM, warm start."""

import json

import pytest
import torch
from torch import nn

from neronet.augment import DeviceData
from neronet.config import FitnessConfig, TrainingConfig
from neronet.data import load_dataset, make_splits
from neronet.data.splits import DataSplits
from neronet.evaluation import individual as evaluator
from neronet.evaluation.individual import EvalSettings, evaluate_individual, load_weights
from neronet.evaluation.measurements import MASKING_METRICS, MEASUREMENTS, Measurement
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
    m = ev.metrics
    assert list(m) == [
        "parameters",  # architecture-only measurements first
        "clean_accuracy",
        "adversarial_accuracy",
        "overall_adversarial_accuracy",
        *MASKING_METRICS,
    ]
    assert m["masking_flag"] == 0.0 and m["masking_images"] > 0  # an honest network
    # learned: three times chance (training seeds 0-7 give 0.48-0.71 on one machine, so 0.5
    # sat inside the spread another CPU's float rounding could cross)
    assert m["clean_accuracy"] > 0.3
    assert 0.0 <= m["adversarial_accuracy"] <= 1.0
    assert m["overall_adversarial_accuracy"] == pytest.approx(
        m["clean_accuracy"] * m["adversarial_accuracy"]
    )
    assert ev.epochs == 5 and len(ev.history) == 5 and ev.stop_reason == "max_epochs"
    timed = ("train", "predict", "fgsm", "masking", "clean", "parameters")
    assert all(ev.seconds[k] > 0 for k in timed)
    assert ev.seconds["masking"] < ev.seconds["fgsm"] + ev.seconds["train"]
    assert m["parameters"] == sum(p.numel() for p in evaluator.build(spec).parameters())

    model = load_weights(spec, ev.weights)
    data = DeviceData.from_splits(splits, "cpu")
    assert accuracy(model, data.fitness, 64) == pytest.approx(m["clean_accuracy"])
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
    assert first.metrics == second.metrics


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


def test_a_measurement_registered_from_outside_runs_in_order(splits: DataSplits) -> None:
    seen = []

    def margin(ind: evaluator.Trained) -> dict[str, float]:
        seen.append(ind.model is not None and ind.predictions is not None)
        return {"toy_margin": 0.25}

    MEASUREMENTS.register("toy", Measurement("toy", margin, ("toy_margin",)))
    try:
        settings = EvalSettings(SETTINGS.training, SETTINGS.fitness, ("toy", "clean"))
        ev = evaluate_individual(small_spec(), ADAM, 60.0, splits, settings, seed=0)
    finally:
        MEASUREMENTS.unregister("toy")
    assert seen == [True] and list(ev.metrics) == ["toy_margin", "clean_accuracy"]
    assert "fgsm" not in ev.seconds  # only what is configured runs


def test_invalid_architecture_is_reported_not_raised(splits: DataSplits) -> None:
    spec = small_spec(first_kernel=9, first_padding="valid")  # 8x8 input, 9x9 kernel
    ev = evaluate_individual(spec, ADAM, 60.0, splits, SETTINGS, seed=0)
    assert ev.status == "invalid"
    assert ev.reason.startswith("invalid architecture: ")
    assert "\n" not in ev.reason
    assert ev.weights is None and "clean_accuracy" not in ev.metrics


def test_constant_class_model_is_ill_fitted(
    splits: DataSplits, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(evaluator, "build", lambda spec, **kw: Constant())
    frozen = LearningSpec(optimizer="sgd", lr=0.0, batch_size=64)
    ev = evaluate_individual(small_spec(), frozen, 60.0, splits, SETTINGS, seed=0)
    assert ev.status == "ill-fitted"
    assert ev.reason.startswith("class 3 predicted for 100.0%")
    assert "adversarial_accuracy" not in ev.metrics and "fgsm" not in ev.seconds
    assert ev.metrics["clean_accuracy"] == pytest.approx(float((splits.fitness.y == 3).mean()))


def test_non_finite_loss_is_ill_fitted(splits: DataSplits) -> None:
    wild = LearningSpec(optimizer="sgd", lr=1e6, momentum=0.9, batch_size=64)
    ev = evaluate_individual(small_spec(), wild, 60.0, splits, SETTINGS, seed=0)
    assert ev.status == "ill-fitted"
    assert ev.reason.startswith("non-finite loss at epoch ")
    assert ev.stop_reason == "non_finite"
    assert "adversarial_accuracy" not in ev.metrics
    json.dumps(ev.to_record(), allow_nan=False)  # the NaN loss is stored as null


def test_out_of_memory_is_invalid(splits: DataSplits, monkeypatch: pytest.MonkeyPatch) -> None:
    oom = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB\nmore text")
    monkeypatch.setattr(evaluator, "build", lambda spec, **kw: Failing(oom))
    ev = evaluate_individual(small_spec(), ADAM, 60.0, splits, SETTINGS, seed=0)
    assert ev.status == "invalid"
    assert ev.reason == "out of memory: CUDA out of memory. Tried to allocate 80.00 GiB"
    assert ev.metrics["parameters"] > 0  # architecture-only measurements still describe it


def test_build_crash_is_invalid(splits: DataSplits, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(spec: NetworkSpec, **kw: object) -> nn.Module:
        raise ValueError("kernel larger than input")

    monkeypatch.setattr(evaluator, "build", broken)
    ev = evaluate_individual(small_spec(), ADAM, 60.0, splits, SETTINGS, seed=0)
    assert ev.status == "invalid"
    assert ev.reason == "invalid architecture: build failed: ValueError: kernel larger than input"


def test_other_errors_propagate(splits: DataSplits, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug is not an invalid individual: it must surface."""
    monkeypatch.setattr(evaluator, "build", lambda spec, **kw: Failing(RuntimeError("shape bug")))
    with pytest.raises(RuntimeError, match="shape bug"):
        evaluate_individual(small_spec(), ADAM, 60.0, splits, SETTINGS, seed=0)
