"""Drive a real npm ``yjs`` + ``y-websocket`` client (tests/node/sheet_client.mjs) from asyncio.

    ensure_node_modules()  # once per test session
    async with await NodeClient.start("ws://127.0.0.1:8000/ws/sheet", "demo") as client:
        await client.wait_synced()
        await client.add_row("r1", {"name": "Ada"})

The node process reads one JSON command per line on stdin and answers one JSON line per command
(matched by ``id``); lines with an ``event`` field (ready, status, sync, close, closed) are
collected in ``NodeClient.events``. Integers beyond 2**53 travel as ``{"$bigint": "..."}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import shutil
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from npm_modules import ensure_npm_modules

NODE_DIR = Path(__file__).resolve().parent / "node"
SCRIPT = NODE_DIR / "sheet_client.mjs"
REQUIRED_MODULES = ("yjs", "y-websocket", "y-protocols", "ws")
DEFAULT_TIMEOUT = 10.0
_SAFE_INT = 2**53


def ensure_node_modules() -> None:
    """The Node client's packages, installed from tests/node's lock file if missing."""
    ensure_npm_modules(NODE_DIR, REQUIRED_MODULES)


def _encode(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and abs(value) > _SAFE_INT:
        return {"$bigint": str(value)}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def _decode_hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and isinstance(obj.get("$bigint"), str):
        return int(obj["$bigint"])
    return obj


class NodeClientError(RuntimeError):
    """The node client answered a command with an error."""


class NodeClient:
    """One node process holding one Y.Doc connected to one room."""

    def __init__(self, proc: asyncio.subprocess.Process, url: str, room: str) -> None:
        self.proc = proc
        self.url = url
        self.room = room
        self.client_id: int | None = None
        self.events: list[dict[str, Any]] = []
        self.stderr: deque[str] = deque(maxlen=50)
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._changed = asyncio.Condition()
        self._readers = [
            asyncio.create_task(self._read_stdout()),
            asyncio.create_task(self._read_stderr()),
        ]

    @classmethod
    async def start(
        cls,
        url: str,
        room: str,
        params: dict[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> NodeClient:
        args = [str(SCRIPT), "--url", url, "--room", room]
        for key, value in (params or {}).items():
            args += ["--param", f"{key}={value}"]
        node = shutil.which("node") or "node"
        proc = await asyncio.create_subprocess_exec(
            node,
            *args,
            cwd=NODE_DIR,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=256 * 1024 * 1024,  # one answer line holds every row of a large sheet
        )
        client = cls(proc, url, room)
        try:
            ready = await client.wait_event(lambda e: e["event"] == "ready", timeout)
        except BaseException:
            await client.kill()
            raise
        client.client_id = ready["client_id"]
        return client

    # -- plumbing ---------------------------------------------------------------------------

    async def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            try:
                msg = json.loads(raw, object_hook=_decode_hook)
            except ValueError:  # stray output (console.log): keep it for error messages
                self.stderr.append(raw.decode(errors="replace").rstrip())
                continue
            if "event" in msg:
                async with self._changed:
                    self.events.append(msg)
                    self._changed.notify_all()
            elif (fut := self._pending.pop(msg.get("id"), None)) and not fut.done():
                fut.set_result(msg)
        exited = ConnectionError(f"node client exited: {self._stderr_tail()}")
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(exited)
        async with self._changed:
            self._changed.notify_all()

    async def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self.stderr.append(raw.decode(errors="replace").rstrip())

    def _stderr_tail(self) -> str:
        return " | ".join(list(self.stderr)[-5:]) or "(no stderr)"

    async def request(self, cmd: str, timeout: float = DEFAULT_TIMEOUT, **fields: Any) -> dict:
        """Send one command and return its response; raise NodeClientError or TimeoutError."""
        if self.proc.returncode is not None or self.proc.stdin is None:
            raise ConnectionError(f"node client is not running: {self._stderr_tail()}")
        req_id = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = fut
        line = json.dumps({"id": req_id, "cmd": cmd, **_encode(fields)}) + "\n"
        self.proc.stdin.write(line.encode())
        try:
            await self.proc.stdin.drain()
            async with asyncio.timeout(timeout):
                resp = await fut
        except TimeoutError:
            raise TimeoutError(f"node client: {cmd!r} got no answer in {timeout}s") from None
        finally:
            self._pending.pop(req_id, None)
        if "error" in resp:
            raise NodeClientError(f"{cmd}: {resp['error']}")
        resp.pop("id", None)
        return resp

    async def wait_event(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = DEFAULT_TIMEOUT
    ) -> dict[str, Any]:
        """Return the first event (already received or future) matching ``predicate``."""
        seen = 0
        try:
            async with asyncio.timeout(timeout), self._changed:
                while True:
                    for event in self.events[seen:]:
                        if predicate(event):
                            return event
                    seen = len(self.events)
                    if self.proc.returncode is not None or self._readers[0].done():
                        raise ConnectionError(f"node client exited: {self._stderr_tail()}")
                    await self._changed.wait()
        except TimeoutError:
            raise TimeoutError(f"node client: no matching event in {timeout}s") from None

    # -- commands ---------------------------------------------------------------------------

    async def wait_synced(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        await self.request("wait_synced", timeout=timeout + 5, timeout_ms=int(timeout * 1000))

    async def rows(self) -> list[dict[str, Any]]:
        """Rows in ``order`` order as ``[{"key": ..., "values": {...}}]``."""
        return (await self.request("rows"))["rows"]

    async def get_cell(self, row: str, column: str) -> Any:
        return (await self.request("get_cell", row=row, column=column))["value"]

    async def set_cell(self, row: str, column: str, value: Any) -> None:
        await self.request("set_cell", row=row, column=column, value=value)

    async def add_row(self, key: str, values: dict[str, Any]) -> None:
        await self.request("add_row", key=key, values=values)

    async def delete_row(self, key: str) -> None:
        await self.request("delete_row", key=key)

    async def meta(self) -> dict[str, Any]:
        return (await self.request("meta"))["meta"]

    async def state_vector(self) -> dict[int, int]:
        """The document's state vector as ``{client_id: clock}``."""
        clients = (await self.request("state_vector"))["clients"]
        return {int(k): v for k, v in clients.items()}

    async def disconnect(self) -> None:
        await self.request("disconnect")

    async def connect(self) -> None:
        await self.request("connect")

    async def set_awareness(self, state: Any) -> None:
        await self.request("set_awareness", state=state)

    async def awareness(self) -> dict[int, Any]:
        """All known awareness states (own included) by client id."""
        states = (await self.request("awareness"))["states"]
        return {int(k): v for k, v in states.items()}

    async def awareness_frames(self) -> int:
        return (await self.request("awareness_frames"))["count"]

    async def frames(self) -> dict[str, int]:
        """Incoming websocket frames by message type: sync, awareness, auth, ..."""
        return await self.request("frames")

    async def status(self) -> dict[str, Any]:
        return await self.request("status")

    async def close(self, timeout: float = 5.0) -> None:
        """Destroy the provider and wait for the process to exit (killing it if it hangs)."""
        if self.proc.returncode is None:
            with contextlib.suppress(ConnectionError, TimeoutError, NodeClientError):
                await self.request("close", timeout=timeout)
            try:
                async with asyncio.timeout(timeout):
                    await self.proc.wait()
            except TimeoutError:
                await self.kill()
        await asyncio.gather(*self._readers, return_exceptions=True)

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        for task in self._readers:
            task.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)

    async def __aenter__(self) -> NodeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
