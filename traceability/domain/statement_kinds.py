"""Every kind of custody log entry: its type name, its earlier names, what a person signs.

The naming rule, for every type the log holds:

    <subject>.<past participle>

The subject is what the entry is about, as lowercase words separated by dots, the most
general first (`batch`, `qc.result`, `custody.handover`, `coldchain.excursion`); the last
word says what happened to it, as a past participle (`registered`, `entered`,
`accepted`); words inside one part are joined by `_` (`custody.handed_to_courier`).
An entry records a fact that has happened, so its name says so; a name never holds a
command (`custody.store`) or a bare noun (`batch.disposition`).

Names are part of the signed bytes, so an entry keeps the name it was written with.
Kinds written under another name before the rule keep it as an *old name*: everything
that matches types (proofs, reconciliation, the vial's history, EPCIS, verification)
matches `spellings(...)` of the current name, which includes the old ones, so
existing logs read as before. A signed request under an old name is still accepted
from clients written before the rename (`current` maps it); the service and the pages
write the current name.

Plain data: no storage, no web. `what` is the model of the request a person signs
(`domain.what`), which the services read it with and the API documents; kinds the
service writes on its own have none.
"""

from __future__ import annotations

from dataclasses import dataclass

from traceability.domain.cold_chain import ExcursionClosing
from traceability.domain.custody import (
    Administration,
    Condition,
    Destruction,
    Dispatch,
    HandoffAcceptance,
    HandoffOffer,
    Location,
    Packing,
    Step,
)
from traceability.domain.deviations import Assignment, Closure, DeviationRecord
from traceability.domain.disposition import DispositionRequest
from traceability.domain.label_tags import LabelRequest, ReissueRequest
from traceability.domain.qc_requests import OosConclusion, ResultEntry, ReviewEntry
from traceability.domain.registrations import (
    BatchRegistration,
    ProductRegistration,
    SpecificationVersionRequest,
)
from traceability.domain.what import What


@dataclass(frozen=True)
class Kind:
    name: str
    what: type[What] | None = None
    """The model of the `what` a person signs; None when only the service writes it."""
    old: tuple[str, ...] = ()
    """Names this kind was written under before the naming rule; still read."""


KEY_REGISTERED = "key.registered"
KEY_REVOKED = "key.revoked"
PRODUCT_REGISTERED = "product.registered"
SPEC_VERSION_CREATED = "spec.version.created"
BATCH_REGISTERED = "batch.registered"
VIAL_COMMISSIONED = "vial.commissioned"
QC_RESULT_ENTERED = "qc.result.entered"
QC_RESULT_REVIEWED = "qc.result.reviewed"
OOS_CONCLUDED = "oos.concluded"
DEVIATION_RECORDED = "deviation.recorded"
DEVIATION_ASSIGNED = "deviation.assigned"
DEVIATION_CLOSED = "deviation.closed"
DISPOSITION_DECIDED = "batch.disposition.decided"
BATCH_RECALLED = "batch.recalled"
LABELS_ISSUED = "labels.issued"
LABELS_REISSUED = "labels.reissued"
LABEL_ISSUED = "label.issued"
SHIPPER_COMMISSIONED = "shipper.commissioned"
CUSTODY_STORED = "custody.stored"
CUSTODY_PACKED = "custody.packed"
HANDOVER_OFFERED = "custody.handover.offered"
HANDOVER_ACCEPTED = "custody.handover.accepted"
HANDED_TO_COURIER = "custody.handed_to_courier"
HANDED_TO_SITE = "custody.handed_to_site"
CUSTODY_DISPATCHED = "custody.dispatched"
CUSTODY_RECEIVED = "custody.received"
CUSTODY_ADMINISTERED = "custody.administered"
CUSTODY_DESTROYED = "custody.destroyed"
READINGS_UPLOADED = "coldchain.readings.uploaded"
EXCURSION_DETECTED = "coldchain.excursion.detected"
EXCURSION_CLOSED = "coldchain.excursion.closed"

KINDS: tuple[Kind, ...] = (
    Kind(KEY_REGISTERED),
    Kind(KEY_REVOKED),
    Kind(PRODUCT_REGISTERED, ProductRegistration),
    Kind(SPEC_VERSION_CREATED, SpecificationVersionRequest),
    Kind(BATCH_REGISTERED, BatchRegistration),
    Kind(VIAL_COMMISSIONED),
    Kind(QC_RESULT_ENTERED, ResultEntry),
    Kind(QC_RESULT_REVIEWED, ReviewEntry),
    Kind(OOS_CONCLUDED, OosConclusion),
    Kind(DEVIATION_RECORDED, DeviationRecord),
    Kind(DEVIATION_ASSIGNED, Assignment),
    Kind(DEVIATION_CLOSED, Closure),
    Kind(DISPOSITION_DECIDED, DispositionRequest, old=("batch.disposition",)),
    Kind(BATCH_RECALLED),
    Kind(LABELS_ISSUED, LabelRequest),
    Kind(LABELS_REISSUED, ReissueRequest),
    Kind(LABEL_ISSUED),
    Kind(SHIPPER_COMMISSIONED),
    # A person's custody step is signed about the vial or shipper (its model says what
    # it holds); a shipper's step also puts a service entry of the same kind on each
    # vial in it ({shipper, request_entry}: no person signs those). A handoff is signed
    # as offered and accepted, so handed_to_* are only ever such service entries.
    Kind(CUSTODY_STORED, Location, old=("custody.store",)),
    Kind(CUSTODY_PACKED, Packing, old=("custody.pack",)),
    Kind(HANDOVER_OFFERED, HandoffOffer),
    Kind(HANDOVER_ACCEPTED, HandoffAcceptance),
    Kind(HANDED_TO_COURIER, old=("custody.hand_to_courier",)),
    Kind(HANDED_TO_SITE, old=("custody.hand_to_site",)),
    Kind(CUSTODY_DISPATCHED, Dispatch, old=("custody.dispatch",)),
    Kind(CUSTODY_RECEIVED, Condition, old=("custody.receive",)),
    Kind(CUSTODY_ADMINISTERED, Administration, old=("custody.administer",)),
    Kind(CUSTODY_DESTROYED, Destruction, old=("custody.destroy",)),
    Kind(READINGS_UPLOADED),
    Kind(EXCURSION_DETECTED, old=("coldchain.excursion",)),
    Kind(EXCURSION_CLOSED, ExcursionClosing),
)

STEP_TYPES: dict[Step, str] = {
    Step.store: CUSTODY_STORED,
    Step.pack: CUSTODY_PACKED,
    Step.hand_to_courier: HANDED_TO_COURIER,
    Step.hand_to_site: HANDED_TO_SITE,
    Step.dispatch: CUSTODY_DISPATCHED,
    Step.receive: CUSTODY_RECEIVED,
    Step.administer: CUSTODY_ADMINISTERED,
    Step.destroy: CUSTODY_DESTROYED,
}
"""The type of the entry a custody step writes on each vial it moves (a shipper's step
puts one on each vial in it; the handoffs themselves are `custody.handover.*`)."""

BY_TYPE: dict[str, Kind] = {kind.name: kind for kind in KINDS}
_CURRENT: dict[str, str] = {name: kind.name for kind in KINDS for name in (kind.name, *kind.old)}


def current(type_name: str) -> str:
    """The current name of a type read from an entry (itself if unknown or current)."""
    return _CURRENT.get(type_name, type_name)


def spellings(*type_names: str) -> tuple[str, ...]:
    """Every name the given kinds are found under in a log: each current name, then its
    old names. What to match (`entry.type in ...`, `entry_type IN (...)`) when reading."""
    out: list[str] = []
    for name in type_names:
        kind = BY_TYPE.get(name)
        if kind is None:
            raise KeyError(f"{name} is not a current statement type (statement_kinds.KINDS)")
        out += [kind.name, *kind.old]
    return tuple(out)


def is_a(type_name: str, *kinds: str) -> bool:
    """Whether an entry's type is one of `kinds` (current names), under any spelling."""
    return current(type_name) in kinds


def what_model(type_name: str) -> type[What]:
    """The model of the `what` a person signs for this kind."""
    model = BY_TYPE[current(type_name)].what
    if model is None:
        raise KeyError(f"{type_name} is written by the service; no person signs it")
    return model
