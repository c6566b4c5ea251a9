"""Prometheus metrics: requests and latency per route, and database pool usage. One registry per app, so
several apps (tests) in one process do not collide."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import asyncpg
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class _PoolCollector(Collector):
    def __init__(self) -> None:
        self.pool: asyncpg.Pool | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.pool is None:
            return
        size = GaugeMetricFamily(
            "citypay_db_pool_connections", "Connections held by the pool", labels=["state"]
        )
        total, idle = self.pool.get_size(), self.pool.get_idle_size()
        size.add_metric(["in_use"], total - idle)
        size.add_metric(["idle"], idle)
        yield size
        yield GaugeMetricFamily("citypay_db_pool_max", "Pool maximum size", value=self.pool.get_max_size())


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "citypay_http_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "citypay_http_request_duration_seconds",
            "HTTP request latency by route",
            ["method", "route"],
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        # Payment requests written in groups (payments/creation_groups.py).
        self.creation_group_size = Histogram(
            "citypay_creation_group_size",
            "Payment requests on cached fee terms written per statement",
            buckets=(1, 2, 4, 8, 16, 32, 64),
            registry=self.registry,
        )
        self.creation_group_failed = Counter(
            "citypay_creation_group_failed",
            "Groups of payment requests whose statement failed (each then created alone, on the full path)",
            registry=self.registry,
        )
        # Group commit of bank callbacks (payments/group_commit.py).
        self.callback_group_size = Histogram(
            "citypay_callback_group_size",
            "Verified bank credits settled per group transaction",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=self.registry,
        )
        self.callback_group_seconds = Histogram(
            "citypay_callback_group_duration_seconds",
            "Time a committed group took, from asking for its connection to its COMMIT",
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.callback_group_together = Histogram(
            "citypay_callback_group_together",
            "Credits of a group booked together by set-based statements (its plain credits); the rest of the "
            "group settles one by one",
            buckets=(2, 4, 8, 16, 32, 64, 128),
            registry=self.registry,
        )
        self.callback_group_set_failed = Counter(
            "citypay_callback_group_set_failed",
            "Groups whose set-based statements failed (rolled back to their savepoint; settled one by one)",
            registry=self.registry,
        )
        self.callback_group_alone = Counter(
            "citypay_callback_group_alone",
            "Credits of a group settled alone instead: 'poison' (it failed inside the group), "
            "'group_failed' (the group's transaction or its commit failed)",
            ["reason"],
            registry=self.registry,
        )
        self._pool = _PoolCollector()
        self.registry.register(self._pool)
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def watch_pool(self, pool: asyncpg.Pool) -> None:
        self._pool.pool = pool

    def observe_request(self, method: str, route: str, status: int, elapsed_s: float) -> None:
        """Count one request and its latency. The labelled children are kept per label set: the client's
        `labels()` takes a lock and builds the key on every call (scripts/bench_request_overhead.py)."""
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:
            children = (self.requests.labels(method, route, str(status)), self.latency.labels(method, route))
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(elapsed_s)
