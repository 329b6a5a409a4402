"""A run's individuals as a table: rows of plain values, a pandas DataFrame, CSV, JSON, Parquet.

One row per individual: its place in the search (id, key, generation, parent,
mutations), its status, its fitness (one ``fitness`` column for a scalar
objective; one ``fitness_<metric>`` column per objective of a vector one, in
the objective's higher-is-better form: a ``min`` metric negated, ``-inf`` for
an individual that was not measured), every metric as its own column (empty
where it was not measured), and its training. CSV and JSON need nothing but
the standard library; the DataFrame and Parquet need the ``table`` extra
(pandas, and pyarrow for Parquet).
"""

from __future__ import annotations

import csv
import importlib
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neronet.errors import NeronetError
from neronet.evaluation.objectives import stored_components
from neronet.reports.document import Table
from neronet.reports.metrics import in_order, table_metrics
from neronet.results import Tabular
from neronet.store import IndividualRow, RunStore, atomic_write

if TYPE_CHECKING:
    import pandas as pd

FORMATS = ("csv", "json", "parquet")
LEADING = ("id", "key", "generation", "status", "reason", "parent_id", "mutations")
TRAILING = ("train_time", "epochs", "train_seconds", "cache_of")


class MissingExtra(NeronetError):
    """An optional dependency of the table is not installed."""


@dataclass(frozen=True)
class RunTable(Tabular):
    """The individuals of one run, read once (the store is closed afterwards).
    ``print(table)`` shows a row per individual as the search's progress lines do;
    ``to_frame()`` is :meth:`individuals`, ``to_markdown()`` the printed table."""

    directory: Path
    rows: tuple[IndividualRow, ...]
    objective_names: tuple[str, ...] | None
    """The metrics of a vector objective (its fitness columns), None for a scalar one."""

    @property
    def columns(self) -> list[str]:
        """Column names, in order: place, fitness, metrics (first seen first), training."""
        if self.objective_names is None:
            fitness = ["fitness"]
        else:
            fitness = [f"fitness_{name}" for name in self.objective_names]
        metrics = list(dict.fromkeys(name for r in self.rows for name in r.metrics))
        return [*LEADING, *fitness, *metrics, *TRAILING]

    def records(self) -> list[dict[str, Any]]:
        """One dict per individual under :attr:`columns`; ``mutations`` comma-joined."""
        columns = self.columns
        out = []
        for r in self.rows:
            values: dict[str, Any] = {
                "id": r.id,
                "key": r.key,
                "generation": r.generation,
                "status": r.status,
                "reason": r.reason,
                "parent_id": r.parent_id,
                "mutations": ",".join(r.mutations),
                "train_time": r.train_time,
                "epochs": r.epochs,
                "train_seconds": r.train_seconds,
                "cache_of": r.cache_of,
                **r.metrics,
            }
            if self.objective_names is None:
                values["fitness"] = r.fitness
            else:
                fitness = r.fitness if isinstance(r.fitness, tuple) else ()
                for name, value in zip(self.objective_names, fitness, strict=False):
                    values[f"fitness_{name}"] = value
            out.append({c: values.get(c) for c in columns})
        return out

    def table(self) -> Table:
        """Place, status, fitness and the progress table's metrics, as a person reads them."""
        views = table_metrics(in_order(n for r in self.rows for n in r.metrics))
        headers = ("id", "key", "status", "fitness", *(v.header for v in views), "mutations")
        rows = tuple(
            (
                str(r.id),
                r.key,
                r.status,
                fmt_fitness(r.fitness),
                *(v.fmt(r.metric(v.name)) for v in views),
                ",".join(r.mutations),
            )
            for r in self.rows
        )
        return Table(headers, rows)

    def individuals(self) -> pd.DataFrame:
        """The table as a pandas DataFrame (needs the ``table`` extra)."""
        pandas = require("pandas", "a DataFrame")
        return pandas.DataFrame(self.records(), columns=self.columns)

    to_frame = individuals

    def to_csv(self) -> str:
        """CSV text with a header row; empty cells where a value is missing."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        for record in self.records():
            writer.writerow({k: "" if v is None else v for k, v in record.items()})
        return buffer.getvalue()

    def to_json(self) -> str:
        """A JSON list of row objects; non-finite numbers (``-inf`` fitness) as null."""
        rows = [{k: _json_value(v) for k, v in rec.items()} for rec in self.records()]
        return json.dumps(rows, indent=1)

    def write(self, fmt: str, out: Path | None) -> None:
        """Write the table as ``fmt`` to ``out`` (stdout when None; Parquet needs a file)."""
        if fmt == "parquet":
            if out is None:
                raise NeronetError("parquet is binary: pass --out FILE.parquet")
            require("pyarrow", "Parquet")
            buffer = io.BytesIO()
            self.individuals().to_parquet(buffer, index=False)
            atomic_write(out, buffer.getvalue())
            return
        text = self.to_csv() if fmt == "csv" else self.to_json() + "\n"
        if out is None:
            print(text, end="")
        else:
            atomic_write(out, text.encode("utf-8"))


def fmt_fitness(fitness: float | tuple[float, ...] | None) -> str:
    """A scalar fitness to 4 places, a vector one as a tuple of 4-place values."""
    if isinstance(fitness, tuple):
        return "(" + ", ".join(f"{v:.4g}" for v in fitness) + ")"
    return "-" if fitness is None else f"{fitness:.4f}"


def _json_value(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def require(module: str, what: str) -> Any:
    """Import an optional dependency, or a one-line error naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(
            f"{what} needs {module}: pip install 'neronet-evo[table]' (CSV and JSON need nothing)"
        ) from None


def load_run(run_dir: str | Path) -> RunTable:
    """Read the run in ``run_dir`` (read-only; also while it runs) as a :class:`RunTable`."""
    store = RunStore.open(run_dir, readonly=True)
    try:
        rows = tuple(store.individuals())
        names = stored_components(store.config())
    finally:
        store.close()
    return RunTable(Path(run_dir), rows, names)
