"""Who performs an administrative action, as the audit log names them."""

from __future__ import annotations

from dataclasses import dataclass

from service.identity.principal import Principal


@dataclass(frozen=True, slots=True)
class Actor:
    """The operator behind a registration: a token's account, or the command line."""

    actor_type: str
    actor_id: str

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        """The operator behind a request."""
        return cls(principal.role.value, principal.actor_id)

    @classmethod
    def cli(cls) -> Actor:
        """The command line, run by whoever holds the server's keys."""
        return cls("operator", "cli")
