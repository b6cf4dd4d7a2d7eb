"""Opaque session tokens and CSRF tokens.

Tokens are random (256 bits) and only their SHA-256 is stored, so a copy of the
database does not hand out live sessions. Server-side sessions (rather than
self-contained JWTs) let disabling a user end every session at once. CSRF tokens are
an HMAC of the session's id under the secret key: they need no storage and are
worthless for any other session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(secret_key: str, session_digest: str) -> str:
    mac = hmac.new(secret_key.encode(), b"csrf\x00" + session_digest.encode(), hashlib.sha256)
    return mac.hexdigest()


def csrf_matches(secret_key: str, session_digest: str, presented: str | None) -> bool:
    if not presented:
        return False
    return hmac.compare_digest(csrf_token(secret_key, session_digest), presented)
