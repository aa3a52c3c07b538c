"""Registration by an operator: the functions behind ``/v1/admin/*`` and the CLI.

Each function validates its input and writes in one transaction that also holds
the audit entry naming the operator (``actor``) and the ids involved, never a
person's name or ID number (``service.admin.transaction``). Refusals are
:class:`~service.admin.errors.AdminError` with a stable code: invalid input
(identifier errors use the ``policies`` code, e.g. ``uscc_checksum``; a
subject's contact fields ``mobile_invalid``, ``address_invalid``,
``bank_card_invalid``), unknown ids, duplicates and conflicts, a guardianship's
ward who is not a minor. Their details are fixed texts: they never repeat a
submitted value. Client credentials are generated here and returned exactly
once: only the SHA-256 of a secret is stored.

The parts live in their own modules; this one gathers them for callers.
"""

from __future__ import annotations

from service.admin.accounts import register_account, set_account_status
from service.admin.actor import Actor
from service.admin.clients import add_client, revoke_client
from service.admin.credentials import IssuedCredentials
from service.admin.errors import AdminError, Conflict, InvalidRequest, NotFound, Unprocessable
from service.admin.guardianships import end_guardianship, register_guardianship
from service.admin.organisations import (
    RegisteredOrganisation,
    register_institution,
    register_provider,
    set_institution_status,
    set_provider_status,
)
from service.identity.models import PRIVATE_KEY_JWT, SECRET_BASIC

__all__ = [
    "PRIVATE_KEY_JWT",
    "SECRET_BASIC",
    "Actor",
    "AdminError",
    "Conflict",
    "InvalidRequest",
    "IssuedCredentials",
    "NotFound",
    "RegisteredOrganisation",
    "Unprocessable",
    "add_client",
    "end_guardianship",
    "register_account",
    "register_guardianship",
    "register_institution",
    "register_provider",
    "revoke_client",
    "set_account_status",
    "set_institution_status",
    "set_provider_status",
]
