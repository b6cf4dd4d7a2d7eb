"""The tables, one module per part of the record (`accounts`, `log`, `records`,
`custody`, `cold_chain`, `release`). Each family follows `XBase` -> `X(table=True)` -> `XPublic`.

Responses are built from `*Public` models only, so a column added here (a password
hash, a token digest) never leaks through the API by accident. Tables whose rows are
GxP evidence (`audit_trail`, `sign_in_events`) are append-only: the migrations install
triggers that refuse UPDATE and DELETE on both engines.
"""

from __future__ import annotations

from traceability.storage.models.accounts import (
    APPEND_ONLY_TABLES,
    AuditTrailEntry,
    AuthSession,
    SignInEvent,
    User,
    UserBase,
)
from traceability.storage.models.cold_chain import (
    Excursion,
    ExcursionClosure,
    ExcursionVial,
    TemperatureFile,
    TemperatureUpload,
)
from traceability.storage.models.custody import (
    CustodyEvent,
    Handoff,
    HandoffAcceptance,
    IdempotentResponse,
    RequestNonce,
    Shipper,
    Site,
    SiteMember,
    StorageUnit,
)
from traceability.storage.models.log import (
    LOG_TABLES,
    ActorKey,
    CheckpointCosignatureRow,
    CheckpointRow,
    KeyRevocation,
    LogEntryRow,
    LogNode,
)
from traceability.storage.models.records import (
    RECORD_TABLES,
    Batch,
    Deviation,
    DeviationEvent,
    LabelIssue,
    LabelScan,
    OosDecision,
    Product,
    QcResult,
    QcReview,
    SpecificationVersion,
    Vial,
)
from traceability.storage.models.release import (
    Disposition,
    ESignature,
    Notice,
    NoticeMailing,
    Recall,
)

__all__ = [
    "APPEND_ONLY_TABLES",
    "LOG_TABLES",
    "ActorKey",
    "AuditTrailEntry",
    "AuthSession",
    "Batch",
    "CheckpointCosignatureRow",
    "CheckpointRow",
    "CustodyEvent",
    "Deviation",
    "DeviationEvent",
    "Disposition",
    "ESignature",
    "Excursion",
    "ExcursionClosure",
    "ExcursionVial",
    "Handoff",
    "HandoffAcceptance",
    "IdempotentResponse",
    "KeyRevocation",
    "LabelIssue",
    "LabelScan",
    "LogEntryRow",
    "LogNode",
    "OosDecision",
    "Product",
    "QcResult",
    "QcReview",
    "RECORD_TABLES",
    "Notice",
    "NoticeMailing",
    "Recall",
    "RequestNonce",
    "Shipper",
    "SignInEvent",
    "Site",
    "SiteMember",
    "SpecificationVersion",
    "StorageUnit",
    "TemperatureFile",
    "TemperatureUpload",
    "User",
    "UserBase",
    "Vial",
]
