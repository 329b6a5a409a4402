"""Model files from elsewhere are validated before use, and `neronet train` refuses
absurd seed counts, epochs and devices before it writes anything (`train.log`, the
--out lock); a second `train` on one --out is refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from test_posttrain import tiny_spec

from neronet.artifact import MAX_SPEC_BYTES, spec_from_text
from neronet.cli import main
from neronet.errors import NeronetError

TINY_JSON = tiny_spec().to_json()
BAD_SPECS = {
    "{}": "invalid at input_shape (Field required)",
    TINY_JSON.replace('"input_shape": [1, 8, 8]', '"input_shape": ["1", 8, 8]'): (
        "invalid at input_shape.0 (Input should be a valid integer)"
    ),
    TINY_JSON.replace('"num_classes": 10', '"num_classes": true'): "invalid at num_classes",
    TINY_JSON.replace('"units": 10', '"units": [10]'): "invalid at nodes.2.layers.1.params.units",
    TINY_JSON.replace('"num_classes": 10', '"num_classes": 10, "extra": 1'): "invalid at extra",
    "[" * 100_000 + "]" * 100_000: "nested too deeply",
    "x" * (MAX_SPEC_BYTES + 1): f"{MAX_SPEC_BYTES + 1:,} bytes, more than",
    "not json": "is not JSON",
}


def one_line_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("neronet: error:") and "\n" not in err and "Traceback" not in err
    return err


def model_file(path: Path, spec_text: str | None) -> Path:
    metadata = {"dataset": "digits"} if spec_text is None else {"spec": spec_text}
    save_file({"w": torch.zeros(1)}, str(path), metadata=metadata)
    return path


@pytest.mark.parametrize(("text", "expected"), list(BAD_SPECS.items()))
def test_bad_specs_in_model_files_are_one_line_errors(
    text: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = model_file(tmp_path / "m.safetensors", text)
    out = tmp_path / "out"
    for argv in (
        ["attack", str(model), "--attacks", "fgsm", "--dataset", "digits", "--out", str(out)],
        ["train", "--spec", str(model), "--dataset", "digits", "--out", str(out)],
    ):
        err = one_line_error(argv, capsys)
        assert f"'{model}'" in err and expected in err
    as_json = tmp_path / "spec.json"
    as_json.write_text(text)
    err = one_line_error(["train", "--spec", str(as_json), "--dataset", "digits"], capsys)
    assert expected in err
    assert not out.exists() and not (tmp_path / "m-robustness").exists()


def test_model_files_without_a_spec_or_not_safetensors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = model_file(tmp_path / "m.safetensors", None)
    err = one_line_error(["attack", str(model), "--attacks", "fgsm"], capsys)
    assert "has no neronet spec in its metadata" in err
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\xff" * 64)
    err = one_line_error(["train", "--spec", str(junk), "--dataset", "digits"], capsys)
    assert "is not a valid safetensors file" in err


def test_a_valid_spec_round_trips() -> None:
    assert spec_from_text(TINY_JSON, "'t.json'") == tiny_spec()
    with pytest.raises(NeronetError, match=r"'t\.json' is invalid at nodes"):
        spec_from_text(json.dumps({**tiny_spec().to_dict(), "nodes": "x"}), "'t.json'")


@pytest.fixture
def spec_json(tmp_path: Path) -> Path:
    path = tmp_path / "spec.json"
    path.write_text(TINY_JSON)
    return path


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--seeds", "1000000000"], "seeds=1000000000 is more than 1,000 seeds; pass --seeds"),
        (["--epochs", "100000000"], "standard epochs=100000000 is more than 100,000"),
        (["--mode", "adversarial", "--epochs", "100001"], "adversarial epochs=100001"),
        (["--first-seed", str(2**31 - 1), "--seeds", "2"], "first_seed=2147483647"),
        (
            ["--device", "cuda:7"] if not torch.cuda.is_available() else ["--device", "nope"],
            "device",
        ),
    ],
)
def test_absurd_train_arguments_write_nothing(
    flags: list[str],
    expected: str,
    spec_json: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    argv = ["train", "--spec", str(spec_json), "--dataset", "digits", "--out", str(out), *flags]
    assert expected in one_line_error(argv, capsys)
    assert not out.exists()


# Holds the --out lock of argv[1] until its stdin closes; says so once it holds it.
HOLDER = """
import sys
from neronet.runlock import writer_lock
with writer_lock(sys.argv[1], "--out"):
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_a_second_train_on_one_out_is_refused(
    spec_json: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        argv = ["train", "--spec", str(spec_json), "--dataset", "digits", "--out", str(out)]
        err = one_line_error([*argv, "--device", "cpu"], capsys)
        assert (
            f"--out '{out}' is being written by another neronet process (pid {holder.pid})" in err
        )
        assert not (out / "train.log").exists()
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_an_oversized_architecture_file_is_refused_before_out_exists(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    huge = tmp_path / "huge.json"
    huge.write_text(TINY_JSON.replace('"filters": 32', '"filters": 100000000'))
    out = tmp_path / "out"
    argv = ["train", "--spec", str(huge), "--dataset", "digits", "--out", str(out)]
    assert "more than the limit of 100,000,000" in one_line_error(argv, capsys)
    assert not out.exists()
