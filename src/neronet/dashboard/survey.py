"""A survey directory as the dashboard shows it: how far it is, what each architecture
being measured is doing, the correlations of its rows so far, and its latest rows.

Read from the survey's own database (read-only: the survey writes each row in one
transaction, so a poll sees whole rows) and the last line of ``survey.log`` (the
progress line, with its estimate of the time left). The correlations' bootstrap is
the costly part, so it is computed again only when the number of rows changes.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

from neronet.dashboard.posttrain import table
from neronet.reports.status import last_line
from neronet.reports.survey import SIGNALS, correlations, status_counts
from neronet.survey.rows import PROGRESS_LOG
from neronet.survey.store import Record, SurveyStore

LATEST = 30
"""Rows shown, newest first (the whole survey is survey.csv)."""
COLUMNS = (
    ("search clean", "clean_accuracy"),
    ("search FGSM", "adversarial_accuracy"),
    ("NERO-Net fitness", "nero_net_fitness"),
    ("final clean", "final_clean"),
    ("final PGD-20", "final_pgd20"),
    ("final AutoAttack", "final_autoattack"),
)


class SurveyTables:
    """The tables of one survey directory, the correlations kept until a row is added."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._rows = -1
        self._correlations: dict[str, Any] | None = None

    def read(self) -> list[dict[str, Any]]:
        """Progress, correlations against the final AutoAttack accuracy, latest rows."""
        store = SurveyStore.read(self.path)
        try:
            records = store.records()
        finally:
            store.close()
        return [
            self._progress(records),
            _unfinished(self.path, records),
            self._correlation_table(records),
            _latest(records),
        ]

    def _progress(self, records: list[Record]) -> dict[str, Any]:
        counts = status_counts(records) or "-"
        return table(
            "survey progress",
            ["architectures measured", "by status", "last progress line (survey.log)"],
            [[str(len(records)), counts, last_line(self.path / "survey.log") or "-"]],
        )

    def _correlation_table(self, records: list[Record]) -> dict[str, Any]:
        with self._lock:
            if len(records) != self._rows:
                found = correlations(records)
                rows = [
                    [SIGNALS[key], str(tau.n), tau.text(), rho.text()]
                    for key, (tau, rho) in found.items()
                ]
                self._correlations = table(
                    "against the final AutoAttack accuracy (bootstrap 95 % intervals)",
                    ["signal", "n", "Kendall tau", "Spearman rho"],
                    rows,
                )
                self._rows = len(records)
            assert self._correlations is not None
            return self._correlations


def _latest(records: list[Record]) -> dict[str, Any]:
    """The newest rows first (by index: lanes finish out of order)."""
    rows = []
    for r in sorted(records, key=lambda r: r.index, reverse=True)[:LATEST]:
        cells = [_number(r.metrics.get(key)) for _, key in COLUMNS]
        rows.append([str(r.index), r.origin, r.status, *cells, f"{sum(r.seconds.values()):.0f}"])
    headers = ["arch", "origin", "status", *(name for name, _ in COLUMNS), "seconds"]
    return table(f"latest architectures (at most {LATEST}; all: survey.csv)", headers, rows)


def _unfinished(path: Path, records: list[Record]) -> dict[str, Any]:
    """The architectures begun and not yet in the database, each with the last line of its
    progress log (one can take an hour; the survey's own line comes only per row)."""
    done = {r.index for r in records}
    begun = []
    for log in (path / "models").glob(f"arch-*/{PROGRESS_LOG}"):
        index = log.parent.name.removeprefix("arch-")
        if index.isdigit() and int(index) not in done:
            begun.append((int(index), last_line(log) or "-"))
    return table(
        f"being measured (or stopped): last line of models/arch-<i>/{PROGRESS_LOG}",
        ["arch", "last progress line"],
        [[str(index), line] for index, line in sorted(begun)],
    )


def _number(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.3f}"
