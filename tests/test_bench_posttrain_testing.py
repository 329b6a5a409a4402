"""bench/posttrain_testing.py still runs end to end (so the benchmark cannot silently rot)."""

from pathlib import Path

import pytest
from helpers_scripts import load_bench_script, run_cpu_bench


def test_a_tiny_run_times_both_ways_and_reports_their_ratio(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = load_bench_script("posttrain_testing", monkeypatch)
    args = ["--train", "64", "--test", "256", "--epochs", "2", "--rounds", "2"]
    row = run_cpu_bench(bench, args, tmp_path / "result.json")
    assert row["parameters"] > 0
    assert {way: len(times) for way, times in row["seconds"].items()} == {
        "every epoch": 2,
        "after the last": 2,
    }
    medians = row["median_seconds"]
    assert row["speedup"] == pytest.approx(medians["every epoch"] / medians["after the last"])
