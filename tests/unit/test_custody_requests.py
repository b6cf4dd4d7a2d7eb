"""The signed custody requests, read by one model per kind (issue 18): as strict as the
hand-written readers were, refusing with their messages and naming the member."""

from __future__ import annotations

from typing import Any

import pytest

from traceability.domain.custody import (
    Administration,
    Condition,
    CustodyRequest,
    Destruction,
    Dispatch,
    HandoffAcceptance,
    HandoffOffer,
    Location,
    Packing,
    Party,
)
from traceability.domain.statement_kinds import KINDS, STEP_TYPES, spellings, what_model
from traceability.domain.what import What
from traceability.errors import InvalidInputError

NONCE = "n0nce-of-16-chars"
STORE = {
    "nonce": NONCE,
    "site": "LAB1",
    "unit": "LN2-A",
    "rack": "R1",
    "box": "B1",
    "position": "A1",
}
OFFER = {"nonce": NONCE, "to": "user:cora"}
ACCEPT = {"nonce": NONCE, "handoff": 7}
RECEIVE = {"nonce": NONCE, "seal_intact": True, "damaged": False, "logger_attached": True}
PACK = {"nonce": NONCE, "vials": ["https://id.example/01/1/21/0001"]}
DESTROY = {"nonce": NONCE, "reason": "cracked on thaw"}

NONCE_SAYS = "nonce is 16-64 random base64url characters, new for each request"
PARTY_SAYS = 'a party is "site:CODE" or "user:NAME"'
PLACE_SAYS = "is 1-32 letters, digits, spaces or . _ / - (as on the storage map)"
VIALS_SAYS = "vials is a list of 1-500 distinct vial URIs"
MISSING = object()


def _refusal(model: type[What], what: dict[str, Any]) -> tuple[str | None, str]:
    with pytest.raises(InvalidInputError) as refused:
        model.from_what(what)
    return refused.value.field, str(refused.value)


def _with(base: dict[str, Any], name: str, value: object) -> dict[str, Any]:
    what = dict(base)
    if value is MISSING:
        what.pop(name, None)
    else:
        what[name] = value
    return what


def test_good_requests_read_stripped_and_unknown_members_are_ignored() -> None:
    location = Location.from_what(
        STORE | {"site": " LAB1 ", "rack": " r 1/2 ", "signed_by_app": "2.1"}
    )
    assert (location.site, location.rack, location.position) == ("LAB1", "r 1/2", "A1")
    assert location.describe() == "LAB1 LN2-A, rack r 1/2, box B1, position A1"
    offer = HandoffOffer.from_what(OFFER | {"tag": "s-abc"})
    assert offer.to == Party("user", "cora") and offer.tag == "s-abc"
    assert HandoffOffer.from_what(OFFER | {"tag": None}).tag is None
    assert HandoffAcceptance.from_what(ACCEPT).handoff == 7
    assert Packing.from_what(PACK).vials == tuple(PACK["vials"])
    assert Destruction.from_what(DESTROY | {"reason": "  cracked  "}).reason == "cracked"
    for model in (CustodyRequest, Dispatch, Administration):
        assert model.from_what({"nonce": NONCE, "extra": 1}).nonce == NONCE


@pytest.mark.parametrize(
    ("model", "base"),
    [
        (Location, STORE),
        (Packing, PACK),
        (HandoffOffer, OFFER),
        (HandoffAcceptance, ACCEPT),
        (Condition, RECEIVE),
        (Destruction, DESTROY),
        (Dispatch, {"nonce": NONCE}),
        (Administration, {"nonce": NONCE}),
    ],
)
@pytest.mark.parametrize(
    "nonce",
    [MISSING, None, 1234567890123456, "short", "x" * 65, "sixteen-chars-ok!", NONCE + "\n"],
)
def test_every_custody_request_needs_a_fresh_nonce_refused_first(
    model: type[What], base: dict[str, Any], nonce: object
) -> None:
    what = _with(base, "nonce", nonce)
    what.update({name: 12 for name in base if name != "nonce"})  # every member bad, too
    assert _refusal(model, what) == ("statement.what.nonce", NONCE_SAYS)


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("site", MISSING, "site is text of 1-32 characters"),
        ("site", 42, "site is text of 1-32 characters"),
        ("site", "   ", "site is text of 1-32 characters"),
        ("unit", "U" * 33, "unit is text of 1-32 characters"),
        ("rack", "", "rack " + PLACE_SAYS),
        ("box", MISSING, "box " + PLACE_SAYS),
        ("box", None, "box " + PLACE_SAYS),
        ("box", 7, "box " + PLACE_SAYS),
        ("position", "A1;drop", "position " + PLACE_SAYS),
        ("position", "x" * 33, "position " + PLACE_SAYS),
        ("position", "-A1", "position " + PLACE_SAYS),
    ],
)
def test_a_storage_place_is_refused_naming_the_member(name: str, value: object, says: str) -> None:
    assert _refusal(Location, _with(STORE, name, value)) == (f"statement.what.{name}", says)


def test_a_place_code_is_measured_without_the_spaces_around_it() -> None:
    assert Location.from_what(STORE | {"box": "  " + "x" * 32 + "  "}).box == "x" * 32


@pytest.mark.parametrize("to", [MISSING, None, "nobody", "site:", "user:a b", 3, "team:x"])
def test_an_offer_names_a_party(to: object) -> None:
    assert _refusal(HandoffOffer, _with(OFFER, "to", to)) == ("statement.what.to", PARTY_SAYS)


@pytest.mark.parametrize(("model", "base"), [(HandoffOffer, OFFER), (HandoffAcceptance, ACCEPT)])
@pytest.mark.parametrize("tag", [5, "t" * 65, ["s-abc"]])
def test_a_scanned_tag_is_short_text(model: type[What], base: dict[str, Any], tag: object) -> None:
    assert _refusal(model, base | {"tag": tag}) == (
        "statement.what.tag",
        "tag is the label tag scanned (s=...)",
    )


@pytest.mark.parametrize("handoff", [MISSING, None, True, 0, -3, "7", 7.0])
def test_an_acceptance_names_the_handoff_by_its_id(handoff: object) -> None:
    assert _refusal(HandoffAcceptance, _with(ACCEPT, "handoff", handoff)) == (
        "statement.what.handoff",
        "handoff is the open handoff's id",
    )


@pytest.mark.parametrize("name", ["seal_intact", "damaged", "logger_attached"])
@pytest.mark.parametrize("value", [MISSING, None, 1, 0, "true"])
def test_a_receipts_flags_are_true_or_false(name: str, value: object) -> None:
    assert _refusal(Condition, _with(RECEIVE, name, value)) == (
        f"statement.what.{name}",
        f"{name} is true or false",
    )


@pytest.mark.parametrize(
    "flags", [{"seal_intact": False}, {"damaged": True}, {"seal_intact": False, "damaged": True}]
)
@pytest.mark.parametrize("notes", [MISSING, None, "", "   "])
def test_a_broken_seal_or_damage_is_described(flags: dict[str, bool], notes: object) -> None:
    assert _refusal(Condition, _with(RECEIVE | flags, "notes", notes)) == (
        "statement.what.notes",
        "describe the damage or the broken seal in notes",
    )
    assert Condition.from_what(RECEIVE | flags | {"notes": " seal tag missing "}).notes == (
        "seal tag missing"
    )


def test_a_sound_receipt_needs_no_notes_and_reads_them_as_text() -> None:
    assert Condition.from_what(RECEIVE).notes == ""
    assert Condition.from_what(RECEIVE | {"notes": None}).notes == ""
    assert Condition.from_what(RECEIVE | {"notes": "  "}).notes == ""
    for notes in (3, "n" * 2001, ["dented"]):
        assert _refusal(Condition, RECEIVE | {"notes": notes}) == (
            "statement.what.notes",
            "notes is text of 1-2000 characters",
        )


@pytest.mark.parametrize(
    "vials",
    [MISSING, None, [], "uri", ["a", "a"], ["a", 1], ["a", None], [f"v{n}" for n in range(501)]],
)
def test_packing_names_the_whole_list(vials: object) -> None:
    assert _refusal(Packing, _with(PACK, "vials", vials)) == ("statement.what.vials", VIALS_SAYS)


@pytest.mark.parametrize("reason", [MISSING, None, "", "  ", 12, "r" * 2001])
def test_a_destruction_says_why(reason: object) -> None:
    assert _refusal(Destruction, _with(DESTROY, "reason", reason)) == (
        "statement.what.reason",
        "reason is text of 1-2000 characters",
    )


def test_every_custody_kind_a_person_signs_has_its_model_under_every_name() -> None:
    signed = {
        "custody.stored": Location,
        "custody.packed": Packing,
        "custody.handover.offered": HandoffOffer,
        "custody.handover.accepted": HandoffAcceptance,
        "custody.dispatched": Dispatch,
        "custody.received": Condition,
        "custody.administered": Administration,
        "custody.destroyed": Destruction,
    }
    for name, model in signed.items():
        assert all(what_model(spelling) is model for spelling in spellings(name)), name
    # A handoff is signed as offered and accepted: handed_to_* are the service's entries.
    service_only = set(STEP_TYPES.values()) - set(signed)
    assert service_only == {"custody.handed_to_courier", "custody.handed_to_site"}
    assert all(kind.what is None for kind in KINDS if kind.name in service_only)


def test_an_entry_stored_under_an_old_name_reads_with_its_kinds_model() -> None:
    """A `custody.store` entry from before the rename, with a member since dropped."""
    entry_what = STORE | {"device": "scanner-7"}
    assert what_model("custody.store").from_what(entry_what) == Location.from_what(STORE)
