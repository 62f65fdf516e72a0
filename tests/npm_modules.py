"""`npm ci` where a test's Node packages are missing, once even when pytest workers start
together (a lock file beside the packages): the lock file pins what is installed."""

import fcntl
import shutil
import subprocess
from pathlib import Path


def ensure_npm_modules(directory: Path, required: tuple[str, ...]) -> None:
    """Installs `directory`'s locked packages unless each of `required` is there."""
    with (directory / ".npm-ci.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if all((directory / "node_modules" / m / "package.json").exists() for m in required):
            return
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError(f"npm is not installed: cannot install {directory}'s packages")
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=directory,
            check=True,
            stdout=subprocess.DEVNULL,
        )
