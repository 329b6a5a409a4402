"""The RAS section of ``neronet report``: per-generation means, final spectra, figures.

The run is built through the store API with real RasGenotypes (random initial
models), so every expected number below is computed from the models themselves,
independently of :meth:`RasGenotype.stats`.
"""

from __future__ import annotations

from pathlib import Path
from statistics import fmean

import numpy as np
import pytest
from test_reports import _assert_image, create_run, individual, run_dir  # noqa: F401

from neronet.cli import main
from neronet.ras import FEATURES, RasGenotype, initial_population
from neronet.reports.data import load_run
from neronet.reports.plots import fitness_figure
from neronet.reports.ras_data import is_ras, parse_genotype, ras_series
from neronet.reports.ras_plots import ras_accuracy_figure, ras_structure_figure
from neronet.store import GenerationRow, IndividualRow, RunStore

RAS_FIGURES = ("ras_accuracy.png", "ras_structure.png", "ras_spectrum.png")
NOT_RAS = '{"modules": [], "learning": {}}'
"""A genotype of another representation, stored on a representative."""

# id -> (generation, status, clean accuracy); individual 7's genotype is not RAS.
MEMBERS = {
    0: (0, "ok", 0.50),
    1: (0, "ok", 0.60),
    2: (0, "invalid", None),
    3: (0, "ok", 0.70),
    4: (1, "ok", 0.80),
    5: (1, "ill-fitted", None),
    6: (1, "ok", 0.65),
    7: (2, "ok", 0.90),
    8: (2, "ok", 0.75),
}
ELITES = {0: (3, 1), 1: (4, 3, 6), 2: (7, 4, 8)}


def _genotypes() -> dict[int, RasGenotype]:
    population, models = initial_population(np.random.default_rng(3), models=len(MEMBERS))
    return {i: RasGenotype.resolve(m, population, 60.0) for i, m in enumerate(models)}


def _make_ras(path: Path, generations: dict[int, tuple[int, ...]]) -> RunStore:
    """``create_run``'s store, its config switched to the RAS strategy, with every member
    of :data:`MEMBERS` and the generation rows of ``generations`` (id -> elites)."""
    store = create_run(path, generations=len(ELITES))
    config = store.meta("config")
    config["search"]["strategy"] = "ras"
    config["search"]["objective"] = "ras"
    store.set_meta("config", config)
    genotypes = _genotypes()
    for i, (generation, status, clean) in MEMBERS.items():
        row = individual(i, generation, clean=clean, adversarial=None, status=status)
        row["genotype"] = NOT_RAS if i == 7 else genotypes[i].to_json()
        store.add_individual(row)
    for generation, elites in generations.items():
        store.add_generation(GenerationRow(generation, elites, 0.5, 0.4, {}, 1e9 + generation))
    return store


@pytest.fixture
def ras_run(tmp_path: Path) -> Path:
    path = tmp_path / "ras-run"
    _make_ras(path, ELITES).close()
    return path


def _hand_means(ids: tuple[int, ...]) -> tuple[float, float, float]:
    """Blocks, layers and in-block connections per block, averaged over ``ids`` (RAS
    genotypes only), straight from the models."""
    models = [_genotypes()[i].model for i in ids if i != 7]
    return (
        fmean(len(m.nodes) for m in models),
        fmean(sum(len(b.nodes) for b in m.nodes) for m in models),
        fmean(sum(len(b.edges) for b in m.nodes) / len(m.nodes) for m in models),
    )


def test_series_are_the_hand_computed_means(ras_run: Path) -> None:
    data = load_run(ras_run)
    assert is_ras(data)
    series = ras_series(data)
    assert [g.generation for g in series.generations] == [0, 1, 2]
    members = {0: (0.50, 0.60, 0.70), 1: (0.80, 0.65), 2: (0.90, 0.75)}
    representatives = {0: (0.70, 0.60), 1: (0.80, 0.70, 0.65), 2: (0.90, 0.80, 0.75)}
    for g in series.generations:
        assert g.members_accuracy == pytest.approx(fmean(members[g.generation]))
        assert g.representatives_accuracy == pytest.approx(fmean(representatives[g.generation]))
        blocks, layers, connections = _hand_means(ELITES[g.generation])
        assert (g.blocks, g.layers) == pytest.approx((blocks, layers))
        assert g.connections_per_block == pytest.approx(connections)
    assert [g.representatives for g in series.generations] == [2, 3, 2]
    assert series.unparsed == 1


def test_spectra_are_the_final_representatives(ras_run: Path) -> None:
    series = ras_series(load_run(ras_run))
    genotypes = _genotypes()
    assert [(r.id, r.key, r.counts) for r in series.spectra] == [
        (4, "g1/o4", genotypes[4].spectrum()),
        (8, "g2/o8", genotypes[8].spectrum()),
    ]


def _row(genotype: str) -> IndividualRow:
    """A row with only a genotype: all parse_genotype reads."""
    fields = dict.fromkeys(IndividualRow.__dataclass_fields__)
    return IndividualRow(**{**fields, "genotype": genotype})


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "[]",
        "{}",
        NOT_RAS,
        '{"blocks": [{"layers": [{"kind": "pool"}], "edges": []}], "edges": [],'
        ' "train_time": 1, "learning": {}}',
        '{"blocks": [{"layers": [], "edges": [[1, 0]]}], "edges": [], "train_time": 1,'
        ' "learning": {}}',
    ],
)
def test_a_genotype_that_is_not_ras_parses_to_none(text: str) -> None:
    assert parse_genotype(_row(text)) is None


def test_an_invalid_individual_keeps_a_parsable_genotype(ras_run: Path) -> None:
    invalid = next(r for r in load_run(ras_run).individuals if r.status == "invalid")
    assert parse_genotype(invalid) == _genotypes()[invalid.id]


def test_figures_plot_the_series(ras_run: Path) -> None:
    series = ras_series(load_run(ras_run))
    members, representatives = ras_accuracy_figure(series).axes[0].lines
    assert list(members.get_ydata()) == pytest.approx([60.0, 72.5, 82.5])
    assert list(representatives.get_ydata()) == pytest.approx(
        [100 * g.representatives_accuracy for g in series.generations]
    )
    panels = ras_structure_figure(series).axes
    assert [list(ax.lines[0].get_ydata()) for ax in panels] == [
        [g.blocks for g in series.generations],
        [g.layers for g in series.generations],
        [g.connections_per_block for g in series.generations],
    ]


def test_report_writes_the_ras_section_and_figures(ras_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["report", str(ras_run), "--out", str(out)]) == 0
    for name in RAS_FIGURES:
        _assert_image(out / name, min_height=150)
    md = (out / "summary.md").read_text()
    ras = md[md.index("## RAS") : md.index("## Figures")]
    for name in RAS_FIGURES:
        assert f"({name})" in ras
    assert "1 representative(s) have a genotype that is not a RAS genotype" in ras
    assert "| id | key | " + " | ".join(FEATURES) + " |" in ras
    spectrum = _genotypes()[8].spectrum()
    assert "| 8 | g2/o8 | " + " | ".join(map(str, spectrum)) + " |" in ras
    assert "| 2 | 82.50% | 81.67% | 2 |" in ras
    assert "(fitness.png)" in md[md.index("## Figures") :]
    html = (out / "summary.html").read_text()
    assert "<h2>RAS</h2>" in html and html.count('src="data:image/png;base64,') == 6
    # RAS's objective has no warm-up: none claimed in the facts, none shaded in the figure
    assert "| warm-up | none (ras) |" in md and "clean accuracy (warm-up)" not in md
    legend = fitness_figure(load_run(ras_run)).axes[0].get_legend_handles_labels()[1]
    assert not any("warm-up" in label for label in legend)


def test_ras_run_without_a_finished_generation_has_no_ras_section(tmp_path: Path) -> None:
    _make_ras(tmp_path / "run", {}).close()
    out = tmp_path / "out"
    assert main(["report", str(tmp_path / "run"), "--out", str(out)]) == 0
    assert "## RAS" not in (out / "summary.md").read_text()
    assert not any((out / name).exists() for name in RAS_FIGURES)


def test_nero_net_report_has_no_ras_section(run_dir: Path) -> None:  # noqa: F811
    out = run_dir / "report"
    out.mkdir()
    (out / "ras_spectrum.png").write_bytes(b"stale")
    assert not is_ras(load_run(run_dir))
    assert main(["report", str(run_dir)]) == 0
    md = (out / "summary.md").read_text()
    assert "## RAS" not in md and "ras_" not in md
    assert not any((out / name).exists() for name in RAS_FIGURES)
