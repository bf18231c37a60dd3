"""The rates behind the planner's cost model (conv1d/dispatch.py), measured on this machine.

    python benchmarks/calibrate.py

Runs ``conv1d.planning.calibrate()`` -- what conv1d does once per machine, on one thread,
and keeps in its plan cache -- and prints each rate. Also reports the Numba kernels'
first-call compile time, cold (empty cache) and warm.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile

from conv1d import planning
from conv1d.kernels import fft


def _compile_seconds(cache_dir: str) -> float:
    code = "from conv1d.kernels import direct; import numpy as np; print(direct.compile_seconds(np.dtype(np.float32)))"
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    ).stdout
    return float(out.strip().splitlines()[-1])


def main() -> int:
    rates = planning.calibrate()
    print(f"{'rate (one thread)':<22} {'measured here':>15}")
    for name, value in rates.to_dict().items():
        if name == "call_seconds":
            for kernel, seconds in value.items():
                print(f"{'call ' + kernel + ' (s)':<22} {seconds:>15.3g}")
        else:
            print(f"{name:<22} {value:>15.3g}")
    path = planning.cache_path()
    print(f"(planning.rates keeps the first calibration in {path}; planning.forget(disk=True) drops it)")
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
