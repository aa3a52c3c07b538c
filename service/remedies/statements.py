"""The subject's statement on a record (《征信业管理条例》第十六条第二款).

A person may add a short statement to a record about them; it is shown with the
record to the person and to every institution that sees the record. It is
free text about the person, so it is stored encrypted beside the record's
details and opened by the access gate with them. A new statement replaces the
old one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from policies.remedies import load_remedy_rules
from service.db.types import china_today, iso_z
from service.fields import clean_field
from service.identity.principal import Principal
from service.records.models import STATEMENT_COLUMN
from service.remedies.common import event, seal, subjects_record
from service.runtime import Services


def add_statement(services: Services, principal: Principal, record_id: str, text: str, request_id: str | None,
                  now: datetime) -> dict[str, Any]:
    """Attach (or replace) the statement on one of the caller's records. Raises
    RemedyNotFound and InvalidField."""
    statement = clean_field(text, "text", max_chars=load_remedy_rules().text.statement_chars, multiline=True)
    today = china_today(now)
    with services.write_session() as s, s.begin():
        facts = subjects_record(services, s, principal, record_id, today)
        row = facts.row
        replaced = row.statement_ct is not None
        row.statement_ct = seal(services, s, row.subject_id, "credit_records", STATEMENT_COLUMN, row.id, statement)
        row.statement_at = now
        s.flush()
        services.writer.append_in(s.connection(), event(
            principal, "record.statement", subject=row.subject_id, request_id=request_id,
            details={"record": row.id, "replaced": replaced},
        ))
    return {"record_id": record_id, "statement": statement, "statement_at": iso_z(now), "replaced": replaced}
