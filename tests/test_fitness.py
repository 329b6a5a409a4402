"""Fitness formulas, warm-up switch and ill-fitted screening."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch

from neronet.config import FitnessConfig
from neronet.fitness import (
    FitnessResult,
    WarmupState,
    clean_accuracy,
    conditional_adversarial_accuracy,
    fitness_value,
    ill_fitted_reason,
    overall_adversarial_accuracy,
    score_individual,
    warmup_over,
    weighted_hrs,
)


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


def test_fitness_value_warmup_and_after() -> None:
    assert fitness_value(0.7, 0.2, warmup=True, beta=4.0) == 0.7
    assert fitness_value(0.7, None, warmup=True, beta=4.0) == 0.7
    assert fitness_value(0.7, 0.2, warmup=False, beta=4.0) == weighted_hrs(0.7, 0.2, 4.0)
    with pytest.raises(ValueError, match="adversarial accuracy"):
        fitness_value(0.7, None, warmup=False, beta=4.0)


def test_warmup_switch_is_permanent() -> None:
    assert warmup_over(0.80, 0.80)
    assert not warmup_over(0.7999, 0.80)
    state = WarmupState(tau=0.8)
    assert state.warmup
    assert not state.observe(0.5)
    assert state.warmup
    assert state.observe(0.81)
    assert not state.warmup
    # a later generation whose mean drops below tau does not switch back
    assert state.observe(0.3)
    assert state.over and not state.warmup
    resumed = WarmupState(tau=0.8, over=True)
    assert resumed.observe(0.0) and not resumed.warmup


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


def _attack_spy(
    result: np.ndarray,
) -> tuple[list[np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    seen: list[np.ndarray] = []

    def attack(clean_correct: np.ndarray) -> np.ndarray:
        seen.append(np.asarray(clean_correct).copy())
        return result

    return seen, attack


def test_score_individual_healthy_after_warmup() -> None:
    labels = np.arange(20) % 10
    predictions = labels.copy()
    predictions[:4] = (predictions[:4] + 1) % 10  # 16 of 20 correct
    adv = np.zeros(20, dtype=bool)
    adv[4:12] = True  # 8 of the 16 clean-correct survive
    seen, attack = _attack_spy(adv)
    result = score_individual(
        [2.0, 1.0],
        predictions,
        labels,
        FitnessConfig(),
        num_classes=10,
        warmup=False,
        attack=attack,
    )
    assert len(seen) == 1 and seen[0].tolist() == (predictions == labels).tolist()
    assert result == FitnessResult(
        fitness=weighted_hrs(0.8, 0.5, 4.0),
        clean=0.8,
        adversarial=0.5,
        overall_adversarial=pytest.approx(0.4),
        ill_fitted=None,
    )


def test_score_individual_warmup_measures_attack_but_scores_clean() -> None:
    labels = np.arange(10)
    adv = np.ones(10, dtype=bool)
    seen, attack = _attack_spy(adv)
    measured = score_individual(
        [1.0], labels, labels, FitnessConfig(), num_classes=10, warmup=True, attack=attack
    )
    assert measured.fitness == 1.0 and measured.adversarial == 1.0 and len(seen) == 1


def test_score_individual_ill_fitted_skips_attack_and_penalises() -> None:
    labels = np.arange(30) % 10
    seen, attack = _attack_spy(np.ones(30, dtype=bool))
    settings = FitnessConfig(ill_fitted_penalty=-1.0)
    constant = score_individual(
        [1.0],
        np.zeros(30, dtype=np.int64),
        labels,
        settings,
        num_classes=10,
        warmup=False,
        attack=attack,
    )
    assert constant.fitness == -1.0 and constant.ill_fitted and "class 0" in constant.ill_fitted
    assert constant.clean == pytest.approx(0.1) and constant.adversarial is None
    diverged = score_individual(
        [1.0, math.nan], labels, labels, settings, num_classes=10, warmup=True, attack=attack
    )
    assert diverged.fitness == -1.0 and "non-finite" in (diverged.ill_fitted or "")
    assert seen == []
