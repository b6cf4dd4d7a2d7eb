"""In a real browser: QA records, assigns and closes a deviation, and concludes an OOS."""

from __future__ import annotations

from typing import Any

from tests.e2e.browser import chromium, new_page
from tests.e2e.test_browser_qc import sign_in_and_make_key
from tests.integration.test_batch_records import batch_what, product_uri, register_product
from tests.integration.test_qc_results import enter
from tests.signing import Signer
from tests.support import Api
from traceability.custody_log.verify_log import verify_log

LOT = "UC26-001"


def submit(page: Any, form: Any) -> None:
    page.wait_for_selector("form[data-ready]", state="attached")
    form.locator("button[type=submit]").click()
    outcome = form.locator("[data-outcome]")
    try:
        form.locator("[data-outcome][data-stored=yes]").wait_for(timeout=15_000)
    except Exception:
        raise AssertionError(outcome.inner_text()) from None
    page.wait_for_load_state("load")


def test_deviations_and_oos_are_decided_on_the_batch_page(api: Api, server: Any) -> None:
    quinn = Signer.register(api, "quinn", "qa")
    lena = Signer.register(api, "lena", "lab")
    register_product(api, quinn)
    assert (
        lena.post("/batches", "batch.registered", f"{product_uri(api)}/10/{LOT}", batch_what())
    ).status_code == 201
    failed = enter(api, lena, test="potency", values={"value": "22"}, unit="% inhibition").json()
    api.add_user("qiana", "qa")
    base = str(api.client.base_url).rstrip("/")
    with chromium() as browser:
        page = new_page(browser, api.clock())
        sign_in_and_make_key(page, base, "qiana")
        page.goto(f"{base}/ui/batches/{LOT}")

        page.click("summary:has-text('Record a deviation')")
        form = page.locator("form[data-type='deviation.recorded']")
        form.locator("input[name=title]").fill("Incubator CO2 alarm")
        form.locator("select[name=severity]").select_option("major")
        form.locator("textarea[name=description]").fill("CO2 at 3.1 % for 20 minutes on day 4.")
        submit(page, form)

        page.wait_for_selector("text=Incubator CO2 alarm")
        page.click("summary:has-text('Assign or close')")
        closing = page.locator("form[data-type='deviation.closed']")
        closing.locator("textarea[name=conclusion]").fill("Within validated recovery; no impact.")
        submit(page, closing)

        page.wait_for_selector("text=Conclusion: Within validated recovery; no impact.")
        oos = page.locator("form[data-type='oos.concluded']")
        oos.locator("select[name=conclusion]").select_option("invalidated")
        oos.locator("input[name=reason]").fill("Plate reader calibration expired.")
        submit(page, oos)
        page.wait_for_selector("text=Every result, in the order entered")

    deviations = api.client.get(f"/batches/{LOT}/deviations", headers=quinn.headers).json()
    assert [(d["title"], d["state"], d["recorded_by"]) for d in deviations] == [
        ("Incubator CO2 alarm", "closed", "qiana")
    ]
    record = api.client.get(f"/batches/{LOT}", headers=quinn.headers).json()
    potency = next(r for r in record["results"] if r["id"] == failed["id"])
    assert potency["oos"] == "invalidated"
    report = verify_log(api.db, api.app.state.context.log.keys.log.verifier())
    assert report.ok, report.findings


def test_labels_are_issued_and_reissued_on_the_batch_page(api: Api, server: Any) -> None:
    quinn = Signer.register(api, "quinn", "qa")
    lena = Signer.register(api, "lena", "lab")
    register_product(api, quinn)
    assert (
        lena.post("/batches", "batch.registered", f"{product_uri(api)}/10/{LOT}", batch_what())
    ).status_code == 201
    api.add_user("lars", "lab")
    base = str(api.client.base_url).rstrip("/")
    with chromium() as browser:
        page = new_page(browser, api.clock(), viewport={"width": 390, "height": 844})
        sign_in_and_make_key(page, base, "lars")
        page.goto(f"{base}/ui/batches/{LOT}")
        submit(page, page.locator("form[data-type='labels.issued']"))
        page.wait_for_selector("text=3 labels issued")
        page.click("summary:has-text('Reissue labels')")
        form = page.locator("form[data-type='labels.reissued']")
        form.locator("input[name=serials]").fill("0001, 0003")
        form.locator("input[name=reason]").fill("Printer ribbon ran out mid-print")
        submit(page, form)
        page.wait_for_selector("text=5 labels issued")
        assert "reconciled" in page.locator("[data-reconciliation]").inner_text()
        page.click(f"a:has-text('{product_uri(api)}/10/{LOT}/21/0001')")
        page.wait_for_selector("[data-tag-verdict]")
        assert "Printer ribbon ran out mid-print" in page.content()

    status = api.client.get(f"/batches/{LOT}/labels", headers=quinn.headers).json()
    assert (status["issued"], status["voided"], status["reprinted"]) == (5, 2, 2)
    report = verify_log(api.db, api.app.state.context.log.keys.log.verifier())
    assert report.ok, report.findings
