"""What a path given to ``neronet dashboard`` is, and which run directories it holds.

A path is a run (``run.sqlite``), a study (``study.json``: its runs ``run-i``), an
experiment (``experiment.json``: a study per method, then ``trained/`` and
``attacked/``), a survey (``survey.sqlite``: no runs, its rows), or a directory
where a search has not started yet (shown as waiting, and looked at again on every
poll: the dashboard may be opened before the search it watches).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from neronet.errors import NeronetError
from neronet.runlock import LOCK_NAME
from neronet.search.study import STUDY_FILE, read_study
from neronet.store import DB_NAME
from neronet.survey.store import DB_NAME as SURVEY_DB

EXPERIMENT_FILE = "experiment.json"
STARTUP_FILES = {LOCK_NAME, f".{DB_NAME}.creating"}
"""What a search leaves in its directory before the run database is in place."""


@dataclass(frozen=True)
class RunRef:
    """One run directory of a source, labelled as the page shows it."""

    label: str
    directory: Path
    group: str | None = None
    """The method an experiment's run belongs to (None outside an experiment)."""


def kind_of(path: Path) -> str:
    """``run``, ``study``, ``experiment``, ``survey``, or ``waiting`` (nothing there yet)."""
    if (path / DB_NAME).is_file():
        return "run"
    if (path / STUDY_FILE).is_file():
        return "study"
    if (path / EXPERIMENT_FILE).is_file():
        return "experiment"
    if (path / SURVEY_DB).is_file():
        return "survey"
    return "waiting"


def check_path(path: Path) -> None:
    """Refuse a path that is not a run, a study, an experiment or a survey and cannot become one
    (a file, a directory holding something else), with a one-line error."""
    if not path.exists():
        return
    if not path.is_dir():
        raise NeronetError(f"'{path}' is a file; pass a run, study, experiment or survey directory")
    if kind_of(path) == "waiting" and {p.name for p in path.iterdir()} - STARTUP_FILES:
        raise NeronetError(
            f"'{path}' is not a run, study, experiment or survey directory (no {DB_NAME}, "
            f"{STUDY_FILE}, {EXPERIMENT_FILE} or {SURVEY_DB}); check the path"
        )


def experiment_methods(path: Path) -> tuple[list[str], int]:
    """An experiment's method names and runs per method, from its manifest."""
    try:
        data = json.loads((path / EXPERIMENT_FILE).read_text(encoding="utf-8"))
        return [str(m["name"]) for m in data["methods"]], int(data["runs"])
    except (OSError, ValueError, KeyError, TypeError):
        raise NeronetError(
            f"'{path / EXPERIMENT_FILE}' is unreadable; restore it or re-run the experiment"
        ) from None


def run_refs(path: Path, kind: str) -> list[RunRef]:
    """The run directories of a source, in order; runs not created yet are left out."""
    if kind == "run":
        return [RunRef(path.name or str(path), path)]
    if kind == "study":
        study = read_study(path)
        return [
            RunRef(study.run_name(i), study.run_dir(i))
            for i in range(study.runs)
            if study.present(i)
        ]
    if kind == "experiment":
        methods, runs = experiment_methods(path)
        refs = [
            RunRef(f"{m}/run-{i}", path / m / f"run-{i}", group=m)
            for m in methods
            for i in range(runs)
        ]
        return [r for r in refs if (r.directory / DB_NAME).is_file()]
    return []
