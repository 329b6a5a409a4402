"""The run store: one run directory, one SQLite database, weights as safetensors.

``run_store`` (RunStore: open/create, rows, blobs), ``records`` (typed rows),
``schema`` (DDL and migrations), ``keep`` (which weights a run keeps).
"""

from neronet.store.records import GenerationRow, IndividualRow
from neronet.store.run_store import (
    DB_NAME,
    STARTUP_FILES,
    RunStore,
    atomic_write,
    check_run_directory,
)

__all__ = [
    "DB_NAME",
    "STARTUP_FILES",
    "GenerationRow",
    "IndividualRow",
    "RunStore",
    "atomic_write",
    "check_run_directory",
]
