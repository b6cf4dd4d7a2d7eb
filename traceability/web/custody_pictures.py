"""Custody timelines for the vial and batch pages: the stretches of `views.holdings`
turned into lanes of `plots.custody_lanes`, named as people read them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from markupsafe import Markup

from traceability.errors import UnprovenError
from traceability.services.custody.views import Holding
from traceability.web.plots import Bar, custody_lanes


def holder_name(custodian: str | None) -> str:
    """ "site:LAB1" -> "site LAB1", "user:cora" -> "cora", None -> "nobody"."""
    if custodian is None:
        return "nobody"
    kind, _, name = custodian.partition(":")
    return f"site {name}" if kind == "site" else name


def _bar(stretch: Holding, label: str) -> Bar:
    kind = stretch.custodian.partition(":")[0] if stretch.custodian else "none"
    return Bar(stretch.start, stretch.end, label, kind if kind in ("site", "user") else "none")


def _words(stretch: Holding) -> str:
    return stretch.state + (f" at {stretch.where}" if stretch.where else "")


def vial_timeline(stretches: Sequence[Holding], *, until: datetime, serial: str) -> Markup:
    """One lane per holder, in the order they first held the vial."""
    lanes: dict[str, list[Bar]] = {}
    for stretch in stretches:
        lanes.setdefault(holder_name(stretch.custodian), []).append(_bar(stretch, _words(stretch)))
    return custody_lanes(
        list(lanes.items()), until=until, title=f"Who held vial {serial}, and where, over time"
    )


def batch_timeline(
    vials: Sequence[tuple[int, str]],
    stretches: dict[int, list[Holding]],
    *,
    until: datetime,
    lot: str,
) -> Markup:
    """One lane per vial, given as (id, serial); each bar names its holder."""
    lanes = [
        (
            serial,
            [
                _bar(s, f"{holder_name(s.custodian)}: {_words(s)}")
                for s in stretches.get(vial_id, [])
            ],
        )
        for vial_id, serial in vials
    ]
    return custody_lanes(lanes, until=until, title=f"Custody of each vial of batch {lot}")


def drawn(draw: Callable[[], Markup]) -> Markup | None:
    """The picture, or None when what it rests on is not proven at this moment (a step
    appended after the checkpoint the page's proof used): the page then shows no
    picture, as it does when the batch's proof fails, never an error."""
    try:
        return draw()
    except UnprovenError:
        return None
