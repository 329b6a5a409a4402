"""Flags and paths that reached deep code as tracebacks are one-line errors up front."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers_replay import golden_run

from neronet.cli import main
from neronet.threat import ThreatRecord

LONG = "x" * 5000


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return golden_run(tmp_path_factory.mktemp("flags") / "run")


def refused(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2, argv
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err and "Traceback" not in err, err


@pytest.mark.parametrize("device", ["mps", "meta", "gpu"])
def test_devices_neronet_cannot_train_on_are_refused_at_parse_time(
    device: str, run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = tmp_path / "new"
    refused(["evolve", f"training.device={device}", "--run", str(new)], "unknown device", capsys)
    out = tmp_path / "t"
    refused(["train", "--run", str(run), "--device", device, "--out", str(out)], "--device", capsys)
    assert not new.exists() and not out.exists()


def test_paths_too_long_for_the_file_system_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    refused(["status", LONG], "characters) is too long for the file system", capsys)
    refused(["evolve", "--run", str(tmp_path / LONG)], "is too long", capsys)
    grammar = f"structure.grammar={LONG}.grammar"
    refused(["evolve", grammar, "--run", str(tmp_path / "r")], "is too long", capsys)
    assert not (tmp_path / "r").exists()


def test_train_never_mixes_into_a_foreign_out_directory(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    refused(["train", "--run", str(run), "--out", str(mine)], "not a neronet train output", capsys)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize(
    ("text", "eps"),
    [("0.1", 0.1), ("1e300", None), ("nan", None), ("-0.1", None), ("abc", None), (None, None)],
)
def test_an_old_model_files_search_eps_is_used_only_when_it_is_a_radius(
    text: str | None, eps: float | None
) -> None:
    """``search_eps = '1e300'`` in a model's metadata overflowed in torch. Files from before
    the threat record are read as before: an L-inf record with the quarter-radius step."""
    record = ThreatRecord.from_metadata({} if text is None else {"search_eps": text})
    expected = None if eps is None else ThreatRecord("linf", eps, eps / 4)
    assert record == expected


@pytest.mark.parametrize(
    "text",
    [
        '{"norm": "linf", "eps": 1e300, "step": 0.1}',
        '{"norm": "linf", "eps": NaN, "step": 0.1}',
        '{"norm": "l7", "eps": 0.1, "step": 0.1}',
        '{"norm": "l2", "eps": 0.5, "step": 0}',
        '{"norm": "l2", "eps": 0.5}',
        '{"norm": "l2", "eps": "x", "step": 0.1}',
        "[0.1]",
        "not json",
    ],
)
def test_a_threat_record_is_used_only_when_an_attack_can_run_at_it(text: str) -> None:
    assert ThreatRecord.from_metadata({"threat": text, "search_eps": "0.1"}) is None


def test_a_threat_record_round_trips_through_model_metadata() -> None:
    record = ThreatRecord("l2", 0.5, 0.1)
    assert ThreatRecord.from_metadata(record.metadata()) == record
    assert ThreatRecord.from_metadata(ThreatRecord.search(0.1).metadata()) == ThreatRecord(
        "linf", 0.1, 0.025
    )
