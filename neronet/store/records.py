"""Typed rows of the run database (individuals and generations), as the store returns them."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from neronet.evaluation.objectives import Fitness
from neronet.evaluation.result import Outcome


@dataclass(frozen=True)
class IndividualRow:
    """One evaluated individual as stored; measurements are in ``metrics`` by name."""

    id: int
    key: str
    generation: int
    parent_id: int | None
    mutations: list[str]
    genotype: str
    spec_hash: str | None
    learning_hash: str | None
    train_time: float
    status: str
    reason: str | None
    fitness: Fitness | None
    metrics: dict[str, float]
    epochs: int | None
    train_seconds: float | None
    history: list[dict[str, Any]]
    record: dict[str, Any]
    cache_of: int | None
    warm_start_from: int | None
    weights_path: str | None
    state_path: str | None

    @classmethod
    def from_sql(cls, row: sqlite3.Row) -> IndividualRow:
        data = dict(row)
        data.pop("created_at")
        for name in ("mutations", "history", "record", "metrics"):
            data[name] = json.loads(data[name])
        fitness = None if data["fitness"] is None else json.loads(data["fitness"])
        data["fitness"] = tuple(fitness) if isinstance(fitness, list) else fitness
        return cls(**data)

    def metric(self, name: str) -> float | None:
        """The measurement ``name``, None when it was not taken (e.g. not attacked)."""
        return self.metrics.get(name)

    def outcome(self) -> Outcome:
        """What a strategy is told of this individual (on replay, or for ranking)."""
        return Outcome(self.id, self.status, self.metrics)


@dataclass(frozen=True)
class GenerationRow:
    """A finished generation: its elites (best first), fitness summary and strategy facts."""

    generation: int
    elites: tuple[int, ...]
    best_fitness: float
    mean_fitness: float
    info: dict[str, Any]
    finished_at: float

    @property
    def best_id(self) -> int:
        """The generation's best individual (its first elite; the (1+lambda)'s parent)."""
        return self.elites[0]

    @classmethod
    def from_sql(cls, row: sqlite3.Row) -> GenerationRow:
        return cls(
            generation=row["generation"],
            elites=tuple(json.loads(row["elites"])),
            best_fitness=row["best_fitness"],
            mean_fitness=row["mean_fitness"],
            info=json.loads(row["info"]),
            finished_at=row["finished_at"],
        )
