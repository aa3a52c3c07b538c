"""Strict JSON bodies.

Litestar converts handler arguments with ``strict=False`` (query strings need
it), which would let ``"3"`` pass for an integer in a JSON body. Routes that
take a body also declare ``payload`` from :func:`strict_body`, which decodes the
same (cached) bytes strictly: wrong types are a 400, never silently coerced.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from litestar import Request
from litestar.di import Provide

from service.http.problems import ProblemError
from service.observability.redaction import scrub_text

T = TypeVar("T")


def decode_strict(raw: bytes, struct: Any, *, optional: bool = False) -> Any:
    """``raw`` decoded strictly as ``struct``; a 400 problem (``validation_error`` or
    ``malformed_body``) that names only the field, never the value, otherwise."""
    if not raw.strip():
        if optional:
            return None
        raise ProblemError(400, "validation_error", "a JSON body is required",
                           errors=[{"field": "", "source": "body", "message": "missing body"}])
    try:
        return msgspec.json.decode(raw, type=struct, strict=True)
    except msgspec.ValidationError as exc:
        message = scrub_text(str(exc))
        field = message.rsplit("at `", 1)[-1].rstrip("`") if "at `" in message else ""
        raise ProblemError(400, "validation_error", "the request is not valid; see errors",
                           errors=[{"field": field, "source": "body", "message": message}]) from None
    except msgspec.DecodeError:
        raise ProblemError(400, "malformed_body", "the request body could not be decoded as JSON") from None


def strict_body(struct: Any, *, optional: bool = False) -> Provide:
    """A dependency that decodes the request body strictly as ``struct``."""

    async def provide(request: Request[Any, Any, Any]) -> Any:
        return decode_strict(await request.body(), struct, optional=optional)

    return Provide(provide)
