"""Which of a repository's int8 ONNX variants suits this CPU.

sentence-transformers repositories publish one dynamically quantised file per instruction
set (``onnx/model_qint8_avx512_vnni.onnx``, ``..._avx512``, ``..._avx2``, ``..._arm64``):
each is quantised for the kernels that instruction set has, and a file for a set the CPU
lacks runs slower or not at all. The CPU's flags are read from ``/proc/cpuinfo`` (Linux);
elsewhere x86 machines are assumed to have AVX2 (every x86 CPU since 2013).
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path

__all__ = ["cpu_int8_variants"]

# Best first: a CPU with VNNI also runs the plain AVX-512 and the AVX2 files.
_X86 = (("avx512_vnni", {"avx512_vnni", "avx512f"}), ("avx512", {"avx512f"}), ("avx2", {"avx2"}))


@functools.cache
def cpu_int8_variants() -> tuple[str, ...]:
    """The qint8 variant suffixes this CPU can run, best first (``("avx2",)`` ...)."""
    machine = platform.machine().lower()
    if machine in ("arm64", "aarch64"):
        return ("arm64",)
    flags = _cpu_flags()
    if flags is None:  # not Linux: no cheap, dependable way to ask
        return ("avx2",)
    return tuple(name for name, needs in _X86 if needs <= flags)


def _cpu_flags() -> set[str] | None:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return None
