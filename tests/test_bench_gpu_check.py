"""bench/gpu_check.py runs its CPU pass end to end, so the GPU session finds it working."""

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check() -> Iterator[ModuleType]:
    """The script loaded from its path: bench/ is not a package."""
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setitem(sys.modules, "gpu_check", module)  # its dataclasses look it up there
    spec.loader.exec_module(module)
    yield module
    monkeypatch.undo()


def test_cpu_pass_writes_every_figure(gpu_check: ModuleType, tmp_path: Path) -> None:
    returned = gpu_check.main(["--out", str(tmp_path), "--device", "cpu"])
    result = json.loads((tmp_path / "gpu_check.json").read_text())
    assert result == json.loads(json.dumps(returned))
    assert result["skipped"] == {}
    assert result["environment"]["device"] == "cpu"
    assert result["elapsed_s"] < result["profile"]["time_limit_s"]
    p1 = result["p1_seed_to_target"]
    assert p1["reached"] and p1["fitness_images"] == result["data"]["fitness"]
    assert p1["evaluation"]["epochs"] == 1
    for name in ("nsga-net-seed", "small"):
        throughput = result["training_throughput"][name]
        assert set(throughput["images_per_s"]) == {"bf16", "fp32", "reference"}
        assert throughput["bf16_over_fp32"] > 0 and throughput["ours_over_reference"] > 0
        assert set(result["attacks"][name]) == {"FGSM", "PGD-20"}
        rates = [rate for by_impl in result["attacks"][name].values() for rate in by_impl.values()]
        assert rates and min(rates) > 0
        candidate = result["candidates"][name]
        assert candidate["peak_cuda_memory_bytes"] is None  # measured on CUDA only
        assert candidate["evaluation"]["status"] in {"ok", "ill-fitted"}
    markdown = (tmp_path / "gpu_check.md").read_text()
    assert "Device: cpu" in markdown and "## P1" in markdown and "## Attacks" in markdown


def test_time_guard_skips_what_does_not_fit(gpu_check: ModuleType, tmp_path: Path) -> None:
    result = gpu_check.main(["--out", str(tmp_path), "--device", "cpu", "--time-limit", "0"])
    assert set(result["skipped"]) == set(gpu_check.FIGURES)
    written = json.loads((tmp_path / "gpu_check.json").read_text())
    assert written["skipped"] == result["skipped"]
    assert "Skipped: p1_seed_to_target" in (tmp_path / "gpu_check.md").read_text()
