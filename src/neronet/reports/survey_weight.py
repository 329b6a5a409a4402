"""The NERO-Net fitness's weight: the survey's rows scored again at other betas.

The fitness is a weighted harmonic mean of clean and attack accuracy (beta: how much
more clean accuracy weighs); every row keeps its search-time accuracies, so the fitness
at any beta, and at this version's masking rule and penalty, is recomputed from them
rather than measured again.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, NamedTuple

from neronet.evaluation.objectives import weighted_hrs
from neronet.evaluation.result import Outcome
from neronet.reports.statistics import Estimate, kendall_difference, kendall_interval
from neronet.survey.store import TARGET, Record, metric_values

if TYPE_CHECKING:
    from neronet.evaluation.objectives import NeroNetObjective

BETAS = (0.0, 0.5, 1.0, 2.0, 4.0, math.inf)
"""The weighted HRS's beta values the report scores the fitness at: 0 is the attack
accuracy alone, 1 the plain harmonic mean, inf the clean accuracy alone."""


def fitness_at(objective: NeroNetObjective, record: Record, beta: float) -> float:
    """The fitness ``record``'s search-time numbers get from NERO-Net's objective (after
    its warm-up) with the weighted HRS at ``beta`` instead of the configured one; the
    objective's penalty where the search judged it anything but ok, nan where it was
    never measured."""
    if record.status != "ok":
        return objective.penalty if "clean_accuracy" in record.metrics else math.nan
    outcome = Outcome(record.index, record.status, record.metrics)
    clean = outcome.metric("clean_accuracy")
    if math.isinf(beta):
        return clean
    return weighted_hrs(clean, objective.robustness(outcome), beta)


def rescored(records: list[Record], objective: NeroNetObjective) -> list[Record]:
    """The rows with their NERO-Net fitness scored again from their stored search-time
    numbers by ``objective`` at its beta: rows measured by different versions of the rule
    (e.g. before the masking credit was capped at the attack's own accuracy) are then one
    measurement. Rows without a stored fitness stay as they are."""
    key = "nero_net_fitness"
    return [
        dataclasses.replace(r, metrics={**r.metrics, key: fitness_at(objective, r, objective.beta)})
        if key in r.metrics
        else r
        for r in records
    ]


class BetaScore(NamedTuple):
    """The fitness at one beta: its Kendall tau against the final AutoAttack accuracy over
    every row and over the healthy ones, and (every row) its tau minus the configured
    beta's, paired bootstrap."""

    beta: float
    every: Estimate
    healthy: Estimate
    gain: Estimate


def beta_sweep(records: list[Record], objective: NeroNetObjective) -> list[BetaScore]:
    """The fitness at each of :data:`BETAS` (:class:`BetaScore`)."""
    healthy = [r for r in records if r.status == "ok"]
    target = metric_values(records, TARGET)
    configured = [fitness_at(objective, r, objective.beta) for r in records]
    found = []
    for beta in BETAS:
        every = [fitness_at(objective, r, beta) for r in records]
        ok = [fitness_at(objective, r, beta) for r in healthy]
        found.append(
            BetaScore(
                beta,
                kendall_interval(every, target),
                kendall_interval(ok, metric_values(healthy, TARGET)),
                kendall_difference(every, configured, target),
            )
        )
    return found


def beta_table(records: list[Record], objective: NeroNetObjective) -> list[str]:
    """:func:`beta_sweep` as SURVEY.md's table: where between the attack accuracy and the
    clean accuracy the weighted HRS loses (or keeps) what the attack accuracy ranks."""

    def name(beta: float) -> str:
        label = {0.0: " (attack accuracy alone)", 1.0: " (plain HRS)", math.inf: " (clean alone)"}
        text = "inf" if math.isinf(beta) else f"{beta:g}"
        mine = " (this survey's)" if beta == objective.beta else ""
        return f"{text}{label.get(beta, '')}{mine}"

    sweep = beta_sweep(records, objective)
    rows = [
        f"| {name(s.beta)} | {s.every.text()} | "
        f"{'-' if s.beta == objective.beta else s.gain.text()} | {s.healthy.text()} |"
        for s in sweep
    ]
    return [
        "The fitness's weight: NERO-Net's fitness recomputed from each row's search-time "
        "clean and attack accuracies (masking rule and ill-fitted penalty as configured) "
        "with the weighted HRS's beta set to each value, Kendall tau against the final "
        "AutoAttack accuracy, and over all rows its tau minus that at this survey's beta "
        f"({objective.beta:g}) with a paired bootstrap interval. Beta > 1 weights clean "
        "accuracy beta times as much as attack accuracy. Read as a description of these "
        "rows: a beta chosen from this table would have its tau overstated by the choice.",
        "",
        f"| beta | all rows (n = {sweep[0].every.n}) [95 % CI] | minus this survey's beta "
        f"[95 % CI] | healthy (n = {sweep[0].healthy.n}) [95 % CI] |",
        "|---|---|---|---|",
        *rows,
        "",
    ]
