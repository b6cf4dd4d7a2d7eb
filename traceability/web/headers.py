"""Security headers on every response, as a plain ASGI middleware.

The Content-Security-Policy allows scripts and styles from this site only: no inline
script, no inline event handler, no framing by anyone (the pages sign custody steps
and releases; a framed page could be clicked through). A page that needs more (the
API reference's one inline script, by its hash) sets its own policy, which this layer
leaves alone. HSTS goes only on answers given over HTTPS: the connection's own scheme,
or the proxy's X-Forwarded-Proto when `trust_proxy_headers` says a proxy sets it.

A plain ASGI wrapper only edits the `http.response.start` message on its way out.
Starlette's `@app.middleware("http")` (BaseHTTPMiddleware) instead runs the rest of
the app in a task of its own and streams the body through a memory channel: per
request that costs about as much as a cheap endpoint, which the custody handoff
benchmark (issue 6) measured.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
NO_STORE_PREFIXES = ("/auth", "/sign-in", "/users")
"""Answers under these paths carry credentials or personal data: never cached. So is any
answer to a request that came with credentials (`_signed_in`)."""

SESSION_COOKIE = "trace_session"
"""The web sign-in's cookie (set and read in `deps`)."""
SESSION_COOKIE_PREFIX = f"{SESSION_COOKIE}=".encode()
_ENCODED = [(name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]


def is_https(scope: Scope, *, trust_proxy: bool) -> bool:
    """Whether the client reached us over HTTPS: the connection's scheme, or, behind a
    proxy we were told to trust, the scheme it says it received."""
    if scope.get("scheme") == "https":
        return True
    if not trust_proxy:
        return False
    for name, value in scope.get("headers", []):
        if name == b"x-forwarded-proto":
            # A chain of proxies lists one scheme each; the client's is the first.
            return bytes(value).split(b",")[0].strip().lower() == b"https"
    return False


def _signed_in(scope: Scope) -> bool:
    """Whether the request carried credentials: its answer is that person's view (names,
    donor codes), which must not stay in a browser's cache for the Back button after
    sign-out, nor in a shared cache. Public pages (a scanned label) stay cacheable."""
    for name, value in scope.get("headers", []):
        if name == b"authorization" or (name == b"cookie" and SESSION_COOKIE_PREFIX in value):
            return True
    return False


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, trust_proxy: bool = False) -> None:
        self.app = app
        self.trust_proxy = trust_proxy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        no_store = str(scope.get("path", "")).startswith(NO_STORE_PREFIXES) or _signed_in(scope)
        https = is_https(scope, trust_proxy=self.trust_proxy)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in _ENCODED if n not in present]
                if https and HSTS[0] not in present:
                    headers.append(HSTS)
                if no_store:
                    headers = [(n, v) for n, v in headers if n.lower() != b"cache-control"]
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
