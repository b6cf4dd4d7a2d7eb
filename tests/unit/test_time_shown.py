"""Times on pages: one format, UTC, machine-readable beside what people read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from traceability.web.pages import at


def test_a_moment_is_shown_in_utc_in_one_format() -> None:
    ten = datetime(2026, 11, 2, 10, 0, 5, tzinfo=UTC)
    assert (
        str(at(ten)) == '<time datetime="2026-11-02T10:00:05Z" data-utc>2026-11-02 10:00 UTC</time>'
    )
    assert str(at(ten, seconds=True)).endswith(">2026-11-02 10:00:05 UTC</time>")
    # Stored times are UTC without a zone; another zone is converted, not relabelled.
    assert str(at(ten.replace(tzinfo=None))) == str(at(ten))
    paris = ten.astimezone(timezone(timedelta(hours=1)))
    assert str(at(paris)) == str(at(ten))
    assert str(at("2026-11-02T11:00:05+01:00")) == str(at(ten))
    assert str(at("2026-11-02T10:00:05Z", seconds=True)) == str(at(ten, seconds=True))


def test_text_that_is_not_a_time_is_shown_as_text() -> None:
    assert str(at("<b>soon</b>")) == "&lt;b&gt;soon&lt;/b&gt;"
