"""The ASGI app: routes on starlette, the model's life in its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ._routes import Handler, RerankWire, Routes, StatusRoute
from ._state import ServerState
from ._wire_cohere import CohereWire
from ._wire_tei import TEIWire
from ._wire_zeroentropy import ZeroEntropyWire

__all__ = ["create_app"]


def create_app(state: ServerState) -> Starlette:
    """The app serving ``state``'s scorer; loading starts with the app's lifespan."""
    routes = Routes(state)
    own = routes.own

    def rerank(wire: RerankWire) -> Handler:
        async def handle(request: Request) -> Response:
            return await routes.rerank(request, wire)

        return routes.endpoint(wire, handle, scoring=True)

    def status(route: str, handler: Handler, *, auth: bool = True) -> Route:
        wrapped = routes.endpoint(StatusRoute(route, own), handler, scoring=False, auth=auth)
        return Route(route, wrapped, methods=["GET"])

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await state.start()
        try:
            yield
        finally:
            await state.close()

    return Starlette(
        routes=[
            Route(ZeroEntropyWire.route, rerank(ZeroEntropyWire()), methods=["POST"]),
            Route(CohereWire.route, rerank(CohereWire()), methods=["POST"]),
            Route(TEIWire.route, rerank(TEIWire()), methods=["POST"]),
            Route(own.route, routes.endpoint(own, routes.compress, scoring=True), methods=["POST"]),
            # Probes cannot always send a key, and the answer reveals nothing.
            status("/health", routes.health, auth=False),
            status("/info", routes.info),
            status("/metrics", routes.metrics),
        ],
        lifespan=lifespan,
    )
