"""The demo site's accounts: one person per role, each with a job to try."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, func, select

from traceability.domain.actor import Actor
from traceability.services import users as user_service
from traceability.storage.models import User

DEMO_PASSWORD = "demo-password"  # noqa: S105 - printed on purpose; development mode only


@dataclass(frozen=True)
class DemoUser:
    username: str
    full_name: str
    roles: tuple[str, ...]
    does: str


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("lena", "Lena Lindqvist", ("lab",), "logs QC results"),
    DemoUser("leo", "Leo Okafor", ("lab",), "reviews Lena's results (second person)"),
    DemoUser("quinn", "Quinn Moreau", ("qa",), "releases batches"),
    DemoUser("cora", "Cora Santos", ("courier",), "carries a shipper to the clinic"),
    DemoUser("rami", "Rami Haddad", ("courier",), "has a vial offered to him: accept it"),
    DemoUser("nina", "Nina Petrova", ("lab",), "receives shipments at the clinic"),
    DemoUser("aude", "Aude Martin", ("auditor",), "verifies the record"),
    DemoUser("admin", "Ada Admin", ("admin",), "manages accounts"),
)


def is_empty(session: Session) -> bool:
    return session.exec(select(func.count()).select_from(User)).one() == 0


def load(session: Session, *, actor: Actor, now: datetime) -> int:
    """Create the demo accounts; returns how many were created."""
    for demo in DEMO_USERS:
        user_service.create_user(
            session,
            actor=actor,
            now=now,
            username=demo.username,
            full_name=demo.full_name,
            roles=demo.roles,
            password=DEMO_PASSWORD,
        )
    return len(DEMO_USERS)


def sign_in_table() -> str:
    lines = [f"  {'username':<8} {'role':<8} does", f"  {'-' * 8} {'-' * 8} {'-' * 30}"]
    for demo in DEMO_USERS:
        lines.append(f"  {demo.username:<8} {','.join(demo.roles):<8} {demo.does}")
    lines.append(f"  every demo password: {DEMO_PASSWORD}")
    return "\n".join(lines)
