"""Runs the real `cellsync serve` in a subprocess on a free port, as users run it."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent

FAST_SETTINGS = {
    "CELLSYNC_IDLE_SECONDS": "0.5",
    "CELLSYNC_LOG_INTERVAL": "0.05",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """`cellsync ARGS...` (this checkout's, unless another `executable` is given) as a
    subprocess serving on `port`."""

    def __init__(
        self,
        args: list[str],
        log_path: Path,
        *,
        port: int,
        cwd: Path = ROOT,
        executable: list[str] | None = None,
        **settings: str,
    ) -> None:
        self.args = args
        self.executable = executable or [sys.executable, "-m", "client"]
        self.log_path = log_path
        self.port = port
        self.cwd = cwd
        self.settings = {**FAST_SETTINGS, **settings}
        self.process: subprocess.Popen | None = None

    @classmethod
    def serving(
        cls, database_url: str, sheets: dict[str, str], log_path: Path, **settings: str
    ) -> "ServerProcess":
        port = free_port()
        args = ["serve", "--database-url", database_url, "--port", str(port)]
        for name, table in sheets.items():
            args += ["--sheet", f"{name}={table}"]
        return cls(args, log_path, port=port, **settings)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, timeout: float = 20) -> "ServerProcess":
        env = {**os.environ, **self.settings}
        log = self.log_path.open("ab")
        command = [*self.executable, *self.args]
        self.process = subprocess.Popen(command, cwd=self.cwd, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"server exited with {self.process.returncode}:\n{self.log()}"
                    )
                try:
                    if (await client.get(f"{self.http}/healthz")).status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        raise TimeoutError(f"server did not start in {timeout}s:\n{self.log()}")

    async def stop(self, timeout: float = 20) -> None:
        """SIGTERM, then wait; fails unless the server wrote everything pending and exited.

        uvicorn re-raises SIGTERM after its graceful shutdown, so the exit status is -SIGTERM.
        """
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(self.process.wait, timeout)
        assert code in (0, -signal.SIGTERM), f"server exited with {code}:\n{self.log()}"
        assert "all pending updates written" in self.log(), self.log()

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
