"""The content of ``summary.md`` / ``summary.html``: run facts, best individual, generations."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from neronet.reports.data import GenerationStats, RunData
from neronet.reports.document import Document, Image, Section, Table
from neronet.reports.metrics import view
from neronet.store import GenerationRow

NA = "n/a"


def percent(value: float | None) -> str:
    return NA if value is None else f"{100 * value:.2f}%"


def number(value: float | None, digits: int = 4) -> str:
    return NA if value is None else f"{value:.{digits}f}"


def count(value: int | None) -> str:
    return NA if value is None else f"{value:,}"


def duration(seconds: float | None) -> str:
    """``3h 02m 05s`` style, so long searches read at a glance."""
    if seconds is None:
        return NA
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


_DURATION = re.compile(r"(?:(\d+)h )?(?:(\d+)m )?(\d+(?:\.\d+)?)s")


def parse_duration(text: str) -> float | None:
    """The seconds a :func:`duration` string stands for (None: not one), so a time left
    written into a log can be counted down later."""
    found = _DURATION.fullmatch(text.strip())
    if found is None:
        return None
    hours, minutes, secs = found.groups()
    return 3600 * int(hours or 0) + 60 * int(minutes or 0) + float(secs)


def timestamp(value: float | None) -> str:
    if value is None:
        return NA
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _warmup(row: GenerationRow) -> bool:
    """Whether the generation's fitness was NERO-Net's warm-up (clean accuracy)."""
    return bool(row.info.get("warmup", False))


def _shown(name: str, value: float) -> str:
    """A metric in the report: accuracies as percentages, the masking flag as yes / no,
    counts exact, others as numbers."""
    if name == "masking_flag":
        return view(name).fmt(value)
    if name.endswith("accuracy"):
        return percent(value)
    return count(int(value)) if float(value).is_integer() else number(value)


def _objective(data: RunData, row: GenerationRow) -> str:
    """What the generation's fitness was: NERO-Net's phase, else the objective's name."""
    if not data.has_warmup:
        return f"objective {data.objective}"
    return "clean accuracy (warm-up)" if _warmup(row) else "weighted HRS"


def _progress(data: RunData) -> str:
    total = data.generations_total
    done = len(data.generations)
    if done == 0:
        return (
            f"No generation has finished yet ({len(data.individuals)} individuals evaluated so "
            "far), so there is no best individual and no figure; make the report again later."
        )
    state = "finished" if data.finished else "is unfinished"
    return f"The search {state}: {done} of {total} generations done."


def _warmup_fact(data: RunData) -> str:
    threshold = f"tau = {data.config.fitness.warmup_tau}"
    switch = data.switch_generation
    if switch is None:
        return f"still in warm-up: fitness = clean accuracy until the mean reaches {threshold}"
    return (
        f"population mean reached {threshold} at the end of generation {switch}; "
        f"fitness = weighted HRS from generation {switch + 1}"
    )


def _run_facts(data: RunData) -> Table:
    done = len(data.generations)
    total = data.generations_total
    rows = (
        ("run directory", str(data.directory)),
        ("seed", str(data.meta.get("seed", NA))),
        ("dataset", data.config.data.dataset),
        ("generations done", f"{done} / {total}"),
        ("finished", "yes" if data.finished else "no"),
        ("individuals evaluated", count(len(data.individuals))),
        (
            "ok / ill-fitted / invalid",
            " / ".join(str(data.count(s)) for s in ("ok", "ill-fitted", "invalid")),
        ),
        ("cache hits (duplicates not retrained)", str(data.cache_hits)),
        ("warm-up", _warmup_fact(data) if data.has_warmup else f"none ({data.objective})"),
        ("total training time", duration(sum(r.train_seconds or 0.0 for r in data.individuals))),
        ("total FGSM time", duration(data.total_seconds("fgsm"))),
        ("started", timestamp(data.meta.get("started_at"))),
        ("finished at", timestamp(data.meta.get("finished_at"))),
        ("neronet version", str((data.meta.get("versions") or {}).get("neronet", NA))),
    )
    return Table(("fact", "value"), rows)


def _best_table(data: RunData) -> Table:
    best = data.best
    last = data.generations[-1].row
    assert best is not None
    rows = [
        ("id (key)", f"{best.id} ({best.key})"),
        ("born in generation", str(best.generation)),
        ("fitness", f"{number(last.best_fitness)} ({_objective(data, last)})"),
        *((view(name).label, _shown(name, value)) for name, value in best.metrics.items()),
        ("epochs", count(best.epochs)),
        ("training time", f"{duration(best.train_seconds)} (budget {duration(best.train_time)})"),
        ("mutations", ", ".join(best.mutations) or "none"),
    ]
    if best.cache_of is not None:
        rows.append(("duplicate of", f"individual {best.cache_of} (metrics reused)"))
    return Table(("metric", "value"), tuple(rows))


def _front_table(data: RunData) -> Table:
    """The last generation's front: a row per member, its objectives as measured."""
    assert data.components is not None
    front = data.front(data.generations[-1])
    names = data.components
    rows = tuple(
        (
            str(m.id),
            m.key,
            *(NA if m.metric(n) is None else _shown(n, m.metric(n)) for n in names),
        )
        for m in front
    )
    return Table(("id", "key", *(view(n).label for n in names)), rows)


def _generation_row(data: RunData, g: GenerationStats, vector: bool) -> tuple[str, ...]:
    phase = "clean" if _warmup(g.row) else "HRS"
    return (
        str(g.row.generation),
        "Pareto" if vector else phase if data.has_warmup else data.objective,
        f"{g.parent.id} ({g.parent.key})",
        number(g.row.best_fitness),
        number(g.row.mean_fitness),
        percent(g.parent.metric("clean_accuracy")),
        percent(g.parent.metric("adversarial_accuracy")),
        str(len(g.members)),
        str(g.count("ill-fitted")),
        str(g.count("invalid")),
        "switch to HRS after this generation" if g.row.info.get("switched") else "",
    )


_GENERATION_HEADERS = (
    "generation",
    "objective",
    "parent",
    "best fitness",
    "mean fitness",
    "parent clean",
    "parent FGSM (cond.)",
    "evaluated",
    "ill-fitted",
    "invalid",
    "note",
)


def build_summary(data: RunData, images: list[Image], extra: tuple[Section, ...] = ()) -> Document:
    """The report's text; ``images`` are the figures actually written next to it, and
    ``extra`` a strategy's own sections (RAS), placed before the figures."""
    sections = [Section("Run", (_progress(data), _run_facts(data)))]
    vector = data.components is not None
    if data.generations and vector:
        sections.append(
            Section(
                "Pareto front",
                (
                    "The last generation's first front, ordered by the first objective "
                    "(`neronet export RUN --id N` exports a member). In the generation "
                    "table, best fitness is the front's hypervolume and mean fitness the "
                    "members' mean hypervolume each alone (shares of the fitness.pareto box); "
                    "the parent is the front's first member.",
                    _front_table(data),
                ),
            )
        )
    elif data.generations:
        sections.append(
            Section(
                "Best individual",
                (
                    "The parent chosen by the last finished generation"
                    + (
                        " (fitness values from warm-up and after it are not comparable, so "
                        "this is the strategy's choice)."
                        if data.has_warmup
                        else "."
                    ),
                    _best_table(data),
                ),
            )
        )
    if data.generations:
        sections.append(
            Section(
                "Generations",
                (
                    "Generation 0 is the initial population; each row's parent is the "
                    "generation's selected (best) individual.",
                    Table(
                        _GENERATION_HEADERS,
                        tuple(_generation_row(data, g, vector) for g in data.generations),
                    ),
                ),
            )
        )
    sections += extra
    sections.append(Section("Figures", tuple(images) or ("No figures yet.",)))
    name = data.directory.resolve().name
    return Document(f"neronet run report: {name}", tuple(sections))
