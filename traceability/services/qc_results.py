"""QC results, second-person review and OOS decisions on a batch record, signed.

Each use case reads the domain request from the signed statement, applies the plain
rules of `domain.qc_record`, appends the person's statement to the custody log (subject:
the batch's Digital Link URI) and stores the row with the entry's index, in one unit of
work. Nothing is edited: a correction or retest is a new result that supersedes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, or_, select

from labels.digital_link import batch_uri
from traceability.custody_log import signed_requests
from traceability.custody_log.appender import CustodyLog
from traceability.custody_log.signed_requests import SignedStatement
from traceability.domain.actor import Actor
from traceability.domain.changes import diff
from traceability.domain.qc_record import (
    BatchState,
    OosState,
    ResultView,
    ReviewDecision,
    check_batch_open,
    check_new_result,
    check_reviewer,
    check_standing,
)
from traceability.domain.qc_requests import OosConclusion, ResultEntry, ReviewEntry
from traceability.domain.roles import Role
from traceability.domain.specifications import Verdict, evaluate
from traceability.errors import ConflictError, InvalidInputError, PermissionDeniedError
from traceability.services import audit_trail, batch_records
from traceability.services.batch_records import specification_of
from traceability.services.stored import stored
from traceability.storage.models import (
    Batch,
    OosDecision,
    Product,
    QcResult,
    QcReview,
    SiteMember,
    User,
)


def subject_of(session: Session, batch: Batch, resolver: str) -> str:
    product = session.get(Product, batch.product_id)
    assert product is not None  # noqa: S101 - a foreign key
    return batch_uri(resolver, product.gtin, batch.lot)


def expect_about_open_batch(
    session: Session,
    signed: SignedStatement,
    *,
    batch: Batch,
    type: str,  # noqa: A002
    user: User,
    resolver: str,
) -> None:
    """Every signed batch-record step: the batch takes entries, the statement is about
    it, and the signer keeps its record (`batch_records.check_keeps_record`)."""
    check_batch_open(stored(BatchState, batch.state, f"batch {batch.lot}"))
    batch_records.check_keeps_record(session, batch, user)
    signed_requests.expect(
        signed, type=type, subject=subject_of(session, batch, resolver), user=user
    )


def results_of(session: Session, batch: Batch) -> Sequence[QcResult]:
    return session.exec(
        select(QcResult).where(QcResult.batch_id == batch.id).order_by(col(QcResult.id))
    ).all()


def reviews_of(session: Session, results: Sequence[QcResult]) -> dict[int, QcReview]:
    """The second person's review of each result that has one, by result id."""
    ids = [r.id for r in results]
    return {
        r.result_id: r
        for r in session.exec(select(QcReview).where(col(QcReview.result_id).in_(ids))).all()
    }


def oos_decisions_of(session: Session, results: Sequence[QcResult]) -> dict[int, OosDecision]:
    """QA's conclusion of each failed result's investigation that has one, by result id."""
    ids = [r.id for r in results]
    return {
        d.result_id: d
        for d in session.exec(select(OosDecision).where(col(OosDecision.result_id).in_(ids))).all()
    }


def views(session: Session, batch: Batch) -> list[ResultView]:
    results = results_of(session, batch)
    reviews = reviews_of(session, results)
    decisions = oos_decisions_of(session, results)
    out = []
    for r in results:
        assert r.id is not None  # noqa: S101 - stored
        verdict = stored(Verdict, r.verdict, f"qc_results #{r.id}")
        review = reviews.get(r.id)
        decision = decisions.get(r.id)
        oos = None
        if verdict is Verdict.failed:
            oos = OosState(decision.conclusion) if decision else OosState.open
        out.append(
            ResultView(
                id=r.id,
                test=r.test,
                entered_by=r.entered_by,
                verdict=verdict,
                supersedes=r.supersedes_id,
                review=ReviewDecision(review.decision) if review else None,
                oos=oos,
            )
        )
    return out


def enter_result(
    session: Session,
    log: CustodyLog,
    signed: SignedStatement,
    *,
    batch: Batch,
    user: User,
    actor: Actor,
    resolver: str,
    now: datetime,
) -> QcResult:
    expect_about_open_batch(
        session, signed, batch=batch, type="qc.result.entered", user=user, resolver=resolver
    )
    entry = ResultEntry.from_what(signed.statement.what, now=now)
    specification = specification_of(session, batch)
    try:
        test = specification.test(entry.result.test)
        evaluation = evaluate(test, entry.result)
        check_new_result(
            views(session, batch), test.code, supersedes=entry.supersedes, reason=entry.reason
        )
    except InvalidInputError as e:  # the domain names the member inside `what`
        raise InvalidInputError(str(e), field=f"statement.what.{e.field}") from None
    appended = signed_requests.append(session, log, signed, user=user, now=now)
    assert batch.id is not None  # noqa: S101 - stored
    row = QcResult(
        batch_id=batch.id,
        test=test.code,
        values=dict(entry.result.values),
        unit=entry.result.unit,
        method=entry.method,
        instrument=entry.instrument,
        reagent_lots=list(entry.reagent_lots),
        analyst=entry.analyst,
        tested_at=entry.tested_at,
        assay_valid=entry.result.assay_valid,
        verdict=evaluation.verdict.value,
        reasons=list(evaluation.reasons),
        supersedes_id=entry.supersedes,
        reason=entry.reason,
        entered_by=user.username,
        log_index=appended.index,
        created_at=now,
    )
    session.add(row)
    session.flush()
    audit_trail.record(
        session,
        actor=actor,
        at=now,
        action="correct" if entry.supersedes else "create",
        record_type="qc-result",
        record_id=f"{batch.lot}/{test.code}/{row.id}",
        changes=diff(
            None,
            {
                "values": row.values,
                "verdict": row.verdict,
                "supersedes": row.supersedes_id,
                "log_index": row.log_index,
            },
        ),
        reason=entry.reason,
    )
    return row


def _result_of(session: Session, batch: Batch, result_id: int) -> tuple[QcResult, ResultView]:
    """The batch's result a statement names, with what the rules need to know of it."""
    row = session.get(QcResult, result_id)
    if row is None or row.batch_id != batch.id:
        raise InvalidInputError(
            f"batch {batch.lot} has no result {result_id}", field="statement.what.result"
        )
    return row, next(v for v in views(session, batch) if v.id == row.id)


def review_result(
    session: Session,
    log: CustodyLog,
    signed: SignedStatement,
    *,
    batch: Batch,
    user: User,
    actor: Actor,
    resolver: str,
    now: datetime,
) -> QcReview:
    expect_about_open_batch(
        session, signed, batch=batch, type="qc.result.reviewed", user=user, resolver=resolver
    )
    entry = ReviewEntry.from_what(signed.statement.what)
    row, view = _result_of(session, batch, entry.result)
    check_standing(views(session, batch), view)
    check_reviewer(view, user.username, actor.roles)
    appended = signed_requests.append(session, log, signed, user=user, now=now)
    review = QcReview(
        result_id=entry.result,
        decision=entry.decision.value,
        comment=entry.comment,
        reviewer=user.username,
        log_index=appended.index,
        created_at=now,
    )
    session.add(review)
    session.flush()
    audit_trail.record(
        session,
        actor=actor,
        at=now,
        action="review",
        record_type="qc-result",
        record_id=f"{batch.lot}/{row.test}/{row.id}",
        changes=diff(None, {"decision": review.decision, "log_index": review.log_index}),
        reason=entry.comment,
    )
    return review


def conclude_oos(
    session: Session,
    log: CustodyLog,
    signed: SignedStatement,
    *,
    batch: Batch,
    user: User,
    actor: Actor,
    resolver: str,
    now: datetime,
) -> OosDecision:
    if not actor.has_any(Role.qa):
        raise PermissionDeniedError("only QA concludes an OOS investigation")
    expect_about_open_batch(
        session, signed, batch=batch, type="oos.concluded", user=user, resolver=resolver
    )
    entry = OosConclusion.from_what(signed.statement.what)
    row, view = _result_of(session, batch, entry.result)
    if view.oos is not OosState.open:
        raise ConflictError(f"result {row.id} has no open OOS investigation")
    appended = signed_requests.append(session, log, signed, user=user, now=now)
    decision = OosDecision(
        result_id=entry.result,
        conclusion=entry.conclusion.value,
        reason=entry.reason,
        decided_by=user.username,
        log_index=appended.index,
        created_at=now,
    )
    session.add(decision)
    session.flush()
    audit_trail.record(
        session,
        actor=actor,
        at=now,
        action="conclude-oos",
        record_type="qc-result",
        record_id=f"{batch.lot}/{row.test}/{row.id}",
        changes=diff(
            {"oos": "open"}, {"oos": decision.conclusion, "log_index": decision.log_index}
        ),
        reason=entry.reason,
    )
    return decision


def awaiting_review(session: Session, *, reviewer: User) -> list[tuple[Batch, QcResult]]:
    """Results that stand, passed, and wait for a second person: never the reviewer's
    own, and only on batches the reviewer keeps the record of."""
    not_by = reviewer.username
    kept = select(SiteMember.site_id).where(SiteMember.user_id == reviewer.id)
    reviewed = select(QcReview.result_id)
    rows = session.exec(
        select(QcResult, Batch)
        .join(Batch, col(Batch.id) == QcResult.batch_id)
        .where(col(QcResult.id).not_in(reviewed))
        .where(QcResult.verdict == Verdict.passed.value)
        .where(QcResult.entered_by != not_by)
        .where(or_(col(Batch.site_id).is_(None), col(Batch.site_id).in_(kept)))
        .where(
            col(Batch.state).not_in([s.value for s in (BatchState.released, BatchState.rejected)])
        )
        .order_by(col(QcResult.id))
    ).all()
    superseded = {
        value for value in session.exec(select(QcResult.supersedes_id)).all() if value is not None
    }
    return [(batch, result) for result, batch in rows if result.id not in superseded]
