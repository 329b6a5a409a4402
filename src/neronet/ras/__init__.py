"""RAS (Robust Architecture Search, Kotyan & Vargas): its representation and operators.

Three subpopulations: layers (conv or dense), blocks (DAGs of layers) and
models (DAGs of blocks). Layers and blocks are shared members of a
:class:`RasPopulation` under stable ids; models refer to them by id.

Public API::

    initial_population(rng, models=25, blocks=(2, 5), layers=(2, 5))
        -> (RasPopulation, list[Model])
    RasPopulation.prune(live_models)            # drop layers/blocks no live model uses
    RasPopulation.layer_utility(models) / .block_utility(models) -> Counter[id]
    mutate(model, population, rng, count=5, *, layer_cap=100, block_cap=100, sizes=None)
        -> (child Model, [mutation names])
    applicable(model, population, *, layer_cap, block_cap, sizes=None) -> [names]
    sizes_of(population) -> (layers, blocks)     # what the caps compare, at a moment
    apply_mutation(name, model, population, rng) -> Model      # one of MUTATIONS
    RasGenotype.resolve(model, population, train_time) -> RasGenotype
    RasGenotype.to_json() / from_json(text) / train_time / stats() / spectrum()
    RasGenotype.decode(input_shape, num_classes) -> (NetworkSpec, LearningSpec)
        # raises neronet.errors.InvalidArchitecture for an unbuildable model
    spectrum(resolved_model) -> 10 counts;  scale(spectra);  closest(child, reps) -> index

Everything random takes a ``numpy.random.Generator``: one seed, one search.
Modules: ``dag`` (the DAG both levels use), ``genome`` (members, population),
``mutations``, ``decode`` (to NetworkSpec), ``spectrum``, ``encoding``
(RasGenotype).
"""

from neronet.ras.encoding import RAS_LEARNING, RasGenotype
from neronet.ras.genome import Conv, Dense, Layer, Model, RasPopulation, initial_population
from neronet.ras.mutations import MUTATIONS, applicable, apply_mutation, mutate, sizes_of
from neronet.ras.spectrum import FEATURES, closest, scale, spectrum

__all__ = [
    "FEATURES",
    "MUTATIONS",
    "RAS_LEARNING",
    "Conv",
    "Dense",
    "Layer",
    "Model",
    "RasGenotype",
    "RasPopulation",
    "applicable",
    "apply_mutation",
    "closest",
    "initial_population",
    "mutate",
    "scale",
    "sizes_of",
    "spectrum",
]
