"""One writer per run directory (an OS lock that dies with its process), readers
alongside it, and ``neronet evolve --run`` refusing directories that are not runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from neronet.cli import main
from neronet.config import load_config
from neronet.errors import StoreError
from neronet.runlock import LOCK_NAME, lock_holder, writer_lock
from neronet.store import DB_NAME, RunStore

# Holds the lock of argv[1] until its stdin closes; says so on stdout once it holds it.
HOLDER = """
import sys
from neronet.runlock import writer_lock
with writer_lock(sys.argv[1], "--run"):
    print("locked", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def run(tmp_path: Path) -> Path:
    """A run directory with a stored quickstart config and no individuals (no search)."""
    path = tmp_path / "run"
    meta = {
        "config": load_config(None).model_dump(mode="json"),
        "grammar": "<s> ::= x:1",
        "grammar_name": "s.grammar",
        "seed": 0,
        "started_at": 0.0,
        "finished": False,
    }
    RunStore.create(path, meta).close()
    return path


@pytest.fixture
def holder(run: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the writer lock of ``run`` (ready once this yields)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=30)


def one_line_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("neronet: error:") and "\n" not in err and "Traceback" not in err
    return err


def test_second_writer_is_refused_naming_the_holder(
    run: Path, holder: subprocess.Popen[str], capsys: pytest.CaptureFixture[str]
) -> None:
    database = (run / DB_NAME).read_bytes()
    err = one_line_error(["evolve", "--run", str(run)], capsys)
    assert f"is being written by another neronet process (pid {holder.pid})" in err
    with pytest.raises(StoreError, match=f"pid {holder.pid}"), writer_lock(run, "--out"):
        pass
    assert (run / DB_NAME).read_bytes() == database
    assert lock_holder(run) == holder.pid


def test_readers_work_and_status_names_the_writer(
    run: Path, holder: subprocess.Popen[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert lock_holder(run) == holder.pid
    assert main(["status", str(run)]) == 0
    assert f"running (pid {holder.pid})" in capsys.readouterr().out
    assert main(["status", str(run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["writer_pid"] == holder.pid
    assert lock_holder(run) == holder.pid  # the reader's probe left the lock in place


def test_a_killed_writer_leaves_no_lock(run: Path, holder: subprocess.Popen[str]) -> None:
    holder.send_signal(signal.SIGKILL)
    assert holder.wait(timeout=30) == -signal.SIGKILL
    assert (run / LOCK_NAME).read_text().strip() == str(holder.pid)  # the file stays...
    assert lock_holder(run) is None  # ...but nobody holds it
    with writer_lock(run, "--run"):
        assert lock_holder(run) == os.getpid()
    assert lock_holder(run) is None


def test_status_of_an_idle_run_says_how_to_resume(
    run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", str(run)]) == 0
    assert "in progress (resume with" in capsys.readouterr().out


def test_a_second_writer_in_the_same_process_is_named_as_this_process(tmp_path: Path) -> None:
    """Two threads optimizing one run: the refusal named the process's own pid as
    "another neronet process"."""
    with (
        writer_lock(tmp_path / "r", "--run"),
        pytest.raises(StoreError, match="written by this process") as info,
        writer_lock(tmp_path / "r", "--run"),
    ):
        pass
    assert "another neronet process" not in str(info.value)


def test_a_failed_start_removes_the_directory_it_created(tmp_path: Path) -> None:
    target = tmp_path / "new"
    with pytest.raises(RuntimeError), writer_lock(target, "--run"):
        raise RuntimeError("start-up failed")
    assert not target.exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    with pytest.raises(RuntimeError), writer_lock(existing, "--run"):
        raise RuntimeError("start-up failed")
    assert existing.is_dir()


def test_evolve_refuses_a_directory_that_is_not_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    err = one_line_error(["evolve", "--run", str(mine)], capsys)
    assert "non-empty directory that holds no neronet run" in err
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_evolve_in_an_unwritable_place_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A read-only parent (simulated: the tests may run as root, who may write anywhere)."""
    target = tmp_path / "readonly" / "run"
    real_mkdir = Path.mkdir

    def mkdir(self: Path, *args: object, **kwargs: object) -> None:
        if self == target:
            raise PermissionError(13, "Permission denied", str(self))
        real_mkdir(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "mkdir", mkdir)
    err = one_line_error(["evolve", "--run", str(target)], capsys)
    assert "cannot create or lock --run" in err and "Permission denied" in err
