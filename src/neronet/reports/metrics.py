"""How metrics read to a human: one header and format per known metric name.

The progress table, ``status``, ``best`` and the reports show metrics by
name through :func:`view`; a metric registered by a new measurement and not
listed here still shows, under its own name with three decimals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from neronet.reports.describe import fmt_metric


def count(value: float | None) -> str:
    """Counts (parameters, FLOPs) in a short human form (812, 45.1k, 3.34M)."""
    n = int(value or 0)
    if n >= 1_000_000:
        return f"{n / 1e6:.2f}M"
    return f"{n / 1e3:.1f}k" if n >= 1000 else str(n)


@dataclass(frozen=True)
class MetricView:
    name: str
    header: str
    """Short column header (progress table)."""
    label: str
    """Long name (status, best, reports)."""
    width: int = 5
    fmt: Callable[[float | None], str] = fmt_metric
    in_table: bool = True


VIEWS = {
    v.name: v
    for v in (
        MetricView("clean_accuracy", "clean", "clean accuracy"),
        MetricView("adversarial_accuracy", "FGSM", "FGSM accuracy, conditional on clean-correct"),
        MetricView(
            "overall_adversarial_accuracy",
            "FGSM all",
            "FGSM accuracy, overall",
            in_table=False,
        ),
        MetricView(
            "masking_flag",
            "mask",
            "gradient masking suspected",
            width=4,
            fmt=lambda v: "-" if v is None else ("YES" if v else "no"),
        ),
        *(
            MetricView(name, name, name.replace("_", " "), in_table=False)
            for name in (
                "masking_fgsm_accuracy",
                "masking_pgd_accuracy",
                "masking_large_eps_accuracy",
                "masking_random_accuracy",
                "masking_images",
            )
        ),
        MetricView("parameters", "params", "parameters", width=7, fmt=count),
        MetricView("flops", "FLOPs", "multiply-adds per image", width=7, fmt=count),
    )
}


def view(name: str) -> MetricView:
    """How to show metric ``name`` (a generic view for metrics not listed in VIEWS)."""
    return VIEWS.get(name) or MetricView(name, name[:8], name.replace("_", " "), width=8)


def in_order(names: Iterable[str]) -> list[str]:
    """``names`` once each, the known metrics first in the order of VIEWS."""
    known = list(VIEWS)
    unique = list(dict.fromkeys(names))
    return sorted(unique, key=lambda n: known.index(n) if n in VIEWS else len(known))


def table_metrics(names: Iterable[str]) -> list[MetricView]:
    """The views of ``names`` that belong in the one-line-per-individual table."""
    return [v for v in map(view, names) if v.in_table]


def metrics_line(metrics: Mapping[str, float]) -> str:
    """``clean 0.916, FGSM 0.305, params 483.8k``: every metric, headed as in the table."""
    return ", ".join(f"{view(k).header} {view(k).fmt(v)}" for k, v in metrics.items())
