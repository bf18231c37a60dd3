"""Measure the rates behind the planner's cost model (conv1d/dispatch.py) on this machine.

    python benchmarks/calibrate.py

Prints each constant of ``conv1d.dispatch`` next to the value measured here, from one
small, representative problem per kernel. The planner only needs the *order* of the
candidates right, so the constants in dispatch.py are round numbers near these
measurements on the development machine; re-run this on another kind of machine and
adjust them if a golden plan (tests/test_dispatch.py) comes out wrong there.
Also reports the Numba kernels' first-call compile time, cold (empty cache) and warm.
"""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np
import scipy.fft as sfft

from conv1d import dispatch
from conv1d.kernels import direct, fft, gemm, threads


def _best(fn: Callable[[], object], reps: int = 7) -> float:
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _compile_seconds(cache_dir: str) -> float:
    code = "from conv1d.kernels import direct; import numpy as np; print(direct.compile_seconds(np.dtype(np.float32)))"
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    ).stdout
    return float(out.strip().splitlines()[-1])


def main() -> int:
    rng = np.random.default_rng(0)
    rows = []
    # GEMM: a channel-rich layer, flops per second of the whole kernel.
    x = rng.standard_normal((4, 1, 256, 4096), dtype=np.float32)
    w = rng.standard_normal((1, 256, 256, 3), dtype=np.float32)
    seconds = _best(lambda: gemm.conv(x, w, 1, 1))
    rows.append(("GEMM_FLOPS", dispatch.GEMM_FLOPS, 2 * 4 * 256 * 256 * 3 * 4094 / seconds))
    # Direct: depthwise, multiply-adds per second.
    x = rng.standard_normal((4, 512, 1, 4096), dtype=np.float32)
    w = rng.standard_normal((512, 1, 1, 4), dtype=np.float32)
    seconds = _best(lambda: direct.conv(x, w, 1, 1))
    rows.append(("DIRECT_MACS", dispatch.DIRECT_MACS, 4 * 512 * 4 * 4093 / seconds))
    # FFT: real transforms, counted as 2.5 n log2 n flops each.
    a = rng.standard_normal((256, 8192), dtype=np.float32)
    seconds = _best(lambda: sfft.rfft(a, axis=-1, workers=threads.get()))
    rows.append(("FFT_FLOPS", dispatch.FFT_FLOPS, 256 * 2.5 * 8192 * math.log2(8192) / seconds))
    # Mixing: complex matmul per frequency, 8 flops per complex multiply-add.
    k = (rng.standard_normal((1, 4097, 16, 16)) + 1j).astype(np.complex64)
    s = (rng.standard_normal((1, 4097, 16, 8)) + 1j).astype(np.complex64)
    seconds = _best(lambda: np.matmul(k, s))
    rows.append(("MIX_FLOPS", dispatch.MIX_FLOPS, 8 * 4097 * 16 * 16 * 8 / seconds))
    # Bandwidth, one direction.
    src = np.ones(64 * 2**20 // 4, np.float32)
    dst = np.empty_like(src)
    seconds = _best(lambda: np.copyto(dst, src))
    rows.append(("BANDWIDTH", dispatch.BANDWIDTH, src.nbytes / seconds))
    print(f"{'constant':<12} {'in dispatch.py':>15} {'measured here':>15}")
    for name, current, measured in rows:
        print(f"{name:<12} {current:>15.3g} {measured:>15.3g}")
    print(f"(fft_length for span 1024 in 8192 samples: {fft.fft_length(1024, 8192)})")
    with tempfile.TemporaryDirectory() as cache:
        cold = [_compile_seconds(cache)]
        warm = statistics.median(_compile_seconds(cache) for _ in range(3))
    print(
        f"Numba kernels, float32: {cold[0]:.1f} s to compile in a fresh cache, {warm:.2f} s to load from it"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
