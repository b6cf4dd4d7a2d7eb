"""Who is acting: the identity every service call carries into the audit trail."""

from __future__ import annotations

from dataclasses import dataclass

from traceability.domain.roles import Role


@dataclass(frozen=True)
class Actor:
    """A signed-in user, an operator at the command line, or the service itself
    (`user_id` None for both).

    `name` is what the audit trail prints: the username, `cli:<os user>`, or `system`.
    """

    name: str
    user_id: int | None
    roles: frozenset[Role]

    def has_any(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))


SYSTEM = Actor(name="system", user_id=None, roles=frozenset())
"""The service acting on its own rule (an automatic recall): the person whose entry
set it off is named in the reason, not as its actor."""
