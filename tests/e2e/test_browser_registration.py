"""In a real browser: QA registers a new product, a lab registers a batch of it.

Nothing here goes through a hand-made signed request: both are the pages' own forms,
signed in the browser with each person's key, and the record that results is read back
through the API and the signed log."""

from __future__ import annotations

import json
from typing import Any

from tests.custody_flow import make_site
from tests.e2e.browser import chromium, new_page
from tests.e2e.test_browser_qc import sign_in_and_make_key
from tests.e2e.test_browser_records import submit
from tests.support import Api
from traceability.custody_log.verify_log import verify_log

CODE = "WJ-MSC"
GTIN13 = "9521234543213"  # typed as 13 digits; identifiers carry the GTIN-14
LOT = "WJ27-001"


def test_a_new_product_and_a_batch_of_it_are_registered_in_the_pages(api: Api, server: Any) -> None:
    api.add_user("admin", "admin")
    api.add_user("quinn", "qa")
    api.add_user("lena", "lab")
    make_site(api, "LAB1", "lab", ("lena",))
    base = str(api.client.base_url).rstrip("/")
    with chromium() as browser:
        quinn = new_page(browser, api.clock())
        sign_in_and_make_key(quinn, base, "quinn")
        quinn.goto(f"{base}/ui/products")
        form = quinn.locator("form[data-type='product.registered']")
        form.locator("input[name=code]").fill(CODE)
        form.locator("input[name=name]").fill("Wharton's jelly MSC")
        form.locator("input[name=gtin]").fill(GTIN13)
        spec = json.loads(form.locator("textarea[name=specification]").input_value())
        assert spec["version"] == 1 and spec["product"] == ""  # a template to edit
        spec["product"] = CODE
        spec["tests"] = [t for t in spec["tests"] if t["code"] != "potency"]
        form.locator("textarea[name=specification]").fill(json.dumps(spec))
        submit(quinn, form)
        quinn.wait_for_selector(f"#product-{CODE}")

        lena = new_page(browser, api.clock())
        sign_in_and_make_key(lena, base, "lena")
        lena.goto(f"{base}/ui/batches")
        batch = lena.locator("form[data-type='batch.registered']")
        batch.locator("select[name=product]").select_option(CODE)
        assert batch.locator("input[name=specification_version]").input_value() == "1"
        batch.locator("input[name=lot]").fill(LOT)
        batch.locator("input[name=donor_code]").fill("D-0042")
        batch.locator("input[name=manufactured_on]").fill("2026-10-30")
        batch.locator("input[name=expires_on]").fill("2027-10-30")
        batch.locator("input[name=vials]").fill("10")
        submit(lena, batch)
        lena.wait_for_selector(f"a[href='/ui/batches/{LOT}']")

    headers = api.headers("quinn")
    product = api.client.get(f"/products/{CODE}", headers=headers).json()
    assert product["gtin"] == "0" + GTIN13
    assert [v["version"] for v in product["specifications"]] == [1]
    tests = [t["code"] for t in product["specifications"][0]["document"]["tests"]]
    assert "potency" not in tests and "identity" in tests
    record = api.client.get(f"/batches/{LOT}", headers=headers).json()
    assert record["product"] == CODE and record["specification_version"] == 1
    assert record["site"] == "LAB1" and record["donor_code"] == "D-0042"
    assert [v["serial"] for v in record["vials"]] == [f"{n:04d}" for n in range(1, 11)]
    assert record["vials"][0]["uri"].endswith(f"/01/0{GTIN13}/10/{LOT}/21/0001")
    registration = api.client.get(f"/log/entries/{record['log_index']}", headers=headers).json()[
        "body"
    ]
    assert registration["actor"] == "lena" and registration["type"] == "batch.registered"
    report = verify_log(api.db, api.app.state.context.log.keys.log.verifier())
    assert report.ok, report.findings
