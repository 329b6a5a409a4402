"""The survey's report: does a search-time signal rank architectures by final robustness?

For each signal (the NERO-Net fitness, the search-time clean / FGSM / PGD-k
accuracies, the training-free proxies, the parameter count), Kendall's tau-b and
Spearman's rho against the final AutoAttack accuracy, each with a seeded
bootstrap 95 % interval (:mod:`neronet.reports.statistics`), over the
architectures that have both numbers, and the partial rho with the parameter count
held fixed (size ranks robustness by itself); the fitness at other weights
(:mod:`neronet.reports.survey_weight`); a scatter plot per signal; and the survey as a
dataset (:mod:`neronet.reports.survey_dataset`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from neronet.reports.plots import save
from neronet.reports.statistics import (
    DEFAULT_RESAMPLES,
    MIN_INTERVAL_PAIRS,
    Estimate,
    kendall_difference,
    kendall_interval,
    median_difference,
    spearman_interval,
    spearman_partial,
)
from neronet.reports.summary import duration
from neronet.reports.survey_dataset import COLUMNS, retests_csv, to_csv, write_parquet
from neronet.reports.survey_weight import beta_table, rescored
from neronet.store import atomic_write
from neronet.survey.store import TARGET, Record, Retest, metric_values

if TYPE_CHECKING:
    from neronet.evaluation.objectives import NeroNetObjective

SIGNALS = {
    "nero_net_fitness": "NERO-Net fitness (weighted HRS, after warm-up)",
    "clean_accuracy": "search-time clean accuracy",
    "adversarial_accuracy": "search-time FGSM accuracy (conditional)",
    "pgd_accuracy": "search-time PGD-k accuracy (conditional)",
    "overall_adversarial_accuracy": "search-time FGSM accuracy (overall)",
    "overall_pgd_accuracy": "search-time PGD-k accuracy (overall)",
    "proxy_grad_norm": "input-gradient norm at init (lower: more robust)",
    "proxy_curvature": "loss curvature at init (lower: more robust)",
    "proxy_croze": "CRoZe consistency at init",
    "parameters": "parameters",
}
LOWER_IS_ROBUST = frozenset({"proxy_grad_norm", "proxy_curvature"})
"""Signals whose small values the literature reads as robustness (a small input gradient:
first-order stability; CURE: a flat loss in input space). Their tau with the final
robustness is expected below 0, so the comparison with FGSM negates them: every signal is
judged in the direction fixed before the data, not in the one the data happen to show."""
REFERENCES = {
    "final_clean": "clean accuracy after retraining",
    "final_pgd20": "PGD-20 accuracy after retraining",
}
"""The ground truth's other numbers against its AutoAttack accuracy: no search can use
them (they need the retraining), but they give a signal's tau its scale (how far the
retrained network's own accuracy goes in ranking its robustness) and check the ground
truth (PGD-20 and AutoAttack must order the architectures nearly alike)."""
SIZE = "parameters"
"""The confound the report holds fixed: size ranks robustness at the survey's radius, and
the search's budget judges large networks ill-fitted."""
BASELINE = "adversarial_accuracy"
"""The signal NERO-Net searches on: another earns a place (a prefilter, say) only by
ranking the final robustness clearly better than it."""


def correlations(
    records: list[Record], keys: Iterable[str] = SIGNALS, target_key: str = TARGET
) -> dict[str, tuple[Estimate, Estimate]]:
    """Per signal (or other ``keys``): (tau, rho) with intervals against the final
    AutoAttack accuracy (or the final metric ``target_key``)."""
    target = metric_values(records, target_key)
    return {
        key: (
            kendall_interval(metric_values(records, key), target),
            spearman_interval(metric_values(records, key), target),
        )
        for key in keys
    }


def scatter_figure(records: list[Record], key: str, tau: Estimate) -> Figure:
    """One signal against the final AutoAttack accuracy, one point per architecture."""
    fig = Figure(figsize=(4.5, 3.6))
    ax = fig.add_subplot()
    pairs = [
        (x, y)
        for x, y in zip(metric_values(records, key), metric_values(records, TARGET), strict=True)
        if math.isfinite(x) and math.isfinite(y)
    ]
    ax.scatter([p[0] for p in pairs], [100 * p[1] for p in pairs], s=12, alpha=0.7)
    if (
        key in ("proxy_grad_norm", "proxy_curvature", "parameters")
        and pairs
        and min(p[0] for p in pairs) > 0
    ):
        ax.set_xscale("log")
    ax.set_xlabel(SIGNALS[key])
    ax.set_ylabel("final AutoAttack accuracy (%)")
    ax.set_title(f"Kendall tau {tau.text()} (n={tau.n})", fontsize=9)
    fig.tight_layout()
    return fig


def _table(
    found: dict[str, tuple[Estimate, Estimate]], labels: dict[str, str] = SIGNALS
) -> list[str]:
    rows = ["| signal | n | Kendall tau [95 % CI] | Spearman rho [95 % CI] |", "|---|---|---|---|"]
    rows += [
        f"| {labels[k]} | {tau.n} | {tau.text()} | {rho.text()} |"
        for k, (tau, rho) in found.items()
    ]
    return rows


def oriented(records: list[Record], key: str) -> list[float]:
    """The signal's values, negated for a :data:`LOWER_IS_ROBUST` one, so that higher
    means more robust for every signal."""
    sign = -1.0 if key in LOWER_IS_ROBUST else 1.0
    return [sign * v for v in metric_values(records, key)]


CHALLENGERS = tuple(key for key in SIGNALS if key != BASELINE)
"""The signals judged against FGSM's, together: whichever clears the bar earns the
prefilter, so the bar holds for the whole table (:data:`CHALLENGER_LEVEL`)."""
CHALLENGER_LEVEL = 1 - 0.05 / len(CHALLENGERS)
"""Each challenger's interval level: Bonferroni over them, so that the chance that any
of them looks better than FGSM by luck alone stays at 5 % (at 95 % each, nine
independent ones would let one through about a third of the time)."""
CHALLENGER_RESAMPLES = 10_000
"""Enough resamples that a tail of 1 - :data:`CHALLENGER_LEVEL` halved holds a few dozen."""


def against_baseline(
    records: list[Record], *, level: float = 0.95, resamples: int = DEFAULT_RESAMPLES
) -> dict[str, Estimate]:
    """Per challenger, oriented (:func:`oriented`): its Kendall tau minus the search-time
    FGSM accuracy's, on the architectures that have both (and a final AutoAttack
    accuracy), paired bootstrap at ``level``."""
    target, base = metric_values(records, TARGET), metric_values(records, BASELINE)
    return {
        key: kendall_difference(
            oriented(records, key), base, target, level=level, resamples=resamples
        )
        for key in CHALLENGERS
    }


def _baseline_table(records: list[Record]) -> list[str]:
    """Which signal ranks the final robustness better than FGSM, and by how much."""
    found = against_baseline(records, level=CHALLENGER_LEVEL, resamples=CHALLENGER_RESAMPLES)
    better = [SIGNALS[k] for k, d in found.items() if d.low > 0]
    rows = ["| signal | n | tau minus FGSM's [simultaneous 95 % CI] |", "|---|---|---|"]
    rows += [f"| {SIGNALS[k]} | {d.n} | {d.text()} |" for k, d in found.items()]
    verdict = (
        "Clearly better than FGSM (interval above 0): " + ", ".join(better) + "."
        if better
        else "No signal ranks the final robustness clearly better than FGSM (no interval "
        "above 0), so none earns a place as a prefilter in the comparison."
    )
    return [
        f"Each signal against {SIGNALS[BASELINE]}, the quantity NERO-Net searches on: the "
        "difference of their Kendall taus with the final AutoAttack accuracy, over the "
        "architectures with all three numbers, with a paired bootstrap interval (both "
        "signals scored on the same resampled architectures). A signal marked 'lower: more "
        "robust' enters negated (its direction is fixed by the literature, not by these "
        "data), so a positive difference always means ranking robustness better than FGSM. "
        f"The {len(CHALLENGERS)} intervals are simultaneous (each at "
        f"{100 * CHALLENGER_LEVEL:.2f} %, Bonferroni; {CHALLENGER_RESAMPLES:,} resamples): "
        "a signal clears the bar with 95 % confidence over the whole table, not as the one "
        "of many that clears its own by chance.",
        "",
        *rows,
        "",
        verdict,
    ]


def beyond_size(records: list[Record]) -> dict[str, Estimate]:
    """Per signal but the size itself: its partial Spearman rho with the final AutoAttack
    accuracy, the parameter count held fixed, with an interval, over the architectures
    with all three numbers."""
    target, size = metric_values(records, TARGET), metric_values(records, SIZE)
    return {
        key: spearman_partial(metric_values(records, key), target, size)
        for key in SIGNALS
        if key != SIZE
    }


def _size_table(records: list[Record], found: dict[str, tuple[Estimate, Estimate]]) -> list[str]:
    """Whether a signal ranks the final robustness by more than the network's size does:
    its rho from ``found`` (:func:`correlations`) beside its partial rho."""
    rows = [
        "| signal | n | Spearman rho [95 % CI] | partial rho, size held fixed [95 % CI] |",
        "|---|---|---|---|",
    ]
    rows += [
        f"| {SIGNALS[k]} | {partial.n} | {found[k][1].text()} | {partial.text()} |"
        for k, partial in beyond_size(records).items()
    ]
    return [
        "Beyond size: the parameter count ranks the final robustness by itself (first "
        "table), so a signal that only tracks size would look predictive. Each signal's "
        "Spearman rho against the final AutoAttack accuracy beside its partial rho with the "
        "parameter count held fixed (the correlation of the ranks left once the ranks of "
        "size are regressed out of both), bootstrap intervals over the architectures with "
        "all three numbers. A partial rho near the rho: the signal's ranking is not size's.",
        "",
        *rows,
        "",
    ]


def status_counts(records: list[Record]) -> str:
    """``10 ill-fitted, 11 ok``: how many rows have each status."""
    statuses = sorted({r.status for r in records})
    return ", ".join(f"{sum(r.status == s for r in records)} {s}" for s in statuses)


def _spread(values: list[float], scale: float = 100.0, digits: int = 1) -> str:
    """``median [quartiles]`` of the finite values times ``scale`` (in % by default)."""
    kept = sorted(v for v in values if math.isfinite(v))
    if not kept:
        return "-"
    q1, q2, q3 = (scale * float(np.quantile(kept, q)) for q in (0.25, 0.5, 0.75))
    return f"{q2:.{digits}f} [{q1:.{digits}f}, {q3:.{digits}f}]"


GROUND_TRUTH = (("clean", "final_clean"), ("PGD-20", "final_pgd20"), ("AutoAttack", TARGET))
"""The ground truth's numbers as the report names them, by metric."""


def _penalty(objective: NeroNetObjective | None) -> str:
    """What an ill-fitted architecture's NERO-Net fitness is, in words."""
    value = "" if objective is None else f", {objective.penalty:g} here"
    return f"the ill-fitted penalty (fitness.ill_fitted_penalty{value})"


def _by_status(records: list[Record], objective: NeroNetObjective | None) -> list[str]:
    """The ground truth per search-time status: what the architectures the search's budget
    called ill-fitted (NERO-Net fitness 0) became after retraining, beside the healthy
    ones."""
    rows = []
    for status in sorted({r.status for r in records}):
        mine = [r for r in records if r.status == status]
        spreads = " | ".join(_spread(metric_values(mine, key)) for _, key in GROUND_TRUTH)
        size = _spread(metric_values(mine, SIZE), scale=1e-3, digits=0)
        rows.append(f"| {status} | {len(mine)} | {spreads} | {size} |")
    return [
        "The ground truth by the search's verdict after its budget, median [quartiles] in "
        "%, and the architectures' size. An ill-fitted architecture's NERO-Net fitness is "
        f"{_penalty(objective)}, so a search keeps one only when every candidate is "
        "ill-fitted:",
        "",
        "| status at search time | n | "
        + " | ".join(f"{n} (%)" for n, _ in GROUND_TRUTH)
        + " | parameters (thousands) |",
        "|---|---|" + "---|" * (len(GROUND_TRUTH) + 1),
        *rows,
        "",
        *_status_gap(records),
    ]


def _status_gap(records: list[Record]) -> list[str]:
    """The ill-fitted architectures' medians minus the healthy ones', each with an
    interval: whether what the budget discards retrains to more (or less) robust networks,
    which medians moving with every few rows cannot say."""
    ill = [r for r in records if r.status == "ill-fitted"]
    ok = [r for r in records if r.status == "ok"]
    if not (ill and ok):
        return []

    def points(rows: list[Record], key: str) -> list[float]:
        return [100.0 * v for v in metric_values(rows, key)]

    def gap(key: str) -> str:
        found = median_difference(points(ill, key), points(ok, key))
        return found.text(1) if math.isfinite(found.value) else "-"

    gaps = ", ".join(f"{name} {gap(key)}" for name, key in GROUND_TRUTH)
    return [
        "The ill-fitted minus the ok, difference of the medians in points with a bootstrap "
        f"95 % interval (each group resampled on its own): {gaps}.",
        "",
    ]


def _retest_section(records: list[Record], retests: Sequence[Retest]) -> list[str]:
    """How much of the ground truth is the retraining seed's: each retested architecture's
    numbers from the survey's seed against those from the next (``--retest``)."""
    first = {r.index: r.metrics for r in records}
    pairs = [(first[t.index], t.metrics) for t in retests if t.metrics and t.index in first]
    if not pairs:
        return []
    rows = []
    for key, name in (("final_pgd20", "PGD-20 accuracy"), ("final_clean", "clean accuracy")):
        one, other = [a[key] for a, _ in pairs], [b[key] for _, b in pairs]
        tau = kendall_interval(one, other)
        gap = 100 * float(np.mean(np.abs(np.subtract(one, other))))
        rows.append(f"| {name} | {tau.n} | {tau.text()} | {gap:.1f} |")
    diverged = len(retests) - len(pairs)
    return [
        f"The ground truth across retraining seeds: {len(pairs)} architectures (the first "
        "with a ground truth) retrained again from the next seed and attacked with PGD-20 "
        "alone (it ranks them as AutoAttack does, above), against their first retraining. "
        "The tau is the ground truth's test-retest reliability: how far one retraining's "
        "ranking repeats in another's. It is not a ceiling on a signal's tau (a signal free "
        "of the seeds' noise can rank one retraining better than another retraining does); "
        "under independent noise the ceiling on a correlation with one retraining is about "
        "the square root of the two retrainings' correlation."
        + (
            f" {diverged} retest(s) have none (the retraining diverged or did not fit in "
            "memory) and are left out."
            if diverged
            else ""
        ),
        "",
        "| number | n | Kendall tau, seed against seed [95 % CI] | mean absolute difference "
        "(points) |",
        "|---|---|---|---|",
        *rows,
        "",
    ]


def markdown(
    records: list[Record],
    found: dict[str, tuple[Estimate, Estimate]],
    command: str,
    planned: int | None = None,
    retests: Sequence[Retest] = (),
    objective: NeroNetObjective | None = None,
    notes: Sequence[str] = (),
) -> str:
    """SURVEY.md: the correlations over every architecture and over the healthy ones,
    the fitness at other weights (with the survey's ``objective``), the spread
    of the ground truth, what measuring cost, and the plots; ``notes`` (paragraphs)
    first."""
    counts = status_counts(records)
    healthy = [r for r in records if r.status == "ok"]
    lines = ["# Survey: search-time signals vs final robustness", "", f"`{command}`", ""]
    if planned is not None and len(records) < planned:
        lines += [
            f"**Interim report: {len(records)} of {planned} architectures measured.** The "
            "survey goes on; re-run its command to continue it.",
            "",
        ]
    lines += [line for note in notes for line in (f"**{note}**", "")]
    lines += [
        f"{len(records)} architectures ({counts}); with a final AutoAttack accuracy: "
        f"{sum(math.isfinite(v) for v in metric_values(records, TARGET))}. Final accuracy on the "
        "held-out images in %, median [quartiles]: "
        + ", ".join(f"{name} {_spread(metric_values(records, key))}" for name, key in GROUND_TRUTH)
        + ".",
        "",
        "Kendall tau-b and Spearman rho of each signal against the final AutoAttack accuracy "
        "(retrained, held-out images), bootstrap 95 % intervals (2000 resamples, seed 0; "
        f"none below {MIN_INTERVAL_PAIRS} pairs), over the architectures with both numbers (n)"
        + (
            ". The NERO-Net fitness is scored from each row's stored search-time numbers by "
            "this version's rule, so rows measured by earlier versions are one measurement."
            if objective is not None
            else "."
        ),
        "",
        *_table(found),
        "",
        "For scale, the ground truth's other numbers (measured after retraining, so no "
        "search can use them): how far the retrained network's own clean accuracy ranks "
        "its robustness, and whether PGD-20 and AutoAttack order the architectures alike.",
        "",
        *_table(correlations(records, REFERENCES), REFERENCES),
        "",
        *_retest_section(records, retests),
        *_by_status(records, objective),
        f"The same over the {len(healthy)} architectures the search's budget left healthy "
        f"(status ok): an ill-fitted one's NERO-Net fitness is {_penalty(objective)} "
        "whatever it becomes after retraining, so this table asks whether the fitness ranks "
        "the ones it does score.",
        "",
        *_table(correlations(healthy)),
        "",
        *(beta_table(records, objective) if objective is not None else []),
        *_baseline_table(records),
        "",
        *_size_table(records, found),
        "Each signal against the final clean accuracy instead: whether the search's budget "
        "ranks even the accuracy the full training reaches (if not, a low robustness tau "
        "says more about the short training than about robustness).",
        "",
        *_table(correlations(records, SIGNALS, "final_clean")),
        "",
        _cost(records),
        "",
        "Scatter plots: "
        + ", ".join(f"[{SIGNALS[k]}](plots/scatter-{k}.png)" for k in found)
        + ". Every row, with its genotype: survey.csv (and survey.parquet with pyarrow)"
        + ("; the retests: retests.csv." if retests else "."),
        "",
        "The columns of survey.csv:",
        "",
        "| column | holds |",
        "|---|---|",
        *(f"| {name} | {text} |" for name, text in COLUMNS.items()),
    ]
    return "\n".join(lines) + "\n"


def _cost(records: list[Record]) -> str:
    """What measuring took, per device the rows were measured on: in all, the median per
    architecture of each part, and the longest architecture (the cost is heavy-tailed:
    AutoAttack on a robust network)."""
    devices = sorted({r.device for r in records}, key=lambda d: (d is None, d or ""))
    return " ".join(_device_cost(d, [r for r in records if r.device == d]) for d in devices) + (
        " Rows measured under different loads are mixed, so this is no benchmark."
    )


def _device_cost(device: str | None, records: list[Record]) -> str:
    """:func:`_cost`'s sentence for the rows measured on ``device``."""
    parts = sorted({k for r in records for k in r.seconds})
    total = sum(sum(r.seconds.values()) for r in records)
    medians = ", ".join(
        f"{part.replace('_', ' ')} "
        f"{float(np.median([r.seconds[part] for r in records if part in r.seconds])):.0f} s"
        for part in parts
    )
    longest = max(records, key=lambda r: sum(r.seconds.values()))
    where = "where not recorded" if device is None else f"on {device}"
    return (
        f"Measuring {len(records)} architecture(s) {where} took {duration(total)} in all "
        f"(medians per architecture: {medians}; the longest, arch {longest.index}, "
        f"{sum(longest.seconds.values()):.0f} s)."
    )


def write_survey_report(
    directory: Path,
    records: list[Record],
    command: str,
    planned: int | None = None,
    retests: Sequence[Retest] = (),
    objective: NeroNetObjective | None = None,
    notes: Sequence[str] = (),
) -> list[Path]:
    """SURVEY.md, a scatter plot per signal (plots/), survey.csv and survey.parquet; an
    interim report when fewer than ``planned`` architectures are measured. With the
    survey's ``objective``, every row's NERO-Net fitness is scored by this version's rule
    (:func:`rescored`)."""
    if objective is not None:
        records = rescored(records, objective)
    found = correlations(records)
    plots = directory / "plots"
    plots.mkdir(exist_ok=True)
    written = [
        save(scatter_figure(records, key, tau), plots / f"scatter-{key}.png")
        for key, (tau, _) in found.items()
    ]
    atomic_write(directory / "survey.csv", to_csv(records).encode("utf-8"))
    written.append(directory / "survey.csv")
    if write_parquet(records, directory / "survey.parquet"):
        written.append(directory / "survey.parquet")
    if retests:
        atomic_write(directory / "retests.csv", retests_csv(retests).encode("utf-8"))
        written.append(directory / "retests.csv")
    text = markdown(records, found, command, planned, retests, objective, notes)
    atomic_write(directory / "SURVEY.md", text.encode("utf-8"))
    written.append(directory / "SURVEY.md")
    return written
