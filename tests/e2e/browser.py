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


_SHARED: tuple[Any, Any] | None = None
"""This process's Playwright and the Chromium it launched, on first use."""


@contextmanager
def chromium() -> Iterator[Any]:
    """The process's one Chromium (launching it costs a second or two); each test's
    pages are in contexts of their own, all closed when the block ends."""
    global _SHARED
    if _SHARED is None:
        from playwright.sync_api import sync_playwright

        path = require_chromium()
        playwright = sync_playwright().start()
        try:
            browser = playwright.chromium.launch(executable_path=path, args=FLAGS, headless=True)
        except BaseException:
            playwright.stop()
            raise
        _SHARED = (playwright, browser)
    browser = _SHARED[1]
    try:
        yield browser
    finally:
        for context in list(browser.contexts):
            context.close()


def close_chromium() -> None:
    global _SHARED
    if _SHARED is not None:
        playwright, browser = _SHARED
        _SHARED = None
        try:
            browser.close()
        finally:
            playwright.stop()


def new_page(browser: Any, now: datetime, **context: Any) -> Any:
    """A page in a new context whose clock starts at `now`, the test server's clock.

    The browser signs statements with its own time, and the server refuses a time far
    from its own; the test server's clock is frozen, so the browser's is set to it.
    """
    made = browser.new_context(**context)
    made.clock.set_system_time(now)
    return made.new_page()
