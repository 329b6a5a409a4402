"""``neronet study --parallel``: how the executor is shared out, the refusals, and the
records of a parallel study killed mid-way (SIGKILL of the study process, on an observed
event) and resumed, against a serial study's, on tiny digits with real training."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers_store import store_fingerprint

from neronet.cli import main
from neronet.config import ExecutorConfig
from neronet.errors import StudyError
from neronet.execution.scheduling import cpu_threads
from neronet.runlock import lock_holder
from neronet.search.parallel import lane_executors
from neronet.store import RunStore

TINY = [
    "executor.kind=local",
    "executor.threads=1",
    "data.train=300",
    "data.control=100",
    "data.fitness=100",
    "search.generations=2",
    "search.initial_size=2",
    "search.offspring=1",
    "training.max_epochs=1",
]
RUNS = 3
HUNG_S = 600.0
"""Only a process that shows no progress (or does not end) for this long fails."""


def test_the_workers_are_shared_out_with_the_serial_thread_count() -> None:
    pool = ExecutorConfig(kind="workers", devices=["cpu"], workers=5)
    lanes = lane_executors(pool, 2)
    assert [lane["workers"] for lane in lanes] == [3, 2]  # all five, none twice
    assert {lane["threads"] for lane in lanes} == {cpu_threads(5)}  # as one run uses them
    assert all(lane["workers_per_device"] is None for lane in lanes)
    gpus = ExecutorConfig(kind="workers", devices=["cpu", "cpu:1"], workers_per_device=2)
    assert [lane["devices"] for lane in lane_executors(gpus, 2)] == [
        ["cpu", "cpu"],  # a device's workers stay together, under one memory guard
        ["cpu:1", "cpu:1"],
    ]
    assert (
        lane_executors(ExecutorConfig(threads=3), 4)
        == [{**ExecutorConfig(threads=3).model_dump(mode="json")}] * 4
    )
    assert lane_executors(pool, 1) == [pool.model_dump(mode="json")]
    with pytest.raises(StudyError, match=r"5 worker.* pass --parallel 5 or fewer"):
        lane_executors(pool, 6)
    with pytest.raises(StudyError, match="pass --parallel 1"):
        lane_executors(ExecutorConfig(kind="ray"), 2)


def test_bad_parallel_settings_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv, message in (
        (["--parallel", "0"], "pass --parallel 1..1000"),
        (["--parallel", "3", "executor.kind=workers", "executor.workers=2"], "or fewer"),
    ):
        assert main(["study", "--dir", str(tmp_path / "s"), *argv]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "s").exists()  # refused before anything was written


def test_a_run_that_fails_stops_the_study_with_its_error_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["study", "--dir", str(tmp_path / "s"), "--runs", "1", "--parallel", "2", *TINY]
    argv += ["data.dataset=fashion-mnist", f"data.path={tmp_path / 'nowhere'}"]
    assert main(argv) == 2  # the data is first loaded in the run's own process
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("neronet: error: run-0: Fashion-MNIST directory")
    assert not any("Traceback" in line for line in err)


def _generations(run: Path) -> int:
    """Generation rows committed so far, read without writing."""
    if not (run / "run.sqlite").exists():
        return 0
    try:
        store = RunStore.open(run, readonly=True)
    except Exception:  # the database exists but its tables are not created yet
        return 0
    try:
        return len(store.generations())
    finally:
        store.close()


def _kill_after_first_generation(directory: Path) -> None:
    """Start a parallel study; SIGKILL it once run-0 has stored its generation 0, then
    wait until no process writes any of its runs (its lanes end with it)."""
    argv = [sys.executable, "-m", "neronet.cli", "study", "--dir", str(directory)]
    argv += ["--runs", str(RUNS), "--parallel", "2", *TINY]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + HUNG_S
    try:
        while _generations(directory / "run-0") < 1:
            assert proc.poll() is None, "the study ended before run-0 finished a generation"
            assert time.monotonic() < deadline, "no generation stored"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=HUNG_S)
    runs = [directory / f"run-{i}" for i in range(RUNS)]
    while any(lock_holder(run) is not None for run in runs):
        assert time.monotonic() < deadline, "a run of the killed study is still written"
        time.sleep(0.05)


def test_a_parallel_study_killed_and_resumed_holds_the_serial_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serial = tmp_path / "serial"
    assert main(["study", "--dir", str(serial), "--runs", str(RUNS), *TINY]) == 0
    parallel = tmp_path / "parallel"
    _kill_after_first_generation(parallel)
    assert _generations(parallel / "run-0") < 2  # killed mid-way
    capsys.readouterr()
    assert main(["study", "--dir", str(parallel), "--parallel", "2"]) == 0
    err = capsys.readouterr().err
    assert "run-0, seed" in err and "resuming (lane" in err
    for i in range(RUNS):
        run = f"run-{i}"
        assert store_fingerprint(parallel / run) == store_fingerprint(serial / run), run
