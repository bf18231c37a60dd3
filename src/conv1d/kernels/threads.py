"""One place for the number of threads every kernel uses (BLAS, Numba, scipy.fft workers).

By default all cores. :func:`conv1d.set_num_threads` caps them all at once.
"""

from __future__ import annotations

import os

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
