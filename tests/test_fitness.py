"""Scores of masks (C, A, C*A), the weighted HRS, ill-fitted screening, and the objectives."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from neronet.config import NeroConfig, parse_config
from neronet.errors import ConfigError
from neronet.evaluation.objectives import OBJECTIVES, make_objective, weighted_hrs
from neronet.evaluation.result import Outcome
from neronet.evaluation.scores import (
    clean_accuracy,
    conditional_adversarial_accuracy,
    ill_fitted_reason,
    overall_adversarial_accuracy,
)
from neronet.plugins import check_plugins


def test_weighted_hrs_reproduces_paper_best_individual() -> None:
    assert round(weighted_hrs(0.8749, 0.3325, beta=4.0), 4) == 0.7983
    assert round(weighted_hrs(0.8749, 0.3325), 4) == 0.7983  # beta=4 is the default


def test_weighted_hrs_edge_cases() -> None:
    assert weighted_hrs(0.0, 0.0) == 0.0
    assert weighted_hrs(0.9, 0.0) == 0.0
    assert weighted_hrs(0.0, 0.7) == 0.0
    assert weighted_hrs(0.6, 1.0) == pytest.approx(17 * 0.6 / (16 + 0.6))
    assert weighted_hrs(1.0, 1.0) == pytest.approx(1.0)
    assert weighted_hrs(0.5, 0.5) == pytest.approx(0.5)  # harmonic mean of equal values
    # beta=1 is the plain harmonic mean; larger beta pulls towards clean accuracy
    assert weighted_hrs(0.9, 0.3, beta=1.0) == pytest.approx(2 * 0.9 * 0.3 / 1.2)
    assert weighted_hrs(0.9, 0.3, beta=4.0) > weighted_hrs(0.9, 0.3, beta=1.0)


def test_accuracies_from_masks_numpy_and_torch() -> None:
    clean = np.array([True, True, True, False, True, False, True, True])
    adv = np.array([True, False, True, True, False, False, True, False])
    # adv[3] is True on a clean-wrong sample: it must not count as robust
    assert clean_accuracy(clean) == pytest.approx(6 / 8)
    assert conditional_adversarial_accuracy(clean, adv) == pytest.approx(3 / 6)
    assert overall_adversarial_accuracy(clean, adv) == pytest.approx(3 / 8)
    tc, ta = torch.from_numpy(clean), torch.from_numpy(adv)
    assert clean_accuracy(tc) == clean_accuracy(clean)
    assert conditional_adversarial_accuracy(tc, ta) == pytest.approx(0.5)


def test_conditional_accuracy_is_zero_when_nothing_clean_correct() -> None:
    none = np.zeros(5, dtype=bool)
    assert clean_accuracy(none) == 0.0
    assert conditional_adversarial_accuracy(none, np.ones(5, dtype=bool)) == 0.0
    assert overall_adversarial_accuracy(none, none) == 0.0
    assert clean_accuracy(np.zeros(0, dtype=bool)) == 0.0


def test_ill_fitted_non_finite_loss_names_epoch() -> None:
    healthy_preds = np.arange(100) % 10
    assert ill_fitted_reason([2.3, 1.5, 1.1], healthy_preds, 10, 0.5) is None
    reason = ill_fitted_reason([2.3, math.nan, 1.1], healthy_preds, 10, 0.5)
    assert reason is not None and "epoch 2" in reason and "nan" in reason
    reason = ill_fitted_reason([2.3, 1.0, math.inf], healthy_preds, 10, 0.5)
    assert reason is not None and "epoch 3" in reason and "inf" in reason
    reason = ill_fitted_reason([-math.inf], healthy_preds, 10, 0.5)
    assert reason is not None and "epoch 1" in reason


def test_ill_fitted_dominant_class_names_class_and_share() -> None:
    constant = torch.full((200,), 7)
    reason = ill_fitted_reason([1.0], constant, 10, 0.5)
    assert reason is not None and "class 7" in reason and "100.0%" in reason
    skewed = np.array([3] * 60 + list(range(10)) * 4)  # class 3: 64 of 100
    reason = ill_fitted_reason([1.0], skewed, 10, 0.5)
    assert reason is not None and "class 3" in reason and "64.0%" in reason
    # exactly at the limit is still healthy (more than the share is required)
    at_limit = np.array([2] * 50 + [5] * 50)
    assert ill_fitted_reason([1.0], at_limit, 10, 0.5) is None
    # a weak but real model (uneven yet spread predictions) is healthy
    weak = np.array([0] * 40 + [1] * 30 + [2] * 20 + [9] * 10)
    assert ill_fitted_reason([1.0], weak, 10, 0.5) is None
    assert ill_fitted_reason([1.0], weak, 10, 0.35) is not None


def _ok(clean: float, adversarial: float | None = None) -> Outcome:
    metrics = {"clean_accuracy": clean}
    if adversarial is not None:
        metrics["adversarial_accuracy"] = adversarial
    return Outcome(0, "ok", metrics)


def test_nero_net_objective_warmup_switch_is_permanent() -> None:
    config = NeroConfig.model_validate({"fitness": {"warmup_tau": 0.8, "ill_fitted_penalty": -1}})
    objective = make_objective(config)
    assert objective.fitness(_ok(0.7, 0.2)) == 0.7  # warm-up: clean accuracy
    assert objective.fitness(_ok(0.7)) == 0.7  # A not needed in warm-up
    assert objective.fitness(Outcome(1, "ill-fitted", {"clean_accuracy": 0.9})) == -1
    assert objective.end_generation([0.79, 0.80]) == {"warmup": True, "switched": False}
    assert objective.end_generation([0.80, 0.80]) == {"warmup": True, "switched": True}
    assert objective.fitness(_ok(0.7, 0.2)) == weighted_hrs(0.7, 0.2, 4.0)
    # once over, warm-up never returns, even if the mean falls again
    assert objective.end_generation([0.0]) == {"warmup": False, "switched": False}
    assert objective.describe() == "weighted HRS"


@pytest.mark.parametrize(
    ("objective", "attack"), [("nero-net", "adversarial_accuracy"), ("pgd", "pgd_accuracy")]
)
def test_a_masking_flag_never_raises_the_robustness_it_credits(objective: str, attack: str) -> None:
    """A flagged individual is credited its probe's PGD accuracy (or 0), never more than
    its attack's own: a flag for "PGD weaker than FGSM" carries a PGD accuracy above the
    FGSM one, which credited as it was made the flag a reward."""
    config = NeroConfig.model_validate(
        {"search": {"objective": objective}, "fitness": {"warmup_tau": 0.0}}
    )
    judge = make_objective(config)
    judge.end_generation([1.0])  # past the warm-up
    flagged = {"clean_accuracy": 0.85, attack: 0.20, "masking_flag": 1.0}
    weaker_pgd = Outcome(0, "ok", {**flagged, "masking_pgd_accuracy": 0.60})
    unflagged = Outcome(1, "ok", {"clean_accuracy": 0.85, attack: 0.20})
    assert judge.robustness(weaker_pgd) == 0.20
    assert judge.fitness(weaker_pgd) == judge.fitness(unflagged)
    masked = Outcome(2, "ok", {**flagged, "masking_pgd_accuracy": 0.05})
    assert judge.robustness(masked) == 0.05  # a masked one: its PGD accuracy, lower
    zero = make_objective(
        NeroConfig.model_validate(
            {"search": {"objective": objective}, "fitness": {"masking": {"credit": "zero"}}}
        )
    )
    assert zero.robustness(weaker_pgd) == 0.0


def test_accuracy_objective_ignores_robustness() -> None:
    objective = make_objective(NeroConfig.model_validate({"search": {"objective": "accuracy"}}))
    assert objective.fitness(_ok(0.7, 0.9)) == objective.fitness(_ok(0.7, 0.0)) == 0.7
    assert objective.end_generation([1.0]) == {}


def test_objective_and_measurement_names_are_checked_against_the_registries() -> None:
    def check(data: dict) -> NeroConfig:
        return check_plugins(parse_config(data), "config")

    with pytest.raises(
        ConfigError, match="unknown objective 'hrs'; choose one of accuracy, nero-net"
    ):
        check({"search": {"objective": "hrs"}})
    with pytest.raises(ConfigError, match=r"'search\.strategy': unknown strategy 'x'; choose"):
        check({"search": {"strategy": "x"}})
    with pytest.raises(ConfigError, match="unknown measurement 'cw'"):
        check({"evaluation": {"measurements": ["clean", "cw"]}})
    with pytest.raises(ConfigError, match=r"needs metric.* adversarial_accuracy"):
        check({"evaluation": {"measurements": ["clean"]}})
    assert check({"search": {"objective": "accuracy"}, "evaluation": {"measurements": ["clean"]}})
    # the schema alone reads a config whose plug-ins are not installed here (a stored run's)
    assert parse_config({"search": {"strategy": "elsewhere"}}).search.strategy == "elsewhere"
    assert "nero-net" in OBJECTIVES.names()
