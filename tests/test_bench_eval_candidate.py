"""bench/eval_candidate.py still runs end to end (so the benchmark cannot silently rot)."""

import json
from pathlib import Path
from types import ModuleType

import pytest
import torch
from helpers_scripts import load_script


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_script("bench/eval_candidate.py")


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
        # the reference loop is timed side by side, in alternating rounds (quick: 2)
        assert row["reference_train_images_per_s"] > 0
        assert row["train_ratio_vs_reference"] == pytest.approx(
            row["train_images_per_s"] / row["reference_train_images_per_s"]
        )
        assert row["train_ratio_vs_reference"] > 0
        assert {k: len(v) for k, v in row["train_rounds_images_per_s"].items()} == {
            "ours": 2,
            "reference": 2,
        }
        assert row["fgsm_images_per_s"] > 0
        assert row["parameters"] > 0
        evaluation = row["evaluation"]
        assert evaluation["status"] in {"ok", "ill-fitted"}
        assert evaluation["epochs"] == 1  # --quick caps evaluate_individual at one epoch
        assert evaluation["seconds"]["train"] > 0
        assert 0.0 <= evaluation["metrics"]["clean_accuracy"] <= 1.0
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


def test_rounds_alternate_their_order(bench: ModuleType) -> None:
    calls: list[str] = []

    def measure(name: str) -> float:
        calls.append(name)
        return float(len(calls))

    results = bench.alternating({"a": lambda: measure("a"), "b": lambda: measure("b")}, 3)
    assert calls == ["a", "b", "b", "a", "a", "b"]
    assert results == {"a": [1.0, 4.0, 5.0], "b": [2.0, 3.0, 6.0]}


def test_reference_dataset_crops_and_flips_one_padded_image(bench: ModuleType) -> None:
    x = torch.arange(2 * 3 * 5 * 5, dtype=torch.int64).remainder(251).to(torch.uint8)
    x = x.reshape(2, 3, 5, 5)
    dataset = bench.ReferenceImages(x, torch.tensor([4, 7]), 1, torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(x[1], (1, 1, 1, 1))
    windows = [padded[:, i : i + 5, j : j + 5] for i in range(3) for j in range(3)]
    candidates = windows + [w.flip(-1) for w in windows]
    seen = set()
    for _ in range(40):
        image, label = dataset[1]
        assert image.dtype == torch.uint8 and image.shape == (3, 5, 5)
        assert int(label) == 7
        seen.add(next(k for k, c in enumerate(candidates) if torch.equal(image, c)))
    assert len(seen) > 9  # crops at several offsets, flipped and not


def test_cifar_without_data_is_the_canonical_download(
    bench: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --data the benchmarks fetch CIFAR-10 (cached) rather than read a path of
    the machine they were written on; a given path is read, never downloaded over."""
    calls: list[dict[str, object]] = []

    def fake_load(name: str, **kwargs: object) -> None:
        calls.append({"name": name, **kwargs})
        raise StopIteration  # the arguments are what is tested

    monkeypatch.setattr(bench, "load_dataset", fake_load)
    for name, data in (("cifar10", None), ("cifar10", Path("train.zip")), ("digits", Path("x"))):
        with pytest.raises(StopIteration):
            bench.paper_splits(name, data, 3, seed=0)
    assert [(c["name"], c["path"], c["download"]) for c in calls] == [
        ("cifar10", None, True),
        ("cifar10", Path("train.zip"), False),
        ("digits", None, False),
    ]
    assert bench.parse_args([]).data is None
