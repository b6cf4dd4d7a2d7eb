"""Set-up and signed custody steps shared by the custody tests."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from tests.integration.test_batch_records import batch_what, product_uri, register_product
from tests.signing import Signer
from tests.support import Api

LOT = "UC26-001"
STORE_AT = {"site": "LAB1", "unit": "LN2-A", "rack": "R1", "box": "B1", "position": "A1"}
"""A full storage place, for tests that build a custody.stored statement by hand."""


def nonce() -> str:
    return secrets.token_urlsafe(16)


@dataclass
class World:
    api: Api
    admin: dict[str, str]
    lena: Signer  # lab, acts for LAB1
    nora: Signer  # lab, acts for CLINIC1 (the receiving site)
    cora: Signer  # courier
    cody: Signer  # another courier
    quinn: Signer  # qa

    def vial(self, serial: str = "0001") -> str:
        return f"{product_uri(self.api)}/10/{LOT}/21/{serial}"

    def step(
        self,
        who: Signer,
        path: str,
        type: str,
        subject: str,
        headers: dict[str, str] | None = None,  # noqa: A002
        **what: Any,
    ) -> Any:
        what.setdefault("nonce", nonce())
        return self.api.client.post(
            path, headers=who.headers | (headers or {}), json=who.body(type, subject, what)
        )

    def join(self, username: str, site: str = "LAB1") -> None:
        """Make `username` act for `site` (the lab keeps the batch's record)."""
        added = self.api.client.post(
            f"/sites/{site}/members", headers=self.admin, json={"username": username}
        )
        assert added.status_code == 201, added.text

    def store(
        self, who: Signer, subject: str, site: str = "LAB1", unit: str = "LN2-A", **kw: Any
    ) -> Any:
        """Store at a place of the vial's own (rack R1, box B1, position = its serial)
        unless the test names one."""
        place = {"rack": "R1", "box": "B1", "position": subject.rsplit("/", 1)[-1]} | kw
        return self.step(
            who, "/custody/store", "custody.stored", subject, site=site, unit=unit, **place
        )

    def offer(self, who: Signer, subject: str, to: str, **kw: Any) -> Any:
        return self.step(who, "/custody/handoffs", "custody.handover.offered", subject, to=to, **kw)

    def accept(self, who: Signer, subject: str, handoff: int, **kw: Any) -> Any:
        return self.step(
            who,
            "/custody/handoffs/accept",
            "custody.handover.accepted",
            subject,
            handoff=handoff,
            **kw,
        )

    def hand(self, giver: Signer, taker: Signer, subject: str, to: str) -> Any:
        offered = self.offer(giver, subject, to)
        assert offered.status_code == 201, offered.text
        accepted = self.accept(taker, subject, offered.json()["handoff"])
        assert accepted.status_code == 201, accepted.text
        return accepted

    def receive(self, who: Signer, subject: str, **condition: Any) -> Any:
        """Record receipt; the container arrived intact with its logger unless told."""
        intact = {"seal_intact": True, "damaged": False, "logger_attached": True}
        return self.step(
            who, "/custody/receive", "custody.received", subject, **(intact | condition)
        )

    def pack_new_shipper(self, *serials: str) -> dict[str, Any]:
        """A new shipper at LAB1 with these (stored) vials packed in it, as lena."""
        made = self.api.client.post(
            "/shippers", headers=self.lena.headers, json={"site": "LAB1", "consignee": "CLINIC1"}
        )
        assert made.status_code == 201, made.text
        shipper: dict[str, Any] = made.json()
        vials = [self.vial(s) for s in serials]
        packed = self.step(
            self.lena, "/custody/pack", "custody.packed", shipper["uri"], vials=vials
        )
        assert packed.status_code == 201, packed.text
        return shipper

    def state(self, subject: str) -> str:
        record = self.api.client.get(
            subject.split("://", 1)[1].split("/", 1)[1].join(["/", ""]),
            headers=self.quinn.headers | {"accept": "application/json"},
        )
        assert record.status_code == 200, record.text
        return str(record.json()["status"])


def make_site(api: Api, code: str, kind: str, members: tuple[str, ...]) -> None:
    """A site (as admin) and the people who act for it."""
    admin = api.headers("admin")
    made = api.client.post("/sites", headers=admin, json={"code": code, "name": code, "kind": kind})
    assert made.status_code == 201, made.text
    for member in members:
        added = api.client.post(f"/sites/{code}/members", headers=admin, json={"username": member})
        assert added.status_code == 201, added.text


def make_world(api: Api, *, lab_qa: bool = True) -> World:
    """Two sites and five people; the batch is made at LAB1, whose members are lena and
    (unless `lab_qa` is False) quinn, its QA."""
    api.add_user("admin", "admin")
    admin = api.headers("admin")
    quinn = Signer.register(api, "quinn", "qa")
    lena = Signer.register(api, "lena", "lab")
    nora = Signer.register(api, "nora", "lab")
    cora = Signer.register(api, "cora", "courier")
    cody = Signer.register(api, "cody", "courier")
    register_product(api, quinn)
    lab_members = ("lena", "quinn") if lab_qa else ("lena",)
    for code, kind, members in (("LAB1", "lab", lab_members), ("CLINIC1", "clinic", ("nora",))):
        make_site(api, code, kind, members)
        unit = {
            "code": "LN2-A",
            "name": "LN2 vapour tank A",
            "max_celsius": "-150",
            "allowed_excursion_minutes": 10,
        }
        assert api.client.post(f"/sites/{code}/units", headers=admin, json=unit).status_code == 201
    what = batch_what(site="LAB1")
    registered = lena.post("/batches", "batch.registered", f"{product_uri(api)}/10/{LOT}", what)
    assert registered.status_code == 201, registered.text
    return World(api, admin, lena, nora, cora, cody, quinn)
