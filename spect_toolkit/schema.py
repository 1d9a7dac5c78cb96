"""Table schemas written once: the columns a stage promises, their types and meaning, and the check."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .errors import SchemaError


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # "string", "int", "float", "bool"
    description: str
    allowed: tuple[str, ...] | None = None
    optional: bool = False  # checked where present; a table without it is still valid


@dataclass(frozen=True)
class Schema:
    name: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        """The columns every table of this schema has (a stage that writes one writes these)."""
        return [c.name for c in self.columns if not c.optional]

    def validate(self, table: pd.DataFrame, source: str | Path | None = None) -> pd.DataFrame:
        """Raise :class:`SchemaError` naming every missing column or disallowed value; return the table typed."""
        missing = [name for name in self.required if name not in table.columns]
        if missing:
            raise SchemaError(source, f"{self.name} lacks column(s) {', '.join(missing)}")
        table = table.copy()
        for column in self.columns:
            if column.name not in table.columns:
                continue
            values = table[column.name]
            if column.allowed is not None:
                bad = sorted(set(values.dropna().astype(str)) - set(column.allowed))
                if bad:
                    raise SchemaError(
                        source,
                        f"{self.name} column {column.name!r} has unknown value(s) {', '.join(map(repr, bad))}; "
                        f"allowed: {', '.join(column.allowed)}",
                    )
            try:
                if column.dtype == "int":
                    table[column.name] = values.astype("int64")
                elif column.dtype == "float":
                    table[column.name] = values.astype("float64")
                elif column.dtype == "bool":
                    table[column.name] = values.astype(bool)
                else:
                    table[column.name] = values.astype("string")
            except (TypeError, ValueError) as exc:
                raise SchemaError(source, f"{self.name} column {column.name!r} is not {column.dtype}: {exc}") from None
        return table

    def markdown(self) -> str:
        lines = ["| column | type | meaning |", "|---|---|---|"]
        for c in self.columns:
            allowed = f" ({', '.join(c.allowed)})" if c.allowed else ""
            optional = "; optional" if c.optional else ""
            lines.append(f"| `{c.name}` | {c.dtype}{optional} | {c.description}{allowed} |")
        return "\n".join(lines)
