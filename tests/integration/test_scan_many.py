"""Scan many: one photo of many labels, decoded on the server, each vial listed."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.custody_flow import World, make_world
from tests.integration.test_labels_pdf import rasterise
from tests.support import Api


@pytest.fixture
def world(api: Api) -> World:
    return make_world(api)


def photo_of_sheet(w: World, tmp_path: Path) -> bytes:
    pdf = w.api.client.get("/batches/UC26-001/labels.pdf?layout=sheet", headers=w.lena.headers)
    assert pdf.status_code == 200
    page = rasterise(pdf.content, tmp_path)[0]
    buffer = io.BytesIO()
    page.save(buffer, format="PNG")
    return buffer.getvalue()


def test_every_label_in_one_photo_is_read_and_described(world: World, tmp_path: Path) -> None:
    w = world
    batch = w.vial().rsplit("/21/", 1)[0]
    issued = w.lena.post("/batches/UC26-001/labels", "labels.issued", batch, {}).json()["labels"]
    w.store(w.lena, w.vial("0002"))
    image = photo_of_sheet(w, tmp_path)
    # One label is then reissued: the photo still shows its old, now void, label.
    assert (
        w.lena.post(
            "/batches/UC26-001/labels/reissue",
            "labels.reissued",
            batch,
            {"serials": ["0003"], "reason": "smudged"},
        ).status_code
        == 201
    )
    response = w.api.client.post(
        "/scan", headers=w.cora.headers | {"content-type": "image/png"}, content=image
    )
    assert response.status_code == 200, response.text
    codes = {c["serial"]: c for c in response.json()["codes"]}
    assert sorted(codes) == ["0001", "0002", "0003"]
    assert {c["text"] for c in codes.values()} == {label["uri"] for label in issued}
    assert codes["0001"]["state"] == "quarantine" and codes["0001"]["tag"] == "valid"
    assert codes["0002"]["custodian"] == "site:LAB1"
    assert codes["0003"]["tag"] == "voided" and codes["0003"]["flagged"] is True


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("image/png", b"not an image at all"),
        ("image/png", b""),
        ("application/pdf", b"%PDF-1.4"),
    ],
)
def test_a_bad_photo_is_refused_naming_the_image(
    world: World, content_type: str, body: bytes
) -> None:
    refused = world.api.client.post(
        "/scan", headers=world.cora.headers | {"content-type": content_type}, content=body
    )
    assert refused.status_code == 422 and refused.json()["field"] == "image"


def test_a_photo_without_codes_reads_none_and_auditors_may_not_scan(world: World) -> None:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (200, 200), 255).save(buffer, format="PNG")
    empty = world.api.client.post(
        "/scan",
        headers=world.cora.headers | {"content-type": "image/png"},
        content=buffer.getvalue(),
    )
    assert empty.status_code == 200 and empty.json() == {"codes": [], "shippers": []}
    world.api.add_user("aude", "auditor")
    denied = world.api.client.post(
        "/scan",
        headers=world.api.headers("aude") | {"content-type": "image/png"},
        content=buffer.getvalue(),
    )
    assert denied.status_code == 403


def test_a_code_that_is_not_a_well_formed_url_names_nothing(world: World) -> None:
    import qrcode

    image = qrcode.make("http://[zz/not-a-url").get_image()
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    response = world.api.client.post(
        "/scan",
        headers=world.cora.headers | {"content-type": "image/png"},
        content=buffer.getvalue(),
    )
    assert response.status_code == 200, response.text
    assert [c["kind"] for c in response.json()["codes"]] == ["unknown"]


def photo_of_codes(*texts: str) -> bytes:
    """A photo of several QR labels side by side (made with the qrcode package)."""
    import qrcode
    from PIL import Image

    images = [qrcode.make(text, border=4).get_image().convert("L") for text in texts]
    gap = 40
    width = sum(i.width for i in images) + gap * (len(images) - 1)
    sheet = Image.new("L", (width, max(i.height for i in images)), 255)
    x = 0
    for image in images:
        sheet.paste(image, (x, 0))
        x += image.width + gap
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_photo_with_a_shippers_label_says_which_packed_vials_it_missed(world: World) -> None:
    w = world
    batch = w.vial().rsplit("/21/", 1)[0]
    labels = w.lena.post("/batches/UC26-001/labels", "labels.issued", batch, {}).json()["labels"]
    for serial in ("0001", "0002", "0003"):
        assert w.store(w.lena, w.vial(serial)).status_code == 201
    shipper = w.pack_new_shipper("0001", "0002")
    label_of = {label["uri"].split("?")[0]: label["uri"] for label in labels}

    def scan(*texts: str) -> dict[str, object]:
        response = w.api.client.post(
            "/scan",
            headers=w.cora.headers | {"content-type": "image/png"},
            content=photo_of_codes(*texts),
        )
        assert response.status_code == 200, response.text
        found: dict[str, object] = response.json()
        return found

    partial = scan(shipper["uri"], label_of[w.vial("0001")], label_of[w.vial("0003")])
    assert len(partial["codes"]) == 3  # type: ignore[arg-type]
    assert partial["shippers"] == [
        {"sscc": shipper["sscc"], "packed": 2, "seen": 1, "not_seen": ["UC26-001 / vial 0002"]}
    ]
    whole = scan(shipper["uri"], label_of[w.vial("0001")], label_of[w.vial("0002")])
    assert whole["shippers"] == [{"sscc": shipper["sscc"], "packed": 2, "seen": 2, "not_seen": []}]
    assert scan(label_of[w.vial("0003")])["shippers"] == []
