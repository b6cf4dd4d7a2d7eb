"""The application factory: one place that wires settings, storage, routes and errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from traceability.clock import Clock, utcnow
from traceability.keys import ensure_key_dir
from traceability.settings import Settings, get_settings
from traceability.storage.database import Database, create_db_engine
from traceability.web import problems
from traceability.web.context import STATIC_DIR, TEMPLATES_DIR, ServiceContext
from traceability.web.routes import audit_trail, auth, health, pages, users

ROUTERS = (health.router, auth.router, users.router, audit_trail.router, pages.router)
"""Every router of the app, included without prefixes; tests walk these to find endpoints."""

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    clock: Clock = utcnow,
) -> FastAPI:
    settings = settings or get_settings()
    ensure_key_dir(settings.key_dir)
    database = database or Database(create_db_engine(settings.database_url))
    app = FastAPI(
        title="Cell-therapy traceability",
        summary="QC batch records, a signed custody log, QR labels and a release gate.",
        version="0.1.0",
    )
    app.state.context = ServiceContext(
        settings=settings,
        db=database,
        clock=clock,
        templates=Jinja2Templates(directory=str(TEMPLATES_DIR)),
    )
    problems.install(app)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    for router in ROUTERS:
        app.include_router(router)

    @app.middleware("http")
    async def _security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.url.path.startswith(("/auth", "/sign-in", "/users")):
            response.headers["Cache-Control"] = "no-store"
        return response

    return app
