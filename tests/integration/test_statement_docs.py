"""Each signed write documents its statement kind's `what` in /openapi.json (issue 18),
while the service alone checks it: a bad `what` is still refused naming the member."""

from __future__ import annotations

from typing import Any

from tests.integration.test_qc_results import enter, people  # noqa: F401 - fixture
from tests.signing import Signer
from tests.support import Api


def _body_schema(spec: dict[str, Any], path: str) -> dict[str, Any]:
    ref = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    schema: dict[str, Any] = spec["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]
    return schema


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return found


def test_a_result_entry_documents_its_what(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    statement = _body_schema(spec, "/batches/{lot}/results")["properties"]["statement"]
    assert statement["properties"]["type"]["const"] == "qc.result.entered"
    what = _resolve(spec, statement["properties"]["what"])
    assert {"test", "values", "unit", "method", "analyst", "tested_at"} <= set(what["properties"])
    assert what["properties"]["method"]["maxLength"] == 200
    assert what["properties"]["tested_at"]["format"] == "date-time"
    assert "tested_at" in what["required"] and "unit" not in what["required"]


def test_every_signed_write_of_the_batch_record_names_its_kinds(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    expected = {
        "/products": "ProductRegistration",
        "/batches": "BatchRegistration",
        "/batches/{lot}/disposition": "DispositionRequest",
        "/batches/{lot}/labels/reissue": "ReissueRequest",
        "/excursions/close": "ExcursionClosing",
    }
    for path, model in expected.items():
        what = _body_schema(spec, path)["properties"]["statement"]["properties"]["what"]
        assert what["$ref"].endswith(f"/{model}"), path
    events = _body_schema(spec, "/batches/{lot}/deviations/events")["properties"]["statement"]
    assert [r["$ref"].rsplit("/", 1)[1] for r in events["properties"]["what"]["oneOf"]] == [
        "Assignment",
        "Closure",
    ]
    batch = spec["components"]["schemas"]["BatchRegistration"]
    assert batch["properties"]["processing_class"]["$ref"].startswith("#/components/schemas/")
    for ref in _refs(spec):  # every definition a kind's schema uses went into the components
        assert ref.rsplit("/", 1)[1] in spec["components"]["schemas"], ref


def test_every_custody_step_names_its_kind(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    expected = {
        "/custody/store": ("custody.stored", "Location"),
        "/custody/pack": ("custody.packed", "Packing"),
        "/custody/handoffs": ("custody.handover.offered", "HandoffOffer"),
        "/custody/handoffs/accept": ("custody.handover.accepted", "HandoffAcceptance"),
        "/custody/dispatch": ("custody.dispatched", "Dispatch"),
        "/custody/receive": ("custody.received", "Condition"),
        "/custody/administer": ("custody.administered", "Administration"),
        "/custody/destroy": ("custody.destroyed", "Destruction"),
    }
    for path, (kind, model) in expected.items():
        statement = _body_schema(spec, path)["properties"]["statement"]["properties"]
        assert statement["type"]["const"] == kind, path
        assert statement["what"]["$ref"].endswith(f"/{model}"), path
        assert "nonce" in _resolve(spec, statement["what"])["properties"], path


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def test_a_bad_what_is_refused_by_the_service_naming_the_member(
    api: Api,
    people: dict[str, Signer],  # noqa: F811 - the fixture
) -> None:
    bad = enter(api, people["lena"], method=42)
    assert bad.status_code == 422, bad.text
    assert bad.json()["field"] == "statement.what.method"
    assert bad.json()["detail"] == "method is text of 1-200 characters"
    assert enter(api, people["lena"], supersedes=True).json()["field"] == (
        "statement.what.supersedes"
    )
