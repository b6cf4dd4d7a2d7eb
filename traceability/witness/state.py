"""What a witness remembers per log: the size and root it last cosigned, durably.

One small JSON file per log origin, named by the SHA-256 of the origin (the name the
spec's monitoring URL uses), so that two logs never wait on each other's writes. A
write goes to a temporary file that is flushed and fsynced, renamed over the old one,
and the directory fsynced: after a crash the file holds either the old or the new
state, never a mix, and an acknowledged cosignature is never forgotten by a restart,
which would let the witness cosign a fork of what it already cosigned.

This module must never lower a stored size: the caller checks consistency first.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from traceability.errors import ConfigurationError


@dataclass(frozen=True)
class LogState:
    """The latest checkpoint a witness cosigned for one log."""

    origin: str
    size: int
    root_hash: bytes
    checkpoint: str
    """That checkpoint as a note: the log's verified signature and our cosignatures."""


def origin_hash(origin: str) -> str:
    return hashlib.sha256(origin.encode("utf-8")).hexdigest()


class StateDirectory:
    """The witness's state directory; one file per log."""

    def __init__(self, path: Path) -> None:
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigurationError(
                f"witness state {path}: cannot create it ({e.strerror})"
            ) from e
        self.path = path

    def _file(self, origin: str) -> Path:
        return self.path / f"{origin_hash(origin)}.json"

    def read(self, origin: str) -> LogState | None:
        return self.read_file(self._file(origin), origin)

    def read_by_hash(self, hex_hash: str) -> LogState | None:
        if len(hex_hash) != 64 or any(c not in "0123456789abcdef" for c in hex_hash):
            return None
        return self.read_file(self.path / f"{hex_hash}.json", None)

    @staticmethod
    def read_file(path: Path, origin: str | None) -> LogState | None:
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            data = json.loads(raw)
            state = LogState(
                origin=str(data["origin"]),
                size=int(data["size"]),
                root_hash=base64.b64decode(data["root"], validate=True),
                checkpoint=str(data["checkpoint"]),
            )
        except (ValueError, KeyError, TypeError) as e:
            # A witness that cannot read its state must stop, not start again from zero.
            raise ConfigurationError(f"witness state {path} is unreadable ({e})") from e
        if origin is not None and state.origin != origin:
            raise ConfigurationError(f"witness state {path} belongs to {state.origin!r}")
        return state

    def write(self, state: LogState) -> None:
        target = self._file(state.origin)
        data = json.dumps(
            {
                "origin": state.origin,
                "size": state.size,
                "root": base64.b64encode(state.root_hash).decode("ascii"),
                "checkpoint": state.checkpoint,
            },
            indent=1,
        )
        fd, temporary = tempfile.mkstemp(prefix=".tmp-", dir=self.path)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(data + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        if os.name == "posix":
            directory = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
