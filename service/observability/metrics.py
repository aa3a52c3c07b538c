"""Prometheus metrics. Per process: with several workers, scrape each or aggregate upstream."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

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
