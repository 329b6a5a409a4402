"""A run directory written by neronet 0.1.0 (store schema 1) still opens for everything.

``fixtures/v1-run`` was made by the 0.1.0 release (see ``fixtures/v1-run.yaml``).
Read-only commands read it as is (migrated in memory, the file untouched);
commands that write migrate it in place, in one transaction.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from neronet.cli import main
from neronet.store import RunStore
from neronet.store.schema import SCHEMA_VERSION

FIXTURE = Path(__file__).parent / "fixtures" / "v1-run"


@pytest.fixture
def old_run(tmp_path: Path) -> Path:
    run = tmp_path / "old"
    shutil.copytree(FIXTURE, run)
    return run


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_readers_see_metrics_and_elites_without_touching_the_file(
    old_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _digest(old_run / "run.sqlite")
    assert main(["status", str(old_run), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["finished"] and info["generation"] == 3 and info["best_id"] == 4
    assert info["best_metrics"]["clean_accuracy"] == pytest.approx(0.41)
    assert main(["best", str(old_run), "--json"]) == 0
    best = json.loads(capsys.readouterr().out)
    assert best["id"] == 4 and set(best["metrics"]) >= {"clean_accuracy", "parameters"}
    assert main(["report", str(old_run), "--out", str(old_run.parent / "report")]) == 0
    assert (old_run.parent / "report" / "summary.md").is_file()
    assert main(["export", str(old_run), "--out", str(old_run.parent / "model.py")]) == 0
    assert (old_run.parent / "model.py").is_file()
    assert _digest(old_run / "run.sqlite") == before
    store = RunStore.open(old_run, readonly=True)
    generations = store.generations()
    assert [g.elites for g in generations] == [(0,), (0,), (4,)]
    assert [g.info for g in generations] == [
        {"warmup": True, "switched": False},
        {"warmup": True, "switched": False},
        {"warmup": True, "switched": True},
    ]
    assert store.individual(0).outcome().metrics == store.individual(0).metrics


def test_resume_migrates_in_place_and_continues(old_run: Path) -> None:
    rows_before = RunStore.open(old_run, readonly=True).individuals()
    assert main(["evolve", "--run", str(old_run), "search.generations=4", "--allow-changed"]) == 0
    store = RunStore.open(old_run)
    assert store.meta("schema_version") == SCHEMA_VERSION
    rows = store.individuals()
    assert rows[: len(rows_before)] == rows_before  # history kept exactly
    assert len(store.generations()) == 4 and len(rows) == len(rows_before) + 2


def test_train_takes_the_best_of_an_old_run(old_run: Path) -> None:
    out = old_run.parent / "trained"
    args = ["train", "--run", str(old_run), "--epochs", "1", "--seeds", "1", "--out", str(out)]
    assert main(args) == 0
    assert (out / "seed-0" / "model.safetensors").is_file()
