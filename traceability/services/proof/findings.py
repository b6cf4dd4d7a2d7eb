"""A disagreement between a table and the log, named so a person can find both sides."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from traceability.custody_log.evidence import Unproven


@dataclass(frozen=True)
class ProofFinding:
    """One thing the log does not prove.

    `kind` is what a person can act on: `missing-row` (an entry with no row), `extra-row`
    (a row no entry makes), `changed` (a row that disagrees with its entry), or why an
    entry itself is not proven (`missing-entry`, `uncovered`, `bad-signature`,
    `wrong-actor`, `unknown-key`, `revoked-key`, `checkpoint`, `subject-chain`, ...).
    `record` names the row (`qc_results #12`, `batch UC26-102`); `index` the entry.
    """

    kind: str
    record: str
    index: int | None
    detail: str

    def line(self) -> str:
        entry = "" if self.index is None else f" (log entry {self.index})"
        return f"{self.record}{entry}: {self.kind}: {self.detail}"


def unproven(record: str, problem: Unproven) -> ProofFinding:
    return ProofFinding(problem.kind, record, problem.index, problem.detail)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def compare(
    record: str, index: int, stored: Mapping[str, Any], signed: Mapping[str, Any]
) -> list[ProofFinding]:
    """A `changed` finding if the row's values are not what its entry makes."""
    differ = [
        f"{name} is {_shown(stored.get(name))} where the entry makes {_shown(value)}"
        for name, value in signed.items()
        if stored.get(name) != value
    ]
    if not differ:
        return []
    return [ProofFinding("changed", record, index, "; ".join(differ))]
