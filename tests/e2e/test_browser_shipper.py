"""In a real browser: the lab commissions a shipper for the clinic on its site's page,
packs stored vials into it on the shipper's page, and can print its SSCC label there."""

from __future__ import annotations

import re
from typing import Any

from tests.custody_flow import make_world
from tests.e2e.browser import chromium, new_page
from tests.e2e.test_browser_qc import sign_in_and_make_key
from tests.e2e.test_browser_records import submit
from tests.support import Api


def test_a_shipper_is_commissioned_packed_and_labelled_in_the_pages(api: Api, server: Any) -> None:
    w = make_world(api)
    vials = [w.vial(serial) for serial in ("0001", "0002", "0003")]
    for vial in vials:
        assert w.store(w.lena, vial).status_code == 201
    base = str(api.client.base_url).rstrip("/")
    with chromium() as browser:
        page = new_page(browser, api.clock())
        sign_in_and_make_key(page, base, "lena")
        page.goto(f"{base}/ui/sites/LAB1")
        page.click("summary:has-text('Commission a shipper')")
        form = page.locator("form[data-url='/shippers']")
        form.locator("select[name=consignee]").select_option("CLINIC1")
        page.wait_for_selector("form[data-post][data-ready]", state="attached")
        form.locator("button[type=submit]").click()
        page.wait_for_url(re.compile(r".*/00/[0-9]{18}$"), timeout=15_000)
        sscc = page.url.rsplit("/", 1)[1]
        assert page.locator("[data-consignee]").inner_text() == "CLINIC1"

        packing = page.locator("form[data-type='custody.packed']")
        for vial in vials[:2]:
            packing.locator(f"input[value='{vial}']").check()
        submit(page, packing)
        page.wait_for_selector("text=2 vials inside")
        assert page.locator(f"a[href='/shippers/{sscc}/label.pdf']").count() == 1

    shipper = api.client.get(f"/shippers/{sscc}", headers=w.lena.headers).json()
    assert sorted(shipper["vials"]) == sorted(vials[:2]) and shipper["state"] == "packed"
    label = api.client.get(f"/shippers/{sscc}/label.pdf", headers=w.lena.headers)
    assert label.status_code == 200 and label.content.startswith(b"%PDF")
