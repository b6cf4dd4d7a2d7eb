"""Scan many in a real browser: the courier photographs a shipper box and the page says
which packed vials the photo missed."""

from __future__ import annotations

from typing import Any

from tests.custody_flow import make_world
from tests.e2e.browser import chromium, new_page
from tests.integration.test_scan_many import photo_of_codes
from tests.support import PASSWORD, Api


def test_the_scan_page_lists_the_codes_and_the_vials_a_photo_missed(api: Api, server: Any) -> None:
    w = make_world(api)
    batch = w.vial().rsplit("/21/", 1)[0]
    labels = w.lena.post("/batches/UC26-001/labels", "labels.issued", batch, {}).json()["labels"]
    for serial in ("0001", "0002"):
        assert w.store(w.lena, w.vial(serial)).status_code == 201
    shipper = w.pack_new_shipper("0001", "0002")
    photo = photo_of_codes(shipper["uri"], labels[0]["uri"])  # vial 0001's label only
    base = str(api.client.base_url).rstrip("/")
    with chromium() as browser:
        page = new_page(browser, api.clock(), viewport={"width": 390, "height": 844})
        page.goto(f"{base}/ui/scan")
        page.fill("input[name=username]", "cora")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("form[data-scan][data-ready]")
        page.set_input_files(
            "input[name=image]", {"name": "box.png", "mimeType": "image/png", "buffer": photo}
        )
        page.click("text=Read the labels")
        missed = page.wait_for_selector(f"[data-shippers] li[data-sscc='{shipper['sscc']}']")
        assert missed.get_attribute("data-missing") == "1"
        assert "1 of 2 packed vials seen; not seen: UC26-001 / vial 0002" in missed.inner_text()
        assert page.inner_text("[data-outcome]") == "2 codes read."
