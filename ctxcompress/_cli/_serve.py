"""``ctxcompress serve``: the scorer as a rerank and compression API (extra ``serve``)."""

from __future__ import annotations

import argparse
import os

from pydantic import SecretStr

from .._exceptions import CtxCompressError, InvalidInputError
from ._common import UsageError, add_scorer_option, scorer_from_args

__all__ = ["add_parser"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="serve a scorer over HTTP: ZeroEntropy, Cohere v2 and TEI rerank APIs, /v1/compress",
        description="Serve a scorer over HTTP (extra 'serve'). Endpoints: POST /v1/models/rerank "
        "(ZeroEntropy), /v2/rerank (Cohere v2), /rerank (TEI), /v1/compress; GET /health, /info, "
        "/metrics. SIGTERM drains: everything accepted is answered, then the server exits 0.",
    )
    add_scorer_option(p)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument(
        "--api-key-env",
        metavar="NAME",
        help="require 'Authorization: Bearer <key>' on every request but /health, the key "
        "read from this environment variable",
    )
    p.add_argument(
        "--max-request-bytes",
        type=int,
        default=5_000_000,
        metavar="N",
        help="the largest request body accepted (a larger one is answered 413)",
    )
    p.add_argument("--max-documents", type=int, default=1000, metavar="N", help="per request")
    p.add_argument(
        "--max-batch-pairs", type=int, default=256, metavar="N", help="pairs per scorer call"
    )
    p.add_argument(
        "--body-timeout-s",
        type=float,
        default=30.0,
        metavar="S",
        help="how long a request body may take to arrive before the request is answered 408",
    )
    p.add_argument(
        "--max-batch-wait-ms",
        type=float,
        default=5.0,
        metavar="N",
        help="how long a batch waits to fill (0: batch only what is already queued)",
    )
    p.add_argument(
        "--max-queue-pairs",
        type=int,
        default=20_000,
        metavar="N",
        help="pairs queued before requests get 429",
    )
    p.add_argument("--access-log", action="store_true", help="log every request")
    p.set_defaults(run=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    from .._server import ServeConfig, serve  # the extra's packages, only for this command

    api_key = None
    if args.api_key_env:
        value = os.environ.get(args.api_key_env, "")
        if not value.strip():
            raise UsageError(f"--api-key-env {args.api_key_env}: that variable is not set or empty")
        api_key = SecretStr(value.strip())
    try:
        config = ServeConfig(
            host=args.host,
            port=args.port,
            api_key=api_key,
            max_request_bytes=args.max_request_bytes,
            max_documents=args.max_documents,
            max_batch_pairs=args.max_batch_pairs,
            max_batch_wait_ms=args.max_batch_wait_ms,
            max_queue_pairs=args.max_queue_pairs,
            access_log=args.access_log,
            body_timeout_s=args.body_timeout_s,
        )
    except InvalidInputError as exc:
        raise UsageError(str(exc)) from exc
    try:
        serve(config, lambda: scorer_from_args(args))
    except (UsageError, CtxCompressError, OSError):
        raise
    except Exception as exc:  # e.g. onnxruntime refusing a model: one line, exit 1
        raise CtxCompressError(f"could not load scorer {args.scorer!r}: {exc}") from exc
    return 0
