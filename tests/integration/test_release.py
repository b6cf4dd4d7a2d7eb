"""The release gate and QA's e-signed disposition (21 CFR Part 11)."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from audit.checkpoint import verify_checkpoint
from audit.merkle import leaf_hash, verify_inclusion
from audit.note import parse_verifier_key
from tests.custody_flow import LOT, World, make_world
from tests.signing import Signer
from tests.support import PASSWORD, Api, assert_reconciled
from traceability.custody_log.verify_log import verify_log
from traceability.demo.records import PASSING

SERIALS = ("0001", "0002", "0003")


def batch_uri(w: World) -> str:
    return w.vial().rsplit("/21/", 1)[0]


def enter(w: World, who: Signer, test: str, values: dict[str, Any] | None = None) -> Any:
    default, unit, method = PASSING[test]
    what = {
        "test": test,
        "values": values or default,
        "unit": unit,
        "method": method,
        "instrument": "bench #1",
        "reagent_lots": [],
        "analyst": who.username,
        "tested_at": "2026-11-01T10:00:00Z",
    }
    response = who.post(f"/batches/{LOT}/results", "qc.result.entered", batch_uri(w), what)
    assert response.status_code == 201, response.text
    return response.json()


def approve(w: World, who: Signer, result: int) -> None:
    response = who.post(
        f"/batches/{LOT}/reviews",
        "qc.result.reviewed",
        batch_uri(w),
        {"result": result, "decision": "approved", "comment": None},
    )
    assert response.status_code == 201, response.text


@pytest.fixture
def world(api: Api) -> World:
    w = make_world(api)
    w.leo = Signer.register(api, "leo", "lab")  # type: ignore[attr-defined]
    w.join("leo")
    return w


def complete(w: World, skip: set[str] | None = None) -> None:
    """Every test passed and reviewed, labels issued, every vial stored."""
    for test in PASSING:
        if test in (skip or set()):
            continue
        approve(w, w.leo, enter(w, w.lena, test)["id"])  # type: ignore[attr-defined]
    assert (
        w.lena.post(f"/batches/{LOT}/labels", "labels.issued", batch_uri(w), {}).status_code == 201
    )
    for serial in SERIALS:
        assert w.store(w.lena, w.vial(serial)).status_code == 201


def readiness(w: World, conditional: bool = False) -> dict[str, Any]:
    response = w.api.client.get(
        f"/batches/{LOT}/release-readiness",
        params={"conditional": str(conditional).lower()},
        headers=w.quinn.headers,
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def failing(w: World, conditional: bool = False) -> dict[str, list[str]]:
    return {c["name"]: c["reasons"] for c in readiness(w, conditional)["checks"] if not c["passed"]}


def decide(
    w: World,
    who: Signer,
    decision: str,
    meaning: str,
    *,
    justification: str | None = None,
    username: str | None = "same",
    password: str = PASSWORD,
    type_name: str = "batch.disposition",
) -> Any:
    """Signed under the kind's name before issue 18 unless `type_name` says otherwise:
    such entries, in existing logs and from older clients, must keep proving."""
    what: dict[str, Any] = {"decision": decision, "meaning": meaning}
    if justification is not None:
        what["justification"] = justification
    body = who.body(type_name, batch_uri(w), what)
    body["esignature"] = {"password": password}
    if username is not None:
        body["esignature"]["username"] = who.username if username == "same" else username
    return w.api.client.post(f"/batches/{LOT}/disposition", headers=who.headers, json=body)


def test_a_complete_batch_passes_every_check_and_qa_releases_it(world: World) -> None:
    w = world
    complete(w)
    status = readiness(w)
    assert status["passed"] is True
    assert [c["name"] for c in status["checks"]] == [
        "proven-by-log",
        "self-check-clean",
        "qc-complete",
        "no-open-oos",
        "no-open-deviation",
        "no-open-excursion",
        "custody-chain",
        "vials-accounted",
        "labels-reconciled",
        "not-expired",
    ]
    released = decide(w, w.quinn, "released", "Approved for release")
    assert released.status_code == 201, released.text
    body = released.json()
    assert body["state"] == "released"
    # 11.50: printed name, UTC date and time, and meaning.
    assert body["manifestation"] == (
        "Signed by Quinn Tester on 2026-11-02 at 09:00:00 UTC: Approved for release"
    )
    vial_page = urlsplit(w.vial()).path
    shown = w.api.client.get(vial_page, headers={"accept": "application/json"}).json()
    assert (shown["disposition"], shown["released"]) == ("released", True)
    page = w.api.client.get(vial_page, headers={"accept": "text/html"}).text
    assert "Status:" in page and "data-not-released" not in page
    entry = w.api.client.get(f"/log/entries/{body['log_index']}", headers=w.quinn.headers).json()
    assert entry["body"]["actor"] == "quinn" and entry["body"]["type"] == "batch.disposition"
    assert w.state(w.vial()) == "released"
    # A released batch's record takes no more entries (issue 4).
    late = w.lena.post(
        f"/batches/{LOT}/results",
        "qc.result.entered",
        batch_uri(w),
        {
            "test": "viability",
            "values": {"value": "90"},
            "unit": "%",
            "method": "7-AAD",
            "instrument": "x",
            "reagent_lots": [],
            "analyst": "lena",
            "tested_at": "2026-11-01T10:00:00Z",
        },
    )
    assert late.status_code == 409 and "released" in late.json()["detail"]
    report = verify_log(w.api.db, w.api.app.state.context.log.keys.log.verifier())
    assert report.ok, report.findings


@pytest.mark.parametrize(
    ("check", "spoil"),
    [
        ("qc-complete", "review-missing"),
        ("no-open-oos", "oos"),
        ("no-open-deviation", "deviation"),
        ("vials-accounted", "unstored"),
        ("labels-reconciled", "unlabelled"),
        ("not-expired", "expired"),
    ],
)
def test_each_check_blocks_release_on_its_own(world: World, check: str, spoil: str) -> None:
    w = world
    if spoil == "review-missing":
        complete(w, skip={"viability"})
        enter(w, w.lena, "viability")  # entered, never reviewed
    elif spoil == "oos":
        complete(w, skip={"potency"})
        enter(w, w.lena, "potency", {"value": "12"})
    elif spoil == "deviation":
        complete(w)
        w.lena.post(
            f"/batches/{LOT}/deviations",
            "deviation.recorded",
            batch_uri(w),
            {"title": "Door alarm", "description": "Tank lid open 2 min", "severity": "minor"},
        )
    elif spoil == "unstored":
        for test in PASSING:
            approve(w, w.leo, enter(w, w.lena, test)["id"])  # type: ignore[attr-defined]
        w.lena.post(f"/batches/{LOT}/labels", "labels.issued", batch_uri(w), {})
        w.store(w.lena, w.vial("0001"))
        w.store(w.lena, w.vial("0002"))
    elif spoil == "unlabelled":
        for test in PASSING:
            approve(w, w.leo, enter(w, w.lena, test)["id"])  # type: ignore[attr-defined]
        w.lena.post(f"/batches/{LOT}/labels", "labels.issued", batch_uri(w), {"serials": ["0001"]})
        for serial in SERIALS:
            w.store(w.lena, w.vial(serial))
    else:
        complete(w)
        w.api.clock.advance(days=400)
        w.quinn.headers = w.api.headers("quinn")  # a year later: a new sign-in
    fails = failing(w)
    # An open OOS is a failed result as well: the QC check fails beside it.
    expected = ["qc-complete", check] if check == "no-open-oos" else [check]
    assert list(fails) == expected, fails
    refused = decide(w, w.quinn, "released", "Approved for release")
    assert refused.status_code == 409
    assert "the release gate fails" in refused.json()["detail"]
    assert fails[check][0] in refused.json()["detail"]
    assert w.state(w.vial()) == "quarantine"


def test_the_first_e_signature_in_a_session_needs_user_id_and_password(world: World) -> None:
    w = world
    complete(w, skip={"sterility"})
    no_id = decide(
        w,
        w.quinn,
        "on hold",
        "Placed on hold pending investigation",
        justification="Awaiting sterility",
        username=None,
    )
    assert no_id.status_code == 422 and no_id.json()["field"] == "esignature.username"
    wrong = decide(
        w,
        w.quinn,
        "on hold",
        "Placed on hold pending investigation",
        justification="Awaiting sterility",
        password="not-the-password",
    )
    assert wrong.status_code == 403 and "password is wrong" in wrong.json()["detail"]
    held = decide(
        w,
        w.quinn,
        "on hold",
        "Placed on hold pending investigation",
        justification="Awaiting sterility",
    )
    assert held.status_code == 201, held.text
    # Later in the same session the password alone is enough (11.200(a)(1)(ii)).
    conditional = decide(
        w,
        w.quinn,
        "conditionally released",
        "Approved for conditional release, sterility pending",
        justification="Rapid sterility (BacT/ALERT 7-day) negative; patient scheduled",
        username=None,
    )
    assert conditional.status_code == 201, conditional.text
    assert conditional.json()["state"] == "conditionally released"
    attempts = w.api.client.get("/sign-ins", headers=w.api.headers("admin")).json()
    failed = [a for a in attempts if a["channel"] == "e-signature" and not a["success"]]
    assert len(failed) == 1


def test_meaning_and_justification_are_required_as_the_decision_needs(world: World) -> None:
    w = world
    complete(w)
    bad_meaning = decide(w, w.quinn, "released", "Looks fine")
    assert (
        bad_meaning.status_code == 422 and bad_meaning.json()["field"] == "statement.what.meaning"
    )
    no_reason = decide(w, w.quinn, "rejected", "Rejected")
    assert no_reason.status_code == 422
    assert no_reason.json()["field"] == "statement.what.justification"


def test_separation_of_duties_and_roles(world: World) -> None:
    w = world
    complete(w, skip={"viability"})
    # A QA person who reviewed one of its results cannot release it.
    quentin = Signer.register(w.api, "quentin", "qa", "lab")
    w.join("quentin")
    approve(w, quentin, enter(w, w.lena, "viability")["id"])
    not_qa = decide(w, w.lena, "released", "Approved for release")
    assert not_qa.status_code == 403
    refused = decide(w, quentin, "released", "Approved for release")
    assert refused.status_code == 403 and "another QA person" in refused.json()["detail"]
    assert decide(w, w.quinn, "released", "Approved for release").status_code == 201


def test_qa_releases_only_a_batch_made_at_a_lab_they_act_for(api: Api) -> None:
    w = make_world(api, lab_qa=False)
    w.leo = Signer.register(api, "leo", "lab")  # type: ignore[attr-defined]
    w.join("leo")
    complete(w)
    refused = decide(w, w.quinn, "released", "Approved for release")
    assert refused.status_code == 403 and "made at LAB1" in refused.json()["detail"]
    assert readiness(w)["passed"] is True  # refused for who decides, not for the batch
    w.join("quinn")
    assert decide(w, w.quinn, "released", "Approved for release").status_code == 201


def test_no_endpoint_sets_a_status_directly(world: World) -> None:
    spec = world.api.client.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            schema = (
                operation.get("requestBody", {})
                .get("content", {})
                .get("application/json", {})
                .get("schema", {})
            )
            ref = schema.get("$ref", "")
            if not ref:
                continue
            model = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
            assert not {"state", "status"} & set(model.get("properties", {})), (method, path)
    for method in ("put", "patch"):
        response = getattr(world.api.client, method)(
            f"/batches/{LOT}", headers=world.quinn.headers, json={"state": "released"}
        )
        assert response.status_code == 405
    assert world.state(world.vial()) == "quarantine"


def test_conditional_release_then_a_late_positive_sterility_recalls_the_batch(
    world: World,
) -> None:
    w = world
    complete(w, skip={"sterility"})
    assert failing(w) == {"qc-complete": ["Sterility: missing"]}
    assert failing(w, conditional=True) == {}
    done = decide(
        w,
        w.quinn,
        "conditionally released",
        "Approved for conditional release, sterility pending",
        justification="Rapid method negative at day 7",
    )
    assert done.status_code == 201, done.text
    # One vial goes to the clinic and is administered; one stays in the lab.
    w.hand(w.lena, w.cora, w.vial("0001"), "user:cora")
    w.hand(w.cora, w.nora, w.vial("0001"), "site:CLINIC1")
    w.step(
        w.nora,
        "/custody/receive",
        "custody.received",
        w.vial("0001"),
        seal_intact=True,
        damaged=False,
        logger_attached=True,
    )
    given = w.step(w.nora, "/custody/administer", "custody.administered", w.vial("0001"))
    assert given.status_code == 201, given.text
    # A third reaches the clinic but is not given yet.
    third = w.vial("0003")
    w.hand(w.lena, w.cora, third, "user:cora")
    w.hand(w.cora, w.nora, third, "site:CLINIC1")
    assert w.receive(w.nora, third).status_code == 201
    assert w.store(w.nora, third, site="CLINIC1").status_code == 201
    # The 14-day culture comes back positive.
    enter(w, w.lena, "sterility", {"result": "growth"})
    assert w.state(w.vial("0002")) == "recalled"
    # Everyone concerned hears of it on their home page: the clinic that holds a vial and
    # the lab that made them; nobody else.
    html = {"accept": "text/html"}
    for who in (w.nora, w.lena):
        home = w.api.client.get("/", headers=who.headers | html).text
        assert "data-inbox" in home and f"Batch {LOT} is recalled" in home, who.username
        assert "hand it only back to LAB1" in home and "Given to patients: vial 0001" in home
    assert "data-inbox" not in w.api.client.get("/", headers=w.cody.headers | html).text
    # The recall holds every vial: from the lab it goes nowhere; from the clinic only back.
    kept = w.offer(w.lena, w.vial("0002"), "user:cora")
    assert kept.status_code == 409
    assert kept.json()["detail"] == f"batch {LOT} is recalled: the vial goes only back to LAB1"
    w.hand(w.nora, w.cora, third, "user:cora")  # a courier collects it for the lab
    elsewhere = w.offer(w.cora, third, "site:CLINIC1")
    assert elsewhere.status_code == 409 and "only back to LAB1" in elsewhere.json()["detail"]
    w.hand(w.cora, w.lena, third, "site:LAB1")
    # The service recalled it, by its own rule: the trail says so and names the cause.
    trail = w.api.client.get("/audit-trail", headers=w.quinn.headers).json()
    (recalled,) = [
        r for r in (trail["items"] if isinstance(trail, dict) else trail) if r["action"] == "recall"
    ]
    assert recalled["actor"] == "system" and "entered by lena" in recalled["reason"]
    notice = w.api.client.get(f"/batches/{LOT}/recall", headers=w.quinn.headers)
    assert notice.status_code == 200
    vials = {v["serial"]: v for v in notice.json()["vials"]}
    assert vials["0001"]["administered"] is True and vials["0001"]["site"] == "CLINIC1"
    assert vials["0002"]["administered"] is False and vials["0002"]["custodian"] == "site:LAB1"
    entry = w.api.client.get(
        f"/log/entries/{notice.json()['log_index']}", headers=w.quinn.headers
    ).json()
    assert entry["body"]["type"] == "batch.recalled"
    # Recalled vials can no longer be given to a patient.
    assert w.store(w.lena, w.vial("0002"), unit="LN2-A").status_code == 201
    again = w.step(w.lena, "/custody/administer", "custody.administered", w.vial("0002"))
    assert again.status_code == 409 and "recalled" in again.json()["detail"]
    assert_reconciled(w.api)


def test_a_disposition_under_its_current_name_proves_beside_one_under_the_old(
    world: World,
) -> None:
    w = world
    complete(w)
    held = decide(
        w,
        w.quinn,
        "on hold",
        "Placed on hold pending investigation",
        justification="check the logger",
        type_name="batch.disposition.decided",
    )
    assert held.status_code == 201, held.text
    entry = w.api.client.get(f"/log/entries/{held.json()['log_index']}", headers=w.quinn.headers)
    assert entry.json()["body"]["type"] == "batch.disposition.decided"
    released = decide(w, w.quinn, "released", "Approved for release")  # the old name
    assert released.status_code == 201, released.text
    assert w.state(w.vial()) == "released"
    assert readiness(w)["checks"][0]["passed"] is True  # proven-by-log reads both
    assert_reconciled(w.api)
    wrong = decide(
        w, w.quinn, "rejected", "Rejected", justification="x", type_name="batch.recalled"
    )
    assert wrong.status_code == 422 and wrong.json()["field"] == "statement.type"


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    from tests.integration.test_labels_pdf import require_tool

    tool = require_tool("pdftotext")
    source = tmp_path / "doc.pdf"
    source.write_bytes(pdf)
    return subprocess.run(
        [tool, "-raw", str(source), "-"], check=True, capture_output=True, text=True
    ).stdout


def test_the_release_certificate_lets_anyone_verify_the_decision(
    world: World, tmp_path: Path
) -> None:
    w = world
    complete(w)
    decided = decide(w, w.quinn, "released", "Approved for release").json()
    pdf = w.api.client.get(f"/batches/{LOT}/release-certificate.pdf", headers=w.quinn.headers)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = pdf_text(pdf.content, tmp_path)
    assert decided["manifestation"] in " ".join(text.split())
    for test in PASSING:
        assert test in text
    assert "approved by leo" in text
    # Everything needed to check the decision, read back from the printed page only.
    index, size = map(int, re.search(r"Entry index (\d+) in a tree of size (\d+)", text).groups())  # type: ignore[union-attr]
    root_hex = re.search(r"Root hash: ([0-9a-f]{64})", text).group(1)  # type: ignore[union-attr]
    proof_block = text.split("Inclusion proof (one hash per line):")[1].split("Checkpoint")[0]
    proof = [bytes.fromhex(h) for h in re.findall(r"^[0-9a-f]{64}$", proof_block, re.M)]
    note = text.split("Checkpoint (C2SP signed note):\n")[1].split("Entry (RFC 8785 JSON")[0]
    printed = text.split("join the lines, then decode):\n")[1].split("\x0c")[0]
    entry = base64.b64decode("".join(printed.split())).decode()
    key = w.api.client.get("/log/key").text.strip()
    # Text extraction drops the note's blank line; the signature lines start with "— ".
    body, _, signatures = note.strip().partition("\n\u2014 ")
    note = f"{body.strip()}\n\n\u2014 {signatures}\n"
    checkpoint = verify_checkpoint(note, parse_verifier_key(key))
    assert (checkpoint.size, checkpoint.root_hash.hex()) == (size, root_hex)
    assert index == decided["log_index"]
    verify_inclusion(leaf_hash(entry.encode()), index, size, proof, bytes.fromhex(root_hex))
    assert json.loads(entry)["type"] == "batch.disposition"


def test_the_recall_notice_pdf_lists_every_vial(world: World, tmp_path: Path) -> None:
    w = world
    assert (
        w.api.client.get(f"/batches/{LOT}/recall.pdf", headers=w.quinn.headers).status_code == 404
    )
    complete(w, skip={"sterility"})
    decide(
        w,
        w.quinn,
        "conditionally released",
        "Approved for conditional release, sterility pending",
        justification="Rapid negative",
    )
    enter(w, w.lena, "sterility", {"result": "growth"})
    pdf = w.api.client.get(f"/batches/{LOT}/recall.pdf", headers=w.quinn.headers)
    assert pdf.status_code == 200
    text = pdf_text(pdf.content, tmp_path)
    assert f"Recall notice: batch {LOT}" in text
    for serial in SERIALS:
        assert re.search(rf"^{serial} in storage site:LAB1 LAB1 no$", text, re.M), text


def test_a_vial_is_administered_only_at_a_clinic_and_never_under_an_open_excursion(
    world: World,
) -> None:
    w = world
    complete(w)
    assert decide(w, w.quinn, "released", "Approved for release").status_code == 201
    at_lab = w.step(w.lena, "/custody/administer", "custody.administered", w.vial("0002"))
    assert at_lab.status_code == 409 and "at a clinic" in at_lab.json()["detail"]
    w.hand(w.lena, w.cora, w.vial("0001"), "user:cora")
    w.hand(w.cora, w.nora, w.vial("0001"), "site:CLINIC1")
    w.step(
        w.nora,
        "/custody/receive",
        "custody.received",
        w.vial("0001"),
        seal_intact=True,
        damaged=False,
        logger_attached=True,
    )
    assert w.store(w.nora, w.vial("0001"), site="CLINIC1").status_code == 201
    # The clinic's tank warms up for 20 minutes (10 allowed) while the vial is in it.
    start = w.api.clock()
    w.api.clock.advance(minutes=45)
    rows = [
        f"{(start + timedelta(minutes=m)).strftime('%Y-%m-%dT%H:%M:%SZ')},"
        f"{'-120' if 10 <= m <= 30 else '-190'}"
        for m in range(0, 41)
    ]
    uploaded = w.api.client.post(
        "/sites/CLINIC1/units/LN2-A/temperatures",
        headers=w.nora.headers | {"content-type": "text/csv"},
        content=("time,temperature (°C)\n" + "\n".join(rows) + "\n").encode(),
    )
    assert uploaded.status_code == 201, uploaded.text
    refused = w.step(w.nora, "/custody/administer", "custody.administered", w.vial("0001"))
    assert refused.status_code == 409 and "excursion" in refused.json()["detail"]


def test_no_cli_command_takes_a_status() -> None:
    import click
    import typer

    from traceability.cli.main import app

    def walk(command: click.Command, path: str) -> list[str]:
        found = [
            f"{path} {name}"
            for param in command.params
            for name in getattr(param, "opts", [])
            if any(word in name for word in ("state", "status", "disposition"))
        ]
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                found += walk(sub, f"{path} {name}")
        return found

    assert walk(typer.main.get_command(app), "traceability") == []


def test_a_rejected_batch_takes_no_more_entries(world: World) -> None:
    w = world
    complete(w, skip={"potency"})
    enter(w, w.lena, "potency", {"value": "12"})
    rejected = decide(w, w.quinn, "rejected", "Rejected", justification="Potency OOS confirmed")
    assert rejected.status_code == 201 and rejected.json()["state"] == "rejected"
    late = w.lena.post(
        f"/batches/{LOT}/deviations",
        "deviation.recorded",
        batch_uri(w),
        {"title": "Late note", "description": "After rejection", "severity": "minor"},
    )
    assert late.status_code == 409 and "rejected" in late.json()["detail"]
    result = w.lena.post(
        f"/batches/{LOT}/results",
        "qc.result.entered",
        batch_uri(w),
        {
            "test": "viability",
            "values": {"value": "90"},
            "unit": "%",
            "method": "7-AAD",
            "instrument": "x",
            "reagent_lots": [],
            "analyst": "lena",
            "tested_at": "2026-11-01T10:00:00Z",
        },
    )
    assert result.status_code == 409
    # Its vials can only go to destruction.
    again = decide(w, w.quinn, "released", "Approved for release", username=None)
    assert again.status_code == 409


def test_a_late_positive_sterility_recalls_even_after_an_on_hold(world: World) -> None:
    w = world
    complete(w, skip={"sterility"})
    decide(
        w,
        w.quinn,
        "conditionally released",
        "Approved for conditional release, sterility pending",
        justification="Rapid negative",
    )
    w.hand(w.lena, w.cora, w.vial("0001"), "user:cora")
    held = decide(
        w,
        w.quinn,
        "on hold",
        "Placed on hold pending investigation",
        justification="Courier delayed",
        username=None,
    )
    assert held.status_code == 201, held.text
    enter(w, w.lena, "sterility", {"result": "growth"})
    notice = w.api.client.get(f"/batches/{LOT}/recall", headers=w.quinn.headers)
    assert notice.status_code == 200
    vials = {v["serial"]: v for v in notice.json()["vials"]}
    # With the courier: no site to name, the courier is the one to call.
    assert vials["0001"]["custodian"] == "user:cora" and vials["0001"]["site"] is None


def test_someone_elses_user_id_in_an_e_signature_is_recorded(world: World) -> None:
    w = world
    complete(w)
    wrong = decide(w, w.quinn, "released", "Approved for release", username="lena")
    assert wrong.status_code == 403
    attempts = w.api.client.get("/sign-ins", headers=w.api.headers("admin")).json()
    assert [a["success"] for a in attempts if a["channel"] == "e-signature"] == [False]


def test_the_certificate_shows_custody_as_it_stood_at_the_decision(
    world: World, tmp_path: Path
) -> None:
    w = world
    complete(w)
    assert decide(w, w.quinn, "released", "Approved for release").status_code == 201
    w.api.clock.advance(minutes=5)
    w.hand(w.lena, w.cora, w.vial("0001"), "user:cora")
    pdf = w.api.client.get(f"/batches/{LOT}/release-certificate.pdf", headers=w.quinn.headers)
    text = pdf_text(pdf.content, tmp_path)
    assert re.search(r"^0001 in storage site:LAB1 LAB1 ", text, re.M), text
    assert "user:cora" not in text
