"""Settings of the black-box attacks in the catalogue (``de-l0``, ``de-linf``,
``cmaes-l0``, ``cmaes-linf``): their own config section ``blackbox:``, registered
beside them (:mod:`neronet.attacks.blackbox_catalogue`) and kept apart so that
validating a config imports pydantic models only.

The budget is per attacked image and small by default, so that ``neronet attack
--attacks de-linf`` stays affordable on a CPU: at most ``popsize x iterations``
forward passes of one image each (batched per generation), 400 by default; an
attack stops at its first success. RAS's transfer set uses its own, larger budgets
(``transfer.de`` / ``transfer.cmaes``).
"""

from __future__ import annotations

from pydantic import Field

from neronet.config.core import Int
from neronet.config.sections import PluginSettings, settings_section


@settings_section("blackbox")
class BlackBoxSettings(PluginSettings):
    """The black-box attacks' budget and L0 radius (their L-inf radius is ``attack.linf_eps``,
    rounded down to whole grey levels)."""

    popsize: Int = Field(default=20, ge=5, description="candidates per generation")
    iterations: Int = Field(default=20, ge=1, description="generations at most per image")
    l0_pixels: Int = Field(
        default=3, ge=1, description="L0 radius: pixels changed at most (RAS: 1, 3, 5, 10)"
    )
