"""The demo site's batch records: a product and batches in every state a lab sees.

The demo people sign their statements as a device would. Their keys are made here, for
this load only, registered in the log, and then forgotten: no person's private key is
ever stored on the server, so to sign anything new in the demo a person creates a key
in their browser (Account page), like on a real site.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from audit.entry import pop_message
from labels.digital_link import batch_uri, product_uri
from traceability.custody_log import keys as key_service
from traceability.custody_log.appender import CustodyLog
from traceability.custody_log.signed_requests import SignedStatement, signed_by
from traceability.custody_log.statements import when_text
from traceability.domain.actor import Actor
from traceability.domain.roles import parse_roles
from traceability.domain.specifications import specification_to_json, uc_msc_specification
from traceability.keys import ActorKeyPair
from traceability.services import batch_records, qc_results, vial_labels
from traceability.services.users import get_by_username
from traceability.storage.models import Batch, User

GTIN = "09521234543213"
PANEL = {
    "CD73": "98.4",
    "CD90": "99.1",
    "CD105": "97.2",
    "CD34": "0.4",
    "CD45": "0.3",
    "CD14": "0.2",
    "CD19": "0.1",
    "HLA-DR": "0.5",
}
PASSING: dict[str, tuple[dict[str, Any], str | None, str]] = {
    "sterility": ({"result": "no growth"}, None, "14-day culture, USP <71>"),
    "mycoplasma": ({"result": "not detected"}, None, "NAT, Ph. Eur. 2.6.7"),
    "endotoxin": ({"value": "0.12"}, "EU/mL", "LAL kinetic chromogenic"),
    "identity": (PANEL, "%", "flow cytometry, ISCT panel"),
    "viability": ({"value": "91.4"}, "%", "7-AAD flow cytometry"),
    "potency": ({"value": "46"}, "% inhibition", "PBMC proliferation inhibition"),
    "cell_count": ({"value": "25400000"}, "cells/vial", "automated cell count"),
}


class DemoSigner:
    """A demo person signing as a device would, with a key made for this load only."""

    def __init__(self, session: Session, log: CustodyLog, username: str, now: datetime) -> None:
        self.user: User = get_by_username(session, username)
        self.actor = Actor(self.user.username, self.user.id, parse_roles(self.user.roles))
        self.pair = ActorKeyPair.generate(username)
        key_service.register_key(
            session,
            log,
            user=self.user,
            actor=self.actor,
            public_key=self.pair.public_key,
            label="demo load (key discarded)",
            pop=self.pair.sign(pop_message(self.pair.key_id, log.origin, username)),
            now=now,
        )

    def sign(
        self,
        session: Session,
        log: CustodyLog,
        type: str,
        subject: str,  # noqa: A002
        what: dict[str, Any],
        now: datetime,
    ) -> SignedStatement:
        return signed_by(
            session, log, self.pair, self.user.username, type=type, subject=subject, what=what,
            now=now,
        )  # fmt: skip


def load_records(session: Session, log: CustodyLog, *, resolver: str, now: datetime) -> int:
    """Create the demo product and four batches; returns the number of batches."""
    quinn, lena, leo = (DemoSigner(session, log, name, now) for name in ("quinn", "lena", "leo"))
    spec = json.loads(json.dumps(specification_to_json(uc_msc_specification())))
    batch_records.register_product(
        session,
        log,
        quinn.sign(
            session,
            log,
            "product.registered",
            product_uri(resolver, GTIN),
            {
                "code": "UC-MSC",
                "name": "Umbilical-cord mesenchymal stromal cells",
                "gtin": GTIN,
                "processing_class": "advanced-therapy",
                "storage_condition": "Store at or below -150 °C",
                "isbt128_facility": "G1234",
                "specification": spec,
            },
            now,
        ),
        user=quinn.user,
        actor=quinn.actor,
        resolver=resolver,
        now=now,
    )
    plans = [
        ("UC26-101", "D-4K7Q", set(PASSING), True, {}),  # complete, passing
        ("UC26-102", "D-9M2X", set(PASSING), True, {"potency": "22"}),  # potency OOS open
        ("UC26-103", "D-3H8T", set(PASSING), False, {}),  # awaiting review
        ("UC26-104", "D-6R1B", set(PASSING) - {"sterility"}, True, {}),  # sterility pending
    ]
    for n, (lot, donor, tests, reviewed, overrides) in enumerate(plans):
        made = (now - timedelta(days=30 - n)).date()
        subject = batch_uri(resolver, GTIN, lot)
        batch = batch_records.register_batch(
            session,
            log,
            lena.sign(
                session,
                log,
                "batch.registered",
                subject,
                {
                    "product": "UC-MSC",
                    "lot": lot,
                    "donor_code": donor,
                    "processing_class": "advanced-therapy",
                    "manufactured_on": made.isoformat(),
                    "expires_on": (made + timedelta(days=365)).isoformat(),
                    "specification_version": 1,
                    "vials": [f"{v:04d}" for v in range(1, 6)],
                    "site": "LAB1",
                },
                now,
            ),
            user=lena.user,
            actor=lena.actor,
            resolver=resolver,
            now=now,
        )
        _results(
            session,
            log,
            batch,
            subject,
            lena,
            leo if reviewed else None,
            tests,
            overrides,
            resolver,
            now,
        )
        if lot != "UC26-103":  # one batch is still waiting for its labels
            _labels(session, log, batch, subject, lena, resolver, now)
    return len(plans)


def _labels(
    session: Session,
    log: CustodyLog,
    batch: Batch,
    subject: str,
    lena: DemoSigner,
    resolver: str,
    now: datetime,
) -> None:
    """Labels for every vial; on the first batch one is reissued, so a void shows."""
    vial_labels.issue(
        session,
        log,
        lena.sign(session, log, "labels.issued", subject, {}, now),
        batch=batch,
        user=lena.user,
        actor=lena.actor,
        resolver=resolver,
        now=now,
    )
    if batch.lot == "UC26-101":
        what = {"serials": ["0003"], "reason": "Label smudged by frost during the fill check"}
        vial_labels.reissue(
            session,
            log,
            lena.sign(session, log, "labels.reissued", subject, what, now),
            batch=batch,
            user=lena.user,
            actor=lena.actor,
            resolver=resolver,
            now=now,
        )


def _results(
    session: Session,
    log: CustodyLog,
    batch: Batch,
    subject: str,
    lena: DemoSigner,
    reviewer: DemoSigner | None,
    tests: set[str],
    overrides: dict[str, str],
    resolver: str,
    now: datetime,
) -> None:
    for code, (values, unit, method) in PASSING.items():
        if code not in tests:
            continue
        what = {
            "test": code,
            "values": {"value": overrides[code]} if code in overrides else values,
            "unit": unit,
            "method": method,
            "instrument": "demo instrument",
            "reagent_lots": ["DEMO-LOT-1"],
            "analyst": lena.user.full_name,
            "tested_at": when_text(now - timedelta(days=2)),
        }
        row = qc_results.enter_result(
            session,
            log,
            lena.sign(session, log, "qc.result.entered", subject, what, now),
            batch=batch,
            user=lena.user,
            actor=lena.actor,
            resolver=resolver,
            now=now,
        )
        if reviewer is not None and row.verdict == "pass":
            qc_results.review_result(
                session,
                log,
                reviewer.sign(
                    session,
                    log,
                    "qc.result.reviewed",
                    subject,
                    {"result": row.id, "decision": "approved", "comment": None},
                    now,
                ),
                batch=batch,
                user=reviewer.user,
                actor=reviewer.actor,
                resolver=resolver,
                now=now,
            )
