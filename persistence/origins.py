"""Where a change to a sheet document came from: the typed origin of its pycrdt transaction.

Every change is made in a transaction carrying one of these, so whoever observes the document
(the validation guard, the rows the table must follow: `DirtyRows`, the broadcast, the Python
client) reads the origin from the transaction itself instead of from a flag set around it.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, eq=False)
class Client:
    """A connected client's edit: checked by the guard, written to the table, and sent to every
    other client. One per connection, compared by identity."""

    peer: str  # names the client in logs
    user: Mapping[str, Any] | None = None  # {"id", "name"} from its token


@dataclass(frozen=True)
class Repair:
    """The server putting back what a client's edit broke, or mending a document on load."""


@dataclass(frozen=True)
class FromTable:
    """What the table holds: a write's outcome (new keys, stored values, refusals) or a change
    another program made there."""


@dataclass(frozen=True)
class OtherProcess:
    """An edit that a client made through another server process."""

    process: str


@dataclass(frozen=True)
class Command:
    """An edit made by a CLI command on a document it holds itself (no server running)."""

    name: str


@dataclass(frozen=True)
class Remote:
    """The Python client: an update that came from the server, not from this program."""


Origin = Client | Repair | FromTable | OtherProcess | Command

REPAIR = Repair()
FROM_TABLE = FromTable()
REMOTE = Remote()


def table_must_follow(origin: object) -> bool:
    """Whether the table may lack what an edit of this origin changed: all but the server's
    own edits (a repair, a write's outcome, another program's change), which match it."""
    return not isinstance(origin, Repair | FromTable)
