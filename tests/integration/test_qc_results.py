"""QC results on a batch record: evaluation, review, supersession, OOS, bad input."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_batch_records import batch_what, product_uri, register_product
from tests.signing import Signer
from tests.support import Api

LOT = "UC26-001"


@pytest.fixture
def people(api: Api) -> dict[str, Signer]:
    signers = {
        "quinn": Signer.register(api, "quinn", "qa"),
        "lena": Signer.register(api, "lena", "lab"),
        "leo": Signer.register(api, "leo", "lab"),
    }
    register_product(api, signers["quinn"])
    subject = f"{product_uri(api)}/10/{LOT}"
    assert (
        signers["lena"].post("/batches", "batch.registered", subject, batch_what()).status_code
        == 201
    )
    return signers


def subject(api: Api) -> str:
    return f"{product_uri(api)}/10/{LOT}"


def result_what(
    test: str = "viability",
    values: dict[str, Any] | None = None,
    unit: str | None = "%",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "test": test,
        "values": {"value": "85.2"} if values is None else values,
        "unit": unit,
        "method": "7-AAD flow cytometry",
        "instrument": "FACSLyric #2",
        "reagent_lots": ["7AAD-2291"],
        "analyst": "Lena Lindqvist",
        "tested_at": "2026-11-01T10:00:00Z",
        **extra,
    }


def enter(api: Api, who: Signer, **kw: Any) -> Any:
    return who.post(f"/batches/{LOT}/results", "qc.result.entered", subject(api), result_what(**kw))


def review(
    api: Api, who: Signer, result: int, decision: str = "approved", comment: str | None = None
) -> Any:
    return who.post(
        f"/batches/{LOT}/reviews",
        "qc.result.reviewed",
        subject(api),
        {"result": result, "decision": decision, "comment": comment},
    )


def status(api: Api, who: Signer) -> dict[str, str]:
    record = api.client.get(f"/batches/{LOT}", headers=who.headers).json()
    tests: dict[str, str] = record["tests"]
    return tests


def test_a_result_is_evaluated_at_once_and_waits_for_a_second_person(
    api: Api, people: dict[str, Signer]
) -> None:
    lena, leo = people["lena"], people["leo"]
    response = enter(api, lena)
    assert response.status_code == 201, response.text
    result = response.json()
    assert result["verdict"] == "pass"
    assert status(api, lena)["viability"] == "awaiting review"
    assert review(api, lena, result["id"]).status_code == 403  # never your own
    assert review(api, leo, result["id"]).status_code == 201
    assert status(api, lena)["viability"] == "pass"
    again = review(api, people["quinn"], result["id"])
    assert again.status_code == 409
    entry = api.client.get(f"/log/entries/{result['log_index']}", headers=lena.headers).json()
    assert entry["body"]["type"] == "qc.result.entered"
    assert entry["body"]["actor"] == "lena" and entry["body"]["subject"] == subject(api)


def test_a_returned_result_needs_a_comment(api: Api, people: dict[str, Signer]) -> None:
    result = enter(api, people["lena"]).json()
    bare = review(api, people["leo"], result["id"], "returned")
    assert bare.status_code == 422 and bare.json()["field"] == "statement.what.comment"
    sent_back = review(api, people["leo"], result["id"], "returned", "gating looks wrong")
    assert sent_back.status_code == 201
    assert status(api, people["lena"])["viability"] == "sent back"
    # The analyst who must act on it sees why, in the record and on the batch page.
    lena = people["lena"]
    record = api.client.get(f"/batches/{LOT}", headers=lena.headers).json()
    [shown] = record["results"]
    assert (shown["review"], shown["reviewed_by"], shown["review_comment"]) == (
        "returned",
        "leo",
        "gating looks wrong",
    )
    page = api.client.get(f"/ui/batches/{LOT}", headers=lena.headers | {"accept": "text/html"})
    assert "sent back by leo: <q>gating looks wrong</q>" in page.text


@pytest.mark.parametrize(
    ("test", "values", "unit", "verdict"),
    [
        ("endotoxin", {"value": "0.5"}, "EU/mL", "pass"),
        ("endotoxin", {"value": "0.51"}, "EU/mL", "fail"),
        ("sterility", {"result": "no growth"}, None, "pass"),
        ("mycoplasma", {"result": "detected"}, None, "fail"),
        ("cell_count", {"value": "30000000"}, "cells/vial", "pass"),
        (
            "identity",
            {
                "CD73": "95",
                "CD90": "99",
                "CD105": "96",
                "CD34": "2",
                "CD45": "0.3",
                "CD14": "0.2",
                "CD19": "0.1",
                "HLA-DR": "0.6",
            },
            "%",
            "pass",
        ),
    ],
)
def test_each_criterion_type_through_the_api(
    api: Api,
    people: dict[str, Signer],
    test: str,
    values: dict[str, Any],
    unit: str | None,
    verdict: str,
) -> None:
    response = enter(api, people["lena"], test=test, values=values, unit=unit)
    assert response.status_code == 201, response.text
    assert response.json()["verdict"] == verdict


def test_a_failure_opens_an_oos_investigation_that_blocks_until_closed(
    api: Api, people: dict[str, Signer]
) -> None:
    lena, quinn = people["lena"], people["quinn"]
    failed = enter(api, lena, test="potency", values={"value": "22"}, unit="% inhibition").json()
    assert failed["verdict"] == "fail" and failed["oos"] == "open"
    assert status(api, lena)["potency"] == "OOS under investigation"
    retest = enter(
        api,
        lena,
        test="potency",
        values={"value": "41"},
        unit="% inhibition",
        supersedes=failed["id"],
        reason="retest",
    )
    assert retest.status_code == 409
    by_lab = lena.post(
        f"/batches/{LOT}/oos",
        "oos.concluded",
        subject(api),
        {"result": failed["id"], "conclusion": "invalidated", "reason": "x"},
    )
    assert by_lab.status_code == 403
    closed = quinn.post(
        f"/batches/{LOT}/oos",
        "oos.concluded",
        subject(api),
        {
            "result": failed["id"],
            "conclusion": "invalidated",
            "reason": "PBMC donor cells were not stimulated (positive control failed)",
        },
    )
    assert closed.status_code == 201, closed.text
    assert status(api, lena)["potency"] == "retest needed"
    retest = enter(
        api,
        lena,
        test="potency",
        values={"value": "41"},
        unit="% inhibition",
        supersedes=failed["id"],
        reason="retest after invalidated OOS",
    )
    assert retest.status_code == 201, retest.text
    assert status(api, lena)["potency"] == "awaiting review"
    record = api.client.get(f"/batches/{LOT}", headers=lena.headers).json()
    assert [r["id"] for r in record["results"] if r["test"] == "potency"] == [
        failed["id"],
        retest.json()["id"],
    ]


def test_a_confirmed_oos_allows_no_retest(api: Api, people: dict[str, Signer]) -> None:
    lena, quinn = people["lena"], people["quinn"]
    failed = enter(api, lena, test="endotoxin", values={"value": "1.2"}, unit="EU/mL").json()
    quinn.post(
        f"/batches/{LOT}/oos",
        "oos.concluded",
        subject(api),
        {"result": failed["id"], "conclusion": "confirmed", "reason": "confirmed"},
    )
    assert status(api, lena)["endotoxin"] == "fail"
    retest = enter(
        api,
        lena,
        test="endotoxin",
        values={"value": "0.1"},
        unit="EU/mL",
        supersedes=failed["id"],
        reason="try again",
    )
    assert retest.status_code == 409


def test_a_correction_supersedes_with_a_reason_and_both_versions_stay(
    api: Api, people: dict[str, Signer]
) -> None:
    lena = people["lena"]
    first = enter(api, lena).json()
    second_without = enter(api, lena, values={"value": "82"})
    assert second_without.status_code == 409
    no_reason = enter(api, lena, values={"value": "82"}, supersedes=first["id"])
    assert no_reason.status_code == 422
    assert no_reason.json()["field"] == "statement.what.reason"
    other_test = enter(
        api, lena, test="endotoxin", values={"value": "0.2"}, unit="EU/mL", supersedes=first["id"]
    )
    assert other_test.status_code == 422
    assert other_test.json()["field"] == "statement.what.supersedes"
    corrected = enter(
        api,
        lena,
        values={"value": "82"},
        supersedes=first["id"],
        reason="transcription error: 85.2 was the previous run",
    )
    assert corrected.status_code == 201
    record = api.client.get(f"/batches/{LOT}", headers=lena.headers).json()
    viability = [r for r in record["results"] if r["test"] == "viability"]
    assert [(r["values"]["value"], r["supersedes"]) for r in viability] == [
        ("85.2", None),
        ("82", first["id"]),
    ]
    # Only the standing result is reviewed; the superseded one is history.
    stale = review(api, people["leo"], first["id"])
    assert stale.status_code == 409 and "superseded" in stale.json()["detail"]
    assert review(api, people["leo"], corrected.json()["id"]).status_code == 201
    page = api.client.get(f"/ui/batches/{LOT}", headers=people["leo"].headers)
    assert f'data-result="{first["id"]}"' not in page.text


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"unit": "percent"}, "statement.what.unit"),
        ({"values": {"value": "100.5"}}, "statement.what.values.value"),
        (
            {"test": "cell_count", "values": {"value": "-5"}, "unit": "cells/vial"},
            "statement.what.values.value",
        ),
        (
            {"test": "cell_count", "values": {"value": "1e400"}, "unit": "cells/vial"},
            "statement.what.values.value",
        ),
        ({"test": "karyotype"}, "statement.what.test"),
        ({"tested_at": "2099-01-01T00:00:00Z"}, "statement.what.tested_at"),
        ({"values": {}}, "statement.what.values"),
        ({"method": ""}, "statement.what.method"),
        ({"analyst": "Zo\u00eb \u202e 1.3"}, "statement.what.analyst"),
        ({"reagent_lots": ["7AAD\x00"]}, "statement.what.reagent_lots[0]"),
        ({"values": {"value": "85.2", "note\u202e": "x"}}, "statement.what.values"),
    ],
)
def test_bad_results_are_refused_naming_the_field_and_nothing_is_stored(
    api: Api, people: dict[str, Signer], change: dict[str, Any], field: str
) -> None:
    response = enter(api, people["lena"], **change)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    record = api.client.get(f"/batches/{LOT}", headers=people["lena"].headers).json()
    assert record["results"] == []


def test_couriers_and_auditors_cannot_enter_results(api: Api, people: dict[str, Signer]) -> None:
    cora = Signer.register(api, "cora", "courier")
    assert enter(api, cora).status_code == 403


def test_the_batch_pages_show_each_tests_status_and_every_result(
    api: Api, people: dict[str, Signer]
) -> None:
    lena = people["lena"]
    failed = enter(api, lena, test="potency", values={"value": "22"}, unit="% inhibition")
    assert failed.status_code == 201
    html = {"accept": "text/html"}
    listing = api.client.get("/ui/batches", headers=lena.headers | html)
    assert listing.status_code == 200
    assert LOT in listing.text and "1 OOS under investigation" in listing.text
    page = api.client.get(f"/ui/batches/{LOT}", headers=lena.headers | html)
    assert page.status_code == 200
    assert "OOS under investigation" in page.text
    assert "Potency 22 % inhibition is outside &gt;= 30 % inhibition" in page.text
    assert f"{subject(api)}/21/0001" in page.text
    cora = Signer.register(api, "cora", "courier")
    assert api.client.get("/ui/batches", headers=cora.headers | html).status_code == 403
    assert api.client.get("/ui/batches/NOPE", headers=lena.headers | html).status_code == 404


def test_the_review_queue_lists_colleagues_results_never_your_own(
    api: Api, people: dict[str, Signer]
) -> None:
    lena, leo = people["lena"], people["leo"]
    first = enter(api, lena).json()
    enter(api, lena, test="potency", values={"value": "10"}, unit="% inhibition")  # a failure
    html = {"accept": "text/html"}
    mine = api.client.get("/ui/reviews", headers=lena.headers | html)
    assert mine.status_code == 200 and "Nothing waits for your review" in mine.text
    theirs = api.client.get("/ui/reviews", headers=leo.headers | html)
    assert f"viability (#{first['id']})" in theirs.text and "potency" not in theirs.text
    review(api, leo, first["id"])
    assert "Nothing waits" in api.client.get("/ui/reviews", headers=leo.headers | html).text
