"""The table-generation schema language (Tablepilot-compatible), validated with pydantic."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ColumnType = Literal["string", "integer", "number", "boolean", "date", "image"]


class ColumnSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=1, max_length=100)
    description: str = ""
    type: ColumnType = "string"
    fill_mode: Literal["ai", "pick"] = "ai"
    random: bool = False
    replacement: bool = False
    repeat: bool = False
    context_length: int = Field(0, ge=0, le=1000)
    linked_column: str = ""
    linked_context_columns: list[str] = Field(default_factory=list)
    source_id: str = ""
    source_type: Literal["", "dataset", "table"] = ""
    options: list = Field(default_factory=list)


class TableSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_\-]+$")
    description: str = ""
    model: str = ""
    columns: list[ColumnSpec] = Field(min_length=1)
    sources: list[dict] = Field(default_factory=list)

    @field_validator("columns")
    @classmethod
    def unique_names(cls, columns: list[ColumnSpec]) -> list[ColumnSpec]:
        names = [c.name for c in columns]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup:
            raise ValueError(f"column '{dup}' is defined twice")
        for c in columns:
            if c.fill_mode == "pick" and not c.source_id and not c.options:
                raise ValueError(f"pick column '{c.name}' needs a source_id (dataset or table) or options")
        return columns
