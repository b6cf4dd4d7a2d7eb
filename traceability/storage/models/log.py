"""The custody log's own tables: entries, the Merkle tree's nodes, signed checkpoints with
their cosignatures, and actors' keys.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from traceability.storage.types import utc_field


class LogEntryRow(SQLModel, table=True):
    """One custody-log entry: the exact canonical bytes, and columns copied out of them.

    `entry` is the evidence; the other columns exist for lookups and are checked
    against the bytes by `traceability audit verify-log`. UNIQUE on `idx` and on
    `(subject, subject_seq)` means a fork cannot be stored at any isolation level.
    """

    __tablename__ = "log_entries"
    __table_args__ = (
        UniqueConstraint("subject", "subject_seq", name="uq_log_entries_subject_seq"),
    )

    idx: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    leaf_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    entry: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    subject: str = Field(max_length=512)
    subject_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    subject_prev: bytes | None = Field(sa_column=Column(LargeBinary(32), nullable=True))
    entry_type: str = Field(max_length=64)
    key_id: str = Field(max_length=32, index=True)
    appended_at: datetime = utc_field()


class LogNode(SQLModel, table=True):
    """An interior node of the Merkle tree: the root of a complete, aligned subtree.

    Level 1 and up (leaves are `log_entries.leaf_hash`). Stored once, when the subtree
    completes, so proofs and the frontier need O(log n) lookups and never a rebuild.
    """

    __tablename__ = "log_nodes"

    level: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    idx: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))


class CheckpointRow(SQLModel, table=True):
    """A signed C2SP checkpoint note as issued. Append-only; one per tree size."""

    __tablename__ = "log_checkpoints"

    size: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    root_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    note: str = Field(sa_column=Column(Text, nullable=False))
    issued_at: datetime = utc_field()


class CheckpointCosignatureRow(SQLModel, table=True):
    """A cosignature of a checkpoint (the log's own ML-DSA-44 one, or a witness's): the
    exact note signature line, verified before it was stored. Append-only."""

    __tablename__ = "checkpoint_cosignatures"
    __table_args__ = (
        UniqueConstraint("size", "cosigner", "key_id", name="uq_checkpoint_cosignature"),
        Index("ix_checkpoint_cosignatures_cosigner", "cosigner", "size"),
    )

    id: int | None = Field(default=None, primary_key=True)
    size: int = Field(
        sa_column=Column(BigInteger, ForeignKey("log_checkpoints.size"), nullable=False)
    )
    cosigner: str = Field(max_length=255)
    key_id: str = Field(max_length=8)
    algorithm: int
    cosigned_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    line: str = Field(sa_column=Column(Text, nullable=False))
    received_at: datetime = utc_field()


class ActorKey(SQLModel, table=True):
    """A registered Ed25519 public key: a person's device or CLI key, or the service's.

    The registration entry in the log is the evidence; this row is its index for fast
    lookup. Private keys of people never reach the server.
    """

    __tablename__ = "actor_keys"

    key_id: str = Field(primary_key=True, max_length=32)
    public_key: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    user_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    label: str = Field(max_length=200)
    registered_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    registered_at: datetime = utc_field()


class KeyRevocation(SQLModel, table=True):
    """A key's revocation: entries it signs after `revoked_index` are refused."""

    __tablename__ = "key_revocations"

    key_id: str = Field(primary_key=True, foreign_key="actor_keys.key_id", max_length=32)
    revoked_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    revoked_at: datetime = utc_field()
    reason: str = Field(max_length=2000)


LOG_TABLES: tuple[str, ...] = (
    "log_entries",
    "log_nodes",
    "log_checkpoints",
    "actor_keys",
    "key_revocations",
)
"""The custody log's tables (entries, nodes, checkpoints, keys)."""
