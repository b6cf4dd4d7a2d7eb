"""The signed `what` of a statement, read by one pydantic model per statement kind.

A person's device signs the domain request itself as the statement's `what`
(docs/signed-writes.md). Each kind of request is a subclass of `What`: its fields say
what the request holds and how strictly (text refuses numbers, integers refuse
booleans and strings, dates are ISO), so the same model reads a new request, re-reads a
stored log entry to prove a row, and documents the kind in the OpenAPI schema.

Reading happens once, in the service (the API, the CLI and the demo loader all call
it), through `What.from_what`: a refusal is an `InvalidInputError` naming the member as
the device wrote it, `statement.what.<member>` (`statement.what.vials[3]`), never a
pydantic error, so the web layer and the CLI report it like any other bad input.
Members a model does not know are ignored, as they always were: entries signed by an
older or newer client must still read.

Plain rules: no storage, no web.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Self, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr, ValidationError
from pydantic_core import PydanticCustomError

from traceability.errors import InvalidInputError

WHAT = "statement.what"
REFUSED = "refused"
"""The pydantic error type of a refusal whose message is already written for a person."""


@dataclass(frozen=True)
class Refusal:
    """What a field's refusal says when pydantic's own check failed (wrong type, too
    long, missing): `{name}` is the member's name. Kept in the field's metadata."""

    message: str


def refused(message: str, *, field: str | None = None) -> PydanticCustomError:
    """A refusal with its message as written; `field` names the member (relative to the
    error's place) when the place pydantic knows is not precise enough: a model-wide
    rule (`expires_on`), or a member inside a document (`tests[0].code`)."""
    context: dict[str, Any] = {"message": message}
    if field is not None:
        context["field"] = field
    return PydanticCustomError(REFUSED, "{message}", context)


def stripped(value: str) -> str:
    """Text a person typed, without the spaces around it; blank is refused."""
    text = value.strip()
    if not text:
        raise ValueError("blank")
    return text


Text32 = Annotated[
    StrictStr,
    Field(min_length=1, max_length=32),
    AfterValidator(stripped),
    Refusal("{name} is text of 1-32 characters"),
]
"""Text a person typed, stripped; blank or longer than the limit is refused."""
Text64 = Annotated[
    StrictStr,
    Field(min_length=1, max_length=64),
    AfterValidator(stripped),
    Refusal("{name} is text of 1-64 characters"),
]
Text200 = Annotated[
    StrictStr,
    Field(min_length=1, max_length=200),
    AfterValidator(stripped),
    Refusal("{name} is text of 1-200 characters"),
]
Text2000 = Annotated[
    StrictStr,
    Field(min_length=1, max_length=2000),
    AfterValidator(stripped),
    Refusal("{name} is text of 1-2000 characters"),
]
Text4000 = Annotated[
    StrictStr,
    Field(min_length=1, max_length=4000),
    AfterValidator(stripped),
    Refusal("{name} is text of 1-4000 characters"),
]


class What(BaseModel):
    """A statement kind's `what`: frozen once read, unknown members ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    @classmethod
    def from_what(cls, what: Mapping[str, Any], **context: Any) -> Self:
        """Read a signed `what`; `context` carries what a rule needs besides it (the
        server's clock for a result's `tested_at`)."""
        try:
            return cls.model_validate(what, context=context or None)
        except ValidationError as e:
            raise invalid_input(cls, e) from None


def invalid_input(model: type[BaseModel], error: ValidationError) -> InvalidInputError:
    """The first of pydantic's errors, said as the hand-written readers said it."""
    first = error.errors(include_url=False)[0]
    loc = tuple(first["loc"])
    path = member_path(loc)
    context = first.get("ctx") or {}
    if first["type"] == REFUSED:
        inner = context.get("field")
        if inner:
            path = f"{path}.{inner}" if path else str(inner)
        return InvalidInputError(first["msg"], field=f"{WHAT}.{path}" if path else WHAT)
    name = str(loc[0]) if loc else ""
    refusal = _refusal_of(model, name)
    if refusal is not None:
        message = refusal.message.format(name=name)
    else:
        message = f"{path}: {first['msg']}" if path else first["msg"]
    return InvalidInputError(message, field=f"{WHAT}.{path}" if path else WHAT)


def member_path(loc: tuple[int | str, ...]) -> str:
    """("vials", 3) -> "vials[3]"; ("values", "CD73") -> "values.CD73"."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


def _refusal_of(model: type[BaseModel], member: str) -> Refusal | None:
    for name, info in model.model_fields.items():
        if member in (name, info.alias):
            # The outermost refusal wins: `Annotated[Text2000, Refusal(...)]` rewords it.
            found = [m for m in info.metadata if isinstance(m, Refusal)]
            return found[-1] if found else _refusal_in(info.annotation)
    return None


def _refusal_in(annotation: object) -> Refusal | None:
    """The refusal inside an annotation (`Text200 | None` keeps it in the union)."""
    for meta in reversed(getattr(annotation, "__metadata__", ())):
        if isinstance(meta, Refusal):
            return meta
    for arg in get_args(annotation):
        found = _refusal_in(arg)
        if found is not None:
            return found
    return None
