"""Session-wide determinism: one torch thread for every test, fresh global seeds per test.

Floating-point reductions differ with the number of intra-op threads, so a test
whose threshold sits close to its result (a few samples of clean accuracy) passed
or failed depending on which module happened to be imported first. Setting the
threads here, before any test module is collected, and reseeding the global RNGs
before every test makes each result independent of collection order and of which
tests ran before it.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

THREADS = 1
SEED = 0


def pytest_configure(config: pytest.Config) -> None:
    """Fix the thread count before collection (module-level code runs at import)."""
    # Inherited by the subprocesses tests start (CLI runs, worker pools).
    os.environ["OMP_NUM_THREADS"] = str(THREADS)
    os.environ["MKL_NUM_THREADS"] = str(THREADS)
    torch.set_num_threads(THREADS)


@pytest.fixture(autouse=True)
def _fixed_global_state() -> None:
    """Reseed the global RNGs and restore one thread, whatever the previous test did."""
    torch.set_num_threads(THREADS)
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    random.seed(SEED)


@pytest.fixture(scope="session")
def quickstart_run(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """The quickstart cut to 2 generations, searched once per test session (its slowest
    part: 40-80 s) by whichever process asks first, the others waiting for it (with xdist
    each worker has a session of its own, and three files read this run: searching it in
    each cost minutes of CPU): the README's Python example, the no-clock check and the
    golden replay read this one run. Tests copy it before writing to it."""
    from filelock import FileLock

    from neronet.cli import main

    shared = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        shared = shared.parent  # the xdist workers' common base, this session's alone
    where = shared / "quickstart"
    with FileLock(str(shared / "quickstart.lock")):
        if not (where / "searched").is_file():
            shutil.rmtree(where, ignore_errors=True)  # a process killed while searching
            assert main(["evolve", "--run", str(where / "run"), "search.generations=2"]) == 0
            (where / "searched").touch()
    return where / "run"
