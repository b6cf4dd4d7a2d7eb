"""Who is acting: the identity every service call carries into the audit trail."""

from __future__ import annotations

from dataclasses import dataclass

from traceability.domain.roles import Role


@dataclass(frozen=True)
class Actor:
    """A signed-in user, or an operator at the command line (`user_id` None).

    `name` is what the audit trail prints: the username, or `cli:<os user>`.
    """

    name: str
    user_id: int | None
    roles: frozenset[Role]

    def has_any(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))
