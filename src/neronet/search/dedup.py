"""The duplicate cache: an architecture is not trained twice with the same training.

Two candidates with the same spec digest, learning digest and training time
would be trained identically (up to the seed), so the later one is recorded as
a cache hit of the earlier (``cache_of``). Within one batch the first of
several twins is evaluated and the others wait for it. Candidates that
continue from weights (train-longer, fair retrain) or that the strategy marks
as not cacheable (a deliberate re-evaluation) are always trained.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from neronet.search.base import Candidate
from neronet.store import IndividualRow, RunStore

Key = tuple[str, str, float]


def cache_key(spec_hash: str, learning_hash: str, cand: Candidate) -> Key:
    return (spec_hash, learning_hash, float(cand.genotype.train_time))


@dataclass
class BatchDedup:
    """Duplicate lookups for one batch: earlier individuals, then earlier twins."""

    store: RunStore
    enabled: bool = True
    """False with ``search.reevaluate_duplicates``: every candidate is trained."""
    first_of: dict[Key, str] = field(default_factory=dict)
    twins: list[tuple[Candidate, str]] = field(default_factory=list)

    def earlier(self, cand: Candidate, key: Key) -> IndividualRow | None:
        """An earlier stored evaluation ``cand`` may reuse; None when it must be trained
        (or waits for a twin evaluated in this batch, see :attr:`twins`)."""
        if not self.enabled or cand.warm_start_from is not None or not cand.cacheable:
            return None
        row = self.store.find_evaluated(*key, cand.id)
        if row is not None:
            return row
        if key in self.first_of:
            self.twins.append((cand, self.first_of[key]))
        else:
            self.first_of[key] = cand.key
        return None

    def waits(self, cand: Candidate) -> bool:
        """Whether ``cand`` is a twin that reuses an evaluation of this batch."""
        return any(c is cand for c, _ in self.twins)
