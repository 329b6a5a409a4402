"""RunStore: schema, atomic blobs, crash-safe reopen, error messages."""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

import pytest

from neronet.cli import main
from neronet.errors import StoreError
from neronet.store import GenerationRow, RunStore, atomic_write
from neronet.store.schema import SCHEMA_VERSION


def _row(i: int, generation: int = 0, **extra: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": i,
        "key": f"g{generation}/o{i}",
        "generation": generation,
        "parent_id": None,
        "mutations": ["add_unit"],
        "genotype": "{}",
        "spec_hash": f"s{i}",
        "learning_hash": "l",
        "train_time": 10.0,
        "status": "ok",
        "reason": None,
        "fitness": 0.5 + i / 100,
        "metrics": {"clean_accuracy": 0.9, "adversarial_accuracy": 0.3, "parameters": 1000},
        "epochs": 2,
        "train_seconds": 1.0,
        "history": [{"epoch": 1, "loss": 1.0}],
        "record": {},
        "cache_of": None,
        "warm_start_from": None,
        "weights_path": None,
        "state_path": None,
    }
    row.update(extra)
    return row


def test_create_add_and_reopen(tmp_path: Path) -> None:
    store = RunStore.create(tmp_path / "run", {"seed": 3, "config": {"a": 1}})
    store.add_individual(_row(0))
    store.add_individual(_row(1))
    store.add_generation(GenerationRow(0, (1, 0), 0.51, 0.505, {"warmup": True}, 1.0))
    store.close()
    again = RunStore.open(tmp_path / "run", readonly=True)
    assert again.meta("seed") == 3
    assert [r.id for r in again.individuals()] == [0, 1]
    assert again.individual(1).history == [{"epoch": 1, "loss": 1.0}]
    assert again.individual_by_key("g0/o1").id == 1
    assert again.best().id == 1  # the last generation's first elite, not a max over phases
    assert [r.id for r in again.elites()] == [1, 0]
    assert again.generations()[0].info == {"warmup": True}
    assert again.individual(0).metrics["parameters"] == 1000


def test_vector_fitness_round_trips(tmp_path: Path) -> None:
    store = RunStore.create(tmp_path / "run", {})
    store.add_individual(_row(0, fitness=[0.9, 0.3, -1000.0]))
    store.add_individual(_row(1, fitness=None, status="invalid", metrics={}))
    assert store.individual(0).fitness == (0.9, 0.3, -1000.0)
    assert store.individual(1).fitness is None and store.individual(1).metric("x") is None


def test_journal_is_wal(tmp_path: Path) -> None:
    RunStore.create(tmp_path / "r", {}).close()
    conn = sqlite3.connect(tmp_path / "r" / "run.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_duplicate_cache_lookup_only_sees_earlier_fresh_individuals(tmp_path: Path) -> None:
    store = RunStore.create(tmp_path / "r", {})
    store.add_individual(_row(0, spec_hash="same"))
    store.add_individual(_row(1, spec_hash="same", warm_start_from=0))
    assert store.find_evaluated("same", "l", 10.0, before_id=5).id == 0
    assert store.find_evaluated("same", "l", 10.0, before_id=0) is None
    assert store.find_evaluated("same", "l", 20.0, before_id=5) is None


def test_refuses_to_create_over_existing_run(tmp_path: Path) -> None:
    RunStore.create(tmp_path / "r", {}).close()
    with pytest.raises(StoreError, match="already holds a run"):
        RunStore.create(tmp_path / "r", {})


def test_open_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not a neronet run directory") as err:
        RunStore.open(tmp_path / "missing")
    assert "\n" not in str(err.value)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "run.sqlite").write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="corrupt"):
        RunStore.open(bad)


def test_unknown_individual_is_a_store_error(tmp_path: Path) -> None:
    store = RunStore.create(tmp_path / "r", {})
    with pytest.raises(StoreError, match="no individual with id 7"):
        store.individual(7)


def test_atomic_write_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "w" / "1.safetensors"
    atomic_write(target, b"abc")
    atomic_write(target, b"defg")
    assert target.read_bytes() == b"defg"
    assert sorted(p.name for p in target.parent.iterdir()) == ["1.safetensors"]


def test_a_failed_atomic_write_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``export`` onto a full disk left ``.model.safetensors.tmp<pid>`` behind."""
    target = tmp_path / "model.safetensors"
    target.write_bytes(b"old")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        atomic_write(target, b"new")
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]
    assert target.read_bytes() == b"old"


def test_sqlites_disk_io_error_is_reported_as_a_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def failing(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(RunStore, "open", failing)
    assert main(["status", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("neronet: error: the disk is full (disk I/O error") and "\n" not in err


def test_creation_is_atomic_and_a_crashed_creation_is_redone(tmp_path: Path) -> None:
    run = tmp_path / "r"
    run.mkdir()
    (run / ".run.sqlite.creating").write_bytes(b"half-written by a crashed create")
    (run / ".run.sqlite.creating-journal").write_bytes(b"its hot journal")
    with pytest.raises(StoreError, match="not a neronet run directory"):
        RunStore.open(run)  # a crashed creation is not a run
    store = RunStore.create(run, {"seed": 1})
    assert store.meta("seed") == 1 and store.meta("schema_version") == SCHEMA_VERSION
    assert not (run / ".run.sqlite.creating").exists()
    assert not (run / ".run.sqlite.creating-journal").exists()
