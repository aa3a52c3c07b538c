"""Strict JSON bodies: one decoder for every JSON request body.

Every body a JSON route receives passes :func:`check_json_body` first: it must
be sent as JSON (``application/json`` or ``application/*+json``, else 415
``unsupported_media_type``) and nest no deeper than :data:`MAX_JSON_DEPTH`
(else 400 ``malformed_body``), checked on the raw bytes before any decoder
recurses into them. Litestar's own body decoding goes through it too
(:class:`StrictJSONRequest`, the app's request class), and so does the fast lane.

Litestar converts handler arguments with ``strict=False`` (query strings need
it), which would let ``"3"`` pass for an integer in a JSON body. Routes that
take a body also declare ``payload`` from :func:`strict_body`, which decodes the
same (cached) bytes strictly: wrong types are a 400, never silently coerced.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
from litestar import Request
from litestar.di import Provide

from service.http.problems import ProblemError
from service.observability.redaction import scrub_text

T = TypeVar("T")

#: Deepest nesting of arrays and objects a request body may have; the service's own
#: bodies need four levels at most.
MAX_JSON_DEPTH = 32
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_BRACKET = re.compile(rb"[\[\]{}]")


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def too_deep(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text ``raw`` nests arrays and objects deeper than ``limit``
    (brackets inside strings do not count); malformed text is the decoder's business."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth = 0
    for bracket in _BRACKET.findall(_STRING.sub(b"", raw)):
        depth += 1 if bracket in b"[{" else -1
        if depth > limit:
            return True
    return False


def check_json_body(content_type: str | None, raw: bytes) -> None:
    """Refuse a non-empty body that is not sent as JSON (415) or nests too deeply (400)."""
    if not raw.strip():
        return
    if not _is_json(content_type):
        raise ProblemError(415, "unsupported_media_type", "send the request body as application/json")
    if too_deep(raw):
        raise ProblemError(400, "malformed_body", f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels")


class StrictJSONRequest(Request[Any, Any, Any]):
    """Litestar's request, whose JSON body passes :func:`check_json_body` before decoding."""

    async def json(self) -> Any:
        """The decoded JSON body, once it has passed the checks."""
        check_json_body(self.headers.get("content-type"), await self.body())
        return await super().json()


def decode_strict(raw: bytes, struct: Any, *, optional: bool = False, content_type: str | None = "application/json",
                  ) -> Any:
    """``raw`` decoded strictly as ``struct`` after :func:`check_json_body`; a 400 problem
    (``validation_error`` or ``malformed_body``) that names only the field, never the value,
    otherwise."""
    check_json_body(content_type, raw)
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
        return decode_strict(await request.body(), struct, optional=optional,
                             content_type=request.headers.get("content-type"))

    return Provide(provide)
