"""Working memory reused between calls: the kernels' mid-size temporaries.

A training step allocates and frees the same few temporaries (products, transforms,
gathered columns) of 64 KiB to a few MiB on every call. With glibc's allocator such
blocks come and go at the top of the heap, which is then given back to the system and
grown again: fresh pages, each a page fault on first touch (3.6 us per 4 KiB page
measured on the development VM; 700 to 2,500 faults per epoch of the FCN on
ItalyPowerDemand, while the same model with torch.nn.Conv1d took none). :func:`empty`
hands out buffers from a per-thread pool instead, so that memory is touched once and
reused.

A buffer is free when nothing but the pool refers to it: every array made from it (a
view, a reshape, a torch tensor from ``torch.from_numpy``) holds a reference to it, so a
buffer is never handed out twice while any of those is alive. Buffers of MIN_BYTES to
MAX_BYTES are pooled, at most TOTAL_BYTES (32 MiB) per thread, and kept for the thread's
life (:func:`release` drops them); anything else, or past the cap, is a plain
``np.empty``. The kernels take only their temporaries from here: what they return is
memory of its own.
"""

from __future__ import annotations

import math
import mmap
import sys
import threading

import numpy as np

MIN_BYTES = 2**16
MAX_BYTES = 2**22
TOTAL_BYTES = 2**25  # per thread

_local = threading.local()
# sys.getrefcount of a free buffer in the loop of empty(): the pool's list, the loop's
# name and getrefcount's own argument.
_FREE = 3


def empty(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """``np.empty(shape, dtype)``, from the calling thread's pool when the size is pooled."""
    if not isinstance(dtype, np.dtype):  # (dtype instances pass as they are: np.dtype() of one costs a call)
        dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if not MIN_BYTES <= nbytes <= MAX_BYTES:
        return np.empty(shape, dtype)
    pool = getattr(_local, "pool", None)
    if pool is None:
        pool = _local.pool = {}
        _local.total = 0
    buffers = pool.setdefault(nbytes, [])
    for buf in buffers:
        if sys.getrefcount(buf) == _FREE:
            return buf.view(dtype).reshape(shape)
    if _local.total + nbytes > TOTAL_BYTES:
        return np.empty(shape, dtype)
    # Mapped pages of its own, outside the malloc heap: the pool's long-lived blocks then
    # leave the heap's own growing and shrinking (and everyone else's allocations in it) as
    # they would be without conv1d.
    buf = np.frombuffer(mmap.mmap(-1, nbytes), np.uint8)
    buffers.append(buf)
    _local.total += nbytes
    return buf.view(dtype).reshape(shape)


def pooled_bytes() -> int:
    """Bytes the calling thread's pool holds."""
    return getattr(_local, "total", 0)


def release() -> None:
    """Drop the calling thread's pool: its memory goes back to the system once no array
    made from it is alive (the pool also goes when its thread ends)."""
    _local.pool, _local.total = {}, 0
