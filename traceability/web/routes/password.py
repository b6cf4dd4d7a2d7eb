"""A person sets their own password: in the browser, or with a token (the API).

The only thing an account can do while it carries a password an administrator chose
(`web.password_paths`), and open to every signed-in person at any other time.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from traceability.errors import InvalidInputError, TraceabilityError
from traceability.services import users as user_service
from traceability.web.deps import AnyUser, ContextDep
from traceability.web.fields import STRICT_BODY, Text
from traceability.web.pages import render
from traceability.web.password_paths import PASSWORD_API, PASSWORD_PAGE
from traceability.web.problems import status_for

router = APIRouter(tags=["auth"])


class PasswordChange(BaseModel):
    model_config = STRICT_BODY
    current_password: Text = Field(min_length=1, max_length=1000)
    new_password: Text = Field(min_length=1, max_length=1000)


def _change(context: ContextDep, auth: AnyUser, current: str, new: str) -> None:
    with context.db.write() as session:
        user = user_service.get_by_username(session, auth.user.username)
        user_service.change_own_password(
            session, user, current=current, new=new, now=context.clock()
        )


@router.post(PASSWORD_API, status_code=204, summary="Set your own password")
def change_password(body: PasswordChange, auth: AnyUser, context: ContextDep) -> Response:
    _change(context, auth, body.current_password, body.new_password)
    return Response(status_code=204)


@router.get(PASSWORD_PAGE, include_in_schema=False)
def password_page(request: Request, auth: AnyUser) -> Response:
    return render(request, "password.html", {"error": None})


@router.post(PASSWORD_PAGE, include_in_schema=False)
def password_form(
    request: Request,
    auth: AnyUser,
    context: ContextDep,
    current_password: Annotated[Text, Form(max_length=1000)],
    new_password: Annotated[Text, Form(max_length=1000)],
    repeated: Annotated[Text, Form(max_length=1000)],
) -> Response:
    try:
        if new_password != repeated:
            raise InvalidInputError("the two new passwords differ", field="repeated")
        _change(context, auth, current_password, new_password)
    except TraceabilityError as e:
        return render(request, "password.html", {"error": str(e)}, status=status_for(e))
    return RedirectResponse("/?done=password", status_code=303)
