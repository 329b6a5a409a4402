"""Typed rows of the run database (individuals and generations), as the store returns them.

A run database is a file anyone can edit, so every row is checked as it is read: each
JSON column must decode (not too deep) to its type, numbers must be numbers, and a
stored network spec must be one (:mod:`neronet.spec_check`). A damaged field raises
:class:`DamagedField`, which the store turns into one line naming the run and the field,
instead of a traceback wherever the value was first used.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from neronet.evaluation.objectives import Fitness
from neronet.evaluation.result import Outcome
from neronet.spec_check import spec_from_data


class DamagedField(ValueError):
    """A stored value that is not what neronet wrote: ``field`` names it, ``problem`` says how."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def decode_json(text: Any, field: str) -> Any:
    """``text`` decoded as JSON, or :class:`DamagedField` (not text, not JSON, too deep)."""
    if not isinstance(text, str | bytes):
        raise DamagedField(field, f"a stored {type(text).__name__}, not JSON text")
    try:
        return json.loads(text)
    except RecursionError:
        raise DamagedField(field, "JSON nested too deeply") from None
    except ValueError:
        raise DamagedField(field, "not JSON") from None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _typed(text: Any, field: str, kind: type, check: Callable[[Any], bool] = bool) -> Any:
    """Decoded JSON of ``kind`` whose items pass ``check`` (called on the whole value)."""
    value = decode_json(text, field)
    if not isinstance(value, kind):
        raise DamagedField(field, f"a JSON {type(value).__name__}, not a {kind.__name__}")
    if value and not check(value):
        raise DamagedField(field, f"a {kind.__name__} of the wrong items")
    return value


def _number(value: Any, field: str, *, optional: bool = False) -> Any:
    if (value is None and optional) or _is_number(value):
        return value
    raise DamagedField(field, f"{value!r} is not a number")


def _integer(value: Any, field: str, *, optional: bool = False) -> Any:
    if (value is None and optional) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise DamagedField(field, f"{value!r} is not an integer")


def _text(value: Any, field: str, *, optional: bool = False) -> Any:
    if (value is None and optional) or isinstance(value, str):
        return value
    raise DamagedField(field, f"{value!r} is not text")


def _fitness(text: Any) -> Fitness | None:
    if text is None:
        return None
    value = decode_json(text, "fitness")
    if _is_number(value):
        return value
    if isinstance(value, list) and value and all(_is_number(v) for v in value):
        return tuple(value)
    raise DamagedField("fitness", f"{str(value)[:40]!r} is not a number or a list of numbers")


def _record(text: Any) -> dict[str, Any]:
    record = _typed(text, "record", dict)
    if "spec" in record:
        try:
            spec_from_data(record["spec"])
        except ValueError as err:
            raise DamagedField("record.spec", f"not a network spec ({err})") from None
        except RecursionError:
            raise DamagedField("record.spec", "nested too deeply") from None
    return record


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
        """The row, every field checked; :class:`DamagedField` names the first bad one."""
        data = dict(row)
        data.pop("created_at")
        for name in ("id", "generation"):
            _integer(data[name], name)
        for name in ("parent_id", "epochs", "cache_of", "warm_start_from"):
            _integer(data[name], name, optional=True)
        for name in ("key", "genotype", "status"):
            _text(data[name], name)
        for name in ("spec_hash", "learning_hash", "reason", "weights_path", "state_path"):
            _text(data[name], name, optional=True)
        _number(data["train_time"], "train_time")
        _number(data["train_seconds"], "train_seconds", optional=True)
        data["mutations"] = _typed(
            data["mutations"], "mutations", list, lambda v: all(isinstance(m, str) for m in v)
        )
        data["history"] = _typed(
            data["history"], "history", list, lambda v: all(isinstance(e, dict) for e in v)
        )
        data["metrics"] = _typed(
            data["metrics"],
            "metrics",
            dict,
            lambda v: all(_is_number(x) and math.isfinite(x) for x in v.values()),
        )
        data["record"] = _record(data["record"])
        data["fitness"] = _fitness(data["fitness"])
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
        """The row, every field checked; :class:`DamagedField` names the first bad one."""

        def ints(value: list[Any]) -> bool:
            return all(isinstance(i, int) and not isinstance(i, bool) for i in value)

        return cls(
            generation=_integer(row["generation"], "generation"),
            elites=tuple(_typed(row["elites"], "elites", list, ints)),
            best_fitness=_number(row["best_fitness"], "best_fitness"),
            mean_fitness=_number(row["mean_fitness"], "mean_fitness"),
            info=_typed(row["info"], "info", dict),
            finished_at=_number(row["finished_at"], "finished_at"),
        )
