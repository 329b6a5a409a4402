"""Plug-ins own their settings: a section registered from outside the package is
validated from its own key, and a setting several sections share means the same in each."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import Field

from neronet.config import (
    AttackSettings,
    FitnessConfig,
    Float,
    NeroConfig,
    PluginSettings,
    load_config,
    parse_config,
    settings_section,
    unregister_section,
)
from neronet.errors import ConfigError
from neronet.search.ras_settings import RasConfig


class ToySettings(PluginSettings):
    """A plug-in's settings, as a test registers them (no module of neronet touched)."""

    scale: Float = Field(default=1.0, gt=0, description="how much it weighs")


@pytest.fixture
def toy() -> Iterator[type[ToySettings]]:
    settings_section("toy-plugin")(ToySettings)
    yield ToySettings
    unregister_section("toy-plugin")


def _error(overrides: list[str]) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(None, overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_plugin_section_is_validated_from_its_own_key(toy: type[ToySettings]) -> None:
    assert toy.of(load_config(None, ["toy-plugin.scale=2.5"]).sections).scale == 2.5
    config = load_config(None)
    assert toy.of(config.sections) == ToySettings()  # absent: its defaults
    assert config.model_dump()["toy-plugin"] == {"scale": 1.0}  # stored with the rest
    assert parse_config(config.model_dump(mode="json")) == config  # and read back
    message = _error(["toy-plugin.scale=0"])
    assert "invalid value for 'toy-plugin.scale'" in message and "greater than 0" in message
    assert message.endswith("fix it in the config or override")
    assert "unknown key 'toy-plugin.scal'; did you mean 'toy-plugin.scale'?" in _error(
        ["toy-plugin.scal=2"]
    )


def test_a_section_nobody_registers_is_refused_but_kept_in_a_stored_run(
    toy: type[ToySettings],
) -> None:
    data = load_config(None).model_dump(mode="json")
    unregister_section("toy-plugin")  # the plug-in that wrote it is not installed here
    with pytest.raises(ConfigError, match="unknown key 'toy-plugin'"):
        parse_config(data)
    stored = parse_config(data, "stored", keep_foreign=True)
    assert stored.sections["toy-plugin"] == {"scale": 1.0}
    assert stored.model_dump(mode="json") == data


def test_a_section_key_is_taken_once(toy: type[ToySettings]) -> None:
    for key in ("toy-plugin", "training"):
        with pytest.raises(ValueError, match="is taken"):
            settings_section(key)(ToySettings)


def test_the_ras_strategy_owns_its_section() -> None:
    config = load_config(None, ["ras.children=3"])
    assert RasConfig.of(config.sections).children == 3
    assert "ras" not in NeroConfig.model_fields  # not the schema's: the strategy's
    assert "'ras.mutations'" in _error(["ras.mutations=0"])


@pytest.mark.parametrize(
    "setting", ["amp=off", "amp=bf16", "channels_last=false", "eval_batch_size=7", "device=cpu"]
)
def test_placement_means_the_same_for_search_and_post_search_training(setting: str) -> None:
    config = load_config(None, [f"training.{setting}", f"posttrain.{setting}"])
    key, _, _ = setting.partition("=")
    assert getattr(config.training, key) == getattr(config.posttrain, key)
    wrong = setting.partition("=")[0] + "=0.5"
    assert f"'training.{key}'" in _error([f"training.{wrong}"])
    assert f"'posttrain.{key}'" in _error([f"posttrain.{wrong}"])


def test_masking_and_audit_thresholds_share_their_bounds() -> None:
    masking, audit = FitnessConfig().masking, AttackSettings().audit
    for name in ("subset", "tolerance", "min_images", "large_eps", "large_eps_max_accuracy"):
        a = type(masking).model_fields[name].metadata
        b = type(audit).model_fields[name].metadata
        assert a == b, name
    assert "'fitness.masking.tolerance'" in _error(["fitness.masking.tolerance=2"])
    assert "'attack.audit.tolerance'" in _error(["attack.audit.tolerance=2"])
