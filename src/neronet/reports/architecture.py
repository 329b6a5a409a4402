"""A NetworkSpec as a top-to-bottom box diagram, drawn with matplotlib alone.

Nodes are stacked in their (topological) order, so the usual edge, a node
taking its predecessor, is a short straight arrow. Every other edge is a skip
connection, drawn as a rounded bracket to the right of the boxes. Skips are put
in lanes by interval colouring: skips whose spans overlap get different lanes
and shorter skips lie inside longer ones, so the vertical runs never overlap
and a 40-node network with many skips stays readable. The axes are in inches
(one data unit = one inch), which keeps text and boxes the same size whatever
the figure height.
"""

from __future__ import annotations

from dataclasses import dataclass

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.path import Path as MplPath

from neronet.reports.describe import layer_text
from neronet.spec import NetworkSpec, NodeSpec

ROW = 0.62  # vertical distance between box centres
BOX_H = 0.42
LANE = 0.16  # horizontal distance between skip lanes
SKIP_GAP = 0.15  # between the boxes and the first lane
MARGIN = 0.3
TIMES = "\u00d7"
TITLE_H = 0.55
HEADLINE_CHAR_W = 0.09  # rough width of one 10 pt bold character (figure title)
TITLE_CHAR_W = 0.068  # rough width of one 8.5 pt bold character (box title)
DETAIL_CHAR_W = 0.058  # rough width of one 7 pt character
PALETTE = ("#cfe2f3", "#fce5cd", "#d9ead3", "#f4cccc", "#d9d2e9", "#fff2cc", "#d0e0e3")
SKIP_COLORS = (
    "tab:blue",
    "tab:orange",
    "tab:green",
    "tab:red",
    "tab:purple",
    "tab:brown",
    "tab:pink",
    "tab:olive",
    "tab:cyan",
)


def node_title(node: NodeSpec) -> str:
    """Block name and key parameters, e.g. "macro-node 64f relu" or "fc 256 relu".

    The filter count shown is the node's output width (its last conv); the
    activations and pooling ops are listed once each, in order.
    """
    parts = [node.block]
    convs = [la for la in node.layers if la.kind == "conv"]
    fcs = [la for la in node.layers if la.kind == "fc"]
    if convs:
        parts.append(f"{convs[-1].params.get('filters', '?')}f")
    elif fcs:
        parts.append(str(fcs[-1].params.get("units", "?")))
    named = (("act", "fn", ""), ("pool", "op", "-pool"), ("gpool", "op", "-gpool"))
    for kind, key, suffix in named:
        values = dict.fromkeys(str(la.params.get(key, "")) for la in node.layers if la.kind == kind)
        parts += [f"{value}{suffix}" for value in values]
    return " ".join(parts)


def node_detail(node: NodeSpec) -> str:
    """The node's layers in order, in the notation of ``neronet show-seed``."""
    return " ".join(layer_text(layer) for layer in node.layers)


@dataclass(frozen=True)
class _Skip:
    src_row: int
    dst_row: int
    lane: int = 0


def _skips(spec: NetworkSpec) -> list[_Skip]:
    """Non-sequential edges as rows (row 0 = the input, row k + 1 = node k), laned."""
    edges = sorted(
        (
            (src + 1, k + 1)
            for k, node in enumerate(spec.nodes)
            for src in set(node.inputs)
            if src != k - 1
        ),
        key=lambda e: (e[1] - e[0], e[0]),
    )
    lanes: list[list[tuple[int, int]]] = []
    out = []
    for src, dst in edges:
        lane = next(
            (i for i, used in enumerate(lanes) if all(dst <= a or b <= src for a, b in used)),
            len(lanes),
        )
        if lane == len(lanes):
            lanes.append([])
        lanes[lane].append((src, dst))
        out.append(_Skip(src, dst, lane))
    return out


def _slots(skips: list[_Skip], row_of: str, outer_first: bool) -> dict[_Skip, float]:
    """Where each skip meets its box, as a fraction (0, 1) of half the box height.

    Skips sharing a box are spread out; outer lanes leave a box highest and
    enter it lowest, so a skip's horizontal stub never crosses the vertical run
    of another skip at the same box.
    """
    slots: dict[_Skip, float] = {}
    for row in {getattr(s, row_of) for s in skips}:
        here = sorted(
            (s for s in skips if getattr(s, row_of) == row),
            key=lambda s: s.lane,
            reverse=outer_first,
        )
        slots.update({s: (i + 1) / (len(here) + 1) for i, s in enumerate(here)})
    return slots


def _bracket(x0: float, x1: float, y0: float, y1: float) -> MplPath:
    """From (x0, y0) out to x1, down to y1 and back to x0, with rounded corners."""
    r = min(0.08, (y0 - y1) / 2)
    return MplPath(
        [
            (x0, y0),
            (x1 - r, y0),
            (x1, y0),
            (x1, y0 - r),
            (x1, y1 + r),
            (x1, y1),
            (x1 - r, y1),
            (x0, y1),
        ],
        [
            MplPath.MOVETO,
            MplPath.LINETO,
            MplPath.CURVE3,
            MplPath.CURVE3,
            MplPath.LINETO,
            MplPath.CURVE3,
            MplPath.CURVE3,
            MplPath.LINETO,
        ],
    )


def _box(ax: Axes, x: float, y: float, width: float, label: tuple[str, str], fill: str) -> None:
    """A rounded box centred vertically on ``y`` with a bold title and a detail line."""
    head, detail = label
    ax.add_patch(
        FancyBboxPatch(
            (x, y - BOX_H / 2),
            width,
            BOX_H,
            boxstyle="round,pad=0,rounding_size=0.06",
            facecolor=fill,
            edgecolor="0.3",
            linewidth=0.8,
        )
    )
    ax.text(
        x + width / 2,
        y + (0.07 if detail else 0),
        head,
        ha="center",
        va="center",
        fontsize=8.5,
        fontweight="bold",
    )
    if detail:
        ax.text(x + width / 2, y - 0.1, detail, ha="center", va="center", fontsize=7, color="0.25")


def architecture_figure(spec: NetworkSpec, title: str) -> Figure:
    """Draw ``spec`` as boxes (input, nodes, output) with sequential and skip arrows."""
    labels = [(f"input {TIMES.join(map(str, spec.input_shape))}", "")]
    labels += [(f"{k}: {node_title(node)}", node_detail(node)) for k, node in enumerate(spec.nodes)]
    labels.append((f"logits: {spec.num_classes} classes", ""))
    blocks = list(dict.fromkeys(node.block for node in spec.nodes))
    fills = ["white", *(PALETTE[blocks.index(n.block) % len(PALETTE)] for n in spec.nodes), "white"]
    skips = _skips(spec)
    skip_w = SKIP_GAP + (1 + max((s.lane for s in skips), default=-1)) * LANE
    box_w = max(2.4, *(max(TITLE_CHAR_W * len(t), DETAIL_CHAR_W * len(d)) + 0.3 for t, d in labels))
    width = 2 * MARGIN + max(box_w + skip_w, HEADLINE_CHAR_W * len(title))
    height = TITLE_H + len(labels) * ROW + MARGIN
    fig = Figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(-height, 0)
    ax.set_axis_off()
    ax.text(
        width / 2, -TITLE_H / 2, title, ha="center", va="center", fontsize=10, fontweight="bold"
    )

    def y(row: int) -> float:
        return -TITLE_H - ROW / 2 - row * ROW

    left = (width - box_w - skip_w) / 2  # centre boxes and skips under the title
    right, middle = left + box_w, left + box_w / 2
    for row, (label, fill) in enumerate(zip(labels, fills, strict=True)):
        _box(ax, left, y(row), box_w, label, fill)
    sequential = [k + 1 for k, node in enumerate(spec.nodes) if k - 1 in node.inputs]
    for row in [*sequential, len(labels) - 1]:
        ax.add_patch(
            FancyArrowPatch(
                (middle, y(row - 1) - BOX_H / 2),
                (middle, y(row) + BOX_H / 2),
                arrowstyle="-|>",
                mutation_scale=9,
                color="0.3",
                lw=1,
            )
        )
    leave = _slots(skips, "src_row", outer_first=True)
    enter = _slots(skips, "dst_row", outer_first=False)
    half = BOX_H / 2
    for skip in skips:
        lane_x = right + SKIP_GAP + (skip.lane + 0.5) * LANE
        top = y(skip.src_row) - half * leave[skip]
        bottom = y(skip.dst_row) + half * (1 - enter[skip])
        path = _bracket(right, lane_x, top, bottom)
        ax.add_patch(
            FancyArrowPatch(
                path=path,
                arrowstyle="-|>",
                mutation_scale=8,
                lw=1,
                color=SKIP_COLORS[skip.src_row % len(SKIP_COLORS)],
            )
        )
    return fig
