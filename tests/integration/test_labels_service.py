"""Issuing and reissuing vial labels, each logged; reconciliation; printing PDF and ZPL."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.integration.test_batch_records import (
    batch_what,
    product_uri,
    product_what,
    register_product,
)
from tests.integration.test_labels_pdf import decoded, rasterise
from tests.signing import Signer
from tests.support import Api, LiveServer
from traceability.custody_log.verify_log import verify_log
from traceability.web.app import create_app

LOT = "UC26-001"


@pytest.fixture
def people(api: Api) -> dict[str, Signer]:
    signers = {
        "quinn": Signer.register(api, "quinn", "qa"),
        "lena": Signer.register(api, "lena", "lab"),
        "cora": Signer.register(api, "cora", "courier"),
    }
    register_product(api, signers["quinn"])
    registered = signers["lena"].post(
        "/batches", "batch.registered", batch_subject(api), batch_what()
    )
    assert registered.status_code == 201, registered.text
    return signers


def batch_subject(api: Api) -> str:
    return f"{product_uri(api)}/10/{LOT}"


def issue(api: Api, who: Signer, **what: Any) -> Any:
    return who.post(f"/batches/{LOT}/labels", "labels.issued", batch_subject(api), what)


def reissue(api: Api, who: Signer, **what: Any) -> Any:
    return who.post(f"/batches/{LOT}/labels/reissue", "labels.reissued", batch_subject(api), what)


def tag_of(uri: str) -> str:
    return parse_qs(urlsplit(uri).query)["s"][0]


def entry(api: Api, who: Signer, index: int) -> Any:
    response = api.client.get(f"/log/entries/{index}", headers=who.headers)
    assert response.status_code == 200
    return response.json()["body"]


def test_issuing_labels_appends_one_entry_per_vial_with_its_tags_digest(
    api: Api, people: dict[str, Signer]
) -> None:
    lena = people["lena"]
    response = issue(api, lena)
    assert response.status_code == 201, response.text
    labels = response.json()["labels"]
    assert [label["serial"] for label in labels] == ["0001", "0002", "0003"]
    tags = set()
    for label in labels:
        uri = label["uri"]
        assert uri.startswith(f"{batch_subject(api)}/21/{label['serial']}?17=271001&s=")
        tag = tag_of(uri)
        assert len(tag) >= 11 and tag not in tags  # >= 64 bits, distinct
        tags.add(tag)
        body = entry(api, lena, label["log_index"])
        assert body["type"] == "label.issued"
        assert body["subject"] == uri.split("?")[0]
        # The log carries the tag's digest, never the tag itself.
        assert body["what"]["tag_sha256"] == hashlib.sha256(tag.encode()).hexdigest()
        assert tag not in str(body)
    reconciliation = response.json()["reconciliation"]
    assert reconciliation["issued"] == 3 and reconciliation["reconciled"] is True
    again = issue(api, lena)
    assert again.status_code == 409 and "reissue" in again.json()["detail"]
    report = verify_log(api.db, api.app.state.context.log.keys.log.verifier())
    assert report.ok, report.findings


def test_labels_for_named_vials_and_bad_requests(api: Api, people: dict[str, Signer]) -> None:
    lena, cora = people["lena"], people["cora"]
    assert issue(api, cora).status_code == 403
    unknown = issue(api, lena, serials=["0001", "9999"])
    assert unknown.status_code == 422 and unknown.json()["field"] == "statement.what.serials"
    duplicate = issue(api, lena, serials=["0001", "0001"])
    assert duplicate.status_code == 422
    first = issue(api, lena, serials=["0002"])
    assert first.status_code == 201, first.text
    status = api.client.get(f"/batches/{LOT}/labels", headers=lena.headers).json()
    assert status["unlabelled"] == ["0001", "0003"] and status["reconciled"] is False
    assert issue(api, lena, serials=["0002"]).status_code == 409
    rest = issue(api, lena)
    assert [label["serial"] for label in rest.json()["labels"]] == ["0001", "0003"]
    assert rest.json()["reconciliation"]["reconciled"] is True


def test_a_reissue_needs_a_reason_and_voids_the_old_tag(
    api: Api, people: dict[str, Signer]
) -> None:
    lena = people["lena"]
    old = issue(api, lena).json()["labels"][0]
    no_reason = reissue(api, lena, serials=["0001"])
    assert no_reason.status_code == 422
    assert no_reason.json()["field"] == "statement.what.reason"
    unlabelled_count = api.client.get(f"/batches/{LOT}/labels", headers=lena.headers).json()
    assert unlabelled_count["issued"] == 3  # the refused request stored nothing
    done = reissue(api, lena, serials=["0001"], reason="Label smudged during thaw test")
    assert done.status_code == 201, done.text
    new = done.json()["labels"][0]
    assert new["reissue"] is True and tag_of(new["uri"]) != tag_of(old["uri"])
    body = entry(api, lena, new["log_index"])
    old_digest = hashlib.sha256(tag_of(old["uri"]).encode()).hexdigest()
    assert body["what"]["voids_tag_sha256"] == old_digest
    assert body["what"]["reason"] == "Label smudged during thaw test"
    status = done.json()["reconciliation"]
    assert (status["issued"], status["voided"], status["reprinted"]) == (4, 1, 1)
    assert status["reconciled"] is True


def test_the_label_pdf_and_zpl_carry_each_vials_current_uri(
    api: Api, people: dict[str, Signer]
) -> None:
    lena = people["lena"]
    none_yet = api.client.get(f"/batches/{LOT}/labels.pdf", headers=lena.headers)
    assert none_yet.status_code == 409 and "issue them first" in none_yet.json()["detail"]
    uris = [label["uri"] for label in issue(api, lena).json()["labels"]]
    pdf = api.client.get(f"/batches/{LOT}/labels.pdf?layout=sheet", headers=lena.headers)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    zpl = api.client.get(f"/batches/{LOT}/labels.zpl", headers=lena.headers)
    assert zpl.status_code == 200
    payloads = re.findall(r"\^BQ[^\^]*\^FD[^,]*,(?:B\d{4})?(.*?)\^FS", zpl.text)
    assert len(re.findall(r"\^BQ", zpl.text)) == 3
    assert sorted(payloads) == sorted(uris)
    # The page asks for the printer's resolution; ZPL is drawn in its dots (32.5 mm wide).
    page = api.client.get(f"/ui/batches/{LOT}", headers=lena.headers | {"accept": "text/html"})
    assert re.search(r'<select name="dpi"[^>]*>\s*<option value="203">', page.text)
    at_600 = api.client.get(f"/batches/{LOT}/labels.zpl?dpi=600", headers=lena.headers).text
    assert "^PW768" in at_600 and "^PW384" in zpl.text
    odd = api.client.get(f"/batches/{LOT}/labels.zpl?dpi=400", headers=lena.headers)
    assert odd.status_code == 422 and odd.json()["errors"][0]["field"] == "dpi"
    for layout in ("poster", "shipper"):  # a shipper's label is its own, from its SSCC
        bad = api.client.get(f"/batches/{LOT}/labels.pdf?layout={layout}", headers=lena.headers)
        assert bad.status_code == 422 and bad.json()["field"] == "layout"


def mod37_2_check(text: str) -> str:
    """ISO/IEC 7064 MOD 37-2, written out here from the standard as an independent oracle."""
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*"
    p = 0
    for char in text:
        p = ((p + alphabet.index(char)) * 2) % 37
    return alphabet[(38 - p) % 37]


def test_the_oracle_matches_the_published_known_answer() -> None:
    assert mod37_2_check("G123498654321") == "H"


def test_a_product_with_an_isbt128_facility_gives_each_vial_a_din(api: Api) -> None:
    quinn = Signer.register(api, "quinn", "qa")
    lena = Signer.register(api, "lena", "lab")
    bad = quinn.post(
        "/products", "product.registered", product_uri(api), product_what(isbt128_facility="O1234")
    )
    assert bad.status_code == 422 and bad.json()["field"] == "statement.what.isbt128_facility"
    made = quinn.post(
        "/products", "product.registered", product_uri(api), product_what(isbt128_facility="G1234")
    )
    assert made.status_code == 201 and made.json()["isbt128_facility"] == "G1234"
    assert (
        lena.post("/batches", "batch.registered", batch_subject(api), batch_what()).status_code
        == 201
    )
    labels = issue(api, lena).json()["labels"]
    zpl = api.client.get(f"/batches/{LOT}/labels.zpl", headers=lena.headers).text
    for label in labels:
        din = entry(api, lena, label["log_index"])["what"]["din"]
        assert re.fullmatch(r"G123426\d{6}", din)  # facility, year of manufacture, sequence
        check = mod37_2_check(din)
        assert re.search(rf"{din[:5]} {din[5:7]} {din[7:]} \W?{check}\W?\^FS", zpl), din
    dins = {entry(api, lena, label["log_index"])["what"]["din"] for label in labels}
    assert len(dins) == 3


def test_the_served_label_pdf_decodes_to_each_vials_uri_at_300_dpi(
    api: Api, people: dict[str, Signer], tmp_path: Path
) -> None:
    lena = people["lena"]
    issued = issue(api, lena).json()["labels"]
    reissued = reissue(api, lena, serials=["0002"], reason="Torn while thawing").json()["labels"]
    expected = {label["uri"] for label in issued if label["serial"] != "0002"}
    expected.add(reissued[0]["uri"])
    pdf = api.client.get(f"/batches/{LOT}/labels.pdf", headers=lena.headers)
    assert pdf.status_code == 200
    pages = rasterise(pdf.content, tmp_path)
    found = [text for page in pages for text in decoded(page)]
    # One page per vial on a roll, each decoding to exactly its vial's current label.
    assert len(pages) == 3 and sorted(found) == sorted(expected)


def test_reprints_keep_the_identity_the_vial_was_commissioned_with(
    api: Api, people: dict[str, Signer], server: LiveServer
) -> None:
    lena = people["lena"]
    issued = {label["serial"]: label["uri"] for label in issue(api, lena).json()["labels"]}
    # The site moves its resolver to another host; the vials keep their identities.
    moved = api.settings.model_copy(update={"resolver_base": "https://labels.example"})
    server.switch.target = create_app(moved, database=api.db, clock=api.clock)
    zpl = api.client.get(f"/batches/{LOT}/labels.zpl", headers=lena.headers).text
    payloads = re.findall(r"\^BQ[^\^]*\^FD[^,]*,(?:B\d{4})?(.*?)\^FS", zpl)
    assert sorted(payloads) == sorted(issued.values())
    assert all(p.startswith(api.settings.resolver_base) for p in payloads)
    # And a scan of an old label still resolves, whichever host now serves it.
    record = api.client.get(
        urlsplit(issued["0001"]).path + "?" + urlsplit(issued["0001"]).query,
        headers={"accept": "application/json"},
    ).json()
    assert record["tag"] == "valid"
