"""Deviations: recorded against a batch, assigned and closed by QA, each step signed."""

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
    }
    register_product(api, signers["quinn"])
    assert (
        signers["lena"]
        .post("/batches", "batch.registered", f"{product_uri(api)}/10/{LOT}", batch_what())
        .status_code
        == 201
    )
    return signers


def subject(api: Api) -> str:
    return f"{product_uri(api)}/10/{LOT}"


def record(api: Api, who: Signer, **change: Any) -> Any:
    what = {
        "title": "Freezer door alarm during fill",
        "description": "Alarm for 4 minutes "
        "while vials 0001-0003 were filled; temperature stayed in range.",
        "severity": "minor",
    } | change
    return who.post(f"/batches/{LOT}/deviations", "deviation.recorded", subject(api), what)


def event(api: Api, who: Signer, type: str, what: dict[str, Any]) -> Any:  # noqa: A002
    return who.post(f"/batches/{LOT}/deviations/events", type, subject(api), what)


def test_a_deviation_is_recorded_assigned_and_closed(api: Api, people: dict[str, Signer]) -> None:
    lena, quinn = people["lena"], people["quinn"]
    recorded = record(api, lena)
    assert recorded.status_code == 201, recorded.text
    deviation = recorded.json()
    assert deviation["state"] == "open"
    assert (
        event(
            api, lena, "deviation.assigned", {"deviation": deviation["id"], "assignee": "lena"}
        ).status_code
        == 403
    )
    assigned = event(
        api, quinn, "deviation.assigned", {"deviation": deviation["id"], "assignee": "lena"}
    )
    assert assigned.status_code == 201 and assigned.json()["state"] == "assigned"
    closed = event(
        api,
        quinn,
        "deviation.closed",
        {
            "deviation": deviation["id"],
            "conclusion": "No impact on product quality: logger data show <= -150 °C throughout.",
        },
    )
    assert closed.status_code == 201, closed.text
    assert closed.json()["state"] == "closed" and closed.json()["assignee"] == "lena"
    again = event(
        api, quinn, "deviation.closed", {"deviation": deviation["id"], "conclusion": "again"}
    )
    assert again.status_code == 409
    listed = api.client.get(f"/batches/{LOT}/deviations", headers=lena.headers).json()
    assert [d["state"] for d in listed] == ["closed"]
    entry = api.client.get(f"/log/entries/{deviation['log_index']}", headers=quinn.headers).json()[
        "body"
    ]
    assert entry["type"] == "deviation.recorded" and entry["actor"] == "lena"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"severity": "catastrophic"}, "statement.what.severity"),
        ({"title": ""}, "statement.what.title"),
        ({"description": "x" * 4001}, "statement.what.description"),
    ],
)
def test_bad_deviations_are_refused(
    api: Api, people: dict[str, Signer], change: dict[str, Any], field: str
) -> None:
    response = record(api, people["lena"], **change)
    assert response.status_code == 422 and response.json()["field"] == field
    assert api.client.get(f"/batches/{LOT}/deviations", headers=people["lena"].headers).json() == []


def test_assigning_to_nobody_or_an_unknown_deviation_is_refused(
    api: Api, people: dict[str, Signer]
) -> None:
    deviation = record(api, people["lena"]).json()
    quinn = people["quinn"]
    ghost = event(
        api, quinn, "deviation.assigned", {"deviation": deviation["id"], "assignee": "ghost"}
    )
    assert ghost.status_code == 422 and ghost.json()["field"] == "statement.what.assignee"
    api.add_user("admin", "admin")
    api.add_user("leo", "lab")
    disabled = api.client.post(
        "/users/leo/disable", headers=api.headers("admin"), json={"reason": "left the lab"}
    )
    assert disabled.status_code == 200, disabled.text
    gone = event(
        api, quinn, "deviation.assigned", {"deviation": deviation["id"], "assignee": "leo"}
    )
    assert gone.status_code == 422 and gone.json()["field"] == "statement.what.assignee"
    assert "disabled" in gone.json()["detail"]
    unknown = event(api, quinn, "deviation.closed", {"deviation": 999, "conclusion": "x"})
    assert unknown.status_code == 422 and unknown.json()["field"] == "statement.what.deviation"
    wrong_type = event(api, quinn, "deviation.recorded", {"deviation": deviation["id"]})
    assert wrong_type.status_code == 422 and wrong_type.json()["field"] == "statement.type"


def test_the_batch_page_lists_deviations(api: Api, people: dict[str, Signer]) -> None:
    record(api, people["lena"])
    page = api.client.get(
        f"/ui/batches/{LOT}", headers=people["quinn"].headers | {"accept": "text/html"}
    )
    assert "Freezer door alarm during fill" in page.text and ">open<" in page.text
