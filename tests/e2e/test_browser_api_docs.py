"""The API reference works on a network without the internet: /docs loads every file
from this server, and Swagger UI renders the endpoints."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from tests.e2e.browser import chromium, new_page
from tests.support import Api


def keep_on(host: str, elsewhere: list[str]) -> Any:
    """A route handler that lets requests to `host` through and refuses (and notes) any
    other, as a network without the internet would."""

    def handle(route: Any) -> None:
        if urlsplit(route.request.url).netloc == host:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    return handle


def test_the_api_reference_renders_with_every_request_kept_on_this_server(
    api: Api, server: Any
) -> None:
    base = str(api.client.base_url).rstrip("/")
    here = urlsplit(base).netloc
    with chromium() as browser:
        for path, rendered in (("/docs", ".swagger-ui .opblock-summary-path"),):
            page = new_page(browser, api.clock())
            elsewhere: list[str] = []

            page.route("**/*", keep_on(here, elsewhere))
            page.goto(f"{base}{path}")
            page.wait_for_selector(rendered, timeout=20_000)
            assert "/auth/token" in page.content(), path
            assert elsewhere == [], (path, elsewhere)
