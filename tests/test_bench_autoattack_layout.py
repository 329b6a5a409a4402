"""bench/autoattack_layout.py still runs end to end (so the benchmark cannot silently rot)."""

from pathlib import Path

import pytest
from helpers_scripts import load_bench_script, run_cpu_bench


def test_a_tiny_run_times_every_way_and_freezing_changes_no_bit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = load_bench_script("autoattack_layout", monkeypatch)
    args = ["--index", "0", "--images", "4", "--steps", "2", "--rounds", "3"]
    row = run_cpu_bench(bench, args, tmp_path / "result.json")
    assert row["parameters"] > 0
    first, frozen, channels_last = bench.WAYS
    for workload in bench.WORKLOADS:
        figures = row[workload]
        assert {way: len(times) for way, times in figures["seconds"].items()} == {
            way: 3 for way in bench.WAYS
        }
        medians = figures["median_seconds"]
        assert figures["speedup"][first] == 1.0
        assert figures["speedup"][frozen] == pytest.approx(medians[first] / medians[frozen])
        assert figures["max_difference"][frozen] == 0.0  # bit for bit
        assert figures["max_difference"][channels_last] < 1e-3  # float rounding
