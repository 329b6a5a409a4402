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
import dataclasses
import io
import json
import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
from matplotlib.figure import Figure

from neronet.errors import StudyError
from neronet.reports.document import Table
from neronet.reports.study_data import mean_std
from neronet.store import atomic_write
from neronet.train.training_dir import META_FILE

if TYPE_CHECKING:
    from neronet.reports.anytime import Final
    from neronet.reports.at_size import SizeReference

CLEAN = "clean"
T = TypeVar("T")


@dataclass(frozen=True)
class RunResult:
    """One run's retrained best under each attack: {column: overall accuracy}, the
    audit's masking flags (empty: no gradient-masking suspicion), its notes (e.g.
    FGSM far above PGD: FGSM is an optimistic estimate; they do not discredit a row),
    its trainable parameters and its architecture's digest (None: not known,
    :func:`with_network`)."""

    method: str
    run: int
    accuracy: dict[str, float]
    flags: tuple[str, ...]
    notes: tuple[str, ...] = ()
    parameters: int | None = None
    architecture: str | None = None


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
        threats: dict[str, set[str]] = defaultdict(set)
        for row in rows:
            threats[row["attack"]].add(row["threat"])
        for row in rows:
            column = CLEAN if row["threat"] == CLEAN else row["attack"]
            if column != CLEAN and len(threats[column]) > 1:  # e.g. PGD-20 in L-inf and L2
                column = f"{column} ({row['threat']})"
            values[column].append(float(row["clean" if column == CLEAN else "overall"]))
            for reason in filter(None, row["flags"].split(" | ")):
                kind, _, text = reason.partition(": ")
                found["note" if kind == "note" else "masking"].append(f"{row['attack']}: {text}")
    except (KeyError, ValueError, TypeError, AttributeError):  # a table cut short, too
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

    def strongest(self) -> str:
        """The attack column that leaves the least accuracy over the runs (whatever order
        ``--attacks`` named them in); "" without one."""

        def left(column: str) -> float:
            return statistics.fmean(
                r.accuracy[column] for r in self.results if column in r.accuracy
            )

        return min((c for c in self.columns if c != CLEAN), key=left, default="")

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

    def table(self, searches: Mapping[tuple[str, int], SearchRecord] | None = None) -> Table:
        """Accuracies in %, mean ± std over runs; where known, the bests' parameters in
        thousands, median (min-max) over runs (size alone can make a network more robust,
        so a method whose bests are larger may owe its robustness to that); the audit
        column counts flagged runs. With ``searches``, a column says what each run's
        search spent in epochs trained (mean ± std, min-max): whether the budgets were
        equal, measured."""
        sized = any(r.parameters is not None for r in self.results)
        size = ("parameters (k): median (min-max)",) if sized else ()
        spent = () if searches is None else ("search epochs per run",)
        header = (
            "method",
            "runs",
            *(f"{c} (%)" for c in self.columns),
            *size,
            *spent,
            "masking flags",
        )
        rows = []
        for method in self.methods:
            runs = sum(1 for r in self.results if r.method == method)
            cells = []
            for column in self.columns:
                s = self.stats(method, column)
                cells.append("-" if s is None else f"{100 * s[0]:.2f} ± {100 * s[1]:.2f}")
            if sized:
                cells.append(self._sizes(method))
            if searches is not None:
                epochs = [v.epochs for (m, _), v in searches.items() if m == method]
                mean, std = mean_std([float(e) for e in epochs])
                cells.append(f"{mean:.1f} ± {std:.1f} ({min(epochs)}-{max(epochs)})")
            rows.append((method, str(runs), *cells, f"{self.flagged(method)}/{runs} runs"))
        return Table(header, tuple(rows))

    def _sizes(self, method: str) -> str:
        """``method``'s bests' parameters in thousands: median (min-max), or "-"."""
        sizes = [r.parameters for r in self.results if r.method == method]
        known = [size / 1e3 for size in sizes if size is not None]
        if not known:
            return "-"
        return f"{statistics.median(known):,.0f} ({min(known):,.0f}-{max(known):,.0f})"

    def pairs(self, method: str, value: Callable[[RunResult], T | None]) -> list[tuple[T, T]]:
        """``value`` of ``method``'s run and of the reference's (the first method's) on the
        runs both have it for (not None), in run order: the pairs of the paired design
        (run i of every method shares its run seed)."""

        def runs(name: str) -> dict[int, T]:
            found = ((r.run, value(r)) for r in self.results if r.method == name)
            return {run: v for run, v in found if v is not None}

        mine, theirs = runs(method), runs(self.methods[0])
        return [(mine[run], theirs[run]) for run in sorted(set(mine) & set(theirs))]

    def paired(self, column: str, method: str) -> tuple[list[float], list[float]]:
        """``method``'s and the reference's values of ``column`` on the runs both have
        (:meth:`pairs`), as two lists."""
        found = self.pairs(method, lambda r: r.accuracy.get(column))
        return [a for a, _ in found], [b for _, b in found]

    def comparison(self) -> Table:
        """Every other method against the first, per column: the pairs (and how many
        differ: the Wilcoxon test drops ties), the mean paired difference in points with
        its bootstrap 95 % interval, the Wilcoxon signed-rank p-value, that p-value
        Holm-adjusted over the methods compared on the column (each accuracy is its own
        family: one judged by AutoAttack alone pays for three comparisons, not for every
        column's), and the smallest difference the pairs could detect at Holm's strictest
        level, ``0.05 / comparisons`` (:func:`detectable_difference`)."""
        from neronet.reports.statistics import (
            detectable_difference,
            holm,
            paired_difference,
            wilcoxon,
        )

        rows = []
        for column in self.columns:
            pairs = [(m, self.paired(column, m)) for m in self.methods[1:]]
            pairs = [(m, a, b) for m, (a, b) in pairs if a]
            tests = [wilcoxon(a, b) for _, a, b in pairs]
            adjusted = holm([test.pvalue for test in tests])
            strictest = 0.05 / max(1, len(pairs))
            for (method, a, b), test, p in zip(pairs, tests, adjusted, strict=True):
                diff = paired_difference(a, b)
                count = str(diff.n) if test.n == diff.n else f"{diff.n} ({test.n} differ)"
                interval = (
                    f"[{100 * diff.low:+.2f}, {100 * diff.high:+.2f}]"
                    if math.isfinite(diff.low)
                    else "too few pairs"
                )
                detectable = detectable_difference(a, b, alpha=strictest)
                rows.append(
                    (
                        method,
                        column,
                        count,
                        f"{100 * diff.value:+.2f}",
                        interval,
                        f"{test.pvalue:.3g}",
                        f"{p:.3g}",
                        _detectable(detectable),
                    )
                )
        header = (
            "method",
            "column",
            "pairs",
            "difference (points)",
            "95 % interval",
            "Wilcoxon p",
            "Holm p",
            "detectable (points)",
        )
        order = {m: i for i, m in enumerate(self.methods)}
        return Table(header, tuple(sorted(rows, key=lambda row: order[row[0]])))

    def csv(self, searches: Mapping[tuple[str, int], SearchRecord] | None = None) -> str:
        """One row per run with plain fractions: the numbers behind the table; with
        ``searches``, each run's seed and what its search found and spent too."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        search = () if searches is None else SearchRecord.HEADER
        header = ["method", "run", *search, "parameters", *self.columns, "masking flags", "notes"]
        writer.writerow(header)
        for r in self.results:
            found = () if searches is None else searches[r.method, r.run].cells()
            size = "" if r.parameters is None else str(r.parameters)
            cells = ["" if c not in r.accuracy else f"{r.accuracy[c]:.6f}" for c in self.columns]
            writer.writerow(
                [r.method, r.run, *found, size, *cells, " | ".join(r.flags), " | ".join(r.notes)]
            )
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


@dataclass(frozen=True)
class SearchRecord:
    """What a run's search found and spent: its seed; its best (the strategy's choice)
    scored by the run's own objective and by NERO-Net's after warm-up (one yardstick for
    every method; None before a generation ends); individuals trained (cache hits are
    not) and their training epochs (a warm-started child's extra epochs only); of those,
    how many were read from the experiment's memo (trained by another method's run the
    same way; they count as trained: the budget is the method's, not the machine's)."""

    seed: int
    fitness: float | None
    nero_net_fitness: float | None
    trained: int
    epochs: int
    reused: int = 0

    HEADER = (
        "seed",
        "search_fitness",
        "search_nero_net_fitness",
        "individuals_trained",
        "epochs_trained",
        "individuals_from_memo",
    )

    def cells(self) -> tuple[str, ...]:
        def number(value: float | None) -> str:
            return "" if value is None else f"{value:.6f}"

        return (
            str(self.seed),
            number(self.fitness),
            number(self.nero_net_fitness),
            str(self.trained),
            str(self.epochs),
            str(self.reused),
        )


def search_record(run_dir: Path) -> SearchRecord:
    """A run's :class:`SearchRecord`, read from its store. Methods share generations and
    candidates per generation; the epochs say how equal the spending really was (the
    (1+lambda) re-evaluates its parent and trains train-longer children further)."""
    from neronet.evaluation.objectives import nero_net_fitness
    from neronet.store import RunStore

    store = RunStore.open(run_dir, readonly=True)
    try:
        rows, best, config = store.individuals(), store.best(), store.config()
        seed, fitness = int(store.meta("seed")), store.best_fitness()
    finally:
        store.close()
    trained = [r for r in rows if r.cache_of is None and r.epochs]
    yardstick = None if best is None else nero_net_fitness(config, best.status, best.metrics)
    epochs = sum(r.epochs or 0 for r in trained)
    reused = sum(1 for r in trained if r.record.get("memo"))
    return SearchRecord(seed, fitness, yardstick, len(trained), epochs, reused)


def budget_table(searches: Mapping[tuple[str, int], SearchRecord], methods: Sequence[str]) -> Table:
    """Per method: individuals trained, training epochs, and of the individuals those read
    from the memo, per run, mean ± std."""
    rows = []
    for m in methods:
        spent = [
            (v.trained, v.epochs, v.reused) for (method, _), v in searches.items() if method == m
        ]
        cells = []
        for values in zip(*spent, strict=True):
            mean, std = mean_std([float(v) for v in values])
            cells.append(f"{mean:.1f} ± {std:.1f}")
        rows.append((m, *cells))
    header = ("method", "individuals trained per run", "training epochs per run", "from the memo")
    return Table(header, tuple(rows))


def runs_figure(table: MethodTable) -> Figure:
    """One panel per column: each run's retrained best as a point over a box per method
    (median, quartiles, whiskers to 1.5 IQR): the spread the means hide."""
    columns = table.columns
    fig = Figure(figsize=(3.2 * len(columns), 3.8), layout="constrained")
    for i, column in enumerate(columns):
        ax = fig.add_subplot(1, len(columns), i + 1)
        ax.grid(True, axis="y", alpha=0.3)
        values = [[100 * v for v in table.values(m, column)] for m in table.methods]
        ax.boxplot(values, showfliers=False, widths=0.5)
        for j, points in enumerate(values, start=1):
            offsets = np.linspace(-0.15, 0.15, len(points)) if len(points) > 1 else [0.0]
            ax.plot([j + o for o in offsets], points, "o", markersize=4, alpha=0.7)
        ax.set_xticks(range(1, len(table.methods) + 1), table.methods, rotation=30)
        ax.set_title(column)
        ax.set_ylabel("test accuracy (%)" if i == 0 else "")
    fig.suptitle("retrained best of each run (one point per run)")
    return fig


def _detectable(points: float) -> str:
    """A detectable difference as a fraction, in points; "too few pairs" where no
    outcome of the test could reach its level (or fewer than two pairs differ)."""
    return f"{100 * points:.1f}" if math.isfinite(points) else "too few pairs"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def with_network(result: RunResult, trained: Path) -> RunResult:
    """``result`` with the trainable parameters and the digest of the network its run
    retrained (``trained``: its ``neronet train --out``), from the spec its ``train.json``
    records; unchanged before the retraining is recorded."""
    from neronet.nn.plan import count_parameters
    from neronet.spec import NetworkSpec

    try:
        record = json.loads((trained / META_FILE).read_text(encoding="utf-8"))
        spec = NetworkSpec.from_dict(record["spec"])
        parameters = count_parameters(spec)
    except (OSError, ValueError, KeyError, TypeError):
        return result
    return dataclasses.replace(result, parameters=parameters, architecture=spec.digest())


def retraining_note(directory: Path, pairs: Sequence[tuple[str, int]]) -> str:
    """How the bests were retrained, from the first retraining's record (every run
    retrains with the experiment's posttrain settings); "" before any is recorded."""
    for method, run in pairs:
        path = directory / "trained" / f"{method}-run-{run}" / META_FILE
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            epochs, seeds = record["schedule"]["epochs"], record["config"]["seeds"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        images = "that run's search train + control" if record.get("images") else "all training"
        return (
            f" Retraining: {record.get('mode')}, {epochs} epochs x {seeds} seed(s) from "
            f"scratch on {images} images."
        )
    return ""


def _finals(
    table: MethodTable, searches: Mapping[tuple[str, int], SearchRecord]
) -> tuple[list[Final], str]:
    """Each run's end for the anytime figure: the epochs its search spent and its
    retrained best's accuracy under the strongest attack run (:meth:`MethodTable.strongest`),
    and that attack's name."""
    from neronet.reports.anytime import Final

    attack = table.strongest()
    finals = [
        Final(r.method, searches[r.method, r.run].epochs, r.accuracy[attack])
        for r in table.results
        if attack in r.accuracy and (r.method, r.run) in searches
    ]
    return finals, attack


def write_experiment(
    directory: Path,
    methods: Sequence[str],
    runs: int,
    seconds: dict[str, float],
    command: str,
    planned: int | None = None,
    size_reference: SizeReference | None = None,
) -> list[Path]:
    """``EXPERIMENT.md`` (the tables, the figures, the command and the wall time per step),
    ``experiment.csv`` (per run: seed, search, retrained accuracies), ``anytime.csv`` (per
    individual: the curves' data) and the figures in the experiment directory, over runs
    0..runs-1 of every method; EXPERIMENT.md comes last. Fewer runs than ``planned``:
    an interim report, which says so. With ``size_reference`` (a survey's architectures),
    AutoAttack is compared at equal size too (:mod:`neronet.reports.at_size`)."""
    from neronet.reports.anytime import YARDSTICK, anytime_csv, anytime_figure, trajectory
    from neronet.reports.at_size import COLUMN, at_size_section
    from neronet.reports.document import Document, Image, Section, to_markdown
    from neronet.reports.fitness_rank import fitness_rank_section
    from neronet.reports.plots import save
    from neronet.reports.statistics import min_pairs

    pairs = [(m, run) for m in methods for run in range(runs)]
    results = [
        with_network(
            read_run_result(m, run, directory / "attacked" / f"{m}-run-{run}" / "per_model.csv"),
            directory / "trained" / f"{m}-run-{run}",
        )
        for m, run in pairs
    ]
    searches = {(m, run): search_record(directory / m / f"run-{run}") for m, run in pairs}
    trajectories = [trajectory(m, run, directory / m / f"run-{run}") for m, run in pairs]
    table = method_table(methods, results)
    total = sum(seconds.values())
    by_step = defaultdict(float)
    for label, value in seconds.items():
        by_step[label.split(" ")[0]] += value
    timing = ", ".join(f"{step} {_duration(value)}" for step, value in by_step.items())
    doc = Document(
        "neronet experiment: " + " vs ".join(methods),
        (
            Section(
                "Robustness of each run's best, retrained",
                (
                    *(
                        ()
                        if planned is None or runs >= planned
                        else (
                            f"**Interim report: {runs} of the {planned} runs of every method "
                            "are finished.** The experiment goes on round by round; re-run "
                            "its command to continue. Every table below is over the finished "
                            "runs only.",
                        )
                    ),
                    f"{runs} run(s) per method. Accuracy on the held-out test split in %, "
                    "mean ± sample std over runs (a run's value is the mean over its "
                    "retraining seeds); adversarial columns are overall accuracy (correct "
                    "after the attack among all test images). Search epochs: the training "
                    "each run's search spent (mean ± std, min-max over runs): the methods "
                    "share the candidates per generation and each candidate's planned "
                    "epochs, not a total (a mutation may train a child on, warm-started, "
                    "and a repeated candidate costs nothing), so this column measures what "
                    "each spent. Parameters: the retrained bests' trainable parameters in "
                    "thousands, median (min-max) over runs: size alone can make a network "
                    "more robust, so a method whose bests are larger may owe its robustness "
                    "to that. Masking flags: runs whose "
                    "gradient-masking audit flagged an attack (those numbers overstate "
                    "robustness); the audit's notes (e.g. FGSM far above PGD) are in "
                    "experiment.csv. Per-run numbers (seed, search fitness, epochs, "
                    "accuracies): experiment.csv; each run's attack tables: attacked/."
                    + retraining_note(directory, pairs),
                    table.table(searches),
                    Image("runs.png", "retrained best of each run: points over a box per method"),
                    Image("robustness.png", "retrained best of each run, mean ± std over runs"),
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
                            f"compared with {methods[0]} run by run: the pairs (in brackets "
                            "how many differ, where some tie: the test leaves ties out), the "
                            "mean difference (method minus reference, accuracy points) with a "
                            "bootstrap 95 % interval (2,000 resamples of the runs; Hesterberg's "
                            "expanded percentile interval, which keeps its 95 % over a few "
                            "pairs; none over five or fewer), the two-sided Wilcoxon "
                            "signed-rank p-value (exact up to 50 pairs, zero differences "
                            "dropped), and the p-value after Holm's correction over the "
                            "methods compared on the same column: each accuracy is its own "
                            "family, so a reader who judges by one column (AutoAttack's, the "
                            "robustness the experiment asks about, where it was run) holds "
                            "the chance of any false difference in it at 0.05. An interval "
                            "that spans 0 or a Holm p above 0.05 means the runs cannot tell "
                            "the two apart. Detectable: the smallest true difference the "
                            "Wilcoxon test would find at Holm's strictest level (0.05 over "
                            "the column's comparisons) in 4 of 5 such experiments, were the "
                            "differing pairs spread as these are (simulated); too few pairs: "
                            "no outcome of the test reaches that level (here: fewer than "
                            f"{min_pairs(0.05 / (len(methods) - 1))} pairs that differ). A "
                            "difference below it going unseen says little.",
                            table.comparison(),
                        ),
                    ),
                )
            ),
            *(
                (at_size_section(table, size_reference),)
                if size_reference is not None
                and len(methods) > 1
                and runs > 1
                and COLUMN in table.columns
                else ()
            ),
            *filter(None, (fitness_rank_section(table, searches, YARDSTICK),)),
            Section(
                "The searches",
                (
                    "What each search spent (mean ± std over runs; cache hits are not "
                    "trained; from the memo: individuals another method's run had trained "
                    "the same way, read from the experiment's memo instead of trained again, "
                    "counted as trained, since the budget is the method's). Final parents, "
                    "mean ± std over runs: compare/compare.md. "
                    f"Anytime curves: the best {YARDSTICK} found so far, against the epochs "
                    "the search had trained and against generations, median and "
                    "interquartile range over runs (every method on this one yardstick; a "
                    "run that spent less keeps its final best). The yardstick's best need "
                    "not be the individual a run retrains (its strategy's pick: "
                    "accuracy-only's by clean accuracy, a (1+lambda) parent measured lower "
                    "when trained again stays the parent); per individual: anytime.csv.",
                    budget_table(searches, methods),
                    Image("anytime.png", "best fitness so far vs training spent, over runs"),
                    Image("compare/fitness.png", "search: best fitness per generation (own)"),
                    Image(
                        "compare/accuracy.png",
                        "search: clean and FGSM accuracy of each generation's best",
                    ),
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
    figures = {
        "robustness.png": robustness_figure(table),
        "runs.png": runs_figure(table),
        "anytime.png": anytime_figure(methods, trajectories, *_finals(table, searches)),
    }
    paths = [save(fig, directory / name) for name, fig in figures.items()]
    for name, text in (
        ("experiment.csv", table.csv(searches)),
        ("anytime.csv", anytime_csv(trajectories)),
        ("EXPERIMENT.md", to_markdown(doc)),
    ):
        atomic_write(directory / name, text.encode())
        paths.append(directory / name)
    return paths
