"""Web pages: sign-in by cookie, each role's home page, CSRF, no open redirects."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.support import PASSWORD, Api

HTML = {"accept": "text/html"}


def sign_in(api: Api, username: str, next_path: str = "/") -> None:
    response = api.client.post(
        "/sign-in",
        data={"username": username, "password": PASSWORD, "next": next_path},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == next_path
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)
    assert match, "page has no CSRF token"
    return match.group(1)


def test_a_page_without_sign_in_shows_the_sign_in_form_with_401(api: Api) -> None:
    response = api.client.get("/ui/users?x=1", headers=HTML)
    assert response.status_code == 401
    assert 'action="/sign-in"' in response.text
    assert 'name="next" value="/ui/users?x=1"' in response.text


@pytest.mark.parametrize(
    ("role", "phrase"),
    [
        ("lab", "logs QC results"),
        ("qa", "Decides batch disposition"),
        ("courier", "hand over or accept custody"),
        ("auditor", "exports signed bundles"),
        ("admin", "Manages user accounts"),
    ],
)
def test_each_roles_home_page_explains_what_it_can_do(api: Api, role: str, phrase: str) -> None:
    api.add_user("someone", role)
    sign_in(api, "someone")
    page = api.client.get("/", headers=HTML)
    assert page.status_code == 200
    assert f"As {role}" in page.text
    assert phrase in page.text


def test_the_auditors_home_page_offers_only_what_an_auditor_can_do(api: Api) -> None:
    api.add_user("audrey", "auditor")
    sign_in(api, "audrey")
    page = api.client.get("/", headers=HTML).text
    assert "audit bundle" in page
    for others_work in ("upload logger data", "record, assign and close", "QA closes"):
        assert others_work not in page
    for href in re.findall(r'<li><a href="([^"]+)"', page):
        assert api.client.get(href, headers=HTML).status_code == 200, href


def test_a_wrong_role_page_is_a_403_page(api: Api) -> None:
    api.add_user("cora", "courier")
    sign_in(api, "cora")
    response = api.client.get("/ui/users", headers=HTML)
    assert response.status_code == 403
    assert "admin" in response.text


def test_a_form_post_without_the_csrf_token_is_refused_and_stores_nothing(api: Api) -> None:
    api.add_user("admin", "admin")
    sign_in(api, "admin")
    form = {
        "username": "mallory",
        "full_name": "Mallory",
        "password": "a-good-password",
        "roles": "admin",
    }
    refused = api.client.post("/ui/users", data=form, headers=HTML)
    assert refused.status_code == 403
    assert "CSRF" in refused.text
    wrong = api.client.post("/ui/users", data=form | {"csrf_token": "0" * 64}, headers=HTML)
    assert wrong.status_code == 403
    token = csrf_of(api.client.get("/ui/users", headers=HTML).text)
    assert "mallory" not in api.client.get("/ui/users", headers=HTML).text
    created = api.client.post(
        "/ui/users", data=form | {"csrf_token": token}, headers=HTML, follow_redirects=False
    )
    assert created.status_code == 303
    assert "mallory" in api.client.get("/ui/users", headers=HTML).text


def test_the_users_page_shows_a_clear_error_for_bad_input(api: Api) -> None:
    api.add_user("admin", "admin")
    sign_in(api, "admin")
    token = csrf_of(api.client.get("/ui/users", headers=HTML).text)
    response = api.client.post(
        "/ui/users",
        headers=HTML,
        data={
            "username": "Bad Name",
            "full_name": "X",
            "password": "a-good-password",
            "roles": "lab",
            "csrf_token": token,
        },
    )
    assert response.status_code == 422
    assert "a username is 2-64 characters" in response.text


def test_disabling_from_the_users_page_needs_a_reason(api: Api) -> None:
    api.add_user("admin", "admin")
    api.add_user("leo", "lab")
    sign_in(api, "admin")
    token = csrf_of(api.client.get("/ui/users", headers=HTML).text)
    no_reason = api.client.post(
        "/ui/users/leo/active",
        headers=HTML,
        data={"active": "false", "reason": "", "csrf_token": token},
    )
    assert no_reason.status_code == 422
    done = api.client.post(
        "/ui/users/leo/active",
        headers=HTML,
        follow_redirects=False,
        data={"active": "false", "reason": "left", "csrf_token": token},
    )
    assert done.status_code == 303


def _status_cell(page: str, username: str) -> str:
    row = re.search(
        rf'<td data-label="Username">{username}</td>.*?<td data-label="Status">(.*?)</td>',
        page,
        re.S,
    )
    assert row, f"no row for {username}"
    return re.sub(r"<[^>]+>", "", row.group(1))


def test_the_users_page_shows_a_locked_out_account_as_locked_until_unlocked(api: Api) -> None:
    api.add_user("admin", "admin")
    api.add_user("leo", "lab")
    sign_in(api, "admin")
    page = api.client.get("/ui/users", headers=HTML).text
    assert _status_cell(page, "leo") == "active"
    assert "/ui/users/leo/unlock" not in page
    for _ in range(api.settings.lockout_attempts):
        api.clock.advance(minutes=1)
        bad = api.client.post("/auth/token", data={"username": "leo", "password": "wrong-pass-1"})
        assert bad.status_code == 401
    # The lock lifts one window after the first counted failure.
    lifts = api.clock() - timedelta(minutes=api.settings.lockout_attempts - 1)
    lifts += timedelta(minutes=api.settings.lockout_window_minutes)
    page = api.client.get("/ui/users", headers=HTML).text
    assert _status_cell(page, "leo") == (
        f"locked until {lifts:%Y-%m-%d %H:%M} UTC (failed sign-ins)"
    )
    assert _status_cell(page, "admin") == "active"
    unlocked = api.client.post(
        "/ui/users/leo/unlock",
        headers=HTML,
        follow_redirects=False,
        data={"reason": "called the help desk", "csrf_token": csrf_of(page)},
    )
    assert unlocked.status_code == 303
    page = api.client.get("/ui/users", headers=HTML).text
    assert _status_cell(page, "leo") == "active"
    assert "/ui/users/leo/unlock" not in page


def test_sign_out_ends_the_web_session(api: Api) -> None:
    api.add_user("lena", "lab")
    sign_in(api, "lena")
    token = csrf_of(api.client.get("/", headers=HTML).text)
    response = api.client.post("/sign-out", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert api.client.get("/", headers=HTML).status_code == 401


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil"])
def test_sign_in_never_redirects_off_site(api: Api, target: str) -> None:
    api.add_user("lena", "lab")
    response = api.client.post(
        "/sign-in",
        follow_redirects=False,
        data={"username": "lena", "password": PASSWORD, "next": target},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_a_failed_web_sign_in_says_so_with_401(api: Api) -> None:
    response = api.client.post("/sign-in", data={"username": "lena", "password": "wrong-pass-1"})
    assert response.status_code == 401
    assert "wrong username or password" in response.text


def test_an_admin_creates_a_site_and_adds_people_to_it_in_the_users_page(api: Api) -> None:
    """Membership is what lets a person hold a site's custody and keep its lab's records:
    an admin gives it in the page, with the audit trail naming who and when."""
    api.add_user("admin", "admin")
    api.add_user("leo", "lab")
    sign_in(api, "admin")
    token = csrf_of(api.client.get("/ui/users", headers=HTML).text)
    bad = api.client.post(
        "/ui/sites",
        headers=HTML,
        data={"code": "lab 1", "name": "Lab", "kind": "lab", "csrf_token": token},
    )
    assert bad.status_code == 422 and "code is 2-32 upper-case letters" in bad.text
    made = api.client.post(
        "/ui/sites",
        headers=HTML,
        follow_redirects=False,
        data={"code": "LAB2", "name": "Second lab", "kind": "lab", "csrf_token": token},
    )
    assert made.status_code == 303
    added = api.client.post(
        "/ui/users/leo/sites",
        headers=HTML,
        follow_redirects=False,
        data={"site": "LAB2", "csrf_token": token},
    )
    assert added.status_code == 303
    page = api.client.get("/ui/users", headers=HTML).text
    assert re.search(r'data-sites="leo">LAB2\b', page)
    again = api.client.post(
        "/ui/users/leo/sites", headers=HTML, data={"site": "LAB2", "csrf_token": token}
    )
    assert again.status_code == 409 and "leo already acts for LAB2" in again.text
    site = api.client.get("/sites", headers=api.headers("admin")).json()
    assert [s["members"] for s in site if s["code"] == "LAB2"] == [["leo"]]
    trail = api.client.get("/audit-trail", headers=api.headers("admin")).json()
    rows = trail["items"] if isinstance(trail, dict) else trail
    assert any(r["action"] == "add member" and r["record_id"] == "LAB2" for r in rows)
