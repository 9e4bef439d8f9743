"""One server's life: loading → ready → draining (or failed), and what it holds meanwhile.

The model is loaded and warmed in the scorer thread after the socket is bound, so
``/health`` can say 503 while loading; a load failure stops the server with that error.
SIGTERM turns the state to draining: new scoring requests get 503, everything already
accepted is answered, and the server exits once nothing is in flight.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from .. import Criterion
from ._batcher import Batcher
from ._config import ServeConfig
from ._metrics import Metrics

__all__ = ["Phase", "ServerState"]

logger = logging.getLogger("ctxcompress.serve")

Phase = Literal["loading", "ready", "draining", "failed"]

_WARMUP = Criterion(id="warmup", text="Which page is about warming up the model?")
_WARMUP_PAGES = ["A short page to warm up the model.", "Another page, about something else."]


class ServerState:
    """What the handlers share: settings, metrics, the scorer and its batcher, the phase."""

    def __init__(self, config: ServeConfig, load: Callable[[], Any]) -> None:
        self.config = config
        self.metrics = Metrics()
        self.phase: Phase = "loading"
        self.load_error: BaseException | None = None
        self.scorer: Any = None
        self.batcher: Batcher | None = None
        self.in_flight = 0  # scoring requests being handled
        self._load = load
        # One thread runs the model: one batch at a time, never on the event loop.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ctxcompress-scorer")
        self._task: asyncio.Task[None] | None = None

    @property
    def draining(self) -> bool:
        return self.phase == "draining"

    def idle(self) -> bool:
        return self.in_flight == 0 and (self.batcher is None or self.batcher.queued_pairs == 0)

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._load_and_warm())

    async def _load_and_warm(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            scorer = await loop.run_in_executor(self.executor, self._load)
            # The first call pays for lazy setup (sessions, caches, thread pools); do it
            # before /health says 200.
            await loop.run_in_executor(
                self.executor, scorer.score_batch, [_WARMUP], list(_WARMUP_PAGES)
            )
        except BaseException as exc:
            self.load_error = exc
            self.phase = "failed"
            logger.error("could not load the scorer: %s", exc)
            return
        self.scorer = scorer
        self.batcher = Batcher(
            scorer,
            self.executor,
            self.metrics,
            max_batch_pairs=self.config.max_batch_pairs,
            max_batch_wait=self.config.max_batch_wait_ms / 1000,
            max_queue_pairs=self.config.max_queue_pairs,
        )
        self.batcher.start()
        if self.phase == "loading":
            self.phase = "ready"
            self.metrics.ready.set(1)
        logger.info(
            "scorer %s ready (%s)",
            getattr(scorer, "name", "?"),
            "pointwise: pairs batched across requests"
            if self.batcher.pointwise
            else "scored per request",
        )

    def begin_drain(self) -> None:
        if self.phase in ("loading", "ready"):
            logger.info("draining: answering %d request(s) in flight, then exiting", self.in_flight)
            self.phase = "draining"
            self.metrics.ready.set(0)

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self.batcher is not None:
            await self.batcher.close()
        close = getattr(self.scorer, "close", None)
        if callable(close):
            close()
        self.executor.shutdown(wait=False, cancel_futures=True)
