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
def quickstart_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The quickstart cut to 2 generations, searched once per session (its slowest part:
    about 40 s): the README's Python example and the no-clock check read this one run.
    Tests copy it before writing to it."""
    from neronet.cli import main

    run = tmp_path_factory.mktemp("quickstart") / "run"
    assert main(["evolve", "--run", str(run), "search.generations=2"]) == 0
    return run
