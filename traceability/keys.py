"""The directory of the service's private keys (the log key, its ML-DSA-44 cosigner,
the service key).

Keys are files under `TRACE_KEY_DIR`, never rows in the database: whoever administers
the database must not be able to sign as the log. The directory is created 0700 and
every key file 0600.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from audit.cosignature import ALG_SUBTREE_V1, Cosigner, parse_cosigner_private_key
from audit.entry import key_id as entry_key_id
from audit.errors import AuditError
from audit.note import Signer, Verifier, parse_private_key
from traceability.errors import ConfigurationError


def ensure_key_dir(path: Path) -> Path:
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigurationError(f"TRACE_KEY_DIR {path}: cannot create it ({e.strerror})") from e
    if os.name == "posix" and path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def write_private_file(path: Path, text: str) -> None:
    """Create `path` with mode 0600 from the first byte; refuse to overwrite a key."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as e:
        raise ConfigurationError(f"{path} exists; refusing to overwrite a key") from e
    except OSError as e:
        raise ConfigurationError(f"{path}: cannot write the key ({e.strerror})") from e
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


@dataclass(frozen=True)
class ActorKeyPair:
    """An Ed25519 key that signs log statements: the service's, or a person's CLI key.

    Wraps `audit.note.Signer` so that the same private key text
    (`PRIVATE+KEY+name+...`) serves for files and interoperates with note tooling;
    the log identifies the key by `audit.entry.key_id` of its public key.
    """

    signer: Signer

    @property
    def public_key(self) -> bytes:
        return self.signer.verifier().public_key

    @property
    def key_id(self) -> str:
        return entry_key_id(self.public_key)

    def sign(self, message: bytes) -> bytes:
        return self.signer.sign(message)

    @classmethod
    def generate(cls, name: str) -> ActorKeyPair:
        return cls(Signer.generate(name))


@dataclass(frozen=True)
class ServiceKeys:
    """The log's checkpoint key (named by the origin), the service's actor key, and the
    log's own ML-DSA-44 cosigner (also named by the origin), which cosigns every
    checkpoint so that its tree heads stay provable if Ed25519 is broken."""

    log: Signer
    service: ActorKeyPair
    cosigner: Cosigner


LOG_KEY_FILE = "log.key"
LOG_COSIGNER_FILE = "log-cosigner.key"
SERVICE_KEY_FILE = "service.key"
SERVICE_KEY_NAME = "service"


def read_private_key(path: Path) -> Signer:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as e:
        raise ConfigurationError(f"{path}: cannot read the key ({e.strerror})") from e
    try:
        return parse_private_key(text)
    except AuditError as e:
        raise ConfigurationError(f"{path}: not a private key ({e})") from e


def _load_or_create(path: Path, name: str) -> Signer:
    if not path.exists():
        try:
            write_private_file(path, Signer.generate(name).private_key_text() + "\n")
        except ConfigurationError:
            pass  # another process created it first: use theirs
    return read_private_key(path)


def read_log_verifier(key_dir: Path) -> Verifier:
    """The log's verifier key from an existing key directory; never creates one."""
    path = key_dir / LOG_KEY_FILE
    if not path.exists():
        raise ConfigurationError(
            f"no log key at {path}; point TRACE_KEY_DIR at the log's keys or give --log-key"
        )
    return read_private_key(path).verifier()


def load_service_keys(key_dir: Path, origin: str) -> ServiceKeys:
    """Read the two keys, creating each on first run (files 0600 in a 0700 directory)."""
    ensure_key_dir(key_dir)
    log = _load_or_create(key_dir / LOG_KEY_FILE, origin)
    if log.name != origin:
        raise ConfigurationError(
            f"{key_dir / LOG_KEY_FILE} is the key of log {log.name!r}, but TRACE_ORIGIN is "
            f"{origin!r}; a log keeps its origin for life"
        )
    service = ActorKeyPair(_load_or_create(key_dir / SERVICE_KEY_FILE, SERVICE_KEY_NAME))
    cosigner = _load_or_create_cosigner(key_dir / LOG_COSIGNER_FILE, origin)
    return ServiceKeys(log=log, service=service, cosigner=cosigner)


def _load_or_create_cosigner(path: Path, origin: str) -> Cosigner:
    if not path.exists():
        try:
            write_private_file(path, Cosigner.generate(origin).private_key_text() + "\n")
        except ConfigurationError:
            pass  # another process created it first: use theirs
    try:
        cosigner = parse_cosigner_private_key(path.read_text(encoding="utf-8").strip())
    except OSError as e:
        raise ConfigurationError(f"{path}: cannot read the key ({e.strerror})") from e
    except AuditError as e:
        raise ConfigurationError(f"{path}: not a cosigner key ({e})") from e
    if cosigner.name != origin or cosigner.algorithm != ALG_SUBTREE_V1:
        raise ConfigurationError(
            f"{path} is not an ML-DSA-44 cosigner key of log {origin!r}; a log keeps its "
            "origin for life"
        )
    return cosigner
