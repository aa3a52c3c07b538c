"""``GET /v1/me``: who the caller is, as the resource server sees them now."""

from __future__ import annotations

from typing import Any

from litestar import get
from litestar.di import NamedDependency

from policies import Role
from service.identity.guards import require_roles
from service.identity.principal import Principal


@get("/v1/me", guards=[require_roles(Role.SUBJECT, Role.GUARDIAN, scope="me")], sync_to_thread=False,
     tags=["me"], summary="Who I am: my role, my subject pseudonym and my wards")
def who_am_i(principal: NamedDependency[Principal]) -> dict[str, Any]:
    """The caller's role and account, their own subject pseudonym (subjects) and the
    pseudonyms of the wards they act for (guardians; read live, so an ended
    guardianship is gone at once). A ward's id is what ``?subject=`` takes."""
    return {
        "role": principal.role.value,
        "account_id": principal.account_id,
        "subject": principal.subject_id,
        "wards": sorted(principal.wards),
    }
