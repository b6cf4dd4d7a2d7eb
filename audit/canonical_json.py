"""RFC 8785 canonical JSON, restricted to the custody log's value space.

A custody-log entry is the canonical JSON encoding of one object, and the log
stores, hashes and signs those exact bytes (see docs/custody-log.md). This
module is the one place that turns values into those bytes and back.

The value space is what every JSON implementation reads the same way:

* ``str`` (no lone surrogates), ``bool``, ``None``;
* ``int`` in [-(2**53 - 1), 2**53 - 1] (``bool`` is never taken for an int);
* ``list`` (or ``tuple``, encoded as an array) and ``dict`` with ``str`` keys;
* nesting at most ``MAX_DEPTH`` arrays and objects deep.

No floating-point numbers: decimals travel as strings such as ``"-151.2"``.
Within this space RFC 8785 is plain: object members sorted by the UTF-16 code
units of their names, no whitespace, integers in decimal, and strings escaped
as ECMAScript's ``JSON.stringify`` does (``\\"``, ``\\\\``, ``\\b \\t \\n \\f \\r``,
other characters below U+0020 as ``\\u00xx`` in lowercase hex, everything else
as literal UTF-8, including U+2028, U+2029 and U+007F).

``parse`` reads untrusted bytes strictly: UTF-8 without a byte order mark,
one JSON value and nothing after it, unique object keys at every depth, and
only values of the space above (a number with a fraction or exponent, NaN or
Infinity is refused, even ``1.0``). ``parse_canonical`` also requires the
bytes to be exactly the canonical encoding of what they parse to; verifiers
use it on stored entries, so one value has exactly one accepted encoding.

This module must never emit or accept a float, never sort keys by code point,
never accept bytes that ``canonicalize`` would not produce from
``parse_canonical``, and never raise anything but ``CanonicalJsonError`` for a
bad value or bad bytes.
"""

from __future__ import annotations

import json
import re

from audit.errors import CanonicalJsonError

__all__ = [
    "MAX_DEPTH",
    "MAX_SAFE_INTEGER",
    "canonicalize",
    "canonicalize_parsed",
    "parse",
    "parse_canonical",
]

MAX_SAFE_INTEGER = 2**53 - 1
"""Largest magnitude of an integer (JavaScript's Number.MAX_SAFE_INTEGER)."""

MAX_DEPTH = 64
"""Deepest nesting of arrays and objects (a top-level object is depth 1).

Common JSON parsers cap nesting (.NET's System.Text.Json at 64 by default),
so deeper values are not read the same way everywhere. The cap also turns a
self-referencing list or dict into an error instead of a crash.
"""

_BOM = b"\xef\xbb\xbf"
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_MAX_INT_DIGITS = len(str(MAX_SAFE_INTEGER))
_SURROGATE = re.compile("[\ud800-\udfff]")
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# String escapes of RFC 8785 section 3.2.2.2 (those of ECMAScript JSON.stringify).
_ESCAPES: dict[int, str] = {c: f"\\u{c:04x}" for c in range(0x20)}
_ESCAPES.update(
    {
        0x08: "\\b",
        0x09: "\\t",
        0x0A: "\\n",
        0x0C: "\\f",
        0x0D: "\\r",
        0x22: '\\"',
        0x5C: "\\\\",
    }
)


# --- paths in error messages --------------------------------------------------


def _where(path: str) -> str:
    if len(path) > 120:
        return "..." + path[-120:]
    return path or "the top-level value"


def _member_path(path: str, key: str) -> str:
    if _PLAIN_KEY.fullmatch(key):
        return f"{path}.{key}" if path else key
    # json.dumps with ensure_ascii shows any key, even a lone surrogate, as ASCII.
    return f"{path}[{json.dumps(key)}]"


def _item_path(path: str, i: int) -> str:
    return f"{path}[{i}]"


# --- encoding -----------------------------------------------------------------


def canonicalize(value: object) -> bytes:
    """The RFC 8785 canonical JSON bytes of ``value``.

    Raises ``CanonicalJsonError`` naming the offending path (e.g.
    ``what.temperature``) if ``value`` is outside the value space.
    """
    out: list[bytes] = []
    _encode(value, "", 0, out)
    return b"".join(out)


def _keys_are_ascii(value: object) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, member in item.items():
                if not key.isascii():
                    return False
                if isinstance(member, dict | list):
                    stack.append(member)
        elif isinstance(item, list):
            stack.extend(m for m in item if isinstance(m, dict | list))
    return True


def canonicalize_parsed(value: object, *, keys_known_ascii: bool = False) -> bytes:
    """``canonicalize`` for a value that ``parse`` returned (so already in the value space).

    Verifiers call this once per entry, so it takes the standard library's C encoder
    when it gives the same bytes: within the value space Python's ``json.dumps``
    (sorted keys, no whitespace, no ASCII escaping) escapes strings exactly as
    RFC 8785 does and writes integers the same way; the one difference is key order
    for names with characters above U+FFFF or U+E000 and up, so any non-ASCII name
    takes the exact path. A lone surrogate fails to encode either way.
    ``keys_known_ascii`` skips the walk when the caller knows (the source bytes were ASCII).
    """
    if not keys_known_ascii and not _keys_are_ascii(value):
        return canonicalize(value)
    try:
        return json.dumps(
            value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
        ).encode("utf-8")
    except (UnicodeEncodeError, ValueError, TypeError):
        return canonicalize(value)  # raises CanonicalJsonError with the path


def _encode_str(text: str, path: str, what: str) -> bytes:
    try:
        return b'"' + str.translate(text, _ESCAPES).encode("utf-8") + b'"'
    except UnicodeEncodeError as e:
        raise CanonicalJsonError(f"{_where(path)}: {what} contains a lone surrogate") from e


def _encode(value: object, path: str, depth: int, out: list[bytes]) -> None:
    # bool before int: bool is a subclass of int in Python.
    if value is None:
        out.append(b"null")
    elif value is True:
        out.append(b"true")
    elif value is False:
        out.append(b"false")
    elif isinstance(value, str):
        out.append(_encode_str(value, path, "string"))
    elif isinstance(value, int) and not isinstance(value, bool):
        number = int(value)
        if not -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER:
            raise CanonicalJsonError(
                f"{_where(path)}: integer {number} is outside [-(2**53 - 1), 2**53 - 1]"
            )
        out.append(str(number).encode("ascii"))
    elif isinstance(value, float):
        raise CanonicalJsonError(
            f"{_where(path)}: floating-point numbers are not allowed; "
            'write decimals as strings such as "-151.2"'
        )
    elif isinstance(value, list | tuple):
        _enter(path, depth)
        out.append(b"[")
        for i, item in enumerate(value):
            if i:
                out.append(b",")
            _encode(item, _item_path(path, i), depth + 1, out)
        out.append(b"]")
    elif isinstance(value, dict):
        _enter(path, depth)
        members: list[tuple[bytes, bytes, str, object]] = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalJsonError(
                    f"{_where(path)}: object key {key!r} is a {type(key).__name__}, not a string"
                )
            child = _member_path(path, key)
            encoded = _encode_str(key, child, "key")
            # UTF-16-BE bytes compare exactly as the UTF-16 code units RFC 8785 sorts by.
            members.append((str.encode(key, "utf-16-be"), encoded, child, item))
        members.sort(key=lambda m: m[0])
        out.append(b"{")
        for i, (_, encoded, child, item) in enumerate(members):
            if i:
                out.append(b",")
            out.append(encoded)
            out.append(b":")
            _encode(item, child, depth + 1, out)
        out.append(b"}")
    else:
        raise CanonicalJsonError(
            f"{_where(path)}: a {type(value).__name__} is not a JSON value of the custody log"
        )


def _enter(path: str, depth: int) -> None:
    if depth >= MAX_DEPTH:
        raise CanonicalJsonError(
            f"{_where(path)}: nested more than {MAX_DEPTH} arrays and objects deep"
        )


# --- parsing ------------------------------------------------------------------


def _no_float(text: str) -> object:
    raise CanonicalJsonError(
        f"number {text[:40]} has a fraction or exponent; only integers are allowed"
    )


def _no_constant(text: str) -> object:
    raise CanonicalJsonError(f"{text} is not valid JSON")


def _int(text: str) -> int:
    # Check the length first: int() of a huge digit string is slow or refused.
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise CanonicalJsonError(f"integer {text[:40]} is outside [-(2**53 - 1), 2**53 - 1]")
    number = int(text)
    if not -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER:
        raise CanonicalJsonError(f"integer {text} is outside [-(2**53 - 1), 2**53 - 1]")
    return number


def _object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise CanonicalJsonError(f"duplicate object key {json.dumps(key)}")
            seen.add(key)
    return obj


def _check_parsed(value: object, path: str, depth: int) -> None:
    """Refuse lone surrogates (from ``\\ud800`` escapes) and too deep nesting."""
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise CanonicalJsonError(f"{_where(path)}: string contains a lone surrogate")
    elif isinstance(value, list):
        _enter(path, depth)
        for i, item in enumerate(value):
            _check_parsed(item, _item_path(path, i), depth + 1)
    elif isinstance(value, dict):
        _enter(path, depth)
        for key, item in value.items():
            child = _member_path(path, key)
            if _SURROGATE.search(key):
                raise CanonicalJsonError(f"{_where(child)}: key contains a lone surrogate")
            _check_parsed(item, child, depth + 1)


def parse(data: bytes) -> object:
    """Parse UTF-8 JSON bytes strictly into str, int, bool, None, list and dict values.

    Raises ``CanonicalJsonError`` for a byte order mark, invalid UTF-8, invalid
    JSON, trailing data, duplicate keys, a number with a fraction or exponent,
    NaN or Infinity, an integer out of range, a lone surrogate or nesting
    deeper than ``MAX_DEPTH``. Whitespace between tokens is allowed here.
    """
    if not isinstance(data, bytes | bytearray):
        raise CanonicalJsonError(f"JSON must be given as bytes, not {type(data).__name__}")
    data = bytes(data)
    if data.startswith(_BOM):
        raise CanonicalJsonError("JSON must not start with a byte order mark")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CanonicalJsonError(f"not valid UTF-8 (at byte {e.start})") from e
    try:
        value: object = json.loads(
            text,
            object_pairs_hook=_object,
            parse_float=_no_float,
            parse_int=_int,
            parse_constant=_no_constant,
        )
    except json.JSONDecodeError as e:
        raise CanonicalJsonError(f"not valid JSON: {e.msg} (at character {e.pos})") from e
    except RecursionError as e:
        raise CanonicalJsonError(f"nested more than {MAX_DEPTH} arrays and objects deep") from e
    # The walk below only matters if a surrogate escape or deep nesting is possible;
    # both are ruled out cheaply for the short, flat entries verifiers read by the million.
    brackets = text.count("[") + text.count("{")
    if brackets > MAX_DEPTH or _SURROGATE_ESCAPE.search(text):
        _check_parsed(value, "", 0)
    return value


# The shortcut below: hooks only for integers (range) and what must never parse (floats,
# NaN), no per-object Python callback; made once, since building them costs about as
# much as a parse.
_PLAIN_DECODER = json.JSONDecoder(
    parse_float=_no_float, parse_int=_int, parse_constant=_no_constant
)
# A parsed value cannot refer to itself, so the encoder need not look for cycles.
_CANONICAL_ENCODER = json.JSONEncoder(
    ensure_ascii=False,
    separators=(",", ":"),
    sort_keys=True,
    allow_nan=False,
    check_circular=False,
)
_UNDECIDED = object()


def _parse_plain_canonical(data: bytes) -> object:
    """The value of ``data`` if it is plain canonical JSON, else ``_UNDECIDED``.

    Verifiers read stored entries by the million, and almost all are ASCII with no
    escape at all. For such bytes, what ``parse`` checks with a Python callback per
    object or a walk of the value is implied by comparing the bytes with the canonical
    encoding of the parsed value: a duplicate key would shorten the re-encoded object,
    whitespace or another spelling of a value would change it, and with no backslash
    there is no escape, hence no surrogate. Nesting depth is bounded by counting
    brackets. Anything else, including every error, is left to the full parse, so the
    result and the error message are always exactly those of the full parse.
    """
    if not data.isascii() or b"\\" in data or data.count(b"[") + data.count(b"{") > MAX_DEPTH:
        return _UNDECIDED
    text = data.decode("ascii")
    try:
        value, end = _PLAIN_DECODER.raw_decode(text)
        canonical = _CANONICAL_ENCODER.encode(value)
    except ValueError:  # JSONDecodeError, and CanonicalJsonError from the hooks
        return _UNDECIDED
    if end != len(text) or canonical != text:
        return _UNDECIDED
    return value


def parse_canonical(data: bytes) -> object:
    """``parse``, and require ``data`` to be exactly the canonical encoding of the result.

    This is what a verifier uses on stored bytes. Raises ``CanonicalJsonError``.
    """
    if isinstance(data, bytes | bytearray):
        value = _parse_plain_canonical(bytes(data))
        if value is not _UNDECIDED:
            return value
    value = parse(data)
    canonical = canonicalize_parsed(value, keys_known_ascii=bytes(data).isascii())
    if canonical != data:
        at = next(
            (i for i, (a, b) in enumerate(zip(canonical, data, strict=False)) if a != b),
            min(len(canonical), len(data)),
        )
        raise CanonicalJsonError(f"JSON is not in RFC 8785 canonical form (differs at byte {at})")
    return value
