"""The ``ctxcompress`` command line.

Errors are one line on stderr: exit code 2 for a command line that cannot be acted on,
1 for a failure while acting on it (an unexpected exception too: one line naming its type).
Tracebacks are shown only with ``--debug`` or CTXCOMPRESS_DEBUG=1.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from typing import NoReturn, TextIO

from .._exceptions import CtxCompressError
from .._version import __version__
from . import _batch, _cache, _compress, _eval, _export, _pull, _score, _serve
from ._common import UsageError

__all__ = ["main"]


class _OneLineParser(argparse.ArgumentParser):
    """argparse's errors in one line (its usage block is what ``--help`` is for)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = _OneLineParser(
        prog="ctxcompress",
        description="Decide what belongs in an LLM's context: score pages against criteria, "
        "keep what matters.",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the traceback of an error (also CTXCOMPRESS_DEBUG=1)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _compress.add_parser(sub)
    _batch.add_parser(sub)
    _score.add_parsers(sub)
    _eval.add_parsers(sub)
    _export.add_parser(sub)
    _pull.add_parser(sub)
    _cache.add_parser(sub)
    _serve.add_parser(sub)
    version = sub.add_parser("version", help="print the version")
    version.set_defaults(run=lambda _args: print(f"ctxcompress {__version__}") or 0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help(sys.stderr)
        return 2
    debug = args.debug or os.environ.get("CTXCOMPRESS_DEBUG") == "1"
    logging.basicConfig(level=logging.WARNING, format="ctxcompress: %(levelname)s: %(message)s")
    try:
        with warnings.catch_warnings():
            # Warnings (a long document that is one page, a provider fallback) as one line
            # each, not with the source line that raised them; restored on return.
            warnings.showwarning = _show_warning
            code: int = args.run(args)
        return code
    except UsageError as exc:
        return _fail(parser, str(exc), 2, debug)
    except CtxCompressError as exc:
        return _fail(parser, str(exc), 1, debug)
    except OSError as exc:
        return _fail(parser, f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), 1, debug)
    except KeyboardInterrupt:
        return _fail(parser, "interrupted", 130, debug)
    except Exception as exc:
        # A bug or a library's own error that no layer turned into ours: still one line,
        # naming what it was, and the way to see more.
        message = f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for details)"
        return _fail(parser, message, 1, debug)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    print(f"ctxcompress: warning: {message}", file=file or sys.stderr)


def _fail(parser: argparse.ArgumentParser, message: str, code: int, debug: bool) -> int:
    if debug:
        raise
    first_line = message.strip().splitlines()[0] if message.strip() else "failed"
    print(f"{parser.prog}: error: {first_line}", file=sys.stderr)
    return code
