"""Suite results: per-model outcomes, the aggregate table, terminal / CSV / markdown output.

Accuracies follow the paper's Table 2: ``conditional`` is the share of the
clean-correct test images that survive the attack (only those are attacked),
``overall`` is the share of all test images that are still correct
(``clean * conditional``). Several models (the seeds of one training) give a
mean and a sample standard deviation per row.
"""

from __future__ import annotations

import csv
import io
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Group
from rich.table import Table
from rich.text import Text

from neronet.attacks.running import TARGET_CLASSES
from neronet.config import AttackSettings
from neronet.reports.document import Table as DocTable
from neronet.results import Tabular, text_table
from neronet.robustness.audit import Flag
from neronet.store import atomic_write


@dataclass(frozen=True)
class Outcome:
    """Accuracies of one model under one attack (``attack`` "clean" for the clean row)."""

    attack: str
    label: str
    threat: str
    eps: float | None
    clean: float
    conditional: float | None
    overall: float | None
    images: int


@dataclass
class ModelReport:
    """One model's outcomes and audit findings; ``audited``: threat labels the audit checked."""

    name: str
    outcomes: list[Outcome]
    flags: list[Flag] = field(default_factory=list)
    audited: tuple[str, ...] = ()


@dataclass(frozen=True)
class Row:
    """One line of the final table: mean and std over the models."""

    attack: str
    label: str
    threat: str
    eps: float | None
    clean: tuple[float, float]
    conditional: tuple[float, float] | None
    overall: tuple[float, float] | None
    models: int
    images: int
    flags: tuple[str, ...]
    notes: tuple[str, ...]
    audited: bool


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


@dataclass
class SuiteReport(Tabular):
    """All models' outcomes; ``rows()`` aggregates them for the table. ``print(report)``
    shows the table, ``to_markdown()`` / ``to_frame()`` convert it (accuracies in %
    as shown; the frame holds the fractions of ``robustness.csv``)."""

    models: list[ModelReport]
    settings: AttackSettings

    def rows(self) -> list[Row]:
        return [self._row(index) for index in range(len(self.models[0].outcomes))]

    def _row(self, index: int) -> Row:
        per_model = [m.outcomes[index] for m in self.models]
        first = per_model[0]
        found = [(m.name, f) for m in self.models for f in m.flags if f.attack == first.attack]
        tag = len(self.models) > 1  # name the model a finding is about when there are several

        def texts(kind: str) -> tuple[str, ...]:
            return tuple(
                f"{n}: {f.reason}" if tag else f.reason for n, f in found if f.kind == kind
            )

        def stat(values: list[float | None]) -> tuple[float, float] | None:
            numbers = [v for v in values if v is not None]
            return _mean_std(numbers) if numbers else None

        return Row(
            attack=first.attack,
            label=first.label,
            threat=first.threat,
            eps=first.eps,
            clean=_mean_std([o.clean for o in per_model]),
            conditional=stat([o.conditional for o in per_model]),
            overall=stat([o.overall for o in per_model]),
            models=len(per_model),
            images=first.images,
            flags=texts("masking"),
            notes=texts("note"),
            audited=all(first.threat in m.audited for m in self.models),
        )

    def table(self) -> DocTable:
        """The terminal and markdown table: accuracies in %, the audit's verdict per row."""
        cells = []
        for r in self.rows():
            numbers = [_pct(v, r.models) for v in (r.clean, r.conditional, r.overall)]
            cells.append((r.threat, r.label, _eps(r.eps), *numbers, _audit_text(r)))
        return DocTable(COLUMNS, tuple(cells))

    def records(self) -> list[dict[str, object]]:
        """One dict per row under ``CSV_COLUMNS``: fractions, None where not measured."""
        out = []
        for r in self.rows():
            cond = r.conditional or (None, None)
            overall = r.overall or (None, None)
            values = (
                r.threat,
                r.label,
                r.eps,
                *r.clean,
                *cond,
                *overall,
                r.models,
                r.images,
                " | ".join(r.flags),
                " | ".join(r.notes),
            )
            out.append(dict(zip(CSV_COLUMNS, values, strict=True)))
        return out

    def __str__(self) -> str:
        first = self.rows()[0]
        title = f"robustness over {first.models} model(s), {first.images} test images (%)"
        return f"{title}\n{text_table(self.table())}"

    def to_markdown(self) -> str:
        """The table and the settings it was measured with (``robustness.md``)."""
        return markdown(self)

    @property
    def flagged(self) -> bool:
        return any(f.kind == "masking" for m in self.models for f in m.flags)

    @property
    def audited(self) -> tuple[str, ...]:
        """Threat labels the audit checked (every model runs the same attacks)."""
        return self.models[0].audited


AUDIT_NOT_RUN = "audit not run: needs pgd-linf or pgd-l2 among the attacks"
"""Said instead of a verdict: every audit check compares against a PGD attack."""


def _pct(value: tuple[float, float] | None, models: int) -> str:
    if value is None:
        return "-"
    mean, std = value
    return f"{100 * mean:.2f} ± {100 * std:.2f}" if models > 1 else f"{100 * mean:.2f}"


def _eps(eps: float | None) -> str:
    """``8/255`` for the usual pixel-level radii, else the plain number."""
    if eps is None:
        return "-"
    plain, scaled = f"{eps:g}", eps * 255
    if len(plain) <= 5 or abs(scaled - round(scaled)) > 1e-6:
        return plain
    return f"{round(scaled)}/255"


def _unflagged(row: Row) -> str:
    """The audit cell of a row without findings: only an audited attack row is "ok"."""
    if row.conditional is None:
        return ""
    return "ok" if row.audited else "not audited"


def _audit_text(row: Row) -> str:
    texts = [*(f"FLAG: {f}" for f in row.flags), *(f"note: {n}" for n in row.notes)]
    return " ".join(texts) or _unflagged(row)


COLUMNS = ("threat", "attack", "eps", "clean", "conditional adv.", "overall adv.", "audit")
"""The table's columns, on the terminal and in markdown alike."""


def rich_report(report: SuiteReport) -> Group:
    """The terminal table plus the audit's reasons, numbered.

    The markdown file's columns: clean, conditional (Table 2: robust among the
    clean-correct images) and overall adversarial accuracy, each under its own
    header (one column holding two different accuracies misreads). A flagged
    row says FLAG [n] in red beside its numbers and reason [n] follows right
    under the table, so the table stays narrow.
    """
    rows = report.rows()
    title = f"robustness over {rows[0].models} model(s), {rows[0].images} test images (%)"
    table = Table(title=title)
    for column in COLUMNS:
        table.add_column(column)
    reasons: list[Text] = []
    for row in rows:
        marks = []
        for kind, texts, style in (("FLAG", row.flags, "red"), ("note", row.notes, "yellow")):
            for text in texts:
                reasons.append(
                    Text(f"[{len(reasons) + 1}] {row.label} ({row.threat}): {text}", style)
                )
                marks.append(f"{kind} [{len(reasons)}]")
        verdict = " ".join(marks) or _unflagged(row)
        style = "red" if row.flags else "yellow" if row.notes else None
        table.add_row(
            row.threat,
            row.label,
            _eps(row.eps),
            *(_pct(v, row.models) for v in (row.clean, row.conditional, row.overall)),
            verdict,
            style=style,
        )
    if report.settings.audit.enabled and not report.audited:
        reasons.append(Text(AUDIT_NOT_RUN, "yellow"))
    return Group(table, *reasons)


CSV_COLUMNS = (
    "threat",
    "attack",
    "eps",
    "clean_mean",
    "clean_std",
    "conditional_mean",
    "conditional_std",
    "overall_mean",
    "overall_std",
    "models",
    "images",
    "masking_flags",
    "notes",
)


def write_tables(report: SuiteReport, out_dir: str | Path) -> list[Path]:
    """``robustness.csv`` (aggregate), ``per_model.csv`` and ``robustness.md``."""
    out = Path(out_dir)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for record in report.records():
        writer.writerow([_csv_cell(column, record[column]) for column in CSV_COLUMNS])
    paths = [out / "robustness.csv", out / "per_model.csv", out / "robustness.md"]
    atomic_write(paths[0], buffer.getvalue().encode())
    atomic_write(paths[1], _per_model_csv(report).encode())
    atomic_write(paths[2], markdown(report).encode())
    return paths


def _fmt(pair: tuple[float | None, float | None]) -> list[str]:
    return ["" if v is None else f"{v:.6f}" for v in pair]


def _csv_cell(column: str, value: object) -> object:
    """CSV text of a record value: eps to 6 significant digits, accuracies to 6 places."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}" if column == "eps" else f"{value:.6f}"
    return value


def _per_model_csv(report: SuiteReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["model", "threat", "attack", "clean", "conditional", "overall", "flags"])
    for m in report.models:
        for o in m.outcomes:
            # kind first: a masking flag discredits the number, a note only qualifies it
            reasons = " | ".join(f"{f.kind}: {f.reason}" for f in m.flags if f.attack == o.attack)
            cond, overall = _fmt((o.conditional, o.overall))
            writer.writerow([m.name, o.threat, o.label, f"{o.clean:.6f}", cond, overall, reasons])
    return buffer.getvalue()


def _count(n: int, noun: str) -> str:
    """``1 restart``, ``5 restarts``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def markdown(report: SuiteReport) -> str:
    """The table as markdown, followed by the settings it was measured with."""
    rows = report.rows()
    s = report.settings
    lines = [
        "# Robustness",
        "",
        f"{rows[0].models} model(s): {', '.join(m.name for m in report.models)}; "
        f"{rows[0].images} test images. Accuracies in %, mean ± std over models; "
        "conditional = robust among clean-correct images (NERO-Net Table 2), "
        "overall = correct after the attack among all images.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + " --- |" * len(COLUMNS),
    ]
    lines += [
        "| " + " | ".join(cell.replace("|", "/") for cell in row) + " |"
        for row in report.table().rows
    ]
    run = {o.attack for m in report.models for o in m.outcomes}
    autoattack = (
        f"AutoAttack: standard (L-inf), APGD-CE ({_count(s.autoattack_restarts, 'restart')}) "
        f"+ APGD-T ({TARGET_CLASSES} target classes, 1 restart) (L2); "
        if run & {"autoattack", "apgd-l2"}
        else ""
    )
    lines += [
        "",
        f"Settings: PGD {s.steps} steps, step {_eps(s.step('linf'))} (L-inf) / "
        f"{s.step('l2'):g} (L2), random start {s.random_start}; batch {s.batch_size}; "
        f"{autoattack}seed {s.seed}.",
        "",
    ]
    if s.audit.enabled and not report.audited:
        lines.append(AUDIT_NOT_RUN[0].upper() + AUDIT_NOT_RUN[1:] + ".")
    elif s.audit.enabled:
        a = s.audit
        lines.append(
            f"Audit of the {' and '.join(report.audited)} attacks on the first {a.subset} "
            f"clean-correct images: tolerance {a.tolerance:.0%}, "
            f"Square {a.square_queries} queries, PGD-{a.convergence_steps} x "
            f"{_count(a.convergence_restarts, 'restart')}, L-inf eps {a.large_eps} must give <= "
            f"{a.large_eps_max_accuracy:.0%}. Result: "
            + ("gradient masking suspected (see rows)." if report.flagged else "no flag.")
        )
    return "\n".join(lines) + "\n"
