"""Plots and tables from a RunStore: what ``neronet report DIR`` writes.

A report reads only the run's store (opened read-only), so it can be made at
any time, also while the search is running, and an unfinished run gives a
shorter report instead of an error.

Files written to the report directory:

* ``fitness.png``: best (parent) and mean fitness per generation, switch marked
  (a Pareto search instead: ``hypervolume.png``, the hypervolume per generation,
  and ``front.png``, each generation's front on the first two objectives)
* ``accuracy.png``: clean and FGSM accuracy of each generation's parent
* ``architecture.png``: the best individual's network as a box diagram
* a RAS run only: ``ras_accuracy.png``, ``ras_structure.png`` and ``ras_spectrum.png``
  (the paper's Figures 3 and 4, and the final representatives' spectra), shown with
  their tables in the summary's "RAS" section
* ``summary.md`` / ``summary.html``: run facts, best individual, generation table
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from matplotlib.figure import Figure

from neronet.errors import StoreError
from neronet.reports.architecture import architecture_figure
from neronet.reports.data import RunData, load_run
from neronet.reports.document import Document, Image, to_html, to_markdown
from neronet.reports.plots import (
    accuracy_figure,
    fitness_figure,
    front_figure,
    hypervolume_figure,
    save,
)
from neronet.reports.ras_data import RasSeries, is_ras, ras_series
from neronet.reports.ras_plots import ras_accuracy_figure, ras_spectrum_figure, ras_structure_figure
from neronet.reports.ras_summary import ras_section
from neronet.reports.summary import build_summary

__all__ = ["write_report"]


def _figures(data: RunData) -> list[ReportFigure]:
    """Each figure's file, caption and drawing function (None when the run lacks its data)."""
    has_generations = bool(data.generations)
    spec = data.best_spec()
    best = data.best

    def architecture() -> Figure:
        assert spec is not None and best is not None
        n = best.metric("parameters")
        params = "" if n is None else f", {int(n):,} parameters"
        title = f"Best individual {best.id} ({best.key}): {len(spec.nodes)} nodes{params}"
        return architecture_figure(spec, title)

    vector = data.components is not None
    return [
        (
            "fitness.png",
            f"{data.best_label} and population-mean fitness per generation",
            (lambda: fitness_figure(data)) if has_generations and not vector else None,
        ),
        (
            "hypervolume.png",
            "hypervolume of each generation's front and of its members alone",
            (lambda: hypervolume_figure(data)) if has_generations and vector else None,
        ),
        (
            "front.png",
            "each generation's Pareto front, first two objectives",
            (lambda: front_figure(data)) if has_generations and vector else None,
        ),
        (
            "accuracy.png",
            "clean and FGSM accuracy of each generation's parent",
            (lambda: accuracy_figure(data)) if has_generations else None,
        ),
        (
            "architecture.png",
            "architecture of the best individual",
            architecture if spec is not None else None,
        ),
    ]


def _ras_figures(series: RasSeries | None) -> list[ReportFigure]:
    """The RAS section's figures; none drawable for another strategy's run (so a stale
    file from an earlier report of the directory is removed like any other)."""
    generations = series is not None and bool(series.generations)
    spectra = series is not None and bool(series.spectra)

    def draw(figure: Callable[[RasSeries], Figure]) -> Callable[[], Figure]:
        assert series is not None
        return lambda: figure(series)

    return [
        (
            "ras_accuracy.png",
            "mean clean accuracy per generation: all evaluated individuals and the representatives",
            draw(ras_accuracy_figure) if generations else None,
        ),
        (
            "ras_structure.png",
            "mean blocks, layers and connections per block of each generation's "
            "representatives (the population carried forward)",
            draw(ras_structure_figure) if generations else None,
        ),
        (
            "ras_spectrum.png",
            "spectrum of the final representatives (colour scaled per feature)",
            draw(ras_spectrum_figure) if spectra else None,
        ),
    ]


def _summary(data: RunData, series: RasSeries | None, images: list[Image]) -> Document:
    """The summary, with a RAS run's own figures in its RAS section instead of under
    Figures."""
    if series is None or not series.generations:
        return build_summary(data, images)
    own = {file for file, _, _ in _ras_figures(None)}  # the names, drawable or not
    section = ras_section(series, [i for i in images if i.file in own])
    return build_summary(data, [i for i in images if i.file not in own], (section,))


def write_report(run_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """Write the report of the run in ``run_dir``; returns the report directory.

    ``out_dir`` defaults to ``run_dir/report``. Raises
    :class:`~neronet.errors.StoreError` if ``run_dir`` is not a run or the
    report cannot be written.
    """
    data = load_run(run_dir)
    out = Path(run_dir) / "report" if out_dir is None else Path(out_dir)
    series = ras_series(data) if is_ras(data) else None
    figures = _figures(data) + _ras_figures(series)
    return write_report_files(out, figures, lambda images: _summary(data, series, images))


ReportFigure = tuple[str, str, Callable[[], Figure] | None]
"""A report figure: file name, caption, and how to draw it (None: not drawable now)."""


def write_report_files(
    out: Path, figures: list[ReportFigure], summary: Callable[[list[Image]], Document]
) -> Path:
    """Write ``figures`` and the summary built over the written ones (markdown, HTML) to
    ``out``; a figure that cannot be drawn removes its stale file. One place for run and
    study reports, with one one-line error when ``out`` is not writable."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        images = []
        for file, caption, draw in figures:
            if draw is None:
                # A figure left from an older report would contradict the summary.
                (out / file).unlink(missing_ok=True)
                continue
            save(draw(), out / file)
            images.append(Image(file, caption))
        doc = summary(images)
        (out / "summary.md").write_text(to_markdown(doc), encoding="utf-8")
        (out / "summary.html").write_text(to_html(doc, out), encoding="utf-8")
    except OSError as err:
        raise StoreError(
            f"cannot write the report to '{out}' ({err.strerror or err}); "
            "choose a writable directory"
        ) from None
    return out
