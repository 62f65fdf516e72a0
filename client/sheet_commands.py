"""What the sheet commands do (snapshot, restore, import, export); `cli.py` parses and prints."""

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from pycrdt import Doc, Map

from client.csv_import import read_rows
from client.workspace import CommandError, Workspace
from persistence import row_edits
from persistence.document import ROWS, iter_rows, new_doc
from persistence.records import records_of, to_csv, to_json
from persistence.store import snapshots
from persistence.table.write_document import write_document
from persistence.table.write_result import WriteResult


@dataclass(frozen=True)
class Snapshotted:
    sheet: str
    version: int
    result: WriteResult
    live: bool


@dataclass(frozen=True)
class Restored:
    edits: row_edits.RowEdits
    undo_version: int | None  # the version that holds the state before, if anything changed
    live: bool


@dataclass(frozen=True)
class Imported:
    rows: int
    live: bool
    keys_from_database: bool  # the file's key column, if any, was skipped


async def snapshot(workspace: Workspace, name: str, label: str | None) -> Snapshotted:
    """Writes the sheet's current document into its table, then records it as a version.
    Through a running server, the server writes it from its live document and tells every
    client the new keys; without one, the snapshot writes it and puts the keys in the log."""
    schema = workspace.schema(name)
    async with workspace.document(name, "snapshot") as opened:
        doc = opened.doc
        if opened.live:
            result = await workspace.flush(name)
        else:
            flush = await asyncio.to_thread(
                write_document, workspace.engine, name, schema, doc.get_update()
            )
            if flush.write_back is not None:
                with opened.edit():
                    doc.apply_update(flush.write_back)
            result = flush.result
        version = await _record(workspace, name, doc, label)
    return Snapshotted(name, version, result, opened.live)


async def restore(workspace: Workspace, name: str, version: int) -> Restored:
    """Makes the sheet equal to a version again, as new edits; the state it replaces is
    recorded first, so restoring that version undoes this."""
    schema = workspace.schema(name)  # an unknown sheet is reported before an unknown version
    data = await asyncio.to_thread(snapshots.load, workspace.engine, name, version)
    if data is None:
        raise CommandError(
            f"sheet {name!r} has no version {version}; `cellsync snapshots {name}` lists them"
        )
    target = new_doc()
    target.apply_update(data)
    wanted = list(iter_rows(target))
    async with workspace.document(name, "restore") as opened:
        rows = opened.doc.get(ROWS, type=Map)
        gone = {key for key, _ in wanted if key not in rows}
        record = await asyncio.to_thread(workspace.store.recorded_rows, name, gone)
        edits = row_edits.matching(opened.doc, wanted, schema, record.deleted)
        undo = None
        if edits:
            undo = await _record(workspace, name, opened.doc, f"before restoring {version}")
            with opened.edit() as doc:
                row_edits.apply(doc, edits)
    return Restored(edits, undo, opened.live)


async def import_csv(workspace: Workspace, name: str, lines: Iterable[str]) -> Imported:
    """Appends the file's rows to the sheet, all or (at the first bad row) none."""
    schema = workspace.schema(name)
    rows = read_rows(lines, schema)
    if schema.autoincrement:  # the database gives the keys, with a server or without
        rows = [{column: v for column, v in row.items() if column != schema.pk} for row in rows]
    async with workspace.document(name, "import") as opened:
        with opened.edit() as doc:
            row_edits.apply(doc, row_edits.appending(rows))
    return Imported(len(rows), opened.live, schema.autoincrement)


async def export(workspace: Workspace, name: str, format: str, raw: bool = False) -> str:
    columns, rows = records_of(await workspace.read(name))
    return to_csv(columns, rows, raw) if format == "csv" else to_json(rows)


async def _record(workspace: Workspace, name: str, doc: Doc, label: str | None) -> int:
    rows = sum(1 for _ in iter_rows(doc))
    return await asyncio.to_thread(
        snapshots.record, workspace.engine, name, doc.get_update(), rows, label
    )
