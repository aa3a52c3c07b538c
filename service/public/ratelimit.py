"""A per-address rate limit for the routes anyone may call without logging in.

A token bucket per client address: ``per_minute`` requests a minute, refilled
continuously, with bursts up to the same number. A refusal says when the next
request would be admitted (``Retry-After``, whole seconds). Refusals are counted
in ``/metrics`` and logged (they are unauthenticated noise, not audit events).
The table of addresses is bounded: idle entries are dropped when it grows.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from prometheus_client import Counter

from service.observability.metrics import REGISTRY

RATE_LIMITED = Counter("creditgate_rate_limited_total", "Requests refused by a rate limit", ["route"],
                       registry=REGISTRY)
_MAX_ADDRESSES = 10_000


class RateLimiter:
    """Token buckets by client address; thread-safe."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self._capacity = float(per_minute)
        self._rate = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def admit(self, address: str) -> int | None:
        """None if a request from ``address`` may go ahead now (and take a token), else the
        seconds to wait before one will."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(address, (self._capacity, now))
            tokens = min(self._capacity, tokens + (now - last) * self._rate)
            if tokens >= 1.0:
                self._buckets[address] = (tokens - 1.0, now)
                return None
            self._buckets[address] = (tokens, now)
            if len(self._buckets) > _MAX_ADDRESSES:
                self._forget_idle(now)
            return max(1, math.ceil((1.0 - tokens) / self._rate))

    def _forget_idle(self, now: float) -> None:
        full = self._capacity / self._rate  # seconds for an empty bucket to refill
        for key, (_, last) in list(self._buckets.items()):
            if now - last > full:
                del self._buckets[key]
