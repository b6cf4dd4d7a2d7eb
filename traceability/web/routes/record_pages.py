"""The pages that list products and batches, and register new ones.

Registering is a signed statement like every other record (docs/signed-writes.md): the
forms here are signed in the browser with the person's own key and posted to the same
endpoints as the API (`POST /products`, `POST /batches`), which do every check. The
pages only offer what those endpoints accept: the products and specification versions
that exist, the sites the person works for, the processing classes.
"""

from __future__ import annotations

import json
from collections import Counter

from fastapi import APIRouter, Request
from fastapi.responses import Response

from labels.digital_link import product_uri
from traceability.domain.identifiers import gtin14
from traceability.domain.registrations import ProcessingClass
from traceability.domain.roles import Role
from traceability.domain.specifications import (
    specification_from_json,
    specification_to_json,
    uc_msc_specification,
)
from traceability.services import batch_records
from traceability.services import sites as site_service
from traceability.services.batch_record_view import batch_public
from traceability.web.deps import ContextDep, SessionDep
from traceability.web.pages import render
from traceability.web.routes.batches import RecordReader

router = APIRouter(include_in_schema=False)

NEW_PRODUCT_TEMPLATE = json.dumps(
    {**specification_to_json(uc_msc_specification()), "product": ""},
    indent=2,
    ensure_ascii=False,
)
"""Where a new product's specification starts: the tests of a cell-therapy release
specification (sterility, mycoplasma, endotoxin, identity, viability, potency, count),
to be edited; its `product` is the new product's code."""


@router.get("/ui/batches")
def batches_page(
    request: Request, auth: RecordReader, context: ContextDep, session: SessionDep
) -> Response:
    """Every batch with its QC at a glance; lab staff register a new one here."""
    resolver = context.settings.resolver_base
    rows = []
    for batch in batch_records.list_batches(session):
        public = batch_public(session, batch, resolver)
        counts = Counter(public.tests.values())
        rows.append({**public.model_dump(), "summary": sorted(counts.items())})
    can_register = auth.actor.has_any(Role.lab)
    products = []
    if can_register:
        for product in batch_records.list_products(session):
            products.append(
                {
                    "product": product,
                    "gtin14": gtin14(product.gtin, field="gtin"),
                    "version": batch_records.latest_version(session, product),
                }
            )
    return render(
        request,
        "batches.html",
        {
            "batches": rows,
            "can_register": can_register,
            "products": products,
            "sites": site_service.sites_of(session, auth.user) if can_register else [],
            "classes": [c.value for c in ProcessingClass],
            "resolver": resolver.rstrip("/"),
            "origin": context.log.origin,
            "today": context.clock().date().isoformat(),
        },
    )


@router.get("/ui/products")
def products_page(
    request: Request, auth: RecordReader, context: ContextDep, session: SessionDep
) -> Response:
    """Each product with every specification version, newest first, criteria spelled
    out; QA registers a product or adds a version here."""
    products = []
    for product in batch_records.list_products(session):
        rows = list(reversed(batch_records.versions_of(session, product)))
        versions = [
            {"row": row, "specification": specification_from_json(row.document)} for row in rows
        ]
        latest = dict(rows[0].document) if rows else None
        if latest is not None:
            latest["version"] = int(latest["version"]) + 1
        products.append(
            {
                "product": product,
                "uri": product_uri(context.settings.resolver_base, product.gtin),
                "versions": versions,
                "next_document": json.dumps(latest, indent=2, ensure_ascii=False),
            }
        )
    return render(
        request,
        "products.html",
        {
            "products": products,
            "origin": context.log.origin,
            "can_write": auth.actor.has_any(Role.qa, Role.admin),
            "resolver": context.settings.resolver_base.rstrip("/"),
            "classes": [c.value for c in ProcessingClass],
            "new_document": NEW_PRODUCT_TEMPLATE,
        },
    )
