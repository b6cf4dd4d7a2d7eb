"""Tests of the auditor's own command line (`trace-audit verify`, `python -m audit`).

It must answer as the service's `traceability audit verify` does: 0 when the bundle
verifies, 1 listing each finding, 2 for input it cannot use.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from audit.cli import main
from tests.audit.test_audit_bundle import World, make_world, member, rewrite
from tests.terminal import on_a_terminal


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_world(tmp_path)


def test_a_clean_bundle_exits_0_with_its_report(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", str(world.path), "--log-key", world.key]) == 0
    out = capsys.readouterr().out
    assert "Audit bundle of lot LOT1" in out
    assert out.endswith(f"{len(world.indices)} entries: verified\n")


def test_the_key_may_be_given_as_a_file(world: World, tmp_path: Path) -> None:
    key = tmp_path / "log.vkey"
    key.write_text(world.key + "\n")
    assert main(["verify", str(world.path), "--log-key", str(key)]) == 0


def test_a_tampered_bundle_exits_1_listing_findings(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"entries/{world.stored:012d}.json"
    changed = member(world.path, name).replace(b"LN2-A", b"LN2-B")
    tampered = rewrite(world.path, {name: changed})
    assert main(["verify", str(tampered), "--log-key", world.key]) == 1
    out = capsys.readouterr().out
    assert f"index {world.stored}: bad-signature" in out
    assert "finding(s)" in out.splitlines()[-1]


@pytest.mark.parametrize(
    "args",
    [
        ["verify", "{missing}", "--log-key", "{key}"],
        ["verify", "{bundle}", "--log-key", "not a key"],
        ["verify", "{bundle}", "--log-key", "{key}", "--quorum", "1"],
        ["verify", "{bundle}", "--log-key", "{key}", "--witness", "not a key"],
        ["verify", "{not_zip}", "--log-key", "{key}"],
    ],
)
def test_unusable_input_exits_2_with_one_line(
    world: World, tmp_path: Path, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    not_zip = tmp_path / "not.zip"
    not_zip.write_text("hello")
    values = {
        "missing": str(tmp_path / "nothing.zip"),
        "bundle": str(world.path),
        "key": world.key,
        "not_zip": str(not_zip),
    }
    assert main([a.format(**values) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_python_dash_m_audit_runs_it(world: World) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "audit", "verify", str(world.path), "--log-key", world.key],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("entries: verified\n")


def test_it_says_how_far_it_got_on_a_terminal_and_nothing_when_piped(world: World) -> None:
    from audit.bundle.verifier import verify

    seen: list[tuple[int, int]] = []
    report = verify(world.path, log_key=world.key, progress=lambda d, t: seen.append((d, t)))
    assert report.ok and seen[-1] == (len(world.indices), len(world.indices))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    command = [sys.executable, "-m", "audit", "verify", str(world.path), "--log-key", world.key]
    piped = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert piped.returncode == 0 and piped.stderr == ""
    done, shown = on_a_terminal(command, timeout=120)
    assert done.returncode == 0 and done.stdout == piped.stdout
    total = len(world.indices)
    assert f"{total:,} of {total:,} entries checked" in shown
