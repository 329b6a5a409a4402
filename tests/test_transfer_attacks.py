"""Black-box L0 and L-inf attacks (DE, CMA-ES): they fool a weak model and never exceed
their budget, counted on the uint8 images they return."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from neronet.attacks.blackbox import Budget, blackbox_attack, decode
from neronet.errors import AttackError

GREY = 100
"""Every pixel of the attacked 1x8x8 image."""


class Brightness(nn.Module):
    """Class 0 unless the image is brighter than the attacked one (all ``GREY``) by more
    than ``margin`` grey levels summed over its pixels: one pixel set high (L0) or all
    pixels raised a little (L-inf) flips it."""

    def __init__(self, margin: float) -> None:
        super().__init__()
        self.margin = margin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        excess = x.flatten(1).sum(1) * 255 - GREY * x[0].numel() - self.margin
        return torch.stack([torch.zeros_like(excess), excess / 10], dim=1)


def changed_pixels(adv: torch.Tensor, image: torch.Tensor) -> int:
    return int((adv.int() - image.int()).abs().amax(0).gt(0).sum())


def linf(adv: torch.Tensor, image: torch.Tensor) -> int:
    return int((adv.int() - image.int()).abs().max())


@pytest.mark.parametrize("optimiser", ["de", "cmaes"])
@pytest.mark.parametrize(("norm", "th", "margin"), [("l0", 1, 60), ("l0", 3, 150), ("linf", 3, 64)])
def test_attack_fools_a_weak_model_within_its_budget(
    optimiser: str, norm: str, th: int, margin: float
) -> None:
    image = torch.full((1, 8, 8), GREY, dtype=torch.uint8)
    model = Brightness(margin)
    assert int(model(image[None].float() / 255).argmax()) == 0
    adv = blackbox_attack(
        model, image, 0, norm=norm, th=th, optimiser=optimiser, budget=Budget(20, 30), seed=1
    )
    assert adv is not None and adv.dtype == torch.uint8 and adv.shape == image.shape
    assert int(model(adv[None].float() / 255).argmax()) == 1
    if norm == "l0":
        assert 1 <= changed_pixels(adv, image) <= th
    else:
        assert 1 <= linf(adv, image) <= th


@pytest.mark.parametrize("optimiser", ["de", "cmaes"])
def test_high_dimensional_linf_attack_succeeds_within_budget(optimiser: str) -> None:
    """3 x 10 x 10 = 300 shifts: CMA-ES runs separable above FULL_CMA_MAX_DIMS."""
    from neronet.attacks.blackbox import FULL_CMA_MAX_DIMS

    image = torch.full((3, 10, 10), GREY, dtype=torch.uint8)
    assert image.numel() > FULL_CMA_MAX_DIMS
    model = Brightness(margin=200)
    adv = blackbox_attack(
        model, image, 0, norm="linf", th=5, optimiser=optimiser, budget=Budget(20, 40), seed=0
    )
    assert adv is not None and int(model(adv[None].float() / 255).argmax()) == 1
    assert 1 <= linf(adv, image) <= 5


@pytest.mark.parametrize("optimiser", ["de", "cmaes"])
def test_attack_returns_none_when_it_cannot_succeed(optimiser: str) -> None:
    image = torch.full((1, 8, 8), GREY, dtype=torch.uint8)
    model = Brightness(margin=10_000)  # beyond any budget-respecting image
    for norm in ("l0", "linf"):
        found = blackbox_attack(
            model, image, 0, norm=norm, th=1, optimiser=optimiser, budget=Budget(6, 3), seed=0
        )
        assert found is None


@pytest.mark.parametrize("th", [1, 3, 5, 10])
def test_every_decoded_candidate_respects_the_budget(th: int) -> None:
    """The cube's corners and random points, on colour images with values at 0 and 255."""
    gen = torch.Generator().manual_seed(th)
    image = torch.randint(0, 256, (3, 6, 5), dtype=torch.uint8, generator=gen)
    image[:, 0] = 0
    image[:, 1] = 255
    l0 = decode("l0", th, image, torch.rand(200, th * 5, generator=gen).round_(decimals=1))
    assert max(changed_pixels(a, image) for a in l0) <= th
    assert any(changed_pixels(a, image) == th for a in l0)
    u = torch.cat([torch.zeros(1, 90), torch.ones(1, 90), torch.rand(100, 90, generator=gen)])
    shifted = decode("linf", th, image, u)
    assert max(linf(a, image) for a in shifted) == th
    assert linf(shifted[1], image) == th and int(shifted[1].int().min()) >= 0


def test_bad_settings_are_one_line_errors() -> None:
    image = torch.zeros((1, 8, 8), dtype=torch.uint8)
    with pytest.raises(AttackError, match="unknown black-box attack"):
        blackbox_attack(
            Brightness(0), image, 0, norm="l2", th=1, optimiser="de", budget=Budget(6, 1), seed=0
        )  # type: ignore[arg-type]
    with pytest.raises(AttackError, match="popsize >= 5"):
        blackbox_attack(
            Brightness(0), image, 0, norm="l0", th=1, optimiser="de", budget=Budget(2, 1), seed=0
        )


def test_de_population_is_the_authors_multiple_of_the_candidate_length() -> None:
    from neronet.attacks.blackbox import de_population, dimensions

    l0 = [de_population(400, dimensions("l0", th, (3, 32, 32))) for th in (1, 3, 5, 10)]
    assert l0 == [400, 390, 400, 400]
    assert de_population(400, dimensions("linf", 1, (3, 32, 32))) == 3072
    assert de_population(6, 1) == 6 and de_population(5, 64) == 64


@pytest.mark.parametrize(("norm", "th"), [("l0", 1), ("l0", 10), ("linf", 3)])
def test_cmaes_starts_at_the_unperturbed_image_with_the_authors_step(norm: str, th: int) -> None:
    import numpy as np

    from neronet.attacks.blackbox import L0_SIGMA, _cma_frame

    image = torch.randint(
        0, 256, (3, 6, 5), dtype=torch.uint8, generator=torch.Generator().manual_seed(th)
    )
    frame = _cma_frame(norm, th, image)  # type: ignore[arg-type]
    start = torch.as_tensor(frame.to_cube(frame.mean[None]), dtype=torch.float32)
    assert torch.equal(decode(norm, th, image, start)[0], image)  # type: ignore[arg-type]
    assert frame.sigma == (th / 4 if norm == "linf" else L0_SIGMA)
    if norm == "linf":  # the box is [x - th, x + th]: its corners are the budget's edges
        corners = frame.to_cube(np.stack([frame.mean - th, frame.mean + th]))
        assert np.allclose(corners, [[0.0], [1.0]])
