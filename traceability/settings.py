"""Settings of the service, read from the environment (prefix `TRACE_`) once per process.

Secrets come only from here, never from code. The development default of the secret
key exists so that `./scripts/serve` works on first run; outside development mode the
service refuses to start with it.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from audit.cosignature import CosignerKey, parse_cosigner_key
from audit.errors import FormatError
from traceability.errors import ConfigurationError

DEFAULT_SECRET_KEY = "development-only-secret-key-change-me"  # noqa: S105 - refused outside dev
DEFAULT_DATABASE_URL = "sqlite:///var/traceability.db"


class Environment(StrEnum):
    development = "development"
    production = "production"


class Settings(BaseSettings):
    """All knobs of the service. Field docs double as the reference in the README."""

    model_config = SettingsConfigDict(env_prefix="TRACE_", extra="ignore")

    environment: Environment = Field(
        default=Environment.production,
        description="`development` allows the default secret key; anything real is production.",
    )
    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL: the SQLite file, or postgresql+psycopg://...",
    )
    secret_key: str = Field(
        default=DEFAULT_SECRET_KEY,
        description="Keys CSRF tokens; at least 32 characters; never the default in production.",
    )
    origin: str = Field(
        default="traceability.example/log",
        description="The custody log's origin line in its checkpoints (C2SP tlog-checkpoint).",
    )
    resolver_base: str = Field(
        default="http://127.0.0.1:8000",
        description="Base URL of the GS1 Digital Link resolver printed on labels.",
    )
    establishment: str = Field(
        default="Demo Cell Therapy Laboratory\n1 Example Street, 00000 Example City",
        max_length=400,
        description="The releasing establishment's name and address, printed on shipper "
        "labels (21 CFR 1271.370); a newline separates the lines.",
    )
    gs1_company_prefix: str = Field(
        default="0952123",
        pattern=r"^[0-9]{6,12}$",
        description="The GS1 company prefix that numbers shippers' SSCCs.",
    )
    handoff_minutes: int = Field(
        default=30, ge=1, le=1440, description="How long an offered handoff stays open."
    )
    scans_per_minute: int = Field(
        default=60, ge=1, description="Label scans (resolver requests) allowed per client."
    )
    key_dir: Path = Field(
        default=Path("var/keys"),
        description="Where the service's and the log's private keys live (files mode 0600).",
    )
    token_ttl_minutes: int = Field(default=60, ge=1, description="Lifetime of an API bearer token.")
    web_session_ttl_minutes: int = Field(
        default=480, ge=1, description="Lifetime of a web sign-in (cookie session)."
    )
    lockout_attempts: int = Field(
        default=5, ge=1, description="Failed sign-ins within the window that lock an account."
    )
    lockout_window_minutes: int = Field(
        default=15, ge=1, description="The window over which failed sign-ins are counted."
    )
    checkpoint_every: int = Field(
        default=100, ge=1, description="Sign a checkpoint every N log entries."
    )
    checkpoint_interval_seconds: int = Field(
        default=60, ge=1, description="...and every T seconds while there are unsigned entries."
    )
    self_check_minutes: int = Field(
        default=10,
        ge=1,
        description="Reconcile every table with the signed log at start-up and every N "
        "minutes; QA and admin see an alarm on every page while it finds anything.",
    )
    smtp_host: str = Field(
        default="",
        max_length=255,
        description="SMTP server that mails notices (a recall) to the people of the sites "
        "and the persons they name, at the addresses on their accounts; empty: inbox only.",
    )
    smtp_port: int = Field(default=25, ge=1, le=65535, description="The SMTP server's port.")
    smtp_starttls: bool = Field(
        default=False, description="Upgrade the SMTP connection with STARTTLS before sending."
    )
    smtp_username: str = Field(default="", max_length=255, description="SMTP login, if any.")
    smtp_password: str = Field(default="", max_length=1000, description="SMTP password, if any.")
    smtp_from: str = Field(
        default="traceability@localhost",
        max_length=254,
        description="The From address of mailed notices.",
    )
    cookie_secure: bool = Field(
        default=False, description="Send the session cookie only over HTTPS (set behind TLS)."
    )
    witnesses: str = Field(
        default="",
        description="Witnesses (c2sp.org/tlog-witness) the log asks to cosign each new "
        "checkpoint: entries `URL VKEY`, separated by commas or newlines; a witness with "
        "two keys is two entries with one URL.",
    )
    witness_quorum: int = Field(
        default=1,
        ge=1,
        description="How many distinct witnesses should cosign each checkpoint; fewer is "
        "logged as a warning (verifiers choose their own quorum).",
    )
    witness_timeout_seconds: float = Field(
        default=10, gt=0, le=300, description="How long to wait for a witness's answer."
    )
    max_body_bytes: int = Field(
        default=1 << 20,
        ge=4096,
        le=1 << 30,
        description="Largest request body on every route but the uploads (JSON, forms), "
        "counted as the bytes arrive, Content-Length or not: a 413 beyond it.",
    )
    max_upload_bytes: int = Field(
        default=16 << 20,
        ge=4096,
        le=1 << 31,
        description="Largest body of an upload (a photo to /scan, a temperature logger's "
        "file): a 413 beyond it.",
    )
    max_json_depth: int = Field(
        default=32,
        ge=4,
        le=200,
        description="Deepest nesting of arrays and objects in a JSON body, checked before "
        "it is parsed (parsers and canonical JSON recurse): a 400 beyond it.",
    )
    max_image_pixels: int = Field(
        default=24_000_000,
        ge=1_000_000,
        le=100_000_000,
        description="Largest photo to decode (width x height), read from its header before "
        "decoding: a 413 beyond it. 24 million is a 6000 x 4000 photo.",
    )
    trust_proxy_headers: bool = Field(
        default=False,
        description="Believe the X-Forwarded-Proto header of the reverse proxy in front: "
        "set only behind a proxy that sets it, or a client could claim HTTPS.",
    )
    min_free_disk_mb: int = Field(
        default=64,
        ge=0,
        description="SQLite: below this much free space on the database's disk, /readyz "
        "reports the database full (writes fail when the disk is).",
    )

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.environment is not Environment.development:
            if self.secret_key == DEFAULT_SECRET_KEY:
                raise ValueError(
                    "TRACE_SECRET_KEY is the development default; set a real secret "
                    "(or TRACE_ENVIRONMENT=development on a machine for trying things out)"
                )
            if len(self.secret_key) < 32:
                raise ValueError("TRACE_SECRET_KEY must be at least 32 characters")
        return self

    @model_validator(mode="after")
    def _check_witnesses(self) -> Settings:
        entries = self.witness_entries
        names = {key.name for _, key in entries}
        if entries and self.witness_quorum > len(names):
            raise ValueError(
                f"TRACE_WITNESS_QUORUM is {self.witness_quorum}, but TRACE_WITNESSES names "
                f"{len(names)} witness(es)"
            )
        return self

    @property
    def witness_entries(self) -> list[tuple[str, CosignerKey]]:
        """TRACE_WITNESSES parsed: (URL, verifier key) pairs; raises ValueError if malformed."""
        entries: list[tuple[str, CosignerKey]] = []
        for raw in self.witnesses.replace(",", "\n").splitlines():
            entry = raw.strip()
            if not entry:
                continue
            url, _, key_text = entry.partition(" ")
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"TRACE_WITNESSES: {url!r} is not an http(s) URL")
            try:
                key = parse_cosigner_key(key_text.strip())
            except FormatError as e:
                raise ValueError(f"TRACE_WITNESSES: bad witness key for {url}: {e}") from None
            entries.append((url.rstrip("/"), key))
        return entries

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, turning validation errors into one line."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as e:
        first = e.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        if not first["loc"]:
            raise ConfigurationError(message) from e
        name = "TRACE_" + "_".join(str(p) for p in first["loc"]).upper()
        raise ConfigurationError(f"{name}: {message}") from e


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests build their own with `load_settings`."""
    return load_settings()
