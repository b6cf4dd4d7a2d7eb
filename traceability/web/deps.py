"""Typed dependencies: the service context, the read session, who is calling, and roles.

Every route declares the roles it allows with `RequireRoles(...)`; a test walks all
routes and fails if one declares none and is not on the short public list. Credentials
come from a bearer token (API) or the session cookie (pages); requests that change
something with a cookie must also carry the CSRF token, in the `X-CSRF-Token` header
or the `csrf_token` form field.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import OAuth2PasswordBearer
from sqlmodel import Session

from traceability.custody_log.evidence import LogEvidence, ensure_covering
from traceability.domain.roles import Role
from traceability.errors import AuthenticationError, PasswordChangeRequired, PermissionDeniedError
from traceability.security.tokens import csrf_matches, token_digest
from traceability.services.auth import (
    WHO_BY_TOKEN,
    Authenticated,
    authenticate,
    authenticated,
    token_query,
)
from traceability.web.context import ServiceContext
from traceability.web.headers import SESSION_COOKIE
from traceability.web.password_paths import PASSWORD_API, PASSWORD_CHANGE_PATHS, PASSWORD_PAGE

CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_context(request: Request) -> ServiceContext:
    """`async` because it does no I/O: FastAPI then calls it on the event loop instead
    of handing it to a worker thread (a thread hop per sync dependency, per request)."""
    context: ServiceContext = request.app.state.context
    return context


ContextDep = Annotated[ServiceContext, Depends(get_context)]


def get_session(context: ContextDep) -> Iterator[Session]:
    """One read session per request. Writes go through `context.db.write()`."""
    with context.db.read() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_evidence(context: ContextDep, session: SessionDep) -> LogEvidence:
    """What the log proves, for this request's read: against a checkpoint that covers
    every entry so far (signed now if entries wait for one)."""
    return covered_evidence(context, session)


def covered_evidence(context: ServiceContext, session: Session) -> LogEvidence:
    """Evidence against the latest signed checkpoint; only when the request reads an entry
    appended after it is a new one signed (once), so that page views of a quiet record
    never write, and checkpoints grow with the entries people look at, not the views."""

    def covering() -> str | None:
        return ensure_covering(context.db, context.log, now=context.clock())

    return LogEvidence(session, context.log.keys.log.verifier(), refresh=covering)


EvidenceDep = Annotated[LogEvidence, Depends(get_evidence)]


async def get_now(context: ContextDep) -> datetime:
    return context.clock()


NowDep = Annotated[datetime, Depends(get_now)]


def presented_token(request: Request) -> tuple[str, bool] | None:
    """The token and whether it came from the cookie, or None without credentials."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), False
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return cookie, True
    return None


async def _csrf_from(request: Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)
"""Declares the bearer scheme in OpenAPI, so /docs offers "Authorize"; we read the
header ourselves to accept the cookie too."""


async def current_auth(
    request: Request,
    _bearer: Annotated[str | None, Depends(oauth2_scheme)],
) -> Authenticated:
    """Who is calling, from a short read transaction of its own (`Database.read_first`).

    Its own snapshot, over before the endpoint runs, so that a write later in this
    request never waits behind (or upgrades) it, and an endpoint that only writes opens
    no read session at all. Every request but the public ones comes
    through here, so it takes no sub-dependencies beyond the one OpenAPI needs, and on
    SQLite it reads in place: a local file read costs less than the hop to a worker
    thread and back. PostgreSQL is a network round trip, which must not hold up the
    event loop, so there the read runs in a worker thread.
    """
    context: ServiceContext = request.app.state.context
    found = presented_token(request)
    if found is None:
        raise AuthenticationError("sign in to continue")
    token, from_cookie = found
    auth = await token_auth(context, token)
    if from_cookie and request.method not in SAFE_METHODS:
        check_csrf(context, token, await _csrf_from(request))
    request.state.auth = auth
    if auth.user.must_change_password and request.url.path not in PASSWORD_CHANGE_PATHS:
        raise PasswordChangeRequired(
            "an administrator set this account's password: set your own first "
            f"({PASSWORD_PAGE} in the browser, POST {PASSWORD_API} with a token)"
        )
    return auth


def check_csrf(context: ServiceContext, token: str, presented: str | None) -> None:
    """A change made with the session cookie must carry that session's CSRF token."""
    if not csrf_matches(context.settings.secret_key, token_digest(token), presented):
        raise PermissionDeniedError("missing or wrong CSRF token; reload the page and try again")


async def token_auth(context: ServiceContext, token: str) -> Authenticated:
    """The caller behind a token (bearer or cookie), or AuthenticationError."""
    now = context.clock()
    if context.db.dialect == "sqlite":
        return _authenticate(context, token, now)
    return await run_in_threadpool(_authenticate, context, token, now)


def _authenticate(context: ServiceContext, token: str, now: datetime) -> Authenticated:
    return authenticated(context.db.read_first(WHO_BY_TOKEN, token_query(token)), now=now)


def optional_auth(request: Request, session: SessionDep, now: NowDep) -> Authenticated | None:
    """The signed-in user if valid credentials came along, else None (a public page).

    For pages anyone may open, such as the one a scanned label leads to: an expired
    session shows the public view rather than an error. Only for safe methods.
    """
    found = presented_token(request)
    if found is None or request.method not in SAFE_METHODS:
        return None
    try:
        auth = authenticate(session, found[0], now=now)
    except AuthenticationError:
        return None
    session.commit()
    request.state.auth = auth
    return auth


MaybeUser = Annotated[Authenticated | None, Depends(optional_auth)]


class RequireRoles:
    """Dependency: the caller must be signed in and hold at least one of `roles`."""

    def __init__(self, *roles: Role) -> None:
        if not roles:
            raise ValueError("an endpoint must allow at least one role")
        self.roles = frozenset(roles)

    async def __call__(
        self, auth: Annotated[Authenticated, Depends(current_auth)]
    ) -> Authenticated:
        return require_roles(auth, self.roles)


def require_roles(auth: Authenticated, roles: frozenset[Role]) -> Authenticated:
    """The caller, if they hold at least one of `roles`; else PermissionDeniedError."""
    if not auth.actor.has_any(*roles):
        allowed = ", ".join(sorted(r.value for r in roles))
        raise PermissionDeniedError(f"this needs one of the roles: {allowed}")
    return auth


ANY_ROLE = tuple(Role)

AnyUser = Annotated[Authenticated, Depends(RequireRoles(*ANY_ROLE))]
Admin = Annotated[Authenticated, Depends(RequireRoles(Role.admin))]
TrailReader = Annotated[Authenticated, Depends(RequireRoles(Role.admin, Role.qa, Role.auditor))]
