"""A batch made at a lab is kept by that lab's staff: a lab or QA role at another site
reads the record but cannot enter, review, label, assign or decide on it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.custody_flow import make_site
from tests.integration.test_batch_records import batch_what, product_uri, register_product
from tests.integration.test_qc_results import result_what
from tests.signing import Signer
from tests.support import Api

LOT = "UC26-001"
HTML = {"accept": "text/html"}


@pytest.fixture
def people(api: Api) -> dict[str, Signer]:
    api.add_user("admin", "admin")
    signers = {
        "quinn": Signer.register(api, "quinn", "qa"),
        "lena": Signer.register(api, "lena", "lab"),
        "leo": Signer.register(api, "leo", "lab"),
        "nora": Signer.register(api, "nora", "lab"),  # the clinic's lab
        "quade": Signer.register(api, "quade", "qa"),  # QA, at the clinic only
    }
    make_site(api, "LAB1", "lab", ("quinn", "lena", "leo"))
    make_site(api, "CLINIC1", "clinic", ("nora", "quade"))
    register_product(api, signers["quinn"])
    return signers


def subject(api: Api) -> str:
    return f"{product_uri(api)}/10/{LOT}"


def register(api: Api, who: Signer, **change: Any) -> Any:
    return who.post("/batches", "batch.registered", subject(api), batch_what(**change))


def on_batch(api: Api, who: Signer, path: str, type: str, what: dict[str, Any]) -> Any:  # noqa: A002
    return who.post(f"/batches/{LOT}{path}", type, subject(api), what)


def test_a_batch_is_registered_only_at_a_lab_its_registrar_acts_for(
    api: Api, people: dict[str, Signer]
) -> None:
    at_clinic = register(api, people["nora"], site="CLINIC1")
    assert at_clinic.status_code == 422
    assert at_clinic.json()["field"] == "statement.what.site"
    assert "a batch is made at a lab" in at_clinic.json()["detail"]
    nowhere = register(api, people["lena"], site="LAB9")
    assert nowhere.status_code == 422 and nowhere.json()["field"] == "statement.what.site"
    not_mine = register(api, people["nora"], site="LAB1")
    assert not_mine.status_code == 403 and "LAB1" in not_mine.json()["detail"]
    assert api.client.get(f"/batches/{LOT}", headers=people["lena"].headers).status_code == 404
    made = register(api, people["lena"], site="LAB1")
    assert made.status_code == 201, made.text
    record = api.client.get(f"/batches/{LOT}", headers=people["nora"].headers)
    assert record.status_code == 200 and record.json()["site"] == "LAB1"


def test_only_the_making_labs_staff_enter_review_and_act_on_its_record(
    api: Api, people: dict[str, Signer]
) -> None:
    lena, leo, nora, quade = people["lena"], people["leo"], people["nora"], people["quade"]
    assert register(api, lena, site="LAB1").status_code == 201
    refused = on_batch(api, nora, "/results", "qc.result.entered", result_what())
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        f"batch {LOT} is made at LAB1; only those who act for LAB1 keep its record"
    )
    entered = on_batch(api, lena, "/results", "qc.result.entered", result_what())
    assert entered.status_code == 201, entered.text
    review = {"result": entered.json()["id"], "decision": "approved", "comment": None}
    for outsider in (nora, quade):
        assert on_batch(api, outsider, "/reviews", "qc.result.reviewed", review).status_code == 403
    deviation = {"title": "Door alarm", "description": "4 minutes", "severity": "minor"}
    assert on_batch(api, nora, "/deviations", "deviation.recorded", deviation).status_code == 403
    assert on_batch(api, nora, "/labels", "labels.issued", {}).status_code == 403
    assert on_batch(api, lena, "/labels", "labels.issued", {}).status_code == 201
    reissue = {"serials": ["0001"], "reason": "smudged"}
    assert on_batch(api, nora, "/labels/reissue", "labels.reissued", reissue).status_code == 403
    # Printed labels carry each vial's live tag: printing is the making lab's too.
    for printed in ("labels.pdf", "labels.zpl"):
        url = f"/batches/{LOT}/{printed}"
        assert api.client.get(url, headers=nora.headers).status_code == 403, printed
        assert api.client.get(url, headers=lena.headers).status_code == 200, printed
    # Nothing the outsiders tried is in the record; the lab's own staff go on as before.
    record = api.client.get(f"/batches/{LOT}", headers=leo.headers).json()
    assert [r["review"] for r in record["results"]] == [None]
    assert on_batch(api, leo, "/reviews", "qc.result.reviewed", review).status_code == 201
    recorded = on_batch(api, lena, "/deviations", "deviation.recorded", deviation)
    assert recorded.status_code == 201, recorded.text
    to_outsider = on_batch(
        api,
        people["quinn"],
        "/deviations/events",
        "deviation.assigned",
        {"deviation": recorded.json()["id"], "assignee": "nora"},
    )
    assert to_outsider.status_code == 422
    assert to_outsider.json()["field"] == "statement.what.assignee"
    closing = {"deviation": recorded.json()["id"], "conclusion": "no impact"}
    assert (
        on_batch(api, quade, "/deviations/events", "deviation.closed", closing).status_code == 403
    )
    failed = on_batch(
        api,
        lena,
        "/results",
        "qc.result.entered",
        result_what(test="potency", values={"value": "10"}, unit="% inhibition"),
    )
    assert failed.status_code == 201, failed.text
    conclusion = {
        "result": failed.json()["id"],
        "conclusion": "invalidated",
        "reason": "positive control failed",
    }
    assert on_batch(api, quade, "/oos", "oos.concluded", conclusion).status_code == 403
    # The same statement from the lab's own QA is taken: the refusal was for who, not what.
    done = on_batch(api, people["quinn"], "/oos", "oos.concluded", conclusion)
    assert done.status_code == 201, done.text


def test_another_sites_staff_see_no_review_work_or_buttons_for_the_batch(
    api: Api, people: dict[str, Signer]
) -> None:
    lena, leo, nora = people["lena"], people["leo"], people["nora"]
    assert register(api, lena, site="LAB1").status_code == 201
    result = on_batch(api, lena, "/results", "qc.result.entered", result_what()).json()
    queue_for = {
        who.username: api.client.get("/ui/reviews", headers=who.headers | HTML).text
        for who in (leo, nora)
    }
    assert f"/ui/batches/{LOT}" in queue_for["leo"]
    assert f"/ui/batches/{LOT}" not in queue_for["nora"]
    page_for = {
        who.username: api.client.get(f"/ui/batches/{LOT}", headers=who.headers | HTML).text
        for who in (leo, nora)
    }
    button = f'data-decision="approved" data-result="{result["id"]}"'
    assert button in page_for["leo"] and button not in page_for["nora"]
    assert "only those who act for LAB1" in page_for["nora"]
    assert 'made at <a href="/ui/sites/LAB1">LAB1</a>' in page_for["nora"]


def test_once_labs_are_set_up_a_batch_must_name_the_lab_that_makes_it(
    api: Api, people: dict[str, Signer]
) -> None:
    """Without a site a batch would be open to every lab's staff. (An install with no
    lab sites at all registers batches without one: the QC tests run that way.)"""
    unnamed = register(api, people["lena"])
    assert unnamed.status_code == 422
    assert unnamed.json()["field"] == "statement.what.site"
    assert api.client.get(f"/batches/{LOT}", headers=people["lena"].headers).status_code == 404
