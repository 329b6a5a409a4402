"""One individual on click: its architecture diagram (the report's, as SVG), learning
unit, metrics and training history."""

from __future__ import annotations

import io
from functools import lru_cache
from typing import Any

from neronet.dashboard.snapshot import finite, individual_json
from neronet.reports.data import RunData
from neronet.reports.describe import describe_learning
from neronet.spec import NetworkSpec
from neronet.store import IndividualRow


@lru_cache(maxsize=128)
def architecture_svg(spec_json: str, title: str) -> str:
    """The report's architecture diagram (:mod:`neronet.reports.architecture`) as SVG
    text, its labels kept as text; drawn once per architecture and title."""
    from matplotlib import rc_context
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    from neronet.reports.architecture import architecture_figure

    figure = architecture_figure(NetworkSpec.from_json(spec_json), title)
    FigureCanvasSVG(figure)
    buffer = io.StringIO()
    with rc_context({"svg.fonttype": "none"}):
        figure.savefig(buffer, format="svg")
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # the element alone, to place inside the page


def individual_detail(data: RunData, row: IndividualRow) -> dict[str, Any]:
    """The JSON of the individual panel; ``svg`` is None for an individual without a
    network (one whose genotype did not decode)."""
    spec = row.record.get("spec")
    svg = None
    if spec is not None:
        title = f"{data.directory.name}: individual {row.id} ({row.key})"
        svg = architecture_svg(NetworkSpec.from_dict(spec).to_json(), title)
    learning = row.record.get("learning")
    return {
        **individual_json(row),
        "learning": None if learning is None else describe_learning(learning),
        "history": [{k: finite(v) for k, v in epoch.items()} for epoch in row.history],
        "stop_reason": row.record.get("stop_reason"),
        "warm_start_from": row.warm_start_from,
        "svg": svg,
    }
