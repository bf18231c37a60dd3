"""One place for the number of threads every kernel uses (BLAS, Numba, scipy.fft workers).

By default all cores. :func:`conv1d.set_num_threads` caps them all at once, for the
process; a :class:`limited` block lowers the count for the calling thread only (so
conv1d.torch modules called from several threads each keep their own limit).
"""

from __future__ import annotations

import os
import threading

_count = os.cpu_count() or 1  # the process-wide setting
_local = threading.local()  # inside a limited() block: .count and .undo of this thread


def get() -> int:
    """The thread count kernels use here and now: a limited() block's, or the process's."""
    return getattr(_local, "count", None) or _count


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


class limited:  # lower case: used like the function it was, ``with limited(1): ...``
    """Run the block with at most ``count`` threads in BLAS, Numba and scipy.fft, then restore.

    For callers inside another library's thread pool (conv1d.torch inside a PyTorch model).
    Entering costs next to nothing: BLAS and Numba are only set when a kernel that uses
    them calls :func:`apply` (a block whose products all go to PyTorch never touches
    them), and restored on exit; kernels with a one-thread form (the direct kernel's
    compiled loops) use that instead of setting Numba at all. Numba's count is per calling
    thread (it masks Numba's own workers; the OpenMP runtime's settings, which the caller
    may share, are not touched). Measured inside a PyTorch training loop: Numba's OpenMP
    workers (the system ``libgomp``) spinning next to PyTorch's (its bundled ``libgomp``)
    slowed every later product by about a third. :func:`enter` and :func:`leave` are the
    same without the object, for a caller that enters on every call (conv1d.torch).
    """

    __slots__ = ("_count", "_saved")

    def __init__(self, count: int) -> None:
        self._count = count
        self._saved: tuple[int | None, dict | None, int | None] | None = None

    def __enter__(self) -> None:
        self._saved = enter(self._count)

    def __exit__(self, *exc: object) -> None:
        leave(self._saved)
        self._saved = None


def loops() -> int:
    """The threads conv1d's pools that spin when idle -- NumPy's BLAS, and the compiled
    (Numba) loops when Numba runs them on OpenMP -- use here and now: :func:`get`'s count,
    or fewer inside a block entered with ``loops`` (see :func:`enter`). scipy.fft's
    workers, which sleep when idle, use :func:`get`'s."""
    return getattr(_local, "loops", None) or get()


def numba_threads() -> int:
    """The threads the compiled loops use here and now: :func:`get`'s count where Numba's
    pool sleeps when idle (its TBB layer, which conv1d installs where TBB has wheels),
    :func:`loops`'s where it spins (its OpenMP layer)."""
    return get() if _numba_pool_sleeps() else loops()


_sleeps: bool | None = None


def _numba_pool_sleeps() -> bool:
    """Whether Numba's parallel loops run on a pool whose idle threads sleep: its TBB or
    workqueue layer, not OpenMP. Measured on a 2-core Xeon: an FCN layer's forward and
    backward (Conv1d(1, 128, 8) on (16, 1, 150)), whose three kernels alternate between
    Numba's pool and OpenBLAS's, took 4.5-8.4 ms on the OpenMP layer and 1.6 ms on TBB;
    inside PyTorch, TBB's pool beside PyTorch's ran depthwise layers twice as fast as one
    thread and did not slow PyTorch's own operations down."""
    global _sleeps
    if _sleeps is None:
        import numba
        from numba.np.ufunc import parallel

        parallel._launch_threads()  # (what Numba's first parallel loop does: picks and starts its layer)
        _sleeps = numba.threading_layer() != "omp"
    return _sleeps


def enter(count: int, loops: int | None = None) -> tuple[int | None, dict | None, int | None] | None:
    """Start a :class:`limited` block of ``count`` threads in the calling thread; returns
    what :func:`leave` takes. ``loops``: a lower count for the compiled loops alone (inside
    PyTorch, whose OpenMP pool a second OpenMP pool, Numba's, would fight)."""
    current = get()
    count = max(1, min(int(count), current))
    loops = None if loops is None or loops >= count else max(1, int(loops))
    if count == current and loops is None:
        return None
    saved = (getattr(_local, "count", None), getattr(_local, "undo", None), getattr(_local, "loops", None))
    _local.count, _local.undo, _local.loops = count, {}, loops
    return saved


def leave(saved: tuple[int | None, dict | None, int | None] | None) -> None:
    """End the block that :func:`enter` started (restoring what :func:`apply` changed in it)."""
    if saved is not None:
        for restore in _local.undo.values():
            restore()
        _local.count, _local.undo, _local.loops = saved


def apply(*, blas: bool = False, numba: bool = False) -> None:
    """Make BLAS and/or Numba follow the count of the enclosing :func:`limited` block:
    kernels call this before they run NumPy products (``blas``) or Numba loops
    (``numba``). A no-op outside such a block, and for what is already set inside it."""
    undo = getattr(_local, "undo", None)
    if undo is None:
        return
    if blas and "blas" not in undo:
        # (BLAS's count is the process's: another thread's products meanwhile also run on
        # ``count`` threads, with the same results)
        libs = _blas_controllers()
        before = [lib.num_threads for lib in libs]
        for lib in libs:
            lib.set_num_threads(loops())
        undo["blas"] = lambda: [lib.set_num_threads(n) for lib, n in zip(libs, before)]
    if numba and "numba" not in undo:
        import numba as nb  # (Numba's count is per thread)

        numba_before = nb.get_num_threads()
        nb.set_num_threads(min(numba_threads(), numba_before))
        undo["numba"] = lambda: nb.set_num_threads(numba_before)
