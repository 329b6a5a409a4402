"""``neronet compare A B ...``: studies (or single runs) side by side.

Writes to the output directory ``fitness.png`` and ``accuracy.png`` (each set's
per-generation mean ± std on one figure), ``compare.md`` (the table and the
figures) and ``compare.csv`` (the same table with plain numbers, for a paper's
own typesetting).

What is refused and what only warns: accuracies on different datasets, or
FGSM accuracies at different attack radii, measure different things, so those
are one-line errors naming the mismatch. Different objectives (NERO-Net vs the
accuracy-only baseline) are the comparison the tool exists for, but their
fitness values are on different scales: a warning says so, and the clean and
FGSM columns remain comparable. Different numbers of runs only warn.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from neronet.errors import StoreError, StudyError
from neronet.reports.document import Document, Image, Section, Table, to_markdown
from neronet.reports.plots import save
from neronet.reports.study_data import RunSet, load_runs, mean_std
from neronet.reports.study_plots import accuracy_figure, fitness_figure
from neronet.reports.study_report import final_cell, final_values

METRICS = (
    ("fitness", None, 1.0, 4),
    ("clean_accuracy_pct", "clean_accuracy", 100.0, 2),
    ("fgsm_accuracy_pct", "adversarial_accuracy", 100.0, 2),
    ("parameters", "parameters", 1.0, 0),
)
"""CSV column stem, metric of the final parent (None: its fitness), scale, digits."""
HEADERS = ("set", "runs", "objective", "final fitness", "clean (%)", "FGSM cond. (%)", "parameters")


def _setting(runs: RunSet, section: str, key: str) -> object:
    return getattr(getattr(runs.config, section), key)


def check_comparable(sets: Sequence[RunSet]) -> list[str]:
    """Raise on a mismatch that makes the comparison meaningless; return warnings."""
    for section, key, what in (
        ("data", "dataset", "dataset"),
        ("fitness", "attack_eps", "FGSM eps"),
    ):
        values = {s.name: _setting(s, section, key) for s in sets}
        if len(set(map(repr, values.values()))) > 1:
            named = ", ".join(f"{name}: {value}" for name, value in values.items())
            raise StudyError(
                f"cannot compare runs of different {what}s ({named}); compare sets that "
                f"share the {what}"
            )
    warnings = cannot_differ(sets)
    objectives = {s.name: _setting(s, "search", "objective") for s in sets}
    if len(set(objectives.values())) > 1:
        named = ", ".join(f"{name}: {value}" for name, value in objectives.items())
        warnings.append(
            f"different objectives ({named}): fitness values are on different scales; "
            "compare the clean and FGSM columns"
        )
    counts = {s.name: len(s.runs) for s in sets}
    if len(set(counts.values())) > 1:
        named = ", ".join(f"{name}: {n}" for name, n in counts.items())
        warnings.append(f"different numbers of runs ({named}): the std bands differ in reliability")
    return warnings


def _history(runs: RunSet) -> tuple[object, ...]:
    """Every run's individuals, what they were and what they measured, in order."""
    return tuple(
        tuple((r.genotype, r.status, tuple(sorted(r.metrics.items()))) for r in run.individuals)
        for run in runs.runs
    )


def cannot_differ(sets: Sequence[RunSet]) -> list[str]:
    """Why sets that look like different methods measured the same thing: searches whose
    warm-up never ended (NERO-Net scored clean accuracy only, as the accuracy baseline
    does), and sets whose runs evaluated the very same individuals."""
    out = []
    for s in sets:
        stuck = [run.directory.name for run in s.runs if run.warmup_only]
        if stuck and len(stuck) == len(s.runs):
            out.append(
                f"{s.name}: the warm-up never ended in any run (no generation's fitness was "
                "the weighted HRS), so it searched as accuracy-only would; run more "
                "generations or lower fitness.warmup_tau"
            )
    histories: dict[tuple[object, ...], list[str]] = {}
    for s in sets:
        histories.setdefault(_history(s), []).append(s.name)
    for names in histories.values():
        if len(names) > 1:
            out.append(
                f"{' and '.join(names)} have identical histories (every individual and "
                "measurement the same): these runs cannot tell the methods apart"
            )
    return out


@dataclass(frozen=True)
class Comparison:
    sets: tuple[RunSet, ...]
    warnings: tuple[str, ...]

    def table(self) -> Table:
        """Final-parent statistics, mean ± std over each set's runs."""
        rows = tuple(
            (
                s.name,
                str(len(s.runs)),
                str(_setting(s, "search", "objective")),
                *(final_cell(s, metric, scale, digits) for _, metric, scale, digits in METRICS),
            )
            for s in self.sets
        )
        return Table(HEADERS, rows)

    def csv(self) -> str:
        """The table with plain numbers: mean, std (empty when no run has the value) and
        the number of runs that have it."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(
            [
                "set",
                "runs",
                "objective",
                *(f"{stem}_{k}" for stem, *_ in METRICS for k in ("mean", "std", "n")),
            ]
        )
        for s in self.sets:
            cells: list[object] = [s.name, len(s.runs), _setting(s, "search", "objective")]
            for _, metric, scale, _digits in METRICS:
                values = final_values(s, metric)
                mean, std = mean_std(values) if values else (None, None)
                cells += [
                    "" if mean is None else scale * mean,
                    "" if std is None else scale * std,
                    len(values),
                ]
            writer.writerow(cells)
        return buffer.getvalue()


def compare(directories: Sequence[str | Path], first: int | None = None) -> Comparison:
    """Read the sets (of a study, its ``first`` runs if given) and check they can be
    compared (raises on a meaningless comparison)."""
    sets = tuple(load_runs(d, first) for d in directories)
    seen: set[Path] = set()
    for s in sets:
        where = s.directory.resolve()
        if where in seen:
            raise StudyError(f"compare got '{s.name}' twice; pass each study or run once")
        seen.add(where)
    return Comparison(sets, tuple(check_comparable(sets)))


def write_comparison(comparison: Comparison, out: Path) -> list[Path]:
    """Write figures, markdown and CSV into ``out``; returns the files written."""
    groups = [(s.name, s.runs) for s in comparison.sets]
    drawn = any(run.generations for s in comparison.sets for run in s.runs)
    figures = (
        [
            (
                "fitness.png",
                "best fitness per generation, mean ± std over each set's runs",
                lambda: fitness_figure(groups),
            ),
            (
                "accuracy.png",
                "clean (solid) and FGSM (dashed) accuracy of each generation's best",
                lambda: accuracy_figure(groups),
            ),
        ]
        if drawn
        else []
    )
    try:
        out.mkdir(parents=True, exist_ok=True)
        written = []
        images = []
        for file, caption, draw in figures:
            written.append(save(draw(), out / file))
            images.append(Image(file, caption))
        doc = Document(
            "neronet comparison: " + " vs ".join(s.name for s in comparison.sets),
            (
                Section(
                    "Final parents",
                    (
                        "Mean ± sample std over runs of each run's final parent (the "
                        "individual its search ended with).",
                        *comparison.warnings,
                        comparison.table(),
                    ),
                ),
                Section("Figures", tuple(images) or ("No generation has finished yet.",)),
            ),
        )
        for name, text in (("compare.md", to_markdown(doc)), ("compare.csv", comparison.csv())):
            (out / name).write_text(text, encoding="utf-8")
            written.append(out / name)
    except OSError as err:
        raise StoreError(
            f"cannot write the comparison to '{out}' ({err.strerror or err}); "
            "choose a writable --out directory"
        ) from None
    return written
