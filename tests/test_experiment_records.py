"""tools/experiment_records.py: a finished experiment's records, kept and put back on
another machine, resume to the same report without running anything again."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import ModuleType

import pytest
from helpers_scripts import load_script
from test_experiment import tiny_experiment

from neronet.cli import main


@pytest.fixture(scope="module")
def records() -> ModuleType:
    return load_script("tools/experiment_records.py")


def test_finished_runs_are_kept_once_and_resume_elsewhere_without_running(
    records: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "e"
    argv = tiny_experiment(directory, ["nero-net", "random:search.strategy=random"])
    assert main(argv) == 0
    kept = tmp_path / "kept"
    written = records.save(directory, kept)
    assert (kept / "nero-net" / "run-0.sqlite.gz").is_file()
    assert not list(kept.rglob("*.safetensors"))  # records, not weights
    assert records.save(directory, kept) == []  # unchanged: nothing rewritten
    # the machine is replaced: the records come back into an empty directory
    moved = tmp_path / "moved"
    shutil.move(directory, moved)
    assert len(records.restore(kept, directory)) == len(written)
    assert records.main(["restore", str(kept), str(directory)]) == 2  # not over a live one
    assert "already holds an experiment" in capsys.readouterr().err
    assert records.main(["save", str(tmp_path), str(tmp_path / "x")]) == 2  # no experiment
    assert "holds no experiment (experiment.json is missing)" in capsys.readouterr().err
    assert records.main(["restore", str(tmp_path / "moved" / "trained"), str(tmp_path)]) == 2
    assert "holds no experiment's records" in capsys.readouterr().err
    assert records.main(["save", str(tmp_path / "none"), str(kept)]) == 2
    assert "is not a directory" in capsys.readouterr().err
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert err.count(": finished earlier") == 4 and "neronet train" not in err
    before = (moved / "EXPERIMENT.md").read_text().split("## Reproduce")[0]
    assert (directory / "EXPERIMENT.md").read_text().split("## Reproduce")[0] == before
    # a run not finished when its records were kept is run again, to the same numbers
    shutil.rmtree(directory)
    for name in ("random/run-0.sqlite.gz", "trained/random-run-0", "attacked/random-run-0"):
        path = kept / name
        path.unlink() if path.is_file() else shutil.rmtree(path)
    records.restore(kept, directory)
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert err.count(": finished earlier") == 2 and "retrain random run-0: neronet train" in err
    assert "(run-0, seed" in err and "): starting" in err  # its search ran again
    assert (directory / "EXPERIMENT.md").read_text().split("## Reproduce")[0] == before
    # a run whose search had finished, cut short before its retraining: the new machine
    # retrains and attacks it without searching again
    for name in ("trained/random-run-0", "attacked/random-run-0"):
        shutil.rmtree(directory / name)
    cut = tmp_path / "cut"
    records.save(directory, cut)
    assert (cut / "random" / "run-0.sqlite.gz").is_file()
    assert not (cut / "attacked" / "random-run-0").exists()
    shutil.rmtree(directory)
    records.restore(cut, directory)
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert err.count(": finished earlier") == 2 and "retrain random run-0: neronet train" in err
    assert "): finished" in err and "): starting" not in err and "): resuming" not in err
    assert (directory / "EXPERIMENT.md").read_text().split("## Reproduce")[0] == before
    # restored under another directory (the studies record the memo's path): it resumes
    records.save(directory, kept)
    elsewhere = tmp_path / "elsewhere"
    records.restore(kept, elsewhere)
    assert main([str(elsewhere) if a == str(directory) else a for a in argv]) == 0
    assert capsys.readouterr().err.count(": finished earlier") == 4


def test_records_of_another_experiment_and_cut_short_copies_are_never_mixed(
    records: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same records folder reused after a redesign would have passed one experiment's
    runs off as the other's: refused. A save or restore cut short (no manifest yet, the
    manifest is written last) is done again by the same command; a damaged packed store
    is a one-line error."""
    import json

    directory, kept = tmp_path / "e", tmp_path / "kept"
    manifest = {"config": "a.yaml", "runs": 1, "methods": ["nero-net"], "seconds": {"x": 1.0}}
    directory.mkdir()
    (directory / "experiment.json").write_text(json.dumps(manifest))
    records.save(directory, kept)
    manifest["seconds"] = {"x": 2.0}  # the same experiment, further on: saved
    (directory / "experiment.json").write_text(json.dumps(manifest))
    assert records.save(directory, kept) == [kept / "experiment.json"]
    manifest["runs"] = 2  # another experiment
    (directory / "experiment.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="holds the records of another experiment"):
        records.save(directory, kept)
    assert json.loads((kept / "experiment.json").read_text())["runs"] == 1
    (kept / "experiment.json").write_text("{cut")  # a damaged records manifest: one line
    assert records.main(["save", str(directory), str(kept)]) == 2
    err = capsys.readouterr().err
    assert "experiment.json' is unreadable" in err and err.count("\n") == 1
    assert (kept / "experiment.json").read_text() == "{cut"
    (kept / "experiment.json").write_text(json.dumps({**manifest, "runs": 1}))
    # a restore cut short before its manifest: the same command finishes it
    (kept / "nero-net").mkdir()
    (kept / "nero-net" / "study.json").write_text("{}")
    target = tmp_path / "restored"
    (target / "nero-net").mkdir(parents=True)
    (target / "nero-net" / "study.json").write_text("{half")
    written = records.restore(kept, target)
    assert written[-1] == target / "experiment.json"  # the manifest last
    assert (target / "nero-net" / "study.json").read_text() == "{}"
    (kept / "nero-net" / "run-0.sqlite.gz").write_bytes(b"\x1f\x8b\x08 cut")
    with pytest.raises(ValueError, match=r"run-0.sqlite.gz' is damaged .* from git again"):
        records.restore(kept, tmp_path / "again")
