"""The stages' malloc setting: large blocks from the heap, freed ones kept."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

import numpy as np
import pytest

from pipeline.core.allocator import keep_freed_memory


def info_struct(field: type) -> type[ctypes.Structure]:
    names = ("arena", "ordblks", "smblks", "hblks", "hblkhd",
             "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")  # fmt: skip
    return type("MallInfo", (ctypes.Structure,), {"_fields_": [(n, field) for n in names]})


def mapped_bytes() -> int:
    """Bytes malloc holds in blocks mapped one by one (`hblkhd`: glibc's `mallinfo2`, or the
    older `mallinfo` with int fields, ample for the 40 MB measured here)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    newer = hasattr(libc, "mallinfo2")
    call = libc.mallinfo2 if newer else libc.mallinfo
    call.restype = info_struct(ctypes.c_size_t if newer else ctypes.c_int)
    return int(call().hblkhd)


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
