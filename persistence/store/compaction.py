"""A sheet's log rows as few rows, the size of the live document rather than of its history.

`merge_updates` keeps every value ever written, so a log compacted by merging grows with the
number of edits. Applied into a document with garbage collection on, overwritten and deleted
content is dropped: only the ids of deleted content stay (merged into ranges), which is all a
client that was offline needs to merge its edits. A document only encodes what it could
integrate, so the rows' parts that wait on updates not logged yet (another process's, or a
dead one's that its trimmer will adopt), and the deletes of content not logged yet, are added
back from the rows themselves: compaction must not lose them.

The chunks a sheet was built in from its table (`populate`) are kept while they are most of
the document: a restart applies them one at a time (letting go of the GIL in between), and
a fresh client is sent them first and can show the first rows before the rest has arrived.
Blocking: run it in a thread.
"""

from dataclasses import dataclass

from pycrdt import Decoder, Doc, get_update, merge_updates

# Built chunks are kept while they and what follows them stay under this many times the
# size of the document as one update: beyond it, they mostly hold what was overwritten.
CHUNKS_KEPT_WHILE = 1.5


@dataclass(frozen=True)
class Compacted:
    kept: int  # leading rows kept as they are
    rest: bytes  # one update for the rows after them


def compacted(rows: list[bytes]) -> Compacted:
    """The log rows as the built chunks they start with, if worth keeping, and one
    garbage-collected update of everything else, keeping what waits on unlogged updates."""
    doc: Doc = Doc()  # makes no edits of its own: its client id never appears in the result
    built = _built_chunks(rows)
    for row in rows[:built]:
        doc.apply_update(row)
    built_state = doc.get_state()
    for row in rows[built:]:
        doc.apply_update(row)
    state = doc.get_state()
    whole = doc.get_update()
    beyond = doc.get_update(built_state) if built else whole
    del doc
    kept = built
    if sum(len(row) for row in rows[:built]) + len(beyond) > CHUNKS_KEPT_WHILE * len(whole):
        kept, beyond = 0, whole
    # Each row beyond the document's state: structs the document could not integrate, and the
    # row's delete set (clock ranges), among which the deletes the document had to hold back.
    waiting = [get_update(row, state) for row in rows[kept:]]
    return Compacted(kept, merge_updates(beyond, *waiting))


def _built_chunks(rows: list[bytes]) -> int:
    """How many rows at the start are chunks as `populate` makes them: one client's history
    from its first clock on, in order, deleting nothing."""
    client = None
    clock = -1
    for count, row in enumerate(rows):
        header = Decoder(row)
        if header.read_var_uint() != 1 or row[-1] != 0:  # one client; an empty delete set
            return count
        header.read_var_uint()  # how many structs
        row_client, start = header.read_var_uint(), header.read_var_uint()
        first = client is None
        if start <= clock or (start != 0 if first else row_client != client):
            return count
        client, clock = row_client, start
    return len(rows)
