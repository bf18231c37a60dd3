"""The kernels' reused working memory (conv1d.kernels.scratch): a buffer is handed out
again only once nothing refers to it, and results computed through it stay correct while
later calls reuse the memory."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import conv1d
from conv1d.kernels import scratch

POOLED = (128, 256)  # float32: 128 KiB, inside the pooled sizes


def test_buffer_reused_only_after_every_view_is_gone() -> None:
    a = scratch.empty(POOLED, np.float32)
    view = a[3:, ::2].T
    address = a.ctypes.data
    del a
    b = scratch.empty(POOLED, np.float32)
    assert b.ctypes.data != address  # the view still holds the first buffer
    del view
    c = scratch.empty(POOLED, np.float32)
    assert c.ctypes.data == address  # now free: handed out again
    assert b.ctypes.data != c.ctypes.data


def test_buffer_held_by_a_torch_tensor_is_not_reused() -> None:
    torch = pytest.importorskip("torch")
    a = scratch.empty(POOLED, np.float32)
    a[...] = 7
    t = torch.from_numpy(a.reshape(-1))
    del a
    b = scratch.empty(POOLED, np.float32)
    b[...] = 0
    assert float(t.min()) == 7 == float(t.max())


def test_other_dtypes_and_shapes_of_the_same_size_share_buffers() -> None:
    a = scratch.empty(POOLED, np.float32)
    address = a.ctypes.data
    del a
    b = scratch.empty((64, 256), np.float64)
    assert b.ctypes.data == address and b.dtype == np.float64 and b.shape == (64, 256)
    assert b.flags.c_contiguous and b.flags.writeable


def test_sizes_outside_the_pool_and_past_the_cap_are_plain_arrays(monkeypatch: pytest.MonkeyPatch) -> None:
    small = scratch.empty((4, 4), np.float32)
    assert small.base is None  # np.empty's own
    monkeypatch.setattr(scratch, "TOTAL_BYTES", scratch.pooled_bytes())
    past_cap = scratch.empty((3, 65537), np.float32)  # a size nothing in the pool has
    assert past_cap.base is None
    assert past_cap.shape == (3, 65537)


def test_threads_have_pools_of_their_own() -> None:
    mine = scratch.empty(POOLED, np.float32)
    address = mine.ctypes.data
    del mine
    seen = []
    worker = threading.Thread(target=lambda: seen.append(scratch.empty(POOLED, np.float32).ctypes.data))
    worker.start()
    worker.join()
    assert seen and seen[0] != address


def test_results_stay_correct_while_later_calls_reuse_memory() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 128, 24)).astype(np.float32)
    w = rng.standard_normal((256, 128, 5)).astype(np.float32)
    first = {a: conv1d.conv1d(x, w, padding=2, algorithm=a) for a in ("gemm", "winograd")}
    kept = {a: y.copy() for a, y in first.items()}
    for a in ("gemm", "winograd"):  # later calls of the same sizes, other values
        conv1d.conv1d(-x, w, padding=2, algorithm=a)
    for a, y in first.items():
        np.testing.assert_array_equal(y, kept[a])
    np.testing.assert_allclose(first["winograd"], first["gemm"], rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("algorithm", ["gemm", "winograd", "direct"])
def test_results_are_not_pool_memory(algorithm: str) -> None:
    scratch.release()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 128, 24)).astype(np.float32)
    w = rng.standard_normal((256, 128, 5)).astype(np.float32)
    y = conv1d.conv1d(x, w, padding=2, algorithm=algorithm)
    gy = rng.standard_normal(y.shape).astype(np.float32)
    results = [
        y,
        conv1d.grad.conv1d_input(x.shape, w, gy, padding=2, algorithm=algorithm),
        conv1d.grad.conv1d_weight(x, w.shape, gy, padding=2, algorithm=algorithm),
    ]
    pooled = [buf for buffers in scratch._local.pool.values() for buf in buffers]
    assert bool(pooled) == (algorithm != "direct")  # GEMM and Winograd borrow working memory
    for result in results:
        assert not any(np.shares_memory(result, buf) for buf in pooled)


def test_release_empties_the_pool() -> None:
    scratch.empty(POOLED, np.float32)
    assert scratch.pooled_bytes() > 0
    scratch.release()
    assert scratch.pooled_bytes() == 0
