"""Audit bundles exported through HTTP and the CLI, on SQLite and PostgreSQL, then
verified with the `audit` package alone; and the inspector's report PDF."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from audit import bundle
from audit.canonical_json import canonicalize
from audit.cosignature import CosignerKey, parse_cosigner_key
from tests.custody_flow import LOT, World, make_world
from tests.integration.test_release import (
    SERIALS,
    approve,
    batch_uri,
    complete,
    decide,
    enter,
    pdf_text,
)
from tests.signing import Signer
from tests.support import Api
from traceability.cli.main import app

runner = CliRunner()


@pytest.fixture
def world(api: Api) -> World:
    w = make_world(api)
    w.leo = Signer.register(api, "leo", "lab")  # type: ignore[attr-defined]
    w.join("leo")
    api.add_user("aude", "auditor")
    return w


def released(w: World) -> int:
    complete(w)
    response = decide(w, w.quinn, "released", "Approved for release")
    assert response.status_code == 201, response.text
    index: int = response.json()["log_index"]
    return index


def log_key(w: World) -> str:
    return w.api.client.get("/log/key").text.strip()


def cosigner(w: World) -> CosignerKey:
    """The log's own ML-DSA-44 cosigner key: its line is on every checkpoint."""
    return parse_cosigner_key(w.api.client.get("/log/cosigner-key").text.strip())


def get_bundle(w: World, **params: str) -> bytes:
    response = w.api.client.get(
        "/audit/bundles", params={"lot": LOT, **params}, headers=w.api.headers("aude")
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    return response.content


def test_a_released_batch_bundle_verifies_offline(world: World) -> None:
    w = world
    decision = released(w)
    data = get_bundle(w)
    report = bundle.verify(io.BytesIO(data), log_key=log_key(w), log_cosigner=cosigner(w))
    assert report.ok, [f.line() for f in report.findings]
    # A checkpoint covering the decision was signed for the bundle.
    assert report.checkpoint_size is not None and report.checkpoint_size > decision
    assert [v.serial for v in report.vials] == list(SERIALS)
    for vial in report.vials:
        assert [e.type for e in vial.events][0] == "vial.commissioned"
        assert any(e.type == "custody.stored" and e.who == "lena" for e in vial.events)
    assert {q.type for q in report.qc} == {"qc.result.entered", "qc.result.reviewed"}
    (disposition,) = report.dispositions
    assert (disposition.index, disposition.signer, disposition.verified) == (
        decision,
        "quinn",
        True,
    )
    assert {k.user for k in report.keys} >= {None, "lena", "leo", "quinn"}
    # The same evidence exported twice, with no new entries, gives the same zip.
    assert get_bundle(w) == data


def test_only_auditors_and_qa_get_bundles(world: World) -> None:
    w = world
    for who, status in ((w.lena.headers, 403), (w.quinn.headers, 200)):
        response = w.api.client.get("/audit/bundles", params={"lot": LOT}, headers=who)
        assert response.status_code == status, response.text
    missing = w.api.client.get(
        "/audit/bundles", params={"lot": "NOPE"}, headers=w.api.headers("aude")
    )
    assert missing.status_code == 404


def test_a_bundle_proves_consistency_with_the_auditors_older_checkpoint(world: World) -> None:
    w = world
    complete(w)
    held = w.api.client.post("/log/checkpoint", headers=w.quinn.headers).text
    released_index = decide(w, w.quinn, "released", "Approved for release").json()["log_index"]
    for data in (
        get_bundle(w, since=held),
        w.api.client.post(
            "/audit/bundles",
            params={"lot": LOT},
            content=held.encode(),
            headers=w.api.headers("aude") | {"content-type": "text/plain"},
        ).content,
    ):
        report = bundle.verify(
            io.BytesIO(data), log_key=log_key(w), since_checkpoint=held, log_cosigner=cosigner(w)
        )
        assert report.ok, [f.line() for f in report.findings]
        assert report.consistency_from is not None
        assert report.checkpoint_size is not None and report.checkpoint_size > released_index
    # A note the log did not sign is refused.
    forged = held.replace(held.split("\n")[1], "1", 1)
    refused = w.api.client.get(
        "/audit/bundles", params={"lot": LOT, "since": forged}, headers=w.api.headers("aude")
    )
    assert refused.status_code == 422, refused.text


def test_tampering_with_an_exported_bundle_is_found(world: World, tmp_path: Path) -> None:
    w = world
    decision = released(w)
    original = tmp_path / "b.zip"
    original.write_bytes(get_bundle(w))
    name = bundle.entry_name(decision)
    body = json.loads(zipfile.ZipFile(original).read(name))
    body["what"]["meaning"] = "Rejected"
    tampered = tmp_path / "t.zip"
    with zipfile.ZipFile(original) as source, zipfile.ZipFile(tampered, "w") as target:
        for info in source.infolist():
            data = canonicalize(body) if info.filename == name else source.read(info)
            target.writestr(info.filename, data)
    report = bundle.verify(tampered, log_key=log_key(w), log_cosigner=cosigner(w))
    assert {("bad-signature", decision), ("inclusion", decision)} <= report.kinds()
    assert not report.dispositions[0].verified


def rewrite(
    source: Path, target: Path, *, drop: set[str], manifest: dict[str, Any] | None = None
) -> None:
    """Copy a bundle, leaving out the members in `drop` and replacing the manifest."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            if info.filename in drop:
                continue
            data = old.read(info)
            if info.filename == bundle.MANIFEST and manifest is not None:
                data = json.dumps(manifest).encode()
            new.writestr(info.filename, data)


def test_a_bundle_cut_down_to_fewer_vials_or_relabelled_does_not_pass(
    world: World, tmp_path: Path
) -> None:
    """The manifest is not signed: the batch's own signed entry says which lot and vials."""
    w = world
    released(w)
    original = tmp_path / "b.zip"
    original.write_bytes(get_bundle(w))
    with zipfile.ZipFile(original) as z:
        manifest = json.loads(z.read(bundle.MANIFEST))
        proofs = json.loads(z.read(bundle.PROOFS))
        entries = {n: json.loads(z.read(n)) for n in z.namelist() if n.startswith("entries/")}
    last = manifest["vials"][-1]
    gone = {n for n, body in entries.items() if body["subject"] == last}
    assert gone
    proofs["inclusion"] = {
        k: v for k, v in proofs["inclusion"].items() if bundle.entry_name(int(k)) not in gone
    }
    cut = tmp_path / "cut.zip"
    rewrite(
        original,
        cut,
        drop=gone | {bundle.PROOFS},
        manifest={**manifest, "vials": manifest["vials"][:-1]},
    )
    with zipfile.ZipFile(cut, "a") as z:
        z.writestr(bundle.PROOFS, json.dumps(proofs))
    report = bundle.verify(cut, log_key=log_key(w), log_cosigner=cosigner(w))
    assert not report.ok
    [missing] = [f for f in report.findings if f.kind == "missing"]
    assert last.rsplit("/21/", 1)[1] in missing.detail

    relabelled = tmp_path / "relabelled.zip"
    rewrite(original, relabelled, drop=set(), manifest={**manifest, "lot": "UC26-999"})
    report = bundle.verify(relabelled, log_key=log_key(w), log_cosigner=cosigner(w))
    assert [f.kind for f in report.findings] == ["manifest"]
    assert report.lot == LOT  # the report is headed with the signed lot

    elsewhere = tmp_path / "elsewhere.zip"
    other = manifest["batch"].replace(LOT, "UC26-999")
    rewrite(original, elsewhere, drop=set(), manifest={**manifest, "batch": other})
    report = bundle.verify(elsewhere, log_key=log_key(w), log_cosigner=cosigner(w))
    assert ("missing", None) in report.kinds()


@pytest.fixture
def cli(api: Api):  # type: ignore[no-untyped-def]
    settings = api.settings
    env = {
        "TRACE_ENVIRONMENT": "development",
        "TRACE_KEY_DIR": str(settings.key_dir),
        "TRACE_ORIGIN": settings.origin,
        "TRACE_DATABASE_URL": api.db.engine.url.render_as_string(hide_password=False),
    }

    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args), env=env)

    return invoke


def test_export_and_verify_through_the_cli(world: World, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    w = world
    decision = released(w)
    held = tmp_path / "held.txt"
    held.write_text(w.api.client.get("/log/checkpoint").text)
    key = tmp_path / "log.vkey"
    key.write_text(log_key(w) + "\n")
    path = tmp_path / "bundle.zip"
    exported = cli(
        "audit", "export", "--lot", LOT, "-o", str(path), "--since-checkpoint", str(held)
    )
    assert exported.exit_code == 0, exported.output

    own = w.api.client.get("/log/cosigner-key").text.strip()
    verified = cli(
        "audit",
        "verify",
        str(path),
        "--log-key",
        str(key),
        "--since-checkpoint",
        str(held),
        "--log-cosigner",
        own,
    )
    assert verified.exit_code == 0, verified.output
    # Without the cosigner's key its line on the checkpoint cannot be checked: a finding.
    unchecked = cli("audit", "verify", str(path), "--log-key", str(key))
    assert unchecked.exit_code == 1 and "unknown-cosigner" in unchecked.output
    assert f"#{decision}" in verified.output and "signed by quinn" in verified.output
    assert "Vial 0001" in verified.output and "entries: verified" in verified.output
    # The key given as text works too.
    assert (
        cli("audit", "verify", str(path), "--log-key", log_key(w), "--log-cosigner", own).exit_code
        == 0
    )

    # One finding per problem, exit 1.
    data = bytearray(path.read_bytes())
    other = tmp_path / "other.vkey"
    other.write_text("someone.else/log+00000000+AQ==\n")
    wrong = cli("audit", "verify", str(path), "--log-key", str(other))
    assert wrong.exit_code == 2 and "error:" in wrong.output  # a malformed key
    from audit.note import Signer as NoteSigner

    stranger = NoteSigner.generate(w.api.settings.origin).verifier().text()
    forged = cli("audit", "verify", str(path), "--log-key", stranger)
    assert forged.exit_code == 1, forged.output
    assert "bundle: checkpoint:" in forged.output

    # Unusable input, exit 2.
    cut = tmp_path / "cut.zip"
    cut.write_bytes(bytes(data[: len(data) // 3]))
    assert cli("audit", "verify", str(cut), "--log-key", str(key)).exit_code == 2
    assert cli("audit", "verify", str(tmp_path / "nope.zip"), "--log-key", str(key)).exit_code == 2
    assert cli("audit", "export", "--lot", "NOPE", "-o", str(tmp_path / "x.zip")).exit_code == 2


def test_the_inspection_report_shows_the_verification(world: World, tmp_path: Path) -> None:
    w = world
    decision = released(w)
    response = w.api.client.get(
        f"/batches/{LOT}/inspection-report.pdf", headers=w.api.headers("aude")
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    text = " ".join(pdf_text(response.content, tmp_path).split())
    report = bundle.verify(io.BytesIO(get_bundle(w)), log_key=log_key(w), log_cosigner=cosigner(w))
    assert "it verifies" in text
    assert f"size {report.checkpoint_size}" in text and str(report.root_hash) in text
    assert "Signed by Quinn Tester" in text and "verified" in text
    assert str(decision) in text
    for serial in SERIALS:
        assert f"Vial {serial}" in text
    assert "Stored" in text and "custody.stored" not in text and "sterility" in text
    forbidden = w.api.client.get(f"/batches/{LOT}/inspection-report.pdf", headers=w.lena.headers)
    assert forbidden.status_code == 403


# --- the auditor's verifier installed on its own ------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
STANDALONE = {"trace-audit", "cryptography", "cffi", "pycparser"}
"""What `pip install ./audit` may put in an empty environment: the verifier, its one
dependency, and that dependency's own (cffi, which needs pycparser)."""

_DISTRIBUTIONS = (
    "import importlib.metadata as m; print(' '.join(d.metadata['Name'] for d in m.distributions()))"
)

_MODULES_LOADED = """
import importlib, pkgutil, sys, sysconfig
from pathlib import Path
import audit
for info in pkgutil.walk_packages(audit.__path__, "audit."):
    if info.name != "audit.__main__":
        importlib.import_module(info.name)
stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
site = Path(sysconfig.get_paths()["purelib"]).resolve()
for module in list(sys.modules.values()):
    path = Path(getattr(module, "__file__", None) or "/").resolve()
    if path.is_relative_to(site):
        print(path.relative_to(site).parts[0])
    elif path.is_file() and not path.is_relative_to(stdlib):
        print(path)
"""


def _run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, check=False, timeout=600, cwd=cwd
    )


def _index_reachable(tmp_path: Path) -> bool:
    """Whether pip can fetch cryptography at all (a package index, or a mirror pip is
    configured with): without one nothing can be installed, and the test says so."""
    fetched = _run(
        sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
        "--dest", tmp_path / "probe", "cryptography>=48",
    )  # fmt: skip
    return fetched.returncode == 0


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_verifier_installs_alone_and_verifies_a_service_bundle(
    world: World, tmp_path: Path
) -> None:
    """`pip install ./audit` in an empty environment: only the verifier and cryptography,
    no module of the service, and `trace-audit verify` passes the service's bundle and
    fails a tampered copy.

    The environment is made without pip (the project's pip installs into it with
    --python), so that everything in it afterwards was put there by that one install.
    The sources are copied first, so that a build never writes into the working tree.
    """
    w = world
    decision = released(w)
    good = tmp_path / "bundle.zip"
    good.write_bytes(get_bundle(w))
    log_vkey = tmp_path / "log.vkey"
    log_vkey.write_text(log_key(w) + "\n")
    own = w.api.client.get("/log/cosigner-key").text.strip()
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(good) as original:
        members = {info.filename: original.read(info) for info in original.infolist()}
    name = bundle.entry_name(decision)
    members[name] = members[name].replace(b'"released"', b'"rejected"')
    bundle.zip_members(tampered, members)

    source = tmp_path / "audit-src"
    shutil.copytree(ROOT / "audit", source, ignore=shutil.ignore_patterns("__pycache__"))
    env = tmp_path / "env"
    made = _run(sys.executable, "-m", "venv", "--without-pip", env)
    assert made.returncode == 0, made.stderr
    python = env / "bin" / "python"
    installed = _run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", source)
    if installed.returncode != 0 and not _index_reachable(tmp_path):
        pytest.skip("no package index or mirror reachable to install cryptography from")
    assert installed.returncode == 0, installed.stderr

    # Run from an empty directory: from the project's, `import audit` would find its sources.
    away = tmp_path / "elsewhere"
    away.mkdir()
    listed = _run(python, "-c", _DISTRIBUTIONS, cwd=away)
    names = {name.lower() for name in listed.stdout.split()}
    assert {"trace-audit", "cryptography"} <= names <= STANDALONE, names
    loaded = _run(python, "-c", _MODULES_LOADED, cwd=away)
    assert loaded.returncode == 0, loaded.stderr
    # Every module loaded from outside the standard library is the installed verifier's
    # or its dependency's (never the project's sources, never anything else).
    outside = set(loaded.stdout.split())
    assert "audit" in outside, loaded.stdout
    assert all(p in {"audit", "cryptography", "cffi"} or p.startswith("_cffi_backend")
               for p in outside), outside  # fmt: skip

    command = env / "bin" / "trace-audit"
    keys = ("--log-key", log_vkey, "--log-cosigner", own)
    verified = _run(command, "verify", good, *keys, cwd=away)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.endswith("entries: verified\n")
    found = _run(python, "-m", "audit", "verify", tampered, *keys, cwd=away)
    assert found.returncode == 1, found.stdout + found.stderr
    assert f"index {decision}: bad-signature" in found.stdout
    unusable = _run(command, "verify", tmp_path / "nothing.zip", *keys, cwd=away)
    assert unusable.returncode == 2


def test_deviations_and_oos_conclusions_are_in_the_report_and_the_documents(
    world: World, tmp_path: Path
) -> None:
    """What went wrong and how it was decided: in `audit verify`'s report from the signed
    entries, and in the release certificate and the inspector's report from the record."""
    w = world
    subject = batch_uri(w)
    failed = enter(w, w.lena, "potency", {"value": "12"})
    oos = w.quinn.post(
        f"/batches/{LOT}/oos",
        "oos.concluded",
        subject,
        {"result": failed["id"], "conclusion": "invalidated", "reason": "Positive control failed"},
    )
    assert oos.status_code == 201, oos.text
    what: dict[str, Any] = {"value": "41"}
    retest = w.lena.post(
        f"/batches/{LOT}/results",
        "qc.result.entered",
        subject,
        {
            "test": "potency",
            "values": what,
            "unit": "% inhibition",
            "method": "PBMC",
            "instrument": "bench #1",
            "reagent_lots": [],
            "analyst": "lena",
            "tested_at": "2026-11-01T11:00:00Z",
            "supersedes": failed["id"],
            "reason": "retest after invalidated OOS",
        },
    )
    assert retest.status_code == 201, retest.text
    approve(w, w.leo, retest.json()["id"])  # type: ignore[attr-defined]
    deviation = w.lena.post(
        f"/batches/{LOT}/deviations",
        "deviation.recorded",
        subject,
        {"title": "Incubator CO2 alarm", "description": "3.1 % for 20 min", "severity": "major"},
    )
    assert deviation.status_code == 201, deviation.text
    closed = w.quinn.post(
        f"/batches/{LOT}/deviations/events",
        "deviation.closed",
        subject,
        {"deviation": deviation.json()["id"], "conclusion": "Within validated recovery"},
    )
    assert closed.status_code == 201, closed.text
    complete(w, skip={"potency"})
    decision = decide(w, w.quinn, "released", "Approved for release")
    assert decision.status_code == 201, decision.text

    report = bundle.verify(io.BytesIO(get_bundle(w)), log_key=log_key(w), log_cosigner=cosigner(w))
    assert report.ok, [f.line() for f in report.findings]
    lines = {(q.type, q.who, q.summary) for q in report.investigations}
    assert lines == {
        ("oos.concluded", "quinn", f"result #{failed['id']} invalidated: Positive control failed"),
        ("deviation.recorded", "lena", "Incubator CO2 alarm (major): 3.1 % for 20 min"),
        (
            "deviation.closed",
            "quinn",
            f"deviation #{deviation.json()['id']} closed: Within validated recovery",
        ),
    }
    assert all(q.type.startswith("qc.") for q in report.qc)
    assert "Deviations and OOS investigations" in report.text()

    for path, who in (
        (f"/batches/{LOT}/release-certificate.pdf", w.quinn.headers),
        (f"/batches/{LOT}/inspection-report.pdf", w.api.headers("aude")),
    ):
        response = w.api.client.get(path, headers=who)
        assert response.status_code == 200, (path, response.text)
        text = " ".join(pdf_text(response.content, tmp_path).split())
        assert "Deviations and OOS investigations" in text, path
        assert "Incubator CO2 alarm" in text and "Within validated recovery" in text, path
        assert "invalidated by quinn" in text and "Positive control failed" in text, path


def test_export_says_each_step_on_a_terminal_and_nothing_when_piped(
    world: World, api: Api, tmp_path: Path
) -> None:
    import os

    from tests.integration.test_cli_verify_log import LAUNCH
    from tests.terminal import on_a_terminal

    released(world)
    env = {
        **os.environ,
        "TRACE_ENVIRONMENT": "development",
        "TRACE_KEY_DIR": str(api.settings.key_dir),
        "TRACE_ORIGIN": api.settings.origin,
        "TRACE_DATABASE_URL": api.db.engine.url.render_as_string(hide_password=False),
    }
    command = [sys.executable, "-c", LAUNCH + "main()", "audit", "export", "--lot", LOT, "-o"]
    piped = subprocess.run(  # noqa: S603 - our own interpreter and module
        [*command, str(tmp_path / "piped.zip")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert piped.returncode == 0 and piped.stderr == "", piped.stderr
    done, shown = on_a_terminal([*command, str(tmp_path / "shown.zip")], env=env)
    lines = shown.splitlines()
    assert done.returncode == 0 and done.stdout.startswith("wrote ")
    assert lines[0].startswith("... checkpoint of ") and lines[-1] == "... writing the bundle"
    assert any(line.endswith("inclusion proofs") for line in lines)
