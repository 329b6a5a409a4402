"""bench/posttrain_testing.py still runs end to end (so the benchmark cannot silently rot)."""

import json
import sys
from pathlib import Path

import pytest
from helpers_scripts import load_script

BENCH = Path(__file__).resolve().parents[1] / "bench"


def test_a_tiny_run_times_both_ways_and_reports_their_ratio(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(BENCH))  # it imports bench/eval_candidate.py
    if "eval_candidate" not in sys.modules:  # which leaves with the test
        monkeypatch.setitem(sys.modules, "eval_candidate", None)
        monkeypatch.delitem(sys.modules, "eval_candidate")
    bench = load_script("bench/posttrain_testing.py")
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
