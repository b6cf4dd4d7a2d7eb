"""The record tables the printed documents show: results and reviews, deviations and
OOS investigations, where each vial was; each as of a moment if given (a certificate
shows things as they stood when the decision was signed)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from traceability.domain.deviations import DeviationState, state_of
from traceability.domain.specifications import Verdict
from traceability.services import deviations, qc_results
from traceability.services.batch_records import vials_of
from traceability.services.custody import views as custody_views
from traceability.services.stored import stored
from traceability.storage.models import Batch, Site


def qc_rows(session: Session, batch: Batch, until: datetime | None = None) -> list[list[str]]:
    """Every result (and its review) as recorded, up to `until` if given."""
    results = [
        r for r in qc_results.results_of(session, batch) if until is None or r.created_at <= until
    ]
    reviews = {
        result_id: review
        for result_id, review in qc_results.reviews_of(session, results).items()
        if until is None or review.created_at <= until
    }
    superseded = {r.supersedes_id for r in results}
    rows = [["#", "Test", "Result", "Verdict", "Entered", "Reviewed"]]
    for result in results:
        values = ", ".join(f"{k} {v}" for k, v in result.values.items())
        review = reviews.get(result.id or 0)
        state = " (superseded)" if result.id in superseded else ""
        rows.append(
            [
                str(result.id),
                result.test + state,
                f"{values} {result.unit or ''}".strip(),
                result.verdict,
                f"{result.entered_by}, {result.tested_at:%Y-%m-%d}",
                f"{review.decision} by {review.reviewer}" if review else "not reviewed",
            ]
        )
    return rows


def investigation_rows(
    session: Session, batch: Batch, until: datetime | None = None
) -> list[list[str]]:
    """Every deviation and out-of-specification investigation of the batch with where it
    stood, and its conclusion, as of `until` if given: an inspector reads the release
    beside what went wrong and how it was decided."""
    rows = [["Entry", "What", "Recorded", "Where it stands"]]
    for deviation in deviations.deviations_of(session, batch):
        if until is not None and deviation.created_at > until:
            continue
        events = [
            e
            for e in deviations.events_of(session, deviation)
            if until is None or e.created_at <= until
        ]
        stands = state_of([e.kind for e in events])
        last = events[-1] if events else None
        if stands is DeviationState.closed and last is not None:
            where = f"closed by {last.by}, {last.created_at:%Y-%m-%d}: {last.conclusion}"
        elif stands is DeviationState.assigned and last is not None:
            where = f"OPEN, investigated by {last.assignee}"
        else:
            where = "OPEN"
        rows.append(
            [
                str(deviation.log_index),
                f"Deviation #{deviation.id} ({deviation.severity}): {deviation.title}",
                f"{deviation.recorded_by}, {deviation.created_at:%Y-%m-%d}",
                where,
            ]
        )
    results = [
        r
        for r in qc_results.results_of(session, batch)
        if stored(Verdict, r.verdict, f"qc_results #{r.id}") is Verdict.failed
    ]
    decided = {
        result_id: decision
        for result_id, decision in qc_results.oos_decisions_of(session, results).items()
        if until is None or decision.created_at <= until
    }
    for result in results:
        if until is not None and result.created_at > until:
            continue
        decision = decided.get(result.id or 0)
        rows.append(
            [
                str(decision.log_index if decision else result.log_index),
                f"OOS: result #{result.id}, {result.test} failed",
                f"{result.entered_by}, {result.created_at:%Y-%m-%d}",
                f"{decision.conclusion} by {decision.decided_by}, "
                f"{decision.created_at:%Y-%m-%d}: {decision.reason}"
                if decision
                else "OPEN: under investigation",
            ]
        )
    return rows


def custody_rows(session: Session, batch: Batch, until: datetime | None = None) -> list[list[str]]:
    """Where each vial was, as of `until` if given (its last custody event by then)."""
    rows = [["Vial", "State", "Held by", "Site", "Steps in the log"]]
    for vial in vials_of(session, batch):
        events = [
            e
            for e in custody_views.timeline(session, vial)
            if until is None or e.created_at <= until
        ]
        last = events[-1] if events else None
        site = session.get(Site, last.site_id) if last and last.site_id else None
        rows.append(
            [
                vial.serial,
                last.state if last else "commissioned",
                (last.custodian or "nobody") if last else "nobody",
                site.code if site else "",
                str(len(events)),
            ]
        )
    return rows
