"""Tests of audit.canonical_json: RFC 8785 known answers, a randomized cross-check against
the rfc8785 library, and every value or byte string the restricted format must refuse."""

from __future__ import annotations

import datetime
import decimal
import json
import random
from typing import Any, cast

import pytest
import rfc8785

from audit import canonical_json as cj
from audit.canonical_json import MAX_DEPTH, MAX_SAFE_INTEGER, canonicalize, parse, parse_canonical
from audit.errors import AuditError, CanonicalJsonError, FormatError

# --- known answers: RFC 8785 ---------------------------------------------------------


def test_rfc8785_section_3_2_2_without_numbers() -> None:
    # The RFC's example input, minus its "numbers" member (floats are out of our space).
    source = (
        b'{\n  "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",\n'
        b'  "literals": [null, true, false]\n}'
    )
    expected = '{"literals":[null,true,false],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'.encode()
    value = parse(source)
    assert canonicalize(value) == expected
    assert parse_canonical(expected) == value
    with pytest.raises(CanonicalJsonError):
        parse_canonical(source)


def test_rfc8785_section_3_2_3_sorting_by_utf16_code_units() -> None:
    source = (
        b"{\n"
        b'  "\\u20ac": "Euro Sign",\n'
        b'  "\\r": "Carriage Return",\n'
        b'  "\\ufb33": "Hebrew Letter Dalet With Dagesh",\n'
        b'  "1": "One",\n'
        b'  "\\ud83d\\ude00": "Emoji: Grinning Face",\n'
        b'  "\\u0080": "Control",\n'
        b'  "\\u00f6": "Latin Small Letter O With Diaeresis"\n'
        b"}"
    )
    value = parse(source)
    assert isinstance(value, dict)
    expected_order = [
        "Carriage Return",
        "One",
        "Control",
        "Latin Small Letter O With Diaeresis",
        "Euro Sign",
        "Emoji: Grinning Face",
        "Hebrew Letter Dalet With Dagesh",
    ]
    out = canonicalize(value)
    assert list(json.loads(out).values()) == expected_order
    assert (
        out
        == (
            '{"\\r":"Carriage Return","1":"One","\u0080":"Control",'
            '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
            '"\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
        ).encode()
    )
    # Python's own (code point) order puts U+FB33 before U+1F600: the opposite.
    assert sorted(value).index("\ufb33") < sorted(value).index("\U0001f600")


def test_utf16_order_differs_from_code_point_order() -> None:
    value = {"\U00010000": 1, "\uffff": 2, "\ue000": 3, "\ud7ff": 4}
    assert canonicalize(value) == '{"\ud7ff":4,"\U00010000":1,"\ue000":3,"\uffff":2}'.encode()


def test_rfc8785_appendix_b_integers() -> None:
    assert canonicalize(0) == b"0"
    assert canonicalize(-0) == b"0"
    assert canonicalize(1) == b"1"
    assert canonicalize(-1) == b"-1"
    assert canonicalize(9007199254740991) == b"9007199254740991"
    assert canonicalize(-9007199254740991) == b"-9007199254740991"
    assert canonicalize(MAX_SAFE_INTEGER) == b"9007199254740991"


CONTROL_ESCAPES = {
    0x08: b"\\b",
    0x09: b"\\t",
    0x0A: b"\\n",
    0x0C: b"\\f",
    0x0D: b"\\r",
}


@pytest.mark.parametrize("code", range(0x20))
def test_control_character_escapes(code: int) -> None:
    expected = CONTROL_ESCAPES.get(code, f"\\u{code:04x}".encode())
    assert canonicalize(chr(code)) == b'"' + expected + b'"'
    assert parse_canonical(b'"' + expected + b'"') == chr(code)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"', b'"\\""'),
        ("\\", b'"\\\\"'),
        ("/", b'"/"'),
        ("\x7f", b'"\x7f"'),
        ("\u2028\u2029", '"\u2028\u2029"'.encode()),
        ("é€", '"é€"'.encode()),
        ("\U0001f9ea\U0010ffff", '"\U0001f9ea\U0010ffff"'.encode()),
        ("\ufeff", '"\ufeff"'.encode()),
        ("", b'""'),
        ('a"b\\c\nd\te', b'"a\\"b\\\\c\\nd\\te"'),
    ],
)
def test_string_escapes(text: str, expected: bytes) -> None:
    assert canonicalize(text) == expected
    assert parse_canonical(expected) == text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, b"null"),
        (True, b"true"),
        (False, b"false"),
        ([], b"[]"),
        ({}, b"{}"),
        ([[]], b"[[]]"),
        ({"a": {}}, b'{"a":{}}'),
        ([{}, [], "", 0], b'[{},[],"",0]'),
        ((1, (2, 3)), b"[1,[2,3]]"),
        ({"b": [1, {"d": None, "c": True}], "a": "x"}, b'{"a":"x","b":[1,{"c":true,"d":null}]}'),
        ({"": 1, "a": 2, "A": 3, "aa": 4}, b'{"":1,"A":3,"a":2,"aa":4}'),
    ],
)
def test_structures(value: object, expected: bytes) -> None:
    assert canonicalize(value) == expected
    assert canonicalize(parse_canonical(expected)) == expected


def test_bool_and_int_stay_apart() -> None:
    assert canonicalize([True, 1, False, 0]) == b"[true,1,false,0]"
    assert canonicalize({"a": True}) != canonicalize({"a": 1})
    parsed = parse(b"[true,1,false,0]")
    assert isinstance(parsed, list)
    assert [type(x) for x in parsed] == [bool, int, bool, int]


def test_exact_depth_limit() -> None:
    deepest: object = []
    for _ in range(MAX_DEPTH - 1):
        deepest = [deepest]
    raw = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert canonicalize(deepest) == raw
    assert parse_canonical(raw) == deepest
    with pytest.raises(CanonicalJsonError, match="nested"):
        canonicalize([deepest])
    with pytest.raises(CanonicalJsonError, match="nested"):
        parse(b"[" + raw + b"]")
    with pytest.raises(CanonicalJsonError, match="nested"):
        parse(b'{"a":' * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1))


# --- randomized cross-check against the rfc8785 library -----------------------------

CHAR_POOLS: list[list[str]] = [
    [chr(c) for c in range(0x20, 0x7F)],
    [chr(c) for c in range(0x20)] + ['"', "\\", "/", "\x7f"],
    [chr(c) for c in range(0x80, 0x800, 7)],
    ["\u2028", "\u2029", "\ufeff", "\ud7ff", "\ue000", "\ufb33", "\uffff", "€", "ö"],
    ["\U00010000", "\U0001f600", "\U0001f9ea", "\U0010ffff", "\U00020000"],
]
EDGE_INTS = [0, 1, -1, MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER, MAX_SAFE_INTEGER - 1, 2**31, -(2**31)]


def random_string(rng: random.Random) -> str:
    pools = rng.sample(CHAR_POOLS, rng.randint(1, len(CHAR_POOLS)))
    return "".join(rng.choice(rng.choice(pools)) for _ in range(rng.randint(0, 12)))


def random_value(rng: random.Random, depth: int) -> object:
    kind = rng.randrange(10 if depth < 4 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.choice(EDGE_INTS)
    if kind == 3:
        return rng.randint(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
    if kind in (4, 5):
        return random_string(rng)
    if kind in (6, 7):
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = [random_string(rng) for _ in range(rng.randint(0, 4))]
    # Keys sharing a prefix test that a shorter key sorts first.
    keys += [k + random_string(rng) for k in keys[:2]]
    return {k: random_value(rng, depth + 1) for k in keys}


def deep_value(rng: random.Random) -> object:
    value = random_value(rng, 3)
    for _ in range(rng.randint(1, MAX_DEPTH - 1)):
        value = [value] if rng.random() < 0.5 else {random_string(rng): value}
    return value


def test_random_values_match_rfc8785_library() -> None:
    rng = random.Random(8785)
    values = [random_value(rng, 0) for _ in range(3000)]
    values += [deep_value(rng) for _ in range(100)]
    for value in values:
        expected = rfc8785.dumps(cast(Any, value))
        assert canonicalize(value) == expected, value
        assert parse_canonical(expected) == value
        assert parse(expected) == json.loads(expected)


def test_random_dicts_sorted_by_utf16() -> None:
    rng = random.Random(3)
    for _ in range(300):
        keys = {random_string(rng) for _ in range(8)}
        value = dict.fromkeys(keys, 0)
        ordered = list(json.loads(canonicalize(value)))
        assert ordered == sorted(keys, key=lambda k: k.encode("utf-16-be"))
        assert canonicalize(value) == rfc8785.dumps(cast(Any, value))


# --- refusals: canonicalize ----------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [1.0, 0.0, -0.0, 1.5, float("nan"), float("inf"), float("-inf"), [1.0], {"a": 2.5}],
)
def test_floats_are_refused(value: object) -> None:
    with pytest.raises(CanonicalJsonError, match="floating-point"):
        canonicalize(value)


@pytest.mark.parametrize(
    "value", [2**53, -(2**53), MAX_SAFE_INTEGER + 1, 10**100, -(10**100), [2**63]]
)
def test_out_of_range_ints_are_refused(value: object) -> None:
    with pytest.raises(CanonicalJsonError, match="outside"):
        canonicalize(value)


@pytest.mark.parametrize("key", [1, None, True, 1.5, (1,), b"a"])
def test_non_str_keys_are_refused(key: object) -> None:
    with pytest.raises(CanonicalJsonError, match="not a string"):
        canonicalize({"what": {key: 1}})


@pytest.mark.parametrize("bad", ["\ud800", "\udfff", "a\udc00b", "\udc00\ud800", "\ud83d"])
def test_lone_surrogates_are_refused(bad: str) -> None:
    with pytest.raises(CanonicalJsonError, match="surrogate"):
        canonicalize(bad)
    with pytest.raises(CanonicalJsonError, match="surrogate"):
        canonicalize({bad: 1})
    with pytest.raises(CanonicalJsonError, match="surrogate"):
        canonicalize({"a": [bad]})


@pytest.mark.parametrize(
    "value",
    [
        b"bytes",
        bytearray(b"x"),
        {1, 2},
        frozenset(),
        decimal.Decimal("1.5"),
        datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
        object(),
        complex(1, 2),
        range(3),
    ],
)
def test_other_types_are_refused(value: object) -> None:
    with pytest.raises(CanonicalJsonError, match="not a JSON value"):
        canonicalize(value)


def test_errors_name_the_path() -> None:
    with pytest.raises(CanonicalJsonError, match=r"^what\.temperature: floating-point"):
        canonicalize({"what": {"temperature": -151.2}})
    with pytest.raises(CanonicalJsonError, match=r"^what\.readings\[2\]: integer"):
        canonicalize({"what": {"readings": [1, 2, 2**60]}})
    with pytest.raises(CanonicalJsonError, match=r'^what\["odd key"\]\[0\]: a set'):
        canonicalize({"what": {"odd key": [set()]}})
    with pytest.raises(CanonicalJsonError, match=r"^the top-level value: floating-point"):
        canonicalize(1.5)
    with pytest.raises(CanonicalJsonError, match=r"^what: object key 3"):
        canonicalize({"what": {3: "x"}})


def test_self_reference_is_refused() -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(CanonicalJsonError, match="nested"):
        canonicalize(loop)


def test_error_classes() -> None:
    assert issubclass(CanonicalJsonError, FormatError)
    assert issubclass(CanonicalJsonError, ValueError)
    assert issubclass(CanonicalJsonError, AuditError)


# --- refusals: parse ------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b'{"a":1,"a":1}',
        b'{"a":1,"b":2,"a":3}',
        b'{"x":[{"k":1,"k":2}]}',
        b'{"x":{"y":{"z":{"k":null,"k":null}}}}',
        b'{"\\u0061":1,"a":2}',
    ],
)
def test_parse_refuses_duplicate_keys(data: bytes) -> None:
    with pytest.raises(CanonicalJsonError, match="duplicate"):
        parse(data)


@pytest.mark.parametrize(
    "data",
    [b"1.0", b"0.5", b"-0.0", b"1e5", b"1E5", b"1e-5", b"1e400", b"[1.5]", b'{"t":-151.2}'],
)
def test_parse_refuses_fractions_and_exponents(data: bytes) -> None:
    with pytest.raises(CanonicalJsonError, match="fraction or exponent"):
        parse(data)


@pytest.mark.parametrize("data", [b"NaN", b"Infinity", b"-Infinity", b"[NaN]", b'{"a":Infinity}'])
def test_parse_refuses_nan_and_infinity(data: bytes) -> None:
    with pytest.raises(CanonicalJsonError):
        parse(data)


@pytest.mark.parametrize(
    "data",
    [
        b"9007199254740992",
        b"-9007199254740992",
        b"18446744073709551616",
        b"[" + b"9" * 5000 + b"]",
        b"-" + b"1" * 100000,
    ],
)
def test_parse_refuses_out_of_range_integers(data: bytes) -> None:
    with pytest.raises(CanonicalJsonError, match="outside"):
        parse(data)


def test_parse_accepts_integer_edges() -> None:
    assert parse(b"9007199254740991") == MAX_SAFE_INTEGER
    assert parse(b"-9007199254740991") == -MAX_SAFE_INTEGER


@pytest.mark.parametrize(
    "data",
    [
        b"\xef\xbb\xbf{}",
        b"\xef\xbb\xbf1",
    ],
)
def test_parse_refuses_bom(data: bytes) -> None:
    with pytest.raises(CanonicalJsonError, match="byte order mark"):
        parse(data)


@pytest.mark.parametrize(
    "data",
    [
        b'"\xff"',
        b'"\xc0\xaf"',  # overlong "/"
        b'"\xed\xa0\x80"',  # UTF-8 encoded surrogate
        b'"\xe2\x82"',  # truncated sequence
        b'{"\x80":1}',
        b'"\xf4\x90\x80\x80"',  # above U+10FFFF
    ],
)
def test_parse_refuses_invalid_utf8(data: bytes) -> None:
    with pytest.raises(CanonicalJsonError, match="UTF-8"):
        parse(data)


@pytest.mark.parametrize(
    "data",
    [b"{} x", b"{}{}", b"1 2", b'"a""b"', b"[1]]", b"null,", b"{}\x00"],
)
def test_parse_refuses_trailing_data(data: bytes) -> None:
    with pytest.raises(CanonicalJsonError, match="not valid JSON"):
        parse(data)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b" ",
        b"{",
        b"[1,]",
        b'{"a":1,}',
        b"{'a':1}",
        b'"\x01"',  # raw control character in a string
        b'"\t"',
        b'"\\x41"',
        b"01",
        b"+1",
        b"True",
        b"undefined",
        b"/* c */1",
    ],
)
def test_parse_refuses_invalid_json(data: bytes) -> None:
    with pytest.raises(CanonicalJsonError):
        parse(data)


@pytest.mark.parametrize(
    "data",
    [b'"\\ud800"', b'"\\udc00"', b'"a\\udc00\\ud800"', b'{"\\ud83d":1}', b'[{"k":["\\ude00"]}]'],
)
def test_parse_refuses_escaped_lone_surrogates(data: bytes) -> None:
    with pytest.raises(CanonicalJsonError, match="surrogate"):
        parse(data)


def test_parse_accepts_escaped_surrogate_pair_but_it_is_not_canonical() -> None:
    assert parse(b'"\\ud83d\\ude00"') == "\U0001f600"
    with pytest.raises(CanonicalJsonError, match="canonical"):
        parse_canonical(b'"\\ud83d\\ude00"')
    assert parse_canonical('"\U0001f600"'.encode()) == "\U0001f600"


def test_parse_refuses_very_deep_nesting_without_crashing() -> None:
    with pytest.raises(CanonicalJsonError, match="nested"):
        parse(b"[" * 200000 + b"]" * 200000)


@pytest.mark.parametrize("data", ["{}", memoryview(b"{}"), None, 1])
def test_parse_requires_bytes(data: object) -> None:
    with pytest.raises(CanonicalJsonError, match="bytes"):
        parse(data)  # type: ignore[arg-type]
    with pytest.raises(CanonicalJsonError, match="bytes"):
        parse_canonical(data)  # type: ignore[arg-type]


def test_parse_accepts_bytearray() -> None:
    assert parse_canonical(bytearray(b'{"a":[1]}')) == {"a": [1]}  # type: ignore[arg-type]


def test_parse_allows_whitespace_but_parse_canonical_does_not() -> None:
    assert parse(b' {"a" : [ 1 , 2 ] }\n') == {"a": [1, 2]}
    with pytest.raises(CanonicalJsonError, match="canonical"):
        parse_canonical(b' {"a" : [ 1 , 2 ] }\n')


# --- refusals: parse_canonical -------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b' {"a":1}',
        b'{"a":1} ',
        b'{"a":1}\n',
        b'{"a": 1}',
        b'{ "a":1}',
        b'{"a":1 }',
        b"[1, 2]",
        b"[ ]",
        b'{"b":1,"a":2}',
        b'{"a":{"d":1,"c":2}}',
        b'"\\u0041"',
        b'"\\/"',
        b'"\\u2028"',
        b'"\\u00e9"',
        b'"\\u001F"',
        b'"\\u000a"',
        b'"\\u0008"',
        b'"\\u007f"',
        b"-0",
        b'{"\\u20ac":1}',
        # Sorted by code point, not by UTF-16 code units:
        '{"\ufb33":1,"\U0001f600":2}'.encode(),
    ],
)
def test_parse_canonical_refuses_non_canonical_bytes(data: bytes) -> None:
    parse(data)  # valid JSON in the value space, only not canonical
    with pytest.raises(CanonicalJsonError, match="canonical form"):
        parse_canonical(data)


@pytest.mark.parametrize(
    "data", [b"1.0", b"1E2", b'{"a":1,"a":1}', b"\xef\xbb\xbf{}", b'{"a":1}x', b'"\\udc00"']
)
def test_parse_canonical_refuses_what_parse_refuses(data: bytes) -> None:
    with pytest.raises(CanonicalJsonError):
        parse_canonical(data)


# Canonical-looking bytes (ASCII, no escape, nothing to re-order) that only the checks of
# ``parse`` refuse: the shortcut of ``parse_canonical`` for plain bytes must refuse them
# too, with the message of the full parse.
PLAIN_BUT_REFUSED = [
    (b"[9007199254740992]", "outside"),
    (b"-9007199254740992", "outside"),
    (b'{"a":18446744073709551616}', "outside"),
    (b"[1.5]", "fraction or exponent"),
    (b'{"t":-151.2}', "fraction or exponent"),
    (b"1.0", "fraction or exponent"),
    (b"[NaN]", "not valid JSON"),
    (b'{"a":1,"a":1}', "duplicate"),
    (b'{"a":{"k":null,"k":null}}', "duplicate"),
    (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "nested"),
    (b'{"a":' * MAX_DEPTH + b"1" + b"}" * MAX_DEPTH + b"x", "not valid JSON"),
    (b'"\x01"', "not valid JSON"),  # a raw control character
]


@pytest.mark.parametrize(("data", "problem"), PLAIN_BUT_REFUSED)
def test_parse_canonical_refuses_plain_bytes_that_parse_refuses(data: bytes, problem: str) -> None:
    with pytest.raises(CanonicalJsonError, match=problem) as info:
        parse_canonical(data)
    with pytest.raises(CanonicalJsonError) as full:
        parse(data)
    assert str(info.value) == str(full.value)


def test_parse_canonical_accepts_plain_bytes_at_the_limits() -> None:
    deepest = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert canonicalize(parse_canonical(deepest)) == deepest
    assert parse_canonical(b"[9007199254740991,-9007199254740991]") == [
        MAX_SAFE_INTEGER,
        -MAX_SAFE_INTEGER,
    ]


def test_parse_canonical_gives_the_full_parse_for_random_values() -> None:
    rng = random.Random(8785)
    for _ in range(300):
        value = random_value(rng, 3)
        data = canonicalize(value)
        assert parse_canonical(data) == value
        assert parse_canonical(data) == parse(data)


def test_module_exports() -> None:
    assert set(cj.__all__) == {
        "MAX_DEPTH",
        "MAX_SAFE_INTEGER",
        "canonicalize",
        "canonicalize_parsed",
        "parse",
        "parse_canonical",
    }
