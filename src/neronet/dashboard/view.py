"""One path given to the dashboard, as the page shows it: its runs, the curves across
them (mean ± std per generation, per method for an experiment) and, for an
experiment, the post-search tables."""

from __future__ import annotations

import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

from neronet.dashboard.posttrain import experiment_tables
from neronet.dashboard.snapshot import RunReader
from neronet.dashboard.sources import experiment_methods, kind_of, run_refs
from neronet.dashboard.survey import SurveyTables
from neronet.errors import NeronetError
from neronet.reports.data import RunData
from neronet.reports.study_data import best_fitness, curve, parent_metric
from neronet.store import IndividualRow

CURVES = {
    "fitness": best_fitness,
    "clean": parent_metric("clean_accuracy"),
    "adversarial": parent_metric("adversarial_accuracy"),
}
"""Per generation across runs: the best fitness and the parent's accuracies (Figure 4)."""


class SourceView:
    """A run, study, experiment or survey directory; its runs are found again on every read, so
    a study's later runs and a search started after the page appear by themselves."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._readers: dict[Path, RunReader] = {}
        self._survey = SurveyTables(path)
        self._lock = threading.Lock()

    def _reader(self, directory: Path, make: RunReader) -> RunReader:
        with self._lock:
            return self._readers.setdefault(directory, make)

    def state(self) -> dict[str, Any]:
        """The source's JSON: kind, runs (each :func:`~neronet.dashboard.snapshot.run_json`
        with its progress), curves across runs, post-search tables, problems."""
        kind = kind_of(self.path)
        out: dict[str, Any] = {"name": str(self.path), "kind": kind, "runs": [], "curves": []}
        out["tables"], out["error"] = [], None
        try:
            refs = run_refs(self.path, kind)
            if kind == "experiment":
                out["tables"] = experiment_tables(self.path, *experiment_methods(self.path))
            if kind == "survey":
                out["tables"] = self._survey.read()
        except NeronetError as err:
            out["error"] = str(err)
            return out
        read: list[tuple[str | None, RunData]] = []
        for ref in refs:
            data, view = self._reader(ref.directory, RunReader(ref)).read()
            if data is not None and view is not None:
                out["runs"].append(view)
                read.append((ref.group, data))
        groups = list(dict.fromkeys(group for group, _ in read))
        if len(read) > 1:
            for group in groups:
                runs = [data for g, data in read if g == group]
                curves = {name: asdict(curve(runs, value)) for name, value in CURVES.items()}
                out["curves"].append({"group": group, "runs": len(runs), **curves})
        return out

    def individual(self, run: int, individual_id: int) -> tuple[RunData, IndividualRow] | None:
        """Run ``run``'s (its index on the page) individual ``individual_id``, if both exist."""
        refs = run_refs(self.path, kind_of(self.path))
        if not 0 <= run < len(refs):
            return None
        data, _ = self._reader(refs[run].directory, RunReader(refs[run])).read()
        row = next((r for r in (data.individuals if data else ()) if r.id == individual_id), None)
        return None if row is None or data is None else (data, row)
