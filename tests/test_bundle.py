"""The committed browser bundle (client/web/dist) is what the sources build to.

The server serves the committed bundle, so a fresh machine needs Python only; this test
rebuilds it from the locked packages into a temporary directory and fails when it is stale.
"""

import subprocess
from pathlib import Path

from npm_modules import ensure_npm_modules

WEB = Path(__file__).resolve().parent.parent / "client" / "web"
DIST = WEB / "dist"


def files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def test_committed_bundle_is_up_to_date(tmp_path):
    ensure_npm_modules(WEB, ("esbuild",))
    subprocess.run(["node", "build.mjs", str(tmp_path)], cwd=WEB, check=True)
    built, committed = files(tmp_path), files(DIST)
    assert sorted(built) == sorted(committed), "client/web/dist has other files than a build"
    stale = [name for name in built if built[name] != committed[name]]
    assert not stale, (
        f"client/web/dist is stale ({', '.join(stale)}): run `npm run build` in client/web"
    )
