"""The strategy registry: ``search.strategy`` names one of these.

A new strategy subclasses :class:`neronet.search.base.Strategy` (which owns ids,
the pending batch, termination, seeding and the encoding's variation), sets its
``salt``, writes ``planned``, ``_propose`` and ``_select``, and registers itself with
``@STRATEGIES.register("name")``; it then works with every executor, encoding, the
run store and the reports unchanged, and the strategy contract tests drive it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from neronet.registry import Registry

if TYPE_CHECKING:
    from neronet.config import NeroConfig
    from neronet.genotype import Structure
    from neronet.search.base import Strategy

STRATEGIES: Registry[Any] = Registry(
    "strategy",
    builtins=[
        f"neronet.search.{name}"
        for name in ("aging", "nsga2", "one_plus_lambda", "random_search", "ras_niching")
    ],
)


def make_strategy(config: NeroConfig, structure: Structure) -> Strategy:
    """The strategy named by ``search.strategy``, fresh, with a fresh objective."""
    from neronet.evaluation.objectives import make_objective

    return STRATEGIES.get(config.search.strategy)(config, structure, make_objective(config))
