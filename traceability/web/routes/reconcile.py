"""The self-check's outcome and reconcile on demand: the API, and QA's page.

Reading it is for QA, admin and auditors; running it now is QA's and admin's (it reads
the whole log and every table, and may sign a checkpoint first).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel

from traceability.domain.roles import Role
from traceability.services.auth import Authenticated
from traceability.services.proof.self_check import Integrity, SelfCheck
from traceability.web.context import ServiceContext
from traceability.web.deps import ContextDep, RequireRoles, TrailReader
from traceability.web.pages import render

router = APIRouter(tags=["audit"])

Reconciler = Annotated[Authenticated, Depends(RequireRoles(Role.qa, Role.admin))]


class FindingPublic(BaseModel):
    kind: str
    record: str
    index: int | None
    detail: str


class IntegrityPublic(BaseModel):
    checked_at: str | None
    """When the last self-check ran (UTC); null before the first has finished."""
    ok: bool | None
    entries: int
    batches: int
    findings: list[FindingPublic]
    error: str | None


def _check(context: ServiceContext) -> SelfCheck:
    return context.self_check


def _public(outcome: Integrity | None) -> IntegrityPublic:
    if outcome is None:
        return IntegrityPublic(
            checked_at=None, ok=None, entries=0, batches=0, findings=[], error=None
        )
    return IntegrityPublic(
        checked_at=outcome.checked_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        ok=outcome.ok,
        entries=outcome.entries,
        batches=outcome.batches,
        findings=[
            FindingPublic(kind=f.kind, record=f.record, index=f.index, detail=f.detail)
            for f in outcome.findings
        ],
        error=outcome.error,
    )


@router.get(
    "/audit/reconcile",
    response_model=IntegrityPublic,
    summary="The last self-check: every table compared with the signed log",
)
def latest(auth: TrailReader, context: ContextDep) -> IntegrityPublic:
    return _public(_check(context).latest)


@router.post(
    "/audit/reconcile",
    response_model=IntegrityPublic,
    summary="Reconcile now: verify the log, then every table and batch against it",
)
def run_now(auth: Reconciler, context: ContextDep) -> IntegrityPublic:
    return _public(_check(context).run(context.clock()))


@router.get("/ui/reconcile", include_in_schema=False)
def reconcile_page(request: Request, auth: TrailReader, context: ContextDep) -> Response:
    return render(
        request,
        "reconcile.html",
        {
            "outcome": _check(context).latest,
            "interval": context.settings.self_check_minutes,
            "can_run": auth.actor.has_any(Role.qa, Role.admin),
        },
    )


@router.post("/ui/reconcile", include_in_schema=False)
def reconcile_now(auth: Reconciler, context: ContextDep) -> Response:
    _check(context).run(context.clock())
    return RedirectResponse("/ui/reconcile", status_code=303)
