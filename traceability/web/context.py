"""What every request needs from the running service, kept on `app.state`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fastapi.templating import Jinja2Templates

from traceability.services.runtime import Service
from traceability.web.rate_limit import SlidingWindowLimiter

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


@dataclass(kw_only=True)
class ServiceContext(Service):
    """The service plus what only the pages and the scan endpoint need."""

    templates: Jinja2Templates
    scan_limiter: SlidingWindowLimiter = field(
        default_factory=lambda: SlidingWindowLimiter(limit=60)
    )
