"""Caches of pair scores and page embeddings: an in-memory LRU and an on-disk SQLite store.

Both map a string key to bytes. Keys are SHA-256 digests of every input that determines
the value (see :func:`cache_key`): the model's fingerprint, the instruction, the criterion
text and the page text itself (hashed), so a cache can never hand back a score for
different text or a different model. Both are safe to share between threads; the SQLite
cache is also safe to share between processes (WAL journal, one transaction per write).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from ._exceptions import InvalidInputError
from ._pickling import RebuiltFromArguments

__all__ = [
    "Cache",
    "CacheStats",
    "MemoryCache",
    "SQLiteCache",
    "cache_key",
    "text_digest",
]


def text_digest(text: str) -> str:
    """SHA-256 of a text (UTF-8), hex."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def cache_key(*parts: str | None) -> str:
    """One key for an ordered tuple of parts. Each part is length-prefixed before hashing,
    so ("ab", "c") and ("a", "bc") differ, and None differs from ""."""
    h = hashlib.sha256()
    for part in parts:
        if part is None:
            h.update(b"\xff")
            continue
        data = part.encode("utf-8", "surrogatepass")
        h.update(struct.pack(">Q", len(data)))
        h.update(data)
    return h.hexdigest()


@dataclass(frozen=True)
class CacheStats:
    """What ``Cache.stats()`` reports: lookups that hit, lookups that missed, entries held.

    Guide with examples: [Choosing a scorer][guide-scorers].
    """

    hits: int
    misses: int
    entries: int


@runtime_checkable
class Cache(Protocol):
    """What the scorers need from a cache.

    Guide with examples: [Choosing a scorer][guide-scorers].
    """

    def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        """The values found, by key; absent keys are misses."""
        ...

    def put_many(self, items: Mapping[str, bytes]) -> None: ...

    def clear(self) -> None: ...

    def stats(self) -> CacheStats: ...


def _check_limit(max_entries: int) -> None:
    if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
        raise InvalidInputError(f"max_entries must be an int >= 1, got {max_entries!r}")


class MemoryCache(RebuiltFromArguments):
    """A thread-safe least-recently-used cache holding at most ``max_entries`` values and,
    with ``max_bytes``, at most that many bytes of values (for values whose size varies a
    lot, such as a page's token embeddings: a long page's are a hundred times a short's).

    A copy (``copy.deepcopy``, ``pickle``) is a new, empty cache of the same size.

    Guide with examples: [Choosing a scorer][guide-scorers].
    """

    def __init__(self, max_entries: int = 100_000, *, max_bytes: int | None = None) -> None:
        _check_limit(max_entries)
        if max_bytes is not None and (
            isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1
        ):
            raise InvalidInputError(f"max_bytes must be an int >= 1, got {max_bytes!r}")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._bytes = 0
        self._data: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        with self._lock:
            for key in keys:
                value = self._data.get(key)
                if value is None:
                    self._misses += 1
                    continue
                self._data.move_to_end(key)
                found[key] = value
                self._hits += 1
        return found

    def put_many(self, items: Mapping[str, bytes]) -> None:
        with self._lock:
            for key, value in items.items():
                old = self._data.get(key)
                self._bytes += len(value) - (len(old) if old is not None else 0)
                self._data[key] = value
                self._data.move_to_end(key)
            while len(self._data) > self.max_entries or (
                self.max_bytes is not None and self._bytes > self.max_bytes and self._data
            ):
                _, evicted = self._data.popitem(last=False)
                self._bytes -= len(evicted)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0
            self._hits = self._misses = 0

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses, len(self._data))

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        limit = f", max_bytes={self.max_bytes}" if self.max_bytes is not None else ""
        return f"MemoryCache(max_entries={self.max_entries}{limit}, entries={len(self._data)})"


class SQLiteCache(RebuiltFromArguments):
    """A cache in one SQLite file, shared safely by threads and processes.

    When it grows past ``max_entries`` the least recently used tenth is evicted. A copy
    (``copy.deepcopy``, ``pickle``) opens the same file again.

    Guide with examples: [Choosing a scorer][guide-scorers].
    """

    def __init__(self, path: str | os.PathLike[str], max_entries: int = 1_000_000) -> None:
        _check_limit(max_entries)
        self.path = Path(path).expanduser()
        if self.path.is_dir():
            raise InvalidInputError(f"cache {self.path} is a directory; give a file path")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InvalidInputError(
                f"cannot create the cache's folder {self.path.parent}: {exc.strerror or exc}"
            ) from exc
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0
        try:
            self._db = self._open()
        except sqlite3.Error as exc:
            raise InvalidInputError(
                f"cache {self.path} is not a ctxcompress cache (an SQLite file made by "
                f"--cache / SQLiteCache): {exc}; give another path or delete it"
            ) from exc

    def _open(self) -> sqlite3.Connection:
        # One connection guarded by a lock: sqlite3 objects must not be used concurrently.
        db = sqlite3.connect(
            str(self.path), timeout=30.0, check_same_thread=False, isolation_level=None
        )
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS entries "
                "(key TEXT PRIMARY KEY, value BLOB NOT NULL, used REAL NOT NULL)"
            )
            db.execute("CREATE INDEX IF NOT EXISTS entries_used ON entries(used)")
            columns = {row[1] for row in db.execute("PRAGMA table_info(entries)")}
            if not {"key", "value", "used"} <= columns:
                raise sqlite3.DatabaseError(
                    f"its 'entries' table has columns {sorted(columns)}, not key, value, used"
                )
        except BaseException:
            db.close()
            raise
        return db

    def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            for chunk in _chunks(unique, 500):
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, value FROM entries WHERE key IN ({marks})", chunk
                ).fetchall()
                found.update((k, bytes(v)) for k, v in rows)
            if found:
                now = time.time()
                self._db.executemany(
                    "UPDATE entries SET used = ? WHERE key = ?", [(now, k) for k in found]
                )
            self._hits += sum(1 for k in keys if k in found)
            self._misses += sum(1 for k in keys if k not in found)
        return found

    def put_many(self, items: Mapping[str, bytes]) -> None:
        if not items:
            return
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT OR REPLACE INTO entries (key, value, used) VALUES (?, ?, ?)",
                    [(k, sqlite3.Binary(v), now) for k, v in items.items()],
                )
                (count,) = self._db.execute("SELECT COUNT(*) FROM entries").fetchone()
                if count > self.max_entries:
                    excess = count - self.max_entries + self.max_entries // 10
                    self._db.execute(
                        "DELETE FROM entries WHERE key IN "
                        "(SELECT key FROM entries ORDER BY used LIMIT ?)",
                        (excess,),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def clear(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM entries")
            self._hits = self._misses = 0

    def stats(self) -> CacheStats:
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM entries").fetchone()
            return CacheStats(self._hits, self._misses, int(count))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __repr__(self) -> str:
        return f"SQLiteCache(path={str(self.path)!r}, max_entries={self.max_entries})"


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
