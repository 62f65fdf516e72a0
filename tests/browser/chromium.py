"""Debian's Chromium, as Playwright cannot download its own here: no sandbox or GPU in
containers; no traffic but the page's."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.async_api import Browser, Playwright

EXECUTABLE = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def missing() -> str | None:
    """None when Chromium is installed; else what to do about it."""
    if shutil.which(EXECUTABLE) is None:
        return f"{EXECUTABLE} is missing: apt-get install -y chromium"
    return None


async def launch(playwright: Playwright) -> Browser:
    """Chromium with the flags above, as the browser tests and scripts/bench both run it."""
    return await playwright.chromium.launch(executable_path=EXECUTABLE, args=ARGS)
