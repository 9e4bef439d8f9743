"""What can go wrong with a request, independent of the wire format that reports it.

Handlers raise :class:`ApiError`; each wire format renders it in its provider's documented
error shape. Bad input is always a 4xx here, never a 500. (The classes live in
``ctxcompress._exceptions`` with every other exception of the package.)
"""

from __future__ import annotations

from .._exceptions import ApiError, ErrorKind

__all__ = ["ApiError", "ErrorKind"]
