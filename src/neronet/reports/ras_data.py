"""What a RAS run's report shows (the paper's Figures 3 and 4), read from a RunData.

Pure data, no matplotlib, so the numbers behind the figures and tables can be
tested exactly. A RAS run stores each individual's ``RasGenotype.to_json()``
as its genotype, and each generation's elites are the cluster representatives:
the population RAS carries forward, so the architecture statistics are taken
over them (as the paper's Figure 4 describes the evolved architectures), while
accuracy is shown both for everyone evaluated in the generation and for the
representatives.

A row whose genotype is not a RasGenotype (a run mixing representations, a
store written by hand) is left out of the architecture statistics and counted
instead, so a report never fails on one odd row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean

from neronet.ras import RasGenotype
from neronet.reports.data import GenerationStats, RunData
from neronet.store import IndividualRow

RAS_STRATEGY = "ras"


def is_ras(data: RunData) -> bool:
    """Whether ``data`` is a RAS run: its stored config names the ``ras`` strategy."""
    return data.config.search.strategy == RAS_STRATEGY


def parse_genotype(row: IndividualRow) -> RasGenotype | None:
    """``row``'s genotype as a RasGenotype, None when it is not one."""
    try:
        return RasGenotype.from_json(row.genotype)
    except (ValueError, KeyError, TypeError, AttributeError):
        # Not RAS JSON (or not JSON at all): the caller counts it instead of failing.
        return None


@dataclass(frozen=True)
class RasGeneration:
    """One finished generation's means; None where no individual had the value."""

    generation: int
    members_accuracy: float | None
    """Mean clean accuracy of the generation's individuals that have one (invalid and
    ill-fitted ones were never measured)."""
    representatives_accuracy: float | None
    """Mean clean accuracy of the representatives (the generation's elites)."""
    blocks: float | None
    layers: float | None
    connections_per_block: float | None
    """Per representative, its in-block connections over its blocks; then the mean."""
    representatives: int
    """Representatives whose genotype parsed (the ones the architecture means cover)."""


@dataclass(frozen=True)
class SpectrumRow:
    """One final representative's spectrum (``neronet.ras.FEATURES`` order)."""

    id: int
    key: str
    counts: tuple[int, ...]


@dataclass(frozen=True)
class RasSeries:
    """Per-generation means and the final representatives' spectra of one RAS run."""

    generations: tuple[RasGeneration, ...]
    spectra: tuple[SpectrumRow, ...]
    unparsed: int
    """Distinct representatives (of any generation) left out because their genotype is
    not a RasGenotype."""


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return fmean(present) if present else None


def _generation(
    data: RunData, g: GenerationStats, genotypes: dict[int, RasGenotype | None]
) -> RasGeneration:
    representatives = data.front(g)
    stats = [s.stats() for r in representatives if (s := genotypes[r.id]) is not None]
    return RasGeneration(
        generation=g.row.generation,
        members_accuracy=_mean([m.metric("clean_accuracy") for m in g.members]),
        representatives_accuracy=_mean([r.metric("clean_accuracy") for r in representatives]),
        blocks=_mean([s["blocks"] for s in stats]),
        layers=_mean([s["layers"] for s in stats]),
        connections_per_block=_mean(
            [fmean(s["connections_per_block"]) if s["blocks"] else None for s in stats]
        ),
        representatives=len(stats),
    )


def ras_series(data: RunData) -> RasSeries:
    """The series of every finished generation and the last one's representatives' spectra
    (empty when no generation has finished)."""
    elites = [r for g in data.generations for r in data.front(g)]
    genotypes = {r.id: parse_genotype(r) for r in elites}
    final = data.front(data.generations[-1]) if data.generations else []
    return RasSeries(
        generations=tuple(_generation(data, g, genotypes) for g in data.generations),
        spectra=tuple(
            SpectrumRow(r.id, r.key, s.spectrum())
            for r in final
            if (s := genotypes[r.id]) is not None
        ),
        unparsed=sum(genotype is None for genotype in genotypes.values()),
    )
