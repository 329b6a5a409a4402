"""A tampered or corrupted run database is one line naming the run and the damaged field,
for every command that reads it (one validating read layer), never a traceback; and a
run directory that may not be written is still read."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from helpers_replay import golden_run

import neronet
from neronet.cli import main
from neronet.errors import StoreError
from neronet.store import RunStore


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return golden_run(tmp_path_factory.mktemp("damaged") / "run")


@pytest.fixture
def run(pristine: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(pristine, tmp_path / "run"))


def tamper(run: Path, sql: str, *args: object) -> None:
    with sqlite3.connect(run / "run.sqlite") as db:
        db.execute(sql, args)
    db.close()


def refused(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2, argv
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err and "Traceback" not in err, err
    assert err.startswith("neronet: error: run '") or "run.sqlite" in err, err


META = "UPDATE meta SET value=? WHERE key=?"
DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("{not json", "'config' is damaged (not JSON)"),
        ("[1, 2]", "'config' is damaged (a JSON list, not a mapping)"),
        ('{"search": [1]}', "'config.search' is damaged"),
        (DEEP, "'config' is damaged (JSON nested too deeply)"),
    ],
)
def test_a_damaged_config_is_named(
    run: Path, value: str, needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tamper(run, META, value, "config")
    refused(["status", str(run)], needle, capsys)
    refused(["evolve", "--run", str(run)], needle, capsys)
    refused(["table", str(run)], needle, capsys)
    with pytest.raises(StoreError, match=r"'config(\.search)?' is damaged"):
        neronet.open_run(run)


def test_a_null_config_with_an_override_and_a_null_grammar(
    run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tamper(run, META, "null", "config")  # was 'NoneType' object has no attribute 'setdefault'
    refused(["evolve", "--run", str(run), "search.generations=5"], "null, not a mapping", capsys)
    tamper(run, META, json.dumps({"seed": 0}), "config")
    tamper(run, META, "null", "grammar")  # was 'NoneType' object has no attribute 'splitlines'
    refused(["evolve", "--run", str(run)], "meta 'grammar' is damaged", capsys)


@pytest.mark.parametrize(
    ("column", "value", "needle"),
    [
        ("metrics", "{not json", "'metrics' is damaged (not JSON)"),
        ("metrics", DEEP, "'metrics' is damaged (JSON nested too deeply)"),
        ("metrics", '{"clean_accuracy": "high"}', "'metrics' is damaged"),
        ("record", json.dumps({"spec": {"nodes": 5}}), "'record.spec' is damaged"),
        ("fitness", '"abc"', "'fitness' is damaged"),
    ],
)
def test_a_damaged_individual_is_named(
    run: Path, column: str, value: str, needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = RunStore.open(run, readonly=True)
    best = store.best()
    store.close()
    assert best is not None
    tamper(run, f"UPDATE individuals SET {column}=? WHERE id=?", value, best.id)
    needle = f"individual {best.id} {needle}"
    refused(["best", str(run)], needle, capsys)
    refused(["table", str(run)], needle, capsys)
    refused(["export", str(run), "--out", str(run.parent / "m.py")], needle, capsys)
    refused(["train", "--run", str(run), "--out", str(run.parent / "t")], needle, capsys)
    with pytest.raises(StoreError, match="is damaged"):
        neronet.load_run(run)


def test_a_damaged_generation_is_named(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tamper(run, "UPDATE generations SET best_fitness='abc'")
    refused(["status", str(run)], "generation 0 'best_fitness' is damaged ('abc'", capsys)
    tamper(run, "UPDATE generations SET best_fitness=0.5, elites='[\"x\"]'")
    refused(["best", str(run)], "'elites' is damaged", capsys)


def test_a_read_only_run_directory_is_read_without_writing(
    run: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Readers could not open a run they may not write ("attempt to write a readonly
    database"). Tests may run as root, who writes anywhere: the directory is made
    read-only to the store's eyes, and nothing may appear in it."""
    tamper(run, "PRAGMA journal_mode=WAL")  # as a live run is: the reader needs its -shm
    (run / "run.sqlite-shm").unlink(missing_ok=True)
    real_access = os.access

    def access(path: object, mode: int, **kw: object) -> bool:
        if Path(str(path)) == run and mode & os.W_OK:
            return False
        return real_access(path, mode, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "access", access)
    before = sorted(p.name for p in run.iterdir())
    for argv in (["status", str(run)], ["best", str(run)], ["table", str(run)]):
        assert main(argv) == 0, argv
    assert main(["report", str(run), "--out", str(run.parent / "report")]) == 0
    assert "best individual " in capsys.readouterr().out
    assert sorted(p.name for p in run.iterdir()) == before
