"""The one exception tree of the service.

Domain code and services raise these; the web layer maps them to RFC 9457 problems
and the CLI to one line and exit code 2, each in one place. The classes are grouped by
what the caller can do about them, not by where they were raised.
"""

from __future__ import annotations


class TraceabilityError(Exception):
    """Base of every error the service raises on purpose."""

    title = "Request failed"


class InvalidInputError(TraceabilityError):
    """The caller sent something we refuse; `field` names the offending input."""

    title = "Invalid input"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class TooLargeError(InvalidInputError):
    """The input is bigger than a configured limit (`limit`, in the unit the message names)."""

    title = "Too large"

    def __init__(self, message: str, *, field: str | None = None, limit: int) -> None:
        super().__init__(message, field=field)
        self.limit = limit


class NotFoundError(TraceabilityError):
    """The record asked for does not exist (or the caller may not know it exists)."""

    title = "Not found"


class ConflictError(TraceabilityError):
    """The request is well formed but the record's current state forbids it."""

    title = "Conflict"


class UnprovenError(ConflictError):
    """The database disagrees with the signed log about a record: whatever rests on it
    (a certificate, a decision) fails closed. `findings` name each record and entry."""

    title = "Not proven by the log"

    def __init__(self, message: str, *, findings: list[str]) -> None:
        super().__init__(message)
        self.findings = findings


class AuthenticationError(TraceabilityError):
    """No valid credentials: the caller must sign in (again)."""

    title = "Authentication required"


class AccountLockedError(AuthenticationError):
    """Too many failed sign-ins; further attempts are refused until the window passes."""

    title = "Account locked"

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimitedError(TraceabilityError):
    """The caller sent too many requests of one kind; it may try again after `retry_after` s."""

    title = "Too many requests"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BusyError(TraceabilityError):
    """The database stayed busy with another writer past the wait allowed: try again."""

    title = "Busy"


class PermissionDeniedError(TraceabilityError):
    """Signed in, but the caller's roles or relation to the record forbid the action."""

    title = "Forbidden"


class PasswordChangeRequired(PermissionDeniedError):
    """An administrator chose this account's password: its owner must set their own
    before doing anything else (a page sends them to the form that does)."""


class ConfigurationError(TraceabilityError):
    """Settings are unusable (for example a default secret outside development).

    The server's fault, never the caller's: a 503 over HTTP, one line and exit code 2 on
    the command line."""

    title = "Configuration error"
