"""The `neronet` command: a tiny real search end to end, its read-only views, and
one-line errors for bad input that create nothing."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
import torch
from onnx.reference import ReferenceEvaluator
from safetensors.torch import load_file

from neronet.cli import main
from neronet.export import spec_from_safetensors
from neronet.nn import build

TINY = [
    "search.generations=2",
    "search.offspring=2",
    "search.initial_size=2",
    "training.max_epochs=1",
    "search.default_train_time=1000",
    "search.max_train_time=3000",
    "data.train=400",
    "data.control=100",
    "data.fitness=100",
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "run"
    assert main(["evolve", "--run", str(path), "--seed", "0", *TINY]) == 0
    return path


def test_evolve_writes_a_complete_run(run_dir: Path) -> None:
    assert (run_dir / "run.sqlite").is_file()
    log = (run_dir / "run.log").read_text()
    assert "gen 1 of 0-1 done" in log and "done: best id" in log
    assert any((run_dir / "weights").iterdir())


def test_status_json_has_the_documented_keys(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", str(run_dir), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["generation"] == 2 and info["finished"] is True
    assert info["individuals"] == 5 and info["seed"] == 0  # 2 + parent again + 2 offspring
    assert isinstance(info["best_fitness"], float)
    assert main(["status", str(run_dir)]) == 0
    assert "finished" in capsys.readouterr().out


def test_best_prints_metrics_and_architecture(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["best", str(run_dir), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["spec"]["num_classes"] == 10 and 0.0 <= info["metrics"]["clean_accuracy"] <= 1.0
    assert main(["best", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert f"best individual {info['id']}" in out and "parameters:" in out


def test_export_python_module_runs_without_neronet_state(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "model.py"
    assert main(["export", str(run_dir), "--out", str(out)]) == 0
    module_spec = importlib.util.spec_from_file_location("exported_model", out)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    exported = module.load_model()
    spec, weights = spec_from_safetensors(tmp_path / "model.safetensors")
    reference = build(spec)
    reference.load_state_dict(weights)
    reference.eval()
    x = torch.rand(4, *spec.input_shape)
    assert torch.equal(exported(x), reference(x))
    ran = subprocess.run([sys.executable, str(out)], capture_output=True, text=True, check=True)
    count = sum(p.numel() for p in reference.parameters())
    assert ran.stdout == f"NeroNet: {count:,} parameters, logits of shape (1, {spec.num_classes})\n"


def test_export_safetensors_and_onnx(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", str(run_dir), "--out", str(tmp_path / "w.safetensors")]) == 0
    assert load_file(str(tmp_path / "w.safetensors"))
    capsys.readouterr()
    assert main(["export", str(run_dir), "--out", str(tmp_path / "m.onnx")]) == 0
    out = capsys.readouterr().out
    assert "[torch.onnx]" not in out and out.count("\n") <= 2  # the exporter's chatter is gone
    model = onnx.load(str(tmp_path / "m.onnx"))
    onnx.checker.check_model(model)
    spec, weights = spec_from_safetensors(tmp_path / "w.safetensors")
    reference = build(spec)
    reference.load_state_dict(weights)
    x = torch.rand(3, *spec.input_shape)
    (logits,) = ReferenceEvaluator(model).run(None, {"input": x.numpy()})
    assert logits.shape == (3, spec.num_classes)
    assert torch.allclose(torch.from_numpy(logits), reference.eval()(x), atol=1e-4)


def test_export_rejects_unknown_suffix_and_pruned_weights(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", str(run_dir), "--out", str(tmp_path / "m.pt")]) == 2
    assert "must end in .py, .safetensors or .onnx" in capsys.readouterr().err
    assert main(["export", str(run_dir), "--id", "999", "--out", str(tmp_path / "m.py")]) == 2
    assert "no individual with id 999" in capsys.readouterr().err


def test_report_writes_plots_and_summary(run_dir: Path, tmp_path: Path) -> None:
    assert main(["report", str(run_dir), "--out", str(tmp_path / "rep")]) == 0
    names = {p.name for p in (tmp_path / "rep").iterdir()}
    assert {"fitness.png", "accuracy.png", "architecture.png", "summary.md"} <= names


def test_show_seed_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show-seed", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["parameters"] == 3_337_482
    assert len(info["units"]) == 23 and info["units"][-1]["output_shape"] == [10]
    assert main(["show-seed"]) == 0
    assert "parameters: 3,337,482" in capsys.readouterr().out


BAD_INPUTS = [
    (["search.offspring=0"], "search.offspring"),
    (["search.offspringz=3"], "unknown key 'search.offspringz'"),
    (["data.dataset=mnist"], "'data.dataset': unknown dataset 'mnist'; choose one of"),
    (["data.dataset=digits", "data.download=true"], "download is only available for cifar10"),
    (["executor.kind=spark"], "unknown executor 'spark'; choose one of local, ray, workers"),
    (["data.dataset=cifar10", "data.path=/nonexistent/cifar"], "/nonexistent/cifar"),
    (["structure.grammar=missing.grammar"], "grammar 'missing.grammar' not found"),
    (["search.default_train_time=10", "search.max_train_time=5"], "max_train_time"),
    (["fitness.warmup_tau=1.5"], "fitness.warmup_tau"),
]


@pytest.mark.parametrize(("overrides", "expected"), BAD_INPUTS)
def test_bad_input_is_one_line_exit_2_and_creates_nothing(
    overrides: list[str], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    assert main(["evolve", "--run", str(run), *overrides]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("neronet: error:") and expected in err
    assert "\n" not in err and "Traceback" not in err
    assert not run.exists()


def test_bad_config_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert main(["evolve", "--config", str(tmp_path / "none.yaml"), "--run", str(run)]) == 2
    assert "not found" in capsys.readouterr().err
    broken = tmp_path / "broken.yaml"
    broken.write_text("seed: [1, 2\nsearch: {")
    assert main(["evolve", "--config", str(broken), "--run", str(run)]) == 2
    assert "not valid YAML" in capsys.readouterr().err
    grammar = tmp_path / "bad.grammar"
    grammar.write_text("<features> ::= layer:conv [num-filters,int,1,64,8]\n")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"data:\n  dataset: digits\nstructure:\n  grammar: {grammar}\n")
    assert main(["evolve", "--config", str(cfg), "--run", str(run)]) == 2
    err = capsys.readouterr().err
    assert "bad.grammar:1" in err and "\n" not in err.strip()
    # a grammar that parses but decodes an impossible value fails before anything exists
    quick = Path(__file__).parents[1] / "src" / "neronet" / "grammars" / "nero-net-quick.grammar"
    grammar.write_text(quick.read_text().replace("[lr,int_power10,1,-3,-1]", "[lr,float,1,-3,-1]"))
    assert main(["evolve", "--config", str(cfg), "--run", str(run)]) == 2
    err = capsys.readouterr().err
    assert "lr=" in err and "must be > 0" in err and "\n" not in err.strip()
    assert not run.exists()


def test_views_of_a_missing_run_fail_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in ("status", "best", "report"):
        assert main([command, str(tmp_path / "nope")]) == 2
        assert "not a neronet run directory" in capsys.readouterr().err


def test_console_script_exits_2_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "neronet.cli", "evolve", "--run", str(tmp_path / "r"), "seed=-1"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "'seed'" in result.stderr


def test_more_bad_inputs_are_one_line_errors(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def fails(argv: list[str], expected: str) -> None:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert expected in err and "\n" not in err and "Traceback" not in err

    binary = tmp_path / "latin1.yaml"
    binary.write_bytes("seed: 1 # caf\xe9\n".encode("latin-1"))
    fails(["evolve", "--config", str(binary), "--run", str(tmp_path / "r")], "not UTF-8")
    afile = tmp_path / "afile"
    afile.write_text("x")
    fails(["evolve", "--run", str(afile), *TINY], "is a file, not a directory")
    fails(["evolve", "--run", str(tmp_path / "r"), "fitness.beta=.inf"], "finite number")
    empty = tmp_path / "empty"
    empty.mkdir()
    sqlite3.connect(empty / "run.sqlite").execute("CREATE TABLE meta(key TEXT, value TEXT)")
    fails(["status", str(empty)], "corrupt or not a run database")
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    for weights in (copy / "weights").iterdir():
        weights.write_bytes(b"\x00garbage")
    fails(["export", str(copy), "--out", str(tmp_path / "m.py")], "is corrupt")
    assert not (tmp_path / "r").exists()


def test_results_go_to_stdout_progress_to_stderr_unwrapped_in_a_pipe(tmp_path: Path) -> None:
    """A log file gets whole lines; generations are numbered as the keys are (from 0)."""
    run = tmp_path / "run"
    argv = [sys.executable, "-m", "neronet.cli", "evolve", "--run", str(run), *TINY]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    assert done.stdout.startswith("done: best id") and "next: neronet best" in done.stdout
    assert "done: best id" not in done.stderr
    rows = [line for line in done.stderr.splitlines() if line.startswith("  g")]
    assert rows and all(re.search(r"\d\.\ds  \S", line) for line in rows)  # mutations kept
    assert "gen 0 of 0-1: " in done.stderr and "gen 1 of 0-1 done" in done.stderr
    assert "  g1/" in done.stderr and "  g2/" not in done.stderr


def test_no_clock_decides_the_quickstart(quickstart_run: Path) -> None:
    """Every individual stops at the epoch cap (or early stop), never the time budget: the
    same seed gives the same run on a loaded machine. (No check of the seconds themselves:
    how long an epoch takes is the machine's business, and this suite beside other work
    once took 30 s for one.)"""
    from neronet.store import RunStore

    rows = [r for r in RunStore.open(quickstart_run, readonly=True).individuals() if r.epochs]
    assert rows and all(r.record["stop_reason"] in ("max_epochs", "early_stop") for r in rows)


def test_a_reader_that_closes_the_pipe_ends_the_command_quietly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``neronet best RUN | head -1``: the write after head exits raised BrokenPipeError
    with a traceback; now the command stops silently with SIGPIPE's status."""

    def reader_gone(args: object) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr("neronet.cli.views.cmd_status", reader_gone)
    assert main(["status", "anywhere"]) == 128 + 13
    assert capsys.readouterr().err == ""
