"""In a real browser, with Chromium's fake camera playing a picture of a printed label
(the label PDF the service serves, rasterised): the courier's page scans it with the
in-page camera scanner and opens the vial's page, where the courier accepts custody."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path
from typing import Any

from PIL import Image

from tests.custody_flow import make_world
from tests.e2e.browser import chromium, new_page
from tests.e2e.test_browser_custody import press
from tests.e2e.test_browser_qc import sign_in_and_make_key
from tests.integration.test_labels_pdf import require_tool
from tests.support import Api


def camera_film(pdf: bytes, folder: Path) -> Path:
    """The label as a camera sees it: its first page at 300 dpi, enlarged on a white
    640 x 480 frame, repeated as an MJPEG stream for Chromium's fake camera."""
    source = folder / "labels.pdf"
    source.write_bytes(pdf)
    tool = require_tool("pdftoppm")
    subprocess.run(  # noqa: S603 - poppler's pdftoppm
        [tool, "-r", "300", "-gray", "-png", "-f", "1", "-l", "1", str(source), str(folder / "l")],
        check=True,
        timeout=60,
    )
    [page] = folder.glob("l-*.png")
    label = Image.open(page).convert("RGB")
    scale = 600 / label.width
    label = label.resize((600, round(label.height * scale)))
    frame = Image.new("RGB", (640, 480), "white")
    frame.paste(label, (20, (480 - label.height) // 2))
    jpeg = io.BytesIO()
    frame.save(jpeg, "JPEG", quality=95)
    film = folder / "label.mjpeg"
    film.write_bytes(jpeg.getvalue() * 30)
    return film


def test_the_courier_scans_a_printed_label_with_the_page_camera(
    api: Api, server: Any, tmp_path: Path
) -> None:
    w = make_world(api)
    vial = w.vial()
    issued = w.lena.post("/batches/UC26-001/labels", "labels.issued", vial.rsplit("/21/", 1)[0], {})
    assert issued.status_code == 201, issued.text
    pdf = api.client.get("/batches/UC26-001/labels.pdf", headers=w.lena.headers)
    assert pdf.status_code == 200
    assert w.store(w.lena, vial).status_code == 201
    assert w.offer(w.lena, vial, "user:cora").status_code == 201
    film = camera_film(pdf.content, tmp_path)
    base = str(api.client.base_url).rstrip("/")
    fake_camera = (
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={film}",
    )
    with chromium(*fake_camera) as browser:
        page = new_page(browser, api.clock(), permissions=["camera"])
        sign_in_and_make_key(page, base, "cora")
        page.goto(f"{base}/ui/custody")
        page.wait_for_selector("[data-camera-start][data-ready]")
        page.click("[data-camera-start]")
        page.wait_for_url(f"{base}/01/**", timeout=30_000)
        assert page.url.split("?")[0] == f"{base}/{vial.split('/', 3)[3]}"
        assert "s=" in page.url  # the label's tag came along: the scan is judged as one
        press(page, "accept")
        page.wait_for_selector("[data-custody-state='with courier']")
    assert w.state(vial) == "in transit"  # the record says so too
