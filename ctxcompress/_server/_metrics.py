"""Prometheus metrics of one server, in a registry of its own (not the process global),
so that several apps in one process (tests) do not collide."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "ctxcompress_requests",
            "HTTP requests answered, by route and status code",
            ["route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "ctxcompress_request_duration_seconds",
            "Time from a request's arrival to its answer, by route",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "ctxcompress_errors",
            "Error answers, by route and kind (invalid_request, overloaded, scorer_failed...)",
            ["route", "kind"],
            registry=r,
        )
        self.in_flight = Gauge(
            "ctxcompress_requests_in_flight", "Scoring requests being handled", registry=r
        )
        self.queue_pairs = Gauge(
            "ctxcompress_queue_pairs",
            "(query, document) pairs admitted and not yet scored",
            registry=r,
        )
        self.batch_pairs = Histogram(
            "ctxcompress_batch_pairs",
            "Pairs per batch sent to the scorer",
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.batch_seconds = Histogram(
            "ctxcompress_batch_duration_seconds",
            "Time the scorer took per batch",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.pairs_scored = Counter(
            "ctxcompress_pairs_scored", "(query, document) pairs scored", registry=r
        )
        self.scorer_failures = Counter(
            "ctxcompress_scorer_failures", "Scorer calls that raised", registry=r
        )
        self.ready = Gauge(
            "ctxcompress_ready", "1 when the model is loaded and not draining", registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
