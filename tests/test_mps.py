"""executor.mps: a private MPS daemon per worker pool, checked with a stand-in control program
(the real one needs an NVIDIA driver; the GPU check runs it on a GPU)."""

import os
import stat
from pathlib import Path

import pytest

from neronet.config import ExecutorConfig, parse_config
from neronet.errors import ConfigError
from neronet.execution import mps
from neronet.execution.workers import WorkerPoolExecutor

FAKE = """#!/bin/sh
# records each call: its arguments, its pipe folder and what it read on stdin
{ echo "args=$*"; echo "pipe=$CUDA_MPS_PIPE_DIRECTORY"; cat; } >> "$MPS_CALLS"
"""


@pytest.fixture
def control(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake nvidia-cuda-mps-control first on PATH; returns the file it logs calls to."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    program = bin_dir / mps.CONTROL
    program.write_text(FAKE)
    program.chmod(program.stat().st_mode | stat.S_IEXEC)
    calls = tmp_path / "calls.log"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("MPS_CALLS", str(calls))
    monkeypatch.delenv(mps.PIPE, raising=False)
    return calls


def test_daemon_starts_in_its_own_folder_lends_its_pipe_and_quits(control: Path) -> None:
    daemon = mps.MpsDaemon()
    pipe = daemon.env[mps.PIPE]
    assert Path(pipe).is_dir() and "neronet-mps-" in pipe
    assert control.read_text().splitlines() == ["args=-d", f"pipe={pipe}"]
    with daemon.spawning():
        assert os.environ[mps.PIPE] == pipe
    assert mps.PIPE not in os.environ  # only while a worker is spawned
    daemon.close()
    assert control.read_text().splitlines()[2:] == ["args=", f"pipe={pipe}", "quit"]
    assert not Path(pipe).exists()


def test_missing_control_program_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mps.shutil, "which", lambda name: None)
    with pytest.raises(ConfigError, match=r"not on PATH.*executor\.mps=false"):
        mps.MpsDaemon()


def test_mps_needs_a_workers_pool_on_gpus(control: Path) -> None:
    with pytest.raises(ValueError, match=r"executor\.kind=workers or executor\.mps=false"):
        ExecutorConfig(kind="local", mps=True)
    config = parse_config(
        {"executor": {"kind": "workers", "mps": True, "devices": ["cpu"]}, "data": {}}
    )
    with pytest.raises(ConfigError, match="workers are on cpu"):
        WorkerPoolExecutor(config)
    assert not control.exists()  # refused before any daemon started
