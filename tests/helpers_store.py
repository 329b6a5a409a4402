"""Compare run stores by what must not depend on how (or in how many pieces) a search ran.

Timings, blob paths and creation times differ between executors and between a
killed-and-resumed run and an uninterrupted one; the search's decisions and
measurements must not.
"""

from __future__ import annotations

import hashlib
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
    "weights_path",
    "state_path",
)
GENERATION_FIELDS = ("elites", "best_fitness", "mean_fitness", "info")


def store_fingerprint(run_dir: str | Path) -> dict[str, Any]:
    """Per individual and per generation, the fields two equivalent runs share exactly."""
    store = RunStore.open(run_dir, readonly=True)
    try:
        individuals = [
            {name: getattr(row, name) for name in INDIVIDUAL_FIELDS}
            | {"history": [_untimed(epoch) for epoch in row.history]}
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


def _untimed(epoch: dict[str, Any]) -> dict[str, Any]:
    """An epoch record without its wall-clock seconds (everything else is deterministic)."""
    return {k: v for k, v in epoch.items() if k != "seconds"}


def files_fingerprint(run_dir: str | Path) -> dict[str, str]:
    """Every blob file of a run: weights by content (training is deterministic on the CPU),
    training states by name only (they record elapsed time)."""
    root = Path(run_dir)
    out = {}
    for sub in ("weights", "states"):
        for path in sorted((root / sub).glob("*")) if (root / sub).is_dir() else []:
            rel = str(path.relative_to(root))
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if sub == "weights" else ""
    return out


def size_survey(directory: Path, config: Any, rows: list[tuple[float, float]]) -> Path:
    """A survey store in ``directory`` as ``neronet survey`` would start it for ``config``,
    holding one architecture per ``(parameters, final AutoAttack accuracy)`` row."""
    from neronet.survey.run import survey_settings
    from neronet.survey.store import TARGET, Record, SurveyStore

    store = SurveyStore.open(directory, survey_settings(config))
    try:
        for index, (parameters, robust) in enumerate(rows):
            metrics = {"parameters": parameters, TARGET: robust}
            store.add(Record(index, "random", (), "{}", "ok", None, metrics, {}))
    finally:
        store.close()
    return directory
