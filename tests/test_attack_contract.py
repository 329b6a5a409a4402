"""The attack contract, for every attack in the catalogue (gradient, AutoAttack and the
black-box DE / CMA-ES ones): whatever it shows the model stays in the ball of its
radius around an original image (L-inf, L2 or L0) and in [0, 1], and it runs through
its own hooks (run, work, audit role, radius) without the suite knowing what kind of
attack it is.

A new attack joins these tests by registering; registering one does not put it in the
paper's suite (Table 2 is an explicit list).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch import nn

from neronet.attacks import ATTACKS, AttackSpec
from neronet.attacks.blackbox_settings import BlackBoxSettings
from neronet.attacks.builtin import one_step, run_single_step
from neronet.attacks.gradient import fgsm
from neronet.config import AttackSettings
from neronet.robustness import adversarial_correct, select_attacks
from neronet.robustness.estimate import estimate_suite

TOLERANCE = 1e-5
SETTINGS = {"linf_eps": 0.1, "l2_eps": 0.5, "steps": 5, "batch_size": 3}
BLACKBOX = BlackBoxSettings(popsize=10, iterations=10, l0_pixels=3)
"""A budget that fools the toy model within a second."""


class Recorder(nn.Module):
    """Passes through to ``model``, keeping the inputs it is shown without gradients: the
    images whose predictions decide robustness (AutoAttack's own probes of the model
    while it attacks are not candidates)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_grad_enabled():
            self.seen.append(x.detach().flatten(1).clone())
        return self.model(x)


@pytest.fixture(scope="module")
def images() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A random linear classifier with large weights: every eps here flips its answers,
    so AutoAttack's first attack breaks every image and the test stays fast."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).eval()
    nn.init.normal_(model[1].weight)
    x = torch.rand(6, 1, 8, 8)
    with torch.no_grad():
        y = model(x).argmax(1)  # every image classified "correctly": all are attacked
    return model, x, y


def _distance(
    seen: torch.Tensor, originals: torch.Tensor, threat: str, channels: int
) -> torch.Tensor:
    """Per seen image, its distance to the closest original under the threat's norm (L0:
    pixels changed in any channel)."""
    gaps = seen[:, None, :] - originals[None, :, :]
    if threat == "l0":
        pixels = gaps.unflatten(-1, (channels, -1)).ne(0).any(dim=-2)
        norms = pixels.sum(-1).float()
    else:
        norms = gaps.abs().amax(-1) if threat == "linf" else gaps.norm(dim=-1)
    return norms.min(dim=1).values


@pytest.mark.parametrize("name", ATTACKS.names())
def test_an_attack_stays_in_its_eps_ball_and_in_0_1(
    name: str, images: tuple[nn.Module, torch.Tensor, torch.Tensor]
) -> None:
    model, x, y = images
    attack = ATTACKS.get(name)
    settings = AttackSettings(**SETTINGS).with_sections({"blackbox": BLACKBOX})
    radius = attack.radius(settings)
    recorder = Recorder(model)
    robust = adversarial_correct(
        recorder, x, y, torch.ones(len(y), dtype=torch.bool), attack, settings
    )
    assert robust.shape == y.shape and robust.dtype == torch.bool and not robust.all(), name
    seen = torch.cat(recorder.seen)
    originals = x.flatten(1)
    assert seen.min() >= 0 and seen.max() <= 1, name
    distance = _distance(seen, originals, attack.threat, x.shape[1])
    assert distance.max() <= radius + TOLERANCE, name
    assert distance.max() > radius / 10, f"{name} never perturbed an image"
    parts = attack.work(model, attack, settings, 10)
    assert parts and all(len(p) == 3 and min(p) >= 0 and sum(p) > 0 for p in parts), name


@pytest.fixture
def toy_attack() -> Iterator[AttackSpec]:
    """A toy attack registered from outside the package: FGSM of a blurred gradient."""

    def blurred_fgsm(
        model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float
    ) -> torch.Tensor:
        return fgsm(model, x, y, eps)

    spec = AttackSpec(
        "toy-fgsm", "linf", "Toy", run_single_step, one_step, "single-step", blurred_fgsm
    )
    ATTACKS.register(spec.name, spec)
    yield spec
    ATTACKS.unregister(spec.name)


def test_a_registered_attack_runs_but_does_not_join_the_paper_suite(
    toy_attack: AttackSpec, images: tuple[nn.Module, torch.Tensor, torch.Tensor]
) -> None:
    model, x, y = images
    assert "toy-fgsm" not in [a.name for a in select_attacks("paper")]
    [toy] = select_attacks(None, ["toy-fgsm"])
    settings = AttackSettings(linf_eps=0.1, audit={"enabled": False})
    estimate = estimate_suite(model, x, y, [toy], settings, models=1)
    assert estimate.high >= estimate.low > 0
