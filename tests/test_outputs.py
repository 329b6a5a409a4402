"""No command writes over a run's own files, nor over any existing file without --force."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from helpers_replay import golden_run

from neronet.cli import main


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return golden_run(tmp_path_factory.mktemp("outputs") / "run")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _refused(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err, err


@pytest.mark.parametrize("name", ["run.sqlite", "run.sqlite-wal", "run.log", "weights/x.csv"])
def test_table_never_writes_over_a_run_file(
    run: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``table RUN --out RUN/run.sqlite`` exited 0 and replaced the database with a CSV."""
    before = _digest(run / "run.sqlite")
    target = run / name
    _refused(["table", str(run), "--out", str(target), "--force"], "a file of the run", capsys)
    assert _digest(run / "run.sqlite") == before
    assert main(["status", str(run)]) == 0


def test_a_symlink_to_a_run_file_is_refused_too(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    link = tmp_path / "table.csv"
    link.symlink_to(run / "run.sqlite")
    _refused(["table", str(run), "--out", str(link), "--force"], "a file of the run", capsys)


def test_an_existing_file_is_replaced_only_with_force(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "notes.csv"
    out.write_text("mine\n")
    _refused(["table", str(run), "--out", str(out)], "pass --force", capsys)
    assert out.read_text() == "mine\n"
    assert main(["table", str(run), "--out", str(out), "--force"]) == 0
    assert out.read_text().startswith("id,key,")
    fresh = tmp_path / "fresh.json"
    assert main(["table", str(run), "--format", "json", "--out", str(fresh)]) == 0
    assert fresh.read_text().startswith("[")


def test_export_refuses_existing_files_and_directories_before_any_work(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "m.py"  # IsADirectoryError on the rename, after the work
    folder.mkdir()
    _refused(["export", str(run), "--out", str(folder)], "is a directory", capsys)
    weights = tmp_path / "n.safetensors"  # the .py export's companion
    weights.write_text("mine")
    _refused(["export", str(run), "--out", str(tmp_path / "n.py")], "n.safetensors", capsys)
    assert weights.read_text() == "mine" and not (tmp_path / "n.py").exists()
    target = run / "weights" / "2.safetensors"
    _refused(["export", str(run), "--out", str(target), "--force"], "a file of the run", capsys)


def test_transfer_set_keeps_an_existing_set(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Runs name their set by checksum: replacing one silently would orphan them."""
    mine = tmp_path / "set.safetensors"
    mine.write_text("mine")
    _refused(["transfer-set", "--out", str(mine)], "pass --force", capsys)
    assert mine.read_text() == "mine"
    own = run / "transfer-set.safetensors"
    _refused(["transfer-set", "--out", str(own), "--force"], "a file of the run", capsys)
