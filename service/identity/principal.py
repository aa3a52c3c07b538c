"""Who is calling: the authenticated principal every protected route receives."""

from __future__ import annotations

from dataclasses import dataclass, field

from policies import Role, Viewer


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller behind a verified access token.

    ``actor_id`` is what audit entries name: the institution id, provider id or
    account id, never a person's name or ID number.
    """

    role: Role
    actor_id: str
    client_id: str | None = None
    account_id: str | None = None
    subject_id: str | None = None
    institution_id: str | None = None
    institution_type: str | None = None
    provider_id: str | None = None
    permitted_purposes: frozenset[str] = frozenset()
    wards: frozenset[str] = frozenset()
    scopes: frozenset[str] = field(default_factory=frozenset)
    token_id: str | None = None
    #: False while the caller's institution or provider is suspended. Guards refuse
    #: such callers unless a route admits them to record the refusal itself.
    active: bool = True

    def viewer(self) -> Viewer:
        """The policy view of this caller, for ``policies.decide``."""
        return Viewer(
            role=self.role,
            actor_id=self.actor_id,
            subject_id=self.subject_id,
            wards=self.wards,
            institution_type=self.institution_type,
            institution_active=self.active,
            permitted_purposes=self.permitted_purposes,
        )
