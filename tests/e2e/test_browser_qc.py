"""In a real browser: lab staff enter a signed result and a colleague approves it."""

from __future__ import annotations

from typing import Any

from tests.e2e.browser import chromium, new_page, sign_in
from tests.integration.test_batch_records import batch_what, product_uri, register_product
from tests.signing import Signer
from tests.support import Api
from tests.unit.test_specifications import GOOD_PANEL
from traceability.custody_log.verify_log import verify_log

LOT = "UC26-001"
IDENTITY = GOOD_PANEL  # a passing ISCT panel, as the specification tests use it


def sign_in_and_make_key(page: Any, base: str, username: str) -> None:
    sign_in(page, base, username, at="/ui/account")
    page.click("text=Create and register a signing key")
    page.wait_for_selector("[data-registered]", timeout=15_000)


def test_a_result_entered_and_approved_in_the_browser(api: Api, server: Any) -> None:
    quinn = Signer.register(api, "quinn", "qa")
    registrar = Signer.register(api, "rita", "lab")
    register_product(api, quinn)
    assert (
        registrar.post(
            "/batches", "batch.registered", f"{product_uri(api)}/10/{LOT}", batch_what()
        ).status_code
        == 201
    )
    api.add_user("lena", "lab")
    api.add_user("leo", "lab")
    base = str(api.client.base_url).rstrip("/")
    with chromium() as browser:
        # In New York, the browser's local time is not UTC: the form must not care.
        lena = new_page(browser, api.clock(), timezone_id="America/New_York")
        sign_in_and_make_key(lena, base, "lena")
        lena.goto(f"{base}/ui/batches/{LOT}")
        form = lena.locator("form[data-test=viability]")
        lena.click("summary:has-text('Viability')")
        form.locator("input[data-value=value]").fill("85.5")
        form.locator("input[name=instrument]").fill("FACSLyric #2")
        # The test server's clock (and so the browser's) is frozen at 2026-11-02 09:00.
        form.locator("input[name=tested_at]").fill("2026-11-01T10:00")
        messages: list[str] = []
        lena.on("console", lambda m: messages.append(m.text))
        form.locator("button[type=submit]").click()
        try:
            lena.wait_for_selector("form[data-test=viability] [data-verdict=pass]", timeout=15_000)
        except Exception:
            raise AssertionError(
                f"{form.locator('[data-outcome]').inner_text()!r} {messages}"
            ) from None

        # Every time is shown in UTC with the viewer's own beside it (here New York's).
        lena.goto(f"{base}/ui/products")
        shown = lena.locator("time[data-utc]").first.inner_text()
        local = lena.locator("time[data-utc] + .local-time").first.inner_text()
        assert shown.endswith(" UTC") and ("EST" in local or "GMT-5" in local), (shown, local)

        # A marker panel: every marker in the panel's one unit (the form once sent none).
        lena.goto(f"{base}/ui/batches/{LOT}")
        identity = lena.locator("form[data-test=identity]")
        lena.click("summary:has-text('Identity')")
        for marker, value in IDENTITY.items():
            identity.locator(f"input[data-value='{marker}']").fill(value)
        identity.locator("input[name=instrument]").fill("FACSLyric #2")
        identity.locator("input[name=tested_at]").fill("2026-11-01T11:00")
        identity.locator("button[type=submit]").click()
        try:
            lena.wait_for_selector("form[data-test=identity] [data-verdict=pass]", timeout=15_000)
        except Exception:
            raise AssertionError(repr(identity.locator("[data-outcome]").inner_text())) from None

        leo = new_page(browser, api.clock())
        sign_in_and_make_key(leo, base, "leo")
        leo.goto(f"{base}/ui/batches/{LOT}")
        # Sending back asks for the reason on the page (no pop-up) and stores nothing without.
        first = leo.locator("[data-review]").first
        first.locator("button[data-decision=returned]").click()
        leo.wait_for_selector("[data-review] [data-outcome]:has-text('Write why it is sent back')")
        # Both results approved at once: one signed review each.
        for pick in leo.locator("[data-pick]").all():
            pick.check()
        leo.click("[data-approve-picked]")
        leo.wait_for_selector("[data-review-many] [data-reviewed='2']", timeout=15_000)

    record = api.client.get(f"/batches/{LOT}", headers=quinn.headers).json()
    assert record["tests"]["viability"] == "pass"
    assert record["tests"]["identity"] == "pass"
    by_test = {r["test"]: r for r in record["results"]}
    assert by_test["identity"]["unit"] == "%" and by_test["identity"]["values"] == IDENTITY
    assert {r["review"] for r in record["results"]} == {"approved"}, record["results"]
    result = by_test["viability"]
    assert result["entered_by"] == "lena" and result["values"] == {"value": "85.5"}
    entry = api.client.get(f"/log/entries/{result['log_index']}", headers=quinn.headers).json()
    assert entry["body"]["actor"] == "lena" and entry["body"]["type"] == "qc.result.entered"
    assert entry["body"]["what"]["tested_at"] == "2026-11-01T10:00:00Z"  # as typed, in UTC
    report = verify_log(api.db, api.app.state.context.log.keys.log.verifier())
    assert report.ok, report.findings
