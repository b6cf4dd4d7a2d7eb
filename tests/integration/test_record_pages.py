"""Pages for products and their specification versions, deviations, and OOS decisions."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from tests.integration.test_batch_records import (
    batch_what,
    product_uri,
    product_what,
    register_product,
)
from tests.integration.test_deviations import event, record
from tests.integration.test_qc_results import enter
from tests.signing import Signer
from tests.support import Api

LOT = "UC26-001"
HTML = {"accept": "text/html"}


@pytest.fixture
def people(api: Api) -> dict[str, Signer]:
    signers = {
        "quinn": Signer.register(api, "quinn", "qa"),
        "lena": Signer.register(api, "lena", "lab"),
        "audrey": Signer.register(api, "audrey", "auditor"),
    }
    register_product(api, signers["quinn"])
    registered = signers["lena"].post(
        "/batches", "batch.registered", f"{product_uri(api)}/10/{LOT}", batch_what()
    )
    assert registered.status_code == 201, registered.text
    return signers


def page(api: Api, who: Signer, path: str) -> str:
    response = api.client.get(path, headers=who.headers | HTML)
    assert response.status_code == 200, response.text
    return response.text


def test_the_products_page_shows_every_specification_version_with_its_criteria(
    api: Api, people: dict[str, Signer]
) -> None:
    quinn, lena = people["quinn"], people["lena"]
    v2 = product_what(version=2)["specification"]
    viability = next(t for t in v2["tests"] if t["code"] == "viability")
    viability["criterion"]["lower"]["value"] = "75"
    added = quinn.post(
        "/products/UC-MSC/specifications",
        "spec.version.created",
        product_uri(api),
        {"specification": v2},
    )
    assert added.status_code == 201, added.text
    text = page(api, lena, "/ui/products")
    assert "Specification v2</strong> (current)" in text
    assert "Specification v1</strong>" in text
    # Each version keeps its own limits: v2's viability and v1's, side by side.
    assert text.count("&gt;= 75 %") == 1 and text.count("&gt;= 70 %") == 1
    assert "&lt;= 0.5 EU/mL" in text  # endotoxin, one-sided upper limit
    assert "CD73" in text and "HLA-DR" in text  # the identity marker panel
    assert "no growth" in text
    # Lab staff read; only QA (or admin) gets the signed form for the next version.
    assert "Add specification" not in text
    qa_text = page(api, quinn, "/ui/products")
    assert "Add specification v3" in qa_text and '"version": 3' in html.unescape(qa_text)


def test_the_deviations_page_lists_open_deviations_across_batches(
    api: Api, people: dict[str, Signer]
) -> None:
    quinn, lena, audrey = people["quinn"], people["lena"], people["audrey"]
    first = record(api, lena, title="Freezer door alarm").json()
    record(api, lena, title="Label printer jam", severity="major")
    closed = event(
        api, quinn, "deviation.closed", {"deviation": first["id"], "conclusion": "No impact."}
    )
    assert closed.status_code == 201, closed.text
    open_only = page(api, audrey, "/ui/deviations")
    assert "Label printer jam" in open_only and "Freezer door alarm" not in open_only
    everything = page(api, audrey, "/ui/deviations?show=all")
    assert "Freezer door alarm" in everything and "No impact." in everything
    assert f'href="/ui/batches/{LOT}#deviation-{first["id"]}"' in everything
    bad = api.client.get("/ui/deviations?show=some", headers=audrey.headers | HTML)
    assert bad.status_code == 422


def forms(text: str) -> set[str]:
    """The signed statement types the page offers forms for."""
    return set(re.findall(r'data-signed data-url="[^"]+" data-type="([a-z.]+)"', text))


def test_the_batch_page_offers_each_role_only_its_own_signed_actions(
    api: Api, people: dict[str, Signer]
) -> None:
    quinn, lena, audrey = people["quinn"], people["lena"], people["audrey"]
    failed = enter(api, lena, test="potency", values={"value": "22"}, unit="% inhibition")
    assert failed.status_code == 201
    record(api, lena)
    as_qa = page(api, quinn, f"/ui/batches/{LOT}")
    assert "Open OOS investigations" in as_qa
    assert forms(as_qa) == {
        "oos.concluded",
        "deviation.recorded",
        "deviation.assigned",
        "deviation.closed",
        "labels.issued",
        "batch.disposition.decided",
    }
    as_lab = page(api, lena, f"/ui/batches/{LOT}")
    assert forms(as_lab) == {"deviation.recorded", "labels.issued"}
    assert "awaiting QA's conclusion" in html.unescape(as_lab)
    as_auditor = page(api, audrey, f"/ui/batches/{LOT}")
    assert forms(as_auditor) == set() and "records.js" not in as_auditor


def test_a_concluded_oos_leaves_the_open_list(api: Api, people: dict[str, Signer]) -> None:
    quinn, lena = people["quinn"], people["lena"]
    failed: Any = enter(api, lena, test="potency", values={"value": "22"}, unit="% inhibition")
    decided = quinn.post(
        f"/batches/{LOT}/oos",
        "oos.concluded",
        f"{product_uri(api)}/10/{LOT}",
        {"result": failed.json()["id"], "conclusion": "invalidated", "reason": "Pipetting error."},
    )
    assert decided.status_code == 201, decided.text
    assert "Open OOS investigations" not in page(api, quinn, f"/ui/batches/{LOT}")


def test_the_registration_forms_are_offered_to_the_roles_that_may_register(
    api: Api, people: dict[str, Signer]
) -> None:
    """QA registers products, lab staff batches, each only where the endpoint lets them;
    a lab person's batch form offers the products that exist and their own sites only."""
    quinn, lena, audrey = people["quinn"], people["lena"], people["audrey"]
    products_for = {who: page(api, people[who], "/ui/products") for who in people}
    assert 'form data-signed data-url="/products"' in products_for["quinn"]
    assert 'data-url="/products"' not in products_for["lena"] + products_for["audrey"]

    batches = page(api, lena, "/ui/batches")
    assert 'data-type="batch.registered"' in batches
    offered = re.findall(r'<option value="([^"]+)" data-gtin="(\d+)" data-version="(\d+)"', batches)
    assert offered == [("UC-MSC", product_what()["gtin"], "1")]
    assert "Made at" not in batches  # lena acts for no site yet
    for who in (quinn, audrey):
        assert 'data-type="batch.registered"' not in page(api, who, "/ui/batches")


def test_the_batch_page_writes_large_counts_as_powers_of_ten(
    api: Api, people: dict[str, Signer]
) -> None:
    lena = people["lena"]
    entered = enter(api, lena, test="cell_count", values={"value": "24.8e6"}, unit="cells/vial")
    assert entered.status_code == 201, entered.text
    shown = html.unescape(page(api, people["quinn"], f"/ui/batches/{LOT}"))
    assert "value 24.8 × 10⁶ cells/vial" in shown and "24.8e6" not in shown
    assert '<td data-label="Test">Viable cells per vial</td>' in shown  # not "cell_count"
