"""The torch thread count: chosen from the machine alone, said, recorded, and checked on resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers_executors import tiny_config

from neronet.cli import main as neronet
from neronet.execution.local import LocalExecutor
from neronet.execution.scheduling import cpu_threads
from neronet.store import RunStore


@pytest.mark.parametrize(
    ("cores", "workers", "threads"), [(2, 1, 1), (16, 1, 15), (16, 2, 7), (1, 1, 1), (2, 4, 1)]
)
def test_a_core_is_left_for_the_rest_of_the_machine(
    monkeypatch: pytest.MonkeyPatch, cores: int, workers: int, threads: int
) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda _: set(range(cores)))
    assert cpu_threads(workers) == threads


def test_the_local_executor_sets_its_count_and_gives_the_callers_back() -> None:
    before = torch.get_num_threads()
    wanted = 2 if before != 2 else 1
    with LocalExecutor(tiny_config(f"executor.threads={wanted}")) as executor:
        assert executor.threads == wanted == torch.get_num_threads()
    assert torch.get_num_threads() == before


def test_the_run_records_its_count_and_a_resume_with_another_is_warned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    args = ["evolve", "--run", str(run), "search.generations=1", "search.initial_size=1"]
    assert neronet([*args, "training.max_epochs=1", "executor.threads=1"]) == 0
    assert "(1 torch thread(s) each)" in capsys.readouterr().err
    store = RunStore.open(run, readonly=True)
    assert store.meta("torch_threads") == 1
    store.close()
    assert neronet(["evolve", "--run", str(run), "executor.threads=2"]) == 0
    err = capsys.readouterr().err
    assert "searched with 1 torch thread(s), this resume uses 2" in err
    assert "set executor.threads=1 to match" in err
