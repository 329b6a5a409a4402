"""The learning-unit summary of ``neronet best``: only the chosen optimizer's fields."""

from __future__ import annotations

import dataclasses

import pytest
from torch import nn

from neronet.reports.describe import describe_learning
from neronet.spec import OPTIMIZER_FIELDS, OPTIMIZERS, LearningSpec
from neronet.train.core import make_optimizer

ALL_FIELDS = {field for fields in OPTIMIZER_FIELDS.values() for field in fields}
CHANGED = {
    "momentum": 0.5,
    "nesterov": True,
    "beta1": 0.7,
    "beta2": 0.8,
    "rho": 0.6,
    "lr_biases": 0.02,
}


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_optimizer_fields_are_exactly_those_the_optimizer_reads(optimizer: str) -> None:
    """A field listed for an optimizer changes it; any other optimizer's field does not."""

    def defaults(learning: LearningSpec) -> dict[str, object]:
        return make_optimizer(nn.Linear(2, 2), learning, weight_decay=0.0).defaults

    base = LearningSpec(optimizer=optimizer)
    for field in sorted(ALL_FIELDS):
        changed = defaults(dataclasses.replace(base, **{field: CHANGED[field]}))
        assert (changed != defaults(base)) == (field in OPTIMIZER_FIELDS[optimizer]), field


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_describe_learning_lists_only_the_chosen_optimizers_fields(optimizer: str) -> None:
    # lr_biases is set (EvoDENSS's LARS units write it), to be listed for lars only
    text = describe_learning(LearningSpec(optimizer=optimizer, lr_biases=0.01).to_dict())
    keys = {item.split("=")[0] for item in text.split(", ")}
    assert keys & ALL_FIELDS == set(OPTIMIZER_FIELDS[optimizer])
    assert {"optimizer", "lr", "decay", "batch_size", "early_stop"} <= keys


def test_describe_learning_shows_everything_for_an_unknown_optimizer() -> None:
    learning = {**LearningSpec().to_dict(), "optimizer": "lion"}
    assert describe_learning(learning).count("=") == len(learning)
