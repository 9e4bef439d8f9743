"""Running the app under uvicorn, with ctxcompress's own handling of SIGTERM and SIGINT.

uvicorn's handler stops at once and re-raises the signal once it is done (so the process
would die of SIGTERM rather than exit 0). Here the first signal starts draining: the state
turns 503 for new work and ``/health``, everything accepted is answered (queued batches
included), then uvicorn's graceful shutdown runs and the process exits 0. A second signal
stops without waiting.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn

from ._app import create_app
from ._config import ServeConfig
from ._state import ServerState

__all__ = ["serve"]

logger = logging.getLogger("ctxcompress.serve")


class _DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, state: ServerState) -> None:
        super().__init__(config)
        self.state = state

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.state.draining or self.should_exit:
            logger.warning("second %s: stopping without waiting", signal.Signals(sig).name)
            self.should_exit = True
            self.force_exit = True
            return
        self.state.begin_drain()

    async def on_tick(self, counter: int) -> bool:
        if self.state.phase == "failed" or (self.state.draining and self.state.idle()):
            self.should_exit = True
        return await super().on_tick(counter)


def serve(config: ServeConfig, load: Callable[[], Any]) -> None:
    """Serve the scorer built by ``load`` until SIGTERM/SIGINT; raises the load error if
    the scorer could not be built (after the server has stopped)."""
    logging.getLogger("ctxcompress.serve").setLevel(logging.INFO)
    state = ServerState(config, load)
    uv_config = uvicorn.Config(
        create_app(state),
        host=config.host,
        port=config.port,
        lifespan="on",
        access_log=config.access_log,
        log_level="info",
        # Draining waits for every accepted request, however long its batch takes.
        timeout_graceful_shutdown=None,
    )
    _DrainingServer(uv_config, state).run()
    if state.load_error is not None:
        raise state.load_error
