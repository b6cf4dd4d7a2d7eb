"""The directory of the service's private keys (the log key, the service key).

Keys are files under `TRACE_KEY_DIR`, never rows in the database: whoever administers
the database must not be able to sign as the log. The directory is created 0700 and
every key file 0600.
"""

from __future__ import annotations

import os
from pathlib import Path

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
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
