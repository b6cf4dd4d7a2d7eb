"""Server-rendered pages: home per role, the audit trail, user administration.

Forms post to these routes (cookie session + CSRF token); the same services as the
JSON API do the work, so a rule enforced there is enforced here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Literal
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from audit.entry import parse_entry
from traceability.custody_log import keys as key_service
from traceability.custody_log.appender import latest_checkpoint, read_head, recent_entries
from traceability.domain.disposition import FROM as DISPOSITION_FROM
from traceability.domain.disposition import MEANINGS, Decision
from traceability.domain.qc_record import CLOSED_STATES
from traceability.domain.roles import Role, parse_roles
from traceability.domain.specifications import specification_to_json
from traceability.errors import InvalidInputError
from traceability.services import (
    audit_trail,
    batch_records,
    esignature,
    qc_results,
    vial_labels,
)
from traceability.services import deviations as deviation_service
from traceability.services import notices as notice_service
from traceability.services import release as release_service
from traceability.services import sites as site_service
from traceability.services import users as user_service
from traceability.services.auth import Authenticated
from traceability.services.batch_record_view import batch_public
from traceability.services.custody import actions as custody_actions
from traceability.services.custody import shippers as shipper_views
from traceability.services.custody import views as custody_views
from traceability.services.proof.batch import BatchProof, check_batch
from traceability.web import custody_pictures
from traceability.web.deps import (
    AnyUser,
    ContextDep,
    EvidenceDep,
    SessionDep,
    TrailReader,
)
from traceability.web.fields import RowCursor, Text
from traceability.web.pages import render
from traceability.web.routes.batches import RecordReader
from traceability.web.routes.batches import Reviewer as ReviewerPage
from traceability.web.routes.custody_roles import Carrier as CustodyCarrier
from traceability.web.routes.custody_roles import Staff as SiteReader
from traceability.web.routes.log import MAX_INDEX as LOG_MAX_INDEX
from traceability.web.routes.log import CheckpointIssuer, LogReader

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Action:
    title: str
    description: str
    href: str


ACCOUNT_ACTION = Action(
    "Your signing keys",
    "Create a signing key in this browser (it never leaves the device) and see your keys.",
    "/ui/account",
)

REVIEWS_ACTION = Action(
    "Review queue",
    "Colleagues' passing results waiting for a second person (never your own).",
    "/ui/reviews",
)

BATCHES_ACTION = Action(
    "Batches",
    "Every batch record: each required test of its specification, with its status and "
    "every result, review and OOS investigation; labels; the release checklist and "
    "QA's e-signed decision.",
    "/ui/batches",
)

LOG_ACTION = Action(
    "Custody log",
    "Every GxP event as a signed, hash-chained entry; the latest signed checkpoint and how "
    "to verify it yourself.",
    "/ui/log",
)

AUDIT_TRAIL_ACTION = Action(
    "Audit trail",
    "Every creation and correction of a record: who, when, old and new values, and why.",
    "/ui/audit-trail",
)
USERS_ACTION = Action(
    "Users",
    "Create accounts, disable, enable or unlock them with a reason; see every sign-in attempt.",
    "/ui/users",
)

PRODUCTS_ACTION = Action(
    "Products and specifications",
    "Each product's specification versions: every required test with its method, unit and "
    "acceptance criterion.",
    "/ui/products",
)

DEVIATIONS_ACTION = Action(
    "Deviations",
    "Open deviations across batches: record, assign and close them with a conclusion.",
    "/ui/deviations",
)

CUSTODY_ACTION = Action(
    "In my custody",
    "What you hold, handoffs offered to you, and your sites' arrivals. Scan a vial's label "
    "with your phone to accept or hand over custody.",
    "/ui/custody",
)

SCAN_ACTION = Action(
    "Scan many",
    "Photograph a shipper box: every label in the photo is read and each vial listed with "
    "its state; voided or foreign labels are flagged.",
    "/ui/scan",
)

COLD_CHAIN_ACTION = Action(
    "Cold chain",
    "Storage units and shippers with their temperature limits; upload logger data; QA "
    "closes each excursion with a signed assessment.",
    "/ui/cold-chain",
)

SITES_ACTION = Action(
    "Sites and storage",
    "Each site's storage map (unit, rack, box, position) and what is arriving.",
    "/ui/sites",
)

AUDITOR_BATCHES_ACTION = Action(
    "Batches",
    "Every batch record with its results, reviews, OOS investigations and release "
    "decision; from a batch, download its signed audit bundle (verify it offline) and "
    "the inspector's report.",
    "/ui/batches",
)

AUDITOR_DEVIATIONS_ACTION = Action(
    "Deviations",
    "Every deviation across batches (open ones first), with who recorded it, who holds "
    "it, and QA's conclusion.",
    "/ui/deviations",
)

AUDITOR_COLD_CHAIN_ACTION = Action(
    "Cold chain",
    "Storage units and shippers with their temperature limits, logger uploads, and each "
    "excursion with QA's signed assessment.",
    "/ui/cold-chain",
)

ROLE_ACTIONS: dict[Role, list[Action]] = {
    Role.lab: [
        BATCHES_ACTION,
        CUSTODY_ACTION,
        SITES_ACTION,
        COLD_CHAIN_ACTION,
        SCAN_ACTION,
        REVIEWS_ACTION,
        DEVIATIONS_ACTION,
        PRODUCTS_ACTION,
        LOG_ACTION,
        ACCOUNT_ACTION,
    ],
    Role.qa: [
        BATCHES_ACTION,
        SITES_ACTION,
        COLD_CHAIN_ACTION,
        REVIEWS_ACTION,
        DEVIATIONS_ACTION,
        PRODUCTS_ACTION,
        LOG_ACTION,
        AUDIT_TRAIL_ACTION,
        ACCOUNT_ACTION,
    ],
    Role.courier: [CUSTODY_ACTION, SCAN_ACTION, ACCOUNT_ACTION],
    Role.auditor: [  # read-only: say what they can see, not what others can do
        AUDITOR_BATCHES_ACTION,
        SITES_ACTION,
        AUDITOR_COLD_CHAIN_ACTION,
        AUDITOR_DEVIATIONS_ACTION,
        PRODUCTS_ACTION,
        LOG_ACTION,
        AUDIT_TRAIL_ACTION,
        ACCOUNT_ACTION,
    ],
    Role.admin: [USERS_ACTION, AUDIT_TRAIL_ACTION, LOG_ACTION],
}
"""What each role can do today, shown on its home page; only pages that exist."""


@router.get("/")
def home(request: Request, auth: AnyUser, session: SessionDep) -> Response:
    """What each role can do, under the person's inbox (a recall of a batch they hold)."""
    sections = [{"role": role, "actions": ROLE_ACTIONS[role]} for role in sorted(auth.actor.roles)]
    inbox = notice_service.inbox(session, auth.user)
    return render(request, "home.html", {"sections": sections, "inbox": inbox})


@router.get("/ui/batches/{lot}")
def batch_page(
    request: Request,
    lot: Annotated[str, Path(max_length=20)],
    auth: RecordReader,
    context: ContextDep,
    session: SessionDep,
    evidence: EvidenceDep,
) -> Response:
    batch = batch_records.get_batch(session, lot)
    proof = check_batch(session, evidence, batch)
    public = batch_public(session, batch, context.settings.resolver_base)
    superseded = {r.supersedes for r in public.results if r.supersedes}
    current = {r.test: r for r in public.results if r.id not in superseded}
    keeps = batch_records.keeps_record(session, batch, auth.user)
    is_open = keeps and batch.state not in CLOSED_STATES
    specification = batch_records.specification_of(session, batch)
    spec = specification_to_json(specification)
    actor = auth.actor
    can = {
        "can_enter": is_open and actor.has_any(Role.lab),
        "can_review": is_open and actor.has_any(Role.lab, Role.qa),
        "can_decide_oos": is_open and actor.has_any(Role.qa),
        "can_record_deviation": is_open and actor.has_any(Role.lab, Role.qa),
        "can_manage_deviations": is_open and actor.has_any(Role.qa),
        "can_label": keeps and actor.has_any(Role.lab, Role.qa),
    }
    vials = batch_records.vials_of(session, batch)
    labelled = vial_labels.current_labels(session, vials)
    # Links without the tag: staff opening a vial from here is not a label scan.
    label_links = {v.serial: urlsplit(v.uri).path for v in vials if v.id in labelled}
    staff = [
        u.username
        for u in user_service.list_users(session)
        if u.is_active
        and {Role.lab, Role.qa} & parse_roles(u.roles)
        and batch_records.keeps_record(session, batch, u)
    ]
    record = release_service.release_record(
        session, batch, today=context.clock().date(), proof=proof, alarms=context.alarms()
    )
    release_view = _release_view(session, record, auth, keeps=keeps, proof=proof)
    can["can_decide"] = bool(release_view["decisions"])
    return render(
        request,
        "batch.html",
        {
            **can,
            **release_view,
            "can_sign": any(can.values()),
            "read_only_staff": not keeps and actor.has_any(Role.lab, Role.qa),
            "staff": staff,
            "reconciliation": vial_labels.reconciliation(session, batch),
            "label_links": label_links,
            "batch": public,
            "current_by_test": current,
            "spec": spec,
            "test_names": {t.code: t.name for t in specification.tests},
            "origin": context.log.origin,
            "deviations": [
                deviation_service.deviation_public(session, d)
                for d in deviation_service.deviations_of(session, batch)
            ],
            # Drawn from the custody rows only when the log proves them (else the page's
            # findings say why there is no picture).
            "custody_picture": custody_pictures.drawn(
                lambda: custody_pictures.batch_timeline(
                    [(v.id or 0, v.serial) for v in vials],
                    custody_views.holdings(session, evidence, vials),
                    until=context.clock(),
                    lot=batch.lot,
                )
            )
            if proof.ok and vials
            else None,
        },
    )


def _release_view(
    session: SessionDep,
    record: release_service.ReleaseRecord,
    auth: Authenticated,
    *,
    keeps: bool,
    proof: BatchProof,
) -> dict[str, object]:
    """The batch page's release section: checklist, decisions, signatures, recall."""
    decisions = (
        [d.value for d in Decision if record.state in DISPOSITION_FROM[d]]
        if keeps and auth.actor.has_any(Role.qa)
        else []
    )
    return {
        "readiness": record.readiness,
        "conditional_ready": record.conditional_ready,
        "decisions": decisions,
        "meanings": {d.value: m for d, m in MEANINGS.items()},
        "first_signature": esignature.first_in_session(session, auth),
        "dispositions": record.dispositions,
        "certificate": record.certificate,
        "recall": record.recall,
        "can_audit": auth.actor.has_any(Role.auditor, Role.qa),
        "proof": proof,
    }


@router.get("/ui/deviations")
def deviations_page(
    request: Request,
    auth: RecordReader,
    session: SessionDep,
    show: Annotated[Literal["open", "all"], Query()] = "open",
) -> Response:
    """Every deviation across batches (open ones by default): QA's worklist."""
    rows = []
    for deviation, lot in deviation_service.all_deviations(session):
        public = deviation_service.deviation_public(session, deviation)
        if show == "all" or public.state != "closed":
            rows.append({"lot": lot, "deviation": public})
    return render(request, "deviations.html", {"rows": rows, "show": show})


@router.get("/ui/custody")
def custody_page(
    request: Request, auth: CustodyCarrier, context: ContextDep, session: SessionDep
) -> Response:
    """What I hold (as a courier, or for the sites I act for) and handoffs offered to me."""
    user = user_service.get_by_username(session, auth.user.username)
    view = custody_views.custody_of(session, user, context.clock())
    return render(
        request,
        "custody.html",
        {
            "view": view,
            "sites": site_service.sites_of(session, user),
        },
    )


@router.get("/ui/sites")
def sites_page(request: Request, auth: SiteReader, session: SessionDep) -> Response:
    return render(request, "sites.html", {"sites": site_service.list_sites(session)})


@router.get("/ui/sites/{code}")
def site_page(
    request: Request,
    code: Annotated[str, Path(max_length=32)],
    auth: SiteReader,
    context: ContextDep,
    session: SessionDep,
    evidence: EvidenceDep,
) -> Response:
    """A site's storage map: each unit's vials by rack, box and position; arrivals; and
    the shippers on their way to it."""
    site = site_service.find_site(session, code)
    view = custody_views.site_view(session, site, context.clock())
    addressed = shipper_views.addressed_to(session, evidence, site)
    user = user_service.current_user(session, auth.actor)
    # Staff of this site commission its shippers, each to another site (the consignee).
    commissions = auth.actor.has_any(Role.lab, Role.qa) and site_service.is_member(
        session, site, user
    )
    consignees = [s for s in site_service.list_sites(session) if s.code != site.code]
    return render(
        request,
        "site.html",
        {
            "view": view,
            "addressed": addressed,
            "commissions": commissions,
            "consignees": consignees,
            "party_label": custody_actions.party_label,
            "can_scan": auth.actor.has_any(Role.lab, Role.qa, Role.courier),
        },
    )


@router.get("/ui/reviews")
def reviews_page(request: Request, auth: ReviewerPage, session: SessionDep) -> Response:
    items = qc_results.awaiting_review(session, reviewer=auth.user)
    return render(request, "reviews.html", {"items": items})


@router.get("/ui/account")
def account_page(
    request: Request,
    auth: AnyUser,
    context: ContextDep,
    session: SessionDep,
    registered: Annotated[str | None, Query(pattern="^[0-9a-f]{32}$")] = None,
) -> Response:
    keys = [
        (k, key_service.revocation_of(session, k.key_id))
        for k in key_service.keys_of(session, auth.user.id)
    ]
    return render(
        request,
        "account.html",
        {"keys": keys, "origin": context.log.origin, "registered": registered},
    )


@router.get("/ui/audit-trail")
def audit_trail_page(
    request: Request,
    auth: TrailReader,
    session: SessionDep,
    record_type: Annotated[Text | None, Query(max_length=64)] = None,
    record_id: Annotated[Text | None, Query(max_length=256)] = None,
    user: Annotated[Text | None, Query(max_length=128)] = None,
    action: Annotated[Text | None, Query(max_length=64)] = None,
    from_day: Annotated[Text | None, Query(max_length=10)] = None,
    to_day: Annotated[Text | None, Query(max_length=10)] = None,
    before_id: RowCursor = None,
) -> Response:
    """100 rows a page, newest first, filtered by who, what, which record and when (an
    empty field of the form is no filter)."""
    filters = {
        "record_type": record_type or None,
        "record_id": record_id or None,
        "user": user or None,
        "action": action or None,
        "from_day": from_day or None,
        "to_day": to_day or None,
    }
    rows = audit_trail.query(
        session,
        record_type=filters["record_type"],
        record_id=filters["record_id"],
        actor=filters["user"],
        action=filters["action"],
        days=(_day(from_day, "from_day"), _day(to_day, "to_day")),
        before_id=before_id,
        limit=PAGE_ROWS,
    )
    older = None
    if len(rows) == PAGE_ROWS:
        kept = {name: value for name, value in filters.items() if value}
        older = "?" + urlencode({**kept, "before_id": rows[-1].id})
    return render(
        request,
        "audit_trail.html",
        {
            "rows": rows,
            "filters": filters,
            "older": older,
            "actions": audit_trail.actions(session),
        },
    )


PAGE_ROWS = 100


def _day(value: str | None, field: str) -> date | None:
    """A day typed in the form (a date input sends YYYY-MM-DD), or no filter if empty."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInputError("a day is written YYYY-MM-DD", field=field) from None


@router.get("/ui/log")
def log_page(
    request: Request,
    auth: LogReader,
    context: ContextDep,
    session: SessionDep,
    before: Annotated[int | None, Query(ge=0, le=LOG_MAX_INDEX)] = None,
) -> Response:
    head = read_head(session)
    start = min(before if before is not None else head.size, head.size)
    rows = recent_entries(session, before=start, limit=50)
    return render(
        request,
        "log.html",
        {
            "size": head.size,
            "checkpoint": latest_checkpoint(session),
            "log_key": context.log.keys.log.verifier().text(),
            "entries": [(row, parse_entry(bytes(row.entry))) for row in rows],
            "older": rows[-1].idx if rows and rows[-1].idx > 0 else None,
            "can_sign": auth.actor.has_any(Role.qa, Role.auditor, Role.admin),
        },
    )


@router.post("/ui/log/checkpoint")
def log_checkpoint(auth: CheckpointIssuer, context: ContextDep) -> Response:
    with context.db.write() as session:
        context.log.issue_checkpoint(session, now=context.clock())
    return RedirectResponse("/ui/log", status_code=303)
