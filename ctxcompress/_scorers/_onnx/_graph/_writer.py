"""A small helper that accumulates ONNX nodes and initializers under unique names.

The encoder and head builders call :meth:`GraphWriter.op` as they would call a numpy
function and get the output's name back, so they read as the model's arithmetic.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class GraphWriter:
    """The nodes and initializers of one graph. An op's output is named after the op and a
    running number (``Add_12``) unless given; initializers after the weights they hold."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._names: set[str] = set()
        self._shared: dict[tuple[str, bytes, str], str] = {}
        self._count = 0

    def const(self, name: str, value: Any, dtype: Any = None) -> str:
        """An initializer holding ``value`` (a scalar or an array); returns its name."""
        from onnx import numpy_helper

        array = np.array(value, dtype=dtype, order="C")  # (ascontiguousarray makes scalars 1-D)
        unique = self._unique(name)
        self.initializers.append(numpy_helper.from_array(array, unique))
        return unique

    def shared(self, name: str, value: Any, dtype: Any = None) -> str:
        """Like :meth:`const`, but one initializer per distinct value (for the small
        constants every layer uses: shapes, 1.0, sqrt(2))."""
        array = np.array(value, dtype=dtype, order="C")  # (ascontiguousarray makes scalars 1-D)
        key = (str(array.dtype), array.tobytes(), repr(array.shape))
        if key not in self._shared:
            self._shared[key] = self.const(name, array)
        return self._shared[key]

    def op(self, op_type: str, *inputs: str, out: str | None = None, **attrs: Any) -> str:
        """Add a node with one output (named ``out`` when given); returns that name."""
        from onnx import helper

        self._count += 1
        name = self._unique(out or f"{op_type}_{self._count}")
        self.nodes.append(helper.make_node(op_type, list(inputs), [name], name, **attrs))
        return name

    def _unique(self, name: str) -> str:
        unique, n = name, 1
        while unique in self._names:
            n += 1
            unique = f"{name}_{n}"
        self._names.add(unique)
        return unique
