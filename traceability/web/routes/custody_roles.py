"""Who may reach the custody routes and pages: the roles each asks for.

Roles only open the door. Whether a person may act on a unit (holds it, acts for its
site, is the party a handoff names) is checked by the custody services on every step,
whoever passed here.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from traceability.domain.roles import Role
from traceability.services.auth import Authenticated
from traceability.web.deps import RequireRoles

Staff = Annotated[
    Authenticated, Depends(RequireRoles(Role.lab, Role.qa, Role.courier, Role.auditor, Role.admin))
]
SiteWorker = Annotated[Authenticated, Depends(RequireRoles(Role.lab, Role.qa))]
Carrier = Annotated[Authenticated, Depends(RequireRoles(Role.lab, Role.qa, Role.courier))]
Courier = Annotated[Authenticated, Depends(RequireRoles(Role.courier))]
