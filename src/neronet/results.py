"""Results that read as tables: ``print(result)`` in a terminal, ``result.to_markdown()``
for a document, ``result.to_frame()`` for pandas.

A result class says what its table is once (:meth:`Tabular.table`: headers and cells
as a person reads them) and what its numbers are (:meth:`Tabular.records`: plain
values per row, for a DataFrame); the three views follow from those two.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from neronet.reports.document import Table, md_block

if TYPE_CHECKING:
    import pandas as pd


def text_table(table: Table) -> str:
    """Columns aligned with spaces, never wrapped or cut (a pipe or a file keeps it all)."""
    rows = [table.headers, *table.rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(table.headers))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


class Tabular:
    """Mixin: ``str()``, :meth:`to_markdown` and :meth:`to_frame` from :meth:`table` and
    :meth:`records`."""

    def table(self) -> Table:
        raise NotImplementedError

    def records(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def __str__(self) -> str:
        return text_table(self.table())

    def to_markdown(self) -> str:
        return md_block(self.table()) + "\n"

    def to_frame(self) -> pd.DataFrame:
        """The numbers as a pandas DataFrame (needs pandas: the ``table`` extra)."""
        from neronet.table import require

        return require("pandas", "to_frame()").DataFrame(self.records())
