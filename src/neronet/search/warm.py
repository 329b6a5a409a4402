"""The training state a train-longer (or fair-retrain) candidate continues from."""

from __future__ import annotations

from neronet.errors import StoreError
from neronet.store import RunStore


def warm_start_state(store: RunStore, individual_id: int | None) -> bytes | None:
    """The stored, readable training state of ``individual_id`` (or of the individual
    its row is a cache hit of); None when there is none or it cannot be read."""
    if individual_id is None:
        return None
    row = store.individual(individual_id)
    if row.cache_of is not None:
        row = store.individual(row.cache_of)
    path = store.blob_path(row, "state")
    if path is None or not path.is_file():
        return None
    data = path.read_bytes()
    # imported here: the runner and its modules import no torch until a warm start is due
    from neronet.train.budgeted import TrainState

    try:
        TrainState.from_bytes(data)  # an unreadable state is treated as a missing one
    except StoreError:
        return None
    return data
