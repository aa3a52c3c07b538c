"""A person's proof that an entry of their access log is in the log auditors see.

``GET /v1/me/access-log/{seq}/proof`` answers with the entry and its RFC 9162
inclusion proof against the newest signed checkpoint: with the checkpoint key
from ``/oauth/jwks``, the person (or their browser) can check that what they
were shown is part of the very tree the service signed for everyone.

Only entries about the person (or their ward) are proven: any other seq is
refused like an unknown one. The request is decided by the gate, like reading
the access log, and audited either way (action ``access_log.proof``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from service.audit_log.proofs import inclusion_view, latest_checkpoint, stored_leaf
from service.identity.principal import Principal
from service.runtime import Services

#: Refusal reasons of this read besides the gate's own.
ENTRY_NOT_FOUND = "entry_not_found"
NOT_YET_CHECKPOINTED = "entry_not_checkpointed"


def access_log_proof(
    services: Services, principal: Principal, subject_id: str, seq: int, request_id: str | None, now: datetime
) -> dict[str, Any]:
    """The entry at ``seq`` with its inclusion proof, if it is about ``subject_id`` and the
    gate lets the caller read that subject's log. Raises AccessDenied otherwise (reasons:
    the gate's, ``entry_not_found``, ``entry_not_checkpointed``); the refusal is audited."""
    with services.reads() as db:
        leaf = stored_leaf(db, seq)
        cp = latest_checkpoint(db)
        pending = services.gate.prepare(
            db, viewer=principal.viewer(), subject_id=subject_id, request_id=request_id, action="access_log.proof",
            now=now, only_fields=frozenset(), details={"seq": seq},
        )
    refused = None
    if leaf is None or leaf.subject != subject_id:
        refused = ENTRY_NOT_FOUND  # another person's entry is answered like a missing one
    elif cp is None or seq > cp.tree_size:
        refused = NOT_YET_CHECKPOINTED
    event = pending.event
    if refused is not None and event.decision == "allow":
        event = replace(event, decision="deny", reason=refused, details={"seq": seq}, precondition=None)
    # complete() raises AccessDenied for any denial, the gate's or this one.
    services.gate.complete(replace(pending, event=event), services.writer.append(event))
    assert leaf is not None and cp is not None
    with services.reads() as db:
        return inclusion_view(db, leaf, cp)
