"""Robustness at equal size: whether a method's lead over the reference method is more
than the size of the networks it ends on.

Why: a network's size alone ranks its robustness after retraining (the survey of a
search space measures how much), so a method whose bests are larger can lead on
AutoAttack without its selection knowing anything about robustness. A survey of the
same search space, retrained and attacked as the experiment's bests are, gives the line
to hold fixed: the least-squares slope of its architectures' AutoAttack accuracy on
log10 of their parameters. Each pair's difference less what their size difference alone
gives along that line is the method's lead at equal size
(:func:`~neronet.reports.statistics.difference_at_size`). ``neronet experiment
--survey DIR`` adds the table to the experiment's report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neronet.errors import ConfigError, StudyError
from neronet.reports.document import Section, Table

if TYPE_CHECKING:
    from neronet.config import NeroConfig
    from neronet.reports.experiment import MethodTable, RunResult

COLUMN = "AutoAttack"
"""The experiment's column the survey's ground truth (final AutoAttack accuracy) matches."""
MIN_REFERENCE = 10
"""Surveyed architectures with a ground truth a size line needs at least."""


@dataclass(frozen=True)
class SizeReference:
    """A survey's architectures: their trainable parameters and final AutoAttack accuracy."""

    source: str
    sizes: tuple[float, ...]
    values: tuple[float, ...]


def _recipe(settings: dict[str, Any]) -> dict[str, Any]:
    """What a survey's ground truth and an experiment's retrained bests must share to sit
    on one size line: the dataset and the search images a best retrains on, the
    retraining, and the attack radius (not the number of test images attacked: fewer
    are a sample of the same)."""
    data, posttrain = settings["data"], settings["posttrain"]
    mode = posttrain["mode"]
    return {
        "data.dataset": data["dataset"],
        "data.train": data["train"],
        "data.control": data["control"],
        "posttrain.mode": mode,
        f"posttrain.{mode}": posttrain.get(mode),
        "attack.linf_eps": settings["attack"]["linf_eps"],
    }


def read_size_reference(survey: Path, config: NeroConfig) -> SizeReference:
    """The size line's rows from the survey in ``survey``, refused (one line) where it is
    no survey, measured another way than ``config`` retrains and attacks, or holds fewer
    than :data:`MIN_REFERENCE` architectures with a ground truth."""
    from neronet.survey.run import stored_settings, survey_settings
    from neronet.survey.store import TARGET, SurveyStore, metric_values

    store = SurveyStore.read(survey)
    try:
        stored, records = store.settings(), store.records()
    finally:
        store.close()
    theirs, mine = _recipe(stored_settings(stored)), _recipe(survey_settings(config))
    differ = [key for key in mine if theirs[key] != mine[key]]
    if differ:
        raise ConfigError(
            f"--survey '{survey}' measured its architectures otherwise than this experiment "
            f"measures its bests ({', '.join(differ)}); give a survey of the same data, "
            "retraining and attack radius"
        )
    found = zip(metric_values(records, "parameters"), metric_values(records, TARGET), strict=True)
    rows = [(size, value) for size, value in found if math.isfinite(size) and math.isfinite(value)]
    if len(rows) < MIN_REFERENCE:
        raise StudyError(
            f"--survey '{survey}' holds {len(rows)} architectures with a final AutoAttack "
            f"accuracy; a size line needs at least {MIN_REFERENCE}: let the survey run further"
        )
    sizes, values = zip(*rows, strict=True)
    return SizeReference(str(survey), sizes, values)


def _pairs(table: MethodTable, method: str) -> tuple[list[float], ...]:
    """``method``'s and the reference's AutoAttack accuracy and parameters on the runs
    both have with a known size, in run order."""

    def sized(r: RunResult) -> tuple[float, float] | None:
        known = COLUMN in r.accuracy and r.parameters is not None
        return (r.accuracy[COLUMN], float(r.parameters)) if known else None

    found = table.pairs(method, sized)
    return (
        [mine[0] for mine, _ in found],
        [theirs[0] for _, theirs in found],
        [mine[1] for mine, _ in found],
        [theirs[1] for _, theirs in found],
    )


def at_size_table(table: MethodTable, reference: SizeReference, slope: float) -> Table:
    """Every other method against the first on AutoAttack: the pairs, how much larger its
    bests are (the geometric mean of the size ratios, and in how many pairs larger), the
    plain paired difference, the difference at equal size with its interval, the
    Wilcoxon p of the differences at equal size (along ``slope``, the reference's
    :func:`~neronet.reports.statistics.size_slope`) and that p Holm-adjusted over the
    methods."""
    from neronet.reports.statistics import difference_at_size, holm, paired_difference, wilcoxon

    line = (reference.sizes, reference.values)

    def held(values: list[float], sizes: list[float]) -> list[float]:
        return [v - slope * math.log10(s) for v, s in zip(values, sizes, strict=True)]

    found = [(m, _pairs(table, m)) for m in table.methods[1:]]
    found = [(m, p) for m, p in found if p[0]]
    tests = [wilcoxon(held(a, sa), held(b, sb)) for _, (a, b, sa, sb) in found]
    adjusted = holm([test.pvalue for test in tests])
    rows = []
    for (method, (a, b, sa, sb)), test, p in zip(found, tests, adjusted, strict=True):
        ratios = np.asarray(sa) / np.asarray(sb)
        at_size = difference_at_size(a, b, sa, sb, line)
        interval = (
            f"[{100 * at_size.low:+.2f}, {100 * at_size.high:+.2f}]"
            if math.isfinite(at_size.low)
            else "too few pairs"
        )
        rows.append(
            (
                method,
                str(len(a)),
                f"×{math.exp(np.log(ratios).mean()):.2f} "
                f"(larger in {int((ratios > 1).sum())} of {len(ratios)})",
                f"{100 * paired_difference(a, b).value:+.2f}",
                f"{100 * at_size.value:+.2f}",
                interval,
                f"{test.pvalue:.3g}",
                f"{p:.3g}",
            )
        )
    header = (
        "method",
        "pairs",
        "size: ratio (geometric mean)",
        "AutoAttack difference (points)",
        "at equal size (points)",
        "95 % interval",
        "Wilcoxon p",
        "Holm p",
    )
    return Table(header, tuple(rows))


def at_size_section(table: MethodTable, reference: SizeReference) -> Section:
    """The report's section: what is held fixed, how, and the table."""
    from neronet.reports.statistics import size_slope

    slope = size_slope(reference.sizes, reference.values)
    first = table.methods[0]
    return Section(
        f"AutoAttack at equal size, against {first}",
        (
            "A network's size alone ranks its robustness after retraining, so a method "
            f"whose bests are larger can lead {first} on AutoAttack for that reason only. "
            f"The survey in {reference.source} ({len(reference.sizes)} architectures of "
            "the search space, retrained and attacked as these bests are) gives the line "
            "to hold fixed: its AutoAttack accuracy rises "
            f"{100 * slope.value:.1f} points per tenfold parameters (least squares on "
            f"log10 parameters, 95 % interval [{100 * slope.low:.1f}, "
            f"{100 * slope.high:.1f}]). At equal size: each pair's difference less the "
            "slope times the log10 of its size ratio; the interval resamples the pairs "
            "and the survey's architectures together (the slope's uncertainty in it); "
            "Wilcoxon and Holm as above, on the differences at equal size. A lead that "
            "shrinks to an interval spanning 0 here is one the size of the networks "
            "could give; a line is a summary of the survey, and the ratio column says how "
            "far each method's pairs lean on it.",
            at_size_table(table, reference, slope.value),
        ),
    )
