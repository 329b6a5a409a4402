"""Paths read from a run database stay inside the run (a tampered database deletes
and reads nothing outside it): prune on resume, export, and warm starts."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from neronet.cli import main
from neronet.errors import StoreError
from neronet.search.warm import warm_start_state
from neronet.store import RunStore

FIXTURE = Path(__file__).parent / "fixtures" / "v1-run"


@pytest.fixture
def run(tmp_path: Path) -> Path:
    """A finished run (migrated to the current schema) and a victim file beside it."""
    path = tmp_path / "run"
    shutil.copytree(FIXTURE, path)
    RunStore.open(path).close()  # migrate now, so the tampering below hits today's schema
    (tmp_path / "victim.txt").write_text("keep me")
    return path


def _tamper(run: Path, individual: int, column: str, value: str) -> None:
    with sqlite3.connect(run / "run.sqlite") as db:
        db.execute(f"UPDATE individuals SET {column}=? WHERE id=?", (value, individual))


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str], what: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after any progress lines
    assert err.startswith("neronet: error: ") and what in err and "nothing was touched" in err
    return err


@pytest.mark.parametrize("bad", ["../victim.txt", "/tmp/../{victim}", "weights/../../victim.txt"])
def test_resume_prune_refuses_a_path_out_of_the_run(
    run: Path, bad: str, capsys: pytest.CaptureFixture[str]
) -> None:
    victim = run.parent / "victim.txt"
    _tamper(run, 1, "weights_path", bad.format(victim=victim))  # pruned long ago: not kept
    _refused(["evolve", "--run", str(run)], capsys, "individual 1 weights_path")
    assert victim.read_text() == "keep me"
    assert sorted(p.name for p in (run / "weights").iterdir()) == [
        "0.safetensors",
        "4.safetensors",
        "5.safetensors",
    ]


def test_export_refuses_a_symlink_out_of_the_run(
    run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = run.parent / "victim.txt"
    (run / "weights" / "4.safetensors").unlink()
    (run / "weights" / "4.safetensors").symlink_to(outside)
    out = run.parent / "model.py"
    _refused(["export", str(run), "--out", str(out)], capsys, "symbolic link")
    assert not out.exists()


def test_export_refuses_an_absolute_path(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _tamper(run, 4, "weights_path", str(run.parent / "victim.txt"))
    _refused(["export", str(run), "--out", str(run.parent / "m.py")], capsys, "absolute path")


def test_a_warm_start_never_reads_outside_the_run(run: Path) -> None:
    _tamper(run, 4, "state_path", "states/../../victim.txt")
    store = RunStore.open(run, readonly=True)
    with pytest.raises(StoreError, match="individual 4 state_path"):
        warm_start_state(store, 4)
