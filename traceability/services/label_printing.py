"""Printing labels: a batch's current vial labels, and a shipper's SSCC label; one
place for the web routes and the CLI.

Reads only. What is printed is always each vial's current label, so printing again
never issues anything; the labels package draws it (vector PDF or ZPL).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlmodel import Session

from labels.errors import LabelError
from labels.pdf import shipper_label_pdf, vial_labels_pdf
from labels.zpl import shipper_label_zpl, vial_labels_zpl
from traceability.custody_log.evidence import LogEvidence
from traceability.errors import InvalidInputError
from traceability.services import vial_labels
from traceability.services.shipper_label import shipper_label_content
from traceability.storage.models import Batch, Shipper

Layout = Literal["vial", "sheet"]
Format = Literal["pdf", "zpl"]
Paper = Literal["A4", "letter"]


@dataclass(frozen=True)
class PrintJob:
    layout: Layout = "vial"
    format: Format = "pdf"
    paper: Paper = "A4"
    size_mm: tuple[float, float] = (32.5, 12.7)
    dpi: int = 300


@dataclass(frozen=True)
class Printed:
    data: bytes
    media_type: str
    filename: str


def print_labels(session: Session, batch: Batch, job: PrintJob, *, resolver: str) -> Printed:
    """The batch's current labels in the job's layout and format."""
    if job.format == "zpl" and job.layout == "sheet":
        raise InvalidInputError("ZPL prints on a roll: use layout vial", field="layout")
    try:  # the contents too: a name the label fonts cannot print is the caller's to fix
        labels = vial_labels.vial_label_contents(session, batch, resolver)
        data = (
            vial_labels_pdf(labels, job.layout, size_mm=job.size_mm, paper=job.paper, dpi=job.dpi)
            if job.format == "pdf"
            else vial_labels_zpl(labels, size_mm=job.size_mm, dpi=job.dpi).encode()
        )
    except LabelError as e:
        raise InvalidInputError(str(e), field=getattr(e, "field", None)) from None
    media_type = "application/pdf" if job.format == "pdf" else "text/plain; charset=utf-8"
    return Printed(data, media_type, f"{batch.lot}-{job.layout}-labels.{job.format}")


def print_shipper_label(
    session: Session,
    evidence: LogEvidence,
    shipper: Shipper,
    *,
    format: Format,
    dpi: int,
    establishment: str,
    alarms: Sequence[str] = (),
) -> Printed:
    """The shipper's SSCC label, 100 x 150 mm, as a PDF or as ZPL for a `dpi` printer."""
    try:
        label = shipper_label_content(
            session, evidence, shipper, establishment=establishment, alarms=alarms
        )
        data = (
            shipper_label_pdf([label], dpi=dpi)
            if format == "pdf"
            else shipper_label_zpl([label], dpi=dpi).encode()
        )
    except LabelError as e:
        raise InvalidInputError(str(e), field=getattr(e, "field", None)) from None
    media_type = "application/pdf" if format == "pdf" else "text/plain; charset=utf-8"
    return Printed(data, media_type, f"{shipper.sscc}-shipper-label.{format}")
