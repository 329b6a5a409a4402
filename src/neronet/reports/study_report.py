"""What ``neronet report STUDY`` writes: NERO-Net's Figure 4 across runs, a per-run table,
the generations aggregated over runs, and the fittest individual of the study.

Files in the report directory (default ``STUDY/report``): ``fitness.png``
(Figure 4(a)), ``accuracy.png`` (Figure 4(b)), ``summary.md`` / ``summary.html``.
"""

from __future__ import annotations

from pathlib import Path

from neronet.reports.document import Document, Image, Section, Table
from neronet.reports.run_report import write_report_files
from neronet.reports.study_data import (
    Fittest,
    RunSet,
    best_fitness,
    curve,
    final_fitness,
    fittest,
    load_runs,
    mean_std,
    parent_metric,
)
from neronet.reports.study_plots import accuracy_figure, fitness_figure
from neronet.reports.summary import NA, number, percent

FITTEST_RULE = (
    "The fittest individual across all generations and runs is the best final parent "
    "(each run's last selected individual), compared by the fitness its run's last "
    "generation gave it; warm-up fitness (clean accuracy) is not on the weighted HRS's "
    "scale, so only post-warm-up values are compared (a run that ended in warm-up counts "
    "only when no run left it); ties go to the lower run index."
)


def plus_minus(stat: tuple[float, float] | None, scale: float = 1.0, digits: int = 4) -> str:
    """``mean ± std`` for a table (``n/a`` when no run has the value)."""
    if stat is None:
        return NA
    mean, std = stat
    return f"{scale * mean:.{digits}f} ± {scale * std:.{digits}f}"


def final_values(runs: RunSet, metric: str | None) -> list[float]:
    """Each run's final parent's ``metric`` (None: its fitness), where it was measured
    (an ill-fitted parent is not attacked: no FGSM accuracy)."""
    values = []
    for run in runs.runs:
        final = final_fitness(run)
        if final is None or run.best is None:
            continue
        value = final[0] if metric is None else run.best.metric(metric)
        if value is not None:
            values.append(float(value))
    return values


def final_cell(runs: RunSet, metric: str | None, scale: float = 1.0, digits: int = 4) -> str:
    """``mean ± std`` of :func:`final_values`, saying over how many runs when not all
    runs have the value, so a mean over fewer runs is never read as one over all."""
    values = final_values(runs, metric)
    text = plus_minus(mean_std(values) if values else None, scale, digits)
    return text if not values or len(values) == len(runs.runs) else f"{text} (n={len(values)})"


def _fittest_section(runs: RunSet, best: Fittest | None) -> Section:
    if best is None:
        return Section("Fittest individual", ("No run has finished a generation yet.",))
    row = best.individual
    phase = "weighted HRS" if best.post_warmup else "warm-up: clean accuracy"
    facts = (
        ("run", f"{runs.run_label(best.run)} (seed {runs.runs[best.run].meta.get('seed')})"),
        ("individual", f"{row.id} ({row.key}), born in generation {row.generation}"),
        ("fitness", f"{number(best.fitness)} ({phase})"),
        ("clean accuracy", percent(row.metric("clean_accuracy"))),
        ("FGSM accuracy (cond.)", percent(row.metric("adversarial_accuracy"))),
        ("train it", f"neronet train --study {runs.directory}"),
    )
    return Section("Fittest individual", (FITTEST_RULE, Table(("fact", "value"), facts)))


def _run_row(runs: RunSet, index: int, best: Fittest | None) -> tuple[str, ...]:
    run = runs.runs[index]
    final = final_fitness(run)
    parent = run.best
    switch = run.switch_generation
    total = run.generations_total
    return (
        runs.run_label(index) + (" (fittest)" if best is not None and best.run == index else ""),
        str(run.meta.get("seed")),
        f"{len(run.generations)}/{total}" + ("" if run.finished else " (unfinished)"),
        "-" if switch is None else str(switch + 1),
        "-" if parent is None else str(parent.id),
        "-" if final is None else f"{number(final[0])} ({'HRS' if final[1] else 'warm-up'})",
        percent(None if parent is None else parent.metric("clean_accuracy")),
        percent(None if parent is None else parent.metric("adversarial_accuracy")),
    )


_RUN_HEADERS = (
    "run",
    "seed",
    "generations",
    "first HRS generation",
    "final parent",
    "final fitness",
    "clean",
    "FGSM (cond.)",
)


def _generations_table(runs: RunSet) -> Table:
    """Per generation: runs that reached it, best fitness and parent accuracies, mean ± std."""
    curves = [
        curve(runs.runs, best_fitness),
        curve(runs.runs, parent_metric("clean_accuracy")),
        curve(runs.runs, parent_metric("adversarial_accuracy")),
    ]
    columns = [
        {g: (m, s) for g, m, s in zip(c.generations, c.mean, c.std, strict=True)} for c in curves
    ]
    counts = dict(zip(curves[0].generations, curves[0].counts, strict=True))
    rows = tuple(
        (
            str(g),
            str(counts[g]),
            plus_minus(columns[0].get(g)),
            plus_minus(columns[1].get(g), 100, 2),
            plus_minus(columns[2].get(g), 100, 2),
        )
        for g in curves[0].generations
    )
    headers = ("generation", "runs", "best fitness", "clean (%)", "FGSM cond. (%)")
    return Table(headers, rows)


def hrs_switches(runs: RunSet) -> list[tuple[str, int]]:
    """Each run's first weighted-HRS generation, for the runs that ran one: a run whose
    warm-up ended at its last generation would switch only at the next, which never came."""
    return [
        (runs.run_label(i), run.switch_generation + 1)
        for i, run in enumerate(runs.runs)
        if run.switch_generation is not None
        and run.switch_generation < run.generations[-1].row.generation
    ]


def write_study_report(study_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """Write the report of the study in ``study_dir``; returns the report directory."""
    runs = load_runs(study_dir)
    out = Path(study_dir) / "report" if out_dir is None else Path(out_dir)
    best = fittest(runs.runs)
    n = len(runs.runs)
    figures = []
    if best is not None:
        switches = hrs_switches(runs)
        group = [(f"mean ± std over {n} runs", runs.runs)]
        figures = [
            (
                "fitness.png",
                "best fitness per generation, mean ± std over runs, the fittest run dashed, "
                "each run's first weighted-HRS generation dotted (the paper's Figure 4(a))",
                lambda: fitness_figure(
                    group,
                    best=(f"{runs.run_label(best.run)} (fittest)", runs.runs[best.run]),
                    switches=switches,
                ),
            ),
            (
                "accuracy.png",
                "clean and FGSM accuracy of each generation's best, mean ± std over runs "
                "(the paper's Figure 4(b))",
                lambda: accuracy_figure(group),
            ),
        ]
    return write_report_files(out, figures, lambda images: study_summary(runs, best, images))


def study_summary(runs: RunSet, best: Fittest | None, images: list[Image]) -> Document:
    """The study report's text; ``images`` are the figures written next to it."""
    config = runs.config
    finished = sum(run.finished for run in runs.runs)
    facts = (
        ("study directory", str(runs.directory)),
        ("study seed", str(config.seed)),
        ("runs", f"{len(runs.runs)} ({finished} finished)"),
        ("dataset", config.data.dataset),
        ("objective", config.search.objective),
        ("final fitness", final_cell(runs, None)),
        ("final clean accuracy (%)", final_cell(runs, "clean_accuracy", 100, 2)),
        (
            "final FGSM accuracy (cond., %)",
            final_cell(runs, "adversarial_accuracy", 100, 2),
        ),
    )
    sections = (
        Section("Study", (Table(("fact", "value"), facts),)),
        _fittest_section(runs, best),
        Section(
            "Runs",
            (Table(_RUN_HEADERS, tuple(_run_row(runs, i, best) for i in range(len(runs.runs)))),),
        ),
        Section(
            "Generations across runs",
            (
                "Mean ± sample std over the runs that finished the generation; fitness values "
                "mix warm-up and weighted HRS where runs switched at different generations.",
                _generations_table(runs),
            ),
        ),
        Section("Figures", tuple(images) or ("No figures yet.",)),
    )
    return Document(f"neronet study report: {runs.directory.resolve().name}", sections)
