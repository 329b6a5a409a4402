"""Resume by replay: a candidate the store already holds is told back, not trained.

A strategy is deterministic given the run seed and the outcomes it is told, so
a fresh strategy that is told the stored outcomes reaches exactly the state the
run had when it stopped. A stored individual must match what the strategy
regenerates (same id, same genotype): otherwise the code, config or grammar
changed the search's history, and continuing would silently mix two searches.
"""

from __future__ import annotations

from neronet.errors import StoreError
from neronet.search.base import Candidate
from neronet.store import IndividualRow, RunStore


def stored(store: RunStore, cand: Candidate) -> IndividualRow | None:
    """The stored row of ``cand``, None when it has not been evaluated yet."""
    row = store.individual_by_key(cand.key)
    if row is None:
        return None
    if row.genotype != cand.genotype.to_json() or row.id != cand.id:
        raise StoreError(
            f"stored individual {cand.key} differs from the one the search "
            "regenerates: the code, config or grammar changed the search's history; "
            "resume with what started the run (only changes such as more "
            "search.generations keep the history)"
        )
    return row
