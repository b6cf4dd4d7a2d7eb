"""What every request needs from the running service, kept on `app.state`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fastapi.templating import Jinja2Templates

from traceability.clock import Clock
from traceability.custody_log.appender import CustodyLog
from traceability.settings import Settings
from traceability.storage.database import Database
from traceability.web.rate_limit import SlidingWindowLimiter

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


@dataclass
class ServiceContext:
    settings: Settings
    db: Database
    clock: Clock
    templates: Jinja2Templates
    log: CustodyLog
    scan_limiter: SlidingWindowLimiter = field(
        default_factory=lambda: SlidingWindowLimiter(limit=60)
    )
