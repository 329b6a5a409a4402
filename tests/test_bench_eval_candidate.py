"""bench/eval_candidate.py still runs end to end (so the benchmark cannot silently rot)."""

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "eval_candidate.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    """The script loaded from its path: bench/ is not a package."""
    spec = importlib.util.spec_from_file_location("eval_candidate", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_run_measures_every_network(bench: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    returned = bench.main(
        ["--quick", "--dataset", "digits", "--device", "cpu", "--json-out", str(out)]
    )
    result = json.loads(out.read_text())
    assert result == json.loads(json.dumps(returned))
    assert result["environment"]["device"] == "cpu"
    assert set(result["networks"]) == {"nsga-net-seed", "small"}
    for row in result["networks"].values():
        assert row["train_images_per_s"] > 0
        assert row["fgsm_images_per_s"] > 0
        assert row["parameters"] > 0
        evaluation = row["evaluation"]
        assert evaluation["status"] in {"ok", "ill-fitted"}
        assert evaluation["epochs"] == 1  # --quick caps evaluate_individual at one epoch
        assert evaluation["train_seconds"] > 0
        assert 0.0 <= evaluation["clean_accuracy"] <= 1.0
    # the seed is the 3.3M-parameter NSGA-Net model, the small network far cheaper
    seed, small = result["networks"]["nsga-net-seed"], result["networks"]["small"]
    assert seed["parameters"] > 3_000_000 > small["parameters"]


def test_target_mode_is_skipped_without_a_gpu(
    bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    result = bench.main(["--target-accuracy", "0.85", "--device", "cpu", "--data", "/missing"])
    assert result["target"] == {"skipped": "needs a GPU"}
    assert "networks" not in result
    assert "--force-target" in capsys.readouterr().out


def test_batch_clock_times_the_window_then_stops(bench: ModuleType) -> None:
    clock = bench.BatchClock(warmup=2, count=3, device=torch.device("cpu"))
    answers = [clock() for _ in range(6)]
    assert answers == [False] * 5 + [True]
    assert clock.seconds is not None and clock.seconds >= 0
