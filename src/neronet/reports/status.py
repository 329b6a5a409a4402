"""What ``neronet status`` prints, as facts (also its ``--json``, and ``Run.status()`` of
the API): a run's state; each run's stage in an experiment and a survey's rows, read from
the files their steps write, so they answer while the work runs, after a kill, or on
records copied elsewhere (a 50-run comparison takes a day on two cores, a survey days).
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any


def run_status(run_dir: str) -> dict[str, object]:
    """The facts `neronet status` prints, as a dict (also the --json output)."""
    from neronet.runlock import lock_holder
    from neronet.store import RunStore

    store = RunStore.open(run_dir, readonly=True)
    try:
        gens = store.generations()
        rows = store.individuals()
        best = store.best()
        search = store.config().search
        started = store.meta("started_at") or time.time()
        last_time = store.meta("finished_at") or max([g.finished_at for g in gens], default=started)
        return {
            "run": str(run_dir),
            "generation": len(gens),
            "generations_total": search.generations,
            "individuals": len(rows),
            "invalid": sum(r.status == "invalid" for r in rows),
            "ill_fitted": sum(r.status == "ill-fitted" for r in rows),
            "cache_hits": sum(r.cache_of is not None for r in rows),
            "objective": search.objective,
            "warmup": _in_warmup(gens[-1].info) if gens else True,
            "best_id": None if best is None else best.id,
            "best_fitness": store.best_fitness(),
            "best_metrics": {} if best is None else best.metrics,
            "train_seconds": sum(r.train_seconds or 0.0 for r in rows),
            "elapsed_seconds": max(last_time - started, 0.0),
            "finished": bool(store.meta("finished", False)),
            "writer_pid": lock_holder(run_dir),
            "seed": store.meta("seed"),
        }
    finally:
        store.close()


def _in_warmup(info: dict[str, object]) -> bool:
    """Whether fitness after this generation is still NERO-Net's warm-up objective."""
    return bool(info.get("warmup")) and not info.get("switched")


def attack_suite(attacked: Path) -> tuple[bool, dict[str, str]] | None:
    """A run's attack suite: whether it is complete and the weight digest of each model it
    attacked; None when there is none (not begun, or its manifest unreadable)."""
    from neronet.cli.attack import PAIRS
    from neronet.robustness.results import MANIFEST

    try:
        suite = json.loads((attacked / PAIRS / MANIFEST).read_text("utf-8"))
        return suite["complete"] is True, dict(suite["identity"]["models"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run_stage(directory: Path, name: str) -> str:
    """The stage of run ``name`` (``<method>-run-<i>``) of the experiment in ``directory``:
    in order ``not started``, ``searching``, ``searched``, ``retraining``, ``retrained``,
    ``attacking``, ``done`` (the ``-ing`` ones under way, or cut short by a stop)."""
    from neronet.search.study import run_finished
    from neronet.store import DB_NAME
    from neronet.train.training_dir import RESULTS_FILE

    method, run = name.rsplit("-run-", 1)
    run_dir = directory / method / f"run-{run}"
    if not (run_dir / DB_NAME).is_file():
        return "not started"
    if not run_finished(run_dir):
        return "searching"
    trained, attacked = directory / "trained" / name, directory / "attacked" / name
    if not (trained / RESULTS_FILE).is_file():
        return "retraining" if trained.is_dir() else "searched"
    suite = attack_suite(attacked)
    if suite is not None and suite[0] and (attacked / "per_model.csv").is_file():
        return "done"
    return "attacking" if attacked.is_dir() else "retrained"


def experiment_status(directory: Path, now: datetime | None = None) -> dict[str, Any]:
    """The facts ``neronet status`` prints for an experiment (also its ``--json``): per
    method each run's stage (a search under way with its generations), the runs done, the
    writer's pid (None: stopped), the time left as last estimated (counted down to ``now``,
    default the clock, while the writer runs; None once every run is done) and the last
    line of its log."""
    from neronet.dashboard.sources import experiment_methods
    from neronet.runlock import lock_holder

    methods, runs = experiment_methods(directory)
    stages: dict[str, list[dict[str, Any]]] = {}
    for method in methods:
        stages[method] = []
        for run in range(runs):
            stage: dict[str, Any] = {"stage": run_stage(directory, f"{method}-run-{run}")}
            if stage["stage"] == "searching":
                info = run_status(str(directory / method / f"run-{run}"))
                stage |= {k: info[k] for k in ("generation", "generations_total")}
            stages[method].append(stage)
    done = sum(s["stage"] == "done" for runs_of in stages.values() for s in runs_of)
    log = log_lines(directory / "experiment.log")
    writer = lock_holder(directory)
    left = done < len(methods) * runs
    now = (now or datetime.now()) if writer is not None else None
    return {
        "experiment": str(directory),
        "methods": methods,
        "runs": runs,
        "done": done,
        "writer_pid": writer,
        "stages": stages,
        "time_left": latest_estimate(log, now) if left else None,
        "last_line": log[-1] if log else None,
    }


_ESTIMATE = re.compile(r"about (.+?) left at this pace")


def latest_estimate(lines: list[str], now: datetime | None = None) -> str | None:
    """The time left as the experiment's log (its ``lines``) last told it, with when
    (``about 12h 00m 00s, estimated 2026-12-06 13:12:08``); None before its first
    estimate. The log tells it as each run ends and each round is reported, so between
    those its latest line is a step's announcement, which says nothing of the time left.

    With ``now`` (the writer still running), the estimate is counted down to it (``about
    11h 00m 00s from now, of 12h 00m 00s estimated 2026-12-06 13:12:08``): a run can take
    hours, and an estimate read an hour after it was made would be an hour long."""
    from neronet.logline import line_time
    from neronet.reports.summary import duration, parse_duration

    for line in reversed(lines):
        found = _ESTIMATE.search(line)
        if not found:
            continue
        told, at = found[1], line[:19]
        seconds, made = parse_duration(told), line_time(line)
        if now is None or seconds is None or made is None:
            return f"about {told}, estimated {at}"
        left = seconds - (now - made).total_seconds()
        if left <= 0:
            return f"overdue by {duration(-left)}: {told} estimated {at}"
        return f"about {duration(left)} from now, of {told} estimated {at}"
    return None


def log_lines(log: Path) -> list[str]:
    """A log's lines (none: no log yet)."""
    try:
        return log.read_text("utf-8").splitlines()
    except OSError:
        return []


LOG_TAIL = 4096
"""Bytes read from a log's end for its last line: a survey's progress log grows for hours
and the dashboard asks for its last line every refresh."""


def last_line(log: Path) -> str | None:
    """A log's last line (None: no log, or an empty one), read from its tail."""
    try:
        with log.open("rb") as f:
            f.seek(max(0, f.seek(0, 2) - LOG_TAIL))
            lines = f.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return None
    return lines[-1] if lines else None


def survey_status(directory: Path) -> dict[str, Any]:
    """The facts ``neronet status`` prints for a survey (also its ``--json``): the rows
    measured by status, the retests, the writer's pid (None: stopped), the jobs under way
    (a model directory without its row, or a ``retest/`` without its retest) with their
    progress log's last line, and the survey log's last line."""
    from collections import Counter

    from neronet.runlock import lock_holder
    from neronet.survey.rows import PROGRESS_LOG
    from neronet.survey.store import SurveyStore

    store = SurveyStore.read(directory)
    try:
        records, retests = store.records(), store.retests()
    finally:
        store.close()
    rows, retested = {r.index for r in records}, {r.index for r in retests}
    names = (arch.name.removeprefix("arch-") for arch in (directory / "models").glob("arch-*"))
    under_way = {}
    for index in sorted(int(name) for name in names if name.isdigit()):
        arch = directory / "models" / f"arch-{index}"
        if index not in rows:
            under_way[f"arch {index}"] = last_line(arch / PROGRESS_LOG)
        elif (arch / "retest").is_dir() and index not in retested:
            under_way[f"arch {index} retest"] = last_line(arch / PROGRESS_LOG)
    return {
        "survey": str(directory),
        "rows": len(records),
        "statuses": dict(Counter(r.status for r in records)),
        "retests": len(retests),
        "writer_pid": lock_holder(directory),
        "under_way": under_way,
        "last_line": last_line(directory / "survey.log"),
    }


def _state(writer_pid: int | None, under_way: bool, idle: str) -> str:
    """Running, stopped with work under way (a resume continues it), or ``idle``."""
    if writer_pid is not None:
        return f"running (pid {writer_pid})"
    return "stopped (re-run its command to resume)" if under_way else idle


def survey_lines(info: dict[str, Any]) -> list[str]:
    """``neronet status`` of a survey as text (its planned count is its command's: a
    survey grows with ``--count``, so one stopped between rows reads as idle)."""
    statuses = ", ".join(f"{n} {status}" for status, n in sorted(info["statuses"].items()))
    state = _state(info["writer_pid"], bool(info["under_way"]), "idle")
    lines = [
        f"survey {info['survey']}: {info['rows']} architectures measured"
        f"{f' ({statuses})' if statuses else ''}, {info['retests']} retests, {state}"
    ]
    for job, line in info["under_way"].items():
        lines.append(f"  {job} under way: {line or 'starting'}")
    if info["last_line"]:
        lines.append(f"  last: {info['last_line']}")
    return lines


def experiment_lines(info: dict[str, Any]) -> list[str]:
    """``neronet status`` of an experiment as text: a line per method with its runs done
    and those under way, then the log's last line."""
    total = len(info["methods"]) * info["runs"]
    state = _state(info["writer_pid"], info["done"] < total, "finished")
    lines = [f"experiment {info['experiment']}: {info['done']} of {total} runs done, {state}"]
    width = max(len(m) for m in info["methods"])
    for method in info["methods"]:
        done, under_way = method_progress(info["stages"][method])
        lines.append(f"  {method:<{width}}  {'; '.join([done, *under_way])}")
    if info["time_left"]:
        lines.append(f"  time left: {info['time_left']}")
    if info["last_line"]:
        lines.append(f"  last: {info['last_line']}")
    return lines


def method_progress(runs: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """A method's runs (:func:`experiment_status`'s stages) as ``"2 of 10 done"`` and a
    phrase per run between its start and its end (``"run-2 searching (generations
    3/6)"``), for the terminal and the dashboard alike."""
    done = sum(s["stage"] == "done" for s in runs)
    under_way = []
    for index, s in enumerate(runs):
        if s["stage"] in ("done", "not started"):
            continue
        where = f"run-{index} {s['stage']}"
        if "generation" in s:
            where += f" (generations {s['generation']}/{s['generations_total']})"
        under_way.append(where)
    return f"{done} of {len(runs)} done", under_way
