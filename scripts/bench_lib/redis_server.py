"""A Redis server of the benchmark's own, on a free port, for Cellsync processes that share a
sheet through it (`--processes`): the shared one on 6379 is never touched."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import redis

from bench_lib.servers import PROCESSES, free_port


def unavailable() -> str | None:
    return None if shutil.which("redis-server") else "redis-server is not installed"


@contextlib.contextmanager
def own(work: Path) -> Iterator[str]:
    """Starts redis-server (no persistence) and yields its URL; stops it when the block ends."""
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
    command += ["--save", "", "--appendonly", "no", "--dir", str(work)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    PROCESSES.append(process)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        yield url
    finally:
        process.terminate()
        process.wait(10)
