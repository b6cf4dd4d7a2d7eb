import pytest

from traceability.domain.changes import diff
from traceability.domain.roles import Role, format_roles, parse_roles
from traceability.errors import InvalidInputError


def test_roles_parse_from_text_and_format_sorted() -> None:
    roles = parse_roles("qa, lab")
    assert roles == {Role.lab, Role.qa}
    assert format_roles(roles) == "lab,qa"


@pytest.mark.parametrize("value", ["", " , ", []])
def test_no_roles_is_refused(value: str | list[str]) -> None:
    with pytest.raises(InvalidInputError) as e:
        parse_roles(value)
    assert e.value.field == "roles"


def test_unknown_role_is_refused_by_name() -> None:
    with pytest.raises(InvalidInputError, match="'superuser'"):
        parse_roles(["lab", "superuser"])


def test_diff_on_creation_lists_every_field_with_old_none() -> None:
    rows = diff(None, {"a": 1, "b": "x"})
    assert rows == [{"field": "a", "old": None, "new": 1}, {"field": "b", "old": None, "new": "x"}]


def test_diff_on_correction_lists_only_changed_fields() -> None:
    rows = diff({"a": 1, "b": "x"}, {"a": 2, "b": "x"})
    assert rows == [{"field": "a", "old": 1, "new": 2}]


def test_diff_never_shows_secret_values() -> None:
    created = diff(None, {"hash": "s3cret"}, secret={"hash"})
    changed = diff({"hash": "old"}, {"hash": "new"}, secret={"hash"})
    assert created == [{"field": "hash", "old": None, "new": "(changed)"}]
    assert changed == [{"field": "hash", "old": "(changed)", "new": "(changed)"}]
    assert diff({"hash": "same"}, {"hash": "same"}, secret={"hash"}) == []
