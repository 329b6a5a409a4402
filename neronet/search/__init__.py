"""Search strategies (ask/tell) and the runner that drives them.

A new strategy implements :class:`neronet.search.base.Strategy`, registers a
factory in :data:`STRATEGIES` under the name ``search.strategy`` selects, and
works with every executor and the run store unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

from neronet.config import NeroConfig
from neronet.genotype import Structure
from neronet.search.base import Strategy
from neronet.search.one_plus_lambda import OnePlusLambda

STRATEGIES: dict[str, Callable[[NeroConfig, Structure], Strategy]] = {
    "one-plus-lambda": OnePlusLambda,
}


def make_strategy(config: NeroConfig, structure: Structure) -> Strategy:
    """The strategy named by ``config.search.strategy``, fresh (nothing told yet)."""
    return STRATEGIES[config.search.strategy](config, structure)
