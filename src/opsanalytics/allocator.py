"""Keep freed heap memory in the process between invocations (glibc only).

The transformer builds megabytes of output per invocation (parsed NDJSON, then its base64) and frees it
when the response is sent. glibc hands the freed top of the heap back to the kernel as soon as it exceeds
`M_TRIM_THRESHOLD` (128 KiB by default), so the next invocation takes every page back through a page fault:
on Lambda's virtual machines that costs about as much as the base64 encoding itself. Raising the threshold
keeps up to that much freed memory mapped for the next invocation of the same (warm) environment.
"""

from __future__ import annotations

import ctypes
import platform
from typing import Final

# mallopt parameters, from glibc's malloc.h
M_TRIM_THRESHOLD: Final = -1
M_TOP_PAD: Final = -2
M_MMAP_THRESHOLD: Final = -3

DEFAULT_TRIM_THRESHOLD: Final = 64 << 20
DEFAULT_TOP_PAD: Final = 16 << 20
# Fixing the trim threshold also fixes the mmap threshold (glibc stops adapting it), at 128 KiB unless set:
# blocks above it are mapped and unmapped on every allocation. 32 MiB is the most glibc accepts on 64 bits.
DEFAULT_MMAP_THRESHOLD: Final = 32 << 20


def retain_freed_memory(
    trim_threshold: int = DEFAULT_TRIM_THRESHOLD,
    top_pad: int = DEFAULT_TOP_PAD,
    mmap_threshold: int = DEFAULT_MMAP_THRESHOLD,
) -> bool:
    """Let the heap keep up to `trim_threshold` bytes of freed memory, grow by `top_pad` at a time, and serve
    blocks up to `mmap_threshold` bytes itself.

    Returns whether the allocator took the settings: False on a C library other than glibc (musl, macOS),
    where nothing is changed.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    settings = ((M_TRIM_THRESHOLD, trim_threshold), (M_TOP_PAD, top_pad), (M_MMAP_THRESHOLD, mmap_threshold))
    return all([bool(mallopt(parameter, value)) for parameter, value in settings])
