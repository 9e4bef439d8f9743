"""Keep other libraries' chatter out of the user's terminal while ctxcompress builds or
exports a model.

onnxruntime's quantiser and optimiser log warnings through the root logger (or their own
loggers) that are advice for people writing graphs, not for our users. During a build or
an export they are sent to the ``ctxcompress`` logger at DEBUG instead; ctxcompress says
what it is doing through its own logger. This module imports no model library: the torch
export adds transformers' progress bars through ``quietly_with`` (see ``_export``), so the
torch-free builder and the runtime never import transformers.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

__all__ = ["quiet_third_party", "quietly", "quietly_with"]

logger = logging.getLogger("ctxcompress")

_F = TypeVar("_F", bound=Callable[..., Any])
_NOISY_LOGGERS = ("onnxruntime", "onnx", "transformers", "torch.onnx")
_NOISY_PATHS = tuple(f"{os.sep}{name}{os.sep}" for name in ("onnxruntime", "transformers", "onnx"))


class _Demote(logging.Filter):
    """Drops a third-party record from where it was headed and logs it at DEBUG on ours."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith(_NOISY_LOGGERS) or any(
            p in record.pathname for p in _NOISY_PATHS
        ):
            logger.debug("%s: %s", record.name, record.getMessage())
            return False
        return True


@contextlib.contextmanager
def quiet_third_party(
    *also: Callable[[], Callable[[], None]],
) -> Iterator[None]:
    """Third-party log records demoted to our DEBUG for the block. Each of ``also`` silences
    one more library and returns what restores it (the torch export passes transformers';
    this module never imports it, so the torch-free builder stays torch-free)."""
    demote = _Demote()
    root = logging.getLogger()
    # Records logged on the root logger itself (logging.warning(...)) meet its filters;
    # records of child loggers meet only the handlers', so both get the filter.
    targets: list[logging.Filterer] = [root, *root.handlers]
    for target in targets:
        target.addFilter(demote)
    saved = {name: logging.getLogger(name).level for name in _NOISY_LOGGERS}
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    restores = [silence() for silence in also]
    try:
        yield
    finally:
        for restore in reversed(restores):
            restore()
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
        for target in targets:
            target.removeFilter(demote)


def quietly(function: _F) -> _F:
    """``function`` run inside :func:`quiet_third_party`."""
    return quietly_with()(function)


def quietly_with(*also: Callable[[], Callable[[], None]]) -> Callable[[_F], _F]:
    """A decorator running its function inside ``quiet_third_party(*also)``."""

    def decorate(function: _F) -> _F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with quiet_third_party(*also):
                return function(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
