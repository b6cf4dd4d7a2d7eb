"""The cold chain in pictures (issue 19): each logger file is kept as uploaded and plotted
against the limits it was judged by, excursions shaded; the plot is drawn from the kept
bytes only once the signed log proves its entry names exactly those bytes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import text

from tests.custody_flow import World, make_world
from tests.integration.test_cold_chain_api import advance, every_minute, logger_csv, upload
from tests.support import Api, edit_behind_the_service

HTML = {"accept": "text/html"}


@pytest.fixture
def world(api: Api) -> World:
    return make_world(api)


def points_of(svg: str) -> list[tuple[float, float]]:
    [points] = re.findall(r'<polyline data-readings[^>]* points="([^"]+)"', svg)
    return [(float(x), float(y)) for x, y in (p.split(",") for p in points.split())]


def uploaded(w: World) -> dict[str, Any]:
    """An hour of LN2-A at -190 °C with 15 minutes at -140 °C from minute 20: one excursion."""
    start = w.api.clock()
    advance(w, hours=2)
    readings = every_minute(0, 19, "-190") + every_minute(20, 34, "-140")
    readings += every_minute(35, 60, "-190")
    answer = upload(w, logger_csv(start, readings))
    assert answer.status_code == 201, answer.text
    assert len(answer.json()["excursions"]) == 1
    body: dict[str, Any] = answer.json()
    body["csv"] = logger_csv(start, readings)
    return body


def test_a_logger_file_is_kept_and_plotted_with_its_excursion_shaded(world: World) -> None:
    w = world
    done = uploaded(w)
    with w.api.db.read() as session:
        kept = session.exec(  # type: ignore[call-overload]
            text("SELECT data FROM temperature_files WHERE sha256 = :s"),
            params={"s": done["sha256"]},
        ).one()[0]
    assert bytes(kept) == done["csv"].encode()

    cold = w.api.client.get("/ui/cold-chain", headers=w.quinn.headers | HTML).text
    assert f'href="/ui/cold-chain/uploads/{done["id"]}" data-trace-link' in cold
    page = w.api.client.get(f"/ui/cold-chain/uploads/{done['id']}", headers=w.quinn.headers | HTML)
    assert page.status_code == 200, page.text
    svg = page.text[page.text.index("<svg") : page.text.index("</svg>")]
    points = points_of(svg)
    assert len(points) == 61  # every reading, in time order
    assert [x for x, _ in points] == sorted(x for x, _ in points)
    # Warmer is higher: the 15 minutes at -140 °C sit above the rest.
    assert {y for _, y in points[20:35]} == {points[20][1]} and points[20][1] < points[0][1]
    [shade] = re.findall(r'<rect data-excursion x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', svg)
    left, width = float(shade[0]), float(shade[1])
    # The shading starts at the first reading outside and ends at the first back inside.
    assert left == points[20][0] and abs(left + width - points[35][0]) < 0.11
    [limit] = re.findall(r'<line data-limit="max"[^>]* y1="([\d.]+)"', svg)
    assert points[20][1] < float(limit) < points[0][1]  # -150 °C lies between them
    assert 'data-limit="min"' not in svg
    assert "above the limit from" in page.text and "peak -140 °C" in page.text


def test_a_changed_file_is_not_plotted(world: World) -> None:
    w = world
    done = uploaded(w)
    forged = done["csv"].replace("-140", "-190").encode()  # hide the excursion
    edit_behind_the_service(
        w.api.db,
        ("temperature_files",),
        "UPDATE temperature_files SET data = :d WHERE sha256 = :s",
        d=forged,
        s=done["sha256"],
    )
    page = w.api.client.get(f"/ui/cold-chain/uploads/{done['id']}", headers=w.quinn.headers | HTML)
    assert page.status_code == 409 and "<svg" not in page.text
    assert "not the one its entry names" in page.text
    problem = w.api.client.get(
        f"/ui/cold-chain/uploads/{done['id']}",
        headers=w.quinn.headers | {"accept": "application/json"},
    )
    assert problem.status_code == 409 and problem.json()["findings"]


def test_who_sees_a_trace(world: World) -> None:
    w = world
    done = uploaded(w)
    path = f"/ui/cold-chain/uploads/{done['id']}"
    assert w.api.client.get(path, headers=w.cora.headers | HTML).status_code == 403
    assert w.api.client.get(path, headers=HTML).status_code in (303, 401)
    missing = w.api.client.get("/ui/cold-chain/uploads/999", headers=w.quinn.headers | HTML)
    assert missing.status_code == 404
    huge = w.api.client.get(f"/ui/cold-chain/uploads/{2**63}", headers=w.quinn.headers)
    assert huge.status_code == 422


def test_a_row_pointed_at_another_places_upload_is_not_plotted(world: World) -> None:
    """The same file sent for two places: the second row pointed at the first's entry
    would show the first place's limits under the second's name."""
    w = world
    first = uploaded(w)
    admin = w.api.headers("admin")  # a fresh token: the clock moved on
    unit = {"code": "LN2-B", "name": "tank B", "max_celsius": "-100"}
    assert w.api.client.post("/sites/LAB1/units", headers=admin, json=unit).status_code == 201
    again = w.api.client.post(
        "/sites/LAB1/units/LN2-B/temperatures",
        headers=w.lena.headers | {"content-type": "text/csv"},
        content=first["csv"].encode(),
    )
    assert again.status_code == 201, again.text
    edit_behind_the_service(
        w.api.db,
        ("temperature_uploads",),
        "UPDATE temperature_uploads SET log_index = :i WHERE id = :u",
        i=first["log_index"],
        u=again.json()["id"],
    )
    page = w.api.client.get(
        f"/ui/cold-chain/uploads/{again.json()['id']}", headers=w.quinn.headers | HTML
    )
    assert page.status_code == 409 and "is not an upload for" in page.text
