"""Cellsync as a user installs it: the sdist and wheel built, the sdist pip-installed into a fresh
virtualenv (not editable), `cellsync demo` run from there, and its sheet page drawn in Chromium."""

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
from playwright.async_api import expect
from serverprocess import ROOT, ServerProcess, free_port

pytestmark = pytest.mark.timeout(600)
OUTSIDE = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}


def run(*command: str | Path, cwd: Path) -> None:
    done = subprocess.run(
        command, cwd=cwd, env=OUTSIDE, capture_output=True, text=True, timeout=400
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh virtualenv with Cellsync installed from its sdist; its bin/ directory."""
    work = tmp_path_factory.mktemp("install")
    run(sys.executable, "-m", "build", "--outdir", work / "dist", ROOT, cwd=work)
    wheel = next((work / "dist").glob("cellsync-*.whl"))
    with zipfile.ZipFile(wheel) as built:
        assert "client/web/dist/sheet.js" in built.namelist()
        assert "persistence/store/migrations/versions/0001_baseline.py" in built.namelist()
    venv.create(work / "venv", with_pip=True)
    sdist = next((work / "dist").glob("cellsync-*.tar.gz"))
    bin_dir = work / "venv" / "bin"
    run(bin_dir / "pip", "install", "--quiet", sdist, cwd=work)
    where = subprocess.run(
        [bin_dir / "python", "-c", "import server; print(server.__file__)"],
        cwd=work,
        env=OUTSIDE,
        capture_output=True,
        text=True,
    )
    assert where.stdout.startswith(str(work / "venv")), where.stdout + where.stderr
    return bin_dir


async def test_the_installed_demo_serves_a_working_sheet_page(installed, browser, tmp_path):
    port = free_port()
    demo = ServerProcess(
        ["demo", "--path", str(tmp_path / "demo.db"), "--rows", "50", "--port", str(port)],
        tmp_path / "demo.log",
        port=port,
        cwd=tmp_path,  # nothing of the repository on the path
        executable=[str(installed / "cellsync")],
        PYTHONPATH="",
    )
    await demo.start(timeout=60)
    try:
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(f"{demo.http}/sheets/orders")
        await expect(page.locator(".tabulator-row").first).to_be_visible(timeout=20_000)
        status = page.get_by_test_id("connection-status")
        await expect(status).to_have_attribute("data-state", "connected")
        await context.close()
    finally:
        demo.kill()
