"""Objectives: metrics -> fitness, the one place fitness is computed.

A strategy is handed an objective (pymoo's split of algorithm and problem) and
asks it for the fitness of every outcome; it never computes fitness itself.
An objective may carry state that changes only at generation ends (NERO-Net's
warm-up switch), so a strategy that replays stored outcomes reaches exactly
the objective state the run had. A scalar objective returns a float; a
multi-objective one returns a tuple (``scalar = False``).

Register a new objective with ``@OBJECTIVES.register("name")`` on a class
taking the run config; ``search.objective: name`` selects it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from neronet.evaluation.result import Outcome
from neronet.registry import Registry
from neronet.search.pareto import Fitness, costs_of, hypervolume

if TYPE_CHECKING:
    from neronet.config import NeroConfig


class Objective(ABC):
    """Fitness of outcomes; ``requires`` names the metrics it reads."""

    requires: tuple[str, ...] = ()
    scalar: bool = True

    @classmethod
    def required(cls, config: NeroConfig) -> tuple[str, ...]:
        """The metrics this objective reads under ``config`` (checked against the configured
        measurements before a run starts); a configurable objective overrides it."""
        del config
        return cls.requires

    @abstractmethod
    def fitness(self, outcome: Outcome) -> Fitness:
        """The outcome's fitness under the objective's current state (higher is better)."""

    def end_generation(self, fitnesses: Sequence[Fitness]) -> dict[str, Any]:
        """A generation's selection is final; update state and say what happened.

        Returns facts for the generation's record (e.g. ``{"switched": True}``).
        """
        del fitnesses
        return {}

    def describe(self) -> str:
        """The current objective in words, for progress lines and reports."""
        return type(self).__name__

    def summary(self, elites: Sequence[Fitness], members: Sequence[Fitness]) -> tuple[float, float]:
        """A generation's ``(best_fitness, mean_fitness)`` from its elites' fitness (best
        first) and its members': the first elite's and the members' mean, for a scalar
        objective."""
        return float(elites[0]), float(np.mean([float(f) for f in members]))


OBJECTIVES: Registry[type[Objective]] = Registry("objective")


def weighted_hrs(clean: float, adversarial: float, beta: float = 4.0) -> float:
    """Weighted harmonic robustness score ``(1+b^2) C A / (b^2 A + C)``.

    ``beta > 1`` weights clean accuracy ``beta`` times as much as adversarial
    accuracy (the F-beta form; the paper's best individual: C 0.8749,
    A 0.3325 -> 0.7983). 0.0 when both accuracies are 0.
    """
    b2 = beta * beta
    denominator = b2 * adversarial + clean
    return (1 + b2) * clean * adversarial / denominator if denominator > 0 else 0.0


@OBJECTIVES.register("nero-net")
class NeroNetObjective(Objective):
    """NERO-Net: clean accuracy during warm-up, then the weighted HRS of C and A, for good.

    The warm-up ends when a generation's mean fitness reaches ``fitness.warmup_tau``
    (so robustness is rewarded only once networks learn). Individuals that are not
    ``ok`` (ill-fitted, invalid) get ``fitness.ill_fitted_penalty``. ``A`` is FGSM
    accuracy conditional on clean correctness (``adversarial_accuracy``).
    """

    requires = ("clean_accuracy", "adversarial_accuracy")
    adversarial_metric = "adversarial_accuracy"
    """The attack accuracy ``A`` is read from (FGSM's; the ``pgd`` objective's PGD-k)."""

    def __init__(self, config: NeroConfig) -> None:
        self.beta = config.fitness.beta
        self.tau = config.fitness.warmup_tau
        self.penalty = config.fitness.ill_fitted_penalty
        self.masked_credit = config.fitness.masking.credit
        self.warmup = True

    def fitness(self, outcome: Outcome) -> float:
        if outcome.status != "ok":
            return self.penalty
        clean = outcome.metric("clean_accuracy")
        if self.warmup:
            return clean
        return weighted_hrs(clean, self.robustness(outcome), self.beta)

    def robustness(self, outcome: Outcome) -> float:
        """``A``: FGSM accuracy, unless the masking check flagged the individual; then
        its PGD accuracy on the probed images (``fitness.masking.credit: pgd``) or 0,
        never more than the attack's own (a flag for "PGD weaker than FGSM" would
        otherwise raise it), so the search cannot climb by breaking the attack's
        gradient."""
        measured = outcome.metric(self.adversarial_metric)
        if outcome.metric("masking_flag"):
            credit = outcome.metric("masking_pgd_accuracy") if self.masked_credit == "pgd" else 0.0
            return min(measured, credit)
        return measured

    def end_generation(self, fitnesses: Sequence[Fitness]) -> dict[str, Any]:
        during = self.warmup
        mean = float(np.mean([float(f) for f in fitnesses])) if fitnesses else 0.0
        switched = during and mean >= self.tau
        if switched:
            self.warmup = False
        return {"warmup": during, "switched": switched}

    def describe(self) -> str:
        return "warm-up (fitness = clean accuracy)" if self.warmup else "weighted HRS"


def nero_net_fitness(config: NeroConfig, status: str, metrics: dict[str, float]) -> float:
    """The fitness NERO-Net's search gives these metrics after its warm-up: one yardstick
    for individuals of any search (the survey's signal, the experiment's anytime curves)."""
    objective = NeroNetObjective(config)
    objective.warmup = False
    return objective.fitness(Outcome(0, status, metrics))


@OBJECTIVES.register("pgd")
class PgdObjective(NeroNetObjective):
    """NERO-Net's objective with PGD-k accuracy (measurement ``pgd``) in place of FGSM's:
    the same warm-up, weighted HRS and masking check (a flagged individual is still
    credited its masking-probe PGD accuracy). Whether the cheaper FGSM signal ranks
    architectures as well as a few PGD steps do is what comparing the two measures."""

    requires = ("clean_accuracy", "pgd_accuracy")
    adversarial_metric = "pgd_accuracy"

    def describe(self) -> str:
        return "warm-up (fitness = clean accuracy)" if self.warmup else "weighted HRS (PGD)"


@OBJECTIVES.register("accuracy")
class AccuracyObjective(Objective):
    """Clean accuracy alone: the usual NAS objective, the baseline robustness must beat."""

    requires = ("clean_accuracy",)

    def __init__(self, config: NeroConfig) -> None:
        self.penalty = config.fitness.ill_fitted_penalty

    def fitness(self, outcome: Outcome) -> float:
        return outcome.metric("clean_accuracy") if outcome.status == "ok" else self.penalty

    def describe(self) -> str:
        return "clean accuracy"


@OBJECTIVES.register("ras")
class RasObjective(Objective):
    """RAS (Kotyan and Vargas): fitness = clean accuracy + accuracy on the transfer set of
    adversarial samples crafted against other models (``transfer`` measurement)."""

    requires = ("clean_accuracy", "transfer_accuracy")

    def __init__(self, config: NeroConfig) -> None:
        self.penalty = config.fitness.ill_fitted_penalty

    def fitness(self, outcome: Outcome) -> float:
        if outcome.status != "ok":
            return self.penalty
        return outcome.metric("clean_accuracy") + outcome.metric("transfer_accuracy")

    def describe(self) -> str:
        return "RAS (clean + transfer accuracy)"


@OBJECTIVES.register("pareto")
class ParetoObjective(Objective):
    """Several metrics at once (``fitness.pareto``), for a Pareto search (NSGA-II).

    The fitness is a tuple, higher is better: a ``max`` metric as measured, a ``min``
    metric negated (``parameters: 483800`` is ``-483800``). Individuals that are not
    ``ok`` get ``-inf`` everywhere, worse than any measured network. A generation is
    summarised by hypervolumes (see :meth:`summary`).
    """

    scalar = False

    def __init__(self, config: NeroConfig) -> None:
        self.targets = config.fitness.pareto
        self.signs = np.array([1.0 if t.goal == "max" else -1.0 for t in self.targets])
        reference, ideal = np.array([t.bounds for t in self.targets]).T
        self.reference = self.signs * reference  # in fitness units
        self.extent = np.abs(ideal - reference)

    @classmethod
    def required(cls, config: NeroConfig) -> tuple[str, ...]:
        return tuple(t.metric for t in config.fitness.pareto)

    def fitness(self, outcome: Outcome) -> tuple[float, ...]:
        if outcome.status != "ok":
            return tuple(-math.inf for _ in self.targets)
        return tuple(
            float(sign * outcome.metric(t.metric))
            for sign, t in zip(self.signs, self.targets, strict=True)
        )

    def components(self) -> tuple[str, ...]:
        return tuple(t.metric for t in self.targets)

    def hypervolume(self, fitnesses: Sequence[Fitness]) -> float:
        """The share of the box between each objective's reference and ideal value that
        ``fitnesses`` dominate (0: nothing better than the references; 1: the ideal)."""
        gains = -costs_of(fitnesses).reshape(-1, len(self.targets)) - self.reference
        return hypervolume(-gains / self.extent, np.zeros(len(self.targets)))

    def summary(self, elites: Sequence[Fitness], members: Sequence[Fitness]) -> tuple[float, float]:
        """``best_fitness``: the hypervolume of the elites (the front); ``mean_fitness``:
        the members' mean hypervolume each on its own (how good a typical member is)."""
        return self.hypervolume(elites), float(np.mean([self.hypervolume([f]) for f in members]))

    def describe(self) -> str:
        return "Pareto: " + ", ".join(f"{t.goal} {t.metric}" for t in self.targets)


def make_objective(config: NeroConfig) -> Objective:
    """A fresh objective named by ``search.objective`` (its state at the run's start)."""
    return OBJECTIVES.get(config.search.objective)(config)


def stored_components(config: NeroConfig) -> tuple[str, ...] | None:
    """The fitness components of a run from its stored config (``RunStore.config()``),
    None when its objective is scalar (or not registered here, e.g. a test's toy one)."""
    name = config.search.objective
    if name not in OBJECTIVES or OBJECTIVES.get(name).scalar:
        return None
    return make_objective(config).components()
