"""Every test plans the same way on every machine: by the cost model (no timing, so the
same problem always runs the same kernel) with fixed rates, and keeps its plan cache in a
folder of its own. Tests of measured planning and of calibration switch these back on
themselves (tests/test_planning.py). Set before conv1d is imported; inherited by the
subprocesses of the CLI and example tests."""

from __future__ import annotations

import os
import tempfile

import pytest

os.environ["CONV1D_PLANNING"] = "estimate"
os.environ["CONV1D_CACHE_DIR"] = tempfile.mkdtemp(prefix="conv1d-test-cache-")

from conv1d import planning


def reference_rates(count: int, numba: int | None = None, blas: int | None = None) -> planning.Rates:
    """The rates of the 2-core machine the golden plans (tests/test_dispatch.py) were
    chosen on, for ``count`` threads (``numba`` for the compiled loops): test data, so that
    a plan does not depend on the machine running the tests."""
    share = min(count if numba is None else numba, 2) / 2
    return planning.Rates(
        gemm_flops=150e9,
        direct_macs=6e9 * share,
        direct_row_seconds=12.5e-9 / share,
        fft_flops=15e9,
        mix_flops=30e9,
        bandwidth=8e9,
        call_seconds={"gemm": 25e-6, "direct": 8e-6, "fft": 80e-6, "winograd": 60e-6},
    )


_machine_rates = planning.rates


@pytest.fixture
def machine_rates():
    """planning.rates itself: this machine's (calibrated) rates, for the tests of calibration."""
    return _machine_rates


@pytest.fixture(autouse=True, scope="session")
def _reference_rates():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(planning, "rates", reference_rates)
        yield
