"""One place for the number of threads every kernel uses (BLAS, Numba, scipy.fft workers).

By default all cores. :func:`conv1d.set_num_threads` caps them all at once.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

_count = os.cpu_count() or 1


def get() -> int:
    return _count


def set(count: int) -> None:
    """Use ``count`` threads in BLAS (via threadpoolctl), Numba and scipy.fft."""
    global _count
    import numba
    from threadpoolctl import threadpool_limits

    count = max(1, min(int(count), numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(count)
    threadpool_limits(limits=count, user_api="blas")
    _count = count


_blas: list | None = None  # threadpoolctl's controllers of the BLAS libraries, found once


def _blas_controllers() -> list:
    global _blas
    if _blas is None:
        from threadpoolctl import ThreadpoolController

        _blas = list(ThreadpoolController().select(user_api="blas").lib_controllers)
    return _blas


@contextlib.contextmanager
def limited(count: int) -> Iterator[None]:
    """Run the block with at most ``count`` BLAS threads (and scipy.fft workers), then restore.

    For callers inside another library's thread pool (conv1d.torch inside a PyTorch model):
    a few microseconds per use, no library search. Numba's threads are left alone: its
    OpenMP layer may share the OpenMP runtime of the caller (PyTorch's), and setting its
    thread count would change the caller's.
    """
    global _count
    count = max(1, min(int(count), _count))
    if count == _count:
        yield
        return
    previous, blas = _count, _blas_controllers()  # set() keeps BLAS at _count
    try:
        for lib in blas:
            lib.set_num_threads(count)
        _count = count
        yield
    finally:
        for lib in blas:
            lib.set_num_threads(previous)
        _count = previous
