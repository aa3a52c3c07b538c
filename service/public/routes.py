"""``GET /v1/public/serious-list``: the public serious dishonesty list, for anyone, no login.

Paged (``page``, ``per_page`` up to 50), filtered by ``item`` and by ``name_prefix``
(the first characters of a masked name, at most 4) and nothing else: any other
query parameter is refused, so nobody can look a person up by full name or ID
number. Each client address may fetch ``CREDITGATE_PUBLIC_LIST_RATE`` pages a
minute; beyond that the answer is ``429 rate_limited`` with ``Retry-After``.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from litestar import Request, get
from litestar.params import QueryParameter

from service.db.types import china_today
from service.http.context import current_request_id
from service.http.problems import ProblemError
from service.observability.logging import get_logger
from service.public.listing import MAX_PER_PAGE, MAX_PREFIX, listable_items, public_page
from service.public.ratelimit import RATE_LIMITED, RateLimiter
from service.remedies.clock import now_of
from service.runtime import Services

log = get_logger("creditgate.public")
_ALLOWED = frozenset({"page", "per_page", "item", "name_prefix"})
_LIMITER_KEY = "public_rate_limiter"
_lock = threading.Lock()


def _limiter(request: Request[Any, Any, Any]) -> RateLimiter:
    state = request.app.state
    with _lock:
        limiter = state.get(_LIMITER_KEY)
        if limiter is None:
            services: Services = state["services"]
            limiter = state[_LIMITER_KEY] = RateLimiter(services.settings.public_list_per_minute)
    return limiter


def _prefix(value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if not text or len(text) > MAX_PREFIX or not text.isprintable():
        raise ProblemError(400, "name_prefix_invalid",
                           f"name_prefix is 1 to {MAX_PREFIX} characters of a masked name")
    return text


@get("/v1/public/serious-list", sync_to_thread=True, tags=["public"],
     summary="The public serious dishonesty list (masked, paged; no login)")
def serious_list(
    request: Request[Any, Any, Any],
    page: Annotated[int, QueryParameter(ge=1, le=10_000)] = 1,
    per_page: Annotated[int, QueryParameter(ge=1, le=MAX_PER_PAGE)] = 20,
    item: Annotated[str | None, QueryParameter(max_length=64)] = None,
    name_prefix: Annotated[str | None, QueryParameter(max_length=16)] = None,
) -> dict[str, Any]:
    """Records on the list today, newest decision first: masked name and ID number, item,
    deciding authority, decision date, last day listed, and whether it is disputed."""
    address = request.client.host if request.client else "unknown"
    wait = _limiter(request).admit(address)
    if wait is not None:
        RATE_LIMITED.labels("/v1/public/serious-list").inc()
        log.info("rate_limited", route="/v1/public/serious-list", client=address, retry_after=wait)
        raise ProblemError(429, "rate_limited", "too many requests from this address; try again later",
                           headers={"Retry-After": str(wait)})
    unknown = sorted(set(request.query_params) - _ALLOWED)
    if unknown:
        raise ProblemError(400, "unknown_parameter", "filter by item and name_prefix only",
                           errors=[{"field": name[:32], "source": "query", "message": "not accepted"}
                                   for name in unknown[:5]])
    if item is not None and item not in listable_items():
        raise ProblemError(400, "item_not_listed", "item must be a serious list item that is published")
    services: Services = request.app.state["services"]
    return public_page(services, china_today(now_of(request)), item_code=item, name_prefix=_prefix(name_prefix),
                       page=page, per_page=per_page, request_id=current_request_id())


PUBLIC_HANDLERS = [serious_list]
