"""bench/autoattack_weights.py still runs end to end (so the benchmark cannot silently rot)."""

import json
from pathlib import Path

import pytest
from helpers_scripts import load_bench_script


def test_a_tiny_run_times_both_ways_and_finds_the_same_adversarial_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = load_bench_script("autoattack_weights", monkeypatch)
    out = tmp_path / "result.json"
    args = ["--index", "0", "--images", "4", "--steps", "2", "--rounds", "2"]
    returned = bench.main([*args, "--json-out", str(out)])
    result = json.loads(out.read_text())
    assert result == json.loads(json.dumps(returned))
    assert result["environment"]["device"] == "cpu" and result["environment"]["torch_threads"] == 1
    (row,) = result["networks"].values()
    assert row["parameters"] > 0 and row["same_adversarial_batch"] is True
    assert {way: len(times) for way, times in row["seconds"].items()} == {
        way: 2 for way in bench.WAYS
    }
    medians = [row["median_seconds"][way] for way in bench.WAYS]
    assert row["speedup"] == pytest.approx(medians[0] / medians[1])
