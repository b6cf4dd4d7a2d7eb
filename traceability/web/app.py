"""The application factory: one place that wires settings, storage, routes and errors."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from traceability.clock import Clock, utcnow
from traceability.custody_log.witnessing import Witnessing
from traceability.services import notice_mail
from traceability.services.runtime import Database
from traceability.settings import Settings, get_settings
from traceability.web import api_docs, guard, problems, statement_docs
from traceability.web.context import STATIC_DIR, TEMPLATES_DIR, ServiceContext
from traceability.web.rate_limit import SlidingWindowLimiter
from traceability.web.routes import (
    admin_pages,
    audit_bundles,
    audit_trail,
    auth,
    batches,
    cold_chain,
    custody,
    epcis,
    health,
    keys,
    labels,
    log,
    pages,
    password,
    reconcile,
    record_pages,
    release,
    resolver,
    scan,
    tiles,
    users,
)

logger = logging.getLogger(__name__)

ROUTERS = (
    health.router,
    custody.router,  # early: the busiest writes, and routes are matched in this order
    auth.router,
    password.router,
    users.router,
    audit_trail.router,
    audit_bundles.router,
    reconcile.router,
    log.router,
    tiles.router,
    keys.router,
    batches.router,
    labels.router,
    cold_chain.router,
    epcis.router,
    release.router,
    resolver.router,
    scan.router,
    record_pages.router,
    admin_pages.router,
    pages.router,
)
"""Every router of the app, included without prefixes; tests walk these to find endpoints."""


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    clock: Clock = utcnow,
) -> FastAPI:
    settings = settings or get_settings()
    context = ServiceContext.build(
        settings,
        database=database,
        clock=clock,
        templates=Jinja2Templates(directory=str(TEMPLATES_DIR)),
        scan_limiter=SlidingWindowLimiter(limit=settings.scans_per_minute),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        workers = [
            threading.Thread(target=run, args=(context, stop), name=name, daemon=True)
            for run, name in (
                (_checkpoint_timer, "checkpointer"),
                (_self_checker, "self-check"),
                (_notice_mailer, "notice-mail"),
            )
        ]
        for worker in workers:
            worker.start()
        try:
            yield
        finally:
            stop.set()
            for worker in workers:
                worker.join(timeout=5)

    app = FastAPI(
        title="Cell-therapy traceability",
        summary="QC batch records, a signed custody log, QR labels and a release gate.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served by api_docs, without a CDN
        redoc_url=None,
    )
    app.state.context = context
    problems.install(app)
    guard.install(app, settings)  # request limits and the last resort, outermost
    api_docs.install(app)  # before /static, which would otherwise take its assets' paths
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    for router in ROUTERS:
        # The routers' own route objects, shared by every app of the process: FastAPI
        # builds a route's request handling (signature, dependencies, body model) when
        # the route is declared, while include_router would have each new app build its
        # own copy of all of them at its first requests. Our routers have no prefix,
        # tags or dependencies to add at inclusion, so the routes are the same.
        app.router.routes.extend(router.routes)
    statement_docs.install(app)  # each signed route's body documents its statement's `what`

    return app


def _checkpoint_timer(context: ServiceContext, stop: threading.Event) -> None:
    """Sign a checkpoint every T seconds while entries are waiting for one, and have the
    newest checkpoint cosigned (the log's own ML-DSA-44 key, then its witnesses). The
    first round of cosigning runs at start, so a checkpoint signed while the server was
    down (the demo's) is cosigned at once. Outside the write transaction: a slow witness
    never holds the log's lock."""
    witnessing = context.witnessing
    _cosign(context, witnessing)
    interval = context.settings.checkpoint_interval_seconds
    while not stop.wait(interval):
        try:
            with context.db.write() as session:
                context.log.issue_checkpoint(session, now=context.clock())
        except Exception:  # noqa: BLE001 - keep the timer alive; the failure is logged
            logger.exception("could not sign a checkpoint")
        _cosign(context, witnessing)


def _cosign(context: ServiceContext, witnessing: Witnessing) -> None:
    try:
        witnessing.run(context.clock())
    except Exception:  # noqa: BLE001 - keep the timer alive; the failure is logged
        logger.exception("could not have the checkpoint cosigned")


MAIL_ROUND_SECONDS = 30


def _notice_mailer(context: ServiceContext, stop: threading.Event) -> None:
    """Mail new notices (a recall) every half minute where an SMTP server is configured
    (`services.notice_mail`); a failed round is logged and tried again."""
    if not context.settings.smtp_host:
        return
    while True:
        try:
            notice_mail.send_pending(context.db, context.settings, context.clock())
        except Exception:  # noqa: BLE001 - keep the mailer alive; the failure is logged
            logger.exception("could not mail notices")
        if stop.wait(MAIL_ROUND_SECONDS):
            return


def _self_checker(context: ServiceContext, stop: threading.Event) -> None:
    """Reconcile at start-up, then every N minutes (`SelfCheck`); an alarm is logged."""
    check = context.self_check
    interval = context.settings.self_check_minutes * 60
    check.started = True
    while True:
        outcome = check.run(context.clock())
        for line in outcome.lines()[:50]:
            logger.error("self-check: %s", line)
        if stop.wait(interval):
            return
