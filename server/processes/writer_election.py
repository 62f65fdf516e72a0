"""Which process writes each sheet's table: one at a time, so the table is written once.

With one process per sheet (no Redis), the process that serves a sheet writes it
(`SoleWriter`). When several serve it, the writer is whichever holds the sheet's claim
(`persistence/store/sheet_claims.py`: a PostgreSQL advisory lock, which the database lets go when
its holder dies, kill -9 included); the others try again every `interval` seconds, so a dead
writer is replaced within about that, and the new one writes what was pending.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable

from persistence.store.sheet_claims import FileClaims, NoClaims, PostgresClaims, SheetTaken

log = logging.getLogger(__name__)

Elected = Callable[[], None]  # the process starts writing the sheet
Demoted = Callable[[], None]  # the process must stop writing it: another one does


class SoleWriter:
    """The only process serving a sheet writes it."""

    def stand(self, sheet: str, elected: Elected, demoted: Demoted) -> None:
        elected()

    async def withdraw(self, sheet: str) -> None:
        return None

    def writes(self, sheet: str) -> bool:
        return True

    def writer(self, sheet: str) -> str | None:
        return "this process"

    async def run(self) -> None:
        return None


class WriterElection:
    def __init__(self, claims: PostgresClaims | FileClaims | NoClaims, interval: float = 1.0):
        self.claims = claims
        self.interval = interval
        self._standing: dict[str, tuple[Elected, Demoted]] = {}  # sheets it would write
        self._held: set[str] = set()
        self._holders: dict[str, str] = {}  # sheet -> the process that writes it, as last seen
        self._wake = asyncio.Event()

    def stand(self, sheet: str, elected: Elected, demoted: Demoted) -> None:
        """Stands for writing the sheet; `elected` runs once this process is its writer, and
        `demoted` if it loses the claim (its session ended and another process took it)."""
        self._standing[sheet] = (elected, demoted)
        self._wake.set()

    async def withdraw(self, sheet: str) -> None:
        """Stops writing the sheet (the caller wrote what was pending) or standing for it."""
        self._standing.pop(sheet, None)
        self._holders.pop(sheet, None)
        if sheet in self._held:
            self._held.discard(sheet)
            await asyncio.to_thread(self.claims.release, sheet)
            log.info("sheet %s: no longer writing its table", sheet)

    def writes(self, sheet: str) -> bool:
        return sheet in self._held

    def writer(self, sheet: str) -> str | None:
        """Who writes the sheet's table, as far as this process knows."""
        return "this process" if sheet in self._held else self._holders.get(sheet)

    def written(self) -> list[str]:
        return sorted(self._held)

    async def run(self) -> None:
        """Runs until cancelled: tries for each sheet it stands for and does not write."""
        while True:
            for sheet in [s for s in self._standing if s not in self._held]:
                await self._try(sheet)
            try:
                lost = await asyncio.to_thread(self.claims.refresh)
            except Exception as exc:  # the database is down: its outage is reported elsewhere
                log.debug("writer claims not refreshed: %s", exc)
                lost = []
            for sheet in lost:
                self._demote(sheet)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)

    async def _try(self, sheet: str) -> None:
        try:
            await asyncio.to_thread(self.claims.claim, sheet)
        except SheetTaken as exc:
            self._holders[sheet] = exc.holder
            return
        except Exception as exc:
            log.debug("sheet %s: cannot stand for its writer yet: %s", sheet, exc)
            return
        standing = self._standing.get(sheet)
        if standing is None:  # withdrawn meanwhile
            await asyncio.to_thread(self.claims.release, sheet)
            return
        self._held.add(sheet)
        log.info("sheet %s: this process writes its table", sheet)
        standing[0]()

    def _demote(self, sheet: str) -> None:
        """Another process took the claim while this one's session was gone: it writes the
        table now, so this one stops at once (two writers would revert each other)."""
        self._held.discard(sheet)
        standing = self._standing.get(sheet)
        if standing is not None:
            log.warning("sheet %s: another process took its table writing; stopping here", sheet)
            standing[1]()
