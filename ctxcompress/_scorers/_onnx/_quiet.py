"""Keep other libraries' chatter out of the user's terminal while ctxcompress exports.

transformers draws a "Loading weights" progress bar for every ``from_pretrained``, and
onnxruntime's quantiser and optimiser log warnings through the root logger (or their own
loggers) that are advice for people writing graphs, not for our users. During an export
they are sent to the ``ctxcompress`` logger at DEBUG instead; ctxcompress says what it is
doing through its own logger.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

__all__ = ["quiet_third_party", "quietly"]

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
def quiet_third_party() -> Iterator[None]:
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
    restore_transformers = _silence_transformers()
    try:
        yield
    finally:
        restore_transformers()
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
        for target in targets:
            target.removeFilter(demote)


def _silence_transformers() -> Callable[[], None]:
    try:
        from transformers.utils import logging as _hf_logging
    except ImportError:
        return lambda: None
    hf_logging: Any = _hf_logging  # its functions are untyped
    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()

    def restore() -> None:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()

    return restore


def quietly(function: _F) -> _F:
    """``function`` run inside :func:`quiet_third_party`."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with quiet_third_party():
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
