"""In a real browser, as on a phone: a courier scans a vial's label, signs in, accepts
custody with a key made on first use (WebCrypto), and hands it to the receiving site,
whose staff accept it. Both sides' signed entries are in the log, and it verifies."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from typer.testing import CliRunner

from audit.entry import parse_entry
from tests.custody_flow import make_world
from tests.e2e.browser import chromium, new_page, sign_in
from tests.support import PASSWORD, Api
from traceability.cli.main import app as cli
from traceability.custody_log.appender import subject_entries
from traceability.custody_log.verify_log import verify_log

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def scan_and_sign_in(browser: Any, api: Api, base: str, label_uri: str, username: str) -> Any:
    page = new_page(browser, api.clock(), **PHONE)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.errors = errors
    parts = urlsplit(label_uri)
    page.goto(f"{base}{parts.path}?{parts.query}")
    page.click("[data-sign-in]")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#custody")
    assert "s=" in page.url  # back on the scanned URL, tag included
    return page


def press(page: Any, action: str, *, double: bool = False) -> None:
    form = page.locator(f"form[data-ready]:has(button[data-action={action}])")
    button = form.locator(f"button[data-action={action}]")
    if double:
        button.dblclick()  # an impatient double tap
    else:
        button.click()
    try:
        form.locator("[data-outcome][data-stored=yes]").wait_for(timeout=20_000)
    except Exception:
        raise AssertionError(
            f"{form.locator('[data-outcome]').inner_text()} {page.errors}"
        ) from None
    page.wait_for_load_state("load")


def test_a_courier_accepts_and_hands_over_by_scanning_on_a_phone(api: Api, server: Any) -> None:
    w = make_world(api)
    vial = w.vial()
    label = w.lena.post(
        "/batches/UC26-001/labels", "labels.issued", vial.rsplit("/21/", 1)[0], {}
    ).json()["labels"][0]["uri"]
    assert w.store(w.lena, vial).status_code == 201
    assert w.offer(w.lena, vial, "user:cora").status_code == 201
    api.add_user("nadia", "lab")
    admin = api.headers("admin")
    assert (
        api.client.post("/sites/CLINIC1/members", headers=admin, json={"username": "nadia"})
    ).status_code == 201
    base = str(api.client.base_url).rstrip("/")
    with chromium() as browser:
        courier = scan_and_sign_in(browser, api, base, label, "cora")
        assert "lena offers" not in courier.content()
        press(courier, "accept")  # the first signature makes this phone's key
        courier.wait_for_selector("[data-custody-state='with courier']")
        courier.select_option("select[name=to]", "site:CLINIC1")
        press(courier, "offer")
        courier.wait_for_selector("text=A handoff to site CLINIC1 is open")

        receiver = scan_and_sign_in(browser, api, base, label, "nadia")
        accepts: list[str] = []
        receiver.on(
            "request",
            lambda r: (
                accepts.append(r.url)
                if r.method == "POST" and r.url.endswith("/custody/handoffs/accept")
                else None
            ),
        )
        press(receiver, "accept", double=True)
        assert len(accepts) == 1, accepts  # one signed request, not a stored one and a refusal
        receiver.wait_for_selector("[data-custody-state='delivered']")
        assert "held by <strong>site CLINIC1</strong>" in receiver.content()

    with api.db.read() as session:
        entries = [parse_entry(bytes(row.entry)) for row in subject_entries(session, vial)]
    signed = [(e.type, e.actor) for e in entries if e.type.startswith("custody.handover")]
    assert signed == [
        ("custody.handover.offered", "lena"),
        ("custody.handover.accepted", "cora"),
        ("custody.handover.offered", "cora"),
        ("custody.handover.accepted", "nadia"),
    ]
    report = verify_log(api.db, api.app.state.context.log.keys.log.verifier())
    assert report.ok, report.findings
    # And the command an auditor runs says the same.
    url = api.db.engine.url.render_as_string(hide_password=False)
    env = {
        "TRACE_ENVIRONMENT": "development",
        "TRACE_KEY_DIR": str(api.settings.key_dir),
        "TRACE_ORIGIN": api.settings.origin,
    }
    result = CliRunner().invoke(cli, ["audit", "verify-log", "--database-url", url], env=env)
    assert result.exit_code == 0, result.output


def test_custody_and_record_pages_fit_a_phone_screen(api: Api, server: Any) -> None:
    """Long Digital Link URIs and SSCCs break instead of making a 390 px page scroll
    sideways (the courier's and the clinic's pages are used on phones)."""
    w = make_world(api)
    base = str(api.client.base_url).rstrip("/")
    for serial in ("0001", "0002"):
        assert w.store(w.lena, w.vial(serial)).status_code == 201
    assert w.offer(w.lena, w.vial("0002"), "user:cora").status_code == 201
    vial_path = urlsplit(w.vial("0001")).path
    with chromium() as browser:
        for username, paths in (
            ("lena", ["/ui/batches/UC26-001", vial_path, "/ui/sites/LAB1"]),
            ("cora", ["/ui/custody"]),
        ):
            page = new_page(browser, api.clock(), **PHONE)
            sign_in(page, base, username)
            for path in paths:
                page.goto(f"{base}{path}")
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= 390, (path, width)


BROKEN_WORDS = """() => {
  const broken = [];
  for (const cell of document.querySelectorAll("td, th")) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.parentElement.closest("code")) continue;  // URIs and hashes may break
      const words = /[A-Za-z][A-Za-z']{2,}/g;  // a hyphen is a fair place to break
      for (let m = words.exec(node.data); m; m = words.exec(node.data)) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const lines = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
        if (lines.size > 1) broken.push(m[0]);
      }
    }
  }
  return broken;
}"""
"""Every word of a table cell (outside code) that the browser split across two lines."""


def test_tables_at_1280_px_never_break_a_word_in_the_middle(api: Api, server: Any) -> None:
    w = make_world(api)
    base = str(api.client.base_url).rstrip("/")
    assert w.store(w.lena, w.vial("0001")).status_code == 201
    with chromium() as browser:
        for username, paths in (
            ("lena", ["/ui/batches", "/ui/batches/UC26-001", "/ui/sites/LAB1", "/ui/products"]),
            ("admin", ["/ui/users", "/ui/audit-trail"]),
        ):
            page = new_page(browser, api.clock(), viewport={"width": 1280, "height": 800})
            sign_in(page, base, username)
            for path in paths:
                page.goto(f"{base}{path}")
                assert page.evaluate(BROKEN_WORDS) == [], path
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= 1280, (path, width)
