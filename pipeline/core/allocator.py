"""Large temporaries from memory the process keeps, not fresh pages from the kernel.

glibc's malloc serves every block above its mmap threshold (128 KiB, raised by itself to at most
32 MiB) with a fresh `mmap` and unmaps it when freed. A training step's logits, a scoring
chunk's scores and most other tensors of a night are larger: each was mapped afresh and touched
page by page, the kernel zeroing every page on its first touch. Measured on this project's
2-core CI machine: a 40 MB tensor took 18 ms to allocate and fill, 2 ms from memory the process
kept; a 10,000 x 256 by 256 x 2,400 float product 184 ms against 92 ms.

`keep_freed_memory` raises both thresholds (`mallopt`): blocks up to `limit` come from the heap
and freed ones stay there for the next step, up to `limit` of them at the heap's top. The
process gives back less between steps, and its peak may be higher (the 20k-user shop's `train`
3,750 MB against 3,753 without; the 1M-event shop's 2,707 MB against 2,467 in 0.4.6). Called
by the processes that train and score: `recsys train`, a distributed towers job's ranks,
`recsys recommend` and the Spark scoring job's workers; a no-op where the C library is not
glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

# mallopt's parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
KEEP_LIMIT = 1 << 30  # 1 GiB: larger blocks (a dense items x items inverse) are still mapped

_kept: int | None = None


def keep_freed_memory(limit: int = KEEP_LIMIT) -> bool:
    """Serve blocks up to `limit` bytes from the heap and keep up to `limit` freed bytes at its
    top (once per process; later calls with the same limit do nothing). False where it cannot:
    not Linux, not glibc, or `mallopt` refused."""
    global _kept
    if _kept == limit:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return False
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return False  # musl and others: their allocators differ
    value = ctypes.c_int(min(limit, 2**31 - 1))
    done = bool(libc.mallopt(M_MMAP_THRESHOLD, value)) and bool(
        libc.mallopt(M_TRIM_THRESHOLD, value)
    )
    if done:
        _kept = limit
        log.debug("malloc keeps freed blocks up to %d bytes", limit)
    return done
