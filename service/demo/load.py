"""Loading the demo data set (``creditgate demo``)."""

from __future__ import annotations

from collections.abc import Callable

from service.audit_log.writer import AuditEvent
from service.demo.people import generate_people
from service.runtime import Services
from service.subjects.repository import register_subject


def load_demo(
    services: Services, subjects: int = 300, *, seed: int = 2026, progress: Callable[[int], None] | None = None
) -> int:
    """Register ``subjects`` generated people (idempotent); returns how many were new."""
    created = 0
    people = list(generate_people(subjects, seed))
    for start in range(0, len(people), 50):
        chunk = people[start : start + 50]
        new_ids: list[str] = []
        with services.session() as session, session.begin():
            for person in chunk:
                subject_id, is_new = register_subject(session, services.vault, services.blind_index, person)
                if is_new:
                    new_ids.append(subject_id)
        for subject_id in new_ids:
            services.writer.append(
                AuditEvent(actor_type="operator", actor_id="demo-loader", action="subject.register",
                           decision="record", reason="demo_data", subject=subject_id)
            )
        created += len(new_ids)
        if progress:
            progress(len(chunk))
    return created
