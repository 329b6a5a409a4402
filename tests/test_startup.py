"""A search interrupted while it starts (before its database is whole) costs nothing: the
same command again starts it cleanly, Ctrl-C is one line and exit 130, no traceback."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers_replay import GOLDEN, ReplayExecutor, decisions

import neronet.execution
from neronet.cli import main
from neronet.runlock import LOCK_NAME
from neronet.store import STARTUP_FILES

GOLDEN_RUN = json.loads(GOLDEN.read_text())
ARGS = [*GOLDEN_RUN["args"], "--seed", "0"]
HUNG_S = 300.0


@pytest.fixture
def replayed(monkeypatch: pytest.MonkeyPatch) -> None:
    """``neronet evolve`` with ARGS evaluates by replaying the golden run: no training."""
    recorded = GOLDEN_RUN["runs"]["0"]
    executor = ReplayExecutor(
        recorded["evaluations"], recorded["input_shape"], recorded["num_classes"]
    )
    monkeypatch.setattr(neronet.execution, "make_executor", lambda config: executor)


@pytest.mark.usefixtures("replayed")
@pytest.mark.parametrize("leftovers", [[LOCK_NAME], [LOCK_NAME, *STARTUP_FILES]])
def test_the_same_command_restarts_a_start_up_killed_before_the_database(
    tmp_path: Path, leftovers: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """What a SIGKILL the moment the directory appears leaves, a half-built staging
    database and its hot journal included, was "a non-empty directory that holds no run"."""
    run = tmp_path / "run"
    run.mkdir()
    for name in leftovers:
        (run / name).write_bytes(b"left by a killed start-up")
    assert main(["evolve", *ARGS, "--run", str(run)]) == 0
    assert "start-up was interrupted before the run was stored" in capsys.readouterr().err
    assert decisions(run) == GOLDEN_RUN["runs"]["0"]["decisions"]
    assert not any((run / name).exists() for name in STARTUP_FILES)


def test_ctrl_c_before_the_database_exists_is_one_line_and_130(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C while the data loads was a KeyboardInterrupt traceback and exit -2."""

    def interrupted(config: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(neronet.execution, "make_executor", interrupted)
    run = tmp_path / "run"
    assert main(["evolve", *ARGS, "--run", str(run)]) == 130
    err = capsys.readouterr().err.strip()
    assert err.startswith("neronet: interrupted;") and "\n" not in err
    assert not run.exists()  # the directory it created is gone again


@pytest.mark.usefixtures("replayed")
def test_a_real_sigkill_the_moment_the_directory_appears_then_the_same_command(
    tmp_path: Path,
) -> None:
    """The kill is real (a process killed as soon as its run directory is seen); the same
    command again runs in this process, replaying the golden run instead of training."""
    run = tmp_path / "run"
    argv = ["evolve", *ARGS, "--run", str(run)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "neronet.cli", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + HUNG_S
    try:
        while not run.exists():  # the observed event, not a timer
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.002)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=HUNG_S)
    assert main(argv) == 0
    assert decisions(run) == GOLDEN_RUN["runs"]["0"]["decisions"]


def test_ctrl_c_while_the_command_still_imports_is_one_line_and_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first second of ``neronet`` is spent importing torch and the pipeline; a Ctrl-C
    there was a KeyboardInterrupt traceback (the console script now guards the import)."""
    import builtins

    from neronet import console

    real_import = builtins.__import__

    def interrupted(name: str, *args: object, **kwargs: object) -> object:
        if name == "neronet.cli":
            raise KeyboardInterrupt
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", interrupted)
    assert console.main() == 130
    assert capsys.readouterr().err == "neronet: interrupted while starting; nothing was done\n"


def test_nothing_heavy_runs_before_the_console_scripts_guard() -> None:
    heavy = "('torch', 'neronet.api', 'neronet.cli')"
    code = f"import sys, neronet.console; print([m for m in {heavy} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
