"""bench/posttrain_testing.py still runs end to end (so the benchmark cannot silently rot)."""

import json
from pathlib import Path

import pytest
from helpers_scripts import load_bench_script


def test_a_tiny_run_times_both_ways_and_reports_their_ratio(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = load_bench_script("posttrain_testing", monkeypatch)
    out = tmp_path / "result.json"
    args = ["--train", "64", "--test", "256", "--epochs", "2", "--rounds", "2"]
    returned = bench.main([*args, "--json-out", str(out)])
    result = json.loads(out.read_text())
    assert result == json.loads(json.dumps(returned))
    assert result["environment"]["device"] == "cpu" and result["environment"]["torch_threads"] == 1
    (row,) = result["networks"].values()
    assert row["parameters"] > 0
    assert {way: len(times) for way, times in row["seconds"].items()} == {
        "every epoch": 2,
        "after the last": 2,
    }
    medians = row["median_seconds"]
    assert row["speedup"] == pytest.approx(medians["every epoch"] / medians["after the last"])
