"""An experiment's post-search results as tables: each run's best retrained and attacked.

Read from what the experiment's own ``neronet train`` and ``neronet attack`` steps
wrote (``trained/<method>-run-<i>/train_results.csv``,
``attacked/<method>-run-<i>/per_model.csv``), with the readers of
:mod:`neronet.reports.experiment`; a step not done yet is simply not a row yet.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from neronet.errors import NeronetError
from neronet.reports.experiment import method_table, read_run_result
from neronet.reports.study_data import mean_std
from neronet.train.training_dir import RESULTS_FILE


def table(title: str, headers: list[str], rows: list[list[str]]) -> dict[str, Any]:
    return {"title": title, "headers": headers, "rows": rows}


def trained_table(directory: Path, methods: list[str], runs: int) -> dict[str, Any] | None:
    """Per run: seeds retrained and their test accuracy, mean ± std (None: none yet)."""
    rows = []
    for m in methods:
        for i in range(runs):
            path = directory / "trained" / f"{m}-run-{i}" / RESULTS_FILE
            try:
                seeds = list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))
                accuracy = [float(s["test_accuracy"]) for s in seeds]
            except (OSError, KeyError, ValueError):
                continue
            if accuracy:
                mean, std = mean_std(accuracy)
                epochs = ", ".join(dict.fromkeys(s["epochs"] for s in seeds))
                rows.append(
                    [m, f"run-{i}", str(len(seeds)), epochs, f"{100 * mean:.2f} ± {100 * std:.2f}"]
                )
    if not rows:
        return None
    headers = ["method", "run", "seeds", "epochs", "test accuracy (%)"]
    return table("retrained (neronet train)", headers, rows)


def attacked_tables(directory: Path, methods: list[str], runs: int) -> list[dict[str, Any]]:
    """Per method, mean ± std over runs; then per run, with the audit's flags."""
    results = []
    for m in methods:
        for i in range(runs):
            path = directory / "attacked" / f"{m}-run-{i}" / "per_model.csv"
            if path.is_file():
                try:
                    results.append(read_run_result(m, i, path))
                except NeronetError:
                    continue  # being written: it shows on a later poll
    if not results:
        return []
    summary = method_table(methods, results).table()
    columns = list(dict.fromkeys(c for r in results for c in r.accuracy))
    per_run = [
        [
            r.method,
            f"run-{r.run}",
            *(f"{100 * r.accuracy[c]:.2f}" if c in r.accuracy else "-" for c in columns),
            "; ".join(r.flags) or "no",
        ]
        for r in results
    ]
    return [
        table(
            "attacked: mean ± std over runs (overall accuracy)",
            list(summary.headers),
            [list(row) for row in summary.rows],
        ),
        table(
            "attacked: each run",
            ["method", "run", *(f"{c} (%)" for c in columns), "masking flag"],
            per_run,
        ),
    ]


def progress_table(directory: Path) -> dict[str, Any]:
    """Per method: its runs done and each run under way with its stage, and in the title the
    time left as last estimated (what ``neronet status`` prints)."""
    from neronet.reports.status import experiment_status, method_progress

    info = experiment_status(directory)
    rows = []
    for method in info["methods"]:
        done, under_way = method_progress(info["stages"][method])
        rows.append([method, done, "; ".join(under_way) or "-"])
    left = f": time left {info['time_left']}" if info["time_left"] else ""
    return table(f"progress (neronet status){left}", ["method", "runs", "under way"], rows)


def experiment_tables(directory: Path, methods: list[str], runs: int) -> list[dict[str, Any]]:
    trained = trained_table(directory, methods, runs)
    tables = [progress_table(directory), *([trained] if trained else [])]
    return [*tables, *attacked_tables(directory, methods, runs)]
