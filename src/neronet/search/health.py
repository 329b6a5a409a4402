"""A dead generation said out loud: every individual of it ill-fitted or invalid.

The paper's grammar draws each learning unit at random (SGD, Adam or RMSProp,
``lr = 10^k`` with ``k`` in -6..-1, Adam's betas in [0.5, 1]), the NSGA-Net seed's
included, so a run can open with a generation in which no network learns:
one class predicted for the whole fitness set, or a non-finite loss. Nothing
crashes and every fitness is 0, which is easy to miss in a week-long run.

What the search does next is unchanged, by decision: the (1+lambda)-ES keeps
the fittest individual and, on a tie, its parent, as Fast-DENSER's
``select_fittest`` does (``np.argmax`` over the fitnesses returns the first,
the parent); the next offspring then change the learning unit through the
``dsge_learning`` mutation. The note names each individual's learning unit and
reason so the cause is visible, and how to start from a trainable seed.
"""

from __future__ import annotations

from collections.abc import Sequence

from neronet.store import IndividualRow

MAX_LISTED = 8
"""Individuals named in a dead generation's note (the rest are counted)."""


def learning_unit(row: IndividualRow) -> str:
    """``adam lr 0.1 b2 0.715``: the optimizer, lr and the setting that most often breaks it."""
    learning = row.record.get("learning") or {}
    optimizer = learning.get("optimizer")
    if optimizer is None:
        return "learning unit unknown"
    text = f"{optimizer} lr {learning.get('lr', 0):.3g}"
    if optimizer == "adam":
        text += f" b2 {learning.get('beta2', 0):.3g}"
    elif optimizer in ("sgd", "rmsprop"):
        text += f" momentum {learning.get('momentum', 0):.3g}"
    return f"{text} batch {learning.get('batch_size', '?')}"


SEED_ADVICE = "to start from a trainable seed, set search.seed_learning=fixed"
OTHER_ADVICE = (
    "if every generation looks like this, check the grammar's learning-unit ranges and the "
    "training budget"
)


def dead_generation_note(
    generation: int, rows: Sequence[IndividualRow], advice: str = OTHER_ADVICE
) -> str | None:
    """A note when no individual of ``generation`` is healthy; None when one is (or none ran).
    ``advice`` ends it: :data:`SEED_ADVICE` when the run's seed draws its learning unit."""
    if not rows or any(row.status == "ok" for row in rows):
        return None
    listed = [
        f"{row.key} ({learning_unit(row)}): {row.status}, {row.reason or 'no reason recorded'}"
        for row in rows[:MAX_LISTED]
    ]
    more = f"; and {len(rows) - MAX_LISTED} more" if len(rows) > MAX_LISTED else ""
    return (
        f"generation {generation}: none of its {len(rows)} individuals trained healthily - "
        + "; ".join(listed)
        + more
        + ". The search keeps the parent (Fast-DENSER's rule) and relies on learning-unit "
        f"mutations; {advice}"
    )
