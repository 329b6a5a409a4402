"""RAS's own training recipe (``ras.training``): what its candidates train with, what a
user-written RAS config may not say, how stored runs keep their recipe, and
``neronet train`` on a RAS run."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch
from rich.console import Console
from torch import nn

from neronet.augment import DeviceData
from neronet.cli.posttrain import _train_config
from neronet.config import TrainingConfig, load_config, parse_config
from neronet.data import load_dataset, make_splits
from neronet.errors import ConfigError
from neronet.evaluation.scores import ill_fitted_reason
from neronet.genotype import structure_for
from neronet.progress import search_plan
from neronet.search.ras_settings import LEGACY_RECIPE, RasConfig, RasSchedule
from neronet.search.strategies import make_strategy
from neronet.spec import LearningSpec
from neronet.train import budgeted
from neronet.train.budgeted import train
from neronet.train.core import make_optimizer

QUICKSTART = Path(__file__).parents[1] / "src" / "neronet" / "configs" / "ras-quickstart.yaml"
CPU = torch.device("cpu")


def _learning(*overrides: str) -> LearningSpec:
    """The LearningSpec of a RAS search's first candidate under the quickstart."""
    config = load_config(QUICKSTART, list(overrides))
    strategy = make_strategy(config, structure_for(config))
    return strategy.ask()[0].genotype.decode((1, 8, 8), 10)[1]


def test_candidates_train_with_the_recipe_not_the_training_section() -> None:
    learning = _learning("ras.training.patience=7")
    assert (learning.optimizer, learning.lr, learning.decay, learning.batch_size) == (
        "nadam",
        1e-3,
        0.0,
        128,
    )
    assert (learning.early_stop, learning.min_delta, learning.epochs) == (7, 0.001, 5)
    assert (learning.weight_decay, learning.augment, learning.restore_best) == (0.0, False, False)
    for shapes in (("flatten", "flatten"), ("per_pixel", "gpool")):
        overrides = [f"ras.dense={shapes[0]}", f"ras.head={shapes[1]}"]
        config = load_config(QUICKSTART, overrides)
        genotype = make_strategy(config, structure_for(config)).ask()[0].genotype
        assert (genotype.dense, genotype.head) == shapes
    plan = search_plan(load_config(QUICKSTART, ["ras.training.epochs=4"]), 9, "cpu")[0]
    assert "each trained for at most 4 epochs or " in plan  # the plan line says RAS's cap
    # None hands a setting back to the training section, which the user may then write
    inherited = _learning("ras.training.augment=null", "training.augment=true")
    assert inherited.augment is None


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("training.max_epochs=3", "ras.training.epochs"),
        ("training.weight_decay=0.1", "ras.training.weight_decay"),
        ("training.augment=false", "ras.training.augment"),
        ("training.schedule=cosine", "ras.training.lr"),
        ("fitness.warmup_tau=0.5", "clean \\+ transfer"),
        ("search.offspring=3", "ras.children"),
        ("search.mutation.add_unit=0.5", "13 mutations"),
        ("structure.max_depth=3", "no grammar"),
    ],
)
def test_nero_net_settings_a_user_writes_in_a_ras_config_are_refused(
    override: str, named: str
) -> None:
    key = override.partition("=")[0]
    with pytest.raises(ConfigError, match=rf"never reads {key} \(.*{named}.*\); remove it$"):
        load_config(QUICKSTART, [override])


def test_a_stored_ras_config_with_every_field_still_loads() -> None:
    """A stored run's config dumps every section with its defaults (training.max_epochs,
    fitness.warmup_tau, ...): only what a user wrote is checked."""
    stored = load_config(QUICKSTART).model_dump(mode="json")
    assert "max_epochs" in stored["training"]
    assert parse_config(stored, "stored").model_dump(mode="json") == stored
    # the same keys in a NERO-Net config are read, so they stay allowed
    load_config(None, ["training.max_epochs=3", "fitness.warmup_tau=0.5"])


def test_a_ras_section_from_before_the_recipe_keeps_its_recipe() -> None:
    """A run stored before ``ras.training`` trained with Adam and the training section;
    reading its config keeps that, so its learning digests (and resume) are unchanged."""
    old = RasConfig.model_validate({"initial_models": 3, "patience": 7, "min_delta": 0.01})
    recipe = old.training
    assert recipe.model_dump(include=set(LEGACY_RECIPE)) == LEGACY_RECIPE
    former = LearningSpec(
        optimizer="adam", lr=1e-3, decay=0.0, batch_size=128, early_stop=7, min_delta=0.01
    )
    assert recipe.learning().to_dict() == former.to_dict()
    with pytest.raises(ConfigError, match=r"'ras': patience moved to ras.training; write it"):
        load_config(QUICKSTART, ["ras.patience=3"])


def _digits() -> DeviceData:
    splits = make_splits(load_dataset("digits"), train=200, control=100, fitness=100, seed=0)
    return DeviceData.from_splits(splits, CPU)


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 10))


def _weights(
    data: DeviceData, restore_best: bool, control: list[float], monkeypatch: pytest.MonkeyPatch
) -> dict[str, torch.Tensor]:
    """Final weights of a 3-epoch training whose control accuracies are ``control``."""
    scores = iter(control)
    monkeypatch.setattr(budgeted._Loop, "_control_accuracy", lambda self: next(scores))
    learning = LearningSpec(optimizer="nadam", lr=0.01, batch_size=50, restore_best=restore_best)
    settings = TrainingConfig(device="cpu", max_epochs=3)
    result = train(_net(), learning, data, settings, 60.0, seed=0, device=CPU)
    assert result.epochs == 3
    return result.state.model_state


def test_the_recipe_keeps_the_last_weights_unless_told_to_restore_the_best(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = _digits()
    falling = [0.9, 0.5, 0.4]  # the best epoch is the first
    last = _weights(data, False, falling, monkeypatch)
    best = _weights(data, True, falling, monkeypatch)
    rising = _weights(data, True, [0.1, 0.2, 0.3], monkeypatch)  # best = last epoch
    assert all(torch.equal(last[k], rising[k]) for k in last)
    assert not all(torch.equal(last[k], best[k]) for k in last)


def test_the_recipe_switches_augmentation_for_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    data, calls = _digits(), []
    real = budgeted.Trainer.batch

    def counted(self, split, idx):  # type: ignore[no-untyped-def]
        calls.append(self.augment)
        return real(self, split, idx)

    monkeypatch.setattr(budgeted.Trainer, "batch", counted)
    settings = TrainingConfig(device="cpu", max_epochs=1, augment=True)
    for augment in (False, None):
        learning = LearningSpec(optimizer="nadam", batch_size=100, augment=augment)
        train(_net(), learning, data, settings, 60.0, seed=0, device=CPU)
    assert set(calls[:2]) == {False} and set(calls[2:]) == {True}


def test_nadam_is_torchs_nadam() -> None:
    optimizer = make_optimizer(_net(), LearningSpec(optimizer="nadam", lr=0.002), 0.0)
    assert isinstance(optimizer, torch.optim.NAdam) and optimizer.defaults["lr"] == 0.002


def _posttrain(run_overrides: list[str], config: Path | None, epochs: int | None):
    """``neronet train``'s posttrain settings for a run made from ``config``."""
    run_config = load_config(config, run_overrides)
    flags = {"mode": None, "seeds": None, "first_seed": None, "device": None}
    args = argparse.Namespace(**flags, epochs=epochs, config=None, overrides=[])
    return _train_config(args, run_config, Console(stderr=True, quiet=True))


def test_neronet_train_retrains_a_ras_winner_with_the_ras_recipe() -> None:
    schedule = _posttrain(["ras.training.final_epochs=7"], QUICKSTART, None).schedule
    assert isinstance(schedule, RasSchedule)
    assert (schedule.optimizer, schedule.lr, schedule.epochs, schedule.batch_size) == (
        "nadam",
        1e-3,
        7,
        128,
    )
    assert (schedule.weight_decay, schedule.augment, schedule.grad_clip) == (0.0, False, None)
    assert schedule.learning().optimizer == "nadam" and schedule.milestones == ()
    assert _posttrain([], QUICKSTART, 2).schedule.epochs == 2  # --epochs still shortens it
    nero = _posttrain([], None, None).schedule  # a NERO-Net run: section 6's SGD schedule
    assert not isinstance(nero, RasSchedule) and nero.learning().optimizer == "sgd"


def test_the_one_class_screen_can_be_turned_off() -> None:
    """The screen (chosen, not the paper's) is ``fitness.ill_fitted_share``; 1 turns it off."""
    one_class = torch.zeros(50, dtype=torch.long)
    assert ill_fitted_reason([1.0], one_class, 10, 0.5) is not None
    assert ill_fitted_reason([1.0], one_class, 10, 1.0) is None
