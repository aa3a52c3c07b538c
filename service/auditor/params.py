"""Strict query parameters for the auditors' routes.

Every parameter a route does not know is refused, and so is a known one given
twice or in the wrong shape. Each refusal is a 400 problem with a stable code
that names the parameter (a known name only: an unknown name is the client's
text and is not repeated back):

- ``unknown_parameter``: a parameter the route does not take;
- ``repeated_parameter``: a parameter given more than once;
- ``missing_parameter``: a required parameter is absent;
- ``invalid_parameter``: a value of the wrong shape or out of its range;
- ``invalid_range``: two values that do not fit together (``from`` after ``to``).

Values that pass are shaped so that none can hold a name or an ID number (ids
are 32 hex digits, codes are lowercase words without digits), which is why they
may be written into the audit entry that records the call.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from audit import format_ts
from service.http.problems import ProblemError

HEX_ID = re.compile(r"[0-9a-f]{32}")
# Codes of actions, purposes, reasons and actor types: no digits, so no number can hide in one.
CODE = re.compile(r"[a-z][a-z_.-]{0,63}")
# An actor id is an id, or a fixed word naming the service itself ("consent-expiry").
ACTOR_ID = re.compile(r"[0-9a-f]{32}|[a-z][a-z_.-]{0,63}")
DECISION = re.compile(r"allow|deny|record")
_INT = re.compile(r"0|[1-9][0-9]{0,17}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# RFC 3339 with an explicit offset; seconds and fractions optional on input.
_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?:Z|[+-][0-9]{2}:[0-9]{2})"
)


def bad(code: str, parameter: str | None, detail: str) -> ProblemError:
    """A 400 problem about a query parameter (``parameter`` only ever a known name)."""
    extra: dict[str, Any] = {"parameter": parameter} if parameter else {}
    return ProblemError(400, code, detail, **extra)


def integer_value(name: str, value: str, minimum: int, maximum: int) -> int:
    """``value`` as a decimal integer in ``[minimum, maximum]`` (no sign, no leading zeros)."""
    if _INT.fullmatch(value) is None or not minimum <= int(value) <= maximum:
        raise bad("invalid_parameter", name, f"{name} must be an integer from {minimum} to {maximum}")
    return int(value)


class QueryParams:
    """The query string of one request, checked against the names a route takes."""

    def __init__(self, multi: Any, allowed: Iterable[str]) -> None:
        """``multi``: the request's query parameters (``request.query_params``)."""
        names = frozenset(allowed)
        values: dict[str, str] = {}
        for key in multi:
            if key not in names:
                raise bad("unknown_parameter", None, f"this operation takes only: {', '.join(sorted(names))}")
            given = multi.getall(key)
            if len(given) != 1:
                raise bad("repeated_parameter", key, f"{key} may be given once")
            values[key] = given[0]
        self._values: Mapping[str, str] = values

    def __contains__(self, name: str) -> bool:
        return name in self._values

    def _raw(self, name: str, required: bool) -> str | None:
        value = self._values.get(name)
        if value is None and required:
            raise bad("missing_parameter", name, f"{name} is required")
        return value

    def matching(self, name: str, pattern: re.Pattern[str], what: str, *, required: bool = False) -> str | None:
        """The value if it matches ``pattern`` in full; ``what`` describes the shape."""
        value = self._raw(name, required)
        if value is None:
            return None
        if pattern.fullmatch(value) is None:
            raise bad("invalid_parameter", name, f"{name} must be {what}")
        return value

    def integer(self, name: str, minimum: int, maximum: int, *, required: bool = False) -> int | None:
        """A decimal integer in ``[minimum, maximum]`` (no sign, no leading zeros)."""
        value = self._raw(name, required)
        return None if value is None else integer_value(name, value, minimum, maximum)

    def timestamp(self, name: str) -> str | None:
        """An RFC 3339 time with an offset, as an entry timestamp (UTC, microseconds, Z)."""
        value = self._raw(name, False)
        if value is None:
            return None
        try:
            if _TIMESTAMP.fullmatch(value) is None:
                raise ValueError
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return format_ts(moment.astimezone(UTC))
        except ValueError:
            raise bad("invalid_parameter", name, f"{name} must be an RFC 3339 time with an offset, "
                                                 "like 2026-12-01T08:00:00+08:00") from None

    def day(self, name: str, *, required: bool = False) -> date | None:
        """A calendar date ``YYYY-MM-DD``."""
        value = self._raw(name, required)
        if value is None:
            return None
        try:
            if _DATE.fullmatch(value) is None:
                raise ValueError
            return date.fromisoformat(value)
        except ValueError:
            raise bad("invalid_parameter", name, f"{name} must be a date like 2026-12-01") from None
