"""Sign-in for the API (OAuth2 password flow, bearer token) and for pages (cookie).

Both go through `services.auth.attempt_sign_in`, which records the attempt in its own
unit of work; only after that commit do we raise, so failures are never lost.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel

from traceability.errors import AccountLockedError, AuthenticationError
from traceability.services import auth as auth_service
from traceability.services.auth import SessionKind, SignInOutcome, SignInResult
from traceability.services.users import UserPublic, to_public
from traceability.web.context import ServiceContext
from traceability.web.deps import AnyUser, ContextDep, presented_token
from traceability.web.fields import Text
from traceability.web.headers import SESSION_COOKIE, is_https
from traceability.web.pages import render, safe_next

router = APIRouter(tags=["auth"])


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


class Me(BaseModel):
    user: UserPublic
    session_expires_at: str


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


def sign_in(
    context: ServiceContext, request: Request, username: str, password: str, kind: SessionKind
) -> SignInOutcome:
    settings = context.settings
    ttl_minutes = (
        settings.token_ttl_minutes
        if kind is SessionKind.bearer
        else settings.web_session_ttl_minutes
    )
    now = context.clock()
    with context.db.write() as session:
        outcome = auth_service.attempt_sign_in(
            session,
            username=username,
            password=password,
            kind=kind,
            client=_client(request),
            now=now,
            ttl=timedelta(minutes=ttl_minutes),
            policy=context.lockout,
        )
    if outcome.result is SignInResult.locked:
        assert outcome.locked_until is not None  # noqa: S101 - set with `locked`
        seconds = max(1, math.ceil((outcome.locked_until - now).total_seconds()))
        raise AccountLockedError(
            f"too many failed sign-ins; try again in {math.ceil(seconds / 60)} minute(s) "
            "or ask an administrator",
            retry_after=seconds,
        )
    if outcome.result is not SignInResult.ok:
        raise AuthenticationError("wrong username or password, or the account is disabled")
    return outcome


@router.post("/auth/token", response_model=TokenResponse, summary="OAuth2 password flow")
def token(
    request: Request,
    context: ContextDep,
    username: Annotated[Text, Form(max_length=200)],
    password: Annotated[Text, Form(max_length=1000)],
    grant_type: Annotated[str, Form(pattern="^password$")] = "password",
) -> TokenResponse:
    outcome = sign_in(context, request, username, password, SessionKind.bearer)
    assert outcome.token is not None  # noqa: S101 - set on success
    return TokenResponse(
        access_token=outcome.token, expires_in=context.settings.token_ttl_minutes * 60
    )


@router.get("/auth/me", response_model=Me, summary="Who the credentials belong to")
def me(auth: AnyUser) -> Me:
    return Me(
        user=to_public(auth.user),
        session_expires_at=auth.auth_session.expires_at.isoformat().replace("+00:00", "Z"),
    )


@router.post("/auth/sign-out", status_code=204, summary="End this session or token")
def api_sign_out(request: Request, context: ContextDep, auth: AnyUser) -> Response:
    _end(request, context)
    return Response(status_code=204)


def _end(request: Request, context: ServiceContext) -> None:
    found = presented_token(request)
    if found is not None:
        with context.db.write() as session:
            auth_service.sign_out(session, found[0], now=context.clock())


@router.get("/sign-in", include_in_schema=False)
def sign_in_page(request: Request, next: str = "/") -> Response:  # noqa: A002
    return render(request, "sign_in.html", {"next": safe_next(next), "error": None})


@router.post("/sign-in", include_in_schema=False)
def sign_in_form(
    request: Request,
    context: ContextDep,
    username: Annotated[Text, Form(max_length=200)],
    password: Annotated[Text, Form(max_length=1000)],
    next: Annotated[Text, Form(max_length=2000)] = "/",  # noqa: A002
) -> Response:
    target = safe_next(next)
    try:
        outcome = sign_in(context, request, username, password, SessionKind.web)
    except AuthenticationError as e:
        status = 429 if isinstance(e, AccountLockedError) else 401
        return render(
            request,
            "sign_in.html",
            {"next": target, "error": str(e), "username": username},
            status=status,
        )
    assert outcome.token is not None  # noqa: S101 - set on success
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        outcome.token,
        max_age=context.settings.web_session_ttl_minutes * 60,
        httponly=True,
        # Over HTTPS (or behind a trusted proxy that says so) the cookie never travels
        # in clear, whatever TRACE_COOKIE_SECURE says.
        secure=context.settings.cookie_secure
        or is_https(request.scope, trust_proxy=context.settings.trust_proxy_headers),
        samesite="lax",
        path="/",
    )
    return response


@router.post("/sign-out", include_in_schema=False)
def sign_out_form(request: Request, context: ContextDep, auth: AnyUser) -> Response:
    _end(request, context)
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
