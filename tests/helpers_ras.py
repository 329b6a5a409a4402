"""A small hand-built RAS population, so tests can state exactly what a mutation changed."""

from __future__ import annotations

from neronet.ras import Conv, Dense, Model, RasPopulation
from neronet.ras.dag import Dag


def small_world() -> tuple[RasPopulation, Model]:
    """Block 1: conv -> dense -> conv (plus a skip 0 -> 2); block 2: dense, conv (unwired);
    the model is block 1 -> block 2 -> block 1 (a block may serve twice)."""
    population = RasPopulation()
    conv = population.add_layer(Conv(filters=16, kernel=3, stride=1))
    dense = population.add_layer(Dense(units=128))
    strided = population.add_layer(Conv(filters=8, kernel=5, stride=2))
    first = population.add_block(Dag((conv, dense, strided), ((0, 1), (1, 2), (0, 2))))
    second = population.add_block(Dag((dense, strided)))
    return population, Dag((first, second, first), ((0, 1), (1, 2)))
