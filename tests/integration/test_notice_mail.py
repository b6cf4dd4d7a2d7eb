"""Notices by mail (issue 19, point 5): where an SMTP server is configured, each notice (a
recall) is mailed once to every active member of the site it is for, or to the person it
names, at the address on their account; an administrator sets the address in the users
page, the API or the CLI. Through a real SMTP conversation with a local server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.custody_flow import make_site
from tests.smtp_sink import smtp_sink
from tests.support import Api
from traceability.services import notice_mail, notices
from traceability.settings import Settings

NOW = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
RECALL = "Batch UC26-104 is recalled: sterility positive. Hand each vial only back to LAB1."


def with_smtp(settings: Settings, port: int) -> Settings:
    return settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port})


@pytest.fixture
def staff(api: Api) -> dict[str, str]:
    """CLINIC1: nina (an address), noah (none), olga (an address, disabled); cora, a
    courier with an address; every address set through the API."""
    api.add_user("admin", "admin")
    admin = api.headers("admin")
    for name in ("nina", "noah", "olga"):
        api.add_user(name, "lab")
    api.add_user("cora", "courier")
    make_site(api, "CLINIC1", "clinic", ("nina", "noah", "olga"))
    addresses = {"nina": "nina@clinic.example", "olga": "olga@clinic.example"}
    addresses["cora"] = "cora@couriers.example"
    for name, email in addresses.items():
        answer = api.client.put(f"/users/{name}/email", headers=admin, json={"email": email})
        assert answer.status_code == 200 and answer.json()["email"] == email
    gone = api.client.post("/users/olga/disable", headers=admin, json={"reason": "left"})
    assert gone.status_code == 200, gone.text
    return addresses


def notify(api: Api, *recipients: str, times: int = 1, at: datetime = NOW) -> None:
    with api.db.write() as session:
        for _ in range(times):
            notices.notify(
                session,
                recipients,
                kind="recall",
                subject="https://id.example/01/09521234543213/10/UC26-104",
                text=RECALL,
                log_index=42,
                now=at,
            )


def test_a_notice_is_mailed_once_to_each_address_it_is_for(api: Api, staff: dict[str, str]) -> None:
    notify(api, "site:CLINIC1", "user:cora")
    with smtp_sink() as sink:
        settings = with_smtp(api.settings, sink.port)
        assert notice_mail.send_pending(api.db, settings, NOW) == 2
        assert notice_mail.send_pending(api.db, settings, NOW) == 0  # nothing twice
    assert sorted(r.recipients[0] for r in sink.received) == [
        "cora@couriers.example",
        "nina@clinic.example",
    ]  # not noah (no address), not olga (disabled)
    letter = sink.received[0].message
    assert letter["From"] == api.settings.smtp_from
    assert letter["Subject"].startswith("[recall] Batch UC26-104 is recalled")
    body = letter.get_payload(decode=True).decode()
    assert RECALL in body and "UC26-104" in body and "entry 42" in body


def test_a_refused_round_is_mailed_at_the_next(api: Api, staff: dict[str, str]) -> None:
    notify(api, "user:cora")
    with smtp_sink() as sink:
        settings = with_smtp(api.settings, sink.port)
        sink.refuse = True
        assert notice_mail.send_pending(api.db, settings, NOW) == 0
        sink.refuse = False
        assert notice_mail.send_pending(api.db, settings, NOW) == 1
    assert [r.recipients for r in sink.received] == [["cora@couriers.example"]]


def test_without_an_smtp_server_nothing_is_mailed(api: Api, staff: dict[str, str]) -> None:
    notify(api, "user:cora")
    assert api.settings.smtp_host == ""
    assert notice_mail.send_pending(api.db, api.settings, NOW) == 0


def test_a_bad_address_is_refused_naming_the_field(api: Api, staff: dict[str, str]) -> None:
    admin = api.headers("admin")
    bad_ones = ("nina", "nina@clinic", "two@a.example three@b.example", "nïna@clinic.example")
    for bad in (*bad_ones, "a,b@clinic.example", "a:b@clinic.example", "<a@clinic.example>"):
        answer = api.client.put("/users/nina/email", headers=admin, json={"email": bad})
        assert answer.status_code == 422, bad
        assert answer.json()["field"] == "email"
    kept = api.client.get("/users/nina", headers=admin).json()
    assert kept["email"] == "nina@clinic.example"
    cleared = api.client.put("/users/nina/email", headers=admin, json={"email": None})
    assert cleared.status_code == 200 and cleared.json()["email"] is None
    nina = api.headers("nina")
    assert (
        api.client.put("/users/noah/email", headers=nina, json={"email": "x@y.example"}).status_code
        == 403
    )


def test_the_users_page_sets_an_address(api: Api, staff: dict[str, str]) -> None:
    admin = api.headers("admin") | {"accept": "text/html"}
    page = api.client.get("/ui/users", headers=admin).text
    assert 'value="nina@clinic.example"' in page and 'action="/ui/users/noah/email"' in page
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    done = api.client.post(
        "/ui/users/noah/email",
        headers=admin,
        data={"csrf_token": token, "email": "noah@clinic.example"},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    assert api.client.get("/users/noah", headers=api.headers("admin")).json()["email"] == (
        "noah@clinic.example"
    )


def test_a_refused_address_does_not_hold_up_the_others(api: Api, staff: dict[str, str]) -> None:
    notify(api, "site:CLINIC1", "user:cora")
    with smtp_sink() as sink:
        sink.unknown = {"cora@couriers.example"}  # sorted before nina's: refused first
        assert notice_mail.send_pending(api.db, with_smtp(api.settings, sink.port), NOW) == 1
    assert [r.recipients for r in sink.received] == [["nina@clinic.example"]]


def test_every_recent_notice_is_mailed_however_many_and_none_stale(
    api: Api, staff: dict[str, str]
) -> None:
    notify(api, "user:cora", times=250)  # more than any one page of notices
    notify(api, "user:cora", at=NOW - notice_mail.WINDOW - timedelta(minutes=1))
    with smtp_sink() as sink:
        assert notice_mail.send_pending(api.db, with_smtp(api.settings, sink.port), NOW) == 250
    assert len(sink.received) == 250


def test_one_mailer_at_a_time_across_workers(api: Api, staff: dict[str, str]) -> None:
    """Each server worker runs a mailer; while one mails, the others' rounds do nothing,
    so nobody gets a notice twice."""
    notify(api, "user:cora")
    with smtp_sink() as sink:
        settings = with_smtp(api.settings, sink.port)
        with api.db.only_one("notice-mail") as mine:  # another worker's round, under way
            assert mine
            assert notice_mail.send_pending(api.db, settings, NOW) == 0
        assert notice_mail.send_pending(api.db, settings, NOW) == 1
    assert len(sink.received) == 1
