"""Browser flows run on one engine, SQLite: what they test is the pages, their scripts
and the browser's own signing; every route they reach is tested on both engines under
tests/integration. One Chromium serves every browser test of a process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.browser import close_chromium


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture(scope="session", autouse=True)
def _one_chromium() -> Iterator[None]:
    yield
    close_chromium()
