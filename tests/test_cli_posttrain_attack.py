"""``neronet train`` and ``neronet attack`` end to end on digits, and their user errors."""

from __future__ import annotations

import argparse
import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from test_posttrain import tiny_spec, unbuildable_spec

from neronet.artifact import read_metadata
from neronet.cli import common as cli_common
from neronet.cli import main
from neronet.cli.attack import add_attack_command
from neronet.cli.posttrain import _train_source, add_train_command
from neronet.config import NeroConfig
from neronet.data import Dataset, full_train_test, load_dataset
from neronet.errors import AttackError, ConfigError, DataError, NeronetError, StoreError
from neronet.execution.worker import search_images, search_splits
from neronet.nn import build
from neronet.phenotype import to_spec
from neronet.seeds import nsga_net
from neronet.store import RunStore
from neronet.threat import ThreatRecord


def parse(*argv: object) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="neronet")
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_command(sub)
    add_attack_command(sub)
    return parser.parse_args([str(a) for a in argv])


def neronet(*argv: object) -> int:
    args = parse(*argv)
    return args.func(args)


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "spec.json"
    path.write_text(tiny_spec().to_json())
    return path


TRAIN = (
    "--dataset",
    "digits",
    "--device",
    "cpu",
    "posttrain.amp=off",
    "posttrain.standard.lr=0.05",
)


def test_train_several_seeds_then_attack_them(
    spec_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert (
        neronet("train", "--spec", spec_file, "--epochs", 2, "--seeds", 2, "--out", out, *TRAIN)
        == 0
    )
    assert "mean" in capsys.readouterr().out  # the result on stdout, the progress on stderr
    for seed in (0, 1):
        with safe_open(str(out / f"seed-{seed}" / "model.safetensors"), "pt") as f:
            meta = f.metadata()
        assert meta["dataset"] == "digits" and meta["seed"] == str(seed) and meta["epoch"] == "2"
    log = (out / "train.log").read_text()
    assert "seed 1 (2/2) epoch 2/2" in log and "done: test accuracy" in log
    # Re-running the finished command trains nothing and reports the same seeds.
    assert (
        neronet("train", "--spec", spec_file, "--epochs", 2, "--seeds", 2, "--out", out, *TRAIN)
        == 0
    )
    assert log.count("epoch 2/2") == (out / "train.log").read_text().count("epoch 2/2")

    attack = ("--attacks", "fgsm,pgd-linf", "--linf-eps", 0.15, "--limit", 60, "--device", "cpu")
    assert neronet("attack", out, *attack, "--no-audit") == 0  # dataset from the metadata
    out_text = capsys.readouterr().out  # not a terminal: the table whole, never cut at 80
    assert "robustness over 2 model(s), 60 test images" in out_text and "PGD-20" in out_text
    assert "conditional adv." in out_text and "…" not in out_text
    rows = {r["attack"]: r for r in csv.DictReader((out / "robustness" / "robustness.csv").open())}
    assert set(rows) == {"clean", "FGSM", "PGD-20"}
    assert rows["PGD-20"]["models"] == "2" and rows["PGD-20"]["images"] == "60"
    assert float(rows["PGD-20"]["overall_mean"]) < float(rows["clean"]["clean_mean"])
    assert "seed-1: PGD-20 (L-inf)" in (out / "robustness" / "attack.log").read_text()


def test_settings_file_overrides_and_flags_reach_the_training(
    spec_file: Path, tmp_path: Path
) -> None:
    settings = tmp_path / "train.yaml"
    settings.write_text(
        "posttrain:\n  mode: adversarial\n  adversarial: {eps: 0.1, steps: 2, lr: 0.05}\n"
    )
    out = tmp_path / "adv"
    code = neronet(
        "train",
        "--spec",
        spec_file,
        "--config",
        settings,
        "--epochs",
        1,
        "--seeds",
        1,
        "--first-seed",
        4,
        "--out",
        out,
        "--dataset",
        "digits",
        "--device",
        "cpu",
        "posttrain.adversarial.batch_size=256",
    )
    assert code == 0
    config = json.loads((out / "train.json").read_text())["config"]
    assert config["mode"] == "adversarial" and config["first_seed"] == 4
    assert (
        config["adversarial"] | {"eps": 0.1, "steps": 2, "epochs": 1, "batch_size": 256}
        == (config["adversarial"])
    )
    assert (out / "seed-4" / "model.safetensors").is_file()
    with pytest.raises(StoreError, match="different"):
        neronet("train", "--spec", spec_file, "--epochs", 2, "--seeds", 1, "--out", out, *TRAIN)


def make_run(directory: Path, data: dict[str, object] | None = None) -> None:
    """A run directory holding one evaluated individual, as the search stores it (its
    config's ``data`` section: ``data``, else digits at the paper's split sizes)."""
    spec = tiny_spec()
    store = RunStore.create(directory, {"config": {"data": data or {"dataset": "digits"}}})
    weights = {k: v.contiguous() for k, v in build(spec).state_dict().items()}
    (directory / "weights").mkdir()
    save_file(weights, str(directory / "weights" / "1.safetensors"))
    store.add_individual(
        {
            "id": 1,
            "key": "g0i0",
            "generation": 0,
            "parent_id": None,
            "mutations": [],
            "genotype": "{}",
            "train_time": 1.0,
            "status": "ok",
            "metrics": {},
            "history": [],
            "record": {"spec": spec.to_dict()},
            "weights_path": "weights/1.safetensors",
        }
    )
    store.close()


def test_run_individuals_train_and_attack_with_the_runs_dataset(tmp_path: Path) -> None:
    run = tmp_path / "run"
    make_run(run)
    out = tmp_path / "out"
    assert (
        neronet(
            "train",
            "--run",
            run,
            "--id",
            1,
            "--epochs",
            1,
            "--seeds",
            1,
            "--out",
            out,
            "--device",
            "cpu",
        )
        == 0
    )
    assert json.loads((out / "train.json").read_text())["dataset"] == "digits"
    args = ("--attacks", "fgm", "--limit", 20, "--no-audit", "--device", "cpu", "--out", tmp_path)
    assert neronet("attack", run, "--id", 1, *args) == 0
    assert "individual-1" in (tmp_path / "per_model.csv").read_text()


def test_images_search_retrains_on_the_runs_search_images_only(
    spec_file: Path, tmp_path: Path
) -> None:
    run, out = tmp_path / "run", tmp_path / "out"
    data = {"dataset": "digits", "train": 120, "control": 30, "fitness": 40}
    make_run(run, data)
    config = NeroConfig.model_validate({"data": data})  # the run's config (seed: the default)
    digits = load_dataset("digits")
    chosen = search_images(digits, config)
    splits = search_splits(digits, config)
    assert len(chosen) == 150 and len(set(chosen.tolist())) == 150
    np.testing.assert_array_equal(
        digits.x_train[chosen], np.concatenate([splits.train.x, splits.control.x])
    )
    flags = ("--epochs", 1, "--seeds", 1, "--out", out, "--device", "cpu")
    assert neronet("train", "--run", run, "--id", 1, *flags, "posttrain.images=search") == 0
    assert (
        "training on the run's 150 search train + control images" in (out / "train.log").read_text()
    )
    assert json.loads((out / "train.json").read_text())["images"]
    with pytest.raises(NeronetError) as err:  # the same --out, all images: another training
        neronet("train", "--run", run, "--id", 1, *flags)
    assert "images" in one_line(err)
    with pytest.raises(ConfigError) as err:  # a spec file has no run whose images to take
        neronet("train", "--spec", spec_file, "--dataset", "digits",
                "posttrain.images=search")  # fmt: skip
    assert "pass --run or --study" in one_line(err)


def test_seed_architecture_is_built_for_the_dataset() -> None:
    spec, dataset, run_config = _train_source(
        parse("train", "--seed-arch", "nsga-net", "--dataset", "digits")
    )
    assert run_config is None
    assert dataset.name == "digits"
    assert spec.digest() == to_spec(nsga_net(), (1, 8, 8), 10).digest()


def one_line(err: pytest.ExceptionInfo[Exception]) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


def test_user_errors_are_one_line(spec_file: Path, tmp_path: Path) -> None:
    with pytest.raises(AttackError) as err:
        neronet("attack", spec_file, "--attacks", "fgsm,cw")
    assert "valid attacks: fgsm, pgd-linf, autoattack, fgm, pgd-l2, apgd-l2" in one_line(err)
    with pytest.raises(NeronetError) as err:
        neronet("train", "--spec", spec_file, "--id", 3)
    assert "--run" in one_line(err)
    with pytest.raises(NeronetError) as err:
        neronet("train", "--spec", tmp_path / "missing.json", "--dataset", "digits")
    assert "cannot be read" in one_line(err)
    with pytest.raises(NeronetError) as err:
        neronet("attack", tmp_path)
    assert "neither a .safetensors" in one_line(err)
    with pytest.raises(ConfigError) as err:
        neronet("attack", spec_file, "attack.audit.subset=0")
    assert "audit.subset" in one_line(err)
    export = tmp_path / "export.safetensors"  # `neronet export` output: no dataset recorded
    weights = {k: v.contiguous() for k, v in build(tiny_spec()).state_dict().items()}
    save_file(weights, str(export), metadata={"spec": tiny_spec().to_json()})
    with pytest.raises(NeronetError) as err:
        neronet("attack", export, "--attacks", "fgsm")
    assert "pass --dataset" in one_line(err)
    wide = tmp_path / "wide.json"
    wide.write_text(tiny_spec((3, 32, 32)).to_json())
    with pytest.raises(DataError) as err:
        neronet("train", "--spec", wide, "--dataset", "digits", "--out", tmp_path / "w")
    assert "(3, 32, 32)" in one_line(err)


def test_attacks_naming_nothing_is_an_error(spec_file: Path) -> None:
    for empty in (",", " , ", ""):
        with pytest.raises(AttackError) as err:
            neronet("attack", spec_file, "--attacks", empty)
        assert "names no attack" in one_line(err)


def test_unusable_out_is_a_one_line_error(spec_file: Path, tmp_path: Path) -> None:
    taken = tmp_path / "a-file"
    taken.write_text("not a directory")
    for out in (taken, taken / "below"):
        with pytest.raises(NeronetError) as err:
            neronet("train", "--spec", spec_file, "--out", out, "--epochs", 1, *TRAIN)
        assert str(out) in one_line(err) and "pass --out" in str(err.value)
    (tmp_path / "res" / "attack.log").mkdir(parents=True)  # root ignores permission bits
    model = tmp_path / "m.safetensors"
    weights = {k: v.contiguous() for k, v in build(tiny_spec()).state_dict().items()}
    save_file(weights, str(model), metadata={"spec": tiny_spec().to_json(), "dataset": "digits"})
    with pytest.raises(NeronetError) as err:
        neronet("attack", model, "--attacks", "fgsm", "--limit", 5, "--out", tmp_path / "res")
    assert "attack.log" in one_line(err)


def test_an_unbuildable_architecture_names_its_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(unbuildable_spec().to_json())
    with pytest.raises(NeronetError) as err:
        neronet("train", "--spec", bad, "--out", tmp_path / "out", *TRAIN)
    assert f"'{bad}' cannot be built" in one_line(err) and "pool" in str(err.value)
    assert not (tmp_path / "out" / "train.json").exists()
    model = tmp_path / "bad.safetensors"
    metadata = {"spec": unbuildable_spec().to_json(), "dataset": "digits"}
    save_file({"w": torch.zeros(1)}, str(model), metadata=metadata)
    with pytest.raises(NeronetError) as err:
        neronet("attack", model, "--attacks", "fgsm")
    assert f"'{model}' cannot be built" in one_line(err)


def test_a_train_only_dataset_is_trained_and_attacked_on_the_same_held_out_images(
    spec_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Like the offline CIFAR-10 zip: both commands hold out the same 20% of train."""
    digits = load_dataset("digits")
    train_only = Dataset("digits", digits.x_train, digits.y_train, digits.classes)
    monkeypatch.setattr(cli_common, "load_dataset", lambda name, path=None: train_only)
    out = tmp_path / "out"
    once = ("--epochs", 2, "--seeds", 1)
    assert neronet("train", "--spec", spec_file, *once, "--out", out, *TRAIN) == 0
    _, held = full_train_test(train_only, 0.2, 0)
    said = f"{len(held)} of its {len(digits.y_train)} training images"
    assert said in capsys.readouterr().err and said in (out / "train.log").read_text()
    [trained] = csv.DictReader((out / "train_results.csv").open())
    assert neronet("attack", out, "--attacks", "fgsm", "--no-audit", "--device", "cpu") == 0
    assert said in capsys.readouterr().err
    [clean, _] = csv.DictReader((out / "robustness" / "robustness.csv").open())
    assert clean["images"] == str(len(held))
    assert float(clean["clean_mean"]) == pytest.approx(float(trained["test_accuracy"]), abs=1e-6)


def test_the_runs_threat_model_carries_over_to_train_and_attack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"  # searched at fitness.attack_eps 0.1 (8/255 is below a digit's grey)
    shutil.copytree(Path(__file__).parent / "fixtures" / "v1-run", run)
    out = tmp_path / "adv"
    args = ("--run", run, "--mode", "adversarial", "--epochs", 1, "--seeds", 1, "--out", out)
    assert neronet("train", *args, "--device", "cpu") == 0
    assert "adversarial training at the run's search eps 0.1" in capsys.readouterr().err
    adversarial = json.loads((out / "train.json").read_text())["config"]["adversarial"]
    assert (adversarial["eps"], adversarial["alpha"]) == (0.1, 0.025)
    meta = read_metadata(out / "seed-0" / "model.safetensors")
    assert ThreatRecord.from_metadata(meta) == ThreatRecord("linf", 0.1, 0.025)
    limit = ("--attacks", "fgsm", "--limit", 10, "--no-audit", "--device", "cpu")
    assert neronet("attack", out, *limit, "--out", tmp_path / "a") == 0
    assert "L-inf eps 0.1: the search's own threat model" in capsys.readouterr().err
    assert neronet("attack", out, *limit, "--linf-eps", 0.2, "--out", tmp_path / "b") == 0
    assert "own threat model" not in capsys.readouterr().err  # an explicit choice wins


def test_train_shows_defaults_its_plan_and_names_flags_in_errors(
    spec_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        neronet("train", "--help")
    helptext = " ".join(capsys.readouterr().out.split())
    assert "default: the paper's 10" in helptext and "350 standard, 200 adversarial" in helptext
    out = tmp_path / "o"
    assert (
        neronet("train", "--spec", spec_file, "--epochs", 1, "--seeds", 1, "--out", out, *TRAIN)
        == 0
    )
    err = capsys.readouterr().err
    assert "plan: standard training, 1 seed(s) x 1 epochs" in err and "estimate: about" in err
    with pytest.raises(ConfigError, match=r"--epochs \(posttrain.standard.epochs\)"):
        neronet("train", "--spec", spec_file, "--epochs", 0, *TRAIN)
    with pytest.raises(ConfigError, match=r"did you mean 'posttrain\.standard\.lr'"):
        neronet("train", "--spec", spec_file, *TRAIN, "posttrain.standard.lrr=0.1")


def test_an_exported_individual_is_attacked_without_naming_its_dataset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The export carries the run's dataset and search eps, as the run directory does:
    ``attack FILE`` needed ``--dataset`` before."""
    run = tmp_path / "run"  # digits, searched at fitness.attack_eps 0.1
    shutil.copytree(Path(__file__).parent / "fixtures" / "v1-run", run)
    model = tmp_path / "best.safetensors"
    assert main(["export", str(run), "--out", str(model)]) == 0
    meta = read_metadata(model)
    assert meta["dataset"] == "digits" and "search_eps" not in meta  # one record, no repr
    assert ThreatRecord.from_metadata(meta) == ThreatRecord("linf", 0.1, 0.025)
    limit = ("--attacks", "fgsm", "--limit", 10, "--no-audit", "--device", "cpu")
    assert neronet("attack", model, *limit, "--out", tmp_path / "a") == 0
    assert "L-inf eps 0.1: the search's own threat model" in capsys.readouterr().err


def test_an_old_model_file_is_attacked_by_the_black_box_attacks_at_its_search_eps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A model file from before the threat record (its radius a ``repr`` string) still sets
    the radius; the catalogue's black-box attacks run on it by name, with their own
    ``blackbox`` section (L-inf: the radius in whole grey levels; L0: pixels)."""
    run = tmp_path / "run"  # digits, searched at fitness.attack_eps 0.1
    shutil.copytree(Path(__file__).parent / "fixtures" / "v1-run", run)
    model = tmp_path / "best.safetensors"
    assert main(["export", str(run), "--out", str(model)]) == 0
    with safe_open(model, "pt") as f:
        tensors = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118
    meta = read_metadata(model)
    old = tmp_path / "old.safetensors"
    save_file(
        tensors, old, {**{k: v for k, v in meta.items() if k != "threat"}, "search_eps": "0.1"}
    )
    budget = ("blackbox.popsize=10", "blackbox.iterations=3", "blackbox.l0_pixels=2")
    args = ("--attacks", "de-linf,cmaes-l0", "--limit", 8, "--no-audit", "--device", "cpu")
    assert neronet("attack", old, *budget, *args, "--out", tmp_path / "a") == 0
    assert "L-inf eps 0.1: the search's own threat model" in capsys.readouterr().err
    rows = {r["attack"]: r for r in csv.DictReader((tmp_path / "a" / "robustness.csv").open())}
    assert (rows["DE black-box"]["threat"], rows["DE black-box"]["eps"]) == ("L-inf", "0.1")
    assert (rows["CMA-ES black-box"]["threat"], rows["CMA-ES black-box"]["eps"]) == ("L0", "2")
    log = (tmp_path / "a" / "attack.log").read_text()
    assert "blackbox {'popsize': 10, 'iterations': 3, 'l0_pixels': 2}" in log


def test_a_model_file_is_named_by_its_folder_or_stem_never_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from neronet.cli.attack import display_name

    assert display_name(Path("runs/x/seed-3/model.safetensors")) == "seed-3"
    assert display_name(Path("best.safetensors")) == "best"
    monkeypatch.chdir(tmp_path)
    assert display_name(Path("model.safetensors")) == tmp_path.name  # was ''
