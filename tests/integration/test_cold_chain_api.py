"""Cold chain over HTTP: logger uploads, excursions logged on the vials that were there,
bad files refused whole, and QA closing excursions with a signed assessment."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlmodel import func, select

from tests.custody_flow import LOT, World, make_world
from tests.signing import Signer
from tests.support import Api, assert_reconciled
from traceability.clock import rfc3339
from traceability.custody_log.verify_log import verify_log
from traceability.services import cold_chain
from traceability.storage.models import (
    Batch,
    Excursion,
    ExcursionClosure,
    ExcursionVial,
    LogEntryRow,
    TemperatureUpload,
    Vial,
)

UNIT_URL = "/sites/LAB1/units/LN2-A/temperatures"
CSV = {"content-type": "text/csv"}
HEADER = "time,temperature (°C)"


@pytest.fixture
def world(api: Api) -> World:
    w = make_world(api)
    unit = {
        "code": "LN2-B",
        "name": "LN2 vapour tank B",
        "max_celsius": "-150",
        "allowed_excursion_minutes": 10,
    }
    made = api.client.post("/sites/LAB1/units", headers=w.admin, json=unit)
    assert made.status_code == 201, made.text
    return w


def advance(w: World, **delta: float) -> None:
    """Move the clock, and sign everyone in again: a token lives an hour."""
    w.api.clock.advance(**delta)
    for signer in (w.lena, w.nora, w.cora, w.cody, w.quinn):
        signer.headers = w.api.headers(signer.username)


def logger_csv(start: datetime, points: list[tuple[float, str]]) -> str:
    """A logger export: (minutes after `start`, degC) per line."""
    rows = [f"{rfc3339(start + timedelta(minutes=m))},{celsius}" for m, celsius in points]
    return "\n".join([HEADER, *rows]) + "\n"


def every_minute(first: int, last: int, celsius: str) -> list[tuple[float, str]]:
    return [(m, celsius) for m in range(first, last + 1)]


def upload(w: World, content: str, url: str = UNIT_URL, who: Any = None) -> Any:
    headers = (who or w.lena).headers | CSV
    return w.api.client.post(url, headers=headers, content=content.encode())


def entry(w: World, index: int) -> dict[str, Any]:
    found = w.api.client.get(f"/log/entries/{index}", headers=w.quinn.headers)
    assert found.status_code == 200, found.text
    body: dict[str, Any] = found.json()["body"]
    return body


def excursion_entries(w: World, vial: str) -> list[dict[str, Any]]:
    history = w.api.client.get("/log/history", headers=w.quinn.headers, params={"subject": vial})
    assert history.status_code == 200, history.text
    return [
        e["body"]
        for e in history.json()["entries"]
        if e["body"]["type"] == "coldchain.excursion.detected"
    ]


def counts(api: Api) -> dict[str, int]:
    with api.db.read() as session:
        return {
            table.__name__: session.exec(select(func.count()).select_from(table)).one()
            for table in (LogEntryRow, TemperatureUpload, Excursion, ExcursionVial)
        }


def assert_log_verifies(api: Api) -> None:
    """The log verifies, and every table agrees with it."""
    report = verify_log(api.db, api.app.state.context.log.keys.log.verifier())
    assert report.ok, report.findings
    assert_reconciled(api)


def batch_and_vials(api: Api) -> tuple[Batch, dict[str, Vial]]:
    with api.db.read() as session:
        batch = session.exec(select(Batch).where(Batch.lot == LOT)).one()
        vials = session.exec(select(Vial).where(Vial.batch_id == batch.id)).all()
        return batch, {v.serial: v for v in vials}


# --- limits, end to end through the upload ------------------------------------------------


def test_excursions_at_and_around_the_limit(world: World) -> None:
    w = world
    start = w.api.clock()
    advance(w, hours=2)  # the readings lie in the past: loggers report what happened
    # Exactly at the limit for an hour: inside.
    at_limit = upload(w, logger_csv(start, every_minute(0, 60, "-150.0")))
    assert at_limit.status_code == 201, at_limit.text
    assert at_limit.json()["readings"] == 61 and at_limit.json()["excursions"] == []
    # Outside for exactly the 10 minutes allowed (first reading outside to first back inside).
    ten = every_minute(0, 9, "-190") + every_minute(10, 19, "-149.9") + every_minute(20, 30, "-190")
    exactly = upload(w, logger_csv(start, ten))
    assert exactly.status_code == 201 and exactly.json()["excursions"] == []
    # Outside for 11 minutes: one excursion.
    eleven = (
        every_minute(0, 9, "-190") + every_minute(10, 20, "-149.9") + every_minute(21, 30, "-190")
    )
    over = upload(w, logger_csv(start, eleven))
    assert over.status_code == 201, over.text
    [found] = over.json()["excursions"]
    assert found["kind"] == "above" and found["limit"] == "<= -150 °C"
    assert found["peak_celsius"] == "-149.9" and found["state"] == "open"
    assert found["start_at"] == rfc3339(start + timedelta(minutes=10))
    assert found["end_at"] == rfc3339(start + timedelta(minutes=21))
    assert found["place"] == "LAB1/LN2-A"
    assert_log_verifies(w.api)


# --- which vials an excursion touched -----------------------------------------------------


def test_every_vial_in_the_unit_during_an_excursion_gets_a_log_entry_and_no_other(
    world: World,
) -> None:
    w, api = world, world.api
    t0 = api.clock()
    here, moved, elsewhere = w.vial("0001"), w.vial("0002"), w.vial("0003")
    assert w.store(w.lena, here).status_code == 201
    assert w.store(w.lena, moved).status_code == 201
    assert w.store(w.lena, elsewhere, unit="LN2-B").status_code == 201
    advance(w, hours=1)
    assert w.store(w.lena, moved, unit="LN2-B").status_code == 201  # out before the excursion
    advance(w, hours=3)
    # Cold from t0 to t0+3h, but 25 minutes above -150 from t0+2h.
    points = [(m, "-190.0") for m in range(0, 181, 5)]
    warm = {120: "-145", 125: "-140.5", 130: "-142", 135: "-148", 140: "-149.5"}
    points = [(m, warm.get(int(m), c)) for m, c in points]
    content = logger_csv(t0, points)
    response = upload(w, content)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["sha256"] == hashlib.sha256(content.encode()).hexdigest()
    assert body["place_uri"] == f"{api.settings.resolver_base}/sites/LAB1/units/LN2-A"
    [found] = body["excursions"]
    assert found["peak_celsius"] == "-140.5"
    assert found["start_at"] == rfc3339(t0 + timedelta(hours=2))
    assert found["end_at"] == rfc3339(t0 + timedelta(minutes=145))
    assert [v["uri"] for v in found["vials"]] == [here]

    uploaded = entry(w, body["log_index"])
    assert uploaded["type"] == "coldchain.readings.uploaded" and uploaded["actor"] is None
    assert uploaded["subject"] == body["place_uri"]
    assert uploaded["what"]["sha256"] == body["sha256"] and uploaded["what"]["readings"] == 37
    assert uploaded["what"]["excursions"][0]["peak_celsius"] == "-140.5"

    logged = entry(w, found["vials"][0]["log_index"])
    assert logged["type"] == "coldchain.excursion.detected" and logged["subject"] == here
    assert logged["what"] == {
        "excursion": found["id"],
        "kind": "above",
        "start": found["start_at"],
        "end": found["end_at"],
        "peak_celsius": "-140.5",
        "limit": "<= -150 °C",
        "duration_seconds": 25 * 60,
        "allowed_excursion_minutes": 10,
        "unit": body["place_uri"],
        "upload_entry": body["log_index"],
    }
    assert len(excursion_entries(w, here)) == 1
    assert excursion_entries(w, moved) == []
    assert excursion_entries(w, elsewhere) == []

    batch, vials = batch_and_vials(api)
    with api.db.read() as session:
        assert [e.id for e in cold_chain.excursions_for_vial(session, vials["0001"])] == [
            found["id"]
        ]
        assert cold_chain.excursions_for_vial(session, vials["0002"]) == []
        assert [e.id for e in cold_chain.open_excursions_for_batch(session, batch)] == [found["id"]]
    # The same file again would log the same excursion twice.
    again = upload(w, content)
    assert again.status_code == 409 and "already uploaded" in again.json()["detail"]
    assert_log_verifies(api)


def test_a_vial_put_in_at_the_moment_the_unit_is_back_within_limits_is_not_affected(
    world: World,
) -> None:
    w, api = world, world.api
    t0 = api.clock()
    advance(w, minutes=30)
    assert w.store(w.lena, w.vial("0001")).status_code == 201  # at t0+30min
    advance(w, minutes=30)
    # Warm from t0+10 until t0+30, when a reading is back inside: over before 0001 arrived.
    points = every_minute(0, 9, "-190") + every_minute(10, 29, "-120") + [(30, "-190")]
    response = upload(w, logger_csv(t0, points))
    assert response.status_code == 201, response.text
    [found] = response.json()["excursions"]
    assert found["vials"] == []
    # A second logger's data, ending while still warm: the same warming seen longer, so
    # no second excursion, but the vial stored during it is now affected by it.
    points = every_minute(0, 9, "-190") + every_minute(10, 59, "-120")
    open_ended = upload(w, logger_csv(t0, points))
    assert open_ended.json()["excursions"] == []
    [same] = open_ended.json()["already_recorded"]
    assert same["id"] == found["id"] and [v["uri"] for v in same["vials"]] == [w.vial("0001")]
    [logged] = excursion_entries(w, w.vial("0001"))
    assert logged["what"]["excursion"] == found["id"] and logged["what"]["end"] is None


def test_a_shipper_s_epcis_sensor_data_touch_only_the_vials_packed_in_it(world: World) -> None:
    w, api = world, world.api
    t0 = api.clock()
    for serial in ("0001", "0002", "0003"):
        assert w.store(w.lena, w.vial(serial)).status_code == 201
    made = api.client.post(
        "/shippers", headers=w.lena.headers, json={"site": "LAB1", "consignee": "CLINIC1"}
    )
    assert made.status_code == 201, made.text
    shipper = made.json()
    advance(w, minutes=10)
    packed = w.step(
        w.lena,
        "/custody/pack",
        "custody.packed",
        shipper["uri"],
        vials=[w.vial("0001"), w.vial("0002")],
    )
    assert packed.status_code == 201, packed.text
    advance(w, minutes=50)
    assert w.store(w.lena, w.vial("0001")).status_code == 201  # unpacked at t0+1h
    advance(w, hours=2)

    def element(minutes: int, value: Any, uom: str = "CEL") -> dict[str, Any]:
        return {
            "sensorMetadata": {"time": rfc3339(t0 + timedelta(minutes=minutes))},
            "sensorReport": [
                {"type": "gs1:Temperature", "value": value, "uom": uom},
                {"type": "gs1:RelativeHumidity", "value": 40, "uom": "A93"},
            ],
        }

    temperatures = dict.fromkeys(range(0, 151, 10), -185.25) | {120: -120.25, 130: -141}
    sensor = {"sensorElementList": [element(m, v) for m, v in sorted(temperatures.items())]}
    url = f"/shippers/{shipper['sscc']}/temperatures"

    wrong = dict(sensor)
    wrong["sensorElementList"] = [*sensor["sensorElementList"][:2], element(25, -180, "FAH")]
    before = counts(api)
    refused = api.client.post(url, headers=w.cora.headers, json=wrong)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["field"] == "sensorElementList[2].sensorReport[0].uom"
    assert "Fahrenheit" in refused.json()["detail"]
    assert counts(api) == before

    response = api.client.post(url, headers=w.cora.headers, json=sensor)  # a courier may
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["source"] == "epcis" and body["readings"] == 16 and body["uploaded_by"] == "cora"
    [found] = body["excursions"]  # a shipper allows no time outside
    assert found["peak_celsius"] == "-120.25" and found["place"] == f"shipper {shipper['sscc']}"
    assert [v["uri"] for v in found["vials"]] == [w.vial("0002")]
    logged = entry(w, found["vials"][0]["log_index"])
    assert logged["what"]["shipper"] == shipper["uri"] and "unit" not in logged["what"]
    assert excursion_entries(w, w.vial("0001")) == []
    assert excursion_entries(w, w.vial("0003")) == []
    assert entry(w, body["log_index"])["subject"] == shipper["uri"]
    assert_log_verifies(api)


# --- bad files ----------------------------------------------------------------------------


def test_bad_logger_files_are_refused_whole_with_the_line_and_nothing_is_stored(
    world: World,
) -> None:
    w, api = world, world.api
    t0 = api.clock()
    assert w.store(w.lena, w.vial("0001")).status_code == 201
    advance(w, hours=2)
    good = logger_csv(t0, every_minute(0, 5, "-190") + every_minute(6, 40, "-100"))
    lines = good.splitlines()
    bad_files = {
        "unparseable row": ("\n".join([*lines[:3], "not,a,row", *lines[3:]]), 4),
        "times out of order": ("\n".join([*lines[:5], lines[2], *lines[5:]]), 6),
        "wrong units": ("\n".join(["time,temperature (°F)", *lines[1:]]), 1),
        "decimal comma": ("\n".join([*lines[:9], lines[9].replace(".", ",") + ",5"]), 10),
        "bad last line": (good + "2026-11-02T09:41:00,-100\n", 43),
    }
    before = counts(api)
    for name, (content, line) in bad_files.items():
        refused = upload(w, content)
        assert refused.status_code == 422, (name, refused.text)
        problem = refused.json()
        assert problem["field"] == "file", name
        assert problem["detail"].startswith(f"line {line}: "), (name, problem["detail"])
    latin1 = w.api.client.post(
        UNIT_URL, headers=w.lena.headers | CSV, content=good.encode("latin-1")
    )
    assert latin1.status_code == 422 and latin1.json()["detail"].startswith("line 1: ")
    assert "wrong units" in upload(w, bad_files["wrong units"][0]).json()["detail"]
    too_big = w.api.client.post(
        UNIT_URL, headers=w.lena.headers | CSV, content=b"x" * (5 * 1024 * 1024 + 1)
    )
    assert too_big.status_code == 413 and "5 MB" in too_big.json()["detail"]
    xml = w.api.client.post(
        UNIT_URL, headers=w.lena.headers | {"content-type": "application/xml"}, content=b"<a/>"
    )
    assert xml.status_code == 415
    not_json = w.api.client.post(
        UNIT_URL, headers=w.lena.headers | {"content-type": "application/json"}, content=b"{"
    )
    assert not_json.status_code == 422 and not_json.json()["field"] == "body"
    assert counts(api) == before
    # The same data without the bad line is accepted, from a page's multipart form too.
    accepted = w.api.client.post(
        UNIT_URL, headers=w.lena.headers, files={"file": ("logger.csv", good, "text/csv")}
    )
    assert accepted.status_code == 201, accepted.text
    assert len(accepted.json()["excursions"]) == 1
    assert_log_verifies(api)


def test_who_may_upload(world: World) -> None:
    w = world
    content = logger_csv(w.api.clock(), every_minute(0, 5, "-190"))
    anonymous = w.api.client.post(UNIT_URL, headers=CSV, content=b"x" * (6 * 1024 * 1024))
    assert anonymous.status_code == 401  # who is asking is settled before the body is read
    quade = Signer.register(w.api, "quade", "qa")
    assert upload(w, content, who=quade).status_code == 403  # qa, but not of LAB1
    assert upload(w, content, who=w.nora).status_code == 403  # lab of CLINIC1
    assert upload(w, content, who=w.cora).status_code == 403  # couriers: shippers only
    assert upload(w, content, url="/sites/LAB1/units/NOPE/temperatures").status_code == 404
    assert upload(w, content, url="/shippers/009521230000000017/temperatures").status_code == 404
    assert upload(w, content, url="/sites/CLINIC1/units/LN2-A/temperatures", who=w.nora).json()[
        "place"
    ] == ("CLINIC1/LN2-A")


# --- closing ------------------------------------------------------------------------------


def close(w: World, who: Any, excursion: dict[str, Any], **what: Any) -> Any:
    return who.post(
        "/excursions/close",
        "coldchain.excursion.closed",
        excursion["uri"],
        {"excursion": excursion["id"]} | what,
    )


def test_qa_closes_an_excursion_once_with_a_signed_assessment(world: World) -> None:
    w, api = world, world.api
    t0 = api.clock()
    assert w.store(w.lena, w.vial("0001")).status_code == 201
    advance(w, hours=2)
    warm = every_minute(0, 9, "-190") + every_minute(10, 40, "-130") + [(41, "-190")]
    cold = every_minute(0, 9, "-190") + every_minute(50, 80, "-130") + [(81, "-190")]
    [first] = upload(w, logger_csv(t0, warm)).json()["excursions"]
    [second] = upload(w, logger_csv(t0, cold)).json()["excursions"]
    batch, _ = batch_and_vials(api)
    with api.db.read() as session:
        open_ids = [e.id for e in cold_chain.open_excursions_for_batch(session, batch)]
    assert open_ids == [first["id"], second["id"]]

    by_lab = close(w, w.lena, first, assessment="fine")
    assert by_lab.status_code == 403
    no_assessment = close(w, w.quinn, first, assessment="  ")
    assert no_assessment.status_code == 422
    assert no_assessment.json()["field"] == "statement.what.assessment"
    other = w.quinn.post(
        "/excursions/close",
        "coldchain.excursion.closed",
        second["uri"],
        {"excursion": first["id"], "assessment": "signed about another excursion"},
    )
    assert other.status_code == 422 and other.json()["field"] == "statement.subject"

    closed = close(w, w.quinn, first, assessment="Vials stayed below -130 °C; no impact.")
    assert closed.status_code == 201, closed.text
    body = closed.json()
    assert body["state"] == "closed" and body["closure"]["closed_by"] == "quinn"
    logged = entry(w, body["closure"]["log_index"])
    assert logged["type"] == "coldchain.excursion.closed" and logged["actor"] == "quinn"
    assert logged["subject"] == first["uri"]
    assert logged["what"]["assessment"] == "Vials stayed below -130 °C; no impact."
    twice = close(w, w.quinn, first, assessment="again")
    assert twice.status_code == 409 and "already closed" in twice.json()["detail"]
    with api.db.read() as session:
        assert len(session.exec(select(ExcursionClosure)).all()) == 1
        open_ids = [e.id for e in cold_chain.open_excursions_for_batch(session, batch)]
    assert open_ids == [second["id"]]

    api.add_user("aude", "auditor")
    aude = api.headers("aude")
    listed = api.client.get("/excursions", headers=aude).json()
    assert [e["id"] for e in listed] == [second["id"]]
    every = api.client.get("/excursions", headers=aude, params={"state": "all"}).json()
    assert {e["id"]: e["state"] for e in every} == {first["id"]: "closed", second["id"]: "open"}
    assert_log_verifies(api)


def test_the_cold_chain_page(world: World) -> None:
    w, api = world, world.api
    t0 = api.clock()
    assert w.store(w.lena, w.vial("0001")).status_code == 201
    advance(w, hours=2)
    warm = every_minute(0, 9, "-190") + every_minute(10, 40, "-130") + [(41, "-190")]
    [found] = upload(w, logger_csv(t0, warm)).json()["excursions"]
    html = {"accept": "text/html"}
    for_qa = api.client.get("/ui/cold-chain", headers=w.quinn.headers | html)
    assert for_qa.status_code == 200, for_qa.text
    page = for_qa.text
    assert "LN2-A" in page and "&lt;= -150 °C, 10 min allowed outside" in page
    assert f'data-subject="{found["uri"]}"' in page
    assert 'data-type="coldchain.excursion.closed"' in page
    api.add_user("aude", "auditor")
    for_auditor = api.client.get("/ui/cold-chain", headers=api.headers("aude") | html).text
    assert f"#{found['id']} LAB1/LN2-A" in for_auditor
    assert "coldchain.excursion.closed" not in for_auditor
    assert 'enctype="multipart/form-data"' not in for_auditor
    for_lab = api.client.get("/ui/cold-chain", headers=w.lena.headers | html).text
    assert f'action="{UNIT_URL}"' in for_lab
    courier = api.client.get("/ui/cold-chain", headers=w.cora.headers | html)
    assert courier.status_code == 403


def test_readings_dated_in_the_future_are_refused(world: World) -> None:
    w = world
    now = w.api.clock()
    content = logger_csv(now, [(0, "-190"), (3, "-190"), (60 * 24 * 365, "-190")])
    refused = upload(w, content)
    assert refused.status_code == 422 and refused.json()["field"] == "file"
    assert "reading 3" in refused.json()["detail"] and "future" in refused.json()["detail"]
    # Within the allowed clock skew (5 minutes) is fine.
    assert upload(w, logger_csv(now, [(-10, "-190"), (4, "-190")])).status_code == 201


def test_overlapping_logger_files_record_one_excursion_once(world: World) -> None:
    """Two read-outs of one tank both show the same warming: one event, one entry per
    vial; a later, separate warming in the second file is a new excursion."""
    w, api = world, world.api
    t0 = api.clock()
    here = w.vial("0001")
    assert w.store(w.lena, here).status_code == 201
    advance(w, hours=5)
    warm = {120: "-145", 125: "-140.5", 130: "-142", 135: "-148", 140: "-149.5"}
    first = logger_csv(t0, [(m, warm.get(m, "-190.0")) for m in range(0, 181, 5)])
    done = upload(w, first)
    assert done.status_code == 201, done.text
    [event] = done.json()["excursions"]
    before = counts(api)

    late = {240: "-144", 245: "-141", 250: "-143", 255: "-146", 260: "-149"}  # again
    second = logger_csv(t0, [(m, late.get(m, warm.get(m, "-190.5"))) for m in range(60, 281, 5)])
    again = upload(w, second)
    assert again.status_code == 201, again.text
    body = again.json()
    assert [e["id"] for e in body["already_recorded"]] == [event["id"]]
    [new] = body["excursions"]
    assert new["id"] != event["id"] and new["start_at"] == rfc3339(t0 + timedelta(hours=4))
    after = counts(api)
    assert after["Excursion"] == before["Excursion"] + 1
    assert after["ExcursionVial"] == before["ExcursionVial"] + 1  # only the new one's
    logged = [e["what"]["excursion"] for e in excursion_entries(w, here)]
    assert logged == [event["id"], new["id"]]
    uploaded = entry(w, body["log_index"])
    assert [e.get("same_as_excursion") for e in uploaded["what"]["excursions"]] == [
        event["id"],
        None,
    ]
    assert_log_verifies(api)
