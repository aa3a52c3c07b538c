"""The API, called in-process: the portal is a client of the same routes a person can call.

Each call is a complete ASGI request into the running application: the same
router, role guard, live caller check, strict body decoding, handler, gate,
masking and problem responses as a request from outside. So a page can show
only what ``/v1/me/...`` returns to the same person, and a refusal arrives as
the same stable problem code. The request context (the request id on the audit
entries) is the portal request's own; the inner call is not logged or counted a
second time.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from litestar import Litestar

from service.http.context import current_request_id


@dataclass(frozen=True)
class Answer:
    """An API answer: status, decoded JSON body and the headers that matter here."""

    status: int
    body: Any

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return 200 <= self.status < 300

    @property
    def code(self) -> str | None:
        """The stable problem code of a refusal (RFC 9457 ``code``), else None."""
        if self.ok or not isinstance(self.body, dict):
            return None
        value = self.body.get("code")
        return value if isinstance(value, str) else None


class ApiError(Exception):
    """The API refused a call; ``code`` is its stable problem code."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.code or f"http_{answer.status}")
        self.status = answer.status
        self.code = answer.code or "internal_error"

    @classmethod
    def of(cls, status: int, code: str) -> ApiError:
        """The refusal the API would give, raised by the portal before it calls it
        (an id of the wrong shape, an item that is not in the person's lists)."""
        return cls(Answer(status, {"code": code}))


class Api:
    """Calls into ``app`` on behalf of one portal request, with a bearer token if given."""

    def __init__(self, app: Litestar, scope: Mapping[str, Any], token: str | None = None) -> None:
        self._app = app
        self._outer = scope
        self._token = token

    async def get(self, path: str, query: Mapping[str, str | int] | None = None) -> Answer:
        """``GET path?query``."""
        return await self._call("GET", path, query=query)

    async def post_json(self, path: str, body: Any = None) -> Answer:
        """``POST path`` with a JSON body (none when ``body`` is None)."""
        raw = b"" if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        return await self._call("POST", path, body=raw, content_type="application/json" if raw else None)

    async def post_form(self, path: str, form: Mapping[str, str]) -> Answer:
        """``POST path`` with an ``application/x-www-form-urlencoded`` body."""
        return await self._call("POST", path, body=urlencode(form).encode("ascii"),
                                content_type="application/x-www-form-urlencoded")

    async def _call(self, method: str, path: str, *, query: Mapping[str, str | int] | None = None,
                    body: bytes = b"", content_type: str | None = None) -> Answer:
        headers: list[tuple[bytes, bytes]] = [(b"host", self._host()), (b"content-length", str(len(body)).encode())]
        if self._token is not None:
            headers.append((b"authorization", b"Bearer " + self._token.encode("ascii")))
        if content_type:
            headers.append((b"content-type", content_type.encode("ascii")))
        rid = current_request_id()
        if rid:
            headers.append((b"x-request-id", rid.encode("ascii")))
        qs = urlencode({k: str(v) for k, v in (query or {}).items()}).encode("ascii")
        scope: dict[str, Any] = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
            "method": method, "scheme": self._outer.get("scheme", "http"), "path": path,
            "raw_path": path.encode("ascii"), "root_path": "", "query_string": qs, "headers": headers,
            "client": self._outer.get("client"), "server": self._outer.get("server"),
        }
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        status = 500
        chunks: list[bytes] = []

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        # Litestar's own entry point: past the request-context wrapper (this request
        # already has one) and the fast lane (no /v1/me route is served there).
        await Litestar.__call__(self._app, scope, receive, send)  # type: ignore[arg-type]
        raw = b"".join(chunks)
        try:
            decoded = json.loads(raw) if raw else None
        except ValueError:
            decoded = raw.decode("utf-8", errors="replace")
        return Answer(status, decoded)

    def _host(self) -> bytes:
        for name, value in self._outer.get("headers", ()):
            if name == b"host":
                return value  # type: ignore[no-any-return]
        return b"localhost"

    async def checked(self, call: Awaitable[Answer]) -> Any:
        """The body of an answer that must succeed; raises :class:`ApiError` otherwise."""
        answer = await call
        if not answer.ok:
            raise ApiError(answer)
        return answer.body
