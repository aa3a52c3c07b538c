"""Refusals of the registration domain. Each carries a stable ``code`` and a fixed
``detail`` that never repeats a submitted value; ``service.admin.routes`` answers
them as problems (400, 404, 409, 422), the command line prints them."""

from __future__ import annotations

from policies import InvalidIdentifier
from policies.text import TextRefused
from service.errors import CodedError


class AdminError(CodedError):
    """A registration was refused."""


class InvalidRequest(AdminError):
    """The input itself is not acceptable (a bad identifier, name, role, …)."""

    @classmethod
    def of(cls, exc: InvalidIdentifier | TextRefused, field: str | None = None) -> InvalidRequest:
        """The refusal of a policy check, under its own code."""
        message = exc.message if isinstance(exc, TextRefused) else str(exc)
        return cls(exc.code, f"{field}: {message}" if field else message)


class NotFound(AdminError):
    """An id names nothing of the kind."""


class Conflict(AdminError):
    """The request contradicts what is registered (duplicates, wrong role, state)."""


class Unprocessable(AdminError):
    """Well-formed, but the rule it must meet does not hold (a ward who is not a minor)."""
