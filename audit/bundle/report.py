"""What ``verify`` returns: the findings and the readable sections, and their text.

Plain data: a ``Report`` holds ``Finding`` lines and the sections a person reads (each
vial's timeline, the QC results, the dispositions, the signing keys), each line marked
with whether the entries behind it verified. ``Report.text`` is the report the command
line prints. Building a report from a verification is ``report_sections``'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "DispositionLine",
    "Finding",
    "KeyLine",
    "QcLine",
    "Report",
    "TimelineEvent",
    "VialTimeline",
]


@dataclass(frozen=True)
class Finding:
    """Something in the bundle that does not verify.

    ``kind`` is one of: malformed, reordered, inserted, missing, inclusion,
    bad-signature, unknown-key, revoked-key, key-entry, subject-chain, log-chain,
    wrong-log, checkpoint, stale-checkpoint, consistency, manifest. ``index`` is the entry it
    concerns, None for the checkpoint or the bundle as a whole.
    """

    kind: str
    index: int | None
    detail: str

    def line(self) -> str:
        where = "bundle" if self.index is None else f"index {self.index}"
        return f"{where}: {self.kind}: {self.detail}"


@dataclass(frozen=True)
class TimelineEvent:
    index: int
    when: str
    type: str
    who: str
    where: str
    temperatures: str
    verified: bool


@dataclass(frozen=True)
class VialTimeline:
    subject: str
    serial: str
    events: tuple[TimelineEvent, ...]


@dataclass(frozen=True)
class QcLine:
    index: int
    when: str
    type: str
    who: str
    summary: str
    verified: bool


@dataclass(frozen=True)
class DispositionLine:
    index: int
    when: str
    decision: str
    meaning: str
    justification: str | None
    signer: str
    key: str
    verified: bool
    bound: bool = False
    """Whether ``key`` was, at the entry's index, registered to ``signer`` (``audit.signers``)."""


@dataclass(frozen=True)
class KeyLine:
    key: str
    user: str | None
    label: str
    registered: int
    revoked: int | None


@dataclass
class Report:
    """The outcome of ``verify``: ``ok`` iff there are no findings."""

    lot: str
    batch: str
    origin: str | None
    checkpoint_size: int | None
    root_hash: str | None
    checkpoint_verified: bool
    consistency_from: int | None
    entries: int
    findings: list[Finding] = field(default_factory=list)
    cosigners: list[str] = field(default_factory=list)
    """Who cosigned the checkpoint, each with a key the auditor gave: the log's own
    ML-DSA-44 cosigner, then the witnesses."""
    quorum: int = 0
    vials: list[VialTimeline] = field(default_factory=list)
    qc: list[QcLine] = field(default_factory=list)
    investigations: list[QcLine] = field(default_factory=list)
    """Deviations and out-of-specification investigations: each recorded, assigned,
    concluded or closed entry, with what it says."""
    dispositions: list[DispositionLine] = field(default_factory=list)
    keys: list[KeyLine] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def kinds(self) -> set[tuple[str, int | None]]:
        """(kind, index) of every finding: what tests and tools usually compare."""
        return {(f.kind, f.index) for f in self.findings}

    def text(self) -> str:
        """The readable report, one section after the other."""
        return "\n".join(_report_lines(self)) + "\n"


def _mark(verified: bool) -> str:
    return " " if verified else "!"


def _report_lines(report: Report) -> list[str]:
    lines = [f"Audit bundle of lot {report.lot} ({report.batch})"]
    if report.checkpoint_size is not None:
        state = "verified" if report.checkpoint_verified else "NOT VERIFIED"
        lines.append(
            f"Checkpoint of {report.origin}: size {report.checkpoint_size}, "
            f"root {report.root_hash}, signature {state}"
        )
    if report.cosigners:
        met = f" (quorum of {report.quorum} witnesses met)" if report.quorum else ""
        lines.append(f"Cosigned by: {', '.join(report.cosigners)}{met}")
    if report.consistency_from is not None:
        lines.append(f"Consistent with your checkpoint of size {report.consistency_from}: checked")
    lines.append(f"{report.entries} entries; lines marked ! have findings.")
    for vial in report.vials:
        lines += ["", f"Vial {vial.serial} ({vial.subject})"]
        for e in vial.events:
            place = f": {e.where}" if e.where else ""
            temps = f" [{e.temperatures}]" if e.temperatures else ""
            lines.append(
                f"{_mark(e.verified)} #{e.index} {e.when} {e.type} by {e.who}{place}{temps}"
            )
    lines += ["", "QC results"]
    lines += [
        f"{_mark(q.verified)} #{q.index} {q.when} {q.type} by {q.who}: {q.summary}"
        for q in report.qc
    ] or ["  none"]
    lines += ["", "Deviations and OOS investigations"]
    lines += [
        f"{_mark(q.verified)} #{q.index} {q.when} {q.type} by {q.who}: {q.summary}"
        for q in report.investigations
    ] or ["  none"]
    lines += ["", "Disposition"]
    for d in report.dispositions:
        state = "verified" if d.verified else "DOES NOT VERIFY"
        why = f" ({d.justification})" if d.justification else ""
        signed = (
            f"signed by {d.signer} with key {d.key}"
            if d.bound
            else f"NOT proven signed: {d.signer}"
        )
        lines.append(
            f"{_mark(d.verified)} #{d.index} {d.when} {d.decision}: {d.meaning!r}{why}, "
            f"{signed}: signature {state}"
        )
    if not report.dispositions:
        lines.append("  none")
    lines += ["", "Signing keys"]
    for k in report.keys:
        revoked = f", revoked at #{k.revoked}" if k.revoked is not None else ""
        lines.append(
            f"  {k.key} {k.user or 'service'} ({k.label}): registered at #{k.registered}{revoked}"
        )
    lines += ["", "Findings"]
    lines += [f"  {f.line()}" for f in report.findings] or ["  none: everything verifies"]
    lines += [
        "",
        "What this bundle cannot show: entries about the batch that the log holds after",
        "the newest one here. To rule them out, verify a later bundle of this lot against",
        "this bundle's checkpoint (--since-checkpoint), or run verify-log on the log itself.",
    ]
    if report.checkpoint_verified is False:
        lines.insert(
            1,
            "WARNING: the checkpoint does not verify with the log key given, so nothing below "
            "is proven to be in the log.",
        )
    return lines
