"""What a table write reports: the rows it was given, what it wrote, what the database refused.

`TableWriter.write` returns a `WriteResult`; the server puts it into the sheet's document
(`outcome.put_outcome`) and into metrics, the CLI prints it.
"""

from dataclasses import dataclass, field
from typing import Any

from persistence.store.table_record import RecordedRow
from persistence.table.external_changes import ExternalChange


@dataclass(frozen=True)
class RowState:
    """A dirty row as the document holds it now; `cells` is None for a deleted row."""

    key: str
    cells: dict[str, Any] | None


@dataclass(frozen=True)
class Refusal:
    """Cells the database (or the column type) would not take."""

    key: str
    columns: tuple[str, ...]
    reason: str
    values: dict[str, Any]  # the refused values, as the document held them
    restore: RecordedRow | None  # what the table still holds; None for a row never written
    deleted: bool = False  # a refused DELETE: the row must come back


@dataclass
class WriteResult:
    written: dict[str, set[str]] = field(default_factory=dict)  # row key -> columns written
    pks: dict[str, Any] = field(default_factory=dict)  # new rows' keys -> pk for the document
    # Row key -> column -> (the value the document held, the value the table stored): cells
    # the document must show as stored, unless it changed them again meanwhile.
    stored: dict[str, dict[str, tuple[Any, Any]]] = field(default_factory=dict)
    refusals: list[Refusal] = field(default_factory=list)
    # New rows not inserted yet: key -> the required columns still empty. Not refusals: their
    # users are still filling them in; the row is tried again when it changes.
    waiting: dict[str, tuple[str, ...]] = field(default_factory=dict)
    external: list[ExternalChange] = field(default_factory=list)  # found in the table, kept
    inserted: int = 0
    updated: int = 0
    deleted: int = 0

    def report(self) -> dict[str, Any]:
        """What `POST /api/sheets/NAME/flush` answers, as JSON; crosses processes as it is."""
        refusals = [{"key": r.key, "columns": list(r.columns), "reason": r.reason}
                    for r in self.refusals]  # fmt: skip
        counts = {"inserted": self.inserted, "updated": self.updated, "deleted": self.deleted}
        return {**counts, "refusals": refusals}

    @property
    def rows_written(self) -> int:
        return self.inserted + self.updated + self.deleted
