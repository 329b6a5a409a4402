"""Progress display and run log for a search.

The terminal gets a rich progress bar (generation, individual, phase, ETA) plus
one line per evaluated individual; the run directory gets the same lines in
``run.log`` so a week-long run can be followed with ``tail -f``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from neronet.reports.describe import fmt_metric as _fmt
from neronet.reports.metrics import MetricView, table_metrics
from neronet.search.strategies import STRATEGIES

if TYPE_CHECKING:  # keeps this module light for the CLI's other commands
    from neronet.config import NeroConfig
    from neronet.search.base import Candidate, GenerationSummary, Strategy
    from neronet.store import IndividualRow, RunStore


def progress_bar(console: Console) -> Progress:
    """The one progress-bar layout of neronet: what runs, how far, elapsed, ETA."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


def row_header(columns: Sequence[MetricView]) -> str:
    """Column names of the per-individual lines (FGSM: accuracy among clean-correct samples)."""
    metrics = "".join(f"{c.header:>{c.width}}  " for c in columns)
    return f"  {'key':<7} {'id':<4} {'status':<10} {metrics}{'fit.':>5}  {'train':>6}  mutations"


def row_line(row: IndividualRow, columns: Sequence[MetricView], cached: bool = False) -> str:
    """One individual's line under :func:`row_header`."""
    tag = "cached" if cached else "memo" if row.record.get("memo") else row.status
    metrics = "".join(f"{c.fmt(row.metric(c.name)):>{c.width}}  " for c in columns)
    fitness = row.fitness if row.fitness is None or isinstance(row.fitness, float) else None
    return (
        f"  {row.key:<7} {row.id:<4} {tag:<10} {metrics}{_fmt(fitness):>5}  "
        f"{row.train_seconds or 0:5.1f}s  {','.join(row.mutations)}"
    )


STEP_NAMES = {"graphs": "CUDA graphs", "compile": "torch.compile", "eager": "eager"}


def search_plan(
    config: NeroConfig,
    planned: int,
    device: str,
    own_epochs: bool = False,
    threads: int | None = None,
) -> list[str]:
    """What a search will do and how long it may take, said before it starts: the strategy
    and the encoding it searches, the budget
    and its unit, how training steps run, the output layer when neronet adds it; a
    warning when a GPU-sized setup (time budgets of minutes, no epoch cap) runs on a
    CPU. ``device``: a device type, or an executor's description; ``own_epochs``: the
    grammar's learning unit sets each individual's epoch cap; ``threads``: torch CPU
    threads per evaluation, when known."""
    from neronet.search.ras_settings import ras_recipe

    search, training, recipe = config.search, config.training, ras_recipe(config)
    epochs = training.max_epochs if recipe is None or recipe.epochs is None else recipe.epochs
    cap = "" if epochs is None else f"{epochs} epochs or "
    if own_epochs:
        cap = "its learning unit's epochs or "
    unit = {"seconds": "s", "epochs": "epochs", "images": "images"}[search.budget]
    budget = (
        f"each trained for at most {cap}{search.default_train_time:g} {unit} (up to "
        f"{search.max_train_time:g} {unit} when trained longer; search.budget={search.budget})"
    )
    hours = planned * search.default_train_time / 3600  # the seconds budgets' bound
    if search.budget == "seconds":
        budget += f": at most {hours:.1f} h of training by the time budgets"
    head = config.structure.head
    output = (
        ""
        if head == "grammar"
        else f"; output layer: neronet's {head} after the last module (structure.head: {head})"
    )
    where = device if threads is None else f"{device} ({threads} torch thread(s) each)"
    encoding = STRATEGIES.get(search.strategy).encoding_for(search)
    lines = [
        f"plan: {planned} evaluations on {where}, {search.strategy} over {encoding} genomes, "
        f"{budget}; training steps: "
        f"{_steps(training.compile, training.amp, device)}{_schedule(training.schedule)}"
        f"{output}"
    ]
    if (
        device == "cpu"
        and search.budget == "seconds"
        and training.max_epochs is None
        and search.default_train_time >= 300
    ):
        lines.append(
            f"warning: this is a GPU-sized setup ({search.default_train_time:g} s per "
            f"individual, no epoch cap) on a CPU: expect about {hours:.0f} h or more. Try the "
            "quickstart first (neronet evolve), or set training.max_epochs"
        )
    return lines


def _schedule(schedule: str) -> str:
    """The lr schedule, said only when it is not the paper's inverse-time decay."""
    if schedule == "inverse_time":
        return ""
    return f"; lr schedule: {schedule} over each candidate's budget (training.schedule)"


def _steps(setting: str, amp: str, device: str) -> str:
    """How training steps run on ``device`` (a device type, or an executor's description)."""
    if device not in ("cpu", "cuda"):
        return f"training.compile={setting} (auto: CUDA graphs on a GPU, eager on a CPU)"
    import torch  # here, not at import: the CLI's other commands stay light

    from neronet.train.core import amp_dtype, resolve_step_mode

    where = torch.device(device)
    mode = resolve_step_mode(setting, where, amp_dtype(amp, where))
    return f"{STEP_NAMES[mode]} (training.compile={setting})"


class Reporter:
    """Receives search events; renders them to a console and a log file."""

    def __init__(self, console: Console | None, results: Console | None = None) -> None:
        self._console = console
        self._results = results
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._log: logging.Logger | None = None
        self._generations = 0
        self._header = ""
        self._columns: list[MetricView] = []

    @classmethod
    def quiet(cls) -> Reporter:
        """A reporter that only writes the run log (tests, library use)."""
        return cls(None)

    @classmethod
    def terminal(cls) -> Reporter:
        """Progress (bar, per-individual lines) on stderr, the result and the next commands
        on stdout; never wrapped or cut when they go to a file or a pipe."""
        return cls(Console(stderr=True, soft_wrap=True), Console(soft_wrap=True))

    @property
    def console(self) -> Console | None:
        """Where progress goes (None: quiet), for work shown before the search starts."""
        return self._console

    # --------------------------------------------------------------- plumbing
    def _emit(self, message: str, result: bool = False) -> None:
        if self._log is not None:
            self._log.info(Text.from_markup(message).plain)
        console = self._results if result and self._results is not None else self._console
        if console is not None:
            console.print(message, highlight=False)

    def start(
        self, total: int, generations: int, directory: Path, measurements: Sequence[str]
    ) -> None:
        """A search starts: ``total`` planned evaluations of ``measurements`` (names)."""
        from neronet.evaluation.measurements import provided

        self._generations = generations
        self._columns = table_metrics(provided(measurements))
        self._log = logging.getLogger(f"neronet.run.{directory.resolve()}")
        self._log.setLevel(logging.INFO)
        self._log.propagate = False
        if not self._log.handlers:
            handler = logging.FileHandler(directory / "run.log")
            handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
            self._log.addHandler(handler)
        self._emit(f"run directory: {directory}")
        if self._console is not None:
            self._progress = progress_bar(self._console)
            self._progress.start()
            self._task = self._progress.add_task("starting", total=total)

    def _stop_bar(self) -> None:
        """Take the bar off the terminal: a line printed after it (the result, on stdout)
        would otherwise be glued to its last frame."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def stop(self) -> None:
        self._stop_bar()
        if self._log is not None:
            for handler in list(self._log.handlers):
                handler.close()
                self._log.removeHandler(handler)

    def _advance(self) -> None:
        if self._progress is not None and self._task is not None:
            task = self._progress.tasks[self._task]
            if task.total is not None and task.completed + 1 > task.total:
                # fair retrains are not in the planned count: grow it, don't overflow
                self._progress.update(self._task, total=task.completed + 1)
            self._progress.advance(self._task)

    def _describe(self, text: str) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, description=text)

    # ----------------------------------------------------------------- events
    def batch(self, strategy: Strategy, candidates: Sequence[Candidate]) -> None:
        first = candidates[0]
        objective = strategy.objective.describe()
        self._header = f"gen {first.generation} of 0-{self._generations - 1}"
        self._emit(f"[bold]{self._header}[/]: {len(candidates)} candidates, {objective}")
        self._emit(row_header(self._columns))

    def progress(self, key: str, info: dict[str, Any]) -> None:
        """Training/attack progress of one candidate (called by executors)."""
        phase = info.get("phase", "training")
        detail = ""
        if "epoch" in info:
            detail = f" epoch {info['epoch']}"
            if info.get("control_accuracy") is not None:
                detail += f" control acc {info['control_accuracy']:.3f}"
        self._describe(f"{self._header} {key} {phase}{detail}")

    def replayed(self, row: IndividualRow) -> None:
        self._advance()

    def evaluated(self, row: IndividualRow, cached: bool = False) -> None:
        self._advance()
        self._emit(row_line(row, self._columns, cached))
        if row.reason:
            self._emit(f"          {row.reason}")

    def generation(self, summary: GenerationSummary, strategy: Strategy) -> None:
        best = "parent" if len(summary.elites) == 1 else f"{len(summary.elites)} elites, best"
        self._emit(
            f"[bold]gen {summary.generation} of 0-{self._generations - 1} done[/]: {best} id "
            f"{summary.elites[0]}, best fitness {summary.best_fitness:.4f}, "
            f"mean {summary.mean_fitness:.4f}"
        )
        if summary.info.get("switched") and summary.generation < self._generations - 1:
            self._emit(
                f"[bold]warm-up over[/]: from now on fitness is: {strategy.objective.describe()}"
            )

    def warning(self, message: str) -> None:
        """Something the user must not miss (e.g. a dead generation): progress output and log."""
        self._emit(f"[bold yellow]warning[/]: {escape(message)}")

    def finish(self, store: RunStore) -> None:
        self._stop_bar()
        best = store.best()
        if best is None:
            self._emit("search finished without a valid individual")
            return
        shown = ", ".join(f"{c.header} {c.fmt(best.metric(c.name))}" for c in self._columns)
        self._emit(
            f"[bold green]done[/]: best id {best.id}, fitness {_fmt(store.best_fitness())} "
            f"({shown})",
            result=True,
        )
        generations = store.generations()
        if (
            generations
            and generations[-1].info.get("warmup")
            and not any(g.info.get("switched") for g in generations[:-1])
        ):
            self._emit(
                "note: the warm-up never ended (every generation's fitness was clean "
                "accuracy), so this search ran as an accuracy-only one; run more generations "
                "or lower fitness.warmup_tau for the robustness objective to act",
                result=True,
            )
        where = store.directory
        self._emit(
            f"next: neronet best {where} | neronet report {where} | neronet dashboard {where}",
            result=True,
        )
