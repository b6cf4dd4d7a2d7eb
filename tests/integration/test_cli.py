"""The command line: every command has --help; bad input exits 2 with one line."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import click
import pytest
import typer
from sqlalchemy import text
from typer.testing import CliRunner

from traceability.cli.main import app
from traceability.services import users as user_service
from traceability.storage.database import Database

runner = CliRunner()


@pytest.fixture(autouse=True)
def private_key_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands that open the custody log create keys: keep them out of the repository."""
    monkeypatch.setenv("TRACE_KEY_DIR", str(tmp_path / "keys"))


def all_command_paths() -> list[list[str]]:
    root = typer.main.get_command(app)
    paths: list[list[str]] = []

    def walk(command: click.Command, prefix: list[str]) -> None:
        paths.append(prefix)
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, [*prefix, name])

    walk(root, [])
    return paths


@pytest.mark.parametrize("path", all_command_paths(), ids=lambda p: " ".join(p) or "root")
def test_every_command_has_help(path: list[str]) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def invoke(
    database: Database, *args: str, env: dict[str, str] | None = None, input: str | None = None
) -> click.testing.Result:  # noqa: A002
    url = database.engine.url.render_as_string(hide_password=False)
    environment = {"TRACE_ENVIRONMENT": "development"} | (env or {})
    return runner.invoke(app, [*args, "--database-url", url], env=environment, input=input)


def test_records_register_a_product_and_a_batch_signed_with_the_persons_key(
    database: Database, tmp_path: Path
) -> None:
    import json

    from tests.integration.test_batch_records import batch_what, product_what

    password = {"TRACE_NEW_PASSWORD": "a-good-password"}
    for name, role in (("quinn", "qa"), ("lena", "lab")):
        made = invoke(
            database,
            "users",
            "add",
            name,
            "--full-name",
            name.title(),
            "--role",
            role,
            env=password,
        )
        assert made.exit_code == 0, made.output
        key = tmp_path / f"{name}.key"
        assert runner.invoke(app, ["keys", "new", name, "-o", str(key)]).exit_code == 0
        assert invoke(database, "keys", "register", name, "--key-file", str(key)).exit_code == 0
    product = tmp_path / "product.json"
    product.write_text(json.dumps(product_what()))
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps(batch_what()))

    def records(kind: str, who: str, what: Path, key: str | None = None) -> click.testing.Result:
        key_file = str(tmp_path / f"{key or who}.key")
        return invoke(
            database, "records", kind, "--as", who, "--key-file", key_file, "--what", str(what)
        )

    not_qa = records("product", "lena", product)
    assert not_qa.exit_code == 2 and "lena is not qa or admin" in not_qa.output
    done = records("product", "quinn", product)
    assert done.exit_code == 0 and "registered product UC-MSC" in done.output, done.output
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"specification": product_what(version=2)["specification"]}))
    added = invoke(
        database, "records", "spec-version", "--as", "quinn", "--key-file",
        str(tmp_path / "quinn.key"), "--what", str(spec), "--product", "UC-MSC",
    )  # fmt: skip
    assert added.exit_code == 0 and "version 2 of UC-MSC" in added.output, added.output
    someone_elses_key = records("batch", "lena", batch, key="quinn")
    assert someone_elses_key.exit_code == 2, someone_elses_key.output
    done = records("batch", "lena", batch)
    assert done.exit_code == 0 and "registered batch UC26-001 with 3 vials" in done.output
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    bad = records("batch", "lena", broken)
    assert bad.exit_code == 2 and len(bad.output.strip().splitlines()) == 1
    with database.read() as session:
        entries = session.exec(text("SELECT entry_type FROM log_entries ORDER BY idx")).all()  # type: ignore[call-overload]
    types = [t for (t,) in entries]
    assert types.count("product.registered") == 1 and types.count("batch.registered") == 1
    assert types.count("spec.version.created") == 1


def test_users_add_takes_an_email_for_notices(database: Database) -> None:
    added = invoke(
        database, "users", "add", "nina", "--full-name", "Nina Clinic", "--role", "lab",
        "--email", "nina@clinic.example", env={"TRACE_NEW_PASSWORD": "a-good-password"},
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    with database.read() as session:
        [email] = session.exec(text("SELECT email FROM users WHERE username = 'nina'")).one()  # type: ignore[call-overload]
    assert email == "nina@clinic.example"
    bad = invoke(
        database, "users", "add", "noah", "--full-name", "Noah", "--role", "lab",
        "--email", "not an address", env={"TRACE_NEW_PASSWORD": "a-good-password"},
    )  # fmt: skip
    assert bad.exit_code == 2 and bad.output.strip().startswith("error:") and "email" in bad.output


def test_users_add_list_disable_and_set_password(database: Database) -> None:
    added = invoke(
        database,
        "users",
        "add",
        "lena",
        "--full-name",
        "Lena L",
        "--role",
        "lab",
        "--role",
        "qa",
        env={"TRACE_NEW_PASSWORD": "a-good-password"},
    )
    assert added.exit_code == 0, added.output
    listed = invoke(database, "users", "list")
    assert "lena" in listed.output and "lab,qa" in listed.output
    disabled = invoke(database, "users", "disable", "lena", "--reason", "leaving")
    assert disabled.exit_code == 0
    reset = invoke(
        database,
        "users",
        "set-password",
        "lena",
        "--reason",
        "forgot",
        env={"TRACE_NEW_PASSWORD": "another-password"},
    )
    assert reset.exit_code == 0, reset.output
    with database.read() as session:
        user = user_service.get_by_username(session, "lena")
        assert not user.is_active
    assert "disabled" in invoke(database, "users", "list").output


@pytest.mark.parametrize(
    "args",
    [
        ["users", "add", "Bad Name", "--full-name", "X", "--role", "lab"],
        ["users", "add", "okname", "--full-name", "X", "--role", "wizard"],
        ["users", "disable", "nobody", "--reason", "x"],
        ["users", "disable", "nobody", "--reason", ""],
    ],
)
def test_bad_input_exits_2_with_one_line(database: Database, args: list[str]) -> None:
    result = invoke(database, *args, env={"TRACE_NEW_PASSWORD": "a-good-password"})
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    assert lines[0].startswith("error: ")


def test_a_short_password_is_refused(database: Database) -> None:
    result = invoke(
        database,
        "users",
        "add",
        "okname",
        "--full-name",
        "X",
        "--role",
        "lab",
        env={"TRACE_NEW_PASSWORD": "short"},
    )
    assert result.exit_code == 2
    assert "password" in result.output
    assert "okname" not in invoke(database, "users", "list").output


def test_demo_load_refuses_outside_development(database: Database) -> None:
    result = invoke(
        database,
        "demo",
        "load",
        env={"TRACE_ENVIRONMENT": "production", "TRACE_SECRET_KEY": "s" * 40},
    )
    assert result.exit_code == 2
    assert "development" in result.output


def test_demo_load_fills_an_empty_database_once(database: Database) -> None:
    first = invoke(database, "demo", "load", "--if-empty")
    assert first.exit_code == 0, first.output
    second = invoke(database, "demo", "load", "--if-empty")
    assert second.exit_code == 0
    assert "not loaded" in second.output
    assert invoke(database, "demo", "load").exit_code == 2
    assert "quinn" in invoke(database, "users", "list").output


def test_settings_errors_exit_2(database: Database) -> None:
    result = runner.invoke(
        app, ["users", "list"], env={"TRACE_ENVIRONMENT": "production", "TRACE_SECRET_KEY": ""}
    )
    assert result.exit_code == 2
    assert "TRACE_SECRET_KEY" in result.output or "secret_key" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["users", "add", "tom", "--full-name", "Tom"],  # missing --role
        ["users", "frobnicate"],
        ["users", "list", "--no-such-option"],
    ],
)
def test_usage_errors_are_one_line_exit_2(args: list[str]) -> None:
    result = runner.invoke(app, args, env={"TRACE_ENVIRONMENT": "development"})
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ")


def test_a_password_is_needed_without_a_terminal(database: Database) -> None:
    result = invoke(database, "users", "add", "tom", "--full-name", "Tom", "--role", "lab")
    assert result.exit_code == 2
    assert "TRACE_NEW_PASSWORD" in result.output


@pytest.mark.parametrize(
    "url",
    [
        "garbage",
        "mysql://x@y/z",
        "postgresql+psycopg://nobody@127.0.0.1:1/x",
    ],
)
def test_an_unusable_database_url_is_one_line_exit_2(url: str) -> None:
    result = runner.invoke(
        app, ["users", "list", "--database-url", url], env={"TRACE_ENVIRONMENT": "development"}
    )
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ")


def test_read_commands_never_create_a_database_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "x.db"
    result = runner.invoke(
        app,
        ["users", "list", "--database-url", f"sqlite:///{path}"],
        env={"TRACE_ENVIRONMENT": "development"},
    )
    assert result.exit_code == 2
    assert "db upgrade" in result.output
    assert not path.parent.exists()


def test_a_new_database_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    """It holds password hashes and donor codes, whatever the caller's umask."""
    path = tmp_path / "new" / "site.db"
    old = os.umask(0o022)
    try:
        made = runner.invoke(
            app,
            ["db", "upgrade", "--database-url", f"sqlite:///{path}"],
            env={"TRACE_ENVIRONMENT": "development"},
        )
    finally:
        os.umask(old)
    assert made.exit_code == 0, made.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    for companion in path.parent.glob("site.db-*"):
        assert stat.S_IMODE(companion.stat().st_mode) & 0o077 == 0, companion


def test_an_unmigrated_database_says_to_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    env = {"TRACE_ENVIRONMENT": "development"}
    listed = runner.invoke(app, ["users", "list", "--database-url", f"sqlite:///{path}"], env=env)
    assert listed.exit_code == 2
    assert "traceability db upgrade" in listed.output
    current = runner.invoke(app, ["db", "current", "--database-url", f"sqlite:///{path}"], env=env)
    assert current.exit_code == 1
    assert "behind" in current.output


def test_the_demo_shows_batches_in_every_state(database: Database) -> None:
    from traceability.domain.qc_record import record_status
    from traceability.services import batch_records, qc_results

    assert invoke(database, "demo", "load").exit_code == 0
    with database.read() as session:
        states = {}
        for batch in batch_records.list_batches(session):
            spec = batch_records.specification_of(session, batch)
            states[batch.lot] = set(record_status(spec, qc_results.views(session, batch)).values())
    assert states == {
        "UC26-101": {"pass"},
        "UC26-102": {"pass", "OOS under investigation"},
        "UC26-103": {"awaiting review"},
        "UC26-104": {"pass", "missing"},
    }


def test_labels_pdf_writes_the_batchs_current_labels(database: Database, tmp_path: Path) -> None:
    assert invoke(database, "demo", "load").exit_code == 0
    target = tmp_path / "UC26-101.pdf"
    done = invoke(database, "labels", "pdf", "--lot", "UC26-101", "-o", str(target))
    assert done.exit_code == 0, done.output
    assert target.read_bytes().startswith(b"%PDF") and "wrote" in done.output
    zpl = tmp_path / "UC26-101.zpl"
    assert (
        invoke(
            database, "labels", "pdf", "--lot", "UC26-101", "-o", str(zpl), "--format", "zpl"
        ).exit_code
        == 0
    )
    assert zpl.read_text().count("^BQ") == 5  # one per vial; the void label is not printed
    with database.read() as session:
        from traceability.services import batch_records, vial_labels

        batch = batch_records.get_batch(session, "UC26-101")
        current = vial_labels.current_labels(session, batch_records.vials_of(session, batch))
    for label in current.values():
        assert f"s={label.tag}" in zpl.read_text()
    # ZPL is in printer dots: a 32.5 mm label is 384 dots wide at 300 dpi, 260 at 203.
    assert "^PW384" in zpl.read_text()
    at_203 = tmp_path / "UC26-101-203.zpl"
    done = invoke(
        database, "labels", "pdf", "--lot", "UC26-101", "-o", str(at_203), "--format", "zpl",
        "--dpi", "203",
    )  # fmt: skip
    assert done.exit_code == 0 and "203 dpi" in done.output, done.output
    assert "^PW260" in at_203.read_text() and "^PW384" not in at_203.read_text()


def test_labels_shipper_writes_a_packed_shippers_sscc_label(
    database: Database, tmp_path: Path
) -> None:
    assert invoke(database, "demo", "load").exit_code == 0
    with database.read() as session:
        [sscc] = session.exec(text("SELECT sscc FROM shippers")).one()  # type: ignore[call-overload]
    pdf = tmp_path / "shipper.pdf"
    done = invoke(database, "labels", "shipper", "--sscc", sscc, "-o", str(pdf))
    assert done.exit_code == 0, done.output
    assert pdf.read_bytes().startswith(b"%PDF") and f"shipper label for {sscc}" in done.output
    zpl = tmp_path / "shipper.zpl"
    done = invoke(
        database, "labels", "shipper", "--sscc", sscc, "-o", str(zpl), "--format", "zpl",
        "--dpi", "600",
    )  # fmt: skip
    assert done.exit_code == 0 and "600 dpi" in done.output, done.output
    assert f"^PW{round(100 * 600 / 25.4)}" in zpl.read_text()
    assert f"/00/{sscc}" in zpl.read_text() and zpl.read_text().count("^BQ") == 1
    unknown = invoke(database, "labels", "shipper", "--sscc", "1" * 18, "-o", str(tmp_path / "x"))
    lines = unknown.output.strip().splitlines()
    assert unknown.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error:")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lot", "NOPE"], "no batch with lot 'NOPE'"),
        (["--lot", "UC26-103"], "no labels were issued for UC26-103 yet"),
        (["--lot", "UC26-101", "--format", "zpl", "--layout", "sheet"], "ZPL prints on a roll"),
        (["--lot", "UC26-101", "--layout", "poster"], "Invalid value for '--layout'"),
        (["--lot", "UC26-101", "--format", "zpl", "--dpi", "400"], "Invalid value for '--dpi'"),
    ],
)
def test_labels_pdf_bad_input_is_one_line_exit_2(
    database: Database, tmp_path: Path, args: list[str], message: str
) -> None:
    assert invoke(database, "demo", "load").exit_code == 0
    result = invoke(database, "labels", "pdf", "-o", str(tmp_path / "x.pdf"), *args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]
    assert not (tmp_path / "x.pdf").exists()


def test_the_demo_has_logger_files_to_plot_and_one_open_excursion(database: Database) -> None:
    from traceability.services import logger_files

    assert invoke(database, "demo", "load").exit_code == 0
    with database.read() as session:
        files = session.exec(text("SELECT sha256, data FROM temperature_files")).all()  # type: ignore[call-overload]
        uploads = session.exec(text("SELECT sha256, readings FROM temperature_uploads")).all()  # type: ignore[call-overload]
        excursions = session.exec(text("SELECT kind, end_at FROM excursions")).all()  # type: ignore[call-overload]
        touched = session.exec(text("SELECT count(*) FROM excursion_vials")).one()[0]  # type: ignore[call-overload]
    assert len(files) == len(uploads) == 2
    kept = {sha: bytes(data) for sha, data in files}
    for sha, count in uploads:
        assert len(logger_files.parse("csv", kept[sha])) == count
    assert [kind for kind, _ in excursions] == ["above"] and excursions[0][1] is not None
    assert touched == 0  # before any vial was in the dewar


def test_the_demo_shows_custody_in_progress(database: Database) -> None:
    from datetime import UTC, datetime

    from traceability.services.custody import views
    from traceability.services.users import get_by_username

    assert invoke(database, "demo", "load").exit_code == 0
    with database.read() as session:
        now = datetime.now(UTC)
        nina = views.custody_of(session, get_by_username(session, "nina"), now)
        rami = views.custody_of(session, get_by_username(session, "rami"), now)
        lab = views.custody_of(session, get_by_username(session, "lena"), now)
    assert [h.from_party for h in nina.offered] == ["user:cora"]
    assert [h.from_party for h in rami.offered] == ["site:LAB1"]
    assert len(lab.holding) == 13  # 15 stored, 2 of them gone in the shipper
    assert invoke(database, "audit", "verify-log").exit_code == 0


def test_audit_epcis_writes_the_batchs_events(database: Database, tmp_path: Path) -> None:
    import json

    assert invoke(database, "demo", "load").exit_code == 0
    target = tmp_path / "UC26-101.jsonld"
    done = invoke(database, "audit", "epcis", "--lot", "UC26-101", "-o", str(target))
    assert done.exit_code == 0, done.output
    document = json.loads(target.read_text())
    assert document["type"] == "EPCISDocument"
    steps = {event.get("bizStep") for event in document["epcisBody"]["eventList"]}
    assert {"commissioning", "storing", "packing", "departing"} <= steps
    missing = invoke(database, "audit", "epcis", "--lot", "NOPE", "-o", str(target))
    assert missing.exit_code == 2 and missing.output.startswith("error:")
    piped = invoke(database, "audit", "epcis", "--lot", "UC26-101")  # no -o: standard output
    assert piped.exit_code == 0, piped.output
    assert json.loads(piped.stdout)["epcisBody"] == document["epcisBody"]


def test_epcis_names_events_on_the_host_the_vials_were_commissioned_under(
    database: Database, tmp_path: Path
) -> None:
    import json

    assert invoke(database, "demo", "load").exit_code == 0  # TRACE_RESOLVER_BASE default
    target = tmp_path / "x.jsonld"
    moved = {"TRACE_RESOLVER_BASE": "https://resolver.elsewhere.example"}
    done = invoke(database, "audit", "epcis", "--lot", "UC26-101", "-o", str(target), env=moved)
    assert done.exit_code == 0, done.output
    events = json.loads(target.read_text())["epcisBody"]["eventList"]
    assert all(e["eventID"].startswith("http://127.0.0.1:8000/log/entries/") for e in events)
