"""Audit bundles: one batch's custody-log evidence in a zip, written and verified offline.

A bundle (docs/audit-bundle.md) carries the exact bytes of every log entry about a
batch, its vials and the shippers that carried them, the registration and revocation
entries of every key that signed one, an RFC 9162 inclusion proof of each entry
against one signed checkpoint, and optionally a consistency proof from a checkpoint
the auditor already holds. ``write`` makes the zip; ``verify`` checks it with nothing
but the log's verifier key, and returns a ``Report``: findings, each with a kind and
the entry index it concerns, and the readable sections (each vial's timeline, QC
results, the disposition and its signature).

What ``verify`` checks, and what it trusts:

* the checkpoint's signature with the log key the caller gives (never ``log.key``
  in the bundle, which is there for reading only);
* each entry's bytes against the format contract, its inclusion proof against that
  checkpoint, its position (the file name must be its index), and its signature by a
  key whose registration entry is in the bundle, below its index, verified itself,
  with no revocation entry below its index;
* each subject's chain: sequence numbers from 0 without a gap, each ``subject_prev``
  the leaf hash of the entry before, indices increasing; and ``prev`` between
  neighbouring indices the bundle holds;
* the consistency proof from the auditor's own checkpoint, if one is given.

``keys.json`` and ``manifest.json`` are conveniences the verifier does not trust:
keys come only from registration entries, vials only from signed
``vial.commissioned`` entries. A bundle can prove that what it holds is in the log
unchanged; it cannot prove that the log holds nothing newer about a subject than its
last entry (see docs/audit-bundle.md).

Findings are data, never exceptions: ``verify`` raises only ``BundleFormatError``
(or ``FormatError`` for a malformed key or checkpoint given by the caller) when the
input cannot be used at all. This package must never import the service.

Modules: ``layout`` (the members, their one layout, ``write``), ``reader`` (the zip
read within memory limits), ``verifier`` (``verify`` and its checks), ``report`` (the
``Report`` and its text), ``report_sections`` (the readable sections, built from a
verification). The names below are the package's interface.
"""

from audit.bundle.layout import (
    BATCH_REGISTERED,
    CHECKPOINT,
    ENTRY_DIR,
    FORMAT,
    KEYS,
    LOG_KEY,
    MANIFEST,
    PROOFS,
    Consistency,
    Source,
    batch_registration,
    entry_name,
    vials_of_batch,
    write,
    zip_members,
)
from audit.bundle.reader import MAX_BUNDLE_BYTES, ReadLimits
from audit.bundle.report import (
    DispositionLine,
    Finding,
    KeyLine,
    QcLine,
    Report,
    TimelineEvent,
    VialTimeline,
)
from audit.bundle.report_sections import EVENT_NAMES, event_name
from audit.bundle.verifier import verify

__all__ = [
    "BATCH_REGISTERED",
    "CHECKPOINT",
    "ENTRY_DIR",
    "EVENT_NAMES",
    "FORMAT",
    "KEYS",
    "LOG_KEY",
    "MANIFEST",
    "MAX_BUNDLE_BYTES",
    "PROOFS",
    "Consistency",
    "DispositionLine",
    "Finding",
    "KeyLine",
    "QcLine",
    "ReadLimits",
    "Report",
    "Source",
    "TimelineEvent",
    "VialTimeline",
    "batch_registration",
    "entry_name",
    "event_name",
    "verify",
    "vials_of_batch",
    "write",
    "zip_members",
]
