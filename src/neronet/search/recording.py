"""Rows of the run store, built from what the search learnt about a candidate.

Every row carries the candidate's place in the search (key, generation,
parent, mutations, genotype) and its fitness under the strategy's objective
at the time; blobs are written before the row that points at them.
"""

from __future__ import annotations

from typing import Any

from neronet.evaluation.result import Evaluation, Outcome
from neronet.execution.base import EvalRequest
from neronet.search.base import Candidate, Strategy
from neronet.store import IndividualRow, RunStore

COPIED = ("status", "reason", "metrics", "epochs", "train_seconds", "history")
"""Fields of a stored row that a cache hit copies from the row it reuses."""


def _add(
    store: RunStore, strategy: Strategy, cand: Candidate, fields: dict[str, Any]
) -> IndividualRow:
    """Commit ``cand``'s row (``fields`` from the evaluation) with its fitness."""
    row = {
        "id": cand.id,
        "key": cand.key,
        "generation": cand.generation,
        "parent_id": cand.parent_id,
        "mutations": list(cand.mutations),
        "genotype": cand.genotype.to_json(),
        "train_time": float(cand.genotype.train_time),
        "warm_start_from": cand.warm_start_from,
        **fields,
    }
    outcome = Outcome(cand.id, row["status"], row["metrics"])
    row["fitness"] = strategy.fitness(outcome)
    store.add_individual(row)
    return store.individual(cand.id)


def record_evaluated(
    store: RunStore, strategy: Strategy, cand: Candidate, request: EvalRequest, ev: Evaluation
) -> IndividualRow:
    """Commit a freshly evaluated candidate: its blobs first, then its row."""
    weights = state = None
    if ev.weights is not None:  # ill-fitted networks are trained too: keep them inspectable
        weights = store.save_blob(store.weights_file(cand.id), ev.weights)
    if ev.status == "ok" and ev.train_state is not None:
        state = store.save_blob(store.state_file(cand.id), ev.train_state)
    record = ev.to_record()
    record.update(
        spec=request.spec.to_dict(),
        learning=request.learning.to_dict(),
        budget=request.budget,
        seed=request.seed,
    )
    return _add(
        store,
        strategy,
        cand,
        {
            "status": ev.status,
            "reason": ev.reason,
            "metrics": record["metrics"],
            "epochs": ev.epochs,
            "train_seconds": ev.train_seconds,
            "history": record["history"],
            "warm_start_from": cand.warm_start_from if request.warm_start else None,
            "spec_hash": request.spec.digest(),
            "learning_hash": request.learning.digest(),
            "record": record,
            "cache_of": None,
            "weights_path": weights,
            "state_path": state,
        },
    )


def record_cache_hit(
    store: RunStore, strategy: Strategy, cand: Candidate, prior: IndividualRow
) -> IndividualRow:
    """Commit a duplicate of ``prior``: its measurements, nothing trained, no files."""
    fields = {name: getattr(prior, name) for name in COPIED}
    fields.update(
        spec_hash=prior.spec_hash,
        learning_hash=prior.learning_hash,
        epochs=0,  # nothing was trained for this row
        train_seconds=0.0,
        record={**prior.record, "cache_hit": True},
        cache_of=prior.id,
        weights_path=None,
        state_path=None,
    )
    row = _add(store, strategy, cand, fields)
    store.log_event("cache-hit", f"{cand.key} (id {cand.id}) reuses id {prior.id}")
    return row


def record_undecodable(
    store: RunStore, strategy: Strategy, cand: Candidate, reason: str
) -> IndividualRow:
    """Commit an individual whose genotype does not decode: invalid, never trained."""
    fields = {
        "status": "invalid",
        "reason": f"does not decode: {reason}",
        "metrics": {},
        "epochs": 0,
        "train_seconds": None,
        "history": [],
        "spec_hash": None,
        "learning_hash": None,
        "record": {},
        "cache_of": None,
        "weights_path": None,
        "state_path": None,
    }
    return _add(store, strategy, cand, fields)
