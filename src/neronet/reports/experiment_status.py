"""Where each run of an experiment stands (``neronet status EXPERIMENT_DIR``), read from
the files its steps write, so it answers while the experiment runs, after a kill, or on
records copied elsewhere.

A run goes through the stages of :data:`STAGES`: its search (its run store, finished
or not), its best's retraining (``trained/<method>-run-<i>``: the results file once
every seed is done) and its attack (``attacked/<method>-run-<i>``: a complete suite and
its ``per_model.csv``). A 50-run comparison takes a day on two cores; this says which
runs are done, which are under way and how far, without a browser.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

STAGES = ("not started", "searching", "searched", "retraining", "retrained", "attacking", "done")
"""A run's stages in order; ``searching``, ``retraining`` and ``attacking`` are under way
(or were, when the experiment was stopped)."""


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
    """The stage of run ``name`` (``<method>-run-<i>``) of the experiment in ``directory``."""
    from neronet.search.study import run_finished
    from neronet.store import DB_NAME
    from neronet.train.posttrain import RESULTS_FILE

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


def experiment_status(directory: Path) -> dict[str, Any]:
    """The facts ``neronet status`` prints for an experiment (also its ``--json``): per
    method each run's stage (a search under way with its generations), the runs done, the
    writer's pid (None: stopped) and the last line of its log (its latest estimate)."""
    from neronet.dashboard.sources import experiment_methods
    from neronet.reports.status import run_status
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
    try:
        lines = (directory / "experiment.log").read_text("utf-8").splitlines()
    except OSError:
        lines = []
    return {
        "experiment": str(directory),
        "methods": methods,
        "runs": runs,
        "done": sum(s["stage"] == "done" for runs_of in stages.values() for s in runs_of),
        "writer_pid": lock_holder(directory),
        "stages": stages,
        "last_line": lines[-1] if lines else None,
    }


def status_lines(info: dict[str, Any]) -> list[str]:
    """``neronet status`` of an experiment as text: a line per method with its runs done
    and those under way, then the log's last line."""
    total = len(info["methods"]) * info["runs"]
    if info["writer_pid"] is not None:
        state = f"running (pid {info['writer_pid']})"
    elif info["done"] == total:
        state = "finished"
    else:
        state = "stopped (re-run its command to resume)"
    lines = [f"experiment {info['experiment']}: {info['done']} of {total} runs done, {state}"]
    width = max(len(m) for m in info["methods"])
    for method in info["methods"]:
        runs = info["stages"][method]
        done = sum(s["stage"] == "done" for s in runs)
        words = [f"{done} of {len(runs)} done"]
        for index, s in enumerate(runs):
            if s["stage"] in ("done", "not started"):
                continue
            where = f"run-{index} {s['stage']}"
            if "generation" in s:
                where += f" (generations {s['generation']}/{s['generations_total']})"
            words.append(where)
        lines.append(f"  {method:<{width}}  {'; '.join(words)}")
    if info["last_line"]:
        lines.append(f"  last: {info['last_line']}")
    return lines
