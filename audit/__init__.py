"""Standalone verifier for the custody log: what an auditor installs and reads alone.

It checks, with no trust in the log operator, that entries are in the log
(Merkle inclusion proofs, RFC 9162), that the log only grew by appending
(consistency proofs), and that tree heads were signed by the log's key
(c2sp.org/signed-note and c2sp.org/tlog-checkpoint, Ed25519).

Modules: ``errors`` (the exception tree), ``merkle`` (hashes, proofs,
frontier), ``note`` (keys and signed notes), ``checkpoint`` (signed tree
heads), ``cosignature`` (witness cosignatures, Ed25519 and ML-DSA-44, and the
quorum a verifier requires), ``encoding`` (strict base64), ``bundle`` (audit
bundles: write one, verify one offline; docs/audit-bundle.md), ``tiles`` (the
log as C2SP tlog-tiles: names, encodings, a reader that verifies a copy), ``cli``
(``trace-audit verify``, also ``python -m audit``: a bundle checked from the command
line). ``audit/pyproject.toml`` installs this package on its own.

This package must never import anything beyond the standard library and
``cryptography``, so that it stays small enough to audit; in particular
never the service's own code.
"""

__all__ = [
    "bundle",
    "canonical_json",
    "checkpoint",
    "cli",
    "cosignature",
    "encoding",
    "entry",
    "errors",
    "merkle",
    "note",
    "tiles",
]
