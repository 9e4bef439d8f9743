"""Transports of one connection each, lent to one request in flight at a time.

httpcore's connection pool re-scans every connection for every waiting request on each
request event: at concurrency 16 that bookkeeping was most of the async transport's CPU time
and a third of the sync transport's (profiled with 80 requests of 150 pages). Lending each
request in flight a transport that holds a single kept-alive connection gives the same
reuse of connections, across requests and across calls, without the scan (and without a
pool at all for ``_http11``'s connections).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Connections"]

TransportT = TypeVar("TransportT")


class Connections(Generic[TransportT]):
    """A free list of single-connection transports, made on demand by ``make``.

    At most as many transports exist as requests were ever in flight at once, so the caller's
    own bound on requests in flight bounds the connections too.
    """

    def __init__(self, make: Callable[[], TransportT]) -> None:
        self._make = make
        self._idle: list[TransportT] = []
        self._made: list[TransportT] = []
        self._lock = threading.Lock()  # the sync shell lends from many threads

    def take(self) -> TransportT:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        transport = self._make()
        with self._lock:
            self._made.append(transport)
        return transport

    def give_back(self, transport: TransportT) -> None:
        with self._lock:
            self._idle.append(transport)

    def drain(self) -> list[TransportT]:
        """Every transport made so far, for closing; the free list starts over empty."""
        with self._lock:
            made, self._made, self._idle = self._made, [], []
        return made
