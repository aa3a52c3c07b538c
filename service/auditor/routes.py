"""The audit trail over HTTP, for auditors (role ``auditor``, scope ``audit:read``).

Every call is itself an audit entry (actor ``auditor``, action ``audit.*``),
committed before the answer leaves: ``allow`` with what was asked (checked
parameters only) and how much was returned, or ``deny`` with the refusal's
code. Entries are shown as stored: pseudonyms and ids, never personal data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from audit import checkpoint_to_json
from policies import Role
from policies.anomaly import load_anomaly_settings
from service.audit_log.proofs import (
    checkpoint_at,
    consistency_view,
    inclusion_view,
    latest_checkpoint,
    stored_leaf,
)
from service.audit_log.tree import LogIncomplete
from service.audit_log.writer import AuditEvent
from service.auditor.params import ACTOR_ID, CODE, DECISION, HEX_ID, QueryParams, bad, integer_value
from service.auditor.queries import EQUALITY_FILTERS, EntryQuery, search_entries
from service.auditor.summary import MAX_REPORT_DAYS, summarize, summary_csv
from service.http.context import current_request_id
from service.http.problems import ProblemError
from service.identity.guards import require_roles
from service.identity.principal import Principal
from service.runtime import Services

T = TypeVar("T")
Caller = NamedDependency[Principal]
Svc = NamedDependency[Services]
AUDITORS = [require_roles(Role.AUDITOR, scope="audit:read")]
MAX_LIMIT = 1000
_MAX_SEQ = 2**62

_FILTER_SHAPES = {
    "actor_type": (CODE, "a lowercase code like institution"),
    "actor_id": (ACTOR_ID, "32 lowercase hex digits, or a lowercase code"),
    "action": (CODE, "a lowercase code like query"),
    "subject": (HEX_ID, "a subject pseudonym (32 lowercase hex digits)"),
    "consent_id": (HEX_ID, "32 lowercase hex digits"),
    "purpose": (CODE, "a lowercase code like loan_approval"),
    "decision": (DECISION, "allow, deny or record"),
    "reason": (CODE, "a lowercase code like consent_revoked"),
}
assert set(_FILTER_SHAPES) == set(EQUALITY_FILTERS)


def _record(services: Services, principal: Principal, action: str, decision: str, reason: str,
            details: dict[str, Any], subject: str | None = None) -> None:
    services.writer.append(AuditEvent(
        actor_type=principal.role.value, actor_id=principal.actor_id, action=action, decision=decision,
        reason=reason, subject=subject, request_id=current_request_id(), details=details,
    ))


def audited(services: Services, principal: Principal, action: str,
            answer: Callable[[], tuple[T, dict[str, Any], str | None]]) -> T:
    """Run ``answer`` (its result, the entry's details, the subject it concerns) and
    record the call; a refusal is recorded with its code and raised again."""
    try:
        try:
            result, details, subject = answer()
        except LogIncomplete as exc:
            raise ProblemError(500, exc.code, exc.detail) from None
    except ProblemError as exc:
        parameter = exc.extra.get("parameter")
        _record(services, principal, action, "deny", exc.code,
                {"status": exc.status, **({"parameter": parameter} if parameter else {})})
        raise
    _record(services, principal, action, "allow", "auditor", details, subject)
    return result


def _not_found(what: str, parameter: str | None = None) -> ProblemError:
    extra: dict[str, Any] = {"parameter": parameter} if parameter else {}
    return ProblemError(404, "checkpoint_not_found", f"no checkpoint was signed at {what}", **extra)


@get("/v1/audit/entries", guards=AUDITORS, sync_to_thread=True, tags=["audit"],
     summary="Search the audit trail (pseudonyms only)")
def audit_entries(request: Request[Any, Any, Any], principal: Caller, services: Svc) -> dict[str, Any]:
    """Entries in seq order. Query parameters, all optional: ``from`` and ``to`` (RFC 3339
    times; from included, to excluded), ``actor_type``, ``actor_id``, ``action``,
    ``subject`` (pseudonym), ``consent_id``, ``purpose``, ``decision``, ``reason``,
    ``after`` (the cursor: the ``next_after`` of the previous page) and ``limit``
    (1 to 1000, default 100). Anything else is refused."""

    def answer() -> tuple[dict[str, Any], dict[str, Any], str | None]:
        params = QueryParams(request.query_params, {"from", "to", "after", "limit", *EQUALITY_FILTERS})
        since, until = params.timestamp("from"), params.timestamp("to")
        if since and until and since > until:
            raise bad("invalid_range", "from", "from must not be after to")
        equal = {}
        for name, (pattern, what) in _FILTER_SHAPES.items():
            value = params.matching(name, pattern, what)
            if value is not None:
                equal[name] = value
        query = EntryQuery(since, until, equal, params.integer("after", 0, _MAX_SEQ) or 0,
                           params.integer("limit", 1, MAX_LIMIT) or 100)
        with services.reads() as db:
            items, following = search_entries(db, query)
        asked = {**equal, **{k: v for k, v in (("from", since), ("to", until)) if v}}
        details = {"filters": asked, "after": query.after, "limit": query.limit, "returned": len(items)}
        return {"items": items, "next_after": following}, details, equal.get("subject")

    return audited(services, principal, "audit.entries.search", answer)


@get("/v1/audit/checkpoints/latest", guards=AUDITORS, sync_to_thread=True, tags=["audit"],
     summary="The newest signed checkpoint")
def audit_latest_checkpoint(request: Request[Any, Any, Any], principal: Caller, services: Svc) -> dict[str, Any]:
    """Tree size, root hash, time, key id and Ed25519 signature; the key is the one whose
    ``kid`` is ``key_id`` in ``/oauth/jwks``. Keep it: it lets you check later that the
    log still holds this tree (``creditgate audit verify --from-checkpoint``)."""

    def answer() -> tuple[dict[str, Any], dict[str, Any], str | None]:
        QueryParams(request.query_params, ())
        with services.reads() as db:
            cp = latest_checkpoint(db)
        if cp is None:
            raise _not_found("any size yet")
        return checkpoint_to_json(cp), {"tree_size": cp.tree_size}, None

    return audited(services, principal, "audit.checkpoint.read", answer)


@get("/v1/audit/checkpoints/{size:str}", guards=AUDITORS, sync_to_thread=True, tags=["audit"],
     summary="The checkpoint signed at a tree size")
def audit_checkpoint(request: Request[Any, Any, Any], principal: Caller, services: Svc,
                     size: FromPath[str]) -> dict[str, Any]:
    """The signed checkpoint of the tree of ``size`` entries, or 404 ``checkpoint_not_found``."""

    def answer() -> tuple[dict[str, Any], dict[str, Any], str | None]:
        QueryParams(request.query_params, ())
        tree_size = integer_value("size", size, 0, _MAX_SEQ)
        with services.reads() as db:
            cp = checkpoint_at(db, tree_size)
        if cp is None:
            raise _not_found(f"tree size {tree_size}", "size")
        return checkpoint_to_json(cp), {"tree_size": tree_size}, None

    return audited(services, principal, "audit.checkpoint.read", answer)


@get("/v1/audit/proofs/inclusion", guards=AUDITORS, sync_to_thread=True, tags=["audit"],
     summary="RFC 9162 inclusion proof of an entry in a signed tree")
def audit_inclusion_proof(request: Request[Any, Any, Any], principal: Caller, services: Svc) -> dict[str, Any]:
    """``seq`` (required) and ``size`` (a signed tree size; default the newest). The answer
    holds the entry's canonical ``body``, its ``leaf_hash`` (SHA-256 of 0x00 and the body),
    ``leaf_index`` (seq - 1), the ``audit_path`` (bottom-up, base64) and the checkpoint."""

    def answer() -> tuple[dict[str, Any], dict[str, Any], str | None]:
        params = QueryParams(request.query_params, {"seq", "size"})
        seq = params.integer("seq", 1, _MAX_SEQ, required=True)
        size = params.integer("size", 1, _MAX_SEQ)
        assert seq is not None
        with services.reads() as db:
            cp = checkpoint_at(db, size) if size is not None else latest_checkpoint(db)
            if cp is None:
                raise _not_found(f"tree size {size}" if size is not None else "any size yet", "size")
            if seq > cp.tree_size:
                raise bad("invalid_range", "seq", f"seq must be at most the tree size {cp.tree_size}")
            leaf = stored_leaf(db, seq)
            if leaf is None:
                raise ProblemError(404, "entry_not_found", "the log holds no entry at this seq", parameter="seq")
            view = inclusion_view(db, leaf, cp)
        return view, {"seq": seq, "tree_size": cp.tree_size}, None

    return audited(services, principal, "audit.proof.inclusion", answer)


@get("/v1/audit/proofs/consistency", guards=AUDITORS, sync_to_thread=True, tags=["audit"],
     summary="RFC 9162 consistency proof between two signed trees")
def audit_consistency_proof(request: Request[Any, Any, Any], principal: Caller, services: Svc) -> dict[str, Any]:
    """``from`` and ``to``: tree sizes of two signed checkpoints, from <= to. The proof shows
    that the tree ``to`` signed extends the one ``from`` signed, unchanged."""

    def answer() -> tuple[dict[str, Any], dict[str, Any], str | None]:
        params = QueryParams(request.query_params, {"from", "to"})
        old = params.integer("from", 1, _MAX_SEQ, required=True)
        new = params.integer("to", 1, _MAX_SEQ, required=True)
        assert old is not None and new is not None
        if old > new:
            raise bad("invalid_range", "from", "from must not be larger than to")
        with services.reads() as db:
            old_cp, new_cp = checkpoint_at(db, old), checkpoint_at(db, new)
            if old_cp is None:
                raise _not_found(f"tree size {old}", "from")
            if new_cp is None:
                raise _not_found(f"tree size {new}", "to")
            view = consistency_view(db, old_cp, new_cp)
        return view, {"from": old, "to": new}, None

    return audited(services, principal, "audit.proof.consistency", answer)


_CSV = "text/csv"
_JSON = "application/json"


def _wants_csv(accept: str | None) -> bool:
    """Content negotiation between JSON (the default) and CSV; 406 for anything else."""
    if not accept or not accept.strip():
        return False
    best: tuple[float, str] | None = None
    for part in accept.split(","):
        media, *options = (p.strip() for p in part.split(";"))
        q = 1.0
        for option in options:
            key, _, value = option.partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        media = media.lower()
        offered = {_CSV: _CSV, _JSON: _JSON, "text/*": _CSV, "application/*": _JSON, "*/*": _JSON}.get(media)
        if offered is not None and q > 0 and (best is None or q > best[0]):
            best = (q, offered)
    if best is None:
        raise ProblemError(406, "not_acceptable", "this report is available as application/json or text/csv")
    return best[1] == _CSV


@get("/v1/audit/reports/summary", guards=AUDITORS, sync_to_thread=True, tags=["audit"],
     summary="Per institution and purpose: queries, denials, subjects, consents; flagged institutions")
def audit_summary(request: Request[Any, Any, Any], principal: Caller, services: Svc) -> Response[Any]:
    """``from`` and ``to``: China calendar dates, both included, at most 366 days. JSON by
    default, CSV with ``Accept: text/csv``. ``flagged`` lists institutions whose daily
    query count or denial rate jumped against their own previous 30 days (the method and
    its numbers are in the answer's ``method`` and in docs/ARCHITECTURE.md)."""

    def answer() -> tuple[Response[Any], dict[str, Any], str | None]:
        params = QueryParams(request.query_params, {"from", "to"})
        first, last = params.day("from", required=True), params.day("to", required=True)
        assert first is not None and last is not None
        if first > last:
            raise bad("invalid_range", "from", "from must not be after to")
        if (last - first).days + 1 > MAX_REPORT_DAYS:
            raise bad("invalid_range", "to", f"a report covers at most {MAX_REPORT_DAYS} days")
        as_csv = _wants_csv(request.headers.get("accept"))
        with services.reads() as db:
            summary = summarize(db, first, last, load_anomaly_settings())
        details = {"from": first.isoformat(), "to": last.isoformat(), "format": "csv" if as_csv else "json",
                   "rows": len(summary["institutions"]), "flagged": len(summary["flagged"])}
        if as_csv:
            return Response(summary_csv(summary), media_type="text/csv; charset=utf-8"), details, None
        return Response(summary, media_type=_JSON), details, None

    return audited(services, principal, "audit.report.summary", answer)


AUDITOR_HANDLERS = [audit_entries, audit_latest_checkpoint, audit_checkpoint, audit_inclusion_proof,
                    audit_consistency_proof, audit_summary]
