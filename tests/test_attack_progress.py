"""``neronet attack`` on a CPU: an estimate first, progress that reads in a log, results
saved as they finish, a clean Ctrl-C and a resume that recomputes nothing finished.

Untrained (randomly initialised) digits models keep it fast: few images are
classified correctly, so few are attacked. No clock decides an outcome: the
interrupt comes from an injected progress callback.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from test_posttrain import tiny_spec

from neronet.cli import attack as cli_attack
from neronet.errors import AttackError
from neronet.nn import build
from neronet.robustness import Step

SMALL_AUDIT = (
    "attack.audit.subset=8",
    "attack.audit.square_queries=20",
    "attack.audit.convergence_steps=4",
    "attack.audit.convergence_restarts=2",
    "attack.audit.single_step_probe_steps=2",
)
ATTACK = ("--attacks", "fgsm,pgd-linf", "--steps", 3, "--limit", 80, "--device", "cpu")


def neronet(*argv: object) -> int:
    parser = argparse.ArgumentParser(prog="neronet")
    cli_attack.add_attack_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["attack", *(str(a) for a in argv)])
    return args.func(args)


@pytest.fixture
def models(tmp_path: Path) -> list[Path]:
    """Two differently initialised digits models, as ``neronet export`` writes them."""
    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        weights = {k: v.contiguous() for k, v in build(tiny_spec()).state_dict().items()}
        path = tmp_path / f"m{seed}.safetensors"
        meta = {"spec": tiny_spec().to_json(), "dataset": "digits"}
        save_file(weights, str(path), metadata=meta)
        paths.append(path)
    return paths


def record_steps(monkeypatch: pytest.MonkeyPatch, stop_after_first: bool = False) -> list[Step]:
    """Every progress step the command shows; optionally Ctrl-C after the first finished."""
    seen: list[Step] = []
    show = cli_attack._Display.__call__

    def recording(self: cli_attack._Display, step: Step) -> None:
        show(self, step)
        seen.append(step)
        if stop_after_first and step.finished:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli_attack._Display, "__call__", recording)
    return seen


def test_estimate_is_printed_first_and_estimate_only_stops_there(
    models: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = (*models, "--suite", "paper", "--device", "cpu", "--out", out)
    assert neronet(*argv, "--estimate-only") == 0
    err = capsys.readouterr().err
    assert err.startswith("estimate: about ") and "for 2 model(s) x 80" not in err
    assert "2 model(s) x 359 images on cpu" in err and "ms per image per gradient step" in err
    assert "AutoAttack's later attacks run only on the images still robust" in err
    assert not out.exists()


def test_progress_reads_in_a_log_and_stderr_when_not_a_terminal(
    models: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = (models[0], *SMALL_AUDIT, "--attacks", "pgd-linf,autoattack", "--limit", 40)
    assert neronet(*argv, "--steps", 2, "--device", "cpu", "--out", out) == 0
    err = capsys.readouterr().err
    log = (out / "attack.log").read_text()
    for text in (err, log):
        assert "[1/3] m0: PGD-2 (L-inf) started" in text
        assert "[2/3] m0: AutoAttack (L-inf) apgd-t: 0/1 batches" in text
        assert "still robust" in text and "[2/3] m0: AutoAttack (L-inf) done, saved" in text
        assert "[3/3] m0: audit 2/3: L-inf PGD-4 convergence, restart 2/2" in text
    assert "\x1b[" not in err  # no bar or colour codes in a file


def test_interrupt_keeps_finished_pairs_and_a_rerun_resumes(
    models: list[Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    argv = (*models, *SMALL_AUDIT, *ATTACK)
    whole = tmp_path / "whole"
    assert neronet(*argv, "--out", whole) == 0
    capsys.readouterr()

    out = tmp_path / "cut"
    with monkeypatch.context() as patch:
        record_steps(patch, stop_after_first=True)
        assert neronet(*argv, "--out", out) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"interrupted: 1 finished step(s) kept in '{out / 'pairs'}'" in err.splitlines()[-1]
    assert not (out / "robustness.csv").exists()

    seen = record_steps(monkeypatch)
    assert neronet(*argv, "--out", out) == 0
    cached = [(s.model, s.step) for s in seen if s.cached]
    started = [(s.model, s.step) for s in seen if s.tick is None and not s.finished]
    assert cached == [("m0", "fgsm")] and ("m0", "fgsm") not in started
    assert len(started) == 5  # m0: PGD, audit; m1: FGSM, PGD, audit
    for table in ("robustness.csv", "per_model.csv", "robustness.md"):
        assert (out / table).read_text() == (whole / table).read_text()


def test_an_autoattack_interrupted_mid_ensemble_resumes_at_its_batch(
    models: list[Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C as APGD-T starts keeps APGD-CE's batches (pairs/partial-*.json); the rerun
    starts at APGD-T, ends with the uninterrupted tables and drops the partial file."""
    argv = (models[0], "--attacks", "autoattack", "--limit", 20, "--no-audit", "--device", "cpu")
    whole = tmp_path / "whole"
    assert neronet(*argv, "--out", whole) == 0
    out = tmp_path / "cut"
    show = cli_attack._Display.__call__
    seen: list[Step] = []

    def recording(self: cli_attack._Display, step: Step) -> None:
        show(self, step)
        seen.append(step)
        if step.tick is not None and step.tick.task.endswith("apgd-t") and not stop_done:
            stop_done.append(True)
            raise KeyboardInterrupt

    stop_done: list[bool] = []
    monkeypatch.setattr(cli_attack._Display, "__call__", recording)
    assert neronet(*argv, "--out", out) == 130
    partial = out / "pairs" / "partial-0-autoattack.json"
    assert partial.is_file()
    seen.clear()
    assert neronet(*argv, "--out", out) == 0
    ticks = [s.tick for s in seen if s.tick and s.tick.done < s.tick.total]
    begun = {t.task.split(",")[0].split()[-1] for t in ticks}  # ", batch i/n": inside one
    assert begun == {"apgd-t", "fab-t", "square"}  # APGD-CE's batch is not attacked again
    assert not partial.exists()
    capsys.readouterr()
    for table in ("robustness.csv", "per_model.csv"):
        assert (out / table).read_text() == (whole / table).read_text()


def test_a_resume_with_other_settings_is_refused_naming_the_change(
    models: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    argv = (*models, *ATTACK, "--no-audit", "--out", out)
    seed = ("attack.seed=1", *argv)
    with monkeypatch.context() as patch:
        record_steps(patch, stop_after_first=True)
        assert neronet(*argv) == 130
    with pytest.raises(AttackError) as err:
        neronet(*seed)
    message = str(err.value)
    assert "\n" not in message and "settings.seed 0 -> 1" in message and "--out" in message
    assert neronet(*argv) == 0  # the same command resumes
    assert neronet(*seed) == 0  # a finished suite is replaced


def test_a_suite_stored_before_a_setting_existed_resumes_with_its_old_value(
    models: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A suite interrupted before ``attack.channels_last`` existed attacked in the
    standard layout: it resumes under ``attack.channels_last=false`` (its finished pair
    kept), and the new default is refused naming the setting."""
    out = tmp_path / "out"
    argv = (*models, *ATTACK, "--no-audit", "--out", out)
    with monkeypatch.context() as patch:
        record_steps(patch, stop_after_first=True)
        assert neronet(*argv) == 130
    manifest = out / "pairs" / "manifest.json"
    stored = json.loads(manifest.read_text())
    del stored["identity"]["settings"]["channels_last"]  # as the older version wrote it
    manifest.write_text(json.dumps(stored))
    with pytest.raises(AttackError, match=r"settings\.channels_last false -> true"):
        neronet(*argv)
    seen = record_steps(monkeypatch)
    assert neronet(*models, "attack.channels_last=false", *argv[len(models) :]) == 0
    assert [(s.model, s.step) for s in seen if s.cached] == [("m0", "fgsm")]


def test_quick_sizes_the_suite_and_flags_still_win(models: list[Path]) -> None:
    parser = argparse.ArgumentParser()
    cli_attack.add_attack_command(parser.add_subparsers())
    args = parser.parse_args(["attack", str(models[0]), "--quick", "--limit", "30"])
    settings, _ = cli_attack._attack_settings(args)
    assert settings.limit == 30
    assert settings.audit.subset == cli_attack.QUICK["audit.subset"]
    assert settings.audit.square_queries == cli_attack.QUICK["audit.square_queries"]


def test_the_eta_is_timed_from_where_a_task_was_first_seen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A driven attack's first state inside its batch comes after 250 of 5,000 queries (a
    resumed one later still): its ETA counts the pace from there, not from query 0."""
    import logging

    from rich.console import Console

    from neronet.attacks.running import Tick

    now = [100.0]
    monkeypatch.setattr(cli_attack.time, "monotonic", lambda: now[0])
    display = cli_attack._Display(Console(file=None, quiet=True), logging.getLogger("t"), None)
    lines = []
    for seconds, done in ((0.0, 250), (60.0, 500), (120.0, 750)):
        now[0] = 100.0 + seconds
        tick = Tick("AutoAttack square, batch 1/1", done, 5000, 70, 74, "queries")
        lines.append(display._eta(Step("m", "autoattack", "AutoAttack", 1, 1, tick), tick))
    assert lines == ["", ", ETA 18 min", ", ETA 17 min"]  # 250 queries a minute
