"""The run database's schema and its migrations.

Version 2 stores measurements and fitness generically (Optuna's lesson:
objective values are data, not columns): ``individuals.metrics`` is a JSON
mapping ``{name: value}``, ``individuals.fitness`` JSON (a number, or a list
for a multi-objective search), and a generation records its ``elites`` (a
JSON list of ids, best first) and strategy/objective ``info`` instead of
NERO-Net's parent / warm-up columns. A version-1 database (neronet 0.1) is
migrated in one transaction when opened for writing, and in memory when
opened read-only, so a colleague's run directory is never modified by
``status`` or ``report``.
"""

from __future__ import annotations

import json
import sqlite3

SCHEMA_VERSION = 2

TABLES = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS generations (
    generation INTEGER PRIMARY KEY,
    elites TEXT NOT NULL,
    best_fitness REAL NOT NULL,
    mean_fitness REAL NOT NULL,
    info TEXT NOT NULL,
    finished_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS individuals (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    generation INTEGER NOT NULL,
    parent_id INTEGER,
    mutations TEXT NOT NULL,
    genotype TEXT NOT NULL,
    spec_hash TEXT,
    learning_hash TEXT,
    train_time REAL NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    fitness TEXT,
    metrics TEXT NOT NULL,
    epochs INTEGER,
    train_seconds REAL,
    history TEXT NOT NULL,
    record TEXT NOT NULL,
    cache_of INTEGER,
    warm_start_from INTEGER,
    weights_path TEXT,
    state_path TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS individuals_generation ON individuals(generation);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL
);
"""

V1_METRICS = (
    "clean_accuracy",
    "adversarial_accuracy",
    "overall_adversarial_accuracy",
    "parameters",
)
"""Version 1's measurement columns, which become metrics of the same names."""

LEGACY_SETTINGS = {
    "search": {
        "reevaluate_parent": False,
        "seed_learning": "fixed",
        "mutation": {"scheme": "neronet-0.1", "float_sigma_mode": "range"},
    },
    "evaluation": {"measurements": ["clean", "fgsm", "parameters"]},
}
"""Settings added after version 1 whose defaults changed the search: a version-1 run's
stored config gets these values, so resuming it continues the search it started."""

_COPIED = (
    "id, key, generation, parent_id, mutations, genotype, spec_hash, learning_hash, train_time, "
    "status, reason, epochs, train_seconds, history, record, cache_of, warm_start_from, "
    "weights_path, state_path, created_at"
)


def version_of(conn: sqlite3.Connection) -> int | None:
    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    return None if row is None else json.loads(row[0])


def migrate(conn: sqlite3.Connection) -> None:
    """Bring ``conn``'s database to :data:`SCHEMA_VERSION` in one transaction."""
    if version_of(conn) == 1:
        conn.execute("BEGIN IMMEDIATE")
        try:
            _v1_to_v2(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE individuals RENAME TO individuals_v1")
    conn.execute("ALTER TABLE generations RENAME TO generations_v1")
    conn.execute("DROP INDEX IF EXISTS individuals_generation")
    # executescript() would commit the transaction: run the statements one by one
    for statement in TABLES.split(";"):
        if statement.strip():
            conn.execute(statement)
    old = conn.execute(f"SELECT {_COPIED}, fitness, {', '.join(V1_METRICS)} FROM individuals_v1")
    names = [d[0] for d in old.description]
    for values in old.fetchall():
        row = dict(zip(names, values, strict=True))
        metrics = {m: row.pop(m) for m in V1_METRICS}
        row["metrics"] = json.dumps({k: v for k, v in metrics.items() if v is not None})
        fitness = row.pop("fitness")
        row["fitness"] = None if fitness is None else json.dumps(fitness)
        conn.execute(
            f"INSERT INTO individuals({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
            list(row.values()),
        )
    for g in conn.execute("SELECT * FROM generations_v1").fetchall():
        generation, parent, best, mean, warmup, switched, finished_at = g
        info = {"warmup": bool(warmup), "switched": bool(switched)}
        conn.execute(
            "INSERT INTO generations VALUES (?, ?, ?, ?, ?, ?)",
            (generation, json.dumps([parent]), best, mean, json.dumps(info), finished_at),
        )
    conn.execute("DROP TABLE individuals_v1")
    conn.execute("DROP TABLE generations_v1")
    row = conn.execute("SELECT value FROM meta WHERE key='config'").fetchone()
    if row is not None:
        config = json.loads(row[0])
        _set_missing(config, LEGACY_SETTINGS)
        conn.execute("UPDATE meta SET value=? WHERE key='config'", (json.dumps(config),))
    conn.execute("DELETE FROM meta WHERE key='search_config'")  # derived from config now
    conn.execute(
        "UPDATE meta SET value=? WHERE key='schema_version'", (json.dumps(SCHEMA_VERSION),)
    )


def _set_missing(config: dict, values: dict) -> None:
    """Set each (nested) key of ``values`` that ``config`` lacks."""
    for key, value in values.items():
        if isinstance(value, dict):
            _set_missing(config.setdefault(key, {}), value)
        else:
            config.setdefault(key, value)
