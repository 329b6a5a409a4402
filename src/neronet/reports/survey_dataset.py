"""The survey as a dataset: one row per architecture, every measurement and the genotype.

CSV always, Parquet when pyarrow is installed: the files other proxies are tested against
without re-running anything, so their columns are documented (:data:`COLUMNS`, printed
in SURVEY.md) and stable.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from neronet.store import atomic_write
from neronet.survey.store import Record, Retest

LEADING: dict[str, Callable[[Record], int | str | None]] = {
    "index": lambda r: r.index,
    "origin": lambda r: r.origin,
    "mutations": lambda r: " ".join(r.mutations),
    "status": lambda r: r.status,
    "reason": lambda r: r.reason,
    "device": lambda r: r.device,
}
"""The dataset's columns before the metrics, and how each is read from a row."""
COLUMNS = {
    "index": "the draw's index (even: a random genotype; odd: a mutant)",
    "origin": "random, seed mutant (of the NSGA-Net seed) or mutant of random (of index - 1)",
    "mutations": "the mutations that made a mutant, in order",
    "status": "ok; ill-fitted (the search's verdict after its budget: fitness the penalty); "
    "diverged (the retraining failed: no final numbers); out of memory (the retraining or "
    "an attack did not fit the device, alone: no final numbers); invalid (no network)",
    "reason": "why a row is not ok (a diverged or out-of-memory row's ends with its "
    "search-time verdict), or what the masking check noted on an ok one",
    "device": "where it was measured (empty: before rows recorded it)",
    "adversarial_accuracy": "search-time FGSM accuracy on the correctly classified fitness "
    "images (conditional)",
    "overall_adversarial_accuracy": "search-time FGSM accuracy over all fitness images",
    "pgd_accuracy": "search-time PGD-k accuracy (conditional)",
    "overall_pgd_accuracy": "search-time PGD-k accuracy over all fitness images",
    "clean_accuracy": "search-time clean accuracy on the fitness images",
    "masking_*": "the masking check's probe (images, the attacks' accuracies, the flag)",
    "nero_net_fitness": "the NERO-Net fitness (weighted HRS) scored from the row's "
    "search-time numbers by this version's rule",
    "search_epochs": "epochs of the search's budget",
    "parameters": "the network's parameter count",
    "proxy_*": "training-free proxies at initialisation, by the definitions of the version "
    "that measured them (neronet.survey.proxies; the report says when they are not this "
    "version's)",
    "final_clean / final_pgd20 / final_autoattack": "after retraining, on the held-out "
    "images: clean, PGD-20 and AutoAttack accuracy (the ground truth)",
    "seconds_*": "seconds measuring each part (earlier_attempts: killed attempts' beyond "
    "what the row kept from them; proxies: their latest measurement's, which may have run "
    "on another machine than the rest)",
    "genotype": "the genotype as JSON: neronet.genotype.Genotype.from_json(text, "
    "structure_for(config)) with the survey's config (the command above) rebuilds it",
}
"""What each column of survey.csv holds (``*``: a family), for SURVEY.md."""


def _numeric_columns(records: list[Record]) -> dict[str, list[float | None]]:
    """Every metric, then every part's seconds (``seconds_<part>``), by column name."""
    metrics = sorted({k for r in records for k in r.metrics})
    parts = sorted({k for r in records for k in r.seconds})
    return {
        **{k: [r.metrics.get(k) for r in records] for k in metrics},
        **{f"seconds_{k}": [r.seconds.get(k) for r in records] for k in parts},
    }


def to_csv(records: list[Record]) -> str:
    """The survey as CSV: one row per architecture, every metric and part's seconds, the
    genotype last."""
    numbers = _numeric_columns(records)
    rows = [
        [
            *(cell(r) for cell in LEADING.values()),
            *(column[i] for column in numbers.values()),
            r.genotype,
        ]
        for i, r in enumerate(records)
    ]
    return _csv_text([*LEADING, *numbers, "genotype"], rows)


def retests_csv(retests: Sequence[Retest]) -> str:
    """The retests as CSV: the architecture's index, the retraining seed, its final
    numbers (empty where that training diverged or did not fit in memory) and its seconds."""
    keys = sorted({k for t in retests for k in t.metrics})
    rows = [[t.index, t.seed, *(t.metrics.get(k) for k in keys), t.seconds] for t in retests]
    return _csv_text(["index", "seed", *keys, "seconds"], rows)


def _csv_text(header: list[str], rows: Iterable[list[object]]) -> str:
    """``header`` and ``rows`` as CSV text (the csv module writes a missing value, None,
    as an empty cell)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def write_parquet(records: list[Record], path: Path) -> bool:
    """Write ``path`` when pyarrow is installed; False otherwise."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return False
    numbers = _numeric_columns(records)
    table = pa.table(
        {
            **{name: [cell(r) for r in records] for name, cell in LEADING.items()},
            **{k: pa.array(values, pa.float64()) for k, values in numbers.items()},
            "genotype": [r.genotype for r in records],
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    atomic_write(path, buffer.getvalue())
    return True
