"""Custody handoffs: permitted sequences only, two parties, one custodian, no replays."""

from __future__ import annotations

import base64
import re
import threading
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.custody_flow import LOT, STORE_AT, World, make_world
from tests.signing import Signer
from tests.support import Api, assert_reconciled, local_client
from traceability.custody_log.statements import Statement, when_text
from traceability.custody_log.verify_log import verify_log


@pytest.fixture
def world(api: Api) -> World:
    return make_world(api)


def test_a_vial_travels_from_the_lab_to_the_clinic_with_both_parties_signing(world: World) -> None:
    w, vial = world, world.vial()
    assert w.state(vial) == "quarantine"
    stored = w.store(w.lena, vial, rack="R1", box="B2", position="A3")
    assert stored.status_code == 201, stored.text
    assert stored.json()["state"] == "in storage" and stored.json()["custodian"] == "site:LAB1"
    offered = w.offer(w.lena, vial, "user:cora")
    assert offered.status_code == 201, offered.text
    # Offered is not handed over: the lab still holds the vial until cora signs.
    assert offered.json()["custodian"] == "site:LAB1"
    accepted = w.accept(w.cora, vial, offered.json()["handoff"])
    assert accepted.status_code == 201, accepted.text
    assert (
        accepted.json()["state"] == "with courier" and accepted.json()["custodian"] == "user:cora"
    )
    dispatched = w.step(w.cora, "/custody/dispatch", "custody.dispatched", vial)
    assert dispatched.status_code == 201 and dispatched.json()["state"] == "in transit"
    w.hand(w.cora, w.nora, vial, "site:CLINIC1")
    received = w.receive(w.nora, vial)
    assert received.status_code == 201 and received.json()["state"] == "received"
    restored = w.store(w.nora, vial, site="CLINIC1")
    assert restored.status_code == 201 and restored.json()["custodian"] == "site:CLINIC1"
    report = verify_log(w.api.db, w.api.app.state.context.log.keys.log.verifier())
    assert report.ok, report.findings


def test_a_vial_not_released_says_so_wherever_it_travels(world: World) -> None:
    """Once a vial leaves storage its status says where it is ("in transit",
    "received"); the batch's disposition must stay in sight at the clinic."""
    w, vial = world, world.vial()
    path = urlsplit(vial).path
    w.store(w.lena, vial)
    w.hand(w.lena, w.cora, vial, "user:cora")
    carried = w.api.client.get("/ui/custody", headers=w.cora.headers | HTML).text
    assert "quarantine: not released" in carried
    w.hand(w.cora, w.nora, vial, "site:CLINIC1")
    received = w.receive(w.nora, vial)
    assert received.status_code == 201
    public = w.api.client.get(path, headers={"accept": "application/json"}).json()
    assert (public["status"], public["disposition"], public["released"]) == (
        "received",
        "quarantine",
        False,
    )
    page = w.api.client.get(path, headers=HTML).text
    assert f"Not released: batch {LOT} is <strong>quarantine</strong>" in page
    # Times read as on every other page: UTC, machine-readable in the markup.
    assert re.search(
        r'<time datetime="[0-9T:.-]+Z" data-utc>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</time>', page
    )
    mine = w.api.client.get("/custody/mine", headers=w.nora.headers).json()
    assert [(h["serial"], h["disposition"]) for h in mine["holding"]] == [("0001", "quarantine")]


def test_steps_out_of_sequence_are_refused_naming_the_current_state(world: World) -> None:
    w, vial = world, world.vial()
    early = w.step(w.cora, "/custody/dispatch", "custody.dispatched", vial)
    assert early.status_code == 409 and "commissioned" in early.json()["detail"]
    received = w.receive(w.lena, vial)
    assert received.status_code == 409 and "commissioned" in received.json()["detail"]
    w.store(w.lena, vial)
    to_site = w.offer(w.lena, vial, "site:CLINIC1")
    assert to_site.status_code == 409 and "in storage" in to_site.json()["detail"]
    w.hand(w.lena, w.cora, vial, "user:cora")
    store_now = w.store(w.lena, vial)
    assert store_now.status_code == 409 and "with courier" in store_now.json()["detail"]
    w.hand(w.cora, w.nora, vial, "site:CLINIC1")
    administer = w.step(w.nora, "/custody/administer", "custody.administered", w.vial())
    assert administer.status_code == 409 and "delivered" in administer.json()["detail"]


def test_only_the_custodian_hands_over_and_only_the_named_party_accepts(world: World) -> None:
    w, vial = world, world.vial()
    w.store(w.lena, vial)
    not_mine = w.offer(w.cora, vial, "user:cora")
    assert not_mine.status_code == 403 and "site:LAB1" in not_mine.json()["detail"]
    offered = w.offer(w.lena, vial, "user:cora").json()
    wrong_taker = w.accept(w.cody, vial, offered["handoff"])
    assert wrong_taker.status_code == 403
    second = w.offer(w.lena, vial, "user:cody")
    assert second.status_code == 409 and "open until" in second.json()["detail"]
    assert w.accept(w.cora, vial, offered["handoff"]).status_code == 201
    again = w.accept(w.cora, vial, offered["handoff"])
    assert again.status_code == 409


def test_an_open_handoff_expires(world: World) -> None:
    w, vial = world, world.vial()
    w.store(w.lena, vial)
    offered = w.offer(w.lena, vial, "user:cora").json()
    w.api.clock.advance(minutes=30)
    late = w.accept(w.cora, vial, offered["handoff"])
    assert late.status_code == 409 and "expired" in late.json()["detail"]
    assert w.offer(w.lena, vial, "user:cody").status_code == 201  # a new one may be offered


def test_a_replayed_signed_request_is_refused(world: World) -> None:
    w, vial = world, world.vial()
    body = w.lena.body(
        "custody.stored",
        vial,
        STORE_AT | {"nonce": "n" * 20},
    )
    first = w.api.client.post("/custody/store", headers=w.lena.headers, json=body)
    assert first.status_code == 201
    replay = w.api.client.post("/custody/store", headers=w.lena.headers, json=body)
    assert replay.status_code == 409
    # Re-signed against the new head but with the same nonce: still a replay.
    again = w.lena.body(
        "custody.stored",
        vial,
        STORE_AT | {"nonce": "n" * 20},
    )
    resent = w.api.client.post("/custody/store", headers=w.lena.headers, json=again)
    assert resent.status_code == 409 and "replay" in resent.json()["detail"]


@pytest.mark.parametrize(
    ("offset", "refused"),
    [
        (timedelta(days=-2000), True),  # backdated
        (timedelta(minutes=-20), True),
        (timedelta(minutes=-10), False),  # a slow network
        (timedelta(minutes=3), False),  # a device clock a little fast
        (timedelta(minutes=10), True),
        (timedelta(days=1500), True),  # dated ahead
    ],
)
def test_a_signed_time_far_from_the_servers_clock_is_refused(
    world: World, offset: timedelta, refused: bool
) -> None:
    w, vial = world, world.vial()
    head = w.api.client.get(
        "/log/subject-head", headers=w.lena.headers, params={"subject": vial}
    ).json()
    statement = Statement(
        log=w.api.settings.origin,
        subject=vial,
        subject_seq=head["next_seq"],
        subject_prev=bytes.fromhex(head["prev"]) if head["prev"] else None,
        type="custody.stored",
        when=when_text(w.api.clock() + offset),
        key=w.lena.pair.key_id,
        actor="lena",
        what=STORE_AT | {"nonce": "t" * 20},
    )
    body = {
        "statement": statement.to_json(),
        "signature": base64.b64encode(w.lena.pair.sign(statement.signed_message())).decode(),
    }
    response = w.api.client.post("/custody/store", headers=w.lena.headers, json=body)
    if refused:
        assert response.status_code == 422, response.text
        assert response.json()["field"] == "statement.when"
        assert "server's clock" in response.json()["detail"]
        assert (
            w.api.client.get(
                "/log/subject-head", headers=w.lena.headers, params={"subject": vial}
            ).json()
            == head
        )  # nothing stored
    else:
        assert response.status_code == 201, response.text


def test_an_idempotency_key_makes_a_retry_safe(world: World) -> None:
    w, vial = world, world.vial()
    key = {"Idempotency-Key": "store-0001-attempt"}
    body = w.lena.body(
        "custody.stored",
        vial,
        STORE_AT | {"nonce": "k" * 20},
    )
    first = w.api.client.post("/custody/store", headers=w.lena.headers | key, json=body)
    retry = w.api.client.post("/custody/store", headers=w.lena.headers | key, json=body)
    assert first.status_code == retry.status_code == 201
    assert first.json() == retry.json()
    other = w.lena.body(
        "custody.stored",
        vial,
        STORE_AT | {"nonce": "m" * 20},
    )
    clash = w.api.client.post("/custody/store", headers=w.lena.headers | key, json=other)
    assert clash.status_code == 422 and clash.json()["field"] == "Idempotency-Key"


def test_a_retry_sent_while_the_first_attempt_runs_gets_its_answer(world: World) -> None:
    """A phone on a bad network resends before the first answer arrives: same answer."""
    w, vial = world, world.vial()
    key = {"Idempotency-Key": "store-0002-attempt"}
    body = w.lena.body(
        "custody.stored",
        vial,
        STORE_AT | {"nonce": "r" * 20},
    )
    answers: list[httpx.Response] = []

    def send() -> None:
        with local_client(str(w.api.client.base_url)) as client:
            answers.append(client.post("/custody/store", headers=w.lena.headers | key, json=body))

    senders = [threading.Thread(target=send) for _ in range(2)]
    with w.api.db.write() as session:
        w.api.app.state.context.log.lock(session)  # both attempts queue behind this
        for sender in senders:
            sender.start()
        time.sleep(1.0)
    for sender in senders:
        sender.join()
    assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
    assert answers[0].json() == answers[1].json()
    head = w.api.client.get(
        "/log/subject-head", params={"subject": vial}, headers=w.lena.headers
    ).json()
    assert head["next_seq"] == body["statement"]["subject_seq"] + 1  # appended once


def test_a_voided_label_or_someone_elses_vial_is_flagged_never_accepted(world: World) -> None:
    w, vial = world, world.vial()
    issued = w.lena.post(
        "/batches/UC26-001/labels", "labels.issued", vial.rsplit("/21/", 1)[0], {}
    ).json()["labels"]
    old_tag = issued[0]["uri"].split("&s=")[1]
    reissued = w.lena.post(
        "/batches/UC26-001/labels/reissue",
        "labels.reissued",
        vial.rsplit("/21/", 1)[0],
        {"serials": ["0001"], "reason": "smudged"},
    )
    assert reissued.status_code == 201
    w.store(w.lena, vial)
    voided = w.offer(w.lena, vial, "user:cora", tag=old_tag)
    assert voided.status_code == 409 and "voided" in voided.json()["detail"]
    grab = w.offer(w.cora, vial, "user:cody")
    assert grab.status_code == 403
    scans = w.api.client.get(
        "/01/09521234543213/10/UC26-001/21/0001",
        headers=w.quinn.headers | {"accept": "text/html"},
    ).text
    assert "Flagged scans" in scans and "voided" in scans and "in other custody" in scans


def make_shipper(w: World, site: str = "LAB1") -> dict[str, object]:
    consignee = "LAB1" if site == "CLINIC1" else "CLINIC1"
    made = w.api.client.post(
        "/shippers", headers=w.lena.headers, json={"site": site, "consignee": consignee}
    )
    assert made.status_code == 201, made.text
    shipper: dict[str, object] = made.json()
    return shipper


def test_packing_moves_a_shippers_vials_together(world: World) -> None:
    w = world
    vials = [w.vial(s) for s in ("0001", "0002", "0003")]
    for vial in vials:
        assert w.store(w.lena, vial).status_code == 201
    shipper = make_shipper(w)
    uri = str(shipper["uri"])
    assert uri.startswith(f"{w.api.settings.resolver_base}/00/")
    packed = w.step(w.lena, "/custody/pack", "custody.packed", uri, vials=vials[:2])
    assert packed.status_code == 201, packed.text
    assert packed.json()["vials"] == 2 and packed.json()["state"] == "packed"
    # A packed vial moves only with its shipper.
    alone = w.offer(w.lena, vials[0], "user:cora")
    assert alone.status_code == 409 and "hand over the shipper" in alone.json()["detail"]
    w.hand(w.lena, w.cora, uri, "user:cora")
    w.hand(w.cora, w.nora, uri, "site:CLINIC1")
    received = w.step(
        w.nora,
        "/custody/receive",
        "custody.received",
        uri,
        seal_intact=False,
        damaged=False,
        logger_attached=True,
    )
    assert received.status_code == 422 and received.json()["field"] == "statement.what.notes"
    received = w.step(
        w.nora,
        "/custody/receive",
        "custody.received",
        uri,
        seal_intact=False,
        damaged=False,
        logger_attached=True,
        notes="Seal tag missing",
    )
    assert received.status_code == 201 and received.json()["vials"] == 2
    clinic = w.api.client.get("/custody/mine", headers=w.nora.headers).json()
    held = {h["uri"]: h for h in clinic["holding"]}
    assert set(held) == set(vials[:2])
    assert {h["state"] for h in held.values()} == {"received"}
    assert {h["shipper"] for h in held.values()} == {shipper["sscc"]}
    # The third vial never left the lab.
    lab = w.api.client.get("/custody/mine", headers=w.lena.headers).json()
    assert [h["uri"] for h in lab["holding"]] == [vials[2]]
    # Each vial's own chain in the log shows every move, signed by the service.
    history = w.api.client.get(
        "/log/history", params={"subject": vials[0]}, headers=w.quinn.headers
    ).json()
    types = [e["body"]["type"] if "body" in e else e["type"] for e in history["entries"]]
    assert types[-4:] == [  # <subject>.<past participle> (statement_kinds)
        "custody.packed",
        "custody.handed_to_courier",
        "custody.handed_to_site",
        "custody.received",
    ], types
    report = verify_log(w.api.db, w.api.app.state.context.log.keys.log.verifier())
    assert report.ok, report.findings
    assert_reconciled(w.api)


def test_only_released_vials_are_administered_and_destroying_needs_a_reason(
    world: World,
) -> None:
    w, vial = world, world.vial()
    w.store(w.lena, vial)
    quarantined = w.step(w.lena, "/custody/administer", "custody.administered", vial)
    assert quarantined.status_code == 409 and "quarantine" in quarantined.json()["detail"]
    no_reason = w.step(w.lena, "/custody/destroy", "custody.destroyed", vial)
    assert no_reason.status_code == 422 and no_reason.json()["field"] == "statement.what.reason"
    destroyed = w.step(
        w.lena, "/custody/destroy", "custody.destroyed", vial, reason="Vial cracked on thaw"
    )
    assert destroyed.status_code == 201 and destroyed.json()["custodian"] is None
    after = w.store(w.lena, vial)
    assert after.status_code == 409 and "destroyed" in after.json()["detail"]
    assert w.state(vial) == "destroyed"
    # The vial's page says where, when and by whom, not "held by nobody yet".
    page = w.api.client.get(
        urlsplit(vial).path, headers=w.lena.headers | {"accept": "text/html"}
    ).text
    when = w.api.clock().strftime("%Y-%m-%d %H:%M")
    assert f"destroyed at LAB1 (LAB1), {when} UTC, by Lena Tester" in page
    assert "nobody yet" not in page
    assert_reconciled(w.api)


def test_bad_custody_requests_name_the_field(world: World) -> None:
    w, vial = world, world.vial()
    no_nonce = w.api.client.post(
        "/custody/store",
        headers=w.lena.headers,
        json=w.lena.body(
            "custody.stored",
            vial,
            dict(STORE_AT),
        ),
    )
    assert no_nonce.status_code == 422 and no_nonce.json()["field"] == "statement.what.nonce"
    no_unit = w.store(w.lena, vial, unit="FREEZER-9")
    assert no_unit.status_code == 422
    for place, bad in (
        ("rack", ""),
        ("box", None),
        ("position", "A1;drop"),
        ("position", "x" * 33),
    ):
        where = {"rack": "R1", "box": "B1", "position": "A1", place: bad}
        refused = w.store(w.lena, vial, **where)
        assert refused.status_code == 422, (place, bad, refused.text)
        assert refused.json()["field"] == f"statement.what.{place}"
    other_site = w.store(w.nora, vial, site="LAB1")
    assert other_site.status_code == 403
    w.store(w.lena, vial)
    bad_party = w.offer(w.lena, vial, "nobody")
    assert bad_party.status_code == 422 and bad_party.json()["field"] == "statement.what.to"
    not_courier = w.offer(w.lena, vial, "user:quinn")
    assert not_courier.status_code == 422
    unknown = w.store(w.lena, w.vial("9999"))
    assert unknown.status_code == 404


HTML = {"accept": "text/html"}


def test_a_storage_position_holds_one_vial_at_a_time(world: World) -> None:
    w = world
    slot = {"rack": "R1", "box": "B2", "position": "A3"}
    assert w.store(w.lena, w.vial("0001"), **slot).status_code == 201

    def subject_head(serial: str) -> object:
        return w.api.client.get(
            "/log/subject-head", params={"subject": w.vial(serial)}, headers=w.lena.headers
        ).json()

    before = subject_head("0002"), w.state(w.vial("0002"))
    taken = w.store(w.lena, w.vial("0002"), **slot)
    assert taken.status_code == 409
    assert "LAB1 LN2-A, rack R1, box B2, position A3 already holds vial" in taken.json()["detail"]
    assert w.vial("0001") in taken.json()["detail"]
    assert (subject_head("0002"), w.state(w.vial("0002"))) == before
    # One place has one spelling up to letter case and spaces around it.
    for same in ({"position": "a3"}, {"rack": " r1 "}, {"box": "b2"}):
        assert w.store(w.lena, w.vial("0002"), **slot | same).status_code == 409, same
    # The same position in another box is free.
    assert w.store(w.lena, w.vial("0002"), **slot | {"box": "B3"}).status_code == 201
    assert w.store(w.lena, w.vial("0003"), rack="R1", box="B2", position="C1").status_code == 201
    # Storing a vial again where it already is is no clash with itself.
    assert w.store(w.lena, w.vial("0001"), **slot).status_code == 201
    # A slot is free again once its vial has left it.
    assert w.store(w.lena, w.vial("0003"), **slot).status_code == 409
    assert w.store(w.lena, w.vial("0001"), **slot | {"position": "A4"}).status_code == 201
    assert w.store(w.lena, w.vial("0003"), **slot).status_code == 201
    w.hand(w.lena, w.cora, w.vial("0003"), "user:cora")
    assert w.store(w.lena, w.vial("0001"), **slot).status_code == 201


def test_the_custody_pages_show_holdings_arrivals_and_the_storage_map(world: World) -> None:
    w = world
    w.store(w.lena, w.vial("0001"), rack="R1", box="B2", position="A3")
    w.store(w.lena, w.vial("0002"), rack="R1", box="B2", position="A4")
    w.hand(w.lena, w.cora, w.vial("0002"), "user:cora")
    assert w.offer(w.cora, w.vial("0002"), "site:CLINIC1").status_code == 201
    mine = w.api.client.get("/ui/custody", headers=w.cora.headers | HTML)
    assert mine.status_code == 200
    assert "with courier" in mine.text and ">0002</a>" in mine.text and ">0001</a>" not in mine.text
    lab = w.api.client.get("/ui/sites/LAB1", headers=w.lena.headers | HTML).text
    assert '<td data-label="Position">A3</td>' in lab and ">0002</a>" not in lab
    clinic = w.api.client.get("/ui/sites/CLINIC1", headers=w.nora.headers | HTML).text
    assert "offered by cora" in clinic
    # Named as people call it, not by its URI.
    assert f'#custody">{LOT} / vial 0002</a> offered by cora' in clinic
    assert w.api.client.get("/ui/sites/NOPE", headers=w.nora.headers | HTML).status_code == 404
    assert w.api.client.get("/ui/custody", headers=w.api.headers("admin") | HTML).status_code == 403


def test_a_shippers_label_opens_its_page_with_the_custody_actions(world: World) -> None:
    w = world
    for serial in ("0001", "0002"):
        w.store(w.lena, w.vial(serial))
    shipper = make_shipper(w)
    uri = str(shipper["uri"])
    path = "/00/" + str(shipper["sscc"])
    w.step(w.lena, "/custody/pack", "custody.packed", uri, vials=[w.vial("0001"), w.vial("0002")])
    public = w.api.client.get(path, headers={"accept": "application/json"}).json()
    assert public == {"sscc": shipper["sscc"], "uri": uri, "state": "packed", "vials": 2}
    page = w.api.client.get(path, headers=w.lena.headers | HTML).text
    assert 'data-type="custody.handover.offered"' in page and f'data-subject="{uri}"' in page
    assert "UC26-001 / 0002" in page
    assert w.api.client.get("/00/009521230000009999", headers=HTML).status_code == 404


def test_a_cloned_label_is_refused_at_handoff(world: World) -> None:
    w, vial = world, world.vial()
    batch = vial.rsplit("/21/", 1)[0]
    labels = w.lena.post("/batches/UC26-001/labels", "labels.issued", batch, {}).json()["labels"]
    other_vials_tag = labels[1]["uri"].split("&s=")[1]  # vial 0002's label on vial 0001
    w.store(w.lena, vial)
    cloned = w.offer(w.lena, vial, "user:cora", tag=other_vials_tag)
    assert cloned.status_code == 409 and "does not match this vial" in cloned.json()["detail"]
    forged = w.offer(w.lena, vial, "user:cora", tag="AAAAAAAAAAAAAAAA")
    assert forged.status_code == 409 and "never issued" in forged.json()["detail"]
    genuine = w.offer(w.lena, vial, "user:cora", tag=labels[0]["uri"].split("&s=")[1])
    assert genuine.status_code == 201


def test_couriers_see_custody_but_not_the_batch_record(world: World) -> None:
    w, vial = world, world.vial()
    w.store(w.lena, vial)
    w.offer(w.lena, vial, "user:cora")
    path = "/" + vial.split("/", 3)[3]
    as_courier = w.api.client.get(path, headers=w.cora.headers | {"accept": "application/json"})
    staff = as_courier.json()["staff"]
    assert staff["donor_code"] is None and staff["batch_record"] is None
    as_lab = w.api.client.get(path, headers=w.lena.headers | {"accept": "application/json"})
    assert as_lab.json()["staff"]["donor_code"] == "D-7F3A"


def test_what_is_offered_is_frozen_until_the_handoff_completes(world: World) -> None:
    w = world
    vials = [w.vial(s) for s in ("0001", "0002", "0003")]
    for vial in vials:
        w.store(w.lena, vial)
    shipper = str(make_shipper(w)["uri"])
    w.step(w.lena, "/custody/pack", "custody.packed", shipper, vials=vials[:2])
    assert w.offer(w.lena, shipper, "user:cora").status_code == 201
    unpack = w.store(w.lena, vials[0])
    assert unpack.status_code == 409 and "open until" in unpack.json()["detail"]
    # A vial offered on its own cannot be packed away while the offer is open.
    assert w.offer(w.lena, vials[2], "user:cody").status_code == 201
    other = str(make_shipper(w)["uri"])
    packed = w.step(w.lena, "/custody/pack", "custody.packed", other, vials=[vials[2]])
    assert packed.status_code == 409


def test_a_handoff_needs_two_people(world: World) -> None:
    w, vial = world, world.vial()
    w.store(w.lena, vial)
    # lars works in the lab and also carries: he may not offer to himself...
    lars = Signer.register(w.api, "lars", "lab", "courier")
    assert (
        w.api.client.post(
            "/sites/LAB1/members", headers=w.admin, json={"username": "lars"}
        ).status_code
        == 201
    )
    to_self = w.offer(lars, vial, "user:lars")
    assert to_self.status_code == 422 and to_self.json()["field"] == "statement.what.to"
    # ...nor accept, as a courier, what his own site offered.
    offered = w.offer(w.lena, vial, "user:lars").json()
    taken = w.accept(lars, vial, offered["handoff"])
    assert taken.status_code == 403 and "second person" in taken.json()["detail"]


def test_a_shipper_is_packed_only_where_it_is(world: World) -> None:
    w = world
    w.store(w.lena, w.vial("0001"))
    made = w.api.client.post(
        "/shippers", headers=w.nora.headers, json={"site": "CLINIC1", "consignee": "LAB1"}
    )
    assert made.status_code == 201
    packed = w.step(
        w.lena, "/custody/pack", "custody.packed", made.json()["uri"], vials=[w.vial("0001")]
    )
    assert packed.status_code == 409 and "CLINIC1" in packed.json()["detail"]


def test_a_shipper_step_answers_with_the_persons_own_entry(world: World) -> None:
    w = world
    for serial in ("0001", "0002"):
        w.store(w.lena, w.vial(serial))
    shipper = str(make_shipper(w)["uri"])
    packed = w.step(
        w.lena, "/custody/pack", "custody.packed", shipper, vials=[w.vial("0001"), w.vial("0002")]
    ).json()
    entry = w.api.client.get(f"/log/entries/{packed['log_index']}", headers=w.quinn.headers)
    assert entry.json()["body"]["actor"] == "lena" and entry.json()["body"]["subject"] == shipper


def test_a_statement_changed_after_signing_is_refused_and_nothing_is_appended(
    world: World,
) -> None:
    """The signature is checked before the step joins the write queue (the key is known
    by then): a statement changed after signing is refused, naming the signature."""
    w, vial = world, world.vial()
    first_use = w.lena.body(
        "custody.stored",
        vial,
        dict(STORE_AT),
    )
    first_use["statement"]["what"]["rack"] = "R9"  # changed after signing
    refused = w.api.client.post("/custody/store", headers=w.lena.headers, json=first_use)
    assert refused.status_code == 422 and refused.json()["field"] == "signature"
    assert w.store(w.lena, vial).status_code == 201
    head = w.api.client.get(
        "/log/subject-head", params={"subject": vial}, headers=w.lena.headers
    ).json()
    offer = w.lena.body("custody.handover.offered", vial, {"to": "user:cora"})
    offer["statement"]["what"]["to"] = "user:rami"  # changed after signing
    refused = w.api.client.post("/custody/handoffs", headers=w.lena.headers, json=offer)
    assert refused.status_code == 422 and refused.json()["field"] == "signature"
    after = w.api.client.get(
        "/log/subject-head", params={"subject": vial}, headers=w.lena.headers
    ).json()
    assert after == head


def test_the_handover_form_offers_the_likeliest_recipient_first_by_name(world: World) -> None:
    """From a site the vial goes to a courier; a courier brings it to a site: that is the
    form's first choice, and each is named as people know it, not by its internal code."""
    w, vial = world, world.vial()
    w.store(w.lena, vial)
    html = {"accept": "text/html"}

    def choices(who: Any) -> list[tuple[str, str]]:
        page = w.api.client.get(urlsplit(vial).path, headers=who.headers | html).text
        form = page.split('<select name="to">')[1].split("</select>")[0]
        return re.findall(r'<option value="([^"]+)">([^<]+)</option>', form)

    at_lab = choices(w.lena)
    assert at_lab[0] == ("user:cody", "Cody Tester (courier, cody)")
    assert all(party.startswith("user:") for party, _ in at_lab)
    w.hand(w.lena, w.cora, vial, "user:cora")
    carried = choices(w.cora)
    assert carried[0][0].startswith("site:") and ("site:CLINIC1", "CLINIC1 (CLINIC1)") in carried
    assert "user:cora" not in dict(carried)  # not to herself
