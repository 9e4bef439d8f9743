"""Prometheus metrics of one server, in a registry of its own (not the process global),
so that several apps in one process (tests) do not collide."""

from __future__ import annotations

from typing import TypedDict

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


class _Mine(TypedDict):
    namespace: str
    registry: CollectorRegistry


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # Every metric is ctxcompress_<name>, in this server's own registry.
        mine = _Mine(namespace="ctxcompress", registry=self.registry)
        self.requests = Counter(
            "requests",
            "HTTP requests answered, by route and status code",
            ["route", "status"],
            **mine,
        )
        self.latency = Histogram(
            "request_duration_seconds",
            "Time from a request's arrival to its answer, by route",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            **mine,
        )
        self.errors = Counter(
            "errors",
            "Error answers, by route and kind (invalid_request, overloaded, scorer_failed...)",
            ["route", "kind"],
            **mine,
        )
        self.in_flight = Gauge("requests_in_flight", "Scoring requests being handled", **mine)
        self.queue_pairs = Gauge(
            "queue_pairs", "(query, document) pairs admitted and not yet scored", **mine
        )
        self.batch_pairs = Histogram(
            "batch_pairs", "Pairs per batch sent to the scorer", buckets=_BATCH_BUCKETS, **mine
        )
        self.batch_seconds = Histogram(
            "batch_duration_seconds",
            "Time the scorer took per batch",
            buckets=_LATENCY_BUCKETS,
            **mine,
        )
        self.pairs_scored = Counter("pairs_scored", "(query, document) pairs scored", **mine)
        self.scorer_failures = Counter("scorer_failures", "Scorer calls that raised", **mine)
        self.ready = Gauge("ready", "1 when the model is loaded and not draining", **mine)

    def render(self) -> bytes:
        return generate_latest(self.registry)
