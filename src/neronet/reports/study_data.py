"""Several runs read as one: a study's runs (or one run) and what is computed across them.

Aggregates are over runs: for each generation, the mean and the sample standard
deviation (0 for one run, the convention of ``neronet train`` and ``neronet
attack``) of a per-run value, over the runs that finished that generation.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from neronet.config import NeroConfig, parse_config
from neronet.errors import StudyError
from neronet.reports.data import GenerationStats, RunData, load_run
from neronet.search.study import STUDY_FILE, Study, is_study, read_study
from neronet.store import DB_NAME, IndividualRow


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


@dataclass(frozen=True)
class Curve:
    """A per-generation value across runs: mean, std and how many runs it is over."""

    generations: tuple[int, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    counts: tuple[int, ...]


def curve(runs: Sequence[RunData], value: Callable[[GenerationStats], float | None]) -> Curve:
    """``value`` of each run's generation g, aggregated per g (missing values skipped)."""
    per_generation: dict[int, list[float]] = {}
    for run in runs:
        for g in run.generations:
            v = value(g)
            if v is not None:
                per_generation.setdefault(g.row.generation, []).append(float(v))
    gens = sorted(per_generation)
    stats = [mean_std(per_generation[g]) for g in gens]
    return Curve(
        tuple(gens),
        tuple(m for m, _ in stats),
        tuple(s for _, s in stats),
        tuple(len(per_generation[g]) for g in gens),
    )


def best_fitness(g: GenerationStats) -> float:
    return g.row.best_fitness


def parent_metric(name: str) -> Callable[[GenerationStats], float | None]:
    """The generation's parent's metric ``name`` (None when it was not measured)."""
    return lambda g: g.parent.metric(name)


@dataclass(frozen=True)
class Fittest:
    """The fittest individual of a set of runs and why it won."""

    run: int
    """Index of its run among the runs compared."""
    individual: IndividualRow
    fitness: float
    post_warmup: bool
    """Whether ``fitness`` is the post-warm-up objective (NERO-Net: the weighted HRS)."""


def final_fitness(run: RunData) -> tuple[float, bool] | None:
    """The final parent's fitness and whether it is post-warm-up; None before generation 0
    finishes."""
    if not run.generations:
        return None
    last = run.generations[-1].row
    return last.best_fitness, not last.info.get("warmup", False)


def fittest(runs: Sequence[RunData]) -> Fittest | None:
    """ "The fittest across all generations and evolutionary runs" (the paper's section 6).

    The rule: each run's candidate is its final parent (the strategy's choice,
    ``RunStore.best``); candidates are compared by the fitness their run's last
    generation gave them. Warm-up fitness (NERO-Net: clean accuracy) and
    weighted-HRS fitness are on different scales, so only post-warm-up values
    are compared; a run that ended in warm-up competes only when no run left
    it. Objectives without a warm-up count as post-warm-up. Ties go to the
    lower run index, so the choice is stable.
    """
    scored = [(i, f) for i, run in enumerate(runs) if (f := final_fitness(run)) is not None]
    if not scored:
        return None
    pool = [(i, f) for i, f in scored if f[1]] or scored
    index, (fitness, post) = max(pool, key=lambda item: (item[1][0], -item[0]))
    best = runs[index].best
    assert best is not None, "a run with a finished generation has a best individual"
    return Fittest(index, best, fitness, post)


@dataclass(frozen=True)
class RunSet:
    """What ``compare`` and the study report read: a name and runs (a study, or one run)."""

    directory: Path
    runs: tuple[RunData, ...]
    study: Study | None

    @property
    def name(self) -> str:
        """The directory as the user wrote it: ``a/run-0`` and ``b/run-0`` stay apart."""
        return str(self.directory)

    def run_label(self, index: int) -> str:
        return self.runs[index].directory.name

    @property
    def config(self) -> NeroConfig:
        """The config the runs share (a study's, with the study seed; else the run's)."""
        if self.study is None:
            return self.runs[0].config
        return parse_config(self.study.config, f"{self.directory}/{STUDY_FILE}")


def load_runs(directory: str | Path, first: int | None = None) -> RunSet:
    """A study (every run must exist; with ``first``, its first ``first`` runs: a study
    still growing, whose later runs may not be searched yet) or a single run directory.

    A missing run is an error, not a smaller study: averages over the runs that
    happen to exist would silently change what the study measures.
    """
    path = Path(directory)
    if not is_study(path):
        if not (path / DB_NAME).is_file():
            raise StudyError(
                f"'{path}' is neither a study (no {STUDY_FILE}) nor a run (no {DB_NAME}); "
                "check the path"
            )
        return RunSet(path, (load_run(path),), None)
    study = read_study(path)
    if first is not None and not 1 <= first <= study.runs:
        raise StudyError(
            f"study '{path}' has {study.runs} runs, not the first {first} asked for; "
            f"pass --runs 1..{study.runs}"
        )
    runs = range(study.runs if first is None else first)
    missing = [study.run_name(i) for i in runs if not study.present(i)]
    if missing:
        raise StudyError(
            f"study '{path}': {', '.join(missing)} of {len(runs)} runs missing; "
            f"{study.resume_hint()}"
        )
    return RunSet(path, tuple(load_run(study.run_dir(i)) for i in runs), study)
