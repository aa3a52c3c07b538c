"""Prometheus metrics. Per process: with several workers, scrape each or aggregate upstream."""

from __future__ import annotations

from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram

M = TypeVar("M", Counter, Histogram)

# Methods a route can be counted under; anything else a client invents is counted
# as OTHER, so that it cannot grow the metric's label sets without bound.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "creditgate_http_requests_total", "HTTP requests by route and status", ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "creditgate_http_request_seconds", "HTTP request latency by route", ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    registry=REGISTRY,
)
AUDIT_APPENDS = Counter("creditgate_audit_appends_total", "Audit entries committed", registry=REGISTRY)
AUDIT_FAILURES = Counter("creditgate_audit_commit_failures_total", "Audit batches that failed", registry=REGISTRY)
AUDIT_BATCH_SIZE = Histogram(
    "creditgate_audit_batch_entries", "Entries per audit commit", buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
    registry=REGISTRY,
)
AUDIT_COMMIT_SECONDS = Histogram(
    "creditgate_audit_commit_seconds", "Time to write and durably commit one audit batch",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
    registry=REGISTRY,
)
GATE_DECISIONS = Counter(
    "creditgate_gate_decisions_total", "Access gate decisions", ["decision", "reason"], registry=REGISTRY
)


_CHILDREN: dict[tuple[int, tuple[str, ...]], Any] = {}


def child(metric: M, *labels: str) -> M:
    """``metric.labels(*labels)``, remembered: the library locks and validates on every
    call, which the per-request metrics pay several times. Label sets are bounded
    (route templates, fixed reason codes), and children are never removed."""
    key = (id(metric), labels)
    found = _CHILDREN.get(key)
    if found is None:
        found = _CHILDREN[key] = metric.labels(*labels)
    return found
LOGIN_THROTTLED = Counter(
    "creditgate_login_throttled_total", "Login attempts refused unchecked because their source is blocked",
    ["scope"], registry=REGISTRY,
)
UNAUTHENTICATED_REFUSALS = Counter(
    "creditgate_unauthenticated_refusals_total",
    "401 answers (no, invalid or expired credentials, unknown clients): logged, not audited",
    ["route", "code"], registry=REGISTRY,
)
