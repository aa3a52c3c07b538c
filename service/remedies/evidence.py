"""Evidence attached to objections, complaints and repair applications.

Sent inside the JSON body as ``{"media_type": ..., "content": <base64>}``, at
most ``evidence.max_files`` of them, each at most ``evidence.max_bytes`` once
decoded (policy data, ``remedies.toml``). The declared media type must be on
the allow-list and the content must start like one (``%PDF-``, JPEG's
``FF D8 FF``, PNG's signature): a declared type that the bytes contradict is
refused. Accepted evidence is stored only encrypted, under the subject's data
key at ``remedy_evidence|content_ct|<id>``, and read back through the access
gate. No file name is kept (it could name the person).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from policies.remedies import EvidenceRules, load_remedy_rules
from service.crypto.vault import FieldPlace, SealedField
from service.errors import CodedError
from service.remedies.common import new_id, seal
from service.remedies.models import Evidence
from service.runtime import Services

#: How each allowed media type's content starts.
SIGNATURES: Mapping[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
}
#: A transport bound for bodies that carry evidence; the policy limits are checked per file.
EVIDENCE_BODY_BYTES = 2 * 1024 * 1024


class InvalidEvidence(CodedError):
    """An attachment was refused: ``evidence_too_many``, ``evidence_media_type_not_allowed``,
    ``evidence_invalid``, ``evidence_too_large`` or ``evidence_content_mismatch`` (all 400)."""

    def __init__(self, code: str, detail: str, index: int | None = None) -> None:
        super().__init__(code, detail)
        self.index = index


@dataclass(frozen=True, slots=True)
class Attachment:
    """An attachment as sent: its declared media type and base64 content."""

    media_type: str
    content: str


@dataclass(frozen=True, slots=True)
class CheckedAttachment:
    """An attachment that passed every check: canonical base64 and its decoded size."""

    media_type: str
    content: str
    size: int


def check_evidence(items: Sequence[Attachment], rules: EvidenceRules | None = None) -> list[CheckedAttachment]:
    """Every attachment checked, in order; the first refusal raises :class:`InvalidEvidence`."""
    limits = rules or load_remedy_rules().evidence
    if len(items) > limits.max_files:
        raise InvalidEvidence("evidence_too_many", f"at most {limits.max_files} attachments")
    out = []
    for index, item in enumerate(items):
        if item.media_type not in limits.media_types:
            raise InvalidEvidence("evidence_media_type_not_allowed",
                                  f"media_type must be one of {', '.join(sorted(limits.media_types))}", index)
        # Bound the work before decoding: base64 takes 4 characters per 3 bytes.
        if len(item.content) > (limits.max_bytes + 2) // 3 * 4 + 4:
            raise InvalidEvidence("evidence_too_large", f"each attachment is at most {limits.max_bytes} bytes", index)
        try:
            raw = base64.b64decode(item.content, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidEvidence("evidence_invalid", "content must be standard base64", index) from None
        if not raw:
            raise InvalidEvidence("evidence_invalid", "an attachment must not be empty", index)
        if len(raw) > limits.max_bytes:
            raise InvalidEvidence("evidence_too_large", f"each attachment is at most {limits.max_bytes} bytes", index)
        if not raw.startswith(SIGNATURES.get(item.media_type, (b"",))):
            raise InvalidEvidence("evidence_content_mismatch", "the content is not of the declared media_type", index)
        out.append(CheckedAttachment(item.media_type, base64.b64encode(raw).decode("ascii"), len(raw)))
    return out


def store_evidence(services: Services, session: Session, subject_id: str, owner_type: str, owner_id: str,
                   checked: Sequence[CheckedAttachment]) -> list[Evidence]:
    """Add the attachments, encrypted, to the session's transaction."""
    rows = []
    for item in checked:
        evidence_id = new_id()
        blob = seal(services, session, subject_id, "remedy_evidence", "content_ct", evidence_id, item.content)
        row = Evidence(id=evidence_id, subject_id=subject_id, owner_type=owner_type, owner_id=owner_id,
                       media_type=item.media_type, size_bytes=item.size, content_ct=blob)
        session.add(row)
        rows.append(row)
    return rows


def evidence_of(session: Session, owner_type: str, owner_ids: Sequence[str]) -> dict[str, list[Evidence]]:
    """The attachments of each owner, oldest first."""
    if not owner_ids:
        return {}
    rows = session.execute(
        select(Evidence).where(Evidence.owner_type == owner_type, Evidence.owner_id.in_(owner_ids))  # type: ignore[arg-type,attr-defined]
        .order_by(Evidence.created_at, Evidence.id)  # type: ignore[arg-type]
    ).scalars().all()
    out: dict[str, list[Evidence]] = {}
    for row in rows:
        out.setdefault(row.owner_id, []).append(row)
    return out


def sealed_evidence(rows: Sequence[Evidence], category: str) -> dict[str, SealedField]:
    """Attachments as sealed texts for the gate, named ``evidence:<id>``."""
    return {f"evidence:{r.id}": SealedField(FieldPlace("remedy_evidence", "content_ct", r.id), r.content_ct,
                                            f"category:{category}") for r in rows}


def evidence_view(rows: Sequence[Evidence], opened: Mapping[str, str | None] | None = None) -> list[dict[str, object]]:
    """Each attachment's metadata, and its base64 content when it was opened."""
    out: list[dict[str, object]] = []
    for r in rows:
        view: dict[str, object] = {"id": r.id, "media_type": r.media_type, "size_bytes": r.size_bytes}
        if opened is not None:
            view["content"] = opened.get(f"evidence:{r.id}")
        out.append(view)
    return out
