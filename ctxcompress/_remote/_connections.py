"""Clients of one connection each, lent to one request in flight at a time.

httpcore's connection pool re-scans every connection for every waiting request on each
request event: at concurrency 16 that bookkeeping was most of the async client's CPU time
and a third of the sync client's (profiled with 80 requests of 150 pages). Lending each
request in flight a client that holds a single kept-alive connection gives the same reuse
of connections, across requests and across calls, without the scan.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Connections"]

ClientT = TypeVar("ClientT")


class Connections(Generic[ClientT]):
    """A free list of single-connection clients, made on demand by ``make``.

    At most as many clients exist as requests were ever in flight at once, so the caller's
    own bound on requests in flight bounds the connections too.
    """

    def __init__(self, make: Callable[[], ClientT]) -> None:
        self._make = make
        self._idle: list[ClientT] = []
        self._made: list[ClientT] = []
        self._lock = threading.Lock()  # the sync shell lends from many threads

    def take(self) -> ClientT:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        client = self._make()
        with self._lock:
            self._made.append(client)
        return client

    def give_back(self, client: ClientT) -> None:
        with self._lock:
            self._idle.append(client)

    def drain(self) -> list[ClientT]:
        """Every client made so far, for closing; the free list starts over empty."""
        with self._lock:
            made, self._made, self._idle = self._made, [], []
        return made
