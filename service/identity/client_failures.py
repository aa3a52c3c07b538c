"""Failed client authentication at the token endpoint.

Every failure gets the same answer, 401 ``invalid_client`` with a ``Basic``
challenge (RFC 6749 §5.2), whether the client is unknown, its secret wrong or its
assertion invalid: the answer tells a guesser nothing about which client ids
exist. What differs is the record. A failure naming a client the service holds
is audited (``auth.client``, deny) against that client's owner; a failure naming
no known client is unauthenticated noise, logged with the client address and
counted by the edge (``service.http.refusals``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from urllib.parse import unquote

from joserfc import jws
from joserfc.errors import JoseError

from service.audit_log.writer import AuditEvent
from service.http.context import current_request_id
from service.identity.models import OWNER_AUDITOR_TOOL, OAuthClient
from service.runtime import Services

FAILED_DESCRIPTION = "Client authentication failed."
CHALLENGE = 'Basic realm="creditgate", error="invalid_client"'
_MAX_CLIENT_ID = 64


def claimed_client(authorization: str | None, form: Mapping[str, Sequence[str]]) -> tuple[str | None, str]:
    """The client id a token request claims, unverified, and how it tried to
    authenticate (``client_secret_basic``, ``private_key_jwt`` or ``none``)."""
    if authorization and authorization[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return None, "client_secret_basic"
        return unquote(decoded.partition(":")[0]) or None, "client_secret_basic"
    assertion = (form.get("client_assertion") or [""])[0]
    if assertion:
        try:
            issuer = json.loads(jws.extract_compact(assertion.encode("ascii")).payload).get("iss")
        except (JoseError, ValueError, UnicodeError, AttributeError):
            issuer = None
        return (issuer if isinstance(issuer, str) else None), "private_key_jwt"
    named = form.get("client_id") or [""]
    return named[0] or None, "none"


def record_failure(services: Services, client_id: str | None, method: str) -> bool:
    """Audit a failed authentication of a client the service holds; False (nothing
    written) when ``client_id`` names no client."""
    if not client_id or len(client_id) > _MAX_CLIENT_ID:
        return False
    with services.session() as session:
        row = session.get(OAuthClient, client_id)
    if row is None:
        return False
    services.writer.append(AuditEvent(
        actor_type="auditor" if row.owner_type == OWNER_AUDITOR_TOOL else row.owner_type, actor_id=row.owner_id,
        action="auth.client", decision="deny", reason="client_authentication_failed",
        request_id=current_request_id(), details={"client_id": row.client_id, "auth_method": method},
    ))
    return True
