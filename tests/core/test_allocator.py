"""The stages' malloc setting: large blocks from the heap, freed ones kept."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

import numpy as np
import pytest

from pipeline.core.allocator import keep_freed_memory


class MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd",
            "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


def mapped_bytes() -> int:
    """Bytes malloc holds in blocks mapped one by one (glibc's `mallinfo2().hblkhd`)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    if not hasattr(libc, "mallinfo2"):
        pytest.skip("this C library has no mallinfo2 (glibc >= 2.33)")
    libc.mallinfo2.restype = MallInfo2
    return int(libc.mallinfo2().hblkhd)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_a_large_block_comes_from_the_heap_and_stays_when_freed() -> None:
    assert keep_freed_memory()
    assert keep_freed_memory()  # once per process: a second call changes nothing
    before = mapped_bytes()
    block = np.ones(40_000_000 // 8)  # 40 MB: above glibc's own 32 MiB mmap threshold
    assert mapped_bytes() == before  # not a block mapped on its own
    del block
    again = np.ones(40_000_000 // 8)
    assert mapped_bytes() == before
    assert again.sum() == 5_000_000
