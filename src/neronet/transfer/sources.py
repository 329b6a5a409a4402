"""The source models the transfer set's attacks are crafted against, trained on the
dataset's training split (the spec networks by :func:`neronet.train.posttrain.train_seeds`).

* ``resnet``: a small ResNet-style network as a NetworkSpec. The spec vocabulary
  merges inputs by concatenation, not addition, so each residual block ends in
  a 1x1 convolution over ``concat(x, F(x))``: ``W1 x + W2 F(x)``, which holds the
  identity shortcut ``x + F(x)`` as the case ``W1 = W2 = I`` (a learned shortcut,
  as in ResNet's projection blocks). Chosen over a hand-written torch module so
  that training, checkpoints, resume and model files are neronet's own.
* ``nsga-net``: the NSGA-Net macro model (neronet's seed), fixed learning unit.
* ``adversarial``: the ``resnet`` network trained with Madry PGD
  (``posttrain.adversarial``): the paper's "AT" row.
* ``capsnet``: a capsule network (:mod:`neronet.transfer.capsnet`, its own training).
* ``feature-squeezing``: the trained ``resnet`` (the same weights: the authors copy the
  undefended model's) behind :class:`neronet.transfer.squeeze.FeatureSqueezing`.

Each is a function registered in :data:`SOURCES` under its name (``transfer.sources``
names them; a plug-in registers its own the same way): it trains the source in
``work_dir/<name>`` (resuming what is there) and returns it loaded, in eval mode.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from safetensors.torch import load_file
from torch import nn

from neronet.augment import DeviceSplit
from neronet.config import NeroConfig, PostTrainConfig
from neronet.data.dataset import Dataset
from neronet.data.splits import full_train_test
from neronet.nn import build
from neronet.registry import Registry
from neronet.spec import INPUT, LayerSpec, NetworkSpec, NodeSpec
from neronet.train.core import resolve_device, seeded
from neronet.train.posttrain import train_seeds
from neronet.transfer.capsnet import CapsNet, train_capsnet
from neronet.transfer.squeeze import FeatureSqueezing


def _conv(filters: int, kernel: int) -> tuple[LayerSpec, ...]:
    conv = {"filters": filters, "kernel": kernel, "stride": 1, "padding": "same", "bias": False}
    return (LayerSpec("conv", conv), LayerSpec("bn"))


RELU = LayerSpec("act", {"fn": "relu"})


def resnet_spec(input_shape: tuple[int, int, int], num_classes: int) -> NetworkSpec:
    """Stem, two residual blocks (16 and 32 filters, a 2x2 max pool between), global
    average pooling and a linear classifier: small enough for a CPU quickstart."""
    nodes: list[NodeSpec] = [NodeSpec("stem", (INPUT,), (*_conv(16, 3), RELU))]
    for width, downsample in ((16, False), (32, True)):
        if downsample:
            pool = {"op": "max", "kernel": 2, "stride": 2, "padding": "valid"}
            nodes.append(NodeSpec("pool", (len(nodes) - 1,), (LayerSpec("pool", pool),)))
        x = len(nodes) - 1
        nodes.append(NodeSpec("residual", (x,), (*_conv(width, 3), RELU, *_conv(width, 3))))
        nodes.append(NodeSpec("shortcut", (x, x + 1), (*_conv(width, 1), RELU)))
    head = (
        LayerSpec("gpool", {"op": "avg"}),
        LayerSpec("fc", {"units": num_classes, "bias": True}),
    )
    nodes.append(NodeSpec("softmax", (len(nodes) - 1,), head))
    return NetworkSpec(input_shape, num_classes, tuple(nodes))


def source_spec(name: str, input_shape: tuple[int, int, int], num_classes: int) -> NetworkSpec:
    """The architecture of source ``name`` for the dataset's images and classes."""
    if name == "nsga-net":
        from neronet.phenotype import to_spec
        from neronet.seeds import nsga_net

        return to_spec(nsga_net(), input_shape, num_classes)
    return resnet_spec(input_shape, num_classes)


def source_training(config: NeroConfig, name: str) -> PostTrainConfig:
    """``posttrain`` settings for one seed of source ``name``, epochs from ``transfer``."""
    t = config.transfer
    post = config.posttrain
    update = {"seeds": 1, "first_seed": t.seed, "device": t.device}
    if name == "adversarial":
        schedule = post.adversarial.model_copy(update={"epochs": t.adversarial_epochs})
        return post.model_copy(update={**update, "mode": "adversarial", "adversarial": schedule})
    schedule = post.standard.model_copy(update={"epochs": t.epochs})
    return post.model_copy(update={**update, "mode": "standard", "standard": schedule})


Source = Callable[[NeroConfig, Dataset, Path], nn.Module]
"""Trains a source for ``(config, dataset, work_dir)`` and returns it in eval mode."""

SOURCES: Registry[Source] = Registry("transfer source")


def train_source(config: NeroConfig, name: str, dataset: Dataset, work_dir: Path) -> nn.Module:
    """Train source ``name`` in ``work_dir/name`` (resumed if there) and load it, in eval
    mode."""
    return SOURCES.get(name)(config, dataset, work_dir)


def _spec_source(name: str) -> Source:
    """A source whose network is a spec (:func:`source_spec`), trained by ``posttrain``."""

    def train(config: NeroConfig, dataset: Dataset, work_dir: Path) -> nn.Module:
        spec = source_spec(name, dataset.input_shape, len(dataset.classes))
        (result,) = train_seeds(spec, dataset, source_training(config, name), work_dir / name)
        model = build(spec)
        model.load_state_dict(load_file(str(result.model_path)))
        return model.eval()

    return train


for _name in ("resnet", "adversarial", "nsga-net"):
    SOURCES.register(_name, _spec_source(_name))


@SOURCES.register("capsnet")
def _capsnet(config: NeroConfig, dataset: Dataset, work_dir: Path) -> nn.Module:
    t, post = config.transfer, config.posttrain
    train, _ = full_train_test(dataset, post.holdout, post.holdout_seed)
    device = resolve_device(t.device)
    with seeded(t.seed, device):
        model = CapsNet(dataset.input_shape, len(dataset.classes))
    return train_capsnet(
        model,
        DeviceSplit.from_split(train, device),
        epochs=t.epochs,
        batch_size=post.standard.batch_size,
        seed=t.seed,
        out=work_dir / "capsnet",
    )


@SOURCES.register("feature-squeezing")
def _feature_squeezing(config: NeroConfig, dataset: Dataset, work_dir: Path) -> nn.Module:
    """The ``resnet`` source's model (trained in ``work_dir/resnet``) behind the squeezer."""
    resnet = train_source(config, "resnet", dataset, work_dir)
    return FeatureSqueezing(
        resnet, config.transfer.squeeze_bits, config.transfer.squeeze_median
    ).eval()
