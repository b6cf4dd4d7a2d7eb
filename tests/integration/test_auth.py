"""Sign-in, token expiry, lock-out, and sessions ending, over real HTTP on both engines."""

import re
from typing import Any

from sqlmodel import select

from tests.support import PASSWORD, Api
from traceability.storage.models import SignInEvent


def sign_ins(api: Api, username: str) -> list[SignInEvent]:
    with api.db.read() as session:
        rows = session.exec(
            select(SignInEvent).where(SignInEvent.username == username).order_by(SignInEvent.id)
        ).all()
        return list(rows)


def test_password_flow_gives_a_bearer_token_that_identifies_the_user(api: Api) -> None:
    api.add_user("lena", "lab", "qa")
    response = api.client.post(
        "/auth/token", data={"username": "lena", "password": PASSWORD, "grant_type": "password"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == api.settings.token_ttl_minutes * 60
    me = api.client.get("/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["user"]["username"] == "lena"
    assert me.json()["user"]["roles"] == ["lab", "qa"]


def test_token_expires_after_its_lifetime(api: Api) -> None:
    api.add_user("lena", "lab")
    headers = api.headers("lena")
    api.clock.advance(minutes=api.settings.token_ttl_minutes, seconds=-1)
    assert api.client.get("/auth/me", headers=headers).status_code == 200
    api.clock.advance(seconds=1)
    response = api.client.get("/auth/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert "expired" in response.json()["detail"]


def test_wrong_password_and_unknown_user_are_refused_alike_and_recorded(api: Api) -> None:
    api.add_user("lena", "lab")
    wrong = api.client.post("/auth/token", data={"username": "lena", "password": "nope-nope-1"})
    unknown = api.client.post("/auth/token", data={"username": "ghost", "password": "nope-nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert [e.reason for e in sign_ins(api, "lena")] == ["bad-credentials"]
    assert [e.reason for e in sign_ins(api, "ghost")] == ["unknown-user"]


def test_five_failures_in_fifteen_minutes_lock_the_account(api: Api) -> None:
    api.add_user("lena", "lab")
    for _ in range(5):
        api.clock.advance(minutes=2)
        bad = api.client.post("/auth/token", data={"username": "lena", "password": "wrong-pass-1"})
        assert bad.status_code == 401
    locked = api.client.post("/auth/token", data={"username": "lena", "password": PASSWORD})
    assert locked.status_code == 429
    assert locked.json()["code"] == "account-locked"
    # The oldest failure was 8 minutes ago: the lock lifts 7 minutes from now.
    assert int(locked.headers["retry-after"]) == 7 * 60
    api.clock.advance(minutes=7, seconds=1)
    assert (
        api.client.post("/auth/token", data={"username": "lena", "password": PASSWORD}).status_code
        == 200
    )
    reasons = [e.reason for e in sign_ins(api, "lena")]
    assert reasons == ["bad-credentials"] * 5 + ["locked", "ok"]
    assert [e.success for e in sign_ins(api, "lena")] == [False] * 6 + [True]


def test_an_unknown_username_locks_alike_so_the_lock_does_not_tell_which_names_exist(
    api: Api,
) -> None:
    api.add_user("lena", "lab")
    answers: dict[str, list[int]] = {"lena": [], "ghost": []}
    for _ in range(api.settings.lockout_attempts + 1):
        for name, seen in answers.items():
            wrong = api.client.post(
                "/auth/token", data={"username": name, "password": "nope-12345"}
            )
            seen.append(wrong.status_code)
    assert answers["lena"] == answers["ghost"] == [401] * api.settings.lockout_attempts + [429]


def test_an_admin_unlocks_a_locked_account_over_the_api_with_a_reason(api: Api) -> None:
    api.add_user("admin", "admin")
    api.add_user("lena", "lab")
    admin = api.headers("admin")
    not_locked = api.client.post("/users/lena/unlock", headers=admin, json={"reason": "asked"})
    assert not_locked.status_code == 409 and "not locked out" in not_locked.json()["detail"]
    for _ in range(api.settings.lockout_attempts):
        api.client.post("/auth/token", data={"username": "lena", "password": "wrong-pass-1"})
    assert (
        api.client.post("/auth/token", data={"username": "lena", "password": PASSWORD}).status_code
        == 429
    )
    no_reason = api.client.post("/users/lena/unlock", headers=admin, json={"reason": ""})
    assert no_reason.status_code == 422 and no_reason.json()["field"] == "reason"
    api.add_user("leo", "lab")
    not_admin = api.client.post(
        "/users/lena/unlock", headers=api.headers("leo"), json={"reason": "x"}
    )
    assert not_admin.status_code == 403
    assert (
        api.client.post("/users/ghost/unlock", headers=admin, json={"reason": "x"}).status_code
        == 404
    )
    done = api.client.post(
        "/users/lena/unlock", headers=admin, json={"reason": "verified by phone"}
    )
    assert done.status_code == 200 and done.json()["username"] == "lena"
    assert (
        api.client.post("/auth/token", data={"username": "lena", "password": PASSWORD}).status_code
        == 200
    )


def test_failures_spread_over_more_than_fifteen_minutes_do_not_lock(api: Api) -> None:
    api.add_user("lena", "lab")
    for _ in range(6):
        api.clock.advance(minutes=4)
        api.client.post("/auth/token", data={"username": "lena", "password": "wrong-pass-1"})
    assert (
        api.client.post("/auth/token", data={"username": "lena", "password": PASSWORD}).status_code
        == 200
    )


def test_web_sign_in_is_locked_out_too(api: Api) -> None:
    api.add_user("lena", "lab")
    for _ in range(5):
        api.client.post("/sign-in", data={"username": "lena", "password": "wrong-pass-1"})
    response = api.client.post(
        "/sign-in", data={"username": "lena", "password": PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 429
    assert "too many failed sign-ins" in response.text
    assert "trace_session" not in response.cookies


def test_disabling_a_user_ends_their_sessions(api: Api) -> None:
    api.add_user("admin", "admin")
    api.add_user("cora", "courier")
    cora = api.headers("cora")
    api.client.post("/sign-in", data={"username": "cora", "password": PASSWORD})
    assert api.client.get("/", headers={"accept": "text/html"}).status_code == 200
    response = api.client.post(
        "/users/cora/disable", headers=api.headers("admin"), json={"reason": "left the company"}
    )
    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert api.client.get("/auth/me", headers=cora).status_code == 401
    assert api.client.get("/", headers={"accept": "text/html"}).status_code == 401
    again = api.client.post("/auth/token", data={"username": "cora", "password": PASSWORD})
    assert again.status_code == 401
    assert sign_ins(api, "cora")[-1].reason == "disabled"


def test_resetting_a_password_ends_sessions_and_the_new_one_works(api: Api) -> None:
    api.add_user("admin", "admin")
    api.add_user("cora", "courier")
    old = api.headers("cora")
    response = api.client.post(
        "/users/cora/password",
        headers=api.headers("admin"),
        json={"password": "brand-new-password", "reason": "forgotten"},
    )
    assert response.status_code == 200
    assert api.client.get("/auth/me", headers=old).status_code == 401
    assert (
        api.client.post(
            "/auth/token", data={"username": "cora", "password": "brand-new-password"}
        ).status_code
        == 200
    )


def test_sign_out_revokes_the_token(api: Api) -> None:
    api.add_user("lena", "lab")
    headers = api.headers("lena")
    assert api.client.post("/auth/sign-out", headers=headers).status_code == 204
    assert api.client.get("/auth/me", headers=headers).status_code == 401


def test_a_made_up_token_is_refused(api: Api) -> None:
    response = api.client.get("/auth/me", headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_role_change_counts_at_once_for_a_signed_in_user(api: Api) -> None:
    """Who is calling is read again on every request: nothing stale is kept per token."""
    api.add_user("admin", "admin")
    api.add_user("cora", "courier")
    cora = api.headers("cora")
    assert api.client.get("/auth/me", headers=cora).json()["user"]["roles"] == ["courier"]
    assert api.client.get("/custody/mine", headers=cora).status_code == 200
    changed = api.client.put(
        "/users/cora/roles",
        headers=api.headers("admin"),
        json={"roles": ["auditor"], "reason": "moved to the audit team"},
    )
    assert changed.status_code == 200, changed.text
    assert api.client.get("/auth/me", headers=cora).json()["user"]["roles"] == ["auditor"]
    assert api.client.get("/custody/mine", headers=cora).status_code == 403


def _bearer(api: Api, username: str, password: str) -> dict[str, str]:
    got = api.client.post("/auth/token", data={"username": username, "password": password})
    assert got.status_code == 200, got.text
    return {"Authorization": f"Bearer {got.json()['access_token']}"}


def test_a_password_an_admin_chose_must_be_changed_before_anything_else(api: Api) -> None:
    """Created by an admin, or reset by one: the account reaches nothing but the password
    change until its owner sets a password only they know."""
    api.add_user("admin", "admin")
    admin = api.headers("admin")
    made = api.client.post(
        "/users",
        headers=admin,
        json={"username": "nell", "full_name": "Nell", "roles": ["lab"], "password": PASSWORD},
    )
    assert made.status_code == 201 and made.json()["must_change_password"] is True
    nell = _bearer(api, "nell", PASSWORD)
    refused = api.client.get("/batches", headers=nell)
    assert refused.status_code == 403 and "set your own first" in refused.json()["detail"]
    assert api.client.get("/auth/me", headers=nell).status_code == 403

    def change(current: str, new: str) -> Any:
        return api.client.post(
            "/auth/password", headers=nell, json={"current_password": current, "new_password": new}
        )

    wrong = change("not-the-password", "nells-own-password")
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "current_password"
    same = change(PASSWORD, PASSWORD)
    assert same.status_code == 422 and same.json()["errors"][0]["field"] == "new_password"
    assert change(PASSWORD, "nells-own-password").status_code == 204
    assert api.client.get("/batches", headers=nell).status_code == 200
    assert api.client.get("/auth/me", headers=nell).json()["user"]["must_change_password"] is False
    trail = api.client.get("/audit-trail", headers=admin).json()
    rows = trail["items"] if isinstance(trail, dict) else trail
    mine = [r for r in rows if r["action"] == "change-password" and r["record_id"] == "nell"]
    assert len(mine) == 1 and mine[0]["actor"] == "nell"
    changes = {c["field"]: c for c in mine[0]["changes"]}
    assert changes["password_hash"]["new"] == "(changed)" and "argon2" not in str(changes)
    assert changes["must_change_password"]["new"] is False

    reset = api.client.post(
        "/users/nell/password",
        headers=admin,
        json={"password": "admin-chose-this", "reason": "forgotten"},
    )
    assert reset.status_code == 200 and reset.json()["must_change_password"] is True
    again = _bearer(api, "nell", "admin-chose-this")
    assert api.client.get("/batches", headers=again).status_code == 403


def test_a_page_sends_the_person_to_set_their_password_first(api: Api) -> None:
    api.add_user("admin", "admin")
    made = api.client.post(
        "/users",
        headers=api.headers("admin"),
        json={"username": "nell", "full_name": "Nell", "roles": ["lab"], "password": PASSWORD},
    )
    assert made.status_code == 201
    signed_in = api.client.post(
        "/sign-in", data={"username": "nell", "password": PASSWORD}, follow_redirects=False
    )
    assert signed_in.status_code == 303
    html = {"accept": "text/html"}
    home = api.client.get("/ui/batches", headers=html, follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"] == "/ui/account/password"
    form = api.client.get("/ui/account/password", headers=html)
    assert form.status_code == 200 and "An administrator chose the password" in form.text
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', form.text)
    assert token is not None
    fields = {"current_password": PASSWORD, "csrf_token": token.group(1)}
    differ = api.client.post(
        "/ui/account/password",
        headers=html,
        data=fields | {"new_password": "nells-own-password", "repeated": "nells-own-passw0rd"},
    )
    assert differ.status_code == 422 and "the two new passwords differ" in differ.text
    done = api.client.post(
        "/ui/account/password",
        headers=html,
        follow_redirects=False,
        data=fields | {"new_password": "nells-own-password", "repeated": "nells-own-password"},
    )
    assert done.status_code == 303
    assert api.client.get("/ui/batches", headers=html).status_code == 200
