"""A batch's history as a GS1 EPCIS 2.0 document (JSON-LD), for partners and inspectors.

The export reads only: the custody log is the evidence, and every event here is one
entry of it. Its `eventID` is that entry's URL, `{resolver}/log/entries/{index}`, not
the EPCIS event hash (`ni:///sha-256;...?ver=CBV2.0`): the hash names an event by its
own content, and says nothing about where the proof is. An auditor who holds the URL
fetches the signed entry, its inclusion proof and a checkpoint, and checks the claim;
the same physical step keeps the same eventID in every export. Where one entry yields
two events (a vial leaves its shipper when it is stored), the second has a fragment
(`#unpacking`). `recordTime` is when the log recorded the entry.

What becomes an event, in time order:

- each vial's commissioning (`vial.commissioned`: ADD, with the lot and expiry as ILMD)
  and each label issued for it (encoding), from the vial's own chain;
- each custody step of a lone vial, from the person's signed request about the vial;
- a shipper's steps as events about the shipper (its SSCC Digital Link URI), from the
  signed request about the shipper: packing is an AggregationEvent (ADD, every vial
  that request packed, whatever its lot), the later steps are ObjectEvents whose
  contents follow from the aggregation, and a vial taking a step on its own again
  first leaves the shipper (an AggregationEvent DELETE);
- each temperature excursion a vial went through, from the vial's `coldchain.excursion`
  entry: the peak, the limits and the logger file (by digest) as `sensorElementList`;
- a recall, from the batch's `batch.recalled` entry.

`readPoint` is where the step happened, known when a site took part (a handoff
between couriers has none); `bizLocation` is where the vial stays afterwards, known
while a site or one of its storage units holds it. Storage units have no GS1
identifier: units and sites are named by the URIs the cold chain already uses,
described in the header's master data. What EPCIS has no field for (a storage
position, a receipt's container condition, a destruction's reason, a temperature
limit) is an extension in the `trace:` namespace under the resolver.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlsplit

from sqlmodel import Session, col, select

from traceability.clock import rfc3339
from traceability.domain.custody import Party, Step
from traceability.domain.disposition import Decision
from traceability.services import cold_chain
from traceability.services.batch_records import vials_of
from traceability.services.custody.frame import BIZ_STEP
from traceability.services.vial_labels import labels_of
from traceability.storage.models import (
    Batch,
    CustodyEvent,
    Disposition,
    Excursion,
    ExcursionVial,
    LogEntryRow,
    Recall,
    Shipper,
    Site,
    StorageUnit,
    TemperatureUpload,
    Vial,
)

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
MEDIA_TYPE = "application/ld+json"
UTC_OFFSET = "+00:00"
NAME = "urn:epcglobal:cbv:mda#name"
LOCATION_TYPES = (
    "urn:epcglobal:epcis:vtype:BusinessLocation",
    "urn:epcglobal:epcis:vtype:ReadPoint",
)

DISPOSITION: dict[Step, str] = {
    Step.store: "in_progress",
    Step.pack: "in_progress",
    Step.hand_to_courier: "in_transit",
    Step.dispatch: "in_transit",
    Step.hand_to_site: "in_transit",
    Step.receive: "in_progress",
    Step.administer: "dispensed",
    Step.destroy: "destroyed",
}
"""The CBV 2.0 disposition after each custody step (the bizStep is `custody.frame.BIZ_STEP`).

Arriving stays in transit: the receiving site holds the container, but nobody has
looked inside it until receipt. A receipt of a damaged container says `damaged`.
"""

HANDOFFS = frozenset({Step.hand_to_courier, Step.hand_to_site})

RELEASE: dict[Decision, tuple[str, str]] = {
    Decision.released: ("inspecting", "conformant"),
    Decision.conditionally_released: ("inspecting", "conformant"),
    Decision.on_hold: ("holding", "unavailable"),
    Decision.rejected: ("inspecting", "non_conformant"),
}
"""QA's disposition of the batch as CBV 2.0 bizStep and disposition, one event covering
every vial. A conditional release is `conformant` too (the vials may be used); the exact
decision and the meaning QA signed travel as `trace:decision` and `trace:meaning`."""


# --- identifiers --------------------------------------------------------------------------


def vocabulary_uri(resolver: str) -> str:
    """The namespace of this service's EPCIS extensions (the `trace:` prefix)."""
    return f"{resolver.rstrip('/')}/epcis/ns/"


def site_uri(resolver: str, code: str) -> str:
    """A site's location URI, the prefix of its storage units' (`cold_chain.unit_uri`)."""
    return f"{resolver.rstrip('/')}/sites/{quote(code, safe='')}"


def party_uri(resolver: str, party: Party) -> str:
    if party.kind == "site":
        return site_uri(resolver, party.name)
    return f"{resolver.rstrip('/')}/users/{quote(party.name, safe='')}"


def entry_uri(resolver: str, index: int, part: str | None = None) -> str:
    """An event's ID: the URL of the log entry that records it (see the module docstring)."""
    uri = f"{resolver.rstrip('/')}/log/entries/{index}"
    return f"{uri}#{part}" if part else uri


def digest_uri(sha256_hex: str) -> str:
    """RFC 6920 name of exact bytes: how a sensor report points at the logger file."""
    digest = base64.urlsafe_b64encode(bytes.fromhex(sha256_hex)).rstrip(b"=").decode()
    return f"ni:///sha-256;{digest}"


def _number(text: str) -> int | float:
    """A decimal kept as text in the log, as the JSON number EPCIS wants."""
    value = Decimal(text)
    return int(value) if value == value.to_integral_value() else float(value)


# --- building ------------------------------------------------------------------------------


@dataclass(order=True)
class _Event:
    at: datetime
    index: int
    order: int
    body: dict[str, Any] = field(compare=False)


@dataclass
class _Export:
    session: Session
    resolver: str
    sites: dict[str, Site] = field(default_factory=dict)
    units: dict[int, StorageUnit] = field(default_factory=dict)
    shippers: dict[int, Shipper] = field(default_factory=dict)
    places: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    """Every location named in an event: its URI -> (name, child location URIs)."""
    entries: dict[int, dict[str, Any]] = field(default_factory=dict)

    # -- lookups

    def site(self, code: str) -> Site | None:
        if code not in self.sites:
            found = self.session.exec(select(Site).where(Site.code == code)).first()
            if found is None:
                return None
            self.sites[code] = found
        return self.sites[code]

    def site_location(self, code: str) -> str:
        uri = site_uri(self.resolver, code)
        site = self.site(code)
        self.places.setdefault(uri, (site.name if site else code, []))
        return uri

    def unit_location(self, unit_id: int) -> str:
        unit = self.units.get(unit_id) or self.session.get(StorageUnit, unit_id)
        assert unit is not None  # noqa: S101 - a foreign key
        self.units[unit_id] = unit
        site = self.session.get(Site, unit.site_id)
        assert site is not None  # noqa: S101 - a foreign key
        parent = self.site_location(site.code)
        uri = cold_chain.unit_uri(self.resolver, site.code, unit.code)
        children = self.places[parent][1]
        if uri not in children:
            children.append(uri)
        self.places.setdefault(uri, (unit.name, []))
        return uri

    def shipper(self, shipper_id: int) -> Shipper:
        if shipper_id not in self.shippers:
            found = self.session.get(Shipper, shipper_id)
            assert found is not None  # noqa: S101 - a foreign key
            self.shippers[shipper_id] = found
        return self.shippers[shipper_id]

    def bodies(self, indexes: Iterable[int]) -> dict[int, dict[str, Any]]:
        """Log entries by index, parsed (read only for members the rows do not copy)."""
        wanted = set(indexes)
        missing = sorted(wanted - self.entries.keys())
        if missing:
            rows = self.session.exec(select(LogEntryRow).where(col(LogEntryRow.idx).in_(missing)))
            self.entries.update({row.idx: json.loads(row.entry) for row in rows})
        return {i: self.entries[i] for i in wanted if i in self.entries}

    # -- the frame of every event

    def event(
        self,
        kind: str,
        *,
        at: datetime,
        index: int,
        recorded: datetime | None = None,
        part: str | None = None,
        order: int = 1,
        **members: Any,
    ) -> _Event:
        body: dict[str, Any] = {
            "type": kind,
            "eventID": entry_uri(self.resolver, index, part),
            "eventTime": rfc3339(at),
            "eventTimeZoneOffset": UTC_OFFSET,
            "recordTime": rfc3339(recorded or at),
        }
        body.update({k: v for k, v in members.items() if v is not None})
        return _Event(at, index, order, body)

    # -- custody steps

    def where(self, step: Step, row: CustodyEvent, before: CustodyEvent | None) -> dict[str, Any]:
        """readPoint, bizLocation and, for a handoff, who gave and who took possession."""
        held_before = (
            Party.parse(before.custodian, "custodian") if before and before.custodian else None
        )
        held_after = Party.parse(row.custodian, "custodian") if row.custodian else None
        members: dict[str, Any] = {}
        if step is Step.store and row.unit_id is not None:
            unit = self.unit_location(row.unit_id)
            members["readPoint"] = {"id": unit}
            members["bizLocation"] = {"id": unit}
        else:
            at_site = next(
                (p for p in (held_after, held_before) if p is not None and p.kind == "site"), None
            )
            if at_site is not None:
                members["readPoint"] = {"id": self.site_location(at_site.name)}
            if held_after is not None and held_after.kind == "site":
                members["bizLocation"] = {"id": self.site_location(held_after.name)}
        if step in HANDOFFS and held_before is not None and held_after is not None:
            members["sourceList"] = [
                {"type": "possessing_party", "source": party_uri(self.resolver, held_before)}
            ]
            members["destinationList"] = [
                {"type": "possessing_party", "destination": party_uri(self.resolver, held_after)}
            ]
        return members

    def why(self, step: Step, row: CustodyEvent) -> dict[str, Any]:
        """bizStep, disposition, and what the step recorded that EPCIS has no field for."""
        detail = row.detail or {}
        members: dict[str, Any] = {"bizStep": BIZ_STEP[step], "disposition": DISPOSITION[step]}
        if step is Step.receive:
            if detail.get("damaged") is True:
                members["disposition"] = "damaged"
            condition = {
                "trace:sealIntact": detail.get("seal_intact"),
                "trace:damaged": detail.get("damaged"),
                "trace:loggerAttached": detail.get("logger_attached"),
                "trace:notes": detail.get("notes") or None,
            }
            members["trace:receiptCondition"] = {
                k: v for k, v in condition.items() if v is not None
            }
        if step is Step.destroy and detail.get("reason"):
            members["trace:reason"] = detail["reason"]
        if step is Step.store:
            position = {
                "trace:rack": row.rack,
                "trace:box": row.box,
                "trace:position": row.position,
            }
            if any(position.values()):
                members["trace:storagePosition"] = {
                    k: v for k, v in position.items() if v is not None
                }
        return members

    def vial_step(self, vial: Vial, row: CustodyEvent, before: CustodyEvent | None) -> _Event:
        step = Step(row.step)
        return self.event(
            "ObjectEvent",
            at=row.created_at,
            index=row.log_index,
            epcList=[vial.uri],
            action="OBSERVE",
            **self.why(step, row),
            **self.where(step, row, before),
        )

    def unpacking(
        self, vial: Vial, shipper_id: int, row: CustodyEvent, before: CustodyEvent
    ) -> _Event:
        where = self.where(Step(row.step), row, before)
        return self.event(
            "AggregationEvent",
            at=row.created_at,
            index=row.log_index,
            part="unpacking",
            order=0,
            parentID=self.shipper(shipper_id).uri,
            childEPCs=[vial.uri],
            action="DELETE",
            bizStep="unpacking",
            readPoint=where.get("readPoint"),
            bizLocation=where.get("bizLocation"),
        )

    def shipper_steps(
        self, moves: Sequence[tuple[CustodyEvent, CustodyEvent | None]]
    ) -> list[_Event]:
        """One event per signed request about a shipper, however many vials it moved."""
        bodies = self.bodies(row.log_index for row, _ in moves)
        requests: dict[int, tuple[CustodyEvent, CustodyEvent | None]] = {}
        for row, before in moves:
            requests.setdefault(_request_of(bodies.get(row.log_index), row), (row, before))
        events = []
        for request, (row, before) in sorted(requests.items()):
            step = Step(row.step)
            assert row.shipper_id is not None  # noqa: S101 - a shipper's step
            shipper = self.shipper(row.shipper_id)
            if step is Step.pack:
                events.append(
                    self.event(
                        "AggregationEvent",
                        at=row.created_at,
                        index=request,
                        parentID=shipper.uri,
                        childEPCs=self.packed_by(shipper, request),
                        action="ADD",
                        **self.why(step, row),
                        **self.where(step, row, before),
                    )
                )
            else:
                members = {**self.why(step, row), **self.where(step, row, before)}
                destination = self.consignee(shipper) if step is Step.dispatch else None
                if destination is not None:
                    # Setting off: where the consignment goes, as its commissioning names it.
                    members["destinationList"] = [{"type": "location", "destination": destination}]
                events.append(
                    self.event(
                        "ObjectEvent",
                        at=row.created_at,
                        index=request,
                        epcList=[shipper.uri],
                        action="OBSERVE",
                        **members,
                    )
                )
        return events

    def consignee(self, shipper: Shipper) -> str | None:
        """The location of the site the shipper was commissioned for (its entry's
        `consignee`); None for one commissioned before consignees were named."""
        what = self.bodies([shipper.log_index]).get(shipper.log_index, {}).get("what", {})
        code = what.get("consignee") if isinstance(what, dict) else None
        return self.site_location(code) if isinstance(code, str) else None

    def packed_by(self, shipper: Shipper, request: int) -> list[str]:
        """Every vial one packing request put in the shipper, of any lot: the event as it was."""
        rows = self.session.exec(
            select(CustodyEvent).where(
                CustodyEvent.shipper_id == shipper.id, CustodyEvent.step == Step.pack.value
            )
        ).all()
        bodies = self.bodies(row.log_index for row in rows)
        ids = sorted(
            {row.vial_id for row in rows if _request_of(bodies.get(row.log_index), row) == request}
        )
        vials = self.session.exec(select(Vial).where(col(Vial.id).in_(ids)).order_by(col(Vial.id)))
        return [vial.uri for vial in vials]

    # -- temperatures

    def excursion(self, vial: Vial, touched: ExcursionVial, excursion: Excursion) -> _Event:
        upload = self.session.get(TemperatureUpload, excursion.upload_id)
        assert upload is not None  # noqa: S101 - a foreign key
        limits = (
            self.bodies([upload.log_index])
            .get(upload.log_index, {})
            .get("what", {})
            .get("limits", {})
        )
        metadata: dict[str, Any] = {
            "startTime": rfc3339(excursion.start_at),
            "rawData": digest_uri(upload.sha256),
        }
        if excursion.end_at is not None:
            metadata["endTime"] = rfc3339(excursion.end_at)
        report: dict[str, Any] = {
            "type": "gs1:Temperature",
            "exception": "ALARM_CONDITION",
            ("maxValue" if excursion.kind == "above" else "minValue"): _number(
                excursion.peak_celsius
            ),
            "uom": "CEL",
            "trace:breachedLimit": excursion.limit,
        }
        if limits.get("max_celsius") is not None:
            report["trace:upperLimit"] = _number(limits["max_celsius"])
        if limits.get("min_celsius") is not None:
            report["trace:lowerLimit"] = _number(limits["min_celsius"])
        if isinstance(limits.get("allowed_excursion_minutes"), int):
            report["trace:allowedExcursionMinutes"] = limits["allowed_excursion_minutes"]
        epcs = [vial.uri]
        location: dict[str, Any] = {}
        if excursion.unit_id is not None:
            unit = self.unit_location(excursion.unit_id)
            location = {"readPoint": {"id": unit}, "bizLocation": {"id": unit}}
        elif excursion.shipper_id is not None:
            epcs.append(self.shipper(excursion.shipper_id).uri)
        return self.event(
            "ObjectEvent",
            at=excursion.start_at,
            index=touched.log_index,
            recorded=excursion.created_at,
            epcList=epcs,
            action="OBSERVE",
            bizStep=cold_chain.BIZ_STEP,
            **location,
            sensorElementList=[{"sensorMetadata": metadata, "sensorReport": [report]}],
        )

    # -- master data

    def master_data(self) -> dict[str, Any]:
        elements = []
        for uri, (name, children) in sorted(self.places.items()):
            element: dict[str, Any] = {"id": uri, "attributes": [{"id": NAME, "attribute": name}]}
            if children:
                element["children"] = sorted(children)
            elements.append(element)
        return {
            "epcisMasterData": {
                "vocabularyList": [
                    {"type": kind, "vocabularyElementList": elements} for kind in LOCATION_TYPES
                ]
            }
        }


def _request_of(body: dict[str, Any] | None, row: CustodyEvent) -> int:
    """The signed request a vial's service entry was written for (`what.request_entry`)."""
    request = (body or {}).get("what", {}).get("request_entry")
    return request if isinstance(request, int) else row.log_index


# --- the document ----------------------------------------------------------------------------


def epcis_document(
    session: Session, batch: Batch, *, resolver: str, now: datetime
) -> dict[str, Any]:
    """The batch's custody, labels, excursions, QA's dispositions and recall as one
    EPCISDocument.

    Identifiers are built on the host the batch's vials were commissioned under, not on
    today's TRACE_RESOLVER_BASE: the CLI and the service, and exports made before and
    after a move, name the same events and places the same way.
    """
    vials = list(vials_of(session, batch))
    if vials:
        identity = urlsplit(vials[0].uri)
        resolver = f"{identity.scheme}://{identity.netloc}"
    export = _Export(session, resolver)
    by_id = {vial.id: vial for vial in vials}
    events: list[_Event] = []
    for vial in vials:
        events.append(
            export.event(
                "ObjectEvent",
                at=vial.created_at,
                index=vial.log_index,
                epcList=[vial.uri],
                action="ADD",
                bizStep="commissioning",
                disposition="in_progress",
                ilmd={
                    "cbvmda:lotNumber": batch.lot,
                    "cbvmda:itemExpirationDate": batch.expires_on.isoformat(),
                },
            )
        )
    for label in labels_of(session, vials):
        reissue: dict[str, Any] = (
            {"trace:reissueReason": label.reason or ""} if label.replaces_id else {}
        )
        events.append(
            export.event(
                "ObjectEvent",
                at=label.created_at,
                index=label.log_index,
                epcList=[by_id[label.vial_id].uri],
                action="OBSERVE",
                bizStep="encoding",
                disposition="encoded",
                **reissue,
            )
        )
    events += _custody_events(session, export, vials)
    touched = session.exec(
        select(ExcursionVial, Excursion)
        .join(Excursion, col(Excursion.id) == col(ExcursionVial.excursion_id))
        .where(col(ExcursionVial.vial_id).in_(list(by_id)))
        .order_by(col(ExcursionVial.id))
    ).all()
    events += [export.excursion(by_id[t.vial_id], t, e) for t, e in touched]

    def about_the_batch(at: datetime, index: int, step: str, disposition: str, **why: Any) -> None:
        """One event covering every vial: a decision or a recall of the whole batch."""
        events.append(
            export.event(
                "ObjectEvent",
                at=at,
                index=index,
                epcList=[vial.uri for vial in vials],
                action="OBSERVE",
                bizStep=step,
                disposition=disposition,
                **why,
            )
        )

    decisions = session.exec(
        select(Disposition).where(Disposition.batch_id == batch.id).order_by(col(Disposition.id))
    ).all()
    for decision in decisions:
        step, disposition = RELEASE[Decision(decision.decision)]
        signed = {"trace:decision": decision.decision, "trace:meaning": decision.meaning}
        about_the_batch(decision.signed_at, decision.log_index, step, disposition, **signed)
    recall = session.exec(select(Recall).where(Recall.batch_id == batch.id)).first()
    if recall is not None:
        why = {"trace:reason": recall.reason}
        about_the_batch(recall.created_at, recall.log_index, "holding", "recalled", **why)
    events.sort()
    document: dict[str, Any] = {
        "@context": [EPCIS_CONTEXT, {"trace": vocabulary_uri(resolver)}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": rfc3339(now),
    }
    if export.places:
        document["epcisHeader"] = export.master_data()
    document["epcisBody"] = {"eventList": [event.body for event in events]}
    return document


def _custody_events(session: Session, export: _Export, vials: Sequence[Vial]) -> list[_Event]:
    rows = session.exec(
        select(CustodyEvent)
        .where(col(CustodyEvent.vial_id).in_([v.id for v in vials]))
        .order_by(col(CustodyEvent.vial_id), col(CustodyEvent.id))
    ).all()
    by_vial: dict[int, list[CustodyEvent]] = {}
    for row in rows:
        by_vial.setdefault(row.vial_id, []).append(row)
    events: list[_Event] = []
    shipper_moves: list[tuple[CustodyEvent, CustodyEvent | None]] = []
    for vial in vials:
        before: CustodyEvent | None = None
        for row in by_vial.get(vial.id or 0, []):
            if before is not None and before.shipper_id not in (None, row.shipper_id):
                assert before.shipper_id is not None  # noqa: S101 - just checked
                events.append(export.unpacking(vial, before.shipper_id, row, before))
            if row.shipper_id is None:
                events.append(export.vial_step(vial, row, before))
            else:
                shipper_moves.append((row, before))
            before = row
    return events + export.shipper_steps(shipper_moves)
