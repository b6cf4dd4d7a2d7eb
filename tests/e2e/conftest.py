"""Browser flows run on one engine, SQLite: what they test is the pages, their scripts
and the browser's own signing; every route they reach is tested on both engines under
tests/integration.

(Each test launches its own Chromium, about a second: a browser kept open across tests
would keep Playwright's event loop running in the thread, and a later test's
asyncio.run would fail.)"""

from __future__ import annotations

import pytest


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url
