"""Products, specification versions, batches and vials: signed, logged, refused when wrong."""

from __future__ import annotations

import json
from typing import Any

import pytest

from audit.entry import parse_entry
from tests.signing import Signer
from tests.support import Api
from traceability.custody_log.verify_log import verify_log
from traceability.domain.specifications import specification_to_json, uc_msc_specification

GTIN = "09521234543213"


@pytest.fixture
def quinn(api: Api) -> Signer:
    return Signer.register(api, "quinn", "qa")


@pytest.fixture
def lena(api: Api) -> Signer:
    return Signer.register(api, "lena", "lab")


def product_what(version: int = 1, **change: Any) -> dict[str, Any]:
    spec = json.loads(json.dumps(specification_to_json(uc_msc_specification(version))))
    return {
        "code": "UC-MSC",
        "name": "Umbilical-cord MSC",
        "gtin": GTIN,
        "processing_class": "advanced-therapy",
        "storage_condition": "Store at or below -150 °C",
        "specification": spec,
    } | change


def product_uri(api: Api) -> str:
    return f"{api.settings.resolver_base}/01/{GTIN}"


def batch_what(**change: Any) -> dict[str, Any]:
    return {
        "product": "UC-MSC",
        "lot": "UC26-001",
        "donor_code": "D-7F3A",
        "processing_class": "advanced-therapy",
        "manufactured_on": "2026-10-01",
        "expires_on": "2027-10-01",
        "specification_version": 1,
        "vials": ["0001", "0002", "0003"],
    } | change


def register_product(api: Api, quinn: Signer) -> None:
    response = quinn.post("/products", "product.registered", product_uri(api), product_what())
    assert response.status_code == 201, response.text


def test_a_product_is_registered_with_its_first_specification_signed_by_qa(
    api: Api, quinn: Signer
) -> None:
    response = quinn.post("/products", "product.registered", product_uri(api), product_what())
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["uri"] == product_uri(api)
    assert [s["version"] for s in body["specifications"]] == [1]
    entry = api.client.get(
        f"/log/entries/{body['specifications'][0]['log_index']}", headers=quinn.headers
    ).json()["body"]
    assert entry["type"] == "product.registered" and entry["actor"] == "quinn"
    assert entry["what"]["specification"]["tests"][2]["criterion"]["upper"]["value"] == "0.5"


def test_a_new_specification_version_never_changes_an_older_one(api: Api, quinn: Signer) -> None:
    register_product(api, quinn)
    v2 = json.loads(json.dumps(specification_to_json(uc_msc_specification(2))))
    v2["tests"][4]["criterion"]["lower"]["value"] = "80"  # viability tightened to 80 %
    response = quinn.post(
        "/products/UC-MSC/specifications",
        "spec.version.created",
        product_uri(api),
        {"specification": v2},
    )
    assert response.status_code == 201, response.text
    versions = api.client.get("/products/UC-MSC", headers=quinn.headers).json()["specifications"]
    assert [v["document"]["tests"][4]["criterion"]["lower"]["value"] for v in versions] == [
        "70",
        "80",
    ]
    skipped = quinn.post(
        "/products/UC-MSC/specifications",
        "spec.version.created",
        product_uri(api),
        {"specification": v2},
    )
    assert skipped.status_code == 422
    assert skipped.json()["field"] == "statement.what.specification.version"


def test_a_batch_registers_with_its_vials_each_commissioned_in_the_log(
    api: Api, quinn: Signer, lena: Signer
) -> None:
    register_product(api, quinn)
    subject = f"{product_uri(api)}/10/UC26-001"
    response = lena.post("/batches", "batch.registered", subject, batch_what())
    assert response.status_code == 201, response.text
    batch = response.json()
    assert batch["state"] == "quarantine"
    assert batch["uri"] == subject
    assert [v["uri"] for v in batch["vials"]] == [f"{subject}/21/000{n}" for n in (1, 2, 3)]
    assert set(batch["tests"].values()) == {"missing"}
    assert list(batch["tests"]) == [
        "sterility",
        "mycoplasma",
        "endotoxin",
        "identity",
        "viability",
        "potency",
        "cell_count",
    ]
    vial_entry = api.client.get(
        f"/log/entries/{batch['vials'][0]['log_index']}", headers=lena.headers
    ).json()["body"]
    assert vial_entry["type"] == "vial.commissioned" and vial_entry["actor"] is None
    assert vial_entry["what"]["batch_entry"] == batch["log_index"]
    report = verify_log(api.db, api.app.state.context.log.keys.log.verifier())
    assert report.ok, report.findings


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"donor_code": "Jane Doe"}, "statement.what.donor_code"),
        ({"lot": "LOT 1"}, "statement.what.lot"),
        ({"lot": "L" * 21}, "statement.what.lot"),
        ({"expires_on": "2026-09-01"}, "statement.what.expires_on"),
        ({"manufactured_on": "yesterday"}, "statement.what.manufactured_on"),
        ({"specification_version": 9}, "statement.what.specification_version"),
        ({"vials": []}, "statement.what.vials"),
        ({"vials": ["0001", "0001"]}, "statement.what.vials"),
        ({"vials": ["00 1"]}, "statement.what.vials[0]"),
        ({"processing_class": "novel"}, "statement.what.processing_class"),
        ({"product": "NOPE"}, "statement.what.product"),
    ],
)
def test_bad_batch_registrations_are_refused_naming_the_field_and_store_nothing(
    api: Api, quinn: Signer, lena: Signer, change: dict[str, Any], field: str
) -> None:
    register_product(api, quinn)
    lot = change.get("lot", "UC26-001")
    subject = (
        f"{product_uri(api)}/10/{lot}"
        if " " not in lot and len(lot) <= 20
        else f"{product_uri(api)}/10/X"
    )
    response = lena.post("/batches", "batch.registered", subject, batch_what(**change))
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert api.client.get("/batches", headers=lena.headers).json() == []


def test_a_batch_statement_must_be_about_the_batch_it_registers(
    api: Api, quinn: Signer, lena: Signer
) -> None:
    register_product(api, quinn)
    wrong = lena.post("/batches", "batch.registered", f"{product_uri(api)}/10/OTHER", batch_what())
    assert wrong.status_code == 422 and wrong.json()["field"] == "statement.subject"


def test_only_the_signer_can_send_their_statement(api: Api, quinn: Signer, lena: Signer) -> None:
    register_product(api, quinn)
    leo = Signer.register(api, "leo", "lab")
    body = lena.body("batch.registered", f"{product_uri(api)}/10/UC26-001", batch_what())
    stolen = api.client.post("/batches", headers=leo.headers, json=body)
    assert stolen.status_code == 403


def test_a_lot_is_registered_once(api: Api, quinn: Signer, lena: Signer) -> None:
    register_product(api, quinn)
    subject = f"{product_uri(api)}/10/UC26-001"
    assert lena.post("/batches", "batch.registered", subject, batch_what()).status_code == 201
    again = lena.post("/batches", "batch.registered", subject, batch_what())
    assert again.status_code == 409


def test_roles_lab_registers_batches_qa_registers_products(
    api: Api, quinn: Signer, lena: Signer
) -> None:
    assert (
        lena.post("/products", "product.registered", product_uri(api), product_what()).status_code
        == 403
    )
    register_product(api, quinn)
    assert (
        quinn.post(
            "/batches", "batch.registered", f"{product_uri(api)}/10/UC26-001", batch_what()
        ).status_code
        == 403
    )


def test_a_bad_signature_is_refused(api: Api, quinn: Signer) -> None:
    body = quinn.body("product.registered", product_uri(api), product_what())
    body["statement"]["what"]["name"] = "Tampered"
    response = api.client.post("/products", headers=quinn.headers, json=body)
    assert response.status_code == 422
    assert response.json()["field"] == "signature"
    assert api.client.get("/products", headers=quinn.headers).json() == []


def test_the_vial_entries_name_each_vial(api: Api, quinn: Signer, lena: Signer) -> None:
    register_product(api, quinn)
    batch = lena.post(
        "/batches", "batch.registered", f"{product_uri(api)}/10/UC26-001", batch_what()
    ).json()
    for vial in batch["vials"]:
        raw = api.client.get(f"/log/entries/{vial['log_index']}", headers=lena.headers).json()
        import base64

        assert parse_entry(base64.b64decode(raw["entry"])).subject == vial["uri"]
