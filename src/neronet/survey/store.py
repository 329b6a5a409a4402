"""The survey's database: one SQLite file, one row per architecture, each written whole.

Why SQLite and one transaction per row: a survey runs for hours on a shared
machine and is killed; a row is either committed with every measurement of its
architecture or absent, so the same command resumes at the first missing index
and reaches the same records. The config the survey was started with is stored
once; a resume with other settings is refused (its rows would not be comparable).
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from neronet.errors import StoreError, StudyError

T = TypeVar("T")
DB_NAME = "survey.sqlite"
TARGET = "final_autoattack"
"""The ground truth every signal is ranked against: AutoAttack accuracy after retraining."""
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS architectures (
    idx INTEGER PRIMARY KEY,
    origin TEXT NOT NULL,
    mutations TEXT NOT NULL,
    genotype TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    metrics TEXT NOT NULL,
    seconds TEXT NOT NULL,
    device TEXT
);
CREATE TABLE IF NOT EXISTS retests (
    idx INTEGER PRIMARY KEY,
    seed INTEGER NOT NULL,
    metrics TEXT NOT NULL,
    seconds REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Record:
    """One surveyed architecture: how it was drawn, its status and every measurement."""

    index: int
    origin: str
    mutations: tuple[str, ...]
    genotype: str
    status: str
    reason: str | None
    metrics: dict[str, float]
    seconds: dict[str, float]
    device: str | None = None
    """Where it was measured (:func:`~neronet.train.core.device_label`): ``seconds`` on a
    GPU and on one CPU thread differ a hundredfold. None in rows written before rows said."""


def metric_values(records: list[Record], key: str) -> list[float]:
    """Each row's metric ``key``, nan where a row lacks it (an ill-fitted row has no attack
    accuracy, a diverged one no final numbers): the statistics skip nan pairs."""
    return [r.metrics.get(key, math.nan) for r in records]


@dataclass(frozen=True)
class Retest:
    """An architecture's ground truth measured again from another retraining seed: how
    much of the ground truth is the seed's (``neronet survey --retest``)."""

    index: int
    seed: int
    metrics: dict[str, float]
    seconds: float


class SurveyStore:
    """The survey directory's database (``survey.sqlite``)."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path = path
        uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
        self._db = sqlite3.connect(uri, uri=True, isolation_level=None)
        if not readonly:
            self._db.executescript(SCHEMA)
            if "device" not in self._columns():  # a survey started before rows said
                self._db.execute("ALTER TABLE architectures ADD COLUMN device TEXT")

    def _columns(self) -> set[str]:
        return {str(r[1]) for r in self._db.execute("PRAGMA table_info(architectures)")}

    @classmethod
    def open(
        cls,
        directory: Path,
        settings: dict[str, Any],
        normalise: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> SurveyStore:
        """Open (or start) the survey in ``directory`` for ``settings``; a survey started
        with other settings is refused, naming the keys that differ. ``normalise`` turns the
        stored settings into this version's form before they are compared."""
        directory.mkdir(parents=True, exist_ok=True)
        store = cls(directory / DB_NAME)
        stored = store._meta("settings")
        if stored is None:
            with store._db:
                store._db.execute("BEGIN")
                store._db.execute(
                    "INSERT INTO meta VALUES ('settings', ?)",
                    (json.dumps(settings, sort_keys=True),),
                )
            return store
        try:
            store.check(settings, normalise)
        except StudyError:
            store.close()
            raise
        return store

    def check(
        self,
        settings: dict[str, Any],
        normalise: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        """Refuse a survey started with other settings than ``settings``, naming the keys
        that differ (``normalise``: as :meth:`open`)."""
        stored = json.loads(self._meta("settings") or "{}")
        before = stored if normalise is None else normalise(stored)
        if before != settings:
            from neronet.search.resume import diff_keys

            changed = diff_keys(before, settings)
            raise StudyError(
                f"--dir '{self.path.parent}' holds a survey with other settings "
                f"({', '.join(changed[:5])}); re-run it with its original config or choose "
                "a new --dir"
            )

    @classmethod
    def read(cls, directory: Path) -> SurveyStore:
        path = directory / DB_NAME
        if not path.is_file():
            raise StoreError(f"'{directory}' holds no survey ({DB_NAME}); run neronet survey first")
        return cls(path, readonly=True)

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def settings(self) -> dict[str, Any]:
        text = self._meta("settings")
        return {} if text is None else json.loads(text)

    def proxy_definitions(self) -> int:
        """The version of the proxy definitions its rows were measured by (1: a survey
        begun before the version was recorded)."""
        return int(self._meta("proxies") or 1)

    def replace_proxies(
        self, values: dict[int, tuple[dict[str, float], float]], definitions: int
    ) -> None:
        """Merge ``values`` (per row index: the proxies by name, and the seconds they
        took) into the rows' metrics and seconds, and record that the rows follow the
        proxy ``definitions``, all in one transaction."""
        with self._db:
            self._db.execute("BEGIN")
            for index, (proxies, took) in values.items():
                metrics, seconds = self._db.execute(
                    "SELECT metrics, seconds FROM architectures WHERE idx = ?", (index,)
                ).fetchone()
                self._db.execute(
                    "UPDATE architectures SET metrics = ?, seconds = ? WHERE idx = ?",
                    (
                        json.dumps({**json.loads(metrics), **proxies}, sort_keys=True),
                        json.dumps({**json.loads(seconds), "proxies": took}, sort_keys=True),
                        index,
                    ),
                )
            self._db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('proxies', ?)", (str(definitions),)
            )

    def done(self) -> set[int]:
        return {int(r[0]) for r in self._db.execute("SELECT idx FROM architectures")}

    def _insert(self, table: str, values: tuple[Any, ...]) -> None:
        """One row into ``table`` in one transaction (all of it or nothing)."""
        with self._db:
            self._db.execute("BEGIN")
            marks = ", ".join("?" * len(values))
            self._db.execute(f"INSERT INTO {table} VALUES ({marks})", values)

    def add(self, record: Record) -> None:
        """Write ``record`` in one transaction (all of it or nothing)."""
        self._insert(
            "architectures",
            (
                record.index,
                record.origin,
                json.dumps(list(record.mutations)),
                record.genotype,
                record.status,
                record.reason,
                json.dumps(record.metrics, sort_keys=True),
                json.dumps(record.seconds, sort_keys=True),
                record.device,
            ),
        )

    def records(self) -> list[Record]:
        rows = self._db.execute("SELECT * FROM architectures ORDER BY idx").fetchall()
        return self._parsed(
            rows,
            lambda r: Record(
                int(r[0]),
                str(r[1]),
                tuple(json.loads(r[2])),
                str(r[3]),
                str(r[4]),
                r[5],
                _numbers(r[6]),
                _numbers(r[7]),
                r[8] if len(r) > 8 else None,  # read-only, a survey started before rows said
            ),
            "row",
        )

    def add_retest(self, retest: Retest) -> None:
        """Write ``retest`` in one transaction."""
        metrics = json.dumps(retest.metrics, sort_keys=True)
        self._insert("retests", (retest.index, retest.seed, metrics, retest.seconds))

    def retests(self) -> list[Retest]:
        """The retests so far (none in a survey written before retests existed)."""
        known = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'retests'"
        ).fetchone()
        rows = self._db.execute("SELECT * FROM retests ORDER BY idx").fetchall() if known else []
        return self._parsed(
            rows, lambda r: Retest(int(r[0]), int(r[1]), _numbers(r[2]), float(r[3])), "retest"
        )

    def _parsed(self, rows: list[Any], parse: Callable[[Any], T], what: str) -> list[T]:
        """``parse`` of every stored row; a one-line error naming the file when one is
        damaged (not the JSON or the numbers this version wrote)."""
        try:
            return [parse(r) for r in rows]
        except (ValueError, TypeError, AttributeError):
            raise StoreError(
                f"'{self.path}' holds a damaged {what}; restore the file or start a new survey"
            ) from None

    def close(self) -> None:
        self._db.close()


def _numbers(text: str) -> dict[str, float]:
    """A stored JSON object of named numbers."""
    return named_numbers(json.loads(text))


def named_numbers(value: Any) -> dict[str, float]:
    """A decoded JSON object of named numbers as ``{name: float}``; ValueError, TypeError
    or AttributeError when it is not one (a damaged file)."""
    return {str(k): float(v) for k, v in value.items()}
