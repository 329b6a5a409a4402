"""Compare run stores by what must not depend on how (or in how many pieces) a search ran.

Timings, blob paths and creation times differ between executors and between a
killed-and-resumed run and an uninterrupted one; the search's decisions and
measurements must not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from neronet.store import RunStore

INDIVIDUAL_FIELDS = (
    "id",
    "key",
    "genotype",
    "status",
    "metrics",
    "fitness",
    "parent_id",
)
GENERATION_FIELDS = ("elites", "best_fitness", "mean_fitness", "info")


def store_fingerprint(run_dir: str | Path) -> dict[str, Any]:
    """Per individual and per generation, the fields two equivalent runs share exactly."""
    store = RunStore.open(run_dir, readonly=True)
    try:
        individuals = [
            {name: getattr(row, name) for name in INDIVIDUAL_FIELDS}
            for row in sorted(store.individuals(), key=lambda row: row.id)
        ]
        generations = {
            row.generation: {name: getattr(row, name) for name in GENERATION_FIELDS}
            for row in store.generations()
        }
        finished = store.meta("finished")
    finally:
        store.close()
    return {"individuals": individuals, "generations": generations, "finished": finished}
