"""Records made from rows: the same row gives the same record, a changed row a new one."""

from __future__ import annotations

from datetime import UTC, datetime

from traceability.storage.models import CustodyEvent, Vial
from traceability.storage.records import record_of, record_of_row

ROW = {
    "id": 7,
    "batch_id": 2,
    "serial": "0007",
    "uri": "https://id.example/01/09521234543213/10/LOT1/21/0007",
    "log_index": 40,
    "created_at": datetime(2026, 12, 1, tzinfo=UTC),
}


def test_a_row_seen_again_gives_the_record_made_the_first_time() -> None:
    first = record_of(Vial, ROW)
    assert (first.id, first.serial, first.uri) == (7, "0007", ROW["uri"])
    assert record_of(Vial, dict(ROW)) is first


def test_a_row_that_differs_in_any_column_gives_a_new_record() -> None:
    first = record_of(Vial, ROW)
    moved = record_of(Vial, ROW | {"log_index": 41})
    assert moved is not first and moved.log_index == 41 and first.log_index == 40


def test_a_row_with_a_json_value_is_made_each_time() -> None:
    row = {
        "id": 1,
        "vial_id": 7,
        "step": "receive",
        "state": "received",
        "by": "nora",
        "log_index": 3,
        "created_at": datetime(2026, 12, 1, tzinfo=UTC),
        "detail": {"seal_intact": True},
    }
    made = record_of(CustodyEvent, row)
    assert made.detail == {"seal_intact": True}
    assert record_of(CustodyEvent, row) is not made


def test_a_row_of_values_is_found_again_by_the_row_itself() -> None:
    names = tuple(ROW)
    values = tuple(ROW.values())
    first = record_of_row(Vial, names, values)
    assert (first.id, first.serial, first.uri) == (7, "0007", ROW["uri"])
    assert record_of_row(Vial, names, tuple(values)) is first
    moved = record_of_row(Vial, names, (*values[:4], 41, values[5]))
    assert moved is not first and moved.log_index == 41
