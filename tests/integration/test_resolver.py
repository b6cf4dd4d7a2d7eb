"""The Digital Link resolver: a scanned label opens its vial's page, or its record as JSON."""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.integration.test_labels_service import batch_subject, issue, people, reissue
from tests.signing import Signer
from tests.support import Api
from traceability.web.rate_limit import SlidingWindowLimiter

__all__ = ["people"]  # the fixture, shared

LOT = "UC26-001"
JSON = {"accept": "application/json"}
HTML = {"accept": "text/html,application/xhtml+xml"}


def local(uri: str) -> str:
    """The path and query a phone would request from the resolver."""
    parts = urlsplit(uri)
    return parts.path + ("?" + parts.query if parts.query else "")


@pytest.fixture
def labels(api: Api, people: dict[str, Signer]) -> list[str]:
    response = issue(api, people["lena"])
    assert response.status_code == 201, response.text
    return [label["uri"] for label in response.json()["labels"]]


def scan(api: Api, uri: str, headers: dict[str, str] | None = None) -> Any:
    return api.client.get(local(uri), headers=headers or JSON)


def test_a_valid_label_opens_the_vials_public_record(api: Api, labels: list[str]) -> None:
    response = scan(api, labels[0])
    assert response.status_code == 200
    record = response.json()
    assert record["tag"] == "valid" and record["tag_flagged"] is False
    assert (record["lot"], record["serial"], record["expires_on"]) == (LOT, "0001", "2027-10-01")
    assert record["status"] == "quarantine"
    assert record["product"] == "Umbilical-cord MSC"
    assert record["qc_required"] == 7 and record["qc_passed"] == 0
    assert {line["status"] for line in record["qc"]} == {"missing"}
    assert [e["type"] for e in record["timeline"]] == ["vial.commissioned", "label.issued"]
    assert record["expiry_on_label_matches"] is True
    # What a patient may see: no staff names, no donor code, no log internals.
    text = response.text
    assert "staff" not in record and "lena" not in text and "D-7F3A" not in text
    assert "actor" not in record["timeline"][0]


def test_signed_in_staff_see_names_donor_code_and_label_history(
    api: Api, people: dict[str, Signer], labels: list[str]
) -> None:
    record = api.client.get(local(labels[0]), headers=people["quinn"].headers | JSON).json()
    assert record["staff"]["donor_code"] == "D-7F3A"
    assert record["timeline"][1]["actor"] == "service, for lena"  # lena asked for the labels
    assert record["staff"]["labels"][0]["issued_by"] == "lena"
    page = api.client.get(local(labels[0]), headers=people["quinn"].headers | HTML)
    assert page.status_code == 200 and "Donor code D-7F3A" in page.text
    assert f'href="/ui/batches/{LOT}"' in page.text


def test_the_browser_page_shows_the_tag_verdict(api: Api, labels: list[str]) -> None:
    page = scan(api, labels[1], HTML)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'data-tag-verdict="valid"' in page.text
    assert "Lot <strong>UC26-001</strong>, vial <strong>0002</strong>" in page.text
    assert "Staff sign in" in page.text and "lena" not in page.text


def with_tag(uri: str, tag: str) -> str:
    return uri.split("&s=")[0] + f"&s={tag}"


@pytest.mark.parametrize(
    ("case", "verdict"),
    [
        ("never-issued", "never issued"),
        ("other-vial", "does not match this vial"),
        ("no-tag", "no tag"),
        ("voided", "voided"),
    ],
)
def test_each_bad_tag_is_reported_as_such(
    api: Api, people: dict[str, Signer], labels: list[str], case: str, verdict: str
) -> None:
    vial_one = labels[0]
    if case == "never-issued":
        uri = with_tag(vial_one, "AAAAAAAAAAAAAAAA")
    elif case == "other-vial":
        uri = with_tag(vial_one, labels[1].split("&s=")[1])
    elif case == "no-tag":
        uri = vial_one.split("&s=")[0]
    else:
        assert reissue(api, people["lena"], serials=["0001"], reason="smudged").status_code == 201
        uri = vial_one
    record = scan(api, uri).json()
    assert record["tag"] == verdict
    assert record["tag_flagged"] is (case != "no-tag")
    page = scan(api, uri, HTML).text
    assert f'data-tag-verdict="{verdict}"' in html.unescape(page)
    if case != "no-tag":
        staff_page = api.client.get(local(uri), headers=people["quinn"].headers | HTML).text
        assert "Flagged scans" in staff_page and verdict in html.unescape(staff_page)


def test_a_label_whose_expiry_differs_from_the_record_is_flagged(
    api: Api, labels: list[str]
) -> None:
    record = scan(api, labels[0].replace("17=271001", "17=281001")).json()
    assert record["expiry_on_label_matches"] is False
    page = scan(api, labels[0].replace("17=271001", "17=281001"), HTML).text
    assert "data-expiry-mismatch" in page


@pytest.mark.parametrize(
    "path",
    [
        "/01/09521234543213/10/UC26-001/21/9999",  # no such vial
        "/01/09521234543214/10/UC26-001/21/0001",  # bad check digit
        "/01/123/10/UC26-001/21/0001",  # not a GTIN
        "/01/09521234543213/10/NOPE/21/0001",  # no such lot
        "/01/09521234543213/10/UC26-001/21/" + "9" * 21,  # serial too long
        "/01/09521234543213/10/UC26-001/21/%E2%82%AC",  # outside the AI 82 set
    ],
)
def test_unknown_or_malformed_identifiers_are_a_404_never_a_500(
    api: Api, labels: list[str], path: str
) -> None:
    response = api.client.get(path, headers=JSON)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    page = api.client.get(path, headers=HTML)
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]


def test_the_first_valid_scan_counts_in_the_reconciliation(
    api: Api, people: dict[str, Signer], labels: list[str]
) -> None:
    scan(api, labels[0])
    scan(api, labels[0])
    status = api.client.get(f"/batches/{LOT}/labels", headers=people["lena"].headers).json()
    assert status["first_scanned"] == 1


def test_scans_are_limited_per_client(api: Api, labels: list[str]) -> None:
    api.app.state.context.scan_limiter = SlidingWindowLimiter(limit=3)
    assert [scan(api, labels[0]).status_code for _ in range(3)] == [200, 200, 200]
    refused = scan(api, labels[0])
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["code"] == "rate-limited"


def test_the_batch_uri_resolves_too(api: Api, labels: list[str]) -> None:
    response = api.client.get(urlsplit(batch_subject(api)).path, headers=JSON)
    assert response.status_code == 200
    assert response.json()["lot"] == LOT and response.json()["vials"] == 3
