"""The committed browser bundle (client/web/dist) is what the sources build to.

The server serves the committed bundle, so a fresh machine needs Python only; this test
rebuilds it from the locked packages into a temporary directory and fails when it is stale.
"""

import shutil
import subprocess
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parent.parent / "client" / "web"
DIST = WEB / "dist"


def ensure_web_modules() -> None:
    """`npm ci` in client/web when its node_modules are missing (pinned by the lock file)."""
    if (WEB / "node_modules" / "esbuild" / "package.json").exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is not installed: cannot rebuild client/web")
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True, stdout=subprocess.DEVNULL
    )


def files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def test_committed_bundle_is_up_to_date(tmp_path):
    ensure_web_modules()
    subprocess.run(["node", "build.mjs", str(tmp_path)], cwd=WEB, check=True)
    built, committed = files(tmp_path), files(DIST)
    assert sorted(built) == sorted(committed), "client/web/dist has other files than a build"
    stale = [name for name in built if built[name] != committed[name]]
    assert not stale, (
        f"client/web/dist is stale ({', '.join(stale)}): run `npm run build` in client/web"
    )
