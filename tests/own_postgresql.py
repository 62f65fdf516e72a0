"""A PostgreSQL instance of the test's own, to stop and start under a running server.

Fault tests never touch the shared cluster on 5432: they initdb a cluster in a temporary
directory, on a free port, as DESIGN.md's "Services on the test machines" shows. A test module
imports `own_postgresql_fixture` and asks for `own_postgresql`.
"""

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from serverprocess import free_port

BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
BIN = Path(BINARIES[-1]) if BINARIES else None


class OwnPostgreSQL:
    """A cluster in `directory`, run as the `postgres` user on `port`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        shutil.chown(directory, "postgres")
        self._as_postgres(f"{BIN}/initdb -D {directory}/data -A trust -U postgres")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        self._as_postgres(
            f"{BIN}/pg_ctl -D {self.directory}/data -l {self.directory}/log -o '{options}' start -w"
        )

    def stop(self) -> None:
        self._as_postgres(f"{BIN}/pg_ctl -D {self.directory}/data stop -m fast -w")

    def running(self) -> bool:
        status = f"{BIN}/pg_ctl -D {self.directory}/data status"
        return subprocess.run(["su", "postgres", "-c", status], capture_output=True).returncode == 0

    @staticmethod
    def _as_postgres(command: str) -> None:
        subprocess.run(["su", "postgres", "-c", command], check=True, capture_output=True)


@pytest.fixture(name="own_postgresql")
def own_postgresql_fixture() -> Iterator[OwnPostgreSQL]:
    """A PostgreSQL to stop and start at will, running when the test begins. Its directory is
    outside pytest's (which the `postgres` user may not enter)."""
    if BIN is None or os.geteuid() != 0:
        pytest.skip("needs PostgreSQL's binaries and root, to run a cluster of the test's own")
    directory = Path(tempfile.mkdtemp(prefix="cellsync-pg-"))
    try:
        cluster = OwnPostgreSQL(directory)
        cluster.start()
        yield cluster
        if cluster.running():
            cluster.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
