"""The fast lane: the hottest route answered in front of Litestar's router.

``POST /v1/queries`` is what institutions call in volume. Through Litestar each
call pays for the handler's signature model, keyword-argument extraction, a
copy of the route handler for every guard, a Response object and its
conversion, several hundred microseconds in all, as much as the governed query
itself. The lane answers the same requests with the same parts and nothing
else:

- the same :class:`~service.identity.guards.RoleGuard` object the Litestar
  handler declares, so the same 401/403 answers in the same order;
- the same request body limit (413 ``payload_too_large``, with ``Connection:
  close`` since the body is left unread), content type and nesting checks and
  strict decoding (:func:`~service.http.body.decode_strict`);
- the same handler function (``service.query.routes.answer_query``);
- the same problem responses (:func:`~service.http.problems.problem_parts`).

The Litestar route stays registered: it documents the route in the OpenAPI
schema and serves it when the lane is switched off (``CREDITGATE_FAST_LANE=0``);
the tests run both and compare.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar.connection import ASGIConnection

from service.http.body import decode_strict
from service.http.problems import PROBLEM_JSON, ProblemError, problem_parts
from service.identity.guards import RoleGuard
from service.identity.principal import Principal
from service.runtime import Services

Handler = Callable[[Principal, Services, Any], Awaitable[dict[str, Any]]]
_JSON = msgspec.json.Encoder()
_TOO_LARGE = ProblemError(413, "payload_too_large", "request body is larger than the service accepts")


@dataclass(frozen=True)
class FastRoute:
    """One route of the lane: its guard, its body type and its handler."""

    method: str
    path: str
    guard: RoleGuard
    body: type
    handler: Handler


class FastLane:
    """Answers the :class:`FastRoute` requests; everything else goes to Litestar."""

    def __init__(self, services: Services, routes: list[FastRoute], max_body: int) -> None:
        self._services = services
        self._routes = {(r.method, r.path): r for r in routes}
        self._max_body = max_body

    def route_for(self, scope: dict[str, Any]) -> FastRoute | None:
        """The lane's route for this HTTP request, if it has one."""
        return self._routes.get((scope["method"], scope["path"]))

    async def __call__(self, route: FastRoute, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Answer one request of ``route``, errors included, as Litestar would."""
        scope["path_template"] = route.path
        try:
            connection: ASGIConnection[Any, Any, Any, Any] = ASGIConnection(scope, receive, send)  # type: ignore[arg-type]
            await route.guard(connection, None)  # type: ignore[arg-type]
            payload = decode_strict(await self._body(scope, receive), route.body,
                                    content_type=_header(scope, b"content-type"))
            principal = connection.scope["user"]
            answer = await route.handler(principal, self._services, payload)
        except Exception as exc:
            status, body, headers = problem_parts(exc, scope)
            await _send(send, status, _JSON.encode(body), PROBLEM_JSON, headers)
            return
        await _send(send, 200, _JSON.encode(answer), "application/json", {})

    async def _body(self, scope: dict[str, Any], receive: Any) -> bytes:
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self._max_body:
                raise _TOO_LARGE
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ProblemError(400, "malformed_body", "the client went away before sending the body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body:
                raise _TOO_LARGE
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")  # type: ignore[no-any-return]
    return None


async def _send(send: Any, status: int, body: bytes, media_type: str, headers: dict[str, str]) -> None:
    raw_headers = [(b"content-type", media_type.encode()), (b"content-length", str(len(body)).encode())]
    raw_headers.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items())
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
