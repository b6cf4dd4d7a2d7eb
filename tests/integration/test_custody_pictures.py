"""Custody as a picture (issue 19): a vial's page shows who held it and where as a
timeline, one lane per holder; a batch's page one lane per vial. Staff only, and only
while the log proves the custody rows it is drawn from."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.custody_flow import LOT, World, make_world
from tests.support import Api, edit_behind_the_service

HTML = {"accept": "text/html"}


@pytest.fixture
def world(api: Api) -> World:
    return make_world(api)


def picture(page: str) -> str:
    start = page.index("<svg", page.index("data-custody-picture"))
    return page[start : page.index("</svg>", start)]


def lanes(svg: str) -> list[str]:
    return re.findall(r"<text [^>]*data-lane>([^<]+)</text>", svg)


def bars(svg: str) -> list[tuple[str, float, str]]:
    """(kind, left x, its words) of each bar, in drawing order."""
    found = re.findall(r'<rect data-bar="(\w+)" x="([\d.]+)"[^>]*><title>([^<]+)</title>', svg)
    return [(kind, float(x), words) for kind, x, words in found]


def travelled(w: World) -> str:
    """Vial 0001: stored at LAB1, carried by Cora, delivered to CLINIC1, ten minutes apart."""
    vial = w.vial("0001")
    assert w.store(w.lena, vial).status_code == 201
    w.api.clock.advance(minutes=10)
    w.hand(w.lena, w.cora, vial, "user:cora")
    w.api.clock.advance(minutes=10)
    w.hand(w.cora, w.nora, vial, "site:CLINIC1")
    w.api.clock.advance(minutes=10)
    return vial


def path_of(uri: str) -> str:
    return "/" + uri.split("://", 1)[1].split("/", 1)[1]


def test_a_vial_page_draws_who_held_it_where_in_order(world: World) -> None:
    w = world
    vial = travelled(w)
    page = w.api.client.get(path_of(vial), headers=w.quinn.headers | HTML).text
    svg = picture(page)
    assert lanes(svg) == ["site LAB1", "cora", "site CLINIC1"]  # in the order they held it
    drawn = bars(svg)
    assert [kind for kind, _, _ in drawn] == ["site", "user", "site"]
    assert [x for _, x, _ in drawn] == sorted(x for _, x, _ in drawn)
    assert drawn[0][2].startswith("in storage at LAB1/LN2-A")
    assert drawn[-1][2].endswith("to now")  # still held by the clinic
    # Nobody signed in sees no names: no picture.
    public = w.api.client.get(path_of(vial), headers=HTML).text
    assert "data-custody-picture" not in public


def test_a_batch_page_draws_a_lane_per_vial(world: World) -> None:
    w = world
    travelled(w)
    assert w.store(w.lena, w.vial("0002")).status_code == 201
    page = w.api.client.get(f"/ui/batches/{LOT}", headers=w.quinn.headers | HTML).text
    svg = picture(page)
    serials = lanes(svg)
    assert serials[:2] == ["0001", "0002"]
    words = [words for _, _, words in bars(svg)]
    assert sum(1 for text_ in words if text_.startswith("site LAB1: in storage")) == 2
    assert any(text_.startswith("cora: ") for text_ in words)


def test_no_picture_while_the_log_does_not_prove_the_custody_rows(world: World) -> None:
    w = world
    vial = travelled(w)
    edit_behind_the_service(
        w.api.db,
        ("custody_events",),
        "UPDATE custody_events SET custodian = 'user:cody' WHERE custodian = 'user:cora'",
    )
    page = w.api.client.get(path_of(vial), headers=w.quinn.headers | HTML).text
    assert "data-custody-picture" not in page and "data-unproven" in page
    batch = w.api.client.get(f"/ui/batches/{LOT}", headers=w.quinn.headers | HTML).text
    assert "data-custody-picture" not in batch


def test_the_times_drawn_are_the_signed_ones_not_the_rows(world: World) -> None:
    w = world
    vial = travelled(w)
    before = bars(picture(w.api.client.get(path_of(vial), headers=w.quinn.headers | HTML).text))
    edit_behind_the_service(
        w.api.db,
        ("custody_events",),
        "UPDATE custody_events SET created_at = :t WHERE step = 'store'",
        t=w.api.clock() - timedelta(days=3),
    )
    after = bars(picture(w.api.client.get(path_of(vial), headers=w.quinn.headers | HTML).text))
    assert after == before
