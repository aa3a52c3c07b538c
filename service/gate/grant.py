"""The capability that decryption demands.

A :class:`Grant` wraps an *allowed* policy decision and can only be minted by
:func:`issue`, which only :mod:`service.gate.access` calls (a test walks the
source tree to keep it so). The vault refuses any object that is not a grant
minted here, so no code path can decrypt personal fields without first going
through the gate's policy decision.
"""

from __future__ import annotations

from typing import Final

from policies import Decision

_SEAL: Final = object()


class GateViolation(Exception):
    """Decryption was attempted without a valid grant from the gate."""


class Grant:
    """Proof that the gate decided to allow reading ``decision.fields`` of one subject."""

    __slots__ = ("_seal", "decision")

    def __init__(self, decision: Decision, seal: object) -> None:
        if seal is not _SEAL:
            raise GateViolation("grants are issued by the access gate only")
        if not decision.allowed:
            raise GateViolation("a denied decision cannot become a grant")
        self.decision = decision
        self._seal = seal

    @property
    def subject_id(self) -> str:
        """The one subject whose fields this grant opens."""
        return self.decision.subject_id

    def permits(self, requirement: str) -> bool:
        """Whether a field kind (``name``) or ``category:<code>`` is covered."""
        if requirement.startswith("category:"):
            return requirement.removeprefix("category:") in self.decision.categories
        # Exactly what the decision allows: a grant cannot be widened beyond it.
        return requirement in self.decision.fields


def issue(decision: Decision) -> Grant:
    """Mint a grant for an allowed decision. Called by the gate only."""
    return Grant(decision, _SEAL)


def check(grant: object, subject_id: str, requirement: str) -> Grant:
    """Return ``grant`` if it is genuine and covers ``requirement`` for ``subject_id``."""
    if not isinstance(grant, Grant) or grant._seal is not _SEAL:
        raise GateViolation("decryption requires a grant from the access gate")
    if grant.subject_id != subject_id:
        raise GateViolation("the grant is for another subject")
    if not grant.permits(requirement):
        raise GateViolation("the grant does not cover this field")
    return grant
