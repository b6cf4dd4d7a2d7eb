"""The administrator's pages: accounts, and the sites people act for.

Forms post here (cookie session + CSRF token); the same services as the JSON API do
the work (`services.users`, `services.sites`), so every rule of the API holds here, and
an error is shown on the page beside what was already there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from traceability.domain.roles import Role
from traceability.errors import TraceabilityError
from traceability.services import auth as auth_service
from traceability.services import site_directory
from traceability.services import sites as site_service
from traceability.services import users as user_service
from traceability.web.context import ServiceContext
from traceability.web.deps import Admin, ContextDep, SessionDep
from traceability.web.fields import Text
from traceability.web.pages import render
from traceability.web.problems import status_for
from traceability.web.routes import users as user_routes

router = APIRouter(include_in_schema=False)


def _users_page(
    request: Request,
    context: ServiceContext,
    session: SessionDep,
    *,
    message: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    users = user_service.list_users(session)
    sign_ins = auth_service.recent_sign_ins(session, limit=25)
    now = context.clock()
    # A lock-out is not a stored flag but the count of recent failures: work it out
    # now, so the page does not call a locked account "active".
    locked = {
        u.username: until
        for u in users
        if (until := auth_service.lock_state(session, u.username, now, context.lockout))
    }
    sites = site_directory.sites_public(session)
    return render(
        request,
        "users.html",
        {
            "users": [user_service.to_public(u) for u in users],
            "sites": sites,
            "site_kinds": site_service.SITE_KINDS,
            "sites_of": {
                u.username: [s.code for s in sites if u.username in s.members] for u in users
            },
            "locked": locked,
            "sign_ins": sign_ins,
            "all_roles": [r.value for r in Role],
            "message": message,
            "error": error,
        },
        status=status,
    )


def _changed(
    request: Request,
    context: ServiceContext,
    session: Session,
    change: Callable[[Session], None],
    *,
    done: str | None = None,
) -> Response:
    """Make one change in a unit of work of its own, then show the users page again:
    saying what was done, or, if the change was refused, why (and nothing was stored)."""
    try:
        with context.db.write() as write:
            change(write)
    except TraceabilityError as e:
        return _users_page(request, context, session, error=str(e), status=status_for(e))
    query = f"?{urlencode({'done': done})}" if done else ""
    return RedirectResponse(f"/ui/users{query}", status_code=303)


@router.get("/ui/users")
def users_page(
    request: Request,
    auth: Admin,
    context: ContextDep,
    session: SessionDep,
    done: Annotated[Text | None, Query(max_length=100)] = None,
) -> Response:
    return _users_page(request, context, session, message=f"Done: {done}." if done else None)


@router.post("/ui/users")
def users_create(
    request: Request,
    auth: Admin,
    context: ContextDep,
    session: SessionDep,
    username: Annotated[Text, Form(max_length=64)],
    full_name: Annotated[Text, Form(max_length=200)],
    password: Annotated[Text, Form(max_length=1000)],
    roles: Annotated[list[Text] | None, Form()] = None,
    email: Annotated[Text, Form(max_length=254)] = "",
) -> Response:
    def create(write: Session) -> None:
        user_service.create_user(
            write,
            actor=auth.actor,
            now=context.clock(),
            username=username,
            full_name=full_name,
            roles=roles or [],
            password=password,
            must_change_password=True,
            email=email,
        )

    return _changed(request, context, session, create)


@router.post("/ui/users/{username}/email")
def users_set_email(
    request: Request,
    username: str,
    auth: Admin,
    context: ContextDep,
    session: SessionDep,
    email: Annotated[Text, Form(max_length=254)] = "",
) -> Response:
    """Where the user's notices are mailed (empty: nowhere)."""

    def set_email(write: Session) -> None:
        user = user_service.get_by_username(write, username)
        user_service.set_email(write, user, email=email, actor=auth.actor, now=context.clock())

    return _changed(request, context, session, set_email, done=f"email of {username} set")


@router.post("/ui/users/{username}/unlock")
def users_unlock(
    request: Request,
    username: str,
    auth: Admin,
    context: ContextDep,
    session: SessionDep,
    reason: Annotated[Text, Form(max_length=2000)] = "",
) -> Response:
    try:
        user_routes.unlock(context, auth, username, reason)
    except TraceabilityError as e:
        return _users_page(request, context, session, error=str(e), status=status_for(e))
    return RedirectResponse(f"/ui/users?done=unlocked+{username}", status_code=303)


@router.post("/ui/users/{username}/active")
def users_set_active(
    request: Request,
    username: str,
    auth: Admin,
    context: ContextDep,
    session: SessionDep,
    active: Annotated[bool, Form()],
    reason: Annotated[Text, Form(max_length=2000)] = "",
) -> Response:
    def set_active(write: Session) -> None:
        user = user_service.get_by_username(write, username)
        user_service.set_active(
            write, user, active=active, actor=auth.actor, now=context.clock(), reason=reason
        )

    return _changed(request, context, session, set_active)


@router.post("/ui/users/{username}/sites")
def users_add_to_site(
    request: Request,
    username: str,
    auth: Admin,
    context: ContextDep,
    session: SessionDep,
    site: Annotated[Text, Form(max_length=32)],
) -> Response:
    """Let the user act for a site: hold its custody, keep the records of its batches."""

    def add(write: Session) -> None:
        found = site_service.get_site(write, site)
        user = user_service.get_by_username(write, username)
        site_service.add_member(write, found, user, actor=auth.actor, now=context.clock())

    return _changed(request, context, session, add, done=f"{username} acts for {site}")


@router.post("/ui/sites")
def sites_create(
    request: Request,
    auth: Admin,
    context: ContextDep,
    session: SessionDep,
    code: Annotated[Text, Form(max_length=32)],
    name: Annotated[Text, Form(max_length=200)],
    kind: Annotated[Text, Form(max_length=16)],
) -> Response:
    """A lab, clinic or depot; its people are added on the same page."""

    def create(write: Session) -> None:
        site_service.create_site(
            write, code=code, name=name, kind=kind, actor=auth.actor, now=context.clock()
        )

    return _changed(request, context, session, create, done=f"site {code} created")
