"""What the compiled kernels share: index arithmetic and how loops are compiled and run.

Loops are plain Python functions compiled by assignment, so ``NUMBA_DISABLE_JIT=1`` runs
the very same code in the interpreter (slowly) for debugging and coverage. Compiled code
is cached on disk (``cache=True``), so only the first process pays the compile time.
"""

from __future__ import annotations

import types
from collections.abc import Callable

import numba

from . import threads


def valid_range(off: int, stride: int, count: int, length: int) -> tuple[int, int]:
    """The ``t`` in ``[0, count)`` whose sample ``t*stride + off`` lies in ``[0, length)``."""
    t0 = 0 if off >= 0 else min(count, (-off + stride - 1) // stride)
    if length - 1 - off < 0:
        return t0, t0
    t1 = min(count, (length - 1 - off) // stride + 1)
    return t0, max(t0, t1)


valid_range_jit = numba.njit(cache=True)(valid_range)


def compiled(loops: Callable[..., None]) -> tuple[Callable[..., None], Callable[..., None]]:
    """The loops compiled twice: parallel, and serial for when conv1d may use one thread
    (inside conv1d.torch, or after ``set_num_threads(1)``). The serial form launches no
    parallel region and needs no thread count set and restored around it (measured inside
    a PyTorch training step, the FCN's first layer for one series: 28 against 50 us). It
    compiles a renamed copy: Numba's disk cache tells functions apart by qualified name
    and line, not by ``parallel=``, so the same function compiled both ways would load
    one form's code for the other."""
    serial = types.FunctionType(loops.__code__, loops.__globals__, loops.__name__ + "_serial")
    serial.__qualname__ = loops.__qualname__ + "_serial"
    return numba.njit(parallel=True, cache=True)(loops), numba.njit(cache=True)(serial)


# Work (see run) under which the serial form runs even where conv1d may use more threads:
# starting a parallel region and waking its pool costs 10 to 30 us, more than such a call
# takes on one thread (the tutorial's 4 x 2 x 6 input, 3 outputs, 5 taps: a whole call
# 30 against 11 us).
PARALLEL_WORK = 2**14


def run(parallel: Callable[..., None], serial: Callable[..., None], work: int, *args: object) -> None:
    """One of the two forms (see :func:`compiled`), by the threads conv1d may use now and
    by ``work``: the loops' innermost iterations, plus 16 for each time the loops start
    an innermost loop (what setting one up costs, counted in iterations)."""
    if work < PARALLEL_WORK or threads.numba_threads() == 1:
        serial(*args)
    else:
        threads.apply(numba=True)
        parallel(*args)
