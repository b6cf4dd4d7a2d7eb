"""Benchmark: a 1,000-vial sheet PDF against bare QR matrix generation for the same URIs.

Building the QR matrix (the `qrcode` library, error correction M, best of eight
masks) is the unavoidable floor; everything else - text fitting, vector paths, the
PDF itself - should add little. The target is a PDF rate of at least 0.7 times the
bare matrix rate, measured in the same run so the machine's speed cancels out.

Run: .venv/bin/python scripts/bench_labels.py [VIALS]
"""

from __future__ import annotations

import sys
import time
from datetime import date

from labels.digital_link import VialId
from labels.layouts import VialLabel
from labels.pdf import vial_labels_pdf
from labels.qr_matrix import bare_matrix

TARGET = 0.7


def _labels(vials: int) -> list[VialLabel]:
    expiry = date(2027, 3, 31)
    labels = []
    for n in range(vials):
        serial = f"{n:06d}"
        vial_id = VialId("09521234543213", "UC24-007", serial)
        uri = vial_id.label_uri("https://id.clinic.example", expiry=expiry, tag=f"T{n:021d}")
        labels.append(
            VialLabel(
                uri,
                "UC-MSC 10M cells/mL",
                "UC24-007",
                serial,
                expiry,
                "Store at or below -150 °C",
                din="G123 498 654 321 H",
            )
        )
    return labels


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def run(vials: int = 1000) -> None:
    """Print labels per second for the sheet PDF, the bare matrix rate, and their ratio."""
    labels = _labels(vials)
    start = time.perf_counter()
    for label in labels:
        bare_matrix(label.uri)
    bare = _rate(vials, time.perf_counter() - start)

    start = time.perf_counter()
    pdf = vial_labels_pdf(labels, "sheet", paper="A4")
    sheet = _rate(vials, time.perf_counter() - start)

    ratio = sheet / bare
    verdict = "meets" if ratio >= TARGET else "misses"
    print(f"bare qrcode matrices (level M): {bare:8.1f} labels/s")
    print(f"A4 sheet PDF, {vials} vials:     {sheet:8.1f} labels/s ({len(pdf) / 1e6:.2f} MB)")
    print(f"ratio: {ratio:.2f} ({verdict} the {TARGET} target)")


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
