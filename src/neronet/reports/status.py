"""A run's state as facts (``neronet status --json`` and ``Run.status()`` of the API)."""

from __future__ import annotations

import time


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
