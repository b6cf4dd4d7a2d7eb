"""The custody log over real HTTP: keys, checkpoints, entries, proofs, subject history."""

from __future__ import annotations

import base64

import pytest

from audit import merkle
from audit.checkpoint import verify_checkpoint
from audit.entry import parse_entry, pop_message
from audit.note import parse_verifier_key
from tests.support import Api
from traceability.keys import ActorKeyPair

HTML = {"accept": "text/html"}
People = dict[str, dict[str, str]]


def register(
    api: Api, username: str, headers: dict[str, str]
) -> tuple[ActorKeyPair, dict[str, object]]:
    pair = ActorKeyPair.generate(username)
    pop = pair.sign(pop_message(pair.key_id, api.settings.origin, username))
    response = api.client.post(
        "/keys",
        headers=headers,
        json={
            "public_key": base64.b64encode(pair.public_key).decode(),
            "label": "phone",
            "pop": base64.b64encode(pop).decode(),
        },
    )
    assert response.status_code == 201, response.text
    return pair, response.json()


@pytest.fixture
def people(api: Api) -> dict[str, dict[str, str]]:
    for name, role in (
        ("lena", "lab"),
        ("leo", "lab"),
        ("quinn", "qa"),
        ("aude", "auditor"),
        ("admin", "admin"),
        ("cora", "courier"),
    ):
        api.add_user(name, role)
    return {name: api.headers(name) for name in ("lena", "leo", "quinn", "aude", "admin", "cora")}


def test_registering_a_key_appends_a_signed_entry(api: Api, people: People) -> None:
    pair, key = register(api, "lena", people["lena"])
    assert key["key_id"] == pair.key_id and key["user"] == "lena"
    entry = api.client.get(f"/log/entries/{key['registered_index']}", headers=people["aude"])
    assert entry.status_code == 200
    raw = base64.b64decode(entry.json()["entry"])
    parsed = parse_entry(raw)
    assert parsed.type == "key.registered"
    assert parsed.what["user"] == "lena"
    assert entry.json()["leaf_hash"] == merkle.leaf_hash(raw).hex()


def test_a_key_without_a_valid_proof_of_possession_is_refused(api: Api, people: People) -> None:
    pair = ActorKeyPair.generate("lena")
    wrong_user = pair.sign(pop_message(pair.key_id, api.settings.origin, "leo"))
    body = {
        "public_key": base64.b64encode(pair.public_key).decode(),
        "label": "phone",
        "pop": base64.b64encode(wrong_user).decode(),
    }
    response = api.client.post("/keys", headers=people["lena"], json=body)
    assert response.status_code == 422
    assert response.json()["field"] == "pop"
    bad = api.client.post("/keys", headers=people["lena"], json=body | {"public_key": "abc"})
    assert bad.status_code == 422
    assert bad.json()["field"] == "public_key"
    assert api.client.get("/keys", headers=people["lena"]).json() == []


def test_a_key_is_registered_once(api: Api, people: People) -> None:
    pair, _ = register(api, "lena", people["lena"])
    pop = pair.sign(pop_message(pair.key_id, api.settings.origin, "lena"))
    again = api.client.post(
        "/keys",
        headers=people["lena"],
        json={
            "public_key": base64.b64encode(pair.public_key).decode(),
            "label": "again",
            "pop": base64.b64encode(pop).decode(),
        },
    )
    assert again.status_code == 409


def test_only_the_owner_or_an_admin_revokes_a_key(api: Api, people: People) -> None:
    pair, _ = register(api, "lena", people["lena"])
    url = f"/keys/{pair.key_id}/revoke"
    assert api.client.post(url, headers=people["leo"], json={"reason": "x"}).status_code == 403
    done = api.client.post(url, headers=people["lena"], json={"reason": "phone lost"})
    assert done.status_code == 200
    assert done.json()["revocation_reason"] == "phone lost"
    assert done.json()["revoked_index"] > done.json()["registered_index"]
    assert api.client.post(url, headers=people["admin"], json={"reason": "x"}).status_code == 409


def test_listing_keys_is_limited_to_your_own_unless_admin_or_auditor(
    api: Api, people: People
) -> None:
    register(api, "lena", people["lena"])
    assert (
        api.client.get("/keys", headers=people["leo"], params={"user": "lena"}).status_code == 403
    )
    for reader in ("admin", "aude"):
        listed = api.client.get("/keys", headers=people[reader], params={"user": "lena"})
        assert [k["user"] for k in listed.json()] == ["lena"]


def test_checkpoints_are_signed_notes_verifiable_with_the_log_key(api: Api, people: People) -> None:
    assert api.client.get("/log/checkpoint").status_code == 404
    register(api, "lena", people["lena"])
    issued = api.client.post("/log/checkpoint", headers=people["quinn"])
    assert issued.status_code == 200
    served = api.client.get("/log/checkpoint")
    assert served.headers["content-type"].startswith("text/plain")
    assert served.text == issued.text
    verifier = parse_verifier_key(api.client.get("/log/key").text.strip())
    checkpoint = verify_checkpoint(served.text.encode(), verifier)
    assert checkpoint.origin == api.settings.origin
    assert checkpoint.size == 2  # the service key's registration, then lena's
    assert api.client.post("/log/checkpoint", headers=people["lena"]).status_code == 403


def test_inclusion_and_consistency_proofs_verify(api: Api, people: People) -> None:
    for name in ("lena", "leo", "quinn"):
        register(api, name, people[name])
    first = verify_checkpoint(
        api.client.post("/log/checkpoint", headers=people["quinn"]).text.encode(),
        parse_verifier_key(api.client.get("/log/key").text.strip()),
    )
    register(api, "aude", people["aude"])
    register(api, "admin", people["admin"])
    second = verify_checkpoint(
        api.client.post("/log/checkpoint", headers=people["quinn"]).text.encode(),
        parse_verifier_key(api.client.get("/log/key").text.strip()),
    )
    for index in range(second.size):
        proof = api.client.get(
            "/log/proof/inclusion", params={"index": index, "size": second.size}
        ).json()
        merkle.verify_inclusion(
            bytes.fromhex(proof["leaf_hash"]),
            index,
            second.size,
            [bytes.fromhex(h) for h in proof["proof"]],
            second.root_hash,
        )
    consistency = api.client.get(
        "/log/proof/consistency", params={"from": first.size, "to": second.size}
    ).json()
    merkle.verify_consistency(
        first.size,
        second.size,
        [bytes.fromhex(h) for h in consistency["proof"]],
        first.root_hash,
        second.root_hash,
    )


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/log/proof/inclusion", {"index": 0, "size": 99}, "size"),
        ("/log/proof/inclusion", {"index": 5, "size": 2}, "index"),
        ("/log/proof/inclusion", {"index": -1, "size": 2}, "index"),
        ("/log/proof/consistency", {"from": 2, "to": 1}, "from"),
        ("/log/proof/consistency", {"from": 1, "to": 99}, "to"),
        ("/log/proof/consistency", {"from": 0, "to": 2}, "from"),
        ("/log/proof/inclusion", {"index": 0, "size": 2**63}, "size"),
    ],
)
def test_bad_proof_requests_are_422_naming_the_parameter(
    api: Api, people: People, path: str, params: dict[str, int], field: str
) -> None:
    register(api, "lena", people["lena"])
    response = api.client.get(path, params=params)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


def test_a_subjects_history_comes_with_proofs_against_one_checkpoint(
    api: Api, people: People
) -> None:
    pair, key = register(api, "lena", people["lena"])
    subject = f"urn:trace:key:{pair.key_id}"
    api.client.post(
        f"/keys/{pair.key_id}/revoke", headers=people["lena"], json={"reason": "rotating"}
    )
    history = api.client.get(
        "/log/history", headers=people["aude"], params={"subject": subject}
    ).json()
    verifier = parse_verifier_key(api.client.get("/log/key").text.strip())
    checkpoint = verify_checkpoint(history["checkpoint"].encode(), verifier)
    assert [e["body"]["type"] for e in history["entries"]] == ["key.registered", "key.revoked"]
    for item in history["entries"]:
        raw = base64.b64decode(item["entry"])
        merkle.verify_inclusion(
            merkle.leaf_hash(raw),
            item["index"],
            checkpoint.size,
            [bytes.fromhex(h) for h in item["proof"]],
            checkpoint.root_hash,
        )
    head = api.client.get(
        "/log/subject-head", headers=people["cora"], params={"subject": subject}
    ).json()
    assert head["next_seq"] == 2
    assert head["prev"] == history["entries"][-1]["leaf_hash"]


def test_control_characters_in_a_subject_are_refused(api: Api, people: People) -> None:
    response = api.client.get(
        "/log/history", headers=people["aude"], params={"subject": "urn:x\x00y"}
    )
    assert response.status_code == 422
    assert response.json()["field"] == "subject"


def test_the_log_page_shows_the_checkpoint_and_entries(api: Api, people: People) -> None:
    register(api, "lena", people["lena"])
    api.client.post("/log/checkpoint", headers=people["quinn"])
    page = api.client.get("/ui/log", headers=people["quinn"] | HTML)
    assert page.status_code == 200
    assert "Latest signed checkpoint" in page.text
    assert api.settings.origin in page.text
    assert "key.registered" in page.text
    assert api.client.get("/ui/log", headers=people["cora"] | HTML).status_code == 403


def test_an_entry_index_beyond_the_format_is_a_422(api: Api, people: People) -> None:
    response = api.client.get(f"/log/entries/{2**63}", headers=people["aude"])
    assert response.status_code == 422
    assert response.json()["field"] == "index"
    assert api.client.get("/log/entries/5", headers=people["aude"]).status_code == 404


def test_qa_signs_a_checkpoint_from_the_log_page(api: Api, people: People) -> None:
    import re

    api.add_user("qa2", "qa")
    response = api.client.post(
        "/sign-in",
        data={"username": "qa2", "password": "correct-horse-battery"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    page = api.client.get("/ui/log", headers=HTML)
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert token and "Sign a checkpoint now" in page.text
    signed = api.client.post(
        "/ui/log/checkpoint", data={"csrf_token": token.group(1)}, follow_redirects=False
    )
    assert signed.status_code == 303
    assert api.client.get("/log/checkpoint").status_code == 200
