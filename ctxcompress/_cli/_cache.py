"""``ctxcompress cache stats|clear FILE``: look at or empty an on-disk score cache."""

from __future__ import annotations

import argparse
from pathlib import Path

from .._cache import SQLiteCache
from ._common import UsageError

__all__ = ["add_parser"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("cache", help="show or clear an on-disk cache made with --cache")
    p.add_argument("action", choices=["stats", "clear"])
    p.add_argument("file", help="the SQLite cache file")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"no cache file at {path}")
    cache = SQLiteCache(path)
    try:
        if args.action == "clear":
            before = cache.stats().entries
            cache.clear()
            print(f"cleared {before} entries from {path}")
        else:
            print(f"{path}: {cache.stats().entries} entries")
    finally:
        cache.close()
    return 0
