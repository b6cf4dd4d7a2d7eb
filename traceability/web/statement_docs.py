"""The OpenAPI schema of each signed write shows the `what` of its statement kind.

A signed route's body stays `{statement, signature}` with the statement a plain object:
FastAPI does not validate `what`, because the service does, once, for the API, the CLI
and the demo loader alike (`domain.what`). Only the documentation learns the kind: a
route declares it with `openapi_extra=statement_kinds("qc.result.entered")`, and
`install` rewrites the generated schema once, giving each such operation a body schema
of its own whose `statement.type` is the kind's name and whose `statement.what` is the
kind's model (`domain.statement_kinds`), its JSON schema added to the components.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from traceability.domain.statement_kinds import what_model

KINDS_KEY = "x-statement-kinds"
REF = "#/components/schemas/{model}"


def statement_kinds(*types: str) -> dict[str, Any]:
    """A signed route's `openapi_extra`: the statement types its body may carry."""
    for name in types:
        what_model(name)  # a typo fails at import, not in the documentation
    return {KINDS_KEY: list(types)}


def install(app: FastAPI) -> None:
    """Document each signed route's statement kind in the app's /openapi.json."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented hook


def document(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            types = operation.get(KINDS_KEY) if isinstance(operation, dict) else None
            if types:
                _document_operation(operation, list(types), components)
    return schema


def _document_operation(
    operation: dict[str, Any], types: list[str], components: dict[str, Any]
) -> None:
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if content is None:
        return
    body = _resolved(content["schema"], components)
    refs = [{"$ref": REF.format(model=_add_model(name, components))} for name in types]
    statement = body.setdefault("properties", {}).setdefault("statement", {})
    statement.setdefault("properties", {})
    statement["properties"]["type"] = (
        {"const": types[0]} if len(types) == 1 else {"enum": types}
    ) | {"type": "string"}
    statement["properties"]["what"] = refs[0] if len(refs) == 1 else {"oneOf": refs}
    statement["required"] = sorted({*statement.get("required", ()), "type", "what"})
    name = "Signed" + "Or".join(what_model(t).__name__ for t in types)
    components[name] = body
    content["schema"] = {"$ref": REF.format(model=name)}


def _resolved(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """A copy of the body's schema, its `$ref` followed, for this operation alone."""
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return copy.deepcopy(components[ref.rsplit("/", 1)[1]])
    return copy.deepcopy(schema)


def _add_model(type_name: str, components: dict[str, Any]) -> str:
    model = what_model(type_name)
    generated = model.model_json_schema(ref_template=REF)
    for name, definition in generated.pop("$defs", {}).items():
        components.setdefault(name, definition)
    components[model.__name__] = generated
    return model.__name__
