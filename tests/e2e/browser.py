"""Headless Chromium from Debian's package, driven by Playwright (no browser download).

Browser tests skip with the reason where Chromium is absent, unless
TRACE_REQUIRE_BROWSER=1 (as in CI) makes that a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pytest

from tests.support import PASSWORD

CHROMIUM = os.environ.get("TRACE_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_chromium() -> str:
    if os.path.exists(CHROMIUM) or shutil.which(CHROMIUM):
        return CHROMIUM
    reason = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    if os.environ.get("TRACE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}, and TRACE_REQUIRE_BROWSER=1 requires it")
    pytest.skip(reason)


@contextmanager
def chromium(*extra: str) -> Iterator[object]:
    """Headless Chromium; `extra` flags (a fake camera, say) after the usual ones."""
    from playwright.sync_api import sync_playwright

    path = require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=path, args=[*FLAGS, *extra], headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Any, now: datetime, **context: Any) -> Any:
    """A page in a new context whose clock starts at `now`, the test server's clock.

    The browser signs statements with its own time, and the server refuses a time far
    from its own; the test server's clock is frozen, so the browser's is set to it.
    """
    made = browser.new_context(**context)
    made.clock.set_system_time(now)
    return made.new_page()


def sign_in(page: Any, base: str, username: str, at: str = "/") -> None:
    """Open `at` signed out, sign in on the form it shows, and land back on it."""
    page.goto(f"{base}{at}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}{at}")
