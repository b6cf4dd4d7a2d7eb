"""EPCIS 2.0 export: a batch's history as a document that validates against GS1's schema
and says what really happened, each event tied to its entry in the custody log."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from jsonschema import FormatChecker
from jsonschema.validators import validator_for
from sqlmodel import col, select
from typer.testing import CliRunner

from tests.custody_flow import LOT, World, make_world
from tests.integration.test_release import complete, decide, enter
from tests.signing import Signer
from tests.support import Api
from traceability.cli.epcis import epcis
from traceability.clock import rfc3339
from traceability.domain.custody import Step
from traceability.services.custody.frame import BIZ_STEP
from traceability.services.epcis import digest_uri
from traceability.storage.database import Database
from traceability.storage.models import CustodyEvent, Vial

SCHEMA = (
    Path(__file__).parents[2] / ".." / "shared" / "standards" / "epcis" / "EPCIS-JSON-Schema.json"
)
LD_JSON = "application/ld+json"
CSV = {"content-type": "text/csv"}

# --- validation ------------------------------------------------------------------------------

_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]*")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


def _format_checker() -> FormatChecker:
    """The schema's `uri` and `date-time` formats, checked without optional packages:
    jsonschema skips a format it has no checker for, which would let anything pass."""
    checker = FormatChecker(formats=())

    @checker.checks("uri")
    def is_uri(value: object) -> bool:
        return not isinstance(value, str) or _URI.fullmatch(value) is not None

    @checker.checks("date-time")
    def is_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if _TIME.fullmatch(value) is None:
            return False
        datetime.fromisoformat(value.replace("Z", "+00:00"))
        return True

    return checker


def schema_errors(document: dict[str, Any]) -> list[str]:
    if not SCHEMA.is_file():
        pytest.skip(
            f"the GS1 EPCIS 2.0 JSON schema is not at {SCHEMA.resolve()}; "
            "copy EPCIS-JSON-Schema.json from github.com/gs1/EPCIS there to run this test"
        )
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = validator_for(schema)(schema, format_checker=_format_checker())
    return [
        f"{'/'.join(str(p) for p in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(document)
    ]


# --- the history -----------------------------------------------------------------------------


def advance(w: World, **delta: float) -> None:
    """Move the clock, and sign everyone in again: a token lives an hour."""
    w.api.clock.advance(**delta)
    for signer in (w.lena, w.nora, w.cora, w.cody, w.quinn):
        signer.headers = w.api.headers(signer.username)


def logger_csv(start: datetime, points: list[tuple[int, str]]) -> str:
    rows = [f"{rfc3339(start + timedelta(minutes=m))},{c}" for m, c in points]
    return "\n".join(["time,temperature (°C)", *rows]) + "\n"


def created(response: Any) -> Any:
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def world(api: Api) -> World:
    w = make_world(api)
    api.add_user("aude", "auditor")
    return w


@pytest.fixture
def history(world: World) -> dict[str, Any]:
    """Commissioned, labelled, stored, an excursion in the tank, packed, handed to a courier,
    in transit with an excursion in the shipper, handed to the clinic, received, stored at
    the clinic; one vial destroyed at the lab."""
    w = world
    v1, v2, v3 = w.vial("0001"), w.vial("0002"), w.vial("0003")
    batch = v1.rsplit("/21/", 1)[0]
    advance(w, minutes=5)
    created(w.lena.post(f"/batches/{LOT}/labels", "labels.issued", batch, {}))
    advance(w, minutes=5)
    stored_at = w.api.clock()
    created(w.store(w.lena, v1, rack="R1", box="B2", position="A3"))
    created(w.store(w.lena, v2, rack="R1", box="B2", position="A4"))
    created(w.store(w.lena, v3))
    advance(w, hours=4)
    # 25 minutes above -150 °C two hours after the vials went in.
    tank = [(m, "-190.0") for m in range(0, 181, 5)]
    warm = {120: "-145", 125: "-140.5", 130: "-142", 135: "-148", 140: "-149.5"}
    tank_csv = logger_csv(stored_at, [(m, warm.get(m, c)) for m, c in tank])
    tank_at = w.api.clock()
    tank_upload = created(
        w.api.client.post(
            "/sites/LAB1/units/LN2-A/temperatures",
            headers=w.lena.headers | CSV,
            content=tank_csv.encode(),
        )
    )
    advance(w, minutes=5)
    shipper = created(
        w.api.client.post(
            "/shippers",
            headers=w.lena.headers,
            json={
                "site": "LAB1",
                "consignee": "CLINIC1",
                "max_celsius": "-150",
                "allowed_excursion_minutes": 10,
            },
        )
    )
    packed_at = w.api.clock()
    created(w.step(w.lena, "/custody/pack", "custody.packed", shipper["uri"], vials=[v1, v2]))
    advance(w, minutes=5)
    w.hand(w.lena, w.cora, shipper["uri"], "user:cora")
    advance(w, minutes=5)
    created(w.step(w.cora, "/custody/dispatch", "custody.dispatched", shipper["uri"]))
    advance(w, hours=2)
    w.hand(w.cora, w.nora, shipper["uri"], "site:CLINIC1")
    advance(w, minutes=5)
    created(
        w.step(
            w.nora,
            "/custody/receive",
            "custody.received",
            shipper["uri"],
            seal_intact=True,
            damaged=False,
            logger_attached=True,
            notes="Dry shipper at -185 °C",
        )
    )
    # The shipper's logger: 20 minutes above -150 °C 45 minutes after packing.
    trip = [(m, "-185.0") for m in range(0, 136, 5)]
    shipper_csv = logger_csv(packed_at, [(m, "-120" if 45 <= m < 65 else c) for m, c in trip])
    shipper_upload = created(
        w.api.client.post(
            f"/shippers/{shipper['sscc']}/temperatures",
            headers=w.nora.headers | CSV,
            content=shipper_csv.encode(),
        )
    )
    advance(w, minutes=5)
    created(w.store(w.nora, v1, site="CLINIC1", rack="C1"))
    created(w.step(w.lena, "/custody/destroy", "custody.destroyed", v3, reason="Cap cracked"))
    return {
        "shipper": shipper,
        "tank": (tank_upload, tank_csv),
        "tank_at": tank_at,
        "trip": (shipper_upload, shipper_csv),
    }


def export(w: World, who: str = "aude") -> dict[str, Any]:
    response = w.api.client.get("/epcis/events", params={"lot": LOT}, headers=w.api.headers(who))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(LD_JSON)
    document: dict[str, Any] = response.json()
    return document


def about(events: list[dict[str, Any]], vial: str) -> list[dict[str, Any]]:
    """The events that concern one vial: naming it, or a shipper it was packed in."""
    inside: set[str] = set()
    found = []
    for event in events:
        if event["type"] == "AggregationEvent" and vial in event["childEPCs"]:
            if event["action"] == "ADD":
                inside.add(event["parentID"])
            else:
                inside.discard(event["parentID"])
            found.append(event)
            continue
        named = set(event.get("epcList", []))
        # A shipper's events concern what it carries, unless they name their vials.
        if vial in named or (inside & named and not any("/21/" in uri for uri in named)):
            found.append(event)
    return found


def custody_rows(api: Api, uri: str) -> list[CustodyEvent]:
    with api.db.read() as session:
        vial = session.exec(select(Vial).where(Vial.uri == uri)).one()
        return list(
            session.exec(
                select(CustodyEvent)
                .where(CustodyEvent.vial_id == vial.id)
                .order_by(col(CustodyEvent.id))
            ).all()
        )


# --- tests -----------------------------------------------------------------------------------


def test_the_export_validates_against_the_epcis_schema(
    world: World, history: dict[str, Any]
) -> None:
    document = export(world)
    assert schema_errors(document) == []
    assert document["type"] == "EPCISDocument" and document["schemaVersion"] == "2.0"
    assert document["@context"][0] == (
        "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
    )
    assert document["creationDate"] == rfc3339(world.api.clock())
    # The validation is not vacuous: a broken event or a bare word for a URI is refused.
    broken = json.loads(json.dumps(document))
    del broken["epcisBody"]["eventList"][0]["eventTimeZoneOffset"]
    broken["epcisBody"]["eventList"][1]["bizStep"] = "teleporting"
    assert len(schema_errors(broken)) >= 2


def test_one_vials_events_tell_its_history_in_order(world: World, history: dict[str, Any]) -> None:
    w = world
    events = export(w)["epcisBody"]["eventList"]
    times = [datetime.fromisoformat(e["eventTime"].replace("Z", "+00:00")) for e in events]
    assert times == sorted(times)
    assert {e["eventTimeZoneOffset"] for e in events} == {"+00:00"}
    mine = about(events, w.vial("0001"))
    assert [(e["type"], e["action"], e.get("bizStep")) for e in mine] == [
        ("ObjectEvent", "ADD", "commissioning"),
        ("ObjectEvent", "OBSERVE", "encoding"),
        ("ObjectEvent", "OBSERVE", "storing"),
        ("ObjectEvent", "OBSERVE", "sensor_reporting"),
        ("AggregationEvent", "ADD", "packing"),
        ("ObjectEvent", "OBSERVE", "departing"),
        ("ObjectEvent", "OBSERVE", "shipping"),
        ("ObjectEvent", "OBSERVE", "sensor_reporting"),
        ("ObjectEvent", "OBSERVE", "arriving"),
        ("ObjectEvent", "OBSERVE", "receiving"),
        ("AggregationEvent", "DELETE", "unpacking"),
        ("ObjectEvent", "OBSERVE", "storing"),
    ]
    assert [e.get("disposition") for e in mine] == [
        "in_progress",
        "encoded",
        "in_progress",
        None,
        "in_progress",
        "in_transit",
        "in_transit",
        None,
        "in_transit",
        "in_progress",
        None,
        "in_progress",
    ]
    # Each custody step at the time the custody event was recorded.
    rows = custody_rows(w.api, w.vial("0001"))
    steps = [e for e in mine if e.get("bizStep") in BIZ_STEP.values()]
    assert [e["bizStep"] for e in steps] == [BIZ_STEP[Step(r.step)] for r in rows]
    assert [e["eventTime"] for e in steps] == [rfc3339(r.created_at) for r in rows]
    # The third vial stayed at the lab and was destroyed there, with the reason.
    theirs = about(events, w.vial("0003"))
    assert [e["bizStep"] for e in theirs] == [
        "commissioning",
        "encoding",
        "storing",
        "sensor_reporting",
        "destroying",
    ]
    destroyed = theirs[-1]
    assert destroyed["disposition"] == "destroyed" and destroyed["trace:reason"] == "Cap cracked"
    assert destroyed["readPoint"] == {"id": f"{w.api.settings.resolver_base}/sites/LAB1"}
    assert "bizLocation" not in destroyed
    commissioned = theirs[0]
    assert commissioned["ilmd"] == {
        "cbvmda:lotNumber": LOT,
        "cbvmda:itemExpirationDate": "2027-10-01",
    }


def test_locations_packing_handoffs_and_receipt(world: World, history: dict[str, Any]) -> None:
    w, base = world, world.api.settings.resolver_base
    document = export(w, who="quinn")
    events = document["epcisBody"]["eventList"]
    shipper = history["shipper"]["uri"]
    lab, clinic = f"{base}/sites/LAB1", f"{base}/sites/CLINIC1"
    lab_tank, clinic_tank = f"{lab}/units/LN2-A", f"{clinic}/units/LN2-A"

    storing = [e for e in events if e["bizStep"] == "storing"]
    assert [(e["epcList"], e["readPoint"]["id"], e["bizLocation"]["id"]) for e in storing] == [
        ([w.vial("0001")], lab_tank, lab_tank),
        ([w.vial("0002")], lab_tank, lab_tank),
        ([w.vial("0003")], lab_tank, lab_tank),
        ([w.vial("0001")], clinic_tank, clinic_tank),
    ]
    assert storing[0]["trace:storagePosition"] == {
        "trace:rack": "R1",
        "trace:box": "B2",
        "trace:position": "A3",
    }
    assert storing[3]["trace:storagePosition"] == {
        "trace:rack": "C1",
        "trace:box": "B1",
        "trace:position": "0001",
    }

    [packing] = [e for e in events if e["bizStep"] == "packing"]
    assert packing["type"] == "AggregationEvent" and packing["action"] == "ADD"
    assert packing["parentID"] == shipper
    assert packing["childEPCs"] == [w.vial("0001"), w.vial("0002")]
    assert packing["readPoint"] == packing["bizLocation"] == {"id": lab}
    [unpacking] = [e for e in events if e["bizStep"] == "unpacking"]
    assert unpacking["action"] == "DELETE" and unpacking["parentID"] == shipper
    assert unpacking["childEPCs"] == [w.vial("0001")]
    assert unpacking["eventTime"] == storing[3]["eventTime"]

    by_step = {e["bizStep"]: e for e in events if e.get("epcList") == [shipper]}
    departing, shipping = by_step["departing"], by_step["shipping"]
    assert departing["readPoint"] == {"id": lab} and "bizLocation" not in departing
    assert departing["sourceList"] == [{"type": "possessing_party", "source": lab}]
    assert departing["destinationList"] == [
        {"type": "possessing_party", "destination": f"{base}/users/cora"}
    ]
    assert "readPoint" not in shipping and "bizLocation" not in shipping
    # Setting off names where the consignment goes: the consignee it was commissioned for.
    assert shipping["destinationList"] == [{"type": "location", "destination": clinic}]
    arriving, receiving = by_step["arriving"], by_step["receiving"]
    assert arriving["readPoint"] == arriving["bizLocation"] == {"id": clinic}
    assert arriving["destinationList"] == [{"type": "possessing_party", "destination": clinic}]
    assert receiving["readPoint"] == receiving["bizLocation"] == {"id": clinic}
    assert receiving["trace:receiptCondition"] == {
        "trace:sealIntact": True,
        "trace:damaged": False,
        "trace:loggerAttached": True,
        "trace:notes": "Dry shipper at -185 °C",
    }
    assert document["@context"][1] == {"trace": f"{base}/epcis/ns/"}

    # The header names every location the events use.
    [locations, read_points] = document["epcisHeader"]["epcisMasterData"]["vocabularyList"]
    assert locations["type"] == "urn:epcglobal:epcis:vtype:BusinessLocation"
    assert read_points["vocabularyElementList"] == locations["vocabularyElementList"]
    named = {
        e["id"]: (e["attributes"][0]["attribute"], e.get("children"))
        for e in locations["vocabularyElementList"]
    }
    assert named == {
        lab: ("LAB1", [lab_tank]),
        clinic: ("CLINIC1", [clinic_tank]),
        lab_tank: ("LN2 vapour tank A", None),
        clinic_tank: ("LN2 vapour tank A", None),
    }


def test_excursions_carry_the_peak_the_limits_and_the_logger_file(
    world: World, history: dict[str, Any]
) -> None:
    w, base = world, world.api.settings.resolver_base
    events = export(w)["epcisBody"]["eventList"]
    sensed = [e for e in events if e["bizStep"] == "sensor_reporting"]
    tank_upload, tank_csv = history["tank"]
    [tank_excursion] = tank_upload["excursions"]
    in_tank = [e for e in sensed if e.get("readPoint")]
    assert [e["epcList"] for e in in_tank] == [[w.vial(s)] for s in ("0001", "0002", "0003")]
    event = in_tank[0]
    assert event["readPoint"] == event["bizLocation"] == {"id": f"{base}/sites/LAB1/units/LN2-A"}
    assert event["eventTime"] == tank_excursion["start_at"]
    assert event["recordTime"] == rfc3339(history["tank_at"])
    [element] = event["sensorElementList"]
    assert element["sensorMetadata"] == {
        "startTime": tank_excursion["start_at"],
        "endTime": tank_excursion["end_at"],
        "rawData": digest_uri(hashlib.sha256(tank_csv.encode()).hexdigest()),
    }
    assert element["sensorReport"] == [
        {
            "type": "gs1:Temperature",
            "exception": "ALARM_CONDITION",
            "maxValue": -140.5,
            "uom": "CEL",
            "trace:breachedLimit": "<= -150 °C",
            "trace:upperLimit": -150,
            "trace:allowedExcursionMinutes": 10,
        }
    ]
    # The shipper's excursion, on both vials it carried, names the shipper too.
    trip_upload, _ = history["trip"]
    [trip_excursion] = trip_upload["excursions"]
    in_shipper = [e for e in sensed if not e.get("readPoint")]
    shipper = history["shipper"]["uri"]
    assert [e["epcList"] for e in in_shipper] == [
        [w.vial("0001"), shipper],
        [w.vial("0002"), shipper],
    ]
    report = in_shipper[0]["sensorElementList"][0]["sensorReport"][0]
    assert report["maxValue"] == -120 and report["trace:upperLimit"] == -150
    assert in_shipper[0]["eventTime"] == trip_excursion["start_at"]
    # Each is the vial's own excursion entry.
    ids = {int(e["eventID"].rsplit("/", 1)[1]) for e in sensed}
    assert ids == {v["log_index"] for x in (tank_excursion, trip_excursion) for v in x["vials"]}


def test_every_event_id_is_an_entry_of_the_custody_log(
    world: World, history: dict[str, Any]
) -> None:
    w, base = world, world.api.settings.resolver_base
    events = export(w)["epcisBody"]["eventList"]
    assert len({e["eventID"] for e in events}) == len(events)
    for event in events:
        url, _, part = event["eventID"].partition("#")
        assert url.startswith(f"{base}/log/entries/") and part in ("", "unpacking")
        found = w.api.client.get(url.removeprefix(base), headers=w.quinn.headers)
        assert found.status_code == 200, (event["eventID"], found.text)
        entry = found.json()["body"]
        assert entry["when"] == event["recordTime"], event
        named = {*event.get("epcList", []), *event.get("childEPCs", [])}
        named |= {event["parentID"]} if "parentID" in event else set()
        assert entry["subject"] in named, (entry["subject"], event)
        if event.get("bizStep") != "sensor_reporting":
            assert event["eventTime"] == event["recordTime"]


def test_only_qa_and_auditors_export_and_an_unknown_lot_is_404(world: World) -> None:
    w = world
    url = "/epcis/events"
    assert w.api.client.get(url, params={"lot": LOT}).status_code == 401
    for who in ("cora", "lena"):
        refused = w.api.client.get(url, params={"lot": LOT}, headers=w.api.headers(who))
        assert refused.status_code == 403, who
        assert refused.headers["content-type"] == "application/problem+json"
    for who in ("quinn", "aude"):
        allowed = w.api.client.get(url, params={"lot": LOT}, headers=w.api.headers(who))
        assert allowed.status_code == 200, who
    unknown = w.api.client.get(url, params={"lot": "NOPE-1"}, headers=w.api.headers("aude"))
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert "NOPE-1" in unknown.json()["detail"]
    # A batch with nothing but its vials still exports (commissioning only) and validates.
    document = export(w)
    assert [e["bizStep"] for e in document["epcisBody"]["eventList"]] == ["commissioning"] * 3
    assert "epcisHeader" not in document
    assert schema_errors(document) == []


def test_a_lone_vial_handed_over_and_administered_then_the_batch_recalled(
    world: World,
) -> None:
    w, base = world, world.api.settings.resolver_base
    w.leo = Signer.register(w.api, "leo", "lab")  # type: ignore[attr-defined]
    w.join("leo")
    complete(w, skip={"sterility"})
    released = decide(
        w,
        w.quinn,
        "conditionally released",
        "Approved for conditional release, sterility pending",
        justification="Rapid method negative at day 7",
    )
    assert released.status_code == 201, released.text
    v1 = w.vial("0001")
    w.hand(w.lena, w.cora, v1, "user:cora")
    w.hand(w.cora, w.nora, v1, "site:CLINIC1")
    created(
        w.step(
            w.nora,
            "/custody/receive",
            "custody.received",
            v1,
            seal_intact=True,
            damaged=True,
            logger_attached=False,
            notes="Outer box dented",
        )
    )
    created(w.step(w.nora, "/custody/administer", "custody.administered", v1))
    enter(w, w.lena, "sterility", {"result": "growth"})

    document = export(w)
    assert schema_errors(document) == []
    mine = about(document["epcisBody"]["eventList"], v1)
    assert [(e["bizStep"], e.get("disposition")) for e in mine] == [
        ("commissioning", "in_progress"),
        ("encoding", "encoded"),
        ("storing", "in_progress"),
        ("inspecting", "conformant"),  # QA's conditional release
        ("departing", "in_transit"),
        ("arriving", "in_transit"),
        ("receiving", "damaged"),
        ("dispensing", "dispensed"),
        ("holding", "recalled"),
    ]
    assert all(e["type"] == "ObjectEvent" for e in mine)
    lab, clinic = f"{base}/sites/LAB1", f"{base}/sites/CLINIC1"
    decision, departing, arriving, receiving, dispensing, recall = mine[3:]
    assert decision["trace:decision"] == "conditionally released"
    assert decision["trace:meaning"] == "Approved for conditional release, sterility pending"
    assert decision["epcList"] == [w.vial(s) for s in ("0001", "0002", "0003")]
    signed = w.api.client.get(
        decision["eventID"].removeprefix(base), headers=w.quinn.headers
    ).json()["body"]
    assert signed["actor"] == "quinn" and signed["subject"] == v1.rsplit("/21/", 1)[0]
    assert departing["epcList"] == [v1] and departing["readPoint"] == {"id": lab}
    assert departing["sourceList"] == [{"type": "possessing_party", "source": lab}]
    assert arriving["sourceList"] == [{"type": "possessing_party", "source": f"{base}/users/cora"}]
    assert receiving["trace:receiptCondition"] == {
        "trace:sealIntact": True,
        "trace:damaged": True,
        "trace:loggerAttached": False,
        "trace:notes": "Outer box dented",
    }
    assert dispensing["readPoint"] == {"id": clinic} and "bizLocation" not in dispensing
    assert recall["epcList"] == [w.vial(s) for s in ("0001", "0002", "0003")]
    assert "sterility" in recall["trace:reason"]
    entry = w.api.client.get(recall["eventID"].removeprefix(base), headers=w.quinn.headers).json()[
        "body"
    ]
    assert entry["type"] == "batch.recalled" and entry["subject"] == v1.rsplit("/21/", 1)[0]


def test_a_batch_put_on_hold_then_rejected_says_so_in_cbv_terms(world: World) -> None:
    w = world
    w.leo = Signer.register(w.api, "leo", "lab")  # type: ignore[attr-defined]
    w.join("leo")
    complete(w, skip={"sterility"})
    held = decide(
        w, w.quinn, "on hold", "Placed on hold pending investigation", justification="Awaiting"
    )
    assert held.status_code == 201, held.text
    rejected = decide(w, w.quinn, "rejected", "Rejected", justification="Potency OOS confirmed")
    assert rejected.status_code == 201, rejected.text
    document = export(w)
    assert schema_errors(document) == []
    decisions = [e for e in document["epcisBody"]["eventList"] if "trace:decision" in e]
    assert [(e["bizStep"], e["disposition"], e["trace:decision"]) for e in decisions] == [
        ("holding", "unavailable", "on hold"),
        ("inspecting", "non_conformant", "rejected"),
    ]


def test_the_cli_writes_the_same_document(
    world: World, history: dict[str, Any], database: Database, tmp_path: Path
) -> None:
    app = typer.Typer()
    app.command()(epcis)
    env = {
        "TRACE_ENVIRONMENT": "development",
        "TRACE_DATABASE_URL": database.engine.url.render_as_string(hide_password=False),
        "TRACE_RESOLVER_BASE": world.api.settings.resolver_base,
        "TRACE_KEY_DIR": str(tmp_path / "keys"),
    }
    output = tmp_path / f"{LOT}.jsonld"
    result = CliRunner().invoke(app, ["--lot", LOT, "-o", str(output)], env=env)
    assert result.exit_code == 0, result.output
    assert f"wrote {output}" in result.output
    written = json.loads(output.read_text(encoding="utf-8"))
    served = export(world)
    assert {k: v for k, v in written.items() if k != "creationDate"} == {
        k: v for k, v in served.items() if k != "creationDate"
    }
    unknown = CliRunner().invoke(app, ["--lot", "NOPE-1", "-o", str(output)], env=env)
    assert unknown.exit_code == 2
    assert "error: no batch with lot 'NOPE-1'" in unknown.output
