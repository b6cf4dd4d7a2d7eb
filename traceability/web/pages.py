"""Rendering server-side pages: one helper that gives every template the same context.

Pages are plain HTML with one stylesheet; no front-end build step. The CSRF token of
the current session is handed to every template so that each form can carry it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup, escape

from traceability.domain.roles import ROLE_DESCRIPTIONS, Role
from traceability.security.tokens import csrf_token, token_digest
from traceability.services.auth import Authenticated
from traceability.web.context import ServiceContext
from traceability.web.deps import presented_token


def _context(request: Request) -> ServiceContext:
    context: ServiceContext = request.app.state.context
    return context


def path_of(uri: str) -> str:
    """A Digital Link URI's path: the link to its page on this site."""
    return urlsplit(uri).path


def unit_name(uri: str) -> str:
    """What a person calls a vial or shipper URI: "UC26-101 / vial 0002", "shipper 0095..."."""
    parts = [unquote(p) for p in urlsplit(uri).path.strip("/").split("/")]
    if len(parts) == 6 and parts[0] == "01" and parts[2] == "10" and parts[4] == "21":
        return f"{parts[3]} / vial {parts[5]}"
    if len(parts) == 2 and parts[0] == "00":
        return f"shipper {parts[1]}"
    return uri


def at(value: datetime | str, *, seconds: bool = False) -> Markup:
    """A moment as every page shows it: UTC, "2026-11-02 10:00 UTC" (ISO 8601 date and
    time), in a <time> element that `local-time.js` follows with the viewer's local time.

    `value` is a stored UTC time or a signed RFC 3339 text; text that is not a time is
    shown as it is."""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return escape(value)
    else:
        moment = value
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    shown = moment.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    machine = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return Markup('<time datetime="{}" data-utc>{} UTC</time>').format(machine, shown)


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def quantity_shown(value: object) -> str:
    """A reported number as people read it: "24.8e6" or "24800000" as "24.8 × 10⁶"
    (engineering notation, the digits as reported), anything else as it was entered.

    Only large numbers and those typed with an exponent change: "0.5" and "98.1" stay."""
    text = str(value)
    try:
        number = Decimal(text)
    except InvalidOperation:
        return text
    if not number.is_finite() or number.is_zero():
        return text
    if "e" not in text.lower() and abs(number) < 100_000:
        return text
    exponent = number.adjusted() // 3 * 3
    if exponent == 0:
        return f"{number.normalize():f}"
    mantissa = number.scaleb(-exponent).normalize()
    return f"{mantissa:f} × 10{str(exponent).translate(_SUPERSCRIPT)}"


def _alarm_for(context: ServiceContext, auth: Authenticated | None) -> list[str]:
    """The self-check's findings, for those who must act on them: QA and admin."""
    if auth is None or not auth.actor.has_any(Role.qa, Role.admin):
        return []
    return context.alarms()


def render(
    request: Request,
    template: str,
    values: dict[str, Any] | None = None,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    context = _context(request)
    auth: Authenticated | None = getattr(request.state, "auth", None)
    csrf = ""
    found = presented_token(request)
    if auth is not None and found is not None and found[1]:
        csrf = csrf_token(context.settings.secret_key, token_digest(found[0]))
    data: dict[str, Any] = {
        "auth": auth,
        "user": auth.user if auth else None,
        "roles": sorted(auth.actor.roles) if auth else [],
        "csrf_token": csrf,
        "role_descriptions": ROLE_DESCRIPTIONS,
        "path_of": path_of,
        "unit_name": unit_name,
        "quantity_shown": quantity_shown,
        "at": at,
        "integrity_alarm": _alarm_for(context, auth),
    }
    data.update(values or {})
    response = context.templates.TemplateResponse(
        request, template, data, status_code=status, headers=headers
    )
    assert isinstance(response, HTMLResponse)  # noqa: S101 - TemplateResponse is HTML
    return response


def error_page(
    request: Request, status: int, detail: str, *, headers: dict[str, str] | None = None
) -> Response:
    if status == 401:
        # Arriving without credentials is not an error worth a red box; a rejected one is.
        shown = detail if presented_token(request) is not None else None
        return render(
            request,
            "sign_in.html",
            {"next": _local_next(request.url.path, request.url.query), "error": shown},
            status=401,
            headers=headers,
        )
    return render(
        request,
        "error.html",
        {"status": status, "title": HTTPStatus(status).phrase, "detail": detail},
        status=status,
        headers=headers,
    )


def _local_next(path: str, query: str) -> str:
    return path + (f"?{query}" if query else "")


def safe_next(value: str | None) -> str:
    """Only local paths: a sign-in link must never redirect to another site."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value
