"""Sign requests in tests exactly as a person's device does (docs/signed-writes.md)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from audit.entry import pop_message
from tests.support import Api
from traceability.custody_log.statements import Statement, when_text
from traceability.keys import ActorKeyPair


@dataclass
class Signer:
    """A user with a registered key, signing statements against the live subject head."""

    api: Api
    username: str
    pair: ActorKeyPair
    headers: dict[str, str]

    @classmethod
    def register(cls, api: Api, username: str, *roles: str) -> Signer:
        api.add_user(username, *roles)
        headers = api.headers(username)
        pair = ActorKeyPair.generate(username)
        pop = pair.sign(pop_message(pair.key_id, api.settings.origin, username))
        response = api.client.post(
            "/keys",
            headers=headers,
            json={
                "public_key": base64.b64encode(pair.public_key).decode(),
                "label": "test device",
                "pop": base64.b64encode(pop).decode(),
            },
        )
        assert response.status_code == 201, response.text
        return cls(api, username, pair, headers)

    def body(self, type: str, subject: str, what: dict[str, Any]) -> dict[str, Any]:  # noqa: A002
        head = self.api.client.get(
            "/log/subject-head", headers=self.headers, params={"subject": subject}
        ).json()
        statement = Statement(
            log=self.api.settings.origin,
            subject=subject,
            subject_seq=head["next_seq"],
            subject_prev=bytes.fromhex(head["prev"]) if head["prev"] else None,
            type=type,
            when=when_text(self.api.clock()),
            key=self.pair.key_id,
            actor=self.username,
            what=what,
        )
        signature = self.pair.sign(statement.signed_message())
        data = statement.to_json()
        return {"statement": data, "signature": base64.b64encode(signature).decode()}

    def post(self, url: str, type: str, subject: str, what: dict[str, Any]) -> Any:  # noqa: A002
        return self.api.client.post(url, headers=self.headers, json=self.body(type, subject, what))
