"""The method comparison of ``neronet experiment``: robustness of each run's retrained best,
mean ± std per method, as a table, a CSV and a figure.

Inputs are what the experiment's own ``neronet attack`` steps wrote: one
``per_model.csv`` per run (a row per model seed and attack, accuracies as
fractions). A run's value is the mean over its seeds (``posttrain.seeds``), so
every run counts once; a method's cell is the mean ± sample std of its runs'
values. Accuracies are *overall* adversarial accuracy (correct after the attack
among all test images), the number robustness papers print; the conditional
numbers stay in each run's own attack tables.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

from neronet.errors import StudyError
from neronet.reports.document import Table
from neronet.reports.study_data import mean_std
from neronet.store import atomic_write

CLEAN = "clean"


@dataclass(frozen=True)
class RunResult:
    """One run's retrained best under each attack: {column: overall accuracy}, the
    audit's masking flags (empty: no gradient-masking suspicion) and its notes (e.g.
    FGSM far above PGD: FGSM is an optimistic estimate; they do not discredit a row)."""

    method: str
    run: int
    accuracy: dict[str, float]
    flags: tuple[str, ...]
    notes: tuple[str, ...] = ()


def read_run_result(method: str, run: int, per_model_csv: Path) -> RunResult:
    """A run's accuracies from its attack step's ``per_model.csv`` (mean over model seeds)."""
    try:
        rows = list(csv.DictReader(per_model_csv.read_text(encoding="utf-8").splitlines()))
    except (OSError, UnicodeDecodeError) as err:
        raise StudyError(
            f"cannot read '{per_model_csv}' ({err}); re-run the experiment to redo its attack step"
        ) from None
    values: dict[str, list[float]] = defaultdict(list)
    found: dict[str, list[str]] = {"masking": [], "note": []}
    try:
        for row in rows:
            column = CLEAN if row["threat"] == CLEAN else row["attack"]
            values[column].append(float(row["clean" if column == CLEAN else "overall"]))
            for reason in filter(None, row["flags"].split(" | ")):
                kind, _, text = reason.partition(": ")
                found["note" if kind == "note" else "masking"].append(f"{row['attack']}: {text}")
    except (KeyError, ValueError):
        raise StudyError(
            f"'{per_model_csv}' is not a neronet attack table; delete it and re-run the experiment"
        ) from None
    if not values:
        raise StudyError(f"'{per_model_csv}' holds no results; delete it and re-run the experiment")
    accuracy = {k: statistics.fmean(v) for k, v in values.items()}
    return RunResult(method, run, accuracy, tuple(found["masking"]), tuple(found["note"]))


@dataclass(frozen=True)
class MethodTable:
    """The runs of every method, in the methods' order; columns as the attacks came."""

    methods: tuple[str, ...]
    results: tuple[RunResult, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for r in self.results:
            seen.update(dict.fromkeys(r.accuracy))
        return tuple(seen)

    def values(self, method: str, column: str) -> list[float]:
        return [
            r.accuracy[column] for r in self.results if r.method == method and column in r.accuracy
        ]

    def stats(self, method: str, column: str) -> tuple[float, float, int] | None:
        """Mean and sample std over the method's runs, and how many runs have the value."""
        values = self.values(method, column)
        return (*mean_std(values), len(values)) if values else None

    def flagged(self, method: str) -> int:
        return sum(1 for r in self.results if r.method == method and r.flags)

    def table(self) -> Table:
        """Accuracies in %, mean ± std over runs; the audit column counts flagged runs."""
        header = ("method", "runs", *(f"{c} (%)" for c in self.columns), "masking flags")
        rows = []
        for method in self.methods:
            runs = sum(1 for r in self.results if r.method == method)
            cells = []
            for column in self.columns:
                s = self.stats(method, column)
                cells.append("-" if s is None else f"{100 * s[0]:.2f} ± {100 * s[1]:.2f}")
            rows.append((method, str(runs), *cells, f"{self.flagged(method)}/{runs} runs"))
        return Table(header, tuple(rows))

    def paired(self, column: str, method: str) -> tuple[list[float], list[float]]:
        """``method``'s and the reference's (the first method's) values of ``column``
        on the runs both have, in run order: the pairs of the paired design (run i of
        every method shares its run seed)."""
        reference = self.methods[0]
        mine = {r.run: r.accuracy[column] for r in self.results if r.method == method}
        theirs = {r.run: r.accuracy[column] for r in self.results if r.method == reference}
        runs = sorted(set(mine) & set(theirs))
        return [mine[run] for run in runs], [theirs[run] for run in runs]

    def comparison(self) -> Table:
        """Every other method against the first, per column: the mean paired difference
        in points with its bootstrap 95 % interval, the Wilcoxon signed-rank p-value and
        that p-value Holm-adjusted over all the comparisons in the table."""
        from neronet.reports.statistics import holm, paired_difference, wilcoxon

        cells = []
        for method in self.methods[1:]:
            for column in self.columns:
                a, b = self.paired(column, method)
                if a:
                    cells.append((method, column, paired_difference(a, b), wilcoxon(a, b)))
        adjusted = holm([test.pvalue for *_, test in cells])
        header = (
            "method",
            "column",
            "pairs",
            "difference (points)",
            "95 % interval",
            "Wilcoxon p",
            "Holm p",
        )
        rows = tuple(
            (
                method,
                column,
                str(diff.n),
                f"{100 * diff.value:+.2f}",
                f"[{100 * diff.low:+.2f}, {100 * diff.high:+.2f}]",
                f"{test.pvalue:.3g}",
                f"{p:.3g}",
            )
            for (method, column, diff, test), p in zip(cells, adjusted, strict=True)
        )
        return Table(header, rows)

    def csv(self) -> str:
        """One row per run with plain fractions: the numbers behind the table."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["method", "run", *self.columns, "masking flags", "notes"])
        for r in self.results:
            cells = ["" if c not in r.accuracy else f"{r.accuracy[c]:.6f}" for c in self.columns]
            writer.writerow([r.method, r.run, *cells, " | ".join(r.flags), " | ".join(r.notes)])
        return buffer.getvalue()


def method_table(methods: Sequence[str], results: Sequence[RunResult]) -> MethodTable:
    return MethodTable(tuple(methods), tuple(results))


def robustness_figure(table: MethodTable) -> Figure:
    """Grouped bars: each attack column, one bar per method at its mean, std as error bar."""
    fig = Figure(figsize=(7.0, 4.2), layout="constrained")
    ax = fig.add_subplot()
    ax.grid(True, axis="y", alpha=0.3)
    columns = table.columns
    width = 0.8 / max(1, len(table.methods))
    for i, method in enumerate(table.methods):
        stats = [table.stats(method, c) for c in columns]
        xs = [j + (i - (len(table.methods) - 1) / 2) * width for j in range(len(columns))]
        ax.bar(
            xs,
            [100 * s[0] if s else 0.0 for s in stats],
            width,
            yerr=[100 * s[1] if s else 0.0 for s in stats],
            capsize=3,
            label=method,
        )
    ax.set_xticks(range(len(columns)), columns)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title("retrained best of each run: mean ± std over runs")
    ax.legend()
    return fig


def search_budget(run_dir: Path) -> tuple[int, int]:
    """What a run's search spent: individuals trained (cache hits excluded) and their
    training epochs. Methods share generations and candidates per generation; these
    say how equal the spending really was (the (1+lambda) adds re-evaluations of its
    parent and trains train-longer children further)."""
    from neronet.store import RunStore

    rows = RunStore.open(run_dir, readonly=True).individuals()
    trained = [r for r in rows if r.cache_of is None and r.epochs]
    return len(trained), sum(r.epochs or 0 for r in trained)


def budget_table(directory: Path, methods: Sequence[str], runs: int) -> Table:
    """Per method: individuals trained and training epochs per run, mean ± std."""
    rows = []
    for m in methods:
        spent = [search_budget(directory / m / f"run-{r}") for r in range(runs)]
        cells = []
        for values in zip(*spent, strict=True):
            mean, std = mean_std([float(v) for v in values])
            cells.append(f"{mean:.1f} ± {std:.1f}")
        rows.append((m, *cells))
    return Table(("method", "individuals trained per run", "training epochs per run"), tuple(rows))


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def write_experiment(
    directory: Path, methods: Sequence[str], runs: int, seconds: dict[str, float], command: str
) -> list[Path]:
    """``EXPERIMENT.md`` (the table, the figures, the command and the wall time per step),
    ``experiment.csv`` (per run) and ``robustness.png`` in the experiment directory."""
    from neronet.reports.document import Document, Image, Section, to_markdown
    from neronet.reports.plots import save

    results = [
        read_run_result(m, run, directory / "attacked" / f"{m}-run-{run}" / "per_model.csv")
        for m in methods
        for run in range(runs)
    ]
    table = method_table(methods, results)
    total = sum(seconds.values())
    by_step = defaultdict(float)
    for label, value in seconds.items():
        by_step[label.split(" ")[0]] += value
    timing = ", ".join(f"{step} {_duration(value)}" for step, value in by_step.items())
    figures = [
        Image("robustness.png", "retrained best of each run, mean ± std over runs"),
        Image("compare/fitness.png", "search: best fitness per generation (own objective)"),
        Image("compare/accuracy.png", "search: clean and FGSM accuracy of each generation's best"),
    ]
    doc = Document(
        "neronet experiment: " + " vs ".join(methods),
        (
            Section(
                "Robustness of each run's best, retrained",
                (
                    f"{runs} run(s) per method. Accuracy on the held-out test split in %, "
                    "mean ± sample std over runs (a run's value is the mean over its "
                    "retraining seeds); adversarial columns are overall accuracy (correct "
                    "after the attack among all test images). Masking flags: runs whose "
                    "gradient-masking audit flagged an attack (those numbers overstate "
                    "robustness); the audit's notes (e.g. FGSM far above PGD) are in "
                    "experiment.csv. Per-run numbers: experiment.csv; each run's attack "
                    "tables: attacked/.",
                    table.table(),
                ),
            ),
            *(
                ()
                if len(methods) < 2 or runs < 2
                else (
                    Section(
                        f"Paired differences against {methods[0]}",
                        (
                            f"Run i of every method shares its run seed, so each method is "
                            f"compared with {methods[0]} run by run: the mean difference "
                            "(method minus reference, accuracy points) with a bootstrap 95 % "
                            "interval (2,000 resamples of the runs), the two-sided Wilcoxon "
                            "signed-rank p-value, and the p-value after Holm's correction "
                            "for all the comparisons below. An interval that spans 0 or a "
                            "Holm p above 0.05 means the runs cannot tell the two apart.",
                            table.comparison(),
                        ),
                    ),
                )
            ),
            Section(
                "The searches",
                (
                    "What each search spent (mean ± std over runs; cache hits are not "
                    "trained). Final parents, mean ± std over runs: compare/compare.md.",
                    budget_table(directory, methods, runs),
                    *figures,
                ),
            ),
            Section(
                "Reproduce",
                (
                    f"Command: `{command}`",
                    f"Wall time: {_duration(total)} ({timing}).",
                ),
            ),
        ),
    )
    paths = [
        directory / "robustness.png",
        directory / "experiment.csv",
        directory / "EXPERIMENT.md",
    ]
    save(robustness_figure(table), paths[0])
    atomic_write(paths[1], table.csv().encode())
    atomic_write(paths[2], to_markdown(doc).encode())
    return paths
