"""The table-generation schema language, validated with pydantic.

One internal model for both input formats: the spec's (`source_type`/`source_id`/`options` on a
column) and the Tablepilot project's older one (a top-level `sources` list that columns name with
`source`) — `tablepilot.py` turns the latter into the former before validation.
"""
from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ColumnType = Literal["string", "integer", "number", "boolean", "date", "array", "image"]
SourceType = Literal["", "dataset", "table", "options", "file"]
TABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")


def table_name(value) -> str:
    """A table reference as a valid table name ("fantasy creatures_products" ->
    "fantasy_creatures_products"), the same way wherever it is written."""
    text = str(value or "").strip()
    clean = re.sub(r"[^A-Za-z0-9_\-]", "_", text)
    return clean if not clean or clean[0].isalpha() else f"t_{clean}"


class ColumnSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")
    # An empty name marks a column the model names at creation (Tablepilot's `{}` columns).
    name: str = Field("", max_length=100)
    description: str = ""
    type: ColumnType = "string"
    fill_mode: Literal["ai", "pick"] = "ai"
    random: bool = False
    replacement: bool = False
    # false/true as in the spec (true: start over when the source runs out), or Tablepilot's count:
    # each picked value fills that many consecutive rows, and the source cycles.
    repeat: bool | int = Field(False, union_mode="left_to_right")
    context_length: int = Field(0, ge=0, le=1000)
    linked_column: str = ""
    linked_context_columns: list[str] = Field(default_factory=list)
    source_id: str = ""
    source_type: SourceType = ""
    options: list = Field(default_factory=list, max_length=10_000)

    @field_validator("type", mode="before")
    @classmethod
    def lower_type(cls, value):
        return value.lower() if isinstance(value, str) else value

    @field_validator("repeat")
    @classmethod
    def repeat_range(cls, value):
        if not isinstance(value, bool) and not 0 <= value <= 100_000:
            raise ValueError("repeat must be true/false or a count from 0 to 100000")
        return value

    @model_validator(mode="after")
    def pick_has_a_source(self) -> "ColumnSpec":
        if self.source_type == "options" and not self.options:
            raise ValueError(f"column '{self.name}' has source_type 'options' but no 'options' list")
        if self.fill_mode == "pick" and not self.source_id and not self.options:
            raise ValueError(f"pick column '{self.name}' needs a source (source_id of a dataset or table, or options)")
        return self

    @property
    def run_length(self) -> int:
        """How many consecutive rows one picked value fills."""
        return self.repeat if not isinstance(self.repeat, bool) and self.repeat > 1 else 1


class TableSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=1, max_length=100)
    description: str = ""
    model: str = ""
    columns: list[ColumnSpec] = Field(min_length=1, max_length=200)
    sources: list[dict] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def plain_name(cls, name: str) -> str:
        if not TABLE_NAME.match(name):
            raise ValueError("a table name starts with a letter and has only letters, digits, '_' and '-'")
        return name

    @field_validator("columns")
    @classmethod
    def unique_names(cls, columns: list[ColumnSpec]) -> list[ColumnSpec]:
        names = [c.name for c in columns if c.name]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup:
            raise ValueError(f"column '{dup}' is defined twice")
        return columns

    @property
    def unnamed(self) -> list[int]:
        """Positions of the columns left for the model to name."""
        return [i for i, c in enumerate(self.columns) if not c.name.strip()]
