"""A run as the dashboard's JSON: progress, individuals, generations, Pareto front, RAS.

Everything is read through :func:`neronet.reports.data.load_run` (read-only,
``mode=ro``, a short lock timeout), the reader the reports use. A run is re-read
only when its database files changed (their size and modification time), so an
idle page costs the writer nothing, and a read that fails (the database locked for
longer than the timeout, or caught half-created) keeps the last good view and says
why it is stale, instead of failing the page.
"""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from neronet.dashboard.sources import RunRef
from neronet.errors import NeronetError
from neronet.reports.data import RunData, load_run
from neronet.reports.metrics import count, in_order, view
from neronet.store import DB_NAME, IndividualRow

READ_TIMEOUT_S = 0.5
"""How long a read waits for a lock before showing the last good state."""
FLAG = "masking_flag"


def db_version(directory: Path) -> tuple[int, ...]:
    """Changes whenever the search commits: size and mtime of the database and its WAL."""
    stats: list[int] = []
    for name in (DB_NAME, f"{DB_NAME}-wal"):
        try:
            st = (directory / name).stat()
            stats += [st.st_mtime_ns, st.st_size]
        except OSError:
            stats += [0, 0]
    return tuple(stats)


def finite(value: Any) -> Any:
    """JSON has no infinities or NaN (a Pareto search's unmeasured -inf): None instead."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, tuple | list):
        return [finite(v) for v in value]
    return value


def planned_evaluations(data: RunData) -> int | None:
    """How many individuals the run's strategy plans (its progress total), from the
    stored config and grammar; None when they cannot be read back."""
    from neronet.genotype import Structure
    from neronet.grammar import Grammar
    from neronet.search.strategies import make_strategy

    grammar = data.meta.get("grammar")
    if not grammar:
        return None
    try:
        structure = Structure.from_config(data.config.structure, Grammar.parse(grammar))
        return int(make_strategy(data.config, structure).planned)
    except NeronetError:
        return None


def metric_columns(rows: tuple[IndividualRow, ...]) -> list[dict[str, str]]:
    """The metrics measured in the run, in the order the progress table uses, with how
    each reads (header, long label, format: ``acc``, ``count`` or ``flag``) and whether
    the individuals table shows it (the others show in an individual's panel)."""
    out = []
    for name in in_order(n for r in rows for n in r.metrics):
        v = view(name)
        fmt = "flag" if name == FLAG else "count" if v.fmt is count else "acc"
        out.append(
            {"name": name, "header": v.header, "label": v.label, "format": fmt, "table": v.in_table}
        )
    return out


def individual_json(row: IndividualRow) -> dict[str, Any]:
    flag = row.metric(FLAG)
    return {
        "id": row.id,
        "key": row.key,
        "generation": row.generation,
        "status": row.status,
        "reason": row.reason,
        "parent": row.parent_id,
        "mutations": row.mutations,
        "fitness": finite(row.fitness),
        "metrics": {k: finite(v) for k, v in row.metrics.items()},
        "masking": None if flag is None else bool(flag),
        "train_s": row.train_seconds,
        "epochs": row.epochs,
        "cache_of": row.cache_of,
    }


def _seconds_per_individual(data: RunData) -> float | None:
    """Mean compute seconds of an evaluated (not cached) individual: training plus
    measurements, as each record times them."""
    spent = [
        sum((r.record.get("seconds") or {}).values())
        for r in data.individuals
        if r.cache_of is None and r.record.get("seconds")
    ]
    return sum(spent) / len(spent) if spent else None


def progress(data: RunData, planned: int | None, writer: int | None) -> dict[str, Any]:
    """Generation, candidate within it, individuals of planned, ETA and state."""
    done = len(data.generations)
    current = max((r.generation for r in data.individuals), default=0)
    open_generation = current >= done  # its individuals are still coming in
    n = len(data.individuals)
    state = "finished" if data.finished else "running" if writer is not None else "stopped"
    per = _seconds_per_individual(data)
    remaining = None if planned is None else max(planned - n, 0)
    started = data.meta.get("started_at") or time.time()
    last = data.meta.get("finished_at") or (
        time.time()
        if state == "running"
        else max([started, *(g.row.finished_at for g in data.generations)])
    )
    phase = None
    if data.has_warmup:
        phase = "warm-up (clean accuracy)" if data.switch_generation is None else "weighted HRS"
    return {
        "state": state,
        "writer_pid": writer,
        "generation": current,
        "generations": data.generations_total,
        "finished_generations": done,
        "candidate": sum(r.generation == current for r in data.individuals)
        if open_generation
        else 0,
        "individuals": n,
        "planned": planned,
        "eta_s": per * remaining if state == "running" and per and remaining is not None else None,
        "elapsed_s": max(last - started, 0.0),
        "phase": phase,
    }


def notes(data: RunData) -> list[str]:
    """What a reader of this run should know that the numbers do not say."""
    out = []
    if data.has_warmup and data.finished and data.switch_generation is None:
        out.append(
            "the warm-up never ended: every generation's fitness was clean accuracy, so this "
            "run searched as an accuracy-only run would (more generations, or a lower "
            "fitness.warmup_tau, let the robustness objective act)"
        )
    return out


def run_json(ref: RunRef, data: RunData) -> dict[str, Any]:
    """Everything the page shows of one run, but its progress (:func:`progress`)."""
    from neronet.ras import FEATURES
    from neronet.reports.ras_data import is_ras, ras_series

    generations = [
        {
            "generation": g.row.generation,
            "best": finite(g.row.best_fitness),
            "mean": finite(g.row.mean_fitness),
            "parent": g.parent.id,
            "clean": g.parent.metric("clean_accuracy"),
            "adversarial": g.parent.metric("adversarial_accuracy"),
            "switched": bool(g.row.info.get("switched")),
            "elites": list(g.row.elites),
        }
        for g in data.generations
    ]
    pareto = None
    if data.components is not None:
        front = list(data.generations[-1].row.elites) if data.generations else []
        pareto = {"names": list(data.components), "front": front}
    ras = None
    if is_ras(data):
        series = ras_series(data)
        ras = {
            "features": list(FEATURES),
            "generations": [
                {
                    "generation": g.generation,
                    "representatives": g.representatives,
                    "accuracy": g.representatives_accuracy,
                    "blocks": g.blocks,
                    "layers": g.layers,
                }
                for g in series.generations
            ],
            "spectra": [
                {"id": s.id, "key": s.key, "counts": list(s.counts)} for s in series.spectra
            ],
        }
    return {
        "label": ref.label,
        "group": ref.group,
        "path": str(ref.directory),
        "objective": data.objective,
        "strategy": data.config.search.strategy,
        "seed": data.meta.get("seed"),
        "metrics": metric_columns(data.individuals),
        "individuals": [individual_json(r) for r in data.individuals],
        "generations": generations,
        "hypervolume": data.components is not None,
        "pareto": pareto,
        "ras": ras,
        "notes": notes(data),
        "best": None if data.best is None else data.best.id,
    }


class RunReader:
    """One run, read again only when it changed; the last good read survives a failed one."""

    def __init__(self, ref: RunRef) -> None:
        self.ref = ref
        self._version: tuple[int, ...] | None = None
        self._data: RunData | None = None
        self._json: dict[str, Any] = {}
        self._planned: int | None = None
        self._stale: str | None = None
        self._lock = threading.Lock()

    def read(self) -> tuple[RunData | None, dict[str, Any] | None]:
        """The run's data and JSON, re-read if its files changed (thread-safe). Progress
        (the writer's state, elapsed time, ETA) is fresh on every call."""
        from neronet.runlock import lock_holder

        with self._lock:
            version = db_version(self.ref.directory)
            if version != self._version:
                try:
                    data = load_run(self.ref.directory, timeout=READ_TIMEOUT_S)
                except (NeronetError, sqlite3.Error) as err:
                    self._stale = f"showing the last good state: {err}"
                else:
                    if self._planned is None:
                        self._planned = planned_evaluations(data)
                    self._data, self._version, self._stale = data, version, None
                    self._json = run_json(self.ref, data)
            if self._data is None:
                return None, None
            writer = None if self._data.finished else lock_holder(self.ref.directory)
            live = progress(self._data, self._planned, writer)
            return self._data, {**self._json, "progress": live, "stale": self._stale}
