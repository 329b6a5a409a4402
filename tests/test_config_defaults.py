"""The shipped paper config spells out the defaults, including the L2 convention."""

from __future__ import annotations

from pathlib import Path

import neronet
from neronet.config import NeroConfig, load_config


def test_paper_config_equals_the_defaults_apart_from_its_data() -> None:
    paper = load_config("nero-net-cifar10.yaml").model_dump()
    defaults = NeroConfig().model_dump()
    for config in (paper, defaults):
        config.pop("data")
        eps = config["fitness"].pop("attack_eps")  # 8/255, written to 13 digits
        assert abs(eps - 8 / 255) < 1e-12
    assert paper == defaults


def test_weight_decay_is_fast_densers_keras_l2_in_pytorch_units() -> None:
    keras_l2 = 5e-4  # Fast-DENSER: kernel_regularizer=l2(0.0005) on conv and fc kernels
    assert NeroConfig().training.weight_decay == 2 * keras_l2


def test_every_shipped_config_loads() -> None:
    """A shipped config a key rename broke would fail only when a user runs it."""
    shipped = sorted((Path(neronet.__file__).parent / "configs").glob("*.yaml"))
    assert len(shipped) >= 4
    for path in shipped:
        assert load_config(str(path)).seed == 0, path.name
