"""A courier's browser makes a non-extractable Ed25519 key and registers it (WebCrypto)."""

from __future__ import annotations

from typing import Any

from tests.e2e.browser import chromium, new_page
from tests.support import PASSWORD, Api
from traceability.custody_log.verify_log import verify_log


def test_a_browser_creates_and_registers_its_own_signing_key(api: Api, server: Any) -> None:
    api.add_user("cora", "courier")
    api.add_user("admin", "admin")
    base = str(api.client.base_url).rstrip("/")
    with chromium() as browser:
        page = new_page(browser, api.clock())
        page.goto(f"{base}/ui/account")
        page.fill("input[name=username]", "cora")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/ui/account")
        page.fill("input[name=label]", "cora's phone")
        page.click("text=Create and register a signing key")
        page.wait_for_selector("[data-registered]", timeout=15_000)
        key_id = page.get_attribute("[data-registered]", "data-registered")
        assert key_id and len(key_id) == 32
        page.wait_for_selector(f"text=This browser holds key {key_id}")
        assert "cora's phone" in page.content()  # the table lists the new key
        assert page.inner_text("[data-browser-key] button") == "Replace this browser's key"

    keys = api.client.get("/keys", headers=api.headers("admin"), params={"user": "cora"}).json()
    assert [(k["key_id"], k["label"]) for k in keys] == [(key_id, "cora's phone")]
    entry = api.client.get(
        f"/log/entries/{keys[0]['registered_index']}", headers=api.headers("admin")
    ).json()["body"]
    assert entry["type"] == "key.registered"
    assert entry["what"]["user"] == "cora"
    report = verify_log(api.db, api.app.state.context.log.keys.log.verifier())
    assert report.ok and report.entries == 2
