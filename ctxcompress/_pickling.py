"""Objects copied and pickled as the arguments they were built with, never as their state.

A scorer's state is mostly runtime: an onnxruntime session, a thread pool, locks, kept-alive
connections, caches. None of it can (or should) be copied: a session cannot be pickled, a
copied lock or connection would be shared by accident. So the built-in scorers and caches
take :class:`RebuiltFromArguments`: ``pickle.dumps`` and ``copy.deepcopy`` record the class
and the arguments its constructor was called with, and loading (or copying) calls the
constructor again, which opens a new session and new pools where the copy lives.

What this means for a user:

* A copy gives the same scores: it is built from the same model directory, spec options,
  provider and URL. Attributes changed after construction are not carried over.
* A copy starts with empty in-memory caches; an on-disk cache is opened again by its path.
* Secrets: an API key (or header) passed to the constructor is one of its arguments, so it
  is written into the pickle in clear; a key the scorer read from the environment or from
  a key file is not, and is read again where the pickle is loaded. Pickles are not a safe
  place for keys: let the scorer read them from the environment.

This module imports nothing from ctxcompress, so any layer can use it.
"""

from __future__ import annotations

from typing import Any, TypeVar

__all__ = ["RebuiltFromArguments"]

_T = TypeVar("_T", bound="RebuiltFromArguments")


def _rebuild(cls: type[_T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> _T:
    return cls(*args, **kwargs)


class RebuiltFromArguments:
    """A mixin: instances pickle and deep-copy as ``cls(*args, **kwargs)`` (see module doc).

    The arguments are recorded in ``__new__``, before any ``__init__`` runs, so a class only
    lists the mixin among its bases; a subclass records its own call's arguments.
    """

    _built_with: tuple[tuple[Any, ...], dict[str, Any]]

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        self = super().__new__(cls)
        # A shallow copy of the keywords: the caller's own dict may change afterwards.
        object.__setattr__(self, "_built_with", (args, dict(kwargs)))
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        # copy.deepcopy uses this too: it deep-copies the arguments, then calls _rebuild.
        args, kwargs = self._built_with
        return (_rebuild, (type(self), args, kwargs))
