"""One naming rule for log entry types, with the old names still read (issue 18)."""

from __future__ import annotations

import re

from audit.bundle import report_sections
from traceability.domain.statement_kinds import BY_TYPE, KINDS, current, spellings

RULE = re.compile(r"^[a-z]+(\.[a-z]+(_[a-z]+)*)*\.[a-z]+ed(_[a-z]+)*$")
"""`<subject>.<past participle>`: lowercase dotted words, the last a past participle."""


def test_every_current_name_follows_the_rule_and_old_names_map_to_it() -> None:
    for kind in KINDS:
        assert RULE.fullmatch(kind.name), kind.name
        for old in kind.old:
            assert current(old) == kind.name and old not in BY_TYPE
    assert spellings("custody.stored") == ("custody.stored", "custody.store")
    assert current("custody.hand_to_courier") == "custody.handed_to_courier"
    assert current("batch.disposition") == "batch.disposition.decided"
    assert current("something.else") == "something.else"


def test_the_auditors_words_know_every_spelling_of_the_kinds_they_name() -> None:
    """audit/ stands alone, so it lists the names itself: every one it lists is a
    spelling of a kind, and with it every other spelling of that kind."""
    listed = set(report_sections.EVENT_NAMES)
    for name in listed:
        kind = BY_TYPE[current(name)]
        assert set(spellings(kind.name)) <= listed, kind.name
    assert report_sections.DISPOSITION_TYPES == spellings("batch.disposition.decided")
