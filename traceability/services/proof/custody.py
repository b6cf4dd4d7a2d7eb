"""A vial's own tables against its chain in the log: custody events, labels, excursions.

Each vial's entries are replayed in order, as the custody service took the steps, and
every row is compared with what its entry makes: the step, the state after it, who
took it (the person whose key signed the entry, or for a shipper's vials the person
behind the shipper's request), the custodian and site it left the vial with, and the
place it was stored. A row no entry makes, an entry with no row, and rows in another
order than their entries are findings too: the newest row is where pages say the vial
is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlmodel import Session, col, select

from audit.entry import Entry
from traceability.custody_log.evidence import LogEvidence, Proven
from traceability.domain.custody import (
    AFTER,
    Condition,
    Destruction,
    HandoffOffer,
    Location,
    Party,
    Step,
    custodian_after,
)
from traceability.domain.label_tags import tag_digest
from traceability.domain.statement_kinds import EXCURSION_DETECTED, STEP_TYPES, spellings
from traceability.errors import InvalidInputError
from traceability.services.proof.findings import ProofFinding, compare, unproven
from traceability.storage.models import (
    CustodyEvent,
    Excursion,
    ExcursionClosure,
    ExcursionVial,
    LabelIssue,
    Shipper,
    Site,
    StorageUnit,
    Vial,
)

STEP_OF_TYPE: dict[str, Step] = {
    name: step for step, kind in STEP_TYPES.items() for name in spellings(kind)
}
"""The custody entry types that write a custody event row, and their step, under every
name a log holds them by. A vial's own steps are signed by the person
(`custody.stored`); a shipper's steps put a service entry of the same kind on each vial
in it (`custody.stored`, `custody.handed_to_courier`; before issue 18 named for the
step, `custody.store`, `custody.hand_to_courier`)."""

ACCEPTED = "custody.handover.accepted"
OFFERED = "custody.handover.offered"
LABEL_ISSUED = "label.issued"
EXCURSION = spellings(EXCURSION_DETECTED)
EXCURSION_CLOSED = "coldchain.excursion.closed"


@dataclass
class Names:
    """Codes of the sites, units and shippers rows point to by id."""

    sites: dict[int, str]
    units: dict[int, tuple[int, str]]
    shippers: dict[int, str]

    @classmethod
    def read(cls, session: Session, events: Sequence[CustodyEvent]) -> Names:
        site_ids = {e.site_id for e in events if e.site_id is not None}
        unit_ids = {e.unit_id for e in events if e.unit_id is not None}
        shipper_ids = {e.shipper_id for e in events if e.shipper_id is not None}
        units = {
            u.id: (u.site_id, u.code)
            for u in session.exec(select(StorageUnit).where(col(StorageUnit.id).in_(unit_ids)))
            if u.id is not None
        }
        site_ids |= {site for site, _ in units.values()}
        return cls(
            sites={
                s.id: s.code
                for s in session.exec(select(Site).where(col(Site.id).in_(site_ids)))
                if s.id is not None
            },
            units=units,
            shippers={
                s.id: s.uri
                for s in session.exec(select(Shipper).where(col(Shipper.id).in_(shipper_ids)))
                if s.id is not None
            },
        )

    def event(self, row: CustodyEvent) -> dict[str, Any]:
        unit = self.units.get(row.unit_id) if row.unit_id is not None else None
        return {
            "step": row.step,
            "state": row.state,
            "by": row.by,
            "custodian": row.custodian,
            "site": None if row.site_id is None else self.sites.get(row.site_id, "?"),
            "unit": None if unit is None else f"{self.sites.get(unit[0], '?')}/{unit[1]}",
            "rack": row.rack,
            "box": row.box,
            "position": row.position,
            "shipper": None if row.shipper_id is None else self.shippers.get(row.shipper_id, "?"),
            "detail": row.detail,
        }


@dataclass
class _Holder:
    """Where the replay has a vial: who holds it, at which site, and an open offer."""

    custodian: str | None = None
    site: str | None = None
    offered_to: Party | None = None


def _request(evidence: LogEvidence, proven: Proven) -> Proven | None:
    """The person's own entry behind a service entry (a shipper step, a label issue)."""
    request = proven.entry.what.get("request_entry")
    if not isinstance(request, int) or isinstance(request, bool):
        return None
    found = evidence.prove(request)
    return found if isinstance(found, Proven) else None


def _step_made(
    evidence: LogEvidence, proven: Proven, step: Step, holder: _Holder
) -> dict[str, Any]:
    """The custody event row the entry makes, and the holder after it."""
    entry = proven.entry
    what = entry.what
    own = entry.actor is not None
    request = proven if own else _request(evidence, proven)
    shipper = what.get("shipper") if not own else None
    location: Location | None = None
    if step is Step.store and own:
        location = Location.from_what(what)
    detail: dict[str, Any] | None = None
    if step is Step.receive and request is not None:
        condition = Condition.from_what(request.entry.what)
        detail = {
            "seal_intact": condition.seal_intact,
            "damaged": condition.damaged,
            "logger_attached": condition.logger_attached,
            "notes": condition.notes,
        }
    elif step is Step.administer:
        detail = {}
    elif step is Step.destroy and request is not None:
        detail = {"reason": Destruction.from_what(request.entry.what).reason}
    if "custodian" in what and isinstance(what["custodian"], str):
        custodian: str | None = what["custodian"]
    elif step is Step.store and location is not None:
        custodian = f"site:{location.site}"
    else:
        current = Party.parse(holder.custodian, "custodian") if holder.custodian else None
        after = custodian_after(step, to=holder.offered_to, current=current)
        custodian = None if after is None else str(after)
    if location is not None:
        site: str | None = location.site
    elif custodian is not None and custodian.startswith("site:"):
        site = custodian.removeprefix("site:")
    elif custodian is not None and custodian.startswith("user:"):
        site = None
    else:
        site = holder.site
    holder.custodian, holder.site = custodian, site
    if step in (Step.hand_to_courier, Step.hand_to_site):
        holder.offered_to = None
    return {
        "step": step.value,
        "state": AFTER[step].value,
        "by": None if request is None else request.who,
        "custodian": custodian,
        "site": site,
        "unit": None if location is None else f"{location.site}/{location.unit}",
        "rack": None if location is None else location.rack,
        "box": None if location is None else location.box,
        "position": None if location is None else location.position,
        "shipper": shipper,
        "detail": detail,
    }


def _accepted_step(holder: _Holder) -> Step | None:
    if holder.offered_to is None:
        return None
    return Step.hand_to_site if holder.offered_to.kind == "site" else Step.hand_to_courier


def check_vial_custody(
    session: Session,
    evidence: LogEvidence,
    vial: Vial,
    chain: Sequence[Proven],
    events: Sequence[CustodyEvent],
    names: Names,
) -> list[ProofFinding]:
    """The vial's custody event rows against its proven chain, replayed in order."""
    findings: list[ProofFinding] = []
    by_index: dict[int, list[CustodyEvent]] = {}
    for row in events:
        by_index.setdefault(row.log_index, []).append(row)
    ordered = sorted(events, key=lambda r: r.id or 0)
    if [r.log_index for r in ordered] != sorted(r.log_index for r in ordered):
        findings.append(
            ProofFinding(
                "changed",
                f"custody events of vial {vial.serial}",
                None,
                "the rows are not in the order of their entries, so the newest row is "
                "not the vial's latest step",
            )
        )
    holder = _Holder()
    bound: set[int] = set()
    for proven in chain:
        entry = proven.entry
        if entry.type == OFFERED and entry.actor is not None:
            try:
                holder.offered_to = HandoffOffer.from_what(entry.what).to
            except InvalidInputError:
                holder.offered_to = None
            continue
        step = _accepted_step(holder) if entry.type == ACCEPTED else STEP_OF_TYPE.get(entry.type)
        if step is None:
            continue
        record = f"vial {vial.serial} {step.value}"
        try:
            expected = _step_made(evidence, proven, step, holder)
        except InvalidInputError as e:
            findings.append(
                ProofFinding("changed", record, entry.index, f"the entry does not read: {e}")
            )
            continue
        rows = by_index.get(entry.index, [])
        if not rows:
            findings.append(
                ProofFinding(
                    "missing-row",
                    record,
                    entry.index,
                    f"the signed {entry.type} has no custody event row",
                )
            )
            continue
        bound.add(entry.index)
        for row in rows[:1]:
            findings += compare(
                f"custody_events #{row.id}", entry.index, names.event(row), expected
            )
        for row in rows[1:]:
            findings.append(
                ProofFinding(
                    "extra-row",
                    f"custody_events #{row.id}",
                    entry.index,
                    "a second custody event row for one entry",
                )
            )
    for row in events:
        if row.log_index not in bound and not any(
            f.index == row.log_index and f.kind in ("changed", "missing-row") for f in findings
        ):
            findings.append(
                ProofFinding(
                    "extra-row",
                    f"custody_events #{row.id}",
                    row.log_index,
                    f"vial {vial.serial}: no signed custody entry of this vial makes this row",
                )
            )
    return findings


def check_vial_labels(
    vial: Vial, chain: Sequence[Proven], labels: Sequence[LabelIssue], evidence: LogEvidence
) -> list[ProofFinding]:
    """Each label row against its `label.issued` entry: the tag's digest, what it voids,
    the reason, and the person behind the issue."""
    findings: list[ProofFinding] = []
    rows, extra = _one_per_entry(labels, "label_issues")
    findings += extra
    digests = {row.id: tag_digest(row.tag) for row in labels}
    entries = {p.entry.index: p for p in chain if p.entry.type == LABEL_ISSUED}
    for index, proven in entries.items():
        row = rows.get(index)
        record = f"vial {vial.serial} label"
        if row is None:
            findings.append(
                ProofFinding("missing-row", record, index, "the issued label has no label row")
            )
            continue
        what = proven.entry.what
        request = _request(evidence, proven)
        expected = {
            "tag_sha256": what.get("tag_sha256"),
            "voids_tag_sha256": what.get("voids_tag_sha256"),
            "reason": what.get("reason"),
            "issued_by": None if request is None else request.who,
        }
        stored = {
            "tag_sha256": digests.get(row.id),
            "voids_tag_sha256": None if row.replaces_id is None else digests.get(row.replaces_id),
            "reason": row.reason,
            "issued_by": row.issued_by,
        }
        findings += compare(f"label_issues #{row.id}", index, stored, expected)
    for index, row in rows.items():
        if index not in entries:
            findings.append(
                ProofFinding(
                    "extra-row",
                    f"label_issues #{row.id}",
                    index,
                    f"vial {vial.serial}: no label.issued entry of this vial makes this row",
                )
            )
    return findings


Bound = TypeVar("Bound", LabelIssue, ExcursionVial)


def _one_per_entry(
    rows: Sequence[Bound], table: str
) -> tuple[dict[int, Bound], list[ProofFinding]]:
    """Rows by the entry they are bound to; a second row for one entry is a finding (a
    planted label with a real label's entry would otherwise pass unseen)."""
    found: dict[int, Bound] = {}
    extra: list[ProofFinding] = []
    for row in sorted(rows, key=lambda r: r.id or 0):
        if row.log_index in found:
            extra.append(
                ProofFinding(
                    "extra-row",
                    f"{table} #{row.id}",
                    row.log_index,
                    f"a second row for one entry (the first is #{found[row.log_index].id})",
                )
            )
        else:
            found[row.log_index] = row
    return found, extra


def _excursion_fields(what: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "excursion": what.get("excursion"),
        "kind": what.get("kind"),
        "limit": what.get("limit"),
    }


def excursions_of(session: Session, marks: Sequence[ExcursionVial]) -> dict[int, Excursion]:
    """The excursions these marks name, read once for a whole batch."""
    ids = sorted({m.excursion_id for m in marks})
    return {
        e.id: e
        for e in session.exec(select(Excursion).where(col(Excursion.id).in_(ids)))
        if e.id is not None
    }


def check_vial_excursions(
    vial: Vial,
    chain: Sequence[Proven],
    marks: Sequence[ExcursionVial],
    excursions: Mapping[int, Excursion],
) -> list[ProofFinding]:
    """Each excursion the vial is marked with against its `coldchain.excursion` entry,
    and the excursion's own row against what the entry says of it."""
    findings: list[ProofFinding] = []
    rows, extra = _one_per_entry(marks, "excursion_vials")
    findings += extra
    entries = {p.entry.index: p for p in chain if p.entry.type in EXCURSION}
    for index, proven in entries.items():
        row = rows.get(index)
        if row is None:
            findings.append(
                ProofFinding(
                    "missing-row",
                    f"vial {vial.serial} excursion",
                    index,
                    "the vial's signed excursion has no excursion row naming the vial",
                )
            )
            continue
        excursion = excursions.get(row.excursion_id)
        stored = {
            "excursion": row.excursion_id,
            "kind": excursion.kind if excursion else None,
            "limit": excursion.limit if excursion else None,
        }
        findings += compare(
            f"excursion #{row.excursion_id}", index, stored, _excursion_fields(proven.entry.what)
        )
    for index, row in rows.items():
        if index not in entries:
            findings.append(
                ProofFinding(
                    "extra-row",
                    f"excursion_vials #{row.id}",
                    index,
                    f"vial {vial.serial}: no coldchain.excursion entry of this vial makes it",
                )
            )
    return findings


def check_closures(
    session: Session, evidence: LogEvidence, excursion_ids: Iterable[int]
) -> list[ProofFinding]:
    """QA's closure of each excursion against its signed `coldchain.excursion.closed`."""
    findings: list[ProofFinding] = []
    closures = session.exec(
        select(ExcursionClosure).where(col(ExcursionClosure.excursion_id).in_(list(excursion_ids)))
    ).all()
    proven = evidence.prove_many(c.log_index for c in closures)
    for closure in closures:
        record = f"excursion #{closure.excursion_id} closure"
        found = proven[closure.log_index]
        if not isinstance(found, Proven):
            findings.append(unproven(record, found))
            continue
        entry: Entry = found.entry
        if entry.type != EXCURSION_CLOSED:
            findings.append(
                ProofFinding("changed", record, entry.index, f"its entry is a {entry.type}")
            )
            continue
        findings += compare(
            record,
            entry.index,
            {
                "excursion": closure.excursion_id,
                "assessment": closure.assessment,
                "closed_by": closure.closed_by,
            },
            {
                "excursion": entry.what.get("excursion"),
                "assessment": _stripped(entry.what.get("assessment")),
                "closed_by": found.who,
            },
        )
    return findings


def _stripped(value: object) -> object:
    return value.strip() if isinstance(value, str) else value
