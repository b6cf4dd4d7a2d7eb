"""A shipper's SSCC label: what it says, from what the signed log proves.

The label is what travels with the vials (21 CFR 1271.370(c)): the SSCC, where the
shipper goes and whence, the lots inside with their expiry and count, the temperature
it must keep, and the product's description and warnings. Where it goes and its limits
come from its proven commissioning entry; the lots from the batches' records, each
proven by the log before anything is printed (a label is relied on outside the
service, as a certificate is). A lot not released says so on the label.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from sqlmodel import Session

from labels.label_content import ShipperLabel, ShipperLot
from traceability.custody_log.evidence import LogEvidence
from traceability.domain.qc_record import BatchState
from traceability.errors import ConflictError
from traceability.services.custody.positions import unit_for
from traceability.services.custody.shippers import commissioning, limits_text, site_name
from traceability.services.proof.batch import require_proven
from traceability.services.vial_labels import PROCESSING_DESCRIPTIONS
from traceability.storage.models import Batch, Product, Shipper

HANDLING = ("Do not irradiate", "Do not X-ray")

NOT_RELEASED = {
    BatchState.quarantine: "QUARANTINE: NOT RELEASED FOR USE",
    BatchState.conditionally_released: "CONDITIONALLY RELEASED: SEE THE RELEASE RECORD",
    BatchState.on_hold: "ON HOLD: DO NOT USE",
    BatchState.rejected: "REJECTED: DO NOT USE",
    BatchState.recalled: "RECALLED: DO NOT USE",
}
"""What the label says of a lot that is not (or no longer) released."""


def shipper_label_content(
    session: Session,
    evidence: LogEvidence,
    shipper: Shipper,
    *,
    establishment: str,
    alarms: Sequence[str] = (),
) -> ShipperLabel:
    """The label of a packed shipper; ConflictError if it is empty, was commissioned
    without a consignee, or holds more than one product; UnprovenError if the log does
    not prove what it would say."""
    made = commissioning(evidence, shipper)
    if made.consignee is None:
        raise ConflictError(
            f"shipper {shipper.sscc} was commissioned without a consignee: commission a "
            "new one for this consignment"
        )
    vials = unit_for(session, shipper.uri).vials
    if not vials:
        raise ConflictError(f"shipper {shipper.sscc} is empty: pack it before printing")
    counts = Counter(vial.batch_id for vial in vials)
    batches = sorted((_batch(session, batch_id) for batch_id in counts), key=lambda b: b.lot)
    if len({batch.product_id for batch in batches}) != 1:
        raise ConflictError(
            f"shipper {shipper.sscc} holds more than one product; a label describes one"
        )
    warnings: list[str] = []
    for batch in batches:
        state = require_proven(session, evidence, batch, what="shipper label", alarms=alarms).state
        if state in NOT_RELEASED:
            warnings.append(f"LOT {batch.lot} {NOT_RELEASED[state]}")
    product = session.get(Product, batches[0].product_id)
    assert product is not None  # noqa: S101 - foreign key
    kinds = sorted(
        {PROCESSING_DESCRIPTIONS.get(b.processing_class, b.processing_class) for b in batches}
    )
    return ShipperLabel(
        uri=shipper.uri,
        sscc=shipper.sscc,
        product=product.name,
        description=f"Human cells for cell therapy, {'; '.join(kinds)}",
        contents=tuple(
            ShipperLot(batch.lot, batch.expires_on, counts[batch_id])
            for batch_id, batch in ((b.id or 0, b) for b in batches)
        ),
        storage=limits_text(made),
        ship_from=f"{site_name(session, made.site)}\n{establishment}",
        ship_to=site_name(session, made.consignee),
        warnings=(*warnings, *HANDLING),
        instructions="Keep upright. Scan each vial's label on receipt.",
    )


def _batch(session: Session, batch_id: int) -> Batch:
    batch = session.get(Batch, batch_id)
    assert batch is not None  # noqa: S101 - foreign key
    return batch
