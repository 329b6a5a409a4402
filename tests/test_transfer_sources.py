"""The paper's CapsNet and feature-squeezing sources: the capsule net trains and predicts,
feature squeezing squeezes as Xu et al. define it, a build with both yields samples
within budget that fool their source, and the config names them (and nothing else)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.ndimage import median_filter
from torch import nn

from neronet.augment import DeviceSplit
from neronet.config import load_config
from neronet.errors import ConfigError
from neronet.plugins import check_plugins
from neronet.transfer import build, capsnet, sources
from neronet.transfer.capsnet import CapsNet, kernels, train_capsnet
from neronet.transfer.squeeze import FeatureSqueezing, median_smooth, reduce_bit_depth

SMALL_CAPSNET = functools.partial(CapsNet, filters=16, primary_types=4)
"""The authors' layers at a sixteenth of their width: seconds on a CPU."""


def test_capsnet_kernels_are_the_authors_on_cifar_and_shrink_to_fit() -> None:
    assert kernels(32) == (8, 9)  # primary grid (32 - 8 + 1 - 9) // 2 + 1 = 9: 2,592 capsules
    for side in (8, 12, 28, 32):
        first, second = kernels(side)
        assert (side - first + 1 - second) // 2 + 1 >= 2


def test_capsnet_trains_a_step_and_predicts(tmp_path: Path) -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (16, 1, 8, 8), dtype=torch.uint8, generator=gen)
    y = torch.arange(16) % 4
    torch.manual_seed(0)
    model = SMALL_CAPSNET((1, 8, 8), 4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trained = train_capsnet(
        model, DeviceSplit(x, y), epochs=1, batch_size=16, seed=0, out=tmp_path / "caps"
    )
    assert not trained.training
    changed = [k for k, v in trained.state_dict().items() if not torch.equal(v, before[k])]
    assert {"weights", "conv.weight", "primary.weight", "decoder.0.weight"} <= set(changed)
    scores = trained(x.float() / 255)
    assert scores.shape == (16, 4) and bool(((scores > 0) & (scores < 1)).all())
    # routing is per image: an image's scores do not depend on the rest of its batch
    assert torch.allclose(trained(x[:1].float() / 255), scores[:1], atol=1e-5)
    # the finished training is read back, not redone: a fresh model gets the same weights
    again = train_capsnet(
        SMALL_CAPSNET((1, 8, 8), 4), DeviceSplit(x, y), epochs=1, batch_size=16, seed=0,
        out=tmp_path / "caps",
    )  # fmt: skip
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in trained.state_dict().items())


def test_capsnet_loss_is_the_margin_loss_plus_a_weighted_reconstruction() -> None:
    torch.manual_seed(0)
    model = SMALL_CAPSNET((1, 8, 8), 3)
    x, y = torch.rand(5, 1, 8, 8), torch.tensor([0, 1, 2, 0, 1])
    lengths = model(x)
    present = nn.functional.one_hot(y, 3).float()
    margin = present * (0.9 - lengths).clamp(min=0) ** 2
    margin = margin + 0.5 * (1 - present) * (lengths - 0.1).clamp(min=0) ** 2
    recon = model.decoder(model.capsules(x)[torch.arange(5), y])
    expected = margin.sum(1).mean() + 0.1 * ((recon - x.flatten(1)) ** 2).mean()
    assert torch.allclose(model.loss(x, y), expected, atol=1e-6)


def test_bit_depth_reduction_quantises_to_two_to_the_bits_levels() -> None:
    x = torch.linspace(0, 1, 256).view(1, 1, 16, 16)
    for bits in (1, 5, 8):
        levels = 2**bits - 1
        squeezed = reduce_bit_depth(x, bits)
        assert torch.equal(squeezed, torch.round(x * levels) / levels)
        assert len(torch.unique(squeezed)) == levels + 1
    assert torch.allclose(reduce_bit_depth(x, 8), x, atol=1 / 510)


@pytest.mark.parametrize("size", [1, 2, 3])
def test_median_smoothing_is_scipys_median_filter(size: int) -> None:
    x = torch.rand(2, 3, 7, 6, generator=torch.Generator().manual_seed(size))
    expected = median_filter(x.numpy(), size=(1, 1, size, size), mode="reflect")
    assert np.allclose(median_smooth(x, size).numpy(), expected)


def test_feature_squeezing_is_deterministic_and_classifies_the_squeezed_image() -> None:
    seen: list[torch.Tensor] = []

    class Recorder(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(x.detach().clone())
            return x.flatten(1)[:, :3]

    squeezer = FeatureSqueezing(Recorder(), bits=3, median=2)
    x = torch.rand(4, 1, 5, 5, generator=torch.Generator().manual_seed(1), requires_grad=True)
    first, second = squeezer(x), squeezer(x)
    assert torch.equal(first, second) and torch.equal(seen[0], seen[1])
    assert torch.equal(seen[0], median_smooth(torch.round(x.detach() * 7) / 7, 2))
    first.sum().backward()  # straight through the rounding: PGD sees a gradient
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    with pytest.raises(ValueError, match="bits <= 8"):
        FeatureSqueezing(Recorder(), bits=9, median=1)


def test_a_build_with_both_sources_yields_samples_within_budget_that_fool_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources, "CapsNet", SMALL_CAPSNET)
    monkeypatch.setattr(capsnet, "LEARNING_RATE", 1e-2)  # ~65 % on digits in 2 epochs
    attacked: list[tuple[nn.Module, torch.Tensor, int, str, int, torch.Tensor]] = []
    attack = build.blackbox_attack

    def recorded(model: nn.Module, image: torch.Tensor, label: int, **kw: object) -> object:
        adv = attack(model, image, label, **kw)  # type: ignore[arg-type]
        if adv is not None:
            attacked.append((model, image, label, str(kw["norm"]), int(kw["th"]), adv))
        return adv

    monkeypatch.setattr(build, "blackbox_attack", recorded)
    config = load_config(
        None,
        [
            "transfer.sources=[capsnet, feature-squeezing]",
            "transfer.epochs=2",
            "transfer.images=3",
            "transfer.thresholds=[10]",
            "transfer.de={popsize: 10, iterations: 3}",
            "transfer.cmaes={popsize: 10, iterations: 3}",
            "posttrain.standard.batch_size=32",
            "posttrain.standard.lr=0.1",
        ],
    )
    tset = build.build_transfer_set(config, tmp_path / "sources")
    assert tset.tables["source"] == ["capsnet", "feature-squeezing"]
    fooled_sources = {tset.tables["source"][int(s)] for s in tset.source}
    assert fooled_sources == {"capsnet", "feature-squeezing"}
    assert len(attacked) == len(tset) > 0
    stored = {bytes(image.flatten().tolist()) for image in tset.images}
    for model, image, label, norm, th, adv in attacked:
        change = (adv.int() - image.int()).abs()
        if norm == "l0":
            assert 1 <= int(change.amax(0).gt(0).sum()) <= th
        else:
            assert 1 <= int(change.max()) <= th
        assert int(model(adv[None].float() / 255).argmax()) != label
        assert bytes(adv.flatten().tolist()) in stored


def test_config_names_the_papers_sources_and_refuses_others() -> None:
    config = load_config(None)
    assert config.transfer.sources == ("capsnet", "resnet", "adversarial", "feature-squeezing")
    assert config.transfer.de.popsize == config.transfer.cmaes.popsize == 400
    both = load_config(None, ["transfer.sources=[capsnet, feature-squeezing, nsga-net]"])
    assert both.transfer.sources == ("capsnet", "feature-squeezing", "nsga-net")
    with pytest.raises(ConfigError) as info:
        check_plugins(load_config(None, ["transfer.sources=[capsule]"]))
    message = str(info.value)
    assert "\n" not in message and "transfer.sources" in message and "capsnet" in message


def test_a_registered_source_is_named_like_the_builtins(tmp_path: Path) -> None:
    from neronet.transfer.sources import SOURCES, train_source

    def frozen(config: object, dataset: object, work_dir: Path) -> nn.Module:
        return nn.Identity().eval()  # stands in for a plug-in's trained model

    SOURCES.register("frozen-test", frozen)
    try:
        config = check_plugins(load_config(None, ["transfer.sources=[frozen-test, resnet]"]))
        assert config.transfer.sources == ("frozen-test", "resnet")
        model = train_source(config, "frozen-test", None, tmp_path)  # type: ignore[arg-type]
        assert isinstance(model, nn.Identity)
    finally:
        SOURCES.unregister("frozen-test")
