"""A commissioned vial: in nobody's custody yet, so its making lab answers for it.

Until its first storage a vial stands where it was made, held by nobody. Only someone
who acts for the batch's site (the making lab) may take it into custody (store it) or
destroy it; acting for the site it would be stored at is not enough. Through HTTP,
the vial page's actions, and the proof's replay (reconcile finds nothing).
"""

from __future__ import annotations

import pytest

from tests.custody_flow import World, make_world
from tests.support import Api, assert_reconciled

HTML = {"accept": "text/html"}


@pytest.fixture
def world(api: Api) -> World:
    return make_world(api)


def custody_state(w: World, vial: str) -> str:
    path = "/" + vial.split("://", 1)[1].split("/", 1)[1]
    record = w.api.client.get(path, headers=w.quinn.headers | {"accept": "application/json"})
    assert record.status_code == 200, record.text
    return str(record.json()["custody_state"])


def page_of(w: World, vial: str, who: dict[str, str]) -> str:
    path = "/" + vial.split("://", 1)[1].split("/", 1)[1]
    page = w.api.client.get(path, headers=who | HTML)
    assert page.status_code == 200, page.text
    return page.text


def test_only_the_making_lab_stores_a_commissioned_vial_first(world: World) -> None:
    w, vial = world, world.vial()
    # nora acts for CLINIC1, not for LAB1 where the batch was made.
    taken = w.store(w.nora, vial, site="CLINIC1")
    assert taken.status_code == 403, taken.text
    assert taken.headers["content-type"].startswith("application/problem+json")
    assert "LAB1" in taken.json()["detail"]
    assert custody_state(w, vial) == "commissioned"
    # Acting for the making lab does not store it at a site one does not act for.
    assert w.store(w.lena, vial, site="CLINIC1").status_code == 403
    stored = w.store(w.lena, vial)
    assert stored.status_code == 201, stored.text
    assert stored.json()["custodian"] == "site:LAB1"
    assert_reconciled(w.api)


def test_the_vial_page_offers_first_storage_only_to_the_making_lab(world: World) -> None:
    w, vial = world, world.vial()
    lab = page_of(w, vial, w.lena.headers)
    assert 'data-url="/custody/store"' in lab and 'name="site" value="LAB1"' in lab
    assert 'data-url="/custody/destroy"' in lab
    clinic = page_of(w, vial, w.nora.headers)
    assert 'data-url="/custody/store"' not in clinic
    assert 'data-url="/custody/destroy"' not in clinic


def test_a_commissioned_vial_is_destroyed_by_its_making_lab_with_a_reason(world: World) -> None:
    w, vial = world, world.vial()
    not_theirs = w.step(
        w.nora, "/custody/destroy", "custody.destroyed", vial, reason="Dropped at the clinic"
    )
    assert not_theirs.status_code == 403, not_theirs.text
    assert not_theirs.headers["content-type"].startswith("application/problem+json")
    no_reason = w.step(w.lena, "/custody/destroy", "custody.destroyed", vial)
    assert no_reason.status_code == 422
    assert no_reason.json()["field"] == "statement.what.reason"
    destroyed = w.step(
        w.lena, "/custody/destroy", "custody.destroyed", vial, reason="Cracked before freezing"
    )
    assert destroyed.status_code == 201, destroyed.text
    assert destroyed.json()["state"] == "destroyed" and destroyed.json()["custodian"] is None
    assert custody_state(w, vial) == "destroyed"
    again = w.store(w.lena, vial)
    assert again.status_code == 409 and "destroyed" in again.json()["detail"]
    page = page_of(w, vial, w.lena.headers)
    assert 'data-url="/custody/destroy"' not in page and 'data-url="/custody/store"' not in page
    assert_reconciled(w.api)


def test_a_stored_vial_is_destroyed_by_its_holder_not_by_its_making_lab(world: World) -> None:
    w, vial = world, world.vial()
    assert w.store(w.lena, vial).status_code == 201
    w.hand(w.lena, w.cora, vial, "user:cora")
    w.hand(w.cora, w.nora, vial, "site:CLINIC1")
    assert w.receive(w.nora, vial).status_code == 201
    by_lab = w.step(w.lena, "/custody/destroy", "custody.destroyed", vial, reason="Recalled")
    assert by_lab.status_code == 403, by_lab.text
    by_holder = w.step(w.nora, "/custody/destroy", "custody.destroyed", vial, reason="Thawed")
    assert by_holder.status_code == 201, by_holder.text
    assert_reconciled(w.api)
