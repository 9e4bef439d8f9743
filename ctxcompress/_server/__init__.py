"""``ctxcompress serve``: any scorer as a rerank and compression API over HTTP.

One process loads one scorer and speaks several wire formats on top of it (ZeroEntropy
``/v1/models/rerank``, Cohere ``/v2/rerank``, TEI ``/rerank`` and ctxcompress's own
``/v1/compress``), batching pairs from concurrent requests into one scorer call at a time.
Built on starlette and uvicorn, with prometheus_client for ``/metrics`` (extra ``serve``).

Nothing in the core imports this package; the CLI imports it only for ``serve``.
"""

from __future__ import annotations

from .. import MissingDependencyError

# The extra's packages are checked here, once, so every module of the package can import
# them plainly; the error names the extra to install.
for _package, _module in (
    ("starlette", "starlette"),
    ("uvicorn", "uvicorn"),
    ("prometheus_client", "prometheus_client"),
):
    try:
        __import__(_module)
    except ImportError as _exc:
        raise MissingDependencyError(_package, "serve", "ctxcompress serve") from _exc

from ._app import create_app  # noqa: E402
from ._config import ServeConfig  # noqa: E402
from ._run import serve  # noqa: E402
from ._state import ServerState  # noqa: E402

__all__ = ["ServeConfig", "ServerState", "create_app", "serve"]
