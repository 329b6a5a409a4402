"""RunStore: one run directory, one SQLite database, weights as safetensors.

Layout of a run directory::

    run.sqlite          run metadata, generations, individuals, events (WAL mode)
    weights/<id>.safetensors   trained weights (pruned by the keep policy)
    states/<id>.pt      training state (weights + optimizer) for warm starts
    run.log             human-readable log

Crash safety: blobs are written to a temporary file and renamed *before* the
row that points at them is committed, and every individual is committed the
moment it is evaluated. A killed run therefore never refers to a missing or
half-written file; resume replays the stored results through the strategy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from neronet.config import NeroConfig, parse_config
from neronet.errors import StoreError
from neronet.paths import confined
from neronet.store.records import DamagedField, GenerationRow, IndividualRow, decode_json
from neronet.store.schema import SCHEMA_VERSION, TABLES, migrate, version_of

DB_NAME = "run.sqlite"
STAGING = f".{DB_NAME}.creating"
"""The database while :meth:`RunStore.create` builds it, renamed to ``DB_NAME`` when whole."""
STARTUP_FILES = (STAGING, f"{STAGING}-journal")
"""What a creation killed before the rename leaves (SQLite's rollback journal too)."""
BLOB_FILES = {
    "weights": ("weights", re.compile(r"\d+\.safetensors")),
    "state": ("states", re.compile(r"\d+\.pt")),
}
"""Sub-folder and file-name pattern of each kind of blob a run stores."""
TEMP_FILE = re.compile(r"\..+\.tmp\d+")
"""A temporary file of :func:`atomic_write` (``.<name>.tmp<pid>``)."""


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either nothing or the whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:  # a full disk, Ctrl-C: no partial file left (a kill's is swept)
        tmp.unlink(missing_ok=True)
        raise


def check_run_directory(path: Path, what: str) -> bool:
    """Refuse a directory to search in that is not a run, before anything is written.

    A directory holding other files would get the run's files mixed into it. One
    holding only what a start-up killed before its database was whole leaves (the lock
    file, the staging database and its journal) stored nothing: it is started again as
    if new, and True says so. ``what`` names the directory in messages (``--run``).
    """
    from neronet.runlock import LOCK_NAME

    if not path.exists() or (path / DB_NAME).exists():
        return False
    if not path.is_dir():
        raise StoreError(f"{what} '{path}' is a file, not a directory; choose another path")
    names = {p.name for p in path.iterdir()}
    if names - {LOCK_NAME, *STARTUP_FILES}:
        raise StoreError(
            f"{what} '{path}' is a non-empty directory that holds no neronet run; "
            "choose a new or empty directory"
        )
    return bool(names)


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _snapshot(db_path: Path) -> sqlite3.Connection:
    """The database (with its write-ahead log) read into memory from a temporary copy.

    A reader that may not write the run directory (a colleague's run, a read-only mount)
    cannot open a WAL database in place: SQLite needs to create its index file (``-shm``)
    beside it. The copy leaves the directory untouched and nothing behind.
    """
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / DB_NAME
        for suffix in ("", "-wal"):
            source = db_path.with_name(db_path.name + suffix)
            if source.is_file():
                shutil.copyfile(source, copy.with_name(copy.name + suffix))
        disk = sqlite3.connect(copy, isolation_level=None)
        memory = sqlite3.connect(":memory:", isolation_level=None)
        try:
            disk.backup(memory)
        finally:
            disk.close()
    memory.row_factory = sqlite3.Row
    return memory


class RunStore:
    """Access to one run directory. Only the search process writes to it."""

    def __init__(self, directory: Path, connection: sqlite3.Connection) -> None:
        self.directory = directory
        self._db = connection

    # ----------------------------------------------------------------- opening
    @classmethod
    def create(cls, directory: str | Path, meta: dict[str, Any]) -> RunStore:
        """Create a new run directory (it must not hold a run already)."""
        path = Path(directory)
        if path.exists() and not path.is_dir():
            raise StoreError(f"--run '{path}' is a file, not a directory; choose another path")
        if (path / DB_NAME).exists():
            raise StoreError(f"'{path}' already holds a run; resume it or choose a new --run dir")
        path.mkdir(parents=True, exist_ok=True)
        # Build the database under a temporary name and rename it into place, so a
        # crash during creation never leaves a run.sqlite without schema or metadata.
        staging = path / STAGING
        for name in STARTUP_FILES:  # a stale journal would be rolled into the new database
            (path / name).unlink(missing_ok=True)
        conn = sqlite3.connect(staging, isolation_level=None)
        try:
            conn.executescript(TABLES)
            rows = {"schema_version": SCHEMA_VERSION, **meta}
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO meta(key, value) VALUES (?, ?)",
                [(k, json.dumps(v)) for k, v in rows.items()],
            )
            conn.execute("COMMIT")
        finally:
            conn.close()
        os.replace(staging, path / DB_NAME)
        return cls(path, cls._connect(path / DB_NAME))

    @classmethod
    def open(
        cls, directory: str | Path, *, readonly: bool = False, timeout: float = 30.0
    ) -> RunStore:
        """Open an existing run directory, checking that it is one; ``timeout``: seconds to
        wait for a lock (a live view reading every few seconds waits briefly instead)."""
        path = Path(directory)
        db_path = path / DB_NAME
        if not db_path.is_file():
            raise StoreError(
                f"'{path}' is not a neronet run directory (no {DB_NAME}); check the path"
            )
        try:
            conn = cls._connect(db_path, readonly=readonly, timeout=timeout)
            try:
                tables = _tables(conn)
            except sqlite3.OperationalError:
                if not readonly:
                    raise
                # e.g. "attempt to write a readonly database": SQLite could not create
                # the WAL index beside a database it may not write
                conn.close()
                conn = _snapshot(db_path)
                tables = _tables(conn)
            if not {"meta", "generations", "individuals", "events"} <= tables:
                raise sqlite3.DatabaseError("tables are missing")
            version = version_of(conn)
            if version == 1:
                conn = cls._migrated(conn, readonly)
        except sqlite3.DatabaseError as err:
            raise StoreError(
                f"'{db_path}' is corrupt or not a run database ({err}); restore it"
            ) from None
        except (ValueError, TypeError, AttributeError, RecursionError) as err:
            raise StoreError(
                f"'{db_path}' has a damaged schema version or config ({type(err).__name__}); "
                "restore it from a backup"
            ) from None
        if version not in (1, SCHEMA_VERSION):
            raise StoreError(
                f"'{db_path}' has schema version {version}, this neronet reads 1-"
                f"{SCHEMA_VERSION}; use the neronet version that wrote it"
            )
        return cls(path, conn)

    @staticmethod
    def _migrated(conn: sqlite3.Connection, readonly: bool) -> sqlite3.Connection:
        """An older database at the current schema: migrated in place (one transaction)
        when writable; a migrated in-memory copy when read-only (the file is untouched)."""
        if readonly:
            memory = sqlite3.connect(":memory:", isolation_level=None)
            conn.backup(memory)
            conn.close()
            memory.row_factory = sqlite3.Row
            conn = memory
        migrate(conn)
        return conn

    @staticmethod
    def _connect(
        db_path: Path, readonly: bool = False, timeout: float = 30.0
    ) -> sqlite3.Connection:
        if readonly and not os.access(db_path.parent, os.W_OK):
            return _snapshot(db_path)  # no writer can be at work in a read-only directory
        uri = f"file:{quote(str(db_path.absolute()))}"  # a '?' or '#' in a path is no URI syntax
        uri += "?mode=ro" if readonly else ""
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=timeout)
        conn.row_factory = sqlite3.Row
        if not readonly:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -------------------------------------------------------------------- meta
    def _damaged(self, where: str, err: DamagedField) -> StoreError:
        """The one-line error for a stored value that is not what neronet wrote."""
        return StoreError(
            f"run '{self.directory}': {where} '{err.field}' is damaged ({err.problem}); "
            "restore run.sqlite from a backup"
        )

    def meta(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        if row is None:
            return default
        try:
            return decode_json(row[0], key)
        except DamagedField as err:
            raise self._damaged("meta", err) from None

    def config_data(self) -> dict[str, Any]:
        """The stored config as a mapping (``{}`` for a store made without one)."""
        config = self.meta("config", {})
        if not isinstance(config, dict):
            kind = "null" if config is None else f"a JSON {type(config).__name__}"
            raise self._damaged("meta", DamagedField("config", f"{kind}, not a mapping"))
        for key, value in config.items():  # every setting but the seed is a section
            if key != "seed" and not isinstance(value, dict):
                problem = f"a JSON {type(value).__name__}, not a section"
                raise self._damaged("meta", DamagedField(f"config.{key}", problem))
        return config

    def config(self) -> NeroConfig:
        """The stored config, typed: :meth:`config_data` validated by the schema, the one
        way a reader sees a run's settings (a config that no longer parses is one line
        naming the run). Plug-in names are not checked, and the settings section of a
        plug-in that is not installed is kept as written: a run is read where a plug-in it
        used is not installed."""
        return parse_config(
            self.config_data(), f"{self.directory} (stored config)", keep_foreign=True
        )

    def grammar(self) -> tuple[str, str]:
        """The stored grammar text and its name."""
        text, name = self.meta("grammar"), self.meta("grammar_name")
        for field, value in (("grammar", text), ("grammar_name", name)):
            if not isinstance(value, str):
                raise self._damaged("meta", DamagedField(field, f"{value!r:.40} is not text"))
        return text, name

    def set_meta(self, key: str, value: Any) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (key, json.dumps(value)),
            )

    def log_event(self, kind: str, message: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO events(time, kind, message) VALUES (?, ?, ?)",
                (time.time(), kind, message),
            )

    def events(self) -> list[tuple[float, str, str]]:
        return [
            tuple(r) for r in self._db.execute("SELECT time, kind, message FROM events ORDER BY id")
        ]

    # --------------------------------------------------------------- blobs
    def weights_file(self, individual_id: int) -> Path:
        return self.directory / "weights" / f"{individual_id}.safetensors"

    def state_file(self, individual_id: int) -> Path:
        return self.directory / "states" / f"{individual_id}.pt"

    def blob_path(self, row: IndividualRow, kind: Literal["weights", "state"]) -> Path | None:
        """Where ``row``'s weights or training state lie, None when it has none.

        The path comes from the database, which is just a file that may have been
        edited: it is confined to ``weights/<id>.safetensors`` / ``states/<id>.pt``
        inside this run (no ``..``, absolute path or symlink out) before anyone
        reads or deletes it; anything else is a one-line error naming the row.
        """
        rel = row.weights_path if kind == "weights" else row.state_path
        if rel is None:
            return None
        subdir, pattern = BLOB_FILES[kind]
        return confined(self.directory, rel, subdir, pattern, f"individual {row.id} {kind}_path")

    def sweep(self) -> list[Path]:
        """Delete what a killed writer left behind; returns what was deleted.

        Temporary files of :func:`atomic_write` (a kill before the rename) and blobs
        no row refers to (a kill between the blob and its row, or in pruning between
        the row update and the delete) are never part of a finished run: a resumed
        run ends with exactly the files of an uninterrupted one. Only the run's
        single writer calls this (see ``neronet.runlock``).
        """
        referenced = set()
        for row in self.individuals():
            for kind in ("weights", "state"):
                path = self.blob_path(row, kind)
                if path is not None:
                    referenced.add(path.name)
        swept = []
        for subdir, pattern in BLOB_FILES.values():
            folder = self.directory / subdir
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                stale = TEMP_FILE.fullmatch(path.name) is not None
                orphan = pattern.fullmatch(path.name) is not None and path.name not in referenced
                if (stale or orphan) and path.is_file():
                    path.unlink()
                    swept.append(path)
        if swept:
            self.log_event("sweep", f"removed {len(swept)} file(s) left by an interrupted run")
        return swept

    def save_blob(self, path: Path, data: bytes) -> str:
        atomic_write(path, data)
        return str(path.relative_to(self.directory))

    # ----------------------------------------------------------- individuals
    def add_individual(self, row: dict[str, Any]) -> None:
        """Commit one evaluated individual (blobs must already be on disk)."""
        values = dict(row)
        for name in ("mutations", "history", "record", "metrics"):
            values[name] = json.dumps(values[name])
        fitness = values.get("fitness")
        values["fitness"] = None if fitness is None else json.dumps(fitness)
        values["created_at"] = time.time()
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        with self._tx() as db:
            db.execute(
                f"INSERT INTO individuals({columns}) VALUES ({marks})", list(values.values())
            )

    def individual(self, individual_id: int) -> IndividualRow:
        row = self._db.execute("SELECT * FROM individuals WHERE id=?", (individual_id,)).fetchone()
        if row is None:
            raise StoreError(
                f"no individual with id {individual_id} in this run; see `neronet status`"
            )
        return self._individual(row)

    def individual_by_key(self, key: str) -> IndividualRow | None:
        row = self._db.execute("SELECT * FROM individuals WHERE key=?", (key,)).fetchone()
        return None if row is None else self._individual(row)

    def individuals(self, generation: int | None = None) -> list[IndividualRow]:
        if generation is None:
            rows = self._db.execute("SELECT * FROM individuals ORDER BY id")
        else:
            rows = self._db.execute(
                "SELECT * FROM individuals WHERE generation=? ORDER BY id", (generation,)
            )
        return [self._individual(r) for r in rows]

    def _individual(self, row: sqlite3.Row) -> IndividualRow:
        try:
            return IndividualRow.from_sql(row)
        except DamagedField as err:
            raise self._damaged(f"individual {row['id']!r:.20}", err) from None

    def count_individuals(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM individuals").fetchone()[0])

    def find_evaluated(
        self, spec_hash: str, learning_hash: str, train_time: float, before_id: int
    ) -> IndividualRow | None:
        """An earlier (id < ``before_id``), freshly trained individual with the same
        architecture and training settings: the duplicate cache of a run."""
        row = self._db.execute(
            "SELECT * FROM individuals WHERE spec_hash=? AND learning_hash=? AND train_time=? "
            "AND id < ? AND cache_of IS NULL AND warm_start_from IS NULL "
            "ORDER BY id LIMIT 1",
            (spec_hash, learning_hash, train_time, before_id),
        ).fetchone()
        return None if row is None else self._individual(row)

    def set_paths(self, individual_id: int, *, weights: str | None, state: str | None) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE individuals SET weights_path=?, state_path=? WHERE id=?",
                (weights, state, individual_id),
            )

    # ----------------------------------------------------------- generations
    def add_generation(self, row: GenerationRow) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO generations VALUES (?, ?, ?, ?, ?, ?)",
                (
                    row.generation,
                    json.dumps(list(row.elites)),
                    row.best_fitness,
                    row.mean_fitness,
                    json.dumps(row.info),
                    row.finished_at,
                ),
            )

    def generations(self) -> list[GenerationRow]:
        rows = self._db.execute("SELECT * FROM generations ORDER BY generation")
        return [self._generation(r) for r in rows]

    def _generation(self, row: sqlite3.Row) -> GenerationRow:
        try:
            return GenerationRow.from_sql(row)
        except DamagedField as err:
            raise self._damaged(f"generation {row['generation']!r:.20}", err) from None

    def _last_generation(self) -> GenerationRow | None:
        row = self._db.execute(
            "SELECT * FROM generations ORDER BY generation DESC LIMIT 1"
        ).fetchone()
        return None if row is None else self._generation(row)

    def best_fitness(self) -> float | None:
        """The best individual's fitness under the run's current objective."""
        last = self._last_generation()
        return None if last is None else float(last.best_fitness)

    def elites(self) -> list[IndividualRow]:
        """The last finished generation's elites, best first (the strategy's choice)."""
        last = self._last_generation()
        return [] if last is None else [self.individual(i) for i in last.elites]

    def best(self) -> IndividualRow | None:
        """The last finished generation's first elite: the run's fittest.

        Fitness values from warm-up (clean accuracy) and after it (weighted HRS)
        are not comparable, so "best" is the strategy's own choice, not a max.
        """
        elites = self.elites()
        return elites[0] if elites else None
