"""Roles and the separation-of-duties vocabulary.

A user may hold several roles. Roles are stored as a sorted comma-separated string so
that both database engines hold them the same way and the audit trail shows them
readably; this module is the only place that parses or formats that string.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from traceability.errors import InvalidInputError


class Role(StrEnum):
    lab = "lab"
    qa = "qa"
    courier = "courier"
    auditor = "auditor"
    admin = "admin"


ROLE_DESCRIPTIONS: dict[Role, str] = {
    Role.lab: "Registers batches and vials, logs QC results and reviews colleagues' results.",
    Role.qa: "Decides batch disposition behind the release gate, with an e-signature.",
    Role.courier: "Scans vial and shipper labels to hand over or accept custody.",
    Role.auditor: "Reads the audit trail and exports signed bundles to verify offline.",
    Role.admin: "Manages user accounts and roles and reads the audit trail.",
}


def parse_roles(value: str | Iterable[str], *, field: str = "roles") -> frozenset[Role]:
    """Parse roles from text or names; refuse unknown names and an empty set."""
    names = value.split(",") if isinstance(value, str) else list(value)
    roles: set[Role] = set()
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        try:
            roles.add(Role(name))
        except ValueError:
            allowed = ", ".join(r.value for r in Role)
            raise InvalidInputError(
                f"unknown role {name!r}; allowed: {allowed}", field=field
            ) from None
    if not roles:
        raise InvalidInputError("a user needs at least one role", field=field)
    return frozenset(roles)


def format_roles(roles: Iterable[Role]) -> str:
    return ",".join(sorted(r.value for r in roles))


SPECIFICATION_WRITERS = (Role.qa, Role.admin)
"""Who registers a product and its specification versions (pages, API and CLI alike)."""
BATCH_WRITERS = (Role.lab,)
"""Who registers a batch and its vials."""
