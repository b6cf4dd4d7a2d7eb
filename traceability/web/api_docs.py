"""The interactive API reference (/docs), served with no request leaving the site.

FastAPI's own page loads Swagger UI from a CDN, so on a clinic's network without the
internet it is blank. The same files come with the `fastapi-offline` package; we serve
them under /static/api-docs and build the page with FastAPI's own helper, which is all
we use of that package. ReDoc is not offered: its bundle still fetches an image from
its maker's CDN.

The page FastAPI builds starts Swagger UI with one inline script. The site's policy
(`web.headers`) forbids inline script; this page alone allows that script by its hash,
so nothing else inline could run on it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from traceability.web.headers import CONTENT_SECURITY_POLICY

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)

ASSETS = "/static/api-docs"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"


def install(app: FastAPI) -> None:
    """Add /docs to an app made with docs_url=None and redoc_url=None."""
    app.mount(ASSETS, StaticFiles(directory=str(files("fastapi_offline") / "static")))
    title = app.title

    @app.get("/docs", include_in_schema=False)
    def swagger() -> HTMLResponse:
        return _with_own_policy(
            get_swagger_ui_html(
                openapi_url=app.openapi_url or "/openapi.json",
                title=f"{title} · API",
                swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
                swagger_css_url=f"{ASSETS}/swagger-ui.css",
                swagger_favicon_url=f"{ASSETS}/favicon.png",
                oauth2_redirect_url=OAUTH2_REDIRECT,
            )
        )

    @app.get(OAUTH2_REDIRECT, include_in_schema=False)
    def oauth2_redirect() -> HTMLResponse:
        return _with_own_policy(get_swagger_ui_oauth2_redirect_html())


def inline_script_policy(html: str) -> str:
    """The site's policy, with each inline script of `html` allowed by its SHA-256, and
    inline styles (Swagger UI sets them as it draws)."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(m.encode()).digest()).decode() + "'"
        for m in _INLINE_SCRIPT.findall(html)
    )
    return CONTENT_SECURITY_POLICY.replace(
        "script-src 'self';", f"script-src 'self' {hashes};"
    ).replace("style-src 'self';", "style-src 'self' 'unsafe-inline';")


def _with_own_policy(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = inline_script_policy(bytes(page.body).decode())
    return page
