"""conv1d on Dask arrays: lazy results equal to the in-memory call for every chunking.

The oracle here is conv1d's own in-memory function, which the rest of the suite checks
against PyTorch; property tests draw the configuration (every padding form and mode,
stride, dilation, groups, layouts, batched or not) and, independently, how the input is
chunked along batch, channels and length (chunks of one sample, chunks shorter than the
halo, empty batch). One test runs on a real ``LocalCluster`` of two worker processes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from helpers import assert_matches
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import INT_DTYPES, ConvCase, TransposedCase, conv_cases, make_arrays, transposed_cases

import conv1d

da = pytest.importorskip("dask.array")  # the [test] extra installs it; see pyproject.toml
import dask

import conv1d.dask as cdask
from conv1d import ConvError, ConvTypeError

SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def splits(draw: Any, size: int) -> tuple[int, ...]:
    """A chunking of ``size`` items: one chunk, chunks of one, or random cut points."""
    if size <= 1:
        return (size,)
    how = draw(st.sampled_from(["one", "ones", "random", "random"]))
    if how == "one":
        return (size,)
    if how == "ones":
        return (1,) * size
    cuts = sorted(draw(st.sets(st.integers(1, size - 1), min_size=1, max_size=min(8, size - 1))))
    return tuple(b - a for a, b in zip([0, *cuts], [*cuts, size]))


def chunked(draw: Any, x: np.ndarray) -> Any:
    """``x`` as a Dask array with a drawn chunking of each axis."""
    return da.from_array(x, chunks=tuple(draw(splits(size)) for size in x.shape))


def _compute(lazy: Any) -> np.ndarray:
    return lazy.compute(scheduler="threads")  # Dask's default local scheduler


# --------------------------------------------------------------------------- properties


def _check_lazy_equals_in_memory(
    function: Any, case: ConvCase | TransposedCase, algorithm: str, seed: int, data: st.DataObject
) -> None:
    """``function`` of a drawn chunking of the case's input is a lazy Dask array of the right
    shape, whose values equal ``function`` of the NumPy input."""
    a = make_arrays(case, np.float64, seed)
    x = chunked(data.draw, a.input)
    lazy = function(x, a.weight, a.bias, algorithm=algorithm, **case.options)
    assert isinstance(lazy, da.Array)
    assert lazy.shape == case.output_shape
    expected = function(a.input, a.weight, a.bias, algorithm=algorithm, **case.options)
    assert_matches(
        _compute(lazy),
        expected,
        np.float64,
        f"dask {function.__name__}, chunks {x.chunks}",
        algorithm=algorithm,
    )


@SETTINGS
@given(
    case=conv_cases(views=("contiguous",)),
    algorithm=st.sampled_from(["auto", "gemm", "direct", "fft"]),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_conv1d_of_a_dask_array_equals_the_in_memory_result(
    case: ConvCase, algorithm: str, seed: int, data: st.DataObject
) -> None:
    _check_lazy_equals_in_memory(conv1d.conv1d, case, algorithm, seed, data)


@SETTINGS
@given(
    case=transposed_cases(views=("contiguous",)),
    algorithm=st.sampled_from(["auto", "gemm", "direct", "fft"]),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_conv_transpose1d_of_a_dask_array_equals_the_in_memory_result(
    case: TransposedCase, algorithm: str, seed: int, data: st.DataObject
) -> None:
    _check_lazy_equals_in_memory(conv1d.conv_transpose1d, case, algorithm, seed, data)


@settings(max_examples=25, deadline=None)
@given(
    case=conv_cases(views=("contiguous",), padding_modes=("zeros",)),
    dtype=st.sampled_from([*INT_DTYPES, "float16", "complex64"]),
    transposed=st.booleans(),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_integers_are_exact_float16_rounds_once_and_complex_works(
    case: ConvCase, dtype: Any, transposed: bool, seed: int, data: st.DataObject
) -> None:
    """Integers wrap exactly as in memory; float16 computes in float32 and rounds once,
    also for transposed blocks, whose bias is added after the block is cut out."""
    if transposed:
        case = data.draw(transposed_cases(views=("contiguous",)))
    a = make_arrays(case, dtype, seed)
    x = chunked(data.draw, a.input)
    function = conv1d.conv_transpose1d if transposed else conv1d.conv1d
    got = _compute(function(x, a.weight, a.bias, **case.options))
    expected = function(a.input, a.weight, a.bias, **case.options)
    assert got.dtype == expected.dtype
    if np.dtype(dtype).kind in "iu":
        np.testing.assert_array_equal(got, expected)
    else:
        assert_matches(got, expected, dtype, f"{dtype} blocks")


# --------------------------------------------------------------------------- hand-picked chunkings


@pytest.mark.parametrize("chunk", [1, 2, 5, 63, 64, 100, 1000])
@pytest.mark.parametrize("padding_mode", ["zeros", "reflect", "replicate", "circular"])
def test_chunks_shorter_than_the_halo(chunk: int, padding_mode: str) -> None:
    """K=9, dilation 8: a halo of 64 samples, longer than most of these chunks; the blocks
    gather from as many chunks as they need, and the padding reads across chunks too."""
    rng = np.random.default_rng(chunk)
    x, w, b = rng.standard_normal((2, 3, 300)), rng.standard_normal((4, 3, 9)), rng.standard_normal(4)
    options = {"stride": 3, "padding": (40, 29), "dilation": 8, "padding_mode": padding_mode}
    lazy = conv1d.conv1d(da.from_array(x, chunks=(1, 2, chunk)), w, b, **options)
    assert_matches(_compute(lazy), conv1d.conv1d(x, w, b, **options), np.float64, f"chunks of {chunk}")


def test_long_kernels_run_the_fft_in_each_block(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each block goes through its executor and the normal planner: a K=1025 FIR bank plans the FFT."""
    from conv1d.executor import Executor

    plans = []
    forward = Executor.forward

    def recording(self: Executor, *args: Any, **kwargs: Any) -> Any:
        plans.append(self.plan.algorithm.value)
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(Executor, "forward", recording)
    rng = np.random.default_rng(0)
    x, w = (
        rng.standard_normal((1, 1, 40_000)).astype(np.float32),
        rng.standard_normal((8, 1, 1025)).astype(np.float32),
    )
    lazy = conv1d.conv1d(da.from_array(x, chunks=(1, 1, 10_000)), w, padding="same")
    assert lazy.chunks[2] == (10_512, 10_000, 10_000, 9_488)  # output t reads from t - 512 on
    got = _compute(lazy)
    assert plans == ["fft"] * 4, plans
    expected = conv1d.conv1d(x, w, padding="same")
    # FFT errors scale with the largest output, not each element (float32: ~1e-7 * log n)
    assert np.abs(got - expected).max() <= 2e-6 * np.abs(expected).max()


def test_each_block_depends_only_on_the_chunks_its_windows_read() -> None:
    """100 chunks of 100 samples, halo 8: every output block needs its own chunk and a
    slice of the next one, never the whole signal."""
    x = da.zeros((1, 2, 10_000), chunks=(1, 1, 100))
    lazy = conv1d.conv1d(x, np.ones((3, 2, 9)), padding="causal")
    graph = dict(lazy.__dask_graph__())
    inputs = {key for key in graph if isinstance(key, tuple) and key[0] == x.name}

    def reads(key: Any) -> set:
        seen, todo = set(), [key]
        while todo:
            for dep in dask.core.get_dependencies(graph, todo.pop()):
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        return seen & inputs

    counts = [len(reads((lazy.name, 0, 0, i))) for i in range(len(lazy.chunks[2]))]
    assert max(counts) == 2 * 2, counts  # two channel chunks of at most two length chunks
    assert len(lazy.chunks[2]) == 100


def test_channel_chunks_are_joined_and_batch_chunks_kept() -> None:
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((5, 6, 50)), rng.standard_normal((4, 3, 3))
    lazy = conv1d.conv1d(da.from_array(x, chunks=(2, 1, 7)), w, groups=2, padding=1)
    assert lazy.chunks[0] == (2, 2, 1) and lazy.chunks[1] == (4,)
    assert_matches(_compute(lazy), conv1d.conv1d(x, w, groups=2, padding=1), np.float64, "channel chunks")


def test_the_single_threaded_scheduler_gives_the_same_result() -> None:
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((3, 2, 500)), rng.standard_normal((2, 2, 33))
    lazy = conv1d.conv1d(da.from_array(x, chunks=(1, 2, 64)), w, padding="same", dilation=3)
    assert_matches(
        lazy.compute(scheduler="sync"), conv1d.conv1d(x, w, padding="same", dilation=3), np.float64, "sync"
    )


# --------------------------------------------------------------------------- layers


def test_layers_take_dask_arrays_and_stay_lazy() -> None:
    rng = np.random.default_rng(5)
    layer = conv1d.Conv1d(3, 4, 5, stride=2, padding="same", padding_mode="reflect", layout="NLC")
    x = rng.standard_normal((2, 90, 3)).astype(np.float32)
    lazy = layer(da.from_array(x, chunks=(1, 13, 3)))
    assert isinstance(lazy, da.Array)
    assert_matches(_compute(lazy), layer(x), np.float32, "Conv1d layer")
    with pytest.raises(ConvError, match="Dask array is lazy"):
        layer.forward(da.from_array(x, chunks=(1, 13, 3)))
        layer.backward(np.ones((2, 45, 4), np.float32))

    up = conv1d.ConvTranspose1d(4, 2, 4, stride=2, padding=1)
    y = rng.standard_normal((4, 30)).astype(np.float32)
    lazy = up(da.from_array(y, chunks=(4, 7)), output_size=[61])
    assert lazy.shape == (2, 61)
    assert_matches(_compute(lazy), up(y, output_size=[61]), np.float32, "ConvTranspose1d with output_size")


# --------------------------------------------------------------------------- errors and laziness


def _exploding(shape: tuple[int, ...], chunks: tuple[int, ...]) -> Any:
    """A Dask array whose computation fails: any error raised before that is the check's."""

    def boom(block: np.ndarray) -> np.ndarray:
        raise AssertionError("the input was computed")

    return da.zeros(shape, chunks=chunks).map_blocks(boom, dtype=np.float64, meta=np.empty((0,) * len(shape)))


def test_bad_calls_raise_before_any_work() -> None:
    x = _exploding((2, 3, 50), (1, 3, 10))
    with pytest.raises(ConvError, match="channels"):
        conv1d.conv1d(x, np.ones((4, 2, 3)))
    with pytest.raises(ConvError, match="spans"):
        conv1d.conv1d(x, np.ones((4, 3, 60)))
    with pytest.raises(ConvTypeError, match="float32"):
        conv1d.conv1d(x, np.ones((4, 3, 3), np.float32))
    with pytest.raises(ConvError, match="algorithm"):
        conv1d.conv1d(x, np.ones((4, 3, 3)), algorithm="toeplitz")
    with pytest.raises(ConvError, match="output_padding"):
        conv1d.conv_transpose1d(x, np.ones((3, 2, 3)), stride=2, output_padding=2)
    lazy = conv1d.conv1d(x, np.ones((4, 3, 3)))  # valid: nothing is computed until asked
    assert isinstance(lazy, da.Array)


def test_unknown_chunk_sizes_are_refused_with_the_fix() -> None:
    x = da.from_array(np.arange(40.0).reshape(1, 1, 40), chunks=(1, 1, 10))
    unknown = x[:, :, x[0, 0] > 5]  # boolean indexing: sizes known only after computing
    with pytest.raises(ConvError, match="compute_chunk_sizes"):
        conv1d.conv1d(unknown, np.ones((1, 1, 3)))


def test_weights_given_as_dask_arrays_are_computed() -> None:
    rng = np.random.default_rng(6)
    x, w, b = rng.standard_normal((2, 30)), rng.standard_normal((3, 2, 4)), rng.standard_normal(3)
    lazy = conv1d.conv1d(da.from_array(x, chunks=(2, 8)), da.from_array(w), da.from_array(b))
    assert_matches(_compute(lazy), conv1d.conv1d(x, w, b), np.float64, "dask weights")


def test_importing_conv1d_does_not_import_dask() -> None:
    code = (
        "import sys, numpy as np, conv1d; conv1d.conv1d(np.ones((1, 4)), np.ones((1, 1, 2)));"
        "print(any(m == 'dask' or m.startswith('dask.') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out


# --------------------------------------------------------------------------- .npy files and a real cluster


def test_npy_round_trip_chunk_by_chunk(tmp_path: Any) -> None:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 2, 1000)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    lazy_x = cdask.from_npy(tmp_path / "x.npy", chunks=(2, 2, 300))
    assert lazy_x.chunks == ((2, 1), (2,), (300, 300, 300, 100))
    w = rng.standard_normal((5, 2, 17)).astype(np.float32)
    cdask.to_npy(conv1d.conv1d(lazy_x, w, padding="causal"), tmp_path / "y.npy", scheduler="sync")
    y = np.load(tmp_path / "y.npy", mmap_mode="r")
    assert_matches(np.asarray(y), conv1d.conv1d(x, w, padding="causal"), np.float32, "written .npy")

    np.save(tmp_path / "f.npy", np.asfortranarray(x))
    with pytest.raises(ConvError, match="Fortran"):
        cdask.from_npy(tmp_path / "f.npy")
    with pytest.raises(ConvTypeError, match=r"dask\.array"):
        cdask.to_npy(x, tmp_path / "z.npy")


def test_on_a_local_cluster_of_two_worker_processes(tmp_path: Any) -> None:
    distributed = pytest.importorskip("distributed")
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 5000)).astype(np.float32)
    w = rng.standard_normal((4, 3, 33)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        workers = client.run(os.getpid)
        assert len(set(workers.values())) == 2 and os.getpid() not in workers.values()
        lazy = conv1d.conv1d(
            cdask.from_npy(tmp_path / "x.npy", chunks=(1, 3, 700)), w, padding="same", dilation=3
        )
        with distributed.get_task_stream(client) as stream:
            cdask.to_npy(lazy, tmp_path / "y.npy")  # the client's scheduler: the cluster
            transposed = conv1d.conv_transpose1d(
                da.from_array(x, chunks=(1, 2, 999)), w.transpose(1, 0, 2).copy(), stride=2, padding=3
            ).compute()
        ran_on = {task["worker"] for task in stream.data}
        assert ran_on == set(workers), (ran_on, workers)  # both worker processes did blocks
    assert_matches(
        np.load(tmp_path / "y.npy"),
        conv1d.conv1d(x, w, padding="same", dilation=3),
        np.float32,
        "on the cluster",
    )
    assert_matches(
        transposed,
        conv1d.conv_transpose1d(x, w.transpose(1, 0, 2).copy(), stride=2, padding=3),
        np.float32,
        "transposed on the cluster",
    )


@pytest.mark.parametrize(
    ("shape", "chunks", "store_chunks"),
    [
        ((10,), (3,), (4,)),
        ((3, 4, 101), (2, 3, 10), (1, 4, 33)),
        ((2, 3, 5, 7), (1, 2, 2, 3), (2, 1, 5, 2)),
    ],
)
def test_npy_files_are_read_and_written_block_by_block_exactly(
    tmp_path: Any, shape: tuple, chunks: tuple, store_chunks: tuple
) -> None:
    """Reads and writes of any rank and any block alignment give the same bytes as NumPy's."""
    a = np.random.default_rng(9).standard_normal(shape).astype(np.float32)
    np.save(tmp_path / "a.npy", a)
    lazy = cdask.from_npy(tmp_path / "a.npy", chunks=chunks)
    assert lazy.chunks == da.from_array(a, chunks=chunks).chunks
    np.testing.assert_array_equal(lazy.compute(scheduler="sync"), a)
    cdask.to_npy(da.from_array(a, chunks=store_chunks), tmp_path / "b.npy", scheduler="threads")
    np.testing.assert_array_equal(np.load(tmp_path / "b.npy"), a)


@pytest.mark.parametrize("padding_mode", ["zeros", "reflect", "replicate", "circular"])
def test_empty_chunks_anywhere_are_skipped(padding_mode: str) -> None:
    """Dask allows chunks of size 0 (after filtering, say): along batch and length they
    give no blocks of their own and break no halo."""
    rng = np.random.default_rng(10)
    x, w, b = rng.standard_normal((2, 3, 40)), rng.standard_normal((4, 3, 5)), rng.standard_normal(4)
    lazy_x = da.from_array(x, chunks=((1, 0, 1), (3,), (5, 0, 0, 10, 0, 25)))
    for options in (
        {"padding": 4, "stride": 2},
        {"padding": "same", "dilation": 3},
        {"padding": (7, 2), "stride": 3},
    ):
        got = _compute(conv1d.conv1d(lazy_x, w, b, padding_mode=padding_mode, **options))
        assert_matches(
            got, conv1d.conv1d(x, w, b, padding_mode=padding_mode, **options), np.float64, str(options)
        )
    wt = rng.standard_normal((3, 2, 4))
    got = _compute(conv1d.conv_transpose1d(lazy_x, wt, stride=3, padding=2))
    assert_matches(got, conv1d.conv_transpose1d(x, wt, stride=3, padding=2), np.float64, "transposed")
