"""Everything a report shows, read once from a RunStore and then closed.

Reports never write to a run, so the store is opened read-only: a report can be
made while the search is still running, and it can never damage the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neronet.config import NeroConfig
from neronet.evaluation.objectives import stored_components
from neronet.spec import NetworkSpec
from neronet.store import GenerationRow, IndividualRow, RunStore

WARMUP_OBJECTIVE = "nero-net"
"""The objective whose first generations score clean accuracy only (its warm-up)."""


@dataclass(frozen=True)
class GenerationStats:
    """One finished generation: the strategy's summary plus its members' outcomes."""

    row: GenerationRow
    parent: IndividualRow
    members: tuple[IndividualRow, ...]

    def count(self, status: str) -> int:
        return sum(1 for m in self.members if m.status == status)


@dataclass(frozen=True)
class RunData:
    """The facts of one run, independent of the store connection."""

    directory: Path
    meta: dict[str, Any]
    individuals: tuple[IndividualRow, ...]
    generations: tuple[GenerationStats, ...]
    best: IndividualRow | None
    config: NeroConfig
    """The run's settings (``RunStore.config()``)."""
    components: tuple[str, ...] | None = None
    """The metrics of a vector objective (a Pareto search), None for a scalar one."""

    @property
    def generations_total(self) -> int:
        return self.config.search.generations

    @property
    def finished(self) -> bool:
        return bool(self.meta.get("finished"))

    @property
    def objective(self) -> str:
        """The run's objective (runs from before objectives were named: NERO-Net's)."""
        return self.config.search.objective

    @property
    def has_warmup(self) -> bool:
        """Whether the objective has NERO-Net's warm-up phase; the accuracy baseline,
        RAS and Pareto searches have none, and their reports must not shade one."""
        return self.objective == WARMUP_OBJECTIVE

    @property
    def best_label(self) -> str:
        """What a generation's best is: the (1+lambda)'s parent; for other strategies (RAS's
        representatives, a Pareto set, random search) just the generation's best."""
        return "best (parent)" if self.config.search.strategy == "one-plus-lambda" else "best"

    @property
    def switch_generation(self) -> int | None:
        """The generation at whose end the objective switched (NERO-Net: to the weighted
        HRS), if any."""
        return next(
            (g.row.generation for g in self.generations if g.row.info.get("switched")), None
        )

    @property
    def warmup_only(self) -> bool:
        """Whether a warm-up objective never scored a generation by robustness: the
        warm-up never ended, or ended with the last generation (an accuracy-only search
        in effect)."""
        if not self.has_warmup or not self.generations:
            return False
        switch = self.switch_generation
        return switch is None or switch >= self.generations[-1].row.generation

    def count(self, status: str) -> int:
        return sum(1 for r in self.individuals if r.status == status)

    @property
    def cache_hits(self) -> int:
        return sum(1 for r in self.individuals if r.cache_of is not None)

    def total_seconds(self, what: str) -> float:
        """Seconds spent on ``what`` ("train", or a measurement's name) over the run;
        cache hits cost nothing."""
        return float(
            sum(
                (r.record.get("seconds") or {}).get(what, 0.0)
                for r in self.individuals
                if r.cache_of is None
            )
        )

    def front(self, generation: GenerationStats) -> list[IndividualRow]:
        """A generation's elites (for a Pareto search: its first front), best first."""
        by_id = {r.id: r for r in self.individuals}
        return [by_id[i] for i in generation.row.elites]

    def best_spec(self) -> NetworkSpec | None:
        """The best individual's architecture, when its record holds one."""
        if self.best is None or "spec" not in self.best.record:
            return None
        return NetworkSpec.from_dict(self.best.record["spec"])


_META_KEYS = (
    "grammar",
    "seed",
    "versions",
    "started_at",
    "finished",
    "finished_at",
)


def load_run(run_dir: str | Path, timeout: float = 30.0) -> RunData:
    """Read a run directory; raises :class:`~neronet.errors.StoreError` if it is not one.
    ``timeout``: seconds to wait for a lock (the dashboard polls and waits briefly)."""
    store = RunStore.open(run_dir, readonly=True, timeout=timeout)
    try:
        individuals = store.individuals()
        generations = tuple(
            GenerationStats(
                row=row,
                parent=store.individual(row.best_id),
                members=tuple(r for r in individuals if r.generation == row.generation),
            )
            for row in store.generations()
        )
        return RunData(
            directory=Path(run_dir),
            meta={key: store.meta(key) for key in _META_KEYS},
            individuals=tuple(individuals),
            generations=generations,
            best=store.best(),
            config=(config := store.config()),
            components=stored_components(config),
        )
    finally:
        store.close()
