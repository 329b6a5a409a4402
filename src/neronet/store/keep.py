"""The keep policy: which weights and training states a run keeps on disk.

Kept: the weights of every generation's elites and of the best
``store.keep_best`` individuals (ranked by the strategy, under its objective's
current state), and the training states of the newest generation's elites and of
the members the strategy may breed from next (train-longer children continue from
them; aging evolution breeds from its whole living population). Everything else is
deleted once a generation is final. Rows of later generations (stored before a kill and met
again on resume) are left alone: an uninterrupted run pruned this generation
before they existed, so a resumed run ends with the same files.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from neronet.evaluation.result import Outcome
from neronet.store.run_store import RunStore

Ranking = Callable[[Sequence[Outcome]], list[int]]
"""Ids of outcomes from best to worst (``Strategy.best_first``)."""


def prune(
    store: RunStore,
    generation: int,
    elites: Sequence[int],
    rank: Ranking,
    keep_best: int,
    breeders: Sequence[int] = (),
) -> None:
    """Apply the keep policy once ``generation`` (whose elites are ``elites``, and whose
    other possible parents are ``breeders``) is final."""
    kept_elites = {i for g in store.generations() for i in g.elites} | set(elites)
    rows = [r for r in store.individuals() if r.generation <= generation]
    trained = [r.outcome() for r in rows if r.status == "ok" and r.cache_of is None]
    keep_weights = kept_elites | set(rank(trained)[:keep_best])
    keep_weights |= {r.cache_of for r in rows if r.id in keep_weights and r.cache_of is not None}
    keep_state = set()
    for parent in (*elites, *breeders):
        row = store.individual(parent)
        keep_state.add(row.cache_of if row.cache_of is not None else row.id)
    drops = []
    for r in rows:
        drop_weights = r.weights_path is not None and r.id not in keep_weights
        drop_state = r.state_path is not None and r.id not in keep_state
        if drop_weights or drop_state:
            # every path is confined to the run before any file is deleted
            files = [
                store.blob_path(r, kind)
                for kind, drop in (("weights", drop_weights), ("state", drop_state))
                if drop
            ]
            drops.append((r, drop_weights, drop_state, files))
    for r, drop_weights, drop_state, files in drops:
        weights = None if drop_weights else r.weights_path
        state = None if drop_state else r.state_path
        store.set_paths(r.id, weights=weights, state=state)
        for path in files:
            if path is not None:
                path.unlink(missing_ok=True)
