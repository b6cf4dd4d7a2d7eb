"""Where a person sets their own password, and all an account may reach until they do.

An account whose password an administrator chose (`User.must_change_password`) is
refused everything else: `deps.current_auth` checks these paths, and a page request is
sent to the form (`problems`)."""

from __future__ import annotations

PASSWORD_PAGE = "/ui/account/password"  # noqa: S105 - a path, not a password
PASSWORD_API = "/auth/password"  # noqa: S105 - a path, not a password
PASSWORD_CHANGE_PATHS = frozenset({PASSWORD_PAGE, PASSWORD_API, "/sign-out", "/auth/sign-out"})
