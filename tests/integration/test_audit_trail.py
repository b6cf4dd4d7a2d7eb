"""The audit trail: rows on creation and correction, filters, and no way to change it."""

from __future__ import annotations

import re
from html import unescape as html_unescape

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import func, select

from tests.support import Api
from traceability.storage.database import Database
from traceability.storage.models import AuditTrailEntry


def trail_count(db: Database) -> int:
    with db.read() as session:
        return session.exec(select(func.count()).select_from(AuditTrailEntry)).one()


@pytest.fixture
def admin(api: Api) -> dict[str, str]:
    api.add_user("admin", "admin")
    return api.headers("admin")


def test_creating_a_user_writes_who_when_and_the_new_values(
    api: Api, admin: dict[str, str]
) -> None:
    api.clock.advance(minutes=3)
    response = api.client.post(
        "/users",
        headers=admin,
        json={
            "username": "lena",
            "full_name": "Lena Lindqvist",
            "roles": ["lab"],
            "password": "a-good-password",
        },
    )
    assert response.status_code == 201
    rows = api.client.get(
        "/audit-trail", headers=admin, params={"record_type": "user", "record_id": "lena"}
    ).json()
    assert len(rows) == 1
    row = rows[0]
    assert row["action"] == "create"
    assert row["actor"] == "admin"
    assert row["at"] == "2026-11-02T09:03:00Z"
    changes = {c["field"]: (c["old"], c["new"]) for c in row["changes"]}
    assert changes["username"] == (None, "lena")
    assert changes["full_name"] == (None, "Lena Lindqvist")
    assert changes["roles"] == (None, "lab")
    assert changes["password_hash"] == (None, "(changed)")
    assert "a-good-password" not in str(row)


def test_a_correction_records_old_and_new_values_and_the_reason(
    api: Api, admin: dict[str, str]
) -> None:
    api.add_user("lena", "lab")
    response = api.client.put(
        "/users/lena/roles",
        headers=admin,
        json={"roles": ["lab", "qa"], "reason": "promoted to QA"},
    )
    assert response.status_code == 200
    row = api.client.get("/audit-trail", headers=admin, params={"record_id": "lena"}).json()[0]
    assert row["action"] == "set-roles"
    assert row["reason"] == "promoted to QA"
    assert row["changes"] == [{"field": "roles", "old": "lab", "new": "lab,qa"}]


def test_a_correction_without_a_reason_is_refused_and_changes_nothing(
    api: Api, admin: dict[str, str]
) -> None:
    api.add_user("lena", "lab")
    before = trail_count(api.db)
    for body in ({"roles": ["qa"]}, {"roles": ["qa"], "reason": ""}):
        response = api.client.put("/users/lena/roles", headers=admin, json=body)
        assert response.status_code == 422
        assert response.json()["field"] == "reason"
    blank = api.client.put(
        "/users/lena/roles", headers=admin, json={"roles": ["qa"], "reason": "   "}
    )
    assert blank.status_code == 422
    assert blank.json()["field"] == "reason"
    assert trail_count(api.db) == before
    assert api.client.get("/users/lena", headers=admin).json()["roles"] == ["lab"]


def test_the_trail_filters_by_user(api: Api, admin: dict[str, str]) -> None:
    api.add_user("lena", "lab")
    api.client.post("/users/lena/disable", headers=admin, json={"reason": "on leave"})
    by_admin = api.client.get("/audit-trail", headers=admin, params={"user": "admin"}).json()
    assert [(r["action"], r["record_id"]) for r in by_admin] == [("disable", "lena")]
    by_cli = api.client.get("/audit-trail", headers=admin, params={"user": "cli:test"}).json()
    assert {r["record_id"] for r in by_cli} == {"admin", "lena"}


def test_the_audit_trail_page_shows_rows_to_an_auditor(api: Api, admin: dict[str, str]) -> None:
    api.add_user("aude", "auditor")
    api.add_user("lena", "lab")
    api.client.put(
        "/users/lena/roles", headers=admin, json={"roles": ["qa"], "reason": "moved to the QA unit"}
    )
    page = api.client.get(
        "/ui/audit-trail",
        headers=api.headers("aude") | {"accept": "text/html"},
        params={"record_id": "lena"},
    )
    assert page.status_code == 200
    assert "moved to the QA unit" in page.text
    assert '<del>"lab"</del>' in page.text


def test_the_trail_filters_by_action_and_day_and_pages_keep_the_filters(
    api: Api, admin: dict[str, str]
) -> None:
    """Who, what, which record and when: an auditor narrows 100-row pages down."""
    api.add_user("lena", "lab")
    today = api.clock().date()
    api.clock.advance(days=2)
    admin = api.headers("admin")  # a new sign-in: the first token has lapsed
    api.client.post("/users/lena/disable", headers=admin, json={"reason": "on leave"})
    later = api.clock().date()
    disabled = api.client.get("/audit-trail", headers=admin, params={"action": "disable"}).json()
    assert [(r["action"], r["record_id"]) for r in disabled] == [("disable", "lena")]
    first_day = api.client.get(
        "/audit-trail", headers=admin, params={"from_day": str(today), "to_day": str(today)}
    ).json()
    assert {r["action"] for r in first_day} == {"create"}
    since_later = api.client.get("/audit-trail", headers=admin, params={"from_day": str(later)})
    assert [r["action"] for r in since_later.json()] == ["disable"]
    bad = api.client.get("/audit-trail", headers=admin, params={"from_day": "yesterday"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "from_day"

    html = {"accept": "text/html"}
    api.add_user("aude", "auditor")
    aude = api.headers("aude") | html
    page = api.client.get("/ui/audit-trail", headers=aude, params={"action": "disable"}).text
    assert "on leave" in page and "<option selected>disable</option>" in page
    assert "Lena" not in page.split("<tbody>")[1]  # the creation rows are filtered out
    typo = api.client.get("/ui/audit-trail", headers=aude, params={"to_day": "7.12.2026"})
    assert typo.status_code == 422 and "a day is written YYYY-MM-DD" in typo.text
    for n in range(101):  # a page and one more
        moved = api.client.put(
            "/users/lena/roles",
            headers=admin,
            json={"roles": ["lab" if n % 2 else "qa"], "reason": f"rota {n}"},
        )
        assert moved.status_code == 200, moved.text
    first = api.client.get("/ui/audit-trail", headers=aude, params={"action": "set-roles"}).text
    older = re.search(r'href="([^"]+)" data-older', first)
    assert older is not None and "action=set-roles" in older.group(1)
    rest = api.client.get("/ui/audit-trail" + html_unescape(older.group(1)), headers=aude).text
    assert "rota 0<" in rest and "rota 100<" not in rest and "on leave" not in rest
    assert "rota 100<" in first and "rota 0<" not in first


def test_no_route_writes_to_the_audit_trail(api: Api) -> None:
    from traceability.web.app import ROUTERS

    methods = {
        method
        for router in ROUTERS
        for route in router.routes
        if "audit-trail" in getattr(route, "path", "")
        for method in getattr(route, "methods", set())
    }
    assert methods <= {"GET", "HEAD"}


@pytest.mark.parametrize("table", ["audit_trail", "sign_in_events"])
def test_the_database_refuses_update_and_delete_on_append_only_tables(
    api: Api, admin: dict[str, str], table: str
) -> None:
    # `admin` created a user (audit row) and signed in (sign-in row).
    statements = [f"UPDATE {table} SET id = id + 1000", f"DELETE FROM {table}"]  # noqa: S608
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"), api.db.write() as session:
            session.exec(text(statement))
    with api.db.read() as session:
        assert session.exec(text(f"SELECT count(*) FROM {table}")).one()[0] >= 1  # noqa: S608
