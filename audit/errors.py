"""The one exception tree of the audit package.

Every failure the verifier can report is an ``AuditError``, so a caller can
catch everything with one clause, and can still tell the two kinds apart:

* ``VerificationError``: the evidence you gave (a proof, a signed note, a
  checkpoint) does not verify. This is the answer an auditor is looking for
  and must be treated as "do not trust this".
* ``FormatError``: an argument is not well formed for the operation (bad key
  text, a hash of the wrong length handed to a proof *generator*, an index
  out of range). It is a caller mistake, not a finding about the log.

Two classes look alike and differ on purpose:

* ``CanonicalJsonError`` (a ``FormatError``) is raised by
  ``audit.canonical_json`` for a value outside the restricted JSON value space
  or bytes that are not (canonical) JSON: the module cannot know where its
  input came from.
* ``EntryFormatError`` (a ``VerificationError``) is raised by ``audit.entry``
  when *stored* entry bytes break the custody-log contract, wrapping the
  ``CanonicalJsonError`` when that was the cause: a malformed stored entry is
  a finding about the log, not a caller mistake.

This module must never hold logic: only the classes, so that every other
module can import it without cycles.
"""

from __future__ import annotations

__all__ = [
    "AuditError",
    "BundleFormatError",
    "CanonicalJsonError",
    "CheckpointError",
    "CosignatureError",
    "EntryFormatError",
    "FormatError",
    "NoteError",
    "ProofError",
    "QuorumError",
    "SignatureError",
    "SourceError",
    "TileError",
    "TilePathError",
    "VerificationError",
]


class AuditError(Exception):
    """Base of every error raised by the audit package."""


class FormatError(AuditError, ValueError):
    """An argument is malformed or out of range; nothing was verified.

    It subclasses ``ValueError`` because that is what such a mistake is in
    Python terms, so generic callers that already catch ``ValueError`` keep
    working.
    """


class CanonicalJsonError(FormatError):
    """A value is outside the restricted JSON value space, or bytes are not (canonical) JSON."""


class TilePathError(FormatError):
    """A tile path is not as c2sp.org/tlog-tiles writes one; ``field`` names the part
    (``L``, ``N`` or ``W``), for a server to say which."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class SourceError(AuditError):
    """A tiled log's copy cannot be read at all (no such directory, no answer, an HTTP
    error other than 404): nothing was verified. A file the copy lacks is not this but
    a finding of ``audit.tiles``."""


class BundleFormatError(FormatError):
    """An audit bundle is unusable: not a zip, a required file missing or malformed.

    Nothing in it was verified. What a readable bundle says that does not verify is
    reported as findings by ``audit.bundle.verify``, never raised.
    """


class VerificationError(AuditError):
    """The thing you gave me does not verify: do not trust it."""


class ProofError(VerificationError):
    """A Merkle inclusion or consistency proof is malformed or does not verify."""


class SignatureError(VerificationError):
    """A cryptographic signature by a known key does not verify."""


class NoteError(VerificationError):
    """A signed note is malformed, or carries no verified signature by a known key."""


class CheckpointError(VerificationError):
    """A checkpoint body is malformed or is not the one expected (e.g. wrong origin)."""


class CosignatureError(VerificationError):
    """A cosignature by a known cosigner (witness) is malformed or out of range."""


class QuorumError(VerificationError):
    """Fewer distinct known witnesses cosigned a checkpoint than the quorum requires."""


class EntryFormatError(VerificationError):
    """A stored custody-log entry is malformed or breaks the format contract."""


class TileError(VerificationError):
    """A tile or entry bundle of a tiled log is malformed or disagrees with the entries."""
