"""The servers under test, each in its own process on a free port, and their measurement.

Every process started here is registered in `PROCESSES` so that the orchestrator can stop it
whatever happens; the children also get PR_SET_PDEATHSIG, so they die if the benchmark is
killed outright.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
NODE_DIR = SCRIPTS / "node"
NODE_SERVER = NODE_DIR / "node_modules" / "@y" / "websocket-server" / "src" / "server.js"

PROCESSES: list[subprocess.Popen[bytes]] = []

KINDS = ("cellsync", "pycrdt", "node")
LABELS = {
    "cellsync": "cellsync",
    "pycrdt": "pycrdt-websocket (stock)",
    "node": "node @y/websocket-server",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _child_setup() -> None:
    """Runs in the child before exec: own session (Ctrl-C reaches only the orchestrator,
    which stops the servers in order) and death with the parent."""
    os.setsid()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Server:
    kind: str
    command: list[str]
    path: str  # the room's WebSocket path
    env: dict[str, str]
    log_path: Path
    health: str = "/"
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    ps: psutil.Process | None = None
    rss_peak: int = 0
    cwd: Path = ROOT

    def start(self, timeout: float = 60) -> Server:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [arg.replace("{port}", str(self.port)) for arg in self.command],
                cwd=self.cwd,
                env={**os.environ, **self.env, "PORT": str(self.port)},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_child_setup,  # the orchestrator starts no threads
            )
        PROCESSES.append(self.process)
        self.ps = psutil.Process(self.process.pid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} server exited:\n{self.log_tail()}")
            try:
                url = f"http://127.0.0.1:{self.port}{self.health}"
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"{self.kind} server did not start in {timeout}s:\n{self.log_tail()}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def cpu(self) -> float:
        """User + system CPU seconds of the server process (and any children it forks)."""
        assert self.ps is not None
        times = self.ps.cpu_times()
        return times.user + times.system + times.children_user + times.children_system

    def cpu_split(self) -> tuple[float, float]:
        """(user, system) CPU seconds: system time here is mostly socket syscalls."""
        assert self.ps is not None
        times = self.ps.cpu_times()
        return times.user + times.children_user, times.system + times.children_system

    def sample_rss(self) -> int:
        assert self.ps is not None
        with contextlib.suppress(psutil.Error):
            self.rss_peak = max(self.rss_peak, self.ps.memory_info().rss)
        return self.rss_peak

    def vm_hwm(self) -> int:
        """The kernel's own peak RSS for the process (bytes), which no sampling can miss."""
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return 0

    def stop(self, timeout: float = 20) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def make_server(
    kind: str,
    database_url: str,
    sheet: str,
    table: str,
    log_dir: Path,
    cellsync_env: dict,
    tree: Path | None = None,
) -> Server:
    """A server of `kind`; Cellsync's runs from `tree` (another checkout) when given."""
    log_path = log_dir / f"{kind}-{sheet}-{time.strftime('%H%M%S')}.log"
    if kind == "cellsync":
        command = [sys.executable, "-m", "client", "serve", "--database-url", database_url]
        command += ["--sheet", f"{sheet}={table}", "--port", "{port}"]
        env = {**cellsync_env, "PYTHONPATH": str(tree)} if tree else cellsync_env
        server = Server(kind, command, f"/ws/sheet/{sheet}", env, log_path, "/healthz")
        server.cwd = tree or ROOT
        return server
    if kind == "pycrdt":
        command = [sys.executable, "-m", "uvicorn", "bench_lib.pycrdt_server:app"]
        command += ["--host", "127.0.0.1", "--port", "{port}", "--log-level", "warning"]
        env = {"PYTHONPATH": str(SCRIPTS)}
        return Server(kind, command, f"/ws/sheet/{sheet}", env, log_path)
    if kind == "node":
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is not installed")
        return Server(
            kind, [node, str(NODE_SERVER)], f"/ws/sheet/{sheet}", {"HOST": "127.0.0.1"}, log_path
        )
    raise ValueError(kind)


def ensure_node_server() -> str | None:
    """Installs the pinned Node server from scripts/node's lockfile; None, or why it cannot."""
    if NODE_SERVER.exists():
        return None
    npm = shutil.which("npm")
    if npm is None:
        return "npm is not installed"
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, capture_output=True, timeout=300
    )
    if done.returncode != 0 or not NODE_SERVER.exists():
        return "npm ci failed: " + done.stderr.decode(errors="replace")[-500:]
    return None


def stop_all() -> None:
    """Stops every process started here: SIGTERM, a grace period, then SIGKILL."""
    for process in PROCESSES:
        if process.poll() is None:
            with contextlib.suppress(OSError):
                process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    for process in PROCESSES:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    PROCESSES.clear()
