"""A shipper goes to a named consignee and carries an SSCC label (issue 19, point 3).

Staff commission a shipper at their site for another site, pack stored vials into it,
and print its 100 x 150 mm label from its page, as a vector PDF or as ZPL at the
printer's resolution. The label's QR decodes to the shipper's SSCC Digital Link URI; its
text names the SSCC with its AI, the consignee, each lot with its expiry and count, the
temperature range, and says when a lot is not released. What it says rests on the
signed log: a changed commissioning record prints nothing.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.custody_flow import LOT, World, make_site, make_world
from tests.integration.test_labels_pdf import decoded, rasterise, require_tool
from tests.support import Api, edit_behind_the_service

HTML = {"accept": "text/html"}


@pytest.fixture
def world(api: Api) -> World:
    return make_world(api)


def gs1_check_digit(digits: str) -> int:
    """The GS1 mod-10 check digit, written out here from the General Specifications as an
    independent oracle: weights 3, 1, 3, ... from the rightmost digit."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return (10 - total % 10) % 10


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    source = tmp_path / "shipper.pdf"
    source.write_bytes(pdf)
    tool = require_tool("pdftotext")
    done = subprocess.run([tool, "-raw", str(source), "-"], check=True, capture_output=True)
    return done.stdout.decode("utf-8")


def packed(w: World, *serials: str) -> dict[str, Any]:
    for serial in serials:
        assert w.store(w.lena, w.vial(serial)).status_code == 201
    return w.pack_new_shipper(*serials)


def test_a_packed_shipper_prints_an_sscc_label_naming_its_consignee(
    world: World, tmp_path: Path
) -> None:
    w = world
    shipper = packed(w, "0001", "0002")
    sscc = shipper["sscc"]
    assert re.fullmatch(r"[0-9]{18}", sscc) and gs1_check_digit(sscc[:17]) == int(sscc[17])
    answer = w.api.client.get(f"/shippers/{sscc}/label.pdf", headers=w.lena.headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    [page] = rasterise(answer.content, tmp_path)
    assert decoded(page) == [shipper["uri"]]
    assert abs(page.height - round(150 / 25.4 * 300)) <= 1
    words = " ".join(pdf_text(answer.content, tmp_path).split())
    for expected in (
        f"(00) {sscc}",
        "TO: CLINIC1",
        "FROM: LAB1",
        f"LOT {LOT}",
        "QTY 2 vials",
        "Keep at or below -150 °C",
        f"LOT {LOT} QUARANTINE: NOT RELEASED FOR USE",  # the batch is not released yet
        "Total: 2 vials",
    ):
        assert expected in words, expected
    assert "Released by" not in words

    zpl = w.api.client.get(f"/shippers/{sscc}/label.zpl?dpi=203", headers=w.lena.headers)
    assert zpl.status_code == 200 and zpl.headers["content-type"].startswith("text/plain")
    assert f"^PW{round(100 * 203 / 25.4)}" in zpl.text  # 100 mm in the printer's dots
    assert re.findall(r"\^BQ[^\^]*\^FD[^,]*,(?:B\d{4})?(.*?)\^FS", zpl.text) == [shipper["uri"]]
    odd = w.api.client.get(f"/shippers/{sscc}/label.zpl?dpi=250", headers=w.lena.headers)
    assert odd.status_code == 422 and odd.json()["errors"][0]["field"] == "dpi"

    page_html = w.api.client.get(f"/00/{sscc}", headers=w.lena.headers | {"accept": "text/html"})
    assert page_html.status_code == 200
    assert re.search(r"<dt>Ship to</dt><dd data-consignee>CLINIC1</dd>", page_html.text)
    assert f'href="/shippers/{sscc}/label.pdf"' in page_html.text
    assert "Keep at or below -150 °C" in page_html.text


def test_a_shipper_names_another_site_as_its_consignee(world: World) -> None:
    w = world
    cases = [
        ({"site": "LAB1", "consignee": "LAB1"}, 422, "consignee"),
        ({"site": "LAB1", "consignee": "NOWHERE"}, 422, "consignee"),
        ({"site": "LAB1"}, 422, "consignee"),
    ]
    before = w.api.client.get(f"/00/{'0' * 18}", headers=w.lena.headers).status_code
    for body, status, field in cases:
        answer = w.api.client.post("/shippers", headers=w.lena.headers, json=body)
        assert answer.status_code == status, answer.text
        problem = answer.json()
        fields = [e["field"] for e in problem.get("errors", [])] + [problem.get("field")]
        assert field in fields
    assert before == 404
    with w.api.db.read() as session:
        assert session.exec(text("SELECT count(*) FROM shippers")).one()[0] == 0  # type: ignore[call-overload]


def test_only_the_staff_where_a_packed_shipper_is_print_its_label(world: World) -> None:
    w = world
    made = w.api.client.post(
        "/shippers", headers=w.lena.headers, json={"site": "LAB1", "consignee": "CLINIC1"}
    )
    empty = made.json()["sscc"]
    answer = w.api.client.get(f"/shippers/{empty}/label.pdf", headers=w.lena.headers)
    assert answer.status_code == 409 and "pack it" in answer.json()["detail"]
    sscc = packed(w, "0001")["sscc"]
    elsewhere = w.api.client.get(f"/shippers/{sscc}/label.pdf", headers=w.nora.headers)
    assert elsewhere.status_code == 403 and "LAB1" in elsewhere.json()["detail"]
    courier = w.api.client.get(f"/shippers/{sscc}/label.pdf", headers=w.cora.headers)
    assert courier.status_code == 403
    assert w.api.client.get(f"/shippers/{sscc}/label.pdf").status_code == 401
    unknown = w.api.client.get(f"/shippers/{'1' * 17}7/label.pdf", headers=w.lena.headers)
    assert unknown.status_code == 404


def test_a_changed_commissioning_record_prints_no_label_and_shows_no_destination(
    world: World,
) -> None:
    w = world
    sscc = packed(w, "0001")["sscc"]
    # Point the shipper at another entry of the log, as an edit of the table would.
    edit_behind_the_service(
        w.api.db, ("shippers",), "UPDATE shippers SET log_index = 0 WHERE sscc = :s", s=sscc
    )
    answer = w.api.client.get(f"/shippers/{sscc}/label.pdf", headers=w.lena.headers)
    assert answer.status_code == 409 and answer.json()["findings"]
    page = w.api.client.get(f"/00/{sscc}", headers=w.lena.headers | {"accept": "text/html"})
    assert page.status_code == 200
    assert "data-unproven" in page.text and "data-consignee" not in page.text


def test_the_pages_commission_and_pack_for_the_sites_staff(world: World) -> None:
    w = world
    html = {"accept": "text/html"}
    site = w.api.client.get("/ui/sites/LAB1", headers=w.lena.headers | html).text
    assert 'data-url="/shippers"' in site and '<option value="CLINIC1">' in site
    assert "data-camera-start" in site  # the receiving site scans arrivals in the page
    assert 'value="LAB1"' in site and '<option value="LAB1">' not in site  # not to itself
    other = w.api.client.get("/ui/sites/LAB1", headers=w.nora.headers | html).text
    assert 'data-url="/shippers"' not in other
    for serial in ("0001", "0002"):
        assert w.store(w.lena, w.vial(serial)).status_code == 201
    made = w.api.client.post(
        "/shippers", headers=w.lena.headers, json={"site": "LAB1", "consignee": "CLINIC1"}
    ).json()
    page = w.api.client.get(f"/00/{made['sscc']}", headers=w.lena.headers | html).text
    assert 'data-url="/custody/pack"' in page
    boxes = re.findall(r'name="vials" value="([^"]+)" data-each', page)
    assert sorted(boxes) == sorted(w.vial(s) for s in ("0001", "0002"))
    nora = w.api.client.get(f"/00/{made['sscc']}", headers=w.nora.headers | html).text
    assert 'data-url="/custody/pack"' not in nora


def test_the_courier_is_offered_the_consignee_first(world: World) -> None:
    w = world
    make_site(w.api, "ADEPOT", "depot", ())  # sorts before CLINIC1
    shipper = packed(w, "0001")
    w.hand(w.lena, w.cora, shipper["uri"], "user:cora")
    page = w.api.client.get(
        f"/00/{shipper['sscc']}", headers=w.cora.headers | {"accept": "text/html"}
    ).text
    options = re.findall(r'<option value="((?:site|user):[^"]+)">', page)
    assert options[0] == "site:CLINIC1" and "site:ADEPOT" in options


def test_the_consignee_site_sees_what_is_on_its_way(world: World) -> None:
    w = world
    shipper = packed(w, "0001")
    empty = w.api.client.post(
        "/shippers", headers=w.lena.headers, json={"site": "LAB1", "consignee": "CLINIC1"}
    ).json()

    def addressed() -> list[str]:
        page = w.api.client.get("/ui/sites/CLINIC1", headers=w.nora.headers | HTML).text
        return re.findall(r'<li data-addressed><a href="/00/(\d{18})"', page)

    assert addressed() == [shipper["sscc"]]  # packed, at LAB1; the empty one is not listed
    assert empty["sscc"] not in addressed()
    w.hand(w.lena, w.cora, shipper["uri"], "user:cora")
    page = w.api.client.get("/ui/sites/CLINIC1", headers=w.nora.headers | HTML).text
    assert addressed() == [shipper["sscc"]] and "held by cora" in page
    w.hand(w.cora, w.nora, shipper["uri"], "site:CLINIC1")
    assert addressed() == []  # in the clinic's hands now
    lab = w.api.client.get("/ui/sites/LAB1", headers=w.lena.headers | HTML).text
    assert "data-addressed" not in lab


def test_a_shipper_keeps_a_range_its_readings_can_meet(world: World) -> None:
    w = world

    def made(**limits: object) -> Any:
        body = {"site": "LAB1", "consignee": "CLINIC1", **limits}
        return w.api.client.post("/shippers", headers=w.lena.headers, json=body)

    room = made(max_celsius=None, min_celsius="15")  # as the page sends an emptied field
    assert room.status_code == 201 and room.json()["max_celsius"] is None
    upside_down = made(max_celsius="-150", min_celsius="15")
    assert upside_down.status_code == 422 and upside_down.json()["field"] == "min_celsius"


def test_strangers_do_not_learn_where_a_shipper_goes(world: World) -> None:
    w = world
    sscc = packed(w, "0001")["sscc"]
    public = w.api.client.get(f"/00/{sscc}", headers=HTML).text
    assert "data-consignee" not in public and "CLINIC1" not in public


def test_a_name_the_label_fonts_cannot_print_is_a_422_naming_the_field(world: World) -> None:
    w = world
    site = {"code": "LODZ1", "name": "Klinika Łódź", "kind": "clinic"}  # Ł: not in cp1252
    assert w.api.client.post("/sites", headers=w.admin, json=site).status_code == 201
    for serial in ("0001",):
        assert w.store(w.lena, w.vial(serial)).status_code == 201
    made = w.api.client.post(
        "/shippers", headers=w.lena.headers, json={"site": "LAB1", "consignee": "LODZ1"}
    ).json()
    packing = w.step(w.lena, "/custody/pack", "custody.packed", made["uri"], vials=[w.vial("0001")])
    assert packing.status_code == 201, packing.text
    answer = w.api.client.get(f"/shippers/{made['sscc']}/label.pdf", headers=w.lena.headers)
    assert answer.status_code == 422 and answer.json()["field"] == "ship_to"
