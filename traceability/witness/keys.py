"""A witness's own key files: one per cosignature type, in its own key directory.

``witness-ml-dsa-44.key`` (ML-DSA-44, the spec's recommendation, made by default) and
optionally ``witness-ed25519.key`` (Ed25519 cosignature/v1, for verifiers that know
only that type). Both hold the private key text of ``audit.cosignature`` and carry the
witness's one name. Files are 0600 in a 0700 directory, created once, never
overwritten.
"""

from __future__ import annotations

from pathlib import Path

from audit.cosignature import (
    ALG_COSIGNATURE_V1,
    ALG_SUBTREE_V1,
    Cosigner,
    parse_cosigner_private_key,
)
from audit.errors import AuditError
from traceability.errors import ConfigurationError
from traceability.keys import ensure_key_dir, write_private_file

KEY_FILES = {ALG_SUBTREE_V1: "witness-ml-dsa-44.key", ALG_COSIGNATURE_V1: "witness-ed25519.key"}


def create_key(key_dir: Path, name: str, algorithm: int = ALG_SUBTREE_V1) -> Cosigner:
    """Make the witness's key of one type; refuses to replace an existing one."""
    ensure_key_dir(key_dir)
    existing = load_keys(key_dir, required=False)
    if existing and existing[0].name != name:
        raise ConfigurationError(
            f"{key_dir} holds the keys of witness {existing[0].name!r}; a witness has one name"
        )
    try:
        cosigner = Cosigner.generate(name, algorithm)
    except AuditError as e:
        raise ConfigurationError(f"{name!r} cannot name a witness: {e}") from e
    write_private_file(key_dir / KEY_FILES[algorithm], cosigner.private_key_text() + "\n")
    return cosigner


def load_keys(key_dir: Path, *, required: bool = True) -> list[Cosigner]:
    """The witness's keys, ML-DSA-44 first; all must share one name."""
    keys: list[Cosigner] = []
    for algorithm, filename in KEY_FILES.items():
        path = key_dir / filename
        if not path.exists():
            continue
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as e:
            raise ConfigurationError(f"{path}: cannot read the key ({e.strerror})") from e
        try:
            cosigner = parse_cosigner_private_key(text)
        except AuditError as e:
            raise ConfigurationError(f"{path}: not a witness key ({e})") from e
        if cosigner.algorithm != algorithm:
            raise ConfigurationError(f"{path} holds a key of another type")
        keys.append(cosigner)
    if len({key.name for key in keys}) > 1:
        raise ConfigurationError(f"the keys in {key_dir} carry different witness names")
    if required and not keys:
        raise ConfigurationError(
            f"no witness key in {key_dir}; make one with `traceability witness keygen`"
        )
    return keys
