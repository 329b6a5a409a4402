"""The Python API refuses wrong arguments with the library's own exceptions and one line
naming the argument, instead of silent nonsense or a deep torch error."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers_replay import golden_run
from safetensors.torch import save_file
from torch import nn

import neronet
from neronet.cli import main
from neronet.errors import ConfigError, InputError, StoreError
from neronet.store import RunStore

FAST = {"audit": {"enabled": False}}


class Scaled(nn.Module):
    """A linear classifier on 8x8 images whose logits are multiplied by ``factor``."""

    def __init__(self, classes: int = 10, factor: float = 1.0) -> None:
        super().__init__()
        self.fc = nn.Linear(64, classes)
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1)) * self.factor


class Flat(Scaled):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x)[:, 0]


class Broken(Scaled):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise ZeroDivisionError("the user's bug")


# Seeded here: the global RNG state at collection time depends on which modules pytest
# imported first, and the refusal messages quote the images' value range.
X = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
Y = torch.arange(16) % 10


@pytest.mark.parametrize(
    ("model", "x", "y", "needle"),
    [
        (Scaled(factor=float("nan")), X, Y, "non-finite logits"),  # was 100 % robust
        (Scaled(), X * 255, Y, "x must be images in [0, 1], got values in ["),
        (Scaled(), X - 1, Y, "images in [0, 1]"),
        (Scaled(), X[:0], Y[:0], "holds no images"),
        (Scaled(), X, torch.full((16,), 99), "labels 99..99, but the model returns 10 logits"),
        (Scaled(classes=3), X, Y, "returns 3 logits per image"),
        (Scaled(), X.flatten(1), Y, "(N, C, H, W)"),
        (Scaled(), X, Y.float(), "integer class labels"),
        (Flat(), X, Y, "must return logits (N, classes)"),  # was IndexError
        (Scaled(), X, Y[:10], "16 images but y 10 labels"),  # was RuntimeError
        (Scaled(), (X * 255).to(torch.uint8), Y, "dtype torch.uint8; use x / 255"),
        (Scaled(), X.numpy(), Y, "x must be a torch.Tensor"),
        ("model", X, Y, "model must be a torch nn.Module"),
    ],
)
def test_evaluate_refuses_wrong_inputs(model: object, x: object, y: object, needle: str) -> None:
    with pytest.raises(InputError) as info:
        neronet.evaluate(model, x, y, suite="fast", linf_eps=0.1, **FAST)  # type: ignore[arg-type]
    assert needle in str(info.value) and "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_evaluate_names_a_model_that_raises_and_keeps_its_error() -> None:
    with pytest.raises(InputError, match="the model raised ZeroDivisionError") as info:
        neronet.evaluate(Broken(), X, Y, suite="fast", **FAST)
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_evaluate_refuses_an_eps_beyond_the_image_range() -> None:
    with pytest.raises(ConfigError, match=r"'linf_eps'.*less than or equal to 1"):
        neronet.evaluate(Scaled(), X, Y, suite="fast", linf_eps=2, **FAST)


def test_evaluate_takes_an_attacks_own_section_by_its_key() -> None:
    with pytest.raises(ConfigError, match=r"invalid value for 'blackbox\.iterations'"):
        neronet.evaluate(
            Scaled(), X, Y, suite=None, attacks=["de-linf"], blackbox={"iterations": 0}
        )
    budget = {"popsize": 5, "iterations": 2, "l0_pixels": 2}
    report = neronet.evaluate(
        Scaled(), X, Y, suite=None, attacks=["de-l0"], blackbox=budget, limit=4, **FAST
    )
    [row] = [line for line in str(report).splitlines() if "DE black-box" in line]
    assert row.split()[:4] == ["L0", "DE", "black-box", "2"]  # the section's radius


def test_create_run_refuses_a_config_of_the_wrong_kind(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"config must be a YAML file path, .* got int"):
        neronet.create_run(tmp_path / "r", config=123)  # type: ignore[arg-type]


def test_optimize_never_mixes_into_a_foreign_directory(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(StoreError, match="non-empty directory that holds no neronet run"):
        neronet.create_run(mine).optimize()
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_weights_of_another_network_are_named_not_a_size_mismatch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = golden_run(tmp_path / "run")
    store = RunStore.open(run, readonly=True)
    best = store.best()
    store.close()
    assert best is not None and best.weights_path is not None
    save_file({"fc.weight": torch.zeros(10, 64)}, str(run / best.weights_path))
    with pytest.raises(StoreError, match=f"weights of individual {best.id} .* do not fit"):
        neronet.open_run(run).model()
    assert main(["export", str(run), "--out", str(tmp_path / "m.safetensors")]) == 2
    assert "do not fit its architecture" in capsys.readouterr().err
    assert not (tmp_path / "m.safetensors").exists()
