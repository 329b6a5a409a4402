"""Crash safety for real: SIGKILL a search at several points, resume, repeat.

The finished store must equal an uninterrupted run's (same genotypes, same
selections, no duplicate or missing individual, the same stored paths and
histories) and so must its files (no temporary or orphaned file, the same
weights bytes). Training is epoch-capped with
a budget far beyond what it needs, so it is deterministic on the CPU. The kills
land on observed events (the number of stored individuals reaching a target),
never on a timer, so the test exercises the same points of the run on a fast
and on a slow machine; the timeouts only fail a process that hangs.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from helpers_store import files_fingerprint, store_fingerprint

from neronet.errors import StoreError
from neronet.store import RunStore

ARGS = [
    "evolve",
    "--seed",
    "2",
    "data.train=500",
    "data.control=100",
    "data.fitness=100",
    "search.generations=3",
    "search.offspring=2",
    "search.initial_size=2",
    "training.max_epochs=2",
    "search.default_train_time=1000",
    "search.max_train_time=3000",
    "executor.threads=1",
]


def _evolve(run: Path, args: Sequence[str] = ARGS) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "neronet.cli", *args, "--run", str(run)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


TOTAL = 8
"""Individuals of the finished run: 2 initial + 2 generations of the parent again and 2
offspring."""
KILL_AT = (1, 3, 5)
"""Stored-individual counts at which a run is killed: in the initial population, in the
first generation and in the last. Not the last individual itself: a kill is sent a
poll after the count is seen, and rows that need no training (a duplicate served by
the cache) can be stored within that poll, so a kill "one before the end" could land
after the end."""
HUNG_S = 600.0
"""Only a process that stores nothing new (or does not finish) for this long fails."""
POLL_S = 0.05


def _stored(run: Path) -> int:
    """Individuals committed so far, read without writing (0 before the store exists)."""
    if not (run / "run.sqlite").exists():
        return 0
    try:
        store = RunStore.open(run, readonly=True)
    except StoreError:  # the database file exists but its tables are not created yet
        return 0
    try:
        return store.count_individuals()
    finally:
        store.close()


def _kill_when_stored(run: Path, target: int, args: Sequence[str] = ARGS) -> int:
    """Start the search, SIGKILL it as soon as ``target`` individuals are stored.

    Returns the count observed at the kill; fails if the run ends before it.
    """
    proc = _evolve(run, args)
    deadline = time.monotonic() + HUNG_S
    try:
        while (stored := _stored(run)) < target:
            assert proc.poll() is None, f"the search ended before storing {target} individuals"
            assert time.monotonic() < deadline, f"no {target} individuals after {HUNG_S:.0f} s"
            time.sleep(POLL_S)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=HUNG_S)
    return stored


def test_sigkill_and_resume_ends_like_an_uninterrupted_run(tmp_path: Path) -> None:
    full = tmp_path / "full"
    assert _evolve(full).wait(timeout=HUNG_S) == 0
    assert _stored(full) == TOTAL
    killed = tmp_path / "killed"
    for target in KILL_AT:
        assert target <= _kill_when_stored(killed, target) < TOTAL
    assert _evolve(killed).wait(timeout=HUNG_S) == 0
    assert store_fingerprint(killed) == store_fingerprint(full)
    # the same files too: no temporary or orphaned blob left, the same weights bytes
    assert files_fingerprint(killed) == files_fingerprint(full)
