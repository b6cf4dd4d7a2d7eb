"""The custody log's entries as the API shows them: the exact bytes, their leaf hash and
the parsed body, with inclusion proofs when asked.

The routes read entries through here rather than the entry table, so that what a
response carries is decided in one place (the stored bytes, base64, never
re-serialized) and no route reaches past the services into storage.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session

from audit.entry import parse_entry
from traceability.custody_log.appender import subject_entries
from traceability.custody_log.tree import StoredTree
from traceability.errors import NotFoundError
from traceability.storage.models import LogEntryRow


class EntryPublic(BaseModel):
    index: int
    leaf_hash: str
    entry: str
    body: dict[str, Any]


class ProvenEntry(EntryPublic):
    proof: list[str]


def entry_public(row: LogEntryRow) -> EntryPublic:
    return EntryPublic(
        index=row.idx,
        leaf_hash=bytes(row.leaf_hash).hex(),
        entry=base64.b64encode(bytes(row.entry)).decode("ascii"),
        body=parse_entry(bytes(row.entry)).body,
    )


def entry_at(session: Session, index: int) -> EntryPublic:
    """Entry `index`, or NotFoundError."""
    row = session.get(LogEntryRow, index)
    if row is None:
        raise NotFoundError(f"no entry {index}")
    return entry_public(row)


@dataclass(frozen=True)
class SubjectEntries:
    proven: list[ProvenEntry]
    """The subject's entries inside the checkpoint's tree, each with its inclusion proof."""
    count: int
    """All of the subject's entries, those after the checkpoint too: the next `subject_seq`."""


def proven_subject_entries(session: Session, subject: str, size: int) -> SubjectEntries:
    """Every entry about `subject`, in subject order, proven against the tree of `size`
    entries (a signed checkpoint's); entries appended after it are counted, not shown."""
    rows = subject_entries(session, subject)
    tree = StoredTree(session)
    proven = [
        ProvenEntry(
            **entry_public(row).model_dump(),
            proof=[h.hex() for h in tree.inclusion_proof(row.idx, size)],
        )
        for row in rows
        if row.idx < size
    ]
    return SubjectEntries(proven=proven, count=len(rows))
