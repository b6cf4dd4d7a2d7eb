"""The readable sections of a report, from a finished verification.

Each vial's timeline, the QC results, the dispositions and the signing keys, in words
for people: who did what, where, at what temperature. Every line says whether its
entry verified; a signer is named as the verified key binding says, and as a claim
otherwise. Only signed entries feed the sections: the vials are those that signed
``vial.commissioned`` entries put in the batch, never the manifest's list.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import TYPE_CHECKING

from audit.bundle.layout import batch_registration
from audit.bundle.report import (
    DispositionLine,
    KeyLine,
    QcLine,
    Report,
    TimelineEvent,
    VialTimeline,
)
from audit.checkpoint import Checkpoint
from audit.entry import Entry

if TYPE_CHECKING:
    from audit.bundle.verifier import Check

__all__ = ["EVENT_NAMES", "build_report", "event_name", "text_of"]


def text_of(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _signer(check: Check, entry: Entry) -> str:
    """Who signed ``entry``, as its verified key binding says; a claim otherwise."""
    record = check.signers.get(entry.index)
    if record is None:
        claimed = entry.actor or "the service"
        return f"{claimed} (claimed; key {entry.key} NOT VERIFIED)"
    return record.user or "the service"


def _who(check: Check, entry: Entry) -> str:
    signer = _signer(check, entry)
    if entry.index not in check.signers or entry.actor is not None:
        return signer
    request = entry.what.get("request_entry")
    if isinstance(request, int) and request in check.entries and request in check.signers:
        asked = check.signers[request].user
        if asked is not None:
            return f"{asked} (#{request}, recorded by the service)"
    return signer


EVENT_NAMES: dict[str, str] = {
    "vial.commissioned": "Commissioned",
    "label.issued": "Label issued",
    "custody.stored": "Stored",
    "custody.store": "Stored",
    "custody.packed": "Packed",
    "custody.pack": "Packed",
    "custody.handover.offered": "Handover offered",
    "custody.handover.accepted": "Handover accepted",
    "custody.handed_to_courier": "Handed to courier",
    "custody.hand_to_courier": "Handed to courier",
    "custody.handed_to_site": "Handed to site",
    "custody.hand_to_site": "Handed to site",
    "custody.dispatched": "Dispatched",
    "custody.dispatch": "Dispatched",
    "custody.received": "Received",
    "custody.receive": "Received",
    "custody.administered": "Administered",
    "custody.administer": "Administered",
    "custody.destroyed": "Destroyed",
    "custody.destroy": "Destroyed",
    "coldchain.excursion.detected": "Temperature excursion",
    "coldchain.excursion": "Temperature excursion",
    "coldchain.excursion.closed": "Excursion closed",
    "batch.recalled": "Batch recalled",
}
"""Words for the entry types a vial's timeline shows, for people reading a report. The
type itself stays in ``TimelineEvent.type``; a type not listed here reads as itself.
Each kind is listed under its current name and the names it was written under before
(the service's ``statement_kinds``; a test holds the two together)."""

DISPOSITION_TYPES = ("batch.disposition.decided", "batch.disposition")
"""A disposition's entry type, current name first (``batch.disposition`` before the rule)."""


def event_name(entry_type: str) -> str:
    return EVENT_NAMES.get(entry_type, entry_type)


def _party(value: str) -> str:
    """``user:cora`` reads as ``cora``, ``site:LAB1`` as ``site LAB1``."""
    kind, _, name = value.partition(":")
    if kind == "user" and name:
        return name
    if kind == "site" and name:
        return f"site {name}"
    return value


def _shipper(value: str) -> str:
    """A shipper's Digital Link URI (``.../00/<SSCC>``) reads as its SSCC."""
    _, found, sscc = value.rpartition("/00/")
    return f"SSCC {sscc}" if found and sscc.isdigit() else value


def _where(entry: Entry) -> str:
    what, parts = entry.what, []
    site = what.get("site")
    if isinstance(site, str):
        parts.append(site)
    for name, label in (("unit", ""), ("rack", "rack "), ("box", "box "), ("position", "")):
        value = what.get(name)
        if isinstance(value, str) and value:
            parts.append(label + value)
    shipper = what.get("shipper")
    if isinstance(shipper, str) and shipper:
        parts.append("in shipper " + _shipper(shipper))
    for name, label in (("to", "to "), ("custodian", "held by ")):
        value = what.get(name)
        if isinstance(value, str) and value:
            parts.append(label + _party(value))
    location = entry.where.get("bizLocation") or entry.where.get("readPoint")
    if isinstance(location, str):
        parts.append(location)
    return ", ".join(parts)


_TEMPERATURE_KEYS = ("peak_celsius", "limit", "max_celsius", "min_celsius", "celsius")


def _temperatures(entry: Entry) -> str:
    what = entry.what
    parts = [
        f"{name} {text_of(what[name])}"
        for name in _TEMPERATURE_KEYS
        if name in what and what[name] is not None
    ]
    for name in ("start", "end", "seal_intact", "damaged", "logger_attached"):
        if name in what and what[name] is not None:
            parts.append(f"{name} {text_of(what[name])}")
    return "; ".join(parts)


def _qc_summary(entry: Entry) -> str:
    what = entry.what
    if entry.type == "qc.result.entered":
        values = what.get("values")
        shown = (
            ", ".join(f"{k} {text_of(v)}" for k, v in values.items())
            if isinstance(values, dict)
            else text_of(values)
        )
        unit = what.get("unit")
        return f"{text_of(what.get('test'))}: {shown}{' ' + text_of(unit) if unit else ''}"
    return ", ".join(
        f"{k} {text_of(v)}" for k, v in sorted(what.items()) if k != "nonce" and v is not None
    )


def _investigation_summary(entry: Entry) -> str:
    """What a deviation or OOS entry says, in words: "Incubator CO2 alarm (major): ...",
    "assigned to quinn", "closed: Within validated recovery", "result #3 invalidated:
    plate reader calibration expired"."""
    what = entry.what
    if entry.type == "deviation.recorded":
        return (
            f"{text_of(what.get('title'))} ({text_of(what.get('severity'))}): "
            f"{text_of(what.get('description'))}"
        )
    if entry.type == "deviation.assigned":
        return f"deviation #{text_of(what.get('deviation'))} assigned to " + text_of(
            what.get("assignee")
        )
    if entry.type == "deviation.closed":
        return f"deviation #{text_of(what.get('deviation'))} closed: " + text_of(
            what.get("conclusion")
        )
    if entry.type == "oos.concluded":
        return (
            f"result #{text_of(what.get('result'))} {text_of(what.get('conclusion'))}: "
            f"{text_of(what.get('reason'))}"
        )
    return _qc_summary(entry)


def build_report(check: Check, since: Checkpoint | None) -> Report:
    manifest = check.bundle.manifest
    checkpoint = check.checkpoint
    flagged = check.flagged()
    entries = check.entries
    batch = text_of(manifest.get("batch", ""))
    registered = batch_registration(check.entries.values(), batch)
    lot = registered.what.get("lot") if registered is not None else manifest.get("lot", "")
    report = Report(
        lot=text_of(lot),
        batch=batch,
        origin=checkpoint.origin if checkpoint else None,
        checkpoint_size=checkpoint.size if checkpoint else None,
        root_hash=checkpoint.root_hash.hex() if checkpoint else None,
        checkpoint_verified=check.checkpoint_verified,
        consistency_from=since.size
        if since is not None
        and not any(
            f.index is None and f.kind in ("consistency", "stale-checkpoint")
            for f in check.findings
        )
        else None,
        entries=len(check.bundle.entries),
        findings=check.findings,
        cosigners=check.cosigners,
        quorum=check.quorum,
    )
    # Vials are what signed vial.commissioned entries say belongs to the batch.
    vials: dict[str, str] = {}
    for entry in sorted(entries.values(), key=lambda e: e.index):
        if entry.type == "vial.commissioned" and entry.what.get("batch") == batch:
            vials.setdefault(entry.subject, text_of(entry.what.get("serial", "")))
    by_subject: dict[str, list[Entry]] = defaultdict(list)
    for entry in sorted(entries.values(), key=lambda e: e.index):
        by_subject[entry.subject].append(entry)
    for subject, serial in vials.items():
        events = tuple(
            TimelineEvent(
                index=e.index,
                when=e.when,
                type=e.type,
                who=_who(check, e),
                where=_where(e),
                temperatures=_temperatures(e),
                verified=e.index not in flagged,
            )
            for e in by_subject[subject]
        )
        report.vials.append(VialTimeline(subject, serial, events))
    for e in by_subject.get(batch, []):
        if e.type.startswith(("oos.", "deviation.")):
            report.investigations.append(
                QcLine(
                    e.index,
                    e.when,
                    e.type,
                    _who(check, e),
                    _investigation_summary(e),
                    e.index not in flagged,
                )
            )
        elif e.type.startswith("qc."):
            report.qc.append(
                QcLine(
                    e.index,
                    e.when,
                    e.type,
                    _who(check, e),
                    _qc_summary(e),
                    e.index not in flagged,
                )
            )
        elif e.type in DISPOSITION_TYPES:
            justification = e.what.get("justification")
            report.dispositions.append(
                DispositionLine(
                    index=e.index,
                    when=e.when,
                    decision=text_of(e.what.get("decision", "")),
                    meaning=text_of(e.what.get("meaning", "")),
                    justification=justification if isinstance(justification, str) else None,
                    signer=_signer(check, e),
                    key=e.key,
                    verified=e.index not in flagged,
                    bound=e.index in check.signers,
                )
            )
    for record in check.keys.records():
        registration = entries.get(record.registered)
        label = registration.what.get("label") if registration is not None else None
        report.keys.append(
            KeyLine(
                key=record.key,
                user=record.user,
                label=text_of(label or ""),
                registered=record.registered,
                revoked=record.revoked,
            )
        )
    return report
