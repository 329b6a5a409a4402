"""bench/gpu_check.py runs its CPU pass end to end, so the GPU session finds it working."""

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from helpers_scripts import load_script


@pytest.fixture(scope="module")
def gpu_check() -> Iterator[ModuleType]:
    monkeypatch = pytest.MonkeyPatch()
    yield load_script("bench/gpu_check.py", monkeypatch)
    monkeypatch.undo()


def test_cpu_pass_writes_every_figure(gpu_check: ModuleType, tmp_path: Path) -> None:
    # no time guard here (a loaded machine must not skip sections): the guard has its own test
    returned = gpu_check.main(["--out", str(tmp_path), "--device", "cpu", "--time-limit", "1e6"])
    result = json.loads((tmp_path / "gpu_check.json").read_text())
    assert result == json.loads(json.dumps(returned))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "gpu_check.json",
        "gpu_check.log",
        "gpu_check.md",
    ]  # three flat files: what the device tool brings back
    assert set(result["skipped"]) == set(gpu_check.CPU.cuda_only)
    assert result["environment"]["device"] == "cpu"
    for name in ("nsga-net-seed", "small"):
        modes = result["step_modes"][name]
        assert set(modes["images_per_s"]) == {"eager fp32", "eager bf16", "reference bf16"}
        assert min(modes["images_per_s"].values()) > 0
        assert set(modes["first_steps_s"]) == {"eager fp32", "eager bf16"}
        assert set(result["attacks"][name]) == {"FGSM", "PGD-20"}
        rates = [rate for by_impl in result["attacks"][name].values() for rate in by_impl.values()]
        assert rates and min(rates) > 0
    concurrency = result["concurrency"]
    assert set(concurrency) == {"1", "2"}
    assert all(row["aggregate_images_per_s"] > 0 for row in concurrency.values())
    assert len(concurrency["2"]["per_process_images_per_s"]) == 2
    assert set(result["batch_scaling"]["images_per_s"]) == {"16", "32"}
    assert min(result["batch_scaling"]["images_per_s"].values()) > 0
    (p1,) = result["p1_seed_to_target"]["recipes"].values()
    assert p1["reached"] and p1["fitness_images"] == result["data"]["fitness"]
    assert p1["evaluation"]["epochs"] == 1
    assert p1["learning"]["batch_size"] == 16
    quick = result["gpu_quickstart"]
    assert quick["exit_code"] == 0 and quick["command"].startswith("neronet evolve --config")
    assert [ind["key"] for ind in quick["individuals"]] == ["g0/i0", "g0/i1"]
    assert quick["parent_id"] is not None
    units = result["learning_units"]
    assert len(units["units"]) == gpu_check.CPU.learning_units
    assert units["share_healthy"] == units["healthy"] / len(units["units"])
    markdown = (tmp_path / "gpu_check.md").read_text()
    for heading in ("## Training", "## Concurrent", "## One candidate", "## P1", "## GPU quick"):
        assert heading in markdown
    assert "Device: cpu" in markdown
    assert "[gpu_quickstart]" in (tmp_path / "gpu_check.log").read_text()


def test_time_guard_skips_what_does_not_fit(gpu_check: ModuleType, tmp_path: Path) -> None:
    result = gpu_check.main(["--out", str(tmp_path), "--device", "cpu", "--time-limit", "0"])
    assert set(result["skipped"]) == set(gpu_check.FIGURES)
    written = json.loads((tmp_path / "gpu_check.json").read_text())
    assert written["skipped"] == result["skipped"]
    assert "Skipped: step_modes" in (tmp_path / "gpu_check.md").read_text()


def test_the_quickstart_reads_the_given_data_or_downloads_it(
    gpu_check: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --data the GPU quickstart asks for the canonical download (a missing path
    must not become the path 'None'); with one, it reads that path."""
    commands: list[list[str]] = []

    def fake_run(command: list[str], **_kwargs: object) -> object:
        commands.append(command)
        raise StopIteration  # the command line is what is tested

    monkeypatch.setattr(gpu_check.subprocess, "run", fake_run)
    guard = gpu_check.Guard(60.0)
    for data in (None, tmp_path / "train.zip"):
        with pytest.raises(StopIteration):
            gpu_check._quickstart_in(tmp_path / "run", gpu_check.GPU, data, guard)
    assert "data.download=true" in commands[0]
    assert not any(arg.startswith("data.path") for arg in commands[0])
    assert f"data.path={tmp_path / 'train.zip'}" in commands[1]
