"""add-checkpoint (c2sp.org/tlog-witness) without HTTP: parse, verify, check, cosign.

The request body is an ``old <size>`` line, up to 63 base64 consistency-proof lines,
an empty line, then the checkpoint note. The witness cosigns only if the log's
signature verifies with a key it trusts for that origin, ``old`` is exactly the size it
last cosigned (0 if none), and the proof shows that the new tree extends the old one;
it then records the new size and root before it answers.

Refusals carry the HTTP status the spec assigns (`Refusal.status`): 400 malformed or
``old`` above the checkpoint size, 403 no trusted signature (or a bad one), 404 an
unknown origin, 409 ``old`` is not our size (with our size), 422 a proof that does not
verify, a non-empty proof from 0, or a different root at the same size.

Checking ``old`` and recording the new state happen under one lock per origin: two
requests racing must not roll the record back (the spec's example race).

This module must never cosign before the new state is on disk, nor record a state
whose consistency with the previous one it did not verify.
"""

from __future__ import annotations

import base64
import hmac
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from audit.checkpoint import Checkpoint
from audit.cosignature import Cosigner, CosignerKey, signature_line
from audit.encoding import b64decode_strict
from audit.errors import AuditError, FormatError, NoteError, ProofError, SignatureError
from audit.merkle import EMPTY_ROOT, HASH_SIZE, verify_consistency
from audit.note import Verifier, parse_note, verify_note
from traceability.witness.state import LogState, StateDirectory

MAX_PROOF_LINES = 63
MAX_BODY = 256 * 1024
"""Bytes; a checkpoint with a few post-quantum signatures is a few kilobytes."""

_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")


class Refusal(Exception):
    """The witness will not cosign; `status` is the HTTP status the spec assigns."""

    def __init__(self, status: int, message: str, *, size: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.size = size


@dataclass(frozen=True)
class Request:
    old: int
    proof: tuple[bytes, ...]
    note: bytes


def parse_request(body: bytes) -> Request:
    """Split an add-checkpoint body; raises Refusal(400) unless it has the exact form."""
    if len(body) > MAX_BODY:
        raise Refusal(400, f"request body above {MAX_BODY} bytes")
    head, blank, note = body.partition(b"\n\n")
    if not blank:
        raise Refusal(400, "no empty line between the proof and the checkpoint")
    try:
        lines = head.decode("ascii").split("\n")
    except UnicodeDecodeError:
        raise Refusal(400, "the old size and proof lines must be ASCII") from None
    first, proof_lines = lines[0], lines[1:]
    if not first.startswith("old ") or not _DECIMAL.fullmatch(first[4:]):
        raise Refusal(400, "the first line must be 'old <size>' in decimal without leading zeros")
    old = int(first[4:])
    if old >= 2**64:
        raise Refusal(400, "old size does not fit in 64 bits")
    if len(proof_lines) > MAX_PROOF_LINES:
        raise Refusal(400, f"more than {MAX_PROOF_LINES} consistency proof lines")
    proof: list[bytes] = []
    for line in proof_lines:
        try:
            value = b64decode_strict(line)
        except FormatError:
            raise Refusal(400, "a consistency proof line is not canonical base64") from None
        if len(value) != HASH_SIZE:
            raise Refusal(400, f"a consistency proof line is not a {HASH_SIZE}-byte hash")
        proof.append(value)
    return Request(old, tuple(proof), note)


def format_request(old: int, proof: Iterable[bytes], note: bytes) -> bytes:
    """The add-checkpoint body for a checkpoint note and a proof from size `old`."""
    lines = "".join(base64.b64encode(h).decode("ascii") + "\n" for h in proof)
    return f"old {old}\n{lines}\n".encode("ascii") + note


class Witness:
    """One witness: its keys, the logs it follows, its state. Thread-safe."""

    def __init__(
        self,
        cosigners: Sequence[Cosigner],
        logs: Iterable[tuple[str, Verifier]],
        state: StateDirectory,
        *,
        clock: Callable[[], int],
    ) -> None:
        if not cosigners:
            raise ValueError("a witness needs at least one key")
        self.cosigners = tuple(cosigners)
        self.logs: dict[str, list[Verifier]] = {}
        for origin, key in logs:
            self.logs.setdefault(origin, []).append(key)
        self.state = state
        self.clock = clock
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    @property
    def name(self) -> str:
        return self.cosigners[0].name

    def keys(self) -> list[CosignerKey]:
        return [cosigner.key() for cosigner in self.cosigners]

    def _lock(self, origin: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(origin, threading.Lock())

    def add_checkpoint(self, body: bytes) -> str:
        """Cosign the submitted checkpoint; returns the signature lines (each ending in a
        newline). Raises Refusal otherwise."""
        request = parse_request(body)
        try:
            text, _ = parse_note(request.note)
            checkpoint = Checkpoint.parse(text)
        except AuditError as e:
            raise Refusal(400, f"not a checkpoint note: {e}") from None
        keys = self.logs.get(checkpoint.origin)
        if keys is None:
            raise Refusal(404, f"unknown log {checkpoint.origin!r}")
        try:
            opened = verify_note(request.note, keys)
        except (NoteError, SignatureError) as e:
            raise Refusal(403, f"the checkpoint's signature does not verify: {e}") from None
        if request.old > checkpoint.size:
            raise Refusal(400, f"old size {request.old} is above the checkpoint size")

        with self._lock(checkpoint.origin):
            known = self.state.read(checkpoint.origin)
            size = 0 if known is None else known.size
            if request.old != size:
                raise Refusal(409, f"this witness last cosigned size {size}", size=size)
            _check_consistency(request, checkpoint, known)
            timestamp = self.clock()
            if timestamp <= 0:
                raise RuntimeError("the witness clock reads before 1970")
            lines = [c.signature_line(text, timestamp) + "\n" for c in self.cosigners]
            log_lines = [signature_line(s) + "\n" for s in opened.signatures]
            self.state.write(
                LogState(
                    origin=checkpoint.origin,
                    size=checkpoint.size,
                    root_hash=checkpoint.root_hash,
                    checkpoint=text + "\n" + "".join(log_lines) + "".join(lines),
                )
            )
        return "".join(lines)


def _check_consistency(request: Request, checkpoint: Checkpoint, known: LogState | None) -> None:
    if checkpoint.size == 0 and not hmac.compare_digest(checkpoint.root_hash, EMPTY_ROOT):
        raise Refusal(422, "a checkpoint of size 0 must have the empty tree's root")
    if request.old == 0:
        if request.proof:
            raise Refusal(422, "a proof from size 0 must be empty")
        return
    assert known is not None  # noqa: S101 - old == known size > 0
    try:
        verify_consistency(
            known.size, checkpoint.size, request.proof, known.root_hash, checkpoint.root_hash
        )
    except ProofError as e:
        raise Refusal(422, f"not consistent with the checkpoint of size {known.size}: {e}") from e
