"""The transfer set: file round trip and composition table, the ``transfer`` measurement,
the ``ras`` objective, the run-opening checks (one-line errors, nothing written) and
``neronet transfer-set`` end to end on digits."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors import safe_open
from torch import nn

from neronet.cli import main
from neronet.config import NeroConfig, grammar_text, load_config, parse_config
from neronet.errors import ConfigError, TransferSetError
from neronet.evaluation.measurements import MEASUREMENTS, Trained
from neronet.evaluation.objectives import OBJECTIVES
from neronet.evaluation.result import Outcome
from neronet.plugins import check_plugins
from neronet.store import RunStore
from neronet.transfer import run as transfer_run
from neronet.transfer.artifact import (
    TransferSet,
    composition_table,
    read_transfer_set,
    write_transfer_set,
)

TABLES = {
    "source": ["resnet", "adversarial"],
    "attack": ["l0", "linf"],
    "optimiser": ["de", "cmaes"],
}
CELLS = [  # (source, optimiser, attack, threshold, pixel value, label)
    ("resnet", "de", "l0", 1, 200, 1),
    ("resnet", "de", "l0", 1, 10, 0),
    ("resnet", "cmaes", "linf", 3, 250, 0),
    ("adversarial", "de", "l0", 3, 30, 1),
]


def hand_set(shape: tuple[int, int, int] = (1, 8, 8), num_classes: int = 10) -> TransferSet:
    samples = [
        {
            "image": torch.full(shape, value, dtype=torch.uint8),
            "label": label,
            "source": source,
            "attack": attack,
            "threshold": th,
            "optimiser": optimiser,
        }
        for source, optimiser, attack, th, value, label in CELLS
    ]
    info = {"transfer": {"thresholds": [1, 3]}}
    return TransferSet.from_samples(samples, shape, TABLES, "digits", num_classes, info)


def test_round_trip_keeps_samples_provenance_and_checksum(tmp_path: Path) -> None:
    path = tmp_path / "set.safetensors"
    sha = write_transfer_set(path, hand_set())
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()
    assert [p.name for p in tmp_path.iterdir()] == ["set.safetensors"]  # no temporary left
    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata()
    assert meta["format"] == "neronet-transfer-set" and meta["format_version"] == "1"
    assert json.loads(meta["image_shape"]) == [1, 8, 8] and meta["num_classes"] == "10"
    assert json.loads(meta["tables"]) == TABLES and meta["dataset"] == "digits"
    back, back_sha = read_transfer_set(path)
    assert back_sha == sha and len(back) == 4
    assert back.labels.tolist() == [1, 0, 0, 1]
    assert back.images[:, 0, 0, 0].tolist() == [200, 10, 250, 30]
    assert back.threshold.tolist() == [1, 1, 3, 3]
    assert back.source.tolist() == [0, 0, 0, 1] and back.optimiser.tolist() == [0, 0, 1, 0]
    assert write_transfer_set(tmp_path / "again.safetensors", back) == sha  # canonical bytes


def test_composition_table_counts_by_hand() -> None:
    lines = composition_table(hand_set()).splitlines()
    assert lines[0] == "| Model | Optimiser | l0 th=1 | l0 th=3 | linf th=1 | linf th=3 | Total |"
    assert lines[2:] == [
        "| resnet | de | 2 | 0 | 0 | 0 | 2 |",
        "| resnet | cmaes | 0 | 0 | 0 | 1 | 1 |",
        "| adversarial | de | 0 | 1 | 0 | 0 | 1 |",
        "| adversarial | cmaes | 0 | 0 | 0 | 0 | 0 |",
        "| Total |  | 2 | 1 | 0 | 1 | 4 |",
    ]


class Threshold(nn.Module):
    """Class 1 when the first pixel is above 0.5, else class 0."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bright = (x[:, 0, 0, 0] > 0.5).float()
        return torch.stack([1 - bright, bright], dim=1)


def test_measurement_is_the_accuracy_on_the_set(tmp_path: Path) -> None:
    path = tmp_path / "set.safetensors"
    write_transfer_set(path, hand_set(num_classes=2))
    # predictions 1, 0, 1, 0 against labels 1, 0, 0, 1: two of four right
    config = NeroConfig()
    trained = Trained(
        spec=None,  # type: ignore[arg-type]
        model=Threshold(),
        data=SimpleNamespace(device=torch.device("cpu")),  # type: ignore[arg-type]
        fitness=config.fitness,
        training=config.training.model_copy(update={"channels_last": False}),
        amp=None,
        predictions=None,
        transfer_set=str(path),
    )
    assert MEASUREMENTS.get("transfer").fn(trained) == {"transfer_accuracy": 0.5}
    trained.transfer_set = None
    with pytest.raises(ConfigError, match=r"evaluation\.transfer_set"):
        MEASUREMENTS.get("transfer").fn(trained)


def test_ras_fitness_is_clean_plus_transfer_accuracy() -> None:
    config = parse_config(
        {"search": {"objective": "ras"}, "evaluation": {"measurements": ["clean", "transfer"]}}
    )
    objective = OBJECTIVES.get("ras")(config)
    metrics = {"clean_accuracy": 0.75, "transfer_accuracy": 0.25}
    assert objective.fitness(Outcome(0, "ok", metrics)) == 1.0
    assert objective.fitness(Outcome(1, "ill-fitted", metrics)) == 0.0


def test_config_allows_both_robustness_measures_with_both_objectives() -> None:
    for objective in ("ras", "nero-net"):
        measurements = ["clean", "fgsm", "transfer"]
        config = parse_config(
            {"search": {"objective": objective}, "evaluation": {"measurements": measurements}}
        )
        assert config.evaluation.measurements == tuple(measurements)
    with pytest.raises(ConfigError, match="transfer_accuracy"):
        check_plugins(parse_config({"search": {"objective": "ras"}}))


# ------------------------------------------------------------------ opening a run
RAS = ["search.objective=ras", "evaluation.measurements=[clean,transfer]"]


def evolve_fails(capsys: pytest.CaptureFixture[str], run: Path, *overrides: str) -> str:
    assert main(["evolve", "--run", str(run), *RAS, *overrides]) == 2
    err = capsys.readouterr().err
    assert err.startswith("neronet: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def test_bad_sets_are_refused_before_the_run_exists(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    shape = tmp_path / "shape.safetensors"
    write_transfer_set(shape, hand_set(shape=(3, 8, 8)))
    classes = tmp_path / "classes.safetensors"
    write_transfer_set(classes, hand_set(num_classes=2))
    cases = {
        tmp_path / "missing.safetensors": "cannot be read",
        corrupt: "is not a valid transfer set",
        shape: "holds (3, 8, 8) images",
        classes: "of 2 classes",
    }
    for path, message in cases.items():
        err = evolve_fails(capsys, run, f"evaluation.transfer_set={path}")
        assert message in err and "transfer-set" in err
        assert not run.exists()


def test_a_resume_with_another_set_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    given = tmp_path / "set.safetensors"
    write_transfer_set(given, hand_set())
    config = load_config(None, [*RAS, f"evaluation.transfer_set={given}"])
    text, name = grammar_text(config)
    run = tmp_path / "run"
    meta = {"config": config.model_dump(mode="json"), "grammar": text, "grammar_name": name}
    RunStore.create(run, {**meta, transfer_run.META_KEY: "0" * 64}).close()
    stored = (run / "run.sqlite").read_bytes()
    err = evolve_fails(capsys, run)
    assert "is not the set this run was measured with" in err
    # the writer lock and SQLite's read sidecars aside, nothing was written
    assert (run / "run.sqlite").read_bytes() == stored
    extra = {p.name for p in run.iterdir()} - {"run.sqlite", "neronet.lock"}
    assert extra <= {"run.sqlite-wal", "run.sqlite-shm"}, extra


def test_run_builds_its_own_set_once_and_records_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[Path] = []

    def fake_build(config: NeroConfig, out: Path) -> str:
        built.append(out)
        return write_transfer_set(out, hand_set())

    monkeypatch.setattr("neronet.transfer.build.make_transfer_set", fake_build)
    run = tmp_path / "run"
    config = transfer_run.workers_config(load_config(None, RAS), run)
    assert config.evaluation.transfer_set == str((run / transfer_run.RUN_SET).resolve())
    assert transfer_run.check_transfer_set(config, run) is None  # not built yet
    store = RunStore.create(run, {"config": {}})
    transfer_run.ensure_transfer_set(config, store, None)
    sha = store.meta(transfer_run.META_KEY)
    assert built == [run / transfer_run.RUN_SET] and sha == read_transfer_set(built[0])[1]
    store.close()
    assert transfer_run.check_transfer_set(config, run) == sha  # a resume reuses it
    empty = TransferSet.from_samples([], (1, 8, 8), TABLES, "digits", 10, {})
    write_transfer_set(built[0], empty)
    with pytest.raises(TransferSetError, match="holds no samples"):
        transfer_run.check_transfer_set(config, run)


def test_an_interrupted_build_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from neronet.transfer import build

    def interrupted(self: TransferSet) -> bytes:
        raise KeyboardInterrupt

    monkeypatch.setattr(build, "build_transfer_set", lambda config, work, progress: hand_set())
    monkeypatch.setattr(TransferSet, "to_bytes", interrupted)
    out = tmp_path / "set.safetensors"
    with pytest.raises(KeyboardInterrupt):
        build.make_transfer_set(NeroConfig(), out)
    assert list(tmp_path.iterdir()) == []


def test_a_study_needs_an_explicit_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study = tmp_path / "study"
    assert main(["study", "--dir", str(study), *RAS]) == 2
    err = capsys.readouterr().err
    assert "share one transfer set" in err and err.count("\n") == 1
    assert not study.exists()


TINY_SET = [
    "transfer.sources=[resnet]",
    "transfer.epochs=3",
    "transfer.images=3",
    "transfer.thresholds=[10]",
    "transfer.de.popsize=10",
    "transfer.de.iterations=3",
    "transfer.cmaes.popsize=10",
    "transfer.cmaes.iterations=3",
    "posttrain.standard.batch_size=32",
    "posttrain.standard.lr=0.1",
]


def test_transfer_set_command_end_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "t.safetensors"
    assert main(["transfer-set", "--out", str(out), *TINY_SET, "transfer.whitebox=true"]) == 0
    captured = capsys.readouterr()
    tset, sha = read_transfer_set(out)
    assert tset.dataset == "digits" and tset.image_shape == (1, 8, 8) and tset.num_classes == 10
    assert tset.tables["source"] == ["resnet"] and set(tset.threshold.tolist()) <= {10}
    assert tset.tables["optimiser"] == ["de", "cmaes", "pgd"]
    table = composition_table(tset)
    assert table in captured.out and table in (tmp_path / "t.safetensors.md").read_text()
    assert sha in captured.err
    assert "resnet: linf th=10 cmaes: " in (tmp_path / "t.safetensors.log").read_text()
    assert len(tset) > 0 and table.splitlines()[-1].endswith(f"| {len(tset)} |")


def test_evolve_builds_the_runs_own_set_and_a_resume_checks_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    tiny_search = [
        "search.generations=1",
        "search.offspring=1",
        "search.initial_size=1",
        "training.max_epochs=1",
        "transfer.attacks=[l0]",
        "transfer.optimisers=[de]",
    ]
    assert main(["evolve", "--run", str(run), *RAS, *tiny_search, *TINY_SET]) == 0
    own = run / transfer_run.RUN_SET
    store = RunStore.open(run, readonly=True)
    recorded, stored = store.meta(transfer_run.META_KEY), store.meta("config")
    rows = store.individuals()
    store.close()
    assert recorded == read_transfer_set(own)[1]
    assert stored["evaluation"]["transfer_set"] is None  # the run can move
    measured = [row for row in rows if row.status != "invalid"]  # ill-fitted ones too
    assert measured and all("transfer_accuracy" in row.metrics for row in measured)
    write_transfer_set(own, hand_set())  # another set where the run's was
    capsys.readouterr()
    assert main(["evolve", "--run", str(run)]) == 2
    assert "is not the set this run was measured with" in capsys.readouterr().err


def test_off_a_terminal_building_a_set_prints_one_line_per_step() -> None:
    import io

    from rich.console import Console

    from neronet.progress import progress_bar
    from neronet.transfer.build import on_bar

    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)
    with progress_bar(console) as bar:
        report = on_bar(bar)
        report("training source resnet", 0, 3)
        report("training source resnet", 0, 3)  # the same step again: no new line
        report("attacking with de l0", 1, 3)
    assert [line for line in out.getvalue().splitlines() if line] == [
        "transfer set: training source resnet (0/3)",
        "transfer set: attacking with de l0 (1/3)",
    ]
