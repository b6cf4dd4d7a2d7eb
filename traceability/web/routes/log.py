"""The custody log over HTTP: checkpoints, the log key, entries, proofs, subject history.

The checkpoint, the log's verifier key and the proofs are public: they are hashes and
signatures, and anyone holding a vial should be able to check its record. Entries name
staff and carry QC data, so reading them needs a role.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from traceability.custody_log.appender import latest_checkpoint, read_head, read_subject_head
from traceability.custody_log.tree import StoredTree
from traceability.domain.roles import Role
from traceability.errors import InvalidInputError, NotFoundError
from traceability.services import log_view
from traceability.services.auth import Authenticated
from traceability.services.log_view import EntryPublic, ProvenEntry
from traceability.web.deps import AnyUser, ContextDep, RequireRoles, SessionDep
from traceability.web.fields import Text

router = APIRouter(tags=["custody log"])

LogReader = Annotated[
    Authenticated, Depends(RequireRoles(Role.lab, Role.qa, Role.auditor, Role.admin))
]
CheckpointIssuer = Annotated[
    Authenticated, Depends(RequireRoles(Role.qa, Role.auditor, Role.admin))
]
NOTE_TYPE = "text/plain; charset=utf-8"
MAX_INDEX = 2**53 - 1  # the log format's largest integer


class InclusionProof(BaseModel):
    index: int
    size: int
    leaf_hash: str
    root_hash: str
    proof: list[str]


class ConsistencyProof(BaseModel):
    size1: int
    size2: int
    root1: str
    root2: str
    proof: list[str]


class SubjectHeadPublic(BaseModel):
    subject: str
    next_seq: int
    prev: str | None


class SubjectHistory(BaseModel):
    subject: str
    checkpoint: str
    size: int
    root_hash: str
    entries: list[ProvenEntry]
    next_seq: int


def _size_in_range(size: int, head_size: int, field: str) -> None:
    if not 1 <= size <= head_size:
        raise InvalidInputError(
            f"{field} must be between 1 and the log's size {head_size}", field=field
        )


@router.get(
    "/log/checkpoint",
    response_class=PlainTextResponse,
    summary="The latest signed checkpoint (C2SP tlog-checkpoint note)",
)
def get_checkpoint(session: SessionDep) -> PlainTextResponse:
    row = latest_checkpoint(session)
    if row is None:
        raise NotFoundError("no checkpoint has been signed yet")
    return PlainTextResponse(row.note, media_type=NOTE_TYPE)


@router.post(
    "/log/checkpoint",
    response_class=PlainTextResponse,
    summary="Sign a checkpoint of the current log now (if it grew)",
)
def post_checkpoint(auth: CheckpointIssuer, context: ContextDep) -> PlainTextResponse:
    with context.db.write() as session:
        row = context.log.issue_checkpoint(session, now=context.clock())
    return PlainTextResponse(row.note, media_type=NOTE_TYPE)


@router.get(
    "/log/key",
    response_class=PlainTextResponse,
    summary="The log's verifier key (name+keyid+base64 key)",
)
def get_log_key(context: ContextDep) -> PlainTextResponse:
    return PlainTextResponse(context.log.keys.log.verifier().text() + "\n", media_type=NOTE_TYPE)


@router.get(
    "/log/cosigner-key",
    response_class=PlainTextResponse,
    summary="The log's own ML-DSA-44 cosigner key (c2sp.org/tlog-cosignature, type 0x06)",
)
def get_cosigner_key(context: ContextDep) -> PlainTextResponse:
    return PlainTextResponse(context.log.keys.cosigner.key().text() + "\n", media_type=NOTE_TYPE)


@router.get(
    "/log/witnesses",
    response_class=PlainTextResponse,
    summary="The witnesses this log submits its checkpoints to: URL and key, one per line",
)
def get_witnesses(context: ContextDep) -> PlainTextResponse:
    """What the log says of its witnesses; an auditor checks each key against what the
    witness itself publishes (its URL answers with its keys) before trusting it."""
    lines = [f"{url} {key.text()}" for url, key in context.settings.witness_entries]
    return PlainTextResponse("".join(line + "\n" for line in lines), media_type=NOTE_TYPE)


@router.get("/log/entries/{index}", response_model=EntryPublic, summary="One entry, exact bytes")
def get_entry(
    index: Annotated[int, Path(ge=0, le=MAX_INDEX)], auth: LogReader, session: SessionDep
) -> EntryPublic:
    return log_view.entry_at(session, index)


@router.get(
    "/log/proof/inclusion",
    response_model=InclusionProof,
    summary="RFC 9162 inclusion proof of entry `index` in the tree of `size` entries",
)
def inclusion(
    session: SessionDep,
    index: Annotated[int, Query(ge=0, le=MAX_INDEX)],
    size: Annotated[int, Query(ge=1, le=MAX_INDEX)],
) -> InclusionProof:
    head = read_head(session)
    _size_in_range(size, head.size, "size")
    if index >= size:
        raise InvalidInputError("index must be below size", field="index")
    tree = StoredTree(session)
    return InclusionProof(
        index=index,
        size=size,
        leaf_hash=tree.leaf(index).hex(),
        root_hash=tree.root(size).hex(),
        proof=[h.hex() for h in tree.inclusion_proof(index, size)],
    )


@router.get(
    "/log/proof/consistency",
    response_model=ConsistencyProof,
    summary="RFC 9162 consistency proof between two tree sizes",
)
def consistency(
    session: SessionDep,
    size1: Annotated[int, Query(alias="from", ge=1, le=MAX_INDEX)],
    size2: Annotated[int, Query(alias="to", ge=1, le=MAX_INDEX)],
) -> ConsistencyProof:
    head = read_head(session)
    _size_in_range(size2, head.size, "to")
    if size1 > size2:
        raise InvalidInputError("from must not exceed to", field="from")
    tree = StoredTree(session)
    return ConsistencyProof(
        size1=size1,
        size2=size2,
        root1=tree.root(size1).hex(),
        root2=tree.root(size2).hex(),
        proof=[h.hex() for h in tree.consistency_proof(size1, size2)],
    )


@router.get(
    "/log/subject-head",
    response_model=SubjectHeadPublic,
    summary="Where the next statement about a subject goes (sign against this)",
)
def subject_head(
    auth: AnyUser,
    session: SessionDep,
    subject: Annotated[Text, Query(min_length=1, max_length=512)],
) -> SubjectHeadPublic:
    head = read_subject_head(session, subject)
    return SubjectHeadPublic(
        subject=subject, next_seq=head.next_seq, prev=head.prev.hex() if head.prev else None
    )


@router.get(
    "/log/history",
    response_model=SubjectHistory,
    summary="Every entry about one subject, each with a proof against one checkpoint",
)
def history(
    auth: LogReader,
    context: ContextDep,
    subject: Annotated[Text, Query(min_length=1, max_length=512)],
) -> SubjectHistory:
    with context.db.write() as session:
        # Sign a checkpoint that covers the subject's newest entry, if none does yet.
        checkpoint = context.log.issue_checkpoint(session, now=context.clock())
    with context.db.read() as session:
        found = log_view.proven_subject_entries(session, subject, checkpoint.size)
    return SubjectHistory(
        subject=subject,
        checkpoint=checkpoint.note,
        size=checkpoint.size,
        root_hash=bytes(checkpoint.root_hash).hex(),
        entries=found.proven,
        next_seq=found.count,
    )
