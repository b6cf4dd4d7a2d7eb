"""Screenshots of the demo site for docs/screens and the README, at 1280 px and at a
390 px phone width, in Debian's Chromium (no browser download).

    ./scripts/screens            # writes docs/screens/*.png

It serves a fresh demo database of its own (in a temporary folder, on a free port), signs
in as the demo account that does each job, and captures the page.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screens"
CHROMIUM = os.environ.get("TRACE_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "demo-password"
WIDTHS = {"1280": (1280, 900), "390": (390, 844)}

SHOTS: list[tuple[str, str, str, str | None]] = [
    # (file name, who, path, what to scroll to)
    ("home-qa", "quinn", "/", None),
    ("batch-release", "quinn", "/ui/batches/UC26-101", "#release"),
    ("batch-custody", "quinn", "/ui/batches/UC26-101", "[data-custody-picture]"),
    ("cold-chain", "quinn", "/ui/cold-chain", None),
    ("courier-custody", "cora", "/ui/custody", None),
    ("site-lab", "lena", "/ui/sites/LAB1", None),
    ("audit-trail", "aude", "/ui/audit-trail", None),
]

LINKED: list[tuple[str, str, str, str, str | None]] = [
    # (who, the page that links to it, file name, the link, what to scroll to)
    ("lena", "/ui/batches/UC26-101", "vial-custody", "a[href^='/01/']", "[data-custody-picture]"),
    ("quinn", "/ui/cold-chain", "cold-chain-plot", "a[data-trace-link]", None),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2) as answer:  # noqa: S310
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("the demo server did not become ready in 60 s")


def sign_in(page: Page, base: str, who: str) -> None:
    page.goto(f"{base}/sign-in")
    page.fill("input[name=username]", who)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("load")


def first_link(page: Page, base: str, path: str, selector: str) -> str:
    page.goto(f"{base}{path}")
    href = page.locator(selector).first.get_attribute("href")
    if href is None:
        raise SystemExit(f"no {selector} on {path}")
    return href


def main() -> int:
    folder = Path(tempfile.mkdtemp(prefix="trace-screens-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "TRACE_ENVIRONMENT": "development",
        "TRACE_DATABASE_URL": f"sqlite:///{folder}/demo.db",
        "TRACE_KEY_DIR": str(folder / "keys"),
        "TRACE_RESOLVER_BASE": base,
    }
    cli = [str(ROOT / ".venv" / "bin" / "traceability")]
    subprocess.run([*cli, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run([*cli, "demo", "load"], env=env, check=True, capture_output=True)
    server = subprocess.Popen(  # noqa: S603 - our own command
        [*cli, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    OUT.mkdir(parents=True, exist_ok=True)
    try:
        wait_ready(base)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            for width, (w, h) in WIDTHS.items():
                shots = list(SHOTS)
                for who, path, name, selector, anchor in LINKED:
                    context = browser.new_context(viewport={"width": w, "height": h})
                    page = context.new_page()
                    sign_in(page, base, who)
                    shots.append((name, who, first_link(page, base, path, selector), anchor))
                    context.close()
                for name, who, path, anchor in shots:
                    context = browser.new_context(viewport={"width": w, "height": h})
                    page = context.new_page()
                    sign_in(page, base, who)
                    page.goto(f"{base}{path}")
                    page.wait_for_load_state("networkidle")
                    if anchor is not None:
                        page.locator(anchor).first.scroll_into_view_if_needed()
                        page.evaluate("window.scrollBy(0, -8)")
                    target = OUT / f"{name}-{width}.png"
                    page.screenshot(path=str(target))
                    print(f"wrote {target.relative_to(ROOT)}")
                    context.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
