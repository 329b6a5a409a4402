"""Crash safety for real: SIGKILL a search at random points, resume, repeat.

The finished store must equal an uninterrupted run's (same genotypes, same
selections, no duplicate or missing individual). Training is epoch-capped with
a budget far beyond what it needs, so it is deterministic on the CPU.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from pathlib import Path

from helpers_store import store_fingerprint

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


def _evolve(run: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "neronet.cli", *ARGS, "--run", str(run)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stored(run: Path) -> int:
    if not (run / "run.sqlite").exists():
        return 0
    store = RunStore.open(run, readonly=True)
    try:
        return store.count_individuals()
    finally:
        store.close()


def test_sigkill_and_resume_ends_like_an_uninterrupted_run(tmp_path: Path) -> None:
    full = tmp_path / "full"
    assert _evolve(full).wait(timeout=300) == 0
    killed = tmp_path / "killed"
    rng = random.Random(0)
    progress_between_kills = []
    for attempt in range(20):
        before = _stored(killed)
        proc = _evolve(killed)
        try:
            code = proc.wait(timeout=2.5 + attempt + rng.uniform(0.0, 2.0))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            progress_between_kills.append(_stored(killed) - before)
            continue
        assert code == 0
        break
    else:
        raise AssertionError("the search never finished after 20 restarts")
    assert len(progress_between_kills) >= 2, "the test must actually kill the search"
    assert any(n > 0 for n in progress_between_kills), "kills must land mid-search"
    assert store_fingerprint(killed) == store_fingerprint(full)
