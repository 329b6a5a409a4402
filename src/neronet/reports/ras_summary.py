"""The "RAS" section of a RAS run's summary: per-generation means and final spectra.

Tables beside the figures, so the numbers behind the paper's Figures 3 and 4
can be read off (and copied) exactly, as every other report section does.
"""

from __future__ import annotations

from collections.abc import Sequence

from neronet.ras import FEATURES
from neronet.reports.document import Image, Section, Table
from neronet.reports.ras_data import RasGeneration, RasSeries
from neronet.reports.summary import number, percent

_GENERATION_HEADERS = (
    "generation",
    "mean clean (evaluated)",
    "mean clean (representatives)",
    "representatives with a RAS genotype",
    "mean blocks",
    "mean layers",
    "mean connections per block",
)


def _generation_row(g: RasGeneration) -> tuple[str, ...]:
    return (
        str(g.generation),
        percent(g.members_accuracy),
        percent(g.representatives_accuracy),
        str(g.representatives),
        number(g.blocks, 2),
        number(g.layers, 2),
        number(g.connections_per_block, 2),
    )


def ras_section(series: RasSeries, images: Sequence[Image]) -> Section:
    """The section for ``series``; ``images`` are the RAS figures actually written."""
    intro = (
        "A RAS generation's elites are its cluster representatives: the population it "
        "carries forward. Mean clean accuracy is shown for every individual evaluated in "
        "the generation that has one (invalid and ill-fitted ones have none) and for the "
        "representatives; the architecture means (blocks, layers, in-block connections per "
        "block) are over the representatives, as in the paper's Figures 3 and 4."
    )
    skipped = (
        (
            f"{series.unparsed} representative(s) have a genotype that is not a RAS "
            "genotype and are left out of the architecture means and spectra.",
        )
        if series.unparsed
        else ()
    )
    spectra = Table(
        ("id", "key", *FEATURES),
        tuple((str(r.id), r.key, *map(str, r.counts)) for r in series.spectra),
    )
    return Section(
        "RAS",
        (
            intro,
            *skipped,
            Table(_GENERATION_HEADERS, tuple(map(_generation_row, series.generations))),
            "Spectrum of the last generation's representatives: the ten counts niching "
            "compares (connections from the input and into the softmax are not counted).",
            spectra,
            *images,
        ),
    )
