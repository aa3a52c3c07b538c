"""Refused text fields (:class:`service.fields.InvalidField`) as problem responses."""

from __future__ import annotations

from service.fields import InvalidField
from service.http.problems import ProblemError


def field_problem(exc: InvalidField) -> ProblemError:
    """``400 validation_error`` naming the field and the text rule's code (``text_blank``,
    ``text_too_long``, ...); a personal identifier in a public field gets its own code."""
    entry = {"field": exc.field, "source": "body", "message": exc.detail, "code": exc.code}
    if exc.code == "personal_identifier_not_allowed":
        return ProblemError(400, exc.code, exc.detail, errors=[entry])
    return ProblemError(400, "validation_error", "the request is not valid; see errors", errors=[entry])
