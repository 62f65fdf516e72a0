"""A sheet's log rows as one update the size of the live document, not of its history.

`merge_updates` keeps every value ever written, so a log compacted by merging grows with the
number of edits. Applied into a document with garbage collection on, overwritten and deleted
content is dropped: only the ids of deleted content stay (merged into ranges), which is all a
client that was offline needs to merge its edits. A document only encodes what it could
integrate, so the rows' parts that wait on updates not logged yet (another process's, or a
dead one's that its trimmer will adopt), and the deletes of content not logged yet, are added
back from the rows themselves: compaction must not lose them. Blocking: run it in a thread.
"""

from pycrdt import Doc, get_update, merge_updates


def compacted(rows: list[bytes]) -> bytes:
    """The log rows as one garbage-collected update, keeping what waits on unlogged updates."""
    doc: Doc = Doc()  # makes no edits of its own: its client id never appears in the result
    for row in rows:
        doc.apply_update(row)
    state = doc.get_state()
    snapshot = doc.get_update()
    del doc
    # Each row beyond the document's state: structs the document could not integrate, and the
    # row's delete set (clock ranges), among which the deletes the document had to hold back.
    waiting = [get_update(row, state) for row in rows]
    return merge_updates(snapshot, *waiting)
