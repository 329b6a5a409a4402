"""Files a command is told to write (``--out``): never over a run's own files, and over
any other existing file only when the user says ``--force``.

``neronet table RUN --out RUN/run.sqlite`` once replaced a run's database with a CSV
and exited 0: the run was gone. Every command that writes a file a user named asks
:func:`check_output` first, before any work, so a refusal costs nothing.
"""

from __future__ import annotations

from pathlib import Path

from neronet.errors import NeronetError
from neronet.runlock import LOCK_NAME
from neronet.store import DB_NAME

RUN_FILES = frozenset(
    {
        DB_NAME,
        f"{DB_NAME}-wal",
        f"{DB_NAME}-shm",
        f"{DB_NAME}-journal",
        f".{DB_NAME}.creating",
        f".{DB_NAME}.creating-journal",
        "run.log",
        LOCK_NAME,
        "transfer-set.safetensors",
    }
)
"""Names a run directory owns beside its ``weights/`` and ``states/`` folders."""
RUN_FOLDERS = frozenset({"weights", "states"})


def run_owning(path: Path) -> Path | None:
    """The run directory ``path`` is one of the files of, None when it is none's."""
    target = path.resolve()
    if target.name in RUN_FILES and (target.parent / DB_NAME).is_file():
        return target.parent
    run = target.parent.parent
    if target.parent.name in RUN_FOLDERS and (run / DB_NAME).is_file():
        return run
    return None


def check_output(path: Path, *, force: bool, flag: str = "--out") -> Path:
    """``path`` if a command may write it; else a one-line error naming the fix."""
    run = run_owning(path)
    if run is not None:
        raise NeronetError(
            f"{flag} '{path}' is a file of the run '{run}': writing it would destroy the run; "
            "choose a path outside the run's own files"
        )
    if path.is_dir():
        raise NeronetError(f"{flag} '{path}' is a directory; pass a file name")
    if path.exists() and not force:
        raise NeronetError(
            f"{flag} '{path}' already exists; pass --force to replace it, or choose another path"
        )
    return path
