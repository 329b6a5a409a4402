"""Tabular access: ``neronet.load_run(path).individuals()`` and ``neronet table``.

The rows must be the store's individuals, one per row, with every metric as a column;
CSV and JSON are written without pandas, Parquet needs the ``table`` extra.
"""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from test_pareto import ParetoStub, _pareto
from test_search import StubExecutor, _config, _run

import neronet
from neronet.cli import main
from neronet.store import RunStore


@pytest.fixture(scope="module")
def scalar_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("table") / "run"
    _run(path, _config("search.generations=3"), StubExecutor())
    return path


@pytest.fixture(scope="module")
def pareto_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("table") / "pareto"
    _run(path, _pareto("search.generations=3"), ParetoStub())
    return path


def test_dataframe_has_a_row_per_individual_and_a_column_per_metric(scalar_run: Path) -> None:
    frame = neronet.load_run(scalar_run).individuals()
    rows = RunStore.open(scalar_run, readonly=True).individuals()
    assert list(frame["id"]) == [r.id for r in rows]
    assert list(frame.columns[:8]) == [
        "id",
        "key",
        "generation",
        "status",
        "reason",
        "parent_id",
        "mutations",
        "fitness",
    ]
    assert {"clean_accuracy", "adversarial_accuracy", "train_seconds", "cache_of"} <= set(
        frame.columns
    )
    for row, (_, record) in zip(rows, frame.iterrows(), strict=True):
        assert record["key"] == row.key and record["generation"] == row.generation
        assert record["mutations"] == ",".join(row.mutations)
        assert record["fitness"] == pytest.approx(row.fitness)
        assert record["clean_accuracy"] == row.metrics["clean_accuracy"]
        assert pd.isna(record["parent_id"]) == (row.parent_id is None)


def test_csv_matches_the_store(scalar_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["table", str(scalar_run)]) == 0
    records = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    rows = RunStore.open(scalar_run, readonly=True).individuals()
    assert len(records) == len(rows)
    for row, record in zip(rows, records, strict=True):
        assert int(record["id"]) == row.id and record["status"] == row.status
        assert float(record["adversarial_accuracy"]) == row.metrics["adversarial_accuracy"]
        assert record["parent_id"] == ("" if row.parent_id is None else str(row.parent_id))
        assert float(record["fitness"]) == pytest.approx(row.fitness)


def test_pareto_run_has_a_fitness_column_per_objective(pareto_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "t.json"
    assert main(["table", str(pareto_run), "--format", "json", "--out", str(out)]) == 0
    records = json.loads(out.read_text())
    rows = RunStore.open(pareto_run, readonly=True).individuals()
    for row, record in zip(rows, records, strict=True):
        fitness = [
            record[f"fitness_{m}"] for m in ("clean_accuracy", "adversarial_accuracy", "parameters")
        ]
        expected = [None if math.isinf(f) else f for f in row.fitness]
        assert fitness == expected
        assert record["parameters"] == row.metrics["parameters"]


def test_parquet_round_trips(pareto_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "t.parquet"
    assert main(["table", str(pareto_run), "--format", "parquet", "--out", str(out)]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out), neronet.load_run(pareto_run).individuals())
    assert main(["table", str(pareto_run), "--format", "parquet"]) == 2  # binary: --out


def test_csv_needs_no_pandas_and_parquet_names_the_extra(scalar_run: Path) -> None:
    code = (
        "import sys; sys.modules['pandas'] = None; sys.modules['pyarrow'] = None\n"
        "from neronet.cli import main\n"
        f"assert main(['table', {str(scalar_run)!r}]) == 0\n"
        f"sys.exit(main(['table', {str(scalar_run)!r}, '--format', 'parquet', '--out', 'x']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stdout.startswith("id,key,generation,status")
    assert done.stderr.strip().count("\n") == 0
    assert "pip install 'neronet-evo[table]'" in done.stderr


def test_a_run_table_prints_as_a_readable_table(scalar_run: Path) -> None:
    table = neronet.load_run(scalar_run)
    lines = str(table).splitlines()
    assert lines[0].split() == ["id", "key", "status", "fitness", "clean", "FGSM", "mutations"]
    assert len(lines) == 2 + len(table.rows)  # header, rule, a line per individual
    starts = {line.find(table.rows[0].key) for line in lines[2:3]}
    assert starts == {lines[0].index("key")}  # columns aligned under their headers
    markdown = table.to_markdown().splitlines()
    assert markdown[0].startswith("| id | key |") and len(markdown) == len(lines)
    assert table.to_frame().equals(table.individuals())


def test_suite_results_print_as_a_table_and_convert(monkeypatch: pytest.MonkeyPatch) -> None:
    from neronet.config import AttackSettings
    from neronet.robustness.audit import Flag
    from neronet.robustness.tables import CSV_COLUMNS, ModelReport, Outcome, SuiteReport

    outcomes = [
        Outcome("clean", "clean", "clean", None, 0.9, None, None, 100),
        Outcome("fgsm", "FGSM", "L-inf", 0.1, 0.9, 0.5, 0.45, 100),
    ]
    flag = Flag("fgsm", "masking", "large eps not ~0", "eps 0.5 leaves 53% correct")
    report = SuiteReport([ModelReport("model", outcomes, [flag], ("L-inf",))], AttackSettings())
    text = str(report)
    assert "ModelReport(" not in text and max(map(len, text.splitlines())) < 200
    header, rule, clean, fgsm = text.splitlines()[1:]
    assert header.split()[:4] == ["threat", "attack", "eps", "clean"] and set(rule) <= {"-", " "}
    assert "90.00" in clean and "50.00" in fgsm and "FLAG: eps 0.5 leaves 53%" in fgsm
    assert "| threat | attack |" in report.to_markdown()
    frame = report.to_frame()
    assert list(frame.columns) == list(CSV_COLUMNS)
    assert frame["overall_mean"].tolist()[1] == pytest.approx(0.45)
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(neronet.errors.NeronetError, match=r"to_frame\(\) needs pandas: pip"):
        report.to_frame()
