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
    """Run the block with at most ``count`` threads in BLAS, Numba and scipy.fft, then restore.

    For callers inside another library's thread pool (conv1d.torch inside a PyTorch model):
    a few microseconds per use, no library search. Numba's count is per calling thread (it
    masks Numba's own workers; the OpenMP runtime's settings, which the caller may share,
    are not touched). Measured inside a PyTorch training loop: Numba's OpenMP workers (the
    system ``libgomp``) spinning next to PyTorch's (its bundled ``libgomp``) slowed every
    later product by about a third.
    """
    global _count
    count = max(1, min(int(count), _count))
    if count == _count:
        yield
        return
    import numba

    previous, blas = _count, _blas_controllers()  # set() keeps BLAS at _count
    numba_previous = numba.get_num_threads()
    try:
        for lib in blas:
            lib.set_num_threads(count)
        numba.set_num_threads(min(count, numba_previous))
        _count = count
        yield
    finally:
        for lib in blas:
            lib.set_num_threads(previous)
        numba.set_num_threads(numba_previous)
        _count = previous
