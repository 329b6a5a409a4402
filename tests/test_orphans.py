"""No orphans: whatever a kill leaves behind is cleaned when the run or training resumes.

Kills at exact write points are simulated by leaving the files they leave: a
temporary blob (a kill before its rename), a blob whose row was never written
or was pruned (a kill between blob and row, or between a pruning row update and
its delete), and a finished seed's checkpoint pair and final-file temporaries.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import pytest
from helpers_store import files_fingerprint
from test_posttrain import quick, tiny_spec
from test_search import StubExecutor, _config, _run

from neronet.cli import main
from neronet.data import load_dataset
from neronet.store import RunStore
from neronet.train.posttrain import train_seeds


def test_a_resumed_run_sweeps_temporaries_and_unreferenced_blobs(tmp_path: Path) -> None:
    run = tmp_path / "r"
    _run(run, _config("search.generations=3"), StubExecutor())
    clean = files_fingerprint(run)
    store = RunStore.open(run, readonly=True)
    finished_at = store.meta("finished_at")
    pruned = next(r.id for r in store.individuals() if r.weights_path is None)
    left = [
        run / "weights" / ".7.safetensors.tmp4242",  # killed before the rename
        run / "states" / ".7.pt.tmp4242",
        run / "weights" / f"{pruned}.safetensors",  # pruned row, file not yet deleted
        run / "states" / "999.pt",  # written, row never committed
    ]
    for path in left:
        path.write_bytes(b"left by a kill")
    _run(run, _config("search.generations=3"), StubExecutor())  # a no-op resume
    assert files_fingerprint(run) == clean
    store = RunStore.open(run, readonly=True)
    assert store.meta("finished_at") == finished_at  # a no-op resume keeps the record
    assert any(kind == "sweep" for _, kind, _ in store.events())


def test_a_finished_training_resumed_after_a_late_kill_ends_with_the_same_files(
    tmp_path: Path,
) -> None:
    digits = load_dataset("digits")
    first, second = tmp_path / "a", tmp_path / "b"
    train_seeds(tiny_spec(), digits, quick("standard", epochs=2), first)
    shutil.copytree(first, second)
    seed = second / "seed-0"
    (seed / "checkpoints").mkdir()
    for name in ("epoch-0002.safetensors", "epoch-0002.state.pt"):  # the last pair
        (seed / "checkpoints" / name).write_bytes(b"checkpoint")
    (seed / ".model.safetensors.tmp77").write_bytes(b"half")
    train_seeds(tiny_spec(), digits, quick("standard", epochs=2), second)
    names = sorted(str(p.relative_to(first)) for p in first.rglob("*"))
    assert sorted(str(p.relative_to(second)) for p in second.rglob("*")) == names


def test_two_trainings_write_identical_model_bytes(tmp_path: Path) -> None:
    digits = load_dataset("digits")
    for out in (tmp_path / "a", tmp_path / "b"):
        train_seeds(tiny_spec(), digits, quick("standard", epochs=1), out)
    model = Path("seed-0") / "model.safetensors"
    assert (tmp_path / "a" / model).read_bytes() == (tmp_path / "b" / model).read_bytes()


def _full_disk(path: Path, data: bytes) -> None:
    raise OSError(errno.ENOSPC, "No space left on device", str(path))


def test_a_full_disk_is_one_line_and_the_run_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    tiny = ["search.generations=2", "search.initial_size=2", "search.offspring=1"]
    tiny += ["training.max_epochs=1", "data.train=300", "data.control=60", "data.fitness=60"]
    monkeypatch.setattr("neronet.store.run_store.atomic_write", _full_disk)
    assert main(["evolve", "--run", str(run), *tiny]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("neronet: error: the disk is full") and "run the same command" in err
    monkeypatch.undo()  # space came back
    assert main(["evolve", "--run", str(run)]) == 0
    assert RunStore.open(run, readonly=True).meta("finished") is True


def test_a_full_disk_while_training_is_one_line_and_training_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(tiny_spec().to_json())
    args = ["train", "--spec", str(spec), "--dataset", "digits", "--epochs", "1", "--seeds", "1"]
    args += ["--device", "cpu", "--out", str(tmp_path / "out")]
    monkeypatch.setattr("neronet.train.posttrain.atomic_write", _full_disk)
    assert main(args) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .splitlines()[-1]
        .startswith("neronet: error: the disk is full")
    )
    monkeypatch.undo()
    assert main(args) == 0
    assert (tmp_path / "out" / "seed-0" / "model.safetensors").is_file()
