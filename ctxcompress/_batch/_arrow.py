"""pyarrow, imported only where Parquet is read or written (extra ``batch`` or ``ray``)."""

from __future__ import annotations

import importlib
from typing import Any

from ctxcompress import MissingDependencyError

__all__ = ["import_pyarrow"]


def import_pyarrow(submodule: str | None = None) -> Any:
    """``pyarrow`` or one of its submodules, or an error naming the extra to install."""
    name = f"pyarrow.{submodule}" if submodule else "pyarrow"
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise MissingDependencyError("pyarrow", "batch", "Parquet input and output") from exc
