"""``Registry``: lookup by name, refusal of a taken name, and an unknown name's error."""

from __future__ import annotations

import pytest

from neronet.errors import ConfigError
from neronet.registry import Registry


def test_an_unknown_name_lists_the_known_ones_sorted_whatever_the_registration_order() -> None:
    """Registration order is import order, which differs between processes (CI listed the
    executors as 'workers, local, ray' after one test order, 'local, workers, ray' after
    another); the error must read the same in every process."""
    first, second = Registry[int]("plug-in"), Registry[int]("plug-in")
    for registry, names in ((first, ("b", "c", "a")), (second, ("c", "a", "b"))):
        for value, name in enumerate(names):
            registry.register(name, value)
    with pytest.raises(ConfigError) as err:
        first.get("z")
    assert str(err.value) == "unknown plug-in 'z'; choose one of a, b, c" == second.unknown("z")
    assert first.get("c") == 1 and first.names() == ["b", "c", "a"]
    with pytest.raises(ValueError, match="registered already"):
        first.register("a", 9)
