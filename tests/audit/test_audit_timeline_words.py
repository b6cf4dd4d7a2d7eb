"""The words an inspector reads in a vial's timeline: event names, parties, shippers."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from audit import bundle
from audit.bundle import report_sections


def where(what: dict[str, Any], place: dict[str, Any] | None = None) -> str:
    entry: Any = SimpleNamespace(what=what, where=place or {})
    return report_sections._where(entry)


def test_event_types_read_as_words_and_unknown_ones_as_themselves() -> None:
    assert bundle.event_name("custody.hand_to_courier") == "Handed to courier"
    assert bundle.event_name("custody.handed_to_courier") == "Handed to courier"
    assert bundle.event_name("custody.handover.accepted") == "Handover accepted"
    assert bundle.event_name("vial.commissioned") == "Commissioned"
    assert bundle.event_name("something.new") == "something.new"


def test_parties_and_shippers_read_as_names_not_codes() -> None:
    shipper = "https://id.example/00/009521230000000019"
    assert where({"shipper": shipper, "custodian": "user:cora"}) == (
        "in shipper SSCC 009521230000000019, held by cora"
    )
    assert where({"to": "site:CLINIC1"}) == "to site CLINIC1"
    assert where({"site": "LAB1", "unit": "LN2-A", "rack": "R1"}) == "LAB1, LN2-A, rack R1"
    # Anything else is shown as stored, never dropped.
    odd = where({"custodian": "team:qa", "shipper": "urn:x"})
    assert odd == "in shipper urn:x, held by team:qa"


def test_a_qc_review_without_a_comment_does_not_say_null() -> None:
    entry: Any = SimpleNamespace(
        type="qc.result.reviewed", what={"result": 4, "decision": "approved", "comment": None}
    )
    assert report_sections._qc_summary(entry) == "decision approved, result 4"
