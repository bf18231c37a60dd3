"""Every kernel equals kernels/reference.py, on drawn problems and on hand-checked ones.

Kernels share one signature (conv1d/kernels/__init__.py) on normalised problems: groups
split out, compute dtypes only (float32, float64, complex64, complex128, int64), zero
padding passed as numbers, an optional bias ``(G, Co)``, and for ``conv_transpose`` a window
``offset .. offset+length-1`` of the full adjoint. The FFT kernel takes real floats only (the
planner never gives it integers or complex numbers). GEMM and FFT work in blocks bounded by
their ``BLOCK_BYTES``; tiny values force many blocks (down to one output position each).
"""

from __future__ import annotations

import contextlib
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from helpers import assert_matches
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import KernelProblem, kernel_problems, lay_out, random_array, seeds

from conv1d import dispatch
from conv1d.kernels import _compiled, direct, fft, gemm, reference, threads, winograd

COMPUTE_DTYPES = tuple(map(np.dtype, ("float32", "float64", "complex64", "complex128", "int64")))
REAL_FLOATS = tuple(map(np.dtype, ("float32", "float64")))
KERNELS = {"gemm": gemm, "direct": direct, "fft": fft, "winograd": winograd}
BLOCK_SIZES = {"default blocks": None, "64-byte blocks": 64, "1-byte blocks": 1}


def _arrays(p: KernelProblem, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return {
        "x": lay_out(random_array(rng, p.x_shape, p.dtype), p.view),
        "w": random_array(rng, p.w_shape, p.dtype),
        "bias": random_array(rng, (p.groups, p.co), p.dtype) if p.bias else None,
        "y": lay_out(random_array(rng, p.y_shape, p.dtype), p.view),
    }


SUMS_BIAS = tuple(
    k for k in dispatch.KERNELS.values() if k.CAPABILITIES.sums_bias
)  # conv_weight also fills ``bias=``


def _all_three(kernel: ModuleType, p: KernelProblem, a: dict[str, Any]) -> dict[str, np.ndarray]:
    """The three functions' results, and for the SUMS_BIAS kernels their ``bias=`` output
    (the reference's is ``y`` summed over batch and positions)."""
    result = {
        "conv": kernel.conv(a["x"], a["w"], p.stride, p.dilation, p.pad_left, p.pad_right, a["bias"]),
        "conv_transpose": kernel.conv_transpose(a["y"], a["w"], p.stride, p.dilation, p.t_length, p.offset),
    }
    if kernel is reference:
        result["conv_weight"] = kernel.conv_weight(a["x"], a["y"], p.k, p.stride, p.dilation, p.pad_left)
        result["bias gradient"] = a["y"].sum(axis=(0, 3))
    elif kernel in SUMS_BIAS:
        result["bias gradient"] = np.full((p.groups, p.co), 7, p.dtype)
        result["conv_weight"] = kernel.conv_weight(
            a["x"], a["y"], p.k, p.stride, p.dilation, p.pad_left, bias=result["bias gradient"]
        )
    else:
        result["conv_weight"] = kernel.conv_weight(a["x"], a["y"], p.k, p.stride, p.dilation, p.pad_left)
    return result


def _check_against_reference(
    name: str,
    block_bytes: int | None,
    p: KernelProblem,
    seed: int,
    large_input_paths: bool = False,
    one_thread: bool = False,
) -> None:
    """``large_input_paths``: take the paths meant for large inputs on these small ones too
    (GEMM's im2col one copy per tap or compiled loops for strides, its forward's batch
    items side by side in one product, and, with small blocks, its forward tap by tap;
    Winograd's blocked transposition into channels-last).
    ``one_thread``: run inside ``threads.limited(1)``, with the direct kernel's parallel
    forms made to fail, so that its serial forms compute; otherwise the compiled loops take
    their parallel forms however little work a problem is."""
    a = _arrays(p, seed)
    before = {key: v.copy() for key, v in a.items() if v is not None}
    expected = _all_three(reference, p, a)
    with pytest.MonkeyPatch.context() as patch:
        if block_bytes is not None:
            patch.setattr(gemm, "BLOCK_BYTES", block_bytes)
            patch.setattr(fft, "BLOCK_BYTES", block_bytes)
            patch.setattr(winograd, "BLOCK_BYTES", block_bytes)
        if large_input_paths:
            patch.setattr(gemm, "SMALL_GATHER", -1)
            patch.setattr(gemm, "PER_ITEM_PRODUCT", -1)
            patch.setattr(gemm, "TAP_DEPTH", 1)
            patch.setattr(winograd, "SMALL_SAMPLES", -1)
        if one_thread:
            for form in ("_conv_jit", "_conv_transpose_jit", "_conv_weight_jit"):
                patch.setattr(direct, form, _refuse)
        else:
            patch.setattr(_compiled, "PARALLEL_WORK", 0)
        with threads.limited(1) if one_thread else contextlib.nullcontext():
            actual = _all_three(KERNELS[name], p, a)
    shapes = {"conv": p.y_shape, "conv_transpose": p.transposed_shape, "conv_weight": p.w_shape}
    if KERNELS[name] in SUMS_BIAS:
        shapes["bias gradient"] = (p.groups, p.co)
    for op, shape in shapes.items():
        assert expected[op].shape == shape, (
            f"reference {op} shape {expected[op].shape}, the contract says {shape}"
        )
        assert_matches(
            actual[op], expected[op], p.dtype, f"{name}.{op} {p} block_bytes={block_bytes}", algorithm=name
        )
    for key, copy in before.items():
        assert np.array_equal(a[key], copy), f"{name} wrote into its argument {key}"


@pytest.mark.parametrize("block_bytes", list(BLOCK_SIZES.values()), ids=list(BLOCK_SIZES))
@settings(max_examples=150, deadline=None)
@given(problem=kernel_problems(dtypes=COMPUTE_DTYPES), seed=seeds)
def test_gemm_equals_reference(block_bytes: int | None, problem: KernelProblem, seed: int) -> None:
    _check_against_reference("gemm", block_bytes, problem, seed)


@pytest.mark.parametrize("block_bytes", [None, 64], ids=["default blocks", "64-byte blocks"])
@settings(max_examples=100, deadline=None)
@given(problem=kernel_problems(dtypes=COMPUTE_DTYPES), seed=seeds)
def test_gemm_equals_reference_on_the_large_input_paths(
    block_bytes: int | None, problem: KernelProblem, seed: int
) -> None:
    _check_against_reference("gemm", block_bytes, problem, seed, large_input_paths=True)


@settings(max_examples=150, deadline=None)
@given(problem=kernel_problems(dtypes=COMPUTE_DTYPES), seed=seeds)
def test_direct_equals_reference(problem: KernelProblem, seed: int) -> None:
    _check_against_reference("direct", None, problem, seed)


def _refuse(*args: object) -> None:
    raise AssertionError("the parallel form ran")


def test_little_work_runs_the_serial_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    """Below PARALLEL_WORK the compiled loops run serially whatever the thread count (a
    parallel region costs more than such a call); above it, in parallel where threads allow."""
    for form in ("_conv_jit", "_conv_transpose_jit", "_conv_weight_jit"):
        monkeypatch.setattr(direct, form, _refuse)
    x, w = np.ones((4, 1, 2, 6)), np.ones((1, 3, 2, 5))
    y = direct.conv(x, w, 1, 1)
    np.testing.assert_array_equal(y, reference.conv(x, w, 1, 1))
    direct.conv_transpose(y, w, 1, 1, 6)
    direct.conv_weight(x, y, 5, 1, 1)
    if threads.numba_threads() > 1:
        with pytest.raises(AssertionError, match="the parallel form ran"):
            direct.conv(np.ones((4, 1, 64, 600)), np.ones((1, 8, 64, 5)), 1, 1)


@settings(max_examples=100, deadline=None)
@given(problem=kernel_problems(dtypes=COMPUTE_DTYPES), seed=seeds)
def test_direct_equals_reference_on_one_thread(problem: KernelProblem, seed: int) -> None:
    _check_against_reference("direct", None, problem, seed, one_thread=True)


@pytest.mark.parametrize("block_bytes", [None, 1], ids=["default blocks", "1-byte blocks"])
@settings(max_examples=150, deadline=None)
@given(problem=kernel_problems(dtypes=REAL_FLOATS), seed=seeds)
def test_fft_equals_reference(block_bytes: int | None, problem: KernelProblem, seed: int) -> None:
    _check_against_reference("fft", block_bytes, problem, seed)


FLOATS = tuple(map(np.dtype, ("float32", "float64", "complex64", "complex128")))


@pytest.mark.parametrize("block_bytes", [None, 1], ids=["default blocks", "1-byte blocks"])
@settings(max_examples=150, deadline=None)
@given(problem=kernel_problems(dtypes=FLOATS, winograd=True), seed=seeds)
def test_winograd_equals_reference(block_bytes: int | None, problem: KernelProblem, seed: int) -> None:
    """Stride 1, dilation 1, 2..7 taps, floats (the planner gives it nothing else); 1-byte
    blocks put every tile of every item in a block of its own."""
    _check_against_reference("winograd", block_bytes, problem, seed)


@settings(max_examples=100, deadline=None)
@given(problem=kernel_problems(dtypes=FLOATS, winograd=True), seed=seeds)
def test_winograd_equals_reference_on_the_large_input_paths(problem: KernelProblem, seed: int) -> None:
    _check_against_reference("winograd", None, problem, seed, large_input_paths=True)


def test_winograd_matrices_interpolate_exactly() -> None:
    """F(m, r) on integer data in float64: AT ((G w) * (BT d)) is the correlation, to
    rounding, for every tile size the kernel uses."""
    rng = np.random.default_rng(0)
    for k in range(2, winograd.MAX_TAPS + 1):
        m = winograd.tile(k)
        at, g, bt = winograd.matrices(m, k, np.dtype(np.float64))
        assert (
            at.shape == (m, winograd.ALPHA)
            and g.shape == (winograd.ALPHA, k)
            and bt.shape == (winograd.ALPHA,) * 2
        )
        assert np.all(at[:, winograd.ONES] == 1)  # the bias column
        d, w = rng.integers(-9, 10, winograd.ALPHA), rng.integers(-9, 10, k)
        expected = [int(np.dot(d[i : i + k], w)) for i in range(m)]
        np.testing.assert_allclose(at @ ((g @ w) * (bt @ d)), expected, rtol=0, atol=1e-9)
        # The weight gradient's output transform (AT of F(K, m)) folds each pair of points
        # +-q first: their columns must differ by the sign (-1)^j, tap by tap.
        at_weights = winograd.matrices(k, m, np.dtype(np.float64))[0]
        signs = (-1.0) ** np.arange(k)
        for plus, minus in winograd.PAIRED:
            assert np.array_equal(at_weights[:, minus], at_weights[:, plus] * signs), (k, plus, minus)


def test_winograd_refuses_what_it_cannot_compute() -> None:
    x, w = np.ones((1, 1, 1, 10)), np.ones((1, 1, 1, 3))
    for args in ((2, 1), (1, 2)):
        with pytest.raises(ValueError, match="stride 1, dilation 1"):
            winograd.conv(x, w, *args)
    with pytest.raises(ValueError, match=r"2..7 taps"):
        winograd.conv(x, np.ones((1, 1, 1, 8)), 1, 1)


def test_tiny_blocks_really_split_the_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """With BLOCK_BYTES=64 each output position is a GEMM block of its own (one position's
    columns already need more than 64 bytes), so the kernel makes one matrix product per
    batch item and position: in conv, in conv_weight, and in conv_transpose, which for
    stride 1 is conv with the flipped kernel over its ``t_length`` outputs."""
    p = KernelProblem(
        n=2,
        groups=1,
        ci=3,
        co=2,
        k=3,
        stride=1,
        dilation=1,
        length=20,
        pad_left=0,
        pad_right=0,
        bias=False,
        offset=0,
        t_length=20,
        dtype=np.dtype(np.float64),
    )
    a = _arrays(p, seed=1)
    expected = _all_three(reference, p, a)
    calls: list[str] = []
    monkeypatch.setattr(gemm, "BLOCK_BYTES", 64)

    def counting(*args: Any, **kwargs: Any) -> np.ndarray:
        calls.append("matmul")
        return np.matmul(*args, **kwargs)

    counts = {}
    for op, run in (
        ("conv", lambda: gemm.conv(a["x"], a["w"], p.stride, p.dilation)),
        ("conv_transpose", lambda: gemm.conv_transpose(a["y"], a["w"], p.stride, p.dilation, p.t_length)),
        ("conv_weight", lambda: gemm.conv_weight(a["x"], a["y"], p.k, p.stride, p.dilation)),
    ):
        calls.clear()
        with gemm.products(counting):
            result = run()
        assert_matches(result, expected[op], p.dtype, f"gemm.{op} in one-position blocks")
        counts[op] = len(calls)
    assert counts == {
        "conv": p.n * p.l_out,
        "conv_transpose": p.n * p.t_length,
        "conv_weight": p.n * p.l_out,
    }, counts


# --------------------------------------------------------------------------- hand-checked

# Winograd takes none of the integers and few of the strides here; its own tests are above.
ALL_KERNELS = {"reference": reference, **{name: k for name, k in KERNELS.items() if name != "winograd"}}


def _x(values: list, dtype: Any) -> np.ndarray:
    """One signal, (N=1, G=1, Ci=1, L)."""
    return np.array(values, dtype)[None, None, None, :]


def _w(values: list, dtype: Any) -> np.ndarray:
    """One kernel, (G=1, Co=1, Ci=1, K)."""
    return np.array(values, dtype)[None, None, None, :]


@pytest.mark.parametrize("block_bytes", list(BLOCK_SIZES.values()), ids=list(BLOCK_SIZES))
@pytest.mark.parametrize("name", list(ALL_KERNELS), ids=list(ALL_KERNELS))
def test_hand_checked(name: str, block_bytes: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    kernel = ALL_KERNELS[name]
    if block_bytes is not None:
        monkeypatch.setattr(gemm, "BLOCK_BYTES", block_bytes)
        monkeypatch.setattr(fft, "BLOCK_BYTES", block_bytes)
    dt = np.dtype(np.float64 if name == "fft" else np.int64)  # FFT: real floats only

    def check(actual: np.ndarray, expected: np.ndarray, what: str) -> None:
        assert_matches(actual, expected, dt, f"{name}: {what}", algorithm=name)

    x = _x(list(range(6)), dt)  # 0 1 2 3 4 5
    # y[t] = x[t] + 2 x[t+1]
    check(kernel.conv(x, _w([1, 2], dt), 1, 1), _x([2, 5, 8, 11, 14], dt), "conv")
    # stride 2, dilation 2: y[t] = x[2t] + 2 x[2t+2], Lo = (6 - 3)//2 + 1 = 2
    check(kernel.conv(x, _w([1, 2], dt), 2, 2), _x([4, 10], dt), "conv s2 d2")
    # K = 1, stride 3: every third sample times 5
    check(kernel.conv(x, _w([5], dt), 3, 1), _x([0, 15], dt), "conv k1 s3")
    # kernel as long as the signal: one output, 0 + 1 + ... + 5
    check(kernel.conv(x, _w([1] * 6, dt), 1, 1), _x([15], dt), "conv K = L")
    # cross-correlation, not convolution: the kernel is not flipped
    check(kernel.conv(_x([1, 0, 0], dt), _w([1, 2, 3], dt), 1, 1), _x([1], dt), "not flipped")
    # zero padding as numbers, and a bias: xp = [0, 1, 2, 3, 0], y[t] = xp[t] + xp[t+1] + 10
    bias = np.array([[10]], dt)
    check(
        kernel.conv(_x([1, 2, 3], dt), _w([1, 1], dt), 1, 1, 1, 1, bias),
        _x([11, 13, 15, 13], dt),
        "pads, bias",
    )
    # padding alone can hold the window: L = 1, pads (2, 1), K = 4: one output, xp = [0, 0, 7, 0]
    check(kernel.conv(_x([7], dt), _w([1, 2, 3, 4], dt), 1, 1, 2, 1), _x([21], dt), "padding-only window")

    # transposed, overlap-add: y = [1, 10, 100] scatters y[t] * [1, 2, 3] to t, t+1, t+2
    y3 = _x([1, 10, 100], dt)
    check(
        kernel.conv_transpose(y3, _w([1, 2, 3], dt), 1, 1, 5),
        _x([1, 12, 123, 230, 300], dt),
        "conv_transpose",
    )
    # a window of it: positions 1..5, the last one past the end reads 0
    check(kernel.conv_transpose(y3, _w([1, 2, 3], dt), 1, 1, 5, 1), _x([12, 123, 230, 300, 0], dt), "offset")
    # stride 2, one position more than the windows reach: the last sample stays 0
    check(kernel.conv_transpose(_x([1, 1], dt), _w([1, 2], dt), 2, 1, 5), _x([1, 2, 1, 2, 0], dt), "s2")
    # dilation 2: taps land 2 apart, y[t]*w[j] -> t + 2j
    check(kernel.conv_transpose(_x([1, 10], dt), _w([1, 2], dt), 1, 2, 4), _x([1, 10, 2, 20], dt), "d2")

    # weight gradient: gw[j] = sum_t y[t] x[2t + j] with x = 0..4, y = [1, 10], stride 2
    check(
        kernel.conv_weight(_x([0, 1, 2, 3, 4], dt), _x([1, 10], dt), 2, 2, 1), _w([20, 31], dt), "conv_weight"
    )
    # with pad_left = 1: xp = [0, 1, 2, 3], y = [1, 1, 1]: gw = [0+1+2, 1+2+3]
    check(
        kernel.conv_weight(_x([1, 2, 3], dt), _x([1, 1, 1], dt), 2, 1, 1, 1),
        _w([3, 6], dt),
        "conv_weight pad",
    )

    # two channels in, one out: y[t] = x0[t] + x1[t+1] (w = [[1, 0], [0, 1]])
    x2 = np.array([[1, 2, 3], [10, 20, 30]], dt)[None, None]  # (1, 1, Ci=2, 3)
    w2 = np.array([[1, 0], [0, 1]], dt)[None, None]  # (1, Co=1, Ci=2, 2)
    check(kernel.conv(x2, w2, 1, 1), np.array([21, 32], dt)[None, None, None], "channels")
    # two groups never mix: group 0 doubles [0, 1, 2], group 1 negates [3, 4, 5]
    xg = np.arange(6, dtype=dt).reshape(1, 2, 1, 3)
    wg = np.array([2, -1], dt).reshape(2, 1, 1, 1)
    check(kernel.conv(xg, wg, 1, 1), np.array([[0, 2, 4], [-3, -4, -5]], dt).reshape(1, 2, 1, 3), "groups")


@pytest.mark.parametrize("name", list(ALL_KERNELS), ids=list(ALL_KERNELS))
def test_empty_batch(name: str) -> None:
    """N = 0: empty results of the contract's shapes, and a zero weight gradient."""
    kernel = ALL_KERNELS[name]
    dt = np.dtype(np.float64)
    x, w, y = np.zeros((0, 2, 3, 6), dt), np.ones((2, 4, 3, 2), dt), np.zeros((0, 2, 4, 5), dt)
    assert_matches(kernel.conv(x, w, 1, 1), y, dt, f"{name}.conv", algorithm=name)
    assert_matches(kernel.conv_transpose(y, w, 1, 1, 6), x, dt, f"{name}.conv_transpose", algorithm=name)
    assert_matches(
        kernel.conv_weight(x, y, 2, 1, 1), np.zeros((2, 4, 3, 2)), dt, f"{name}.conv_weight", algorithm=name
    )


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_left_padding_longer_than_the_output(name: str) -> None:
    """Tap 0 starts past the last output (t0 = 9 > L_out = 6): the direct kernel once wrote
    its bias prefill out of bounds here (a crash, found by the property tests)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 1, 1, 1))
    w = rng.standard_normal((1, 2, 1, 5))
    bias = rng.standard_normal((1, 2))
    expected = reference.conv(x, w, 1, 1, 9, 0, bias)
    assert expected.shape == (2, 1, 2, 6)
    assert_matches(
        KERNELS[name].conv(x, w, 1, 1, 9, 0, bias), expected, np.float64, f"{name}.conv", algorithm=name
    )


@pytest.mark.parametrize("name", ["gemm", "winograd"])
def test_the_weight_gradient_reuses_what_the_forward_kept(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """conv(keep=d) leaves its gathered (GEMM) or transformed (Winograd) input in d, and
    conv_weight(kept=d) uses it instead of computing it again: same result, and with the
    gathering made to fail it still runs. A different x (shape) is not mistaken for it."""
    kernel = KERNELS[name]
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 1, 3, 20)), rng.standard_normal((1, 4, 3, 5))
    keep: dict = {}
    y = kernel.conv(x, w, 1, 1, 2, 2, None, keep)
    assert len(keep) == (1 if name == "gemm" else 2)  # Winograd also keeps its weight transform
    gy = rng.standard_normal(y.shape)
    fresh = kernel.conv_weight(x, gy, 5, 1, 1, 2)

    def fail(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("computed again")

    monkeypatch.setattr(kernel, "_gather" if name == "gemm" else "_input_transform", fail)
    np.testing.assert_array_equal(kernel.conv_weight(x, gy, 5, 1, 1, 2, kept=keep), fresh)
    with pytest.raises(AssertionError, match="computed again"):
        kernel.conv_weight(x[:1], gy[:1], 5, 1, 1, 2, kept=keep)


def test_the_winograd_input_gradient_reuses_the_forward_weight_transform(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """conv(keep=d) leaves G @ w in d; conv_transpose(kept=d) (the input gradient, which
    interpolates at the reciprocal points to use it unflipped) takes it instead of
    computing it: the same result as the reference, no product with G made, and a kept
    transform that is wrong shows up in the result (so it really is the one used)."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 1, 3, 20)), rng.standard_normal((1, 4, 3, 5))
    keep: dict = {}
    y = winograd.conv(x, w, 1, 1, 2, 2, None, keep)
    gy = rng.standard_normal(y.shape)
    expected = reference.conv_transpose(gy, w, 1, 1, 20, 2)
    products = []
    real = winograd.matmul

    def counted(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        products.append(a.shape)
        return real(a, b, out=out)

    monkeypatch.setattr(winograd, "matmul", counted)
    assert_matches(
        winograd.conv_transpose(gy, w, 1, 1, 20, 2, kept=keep),
        expected,
        np.float64,
        "winograd.conv_transpose(kept=)",
        algorithm="winograd",
    )
    assert products == [(winograd.ALPHA, 1, 2 * 5, 4)]  # the products only (2 items x 5 tiles): no G @ w
    doubled = {key: 2 * value for key, value in keep.items()}
    np.testing.assert_allclose(
        winograd.conv_transpose(gy, w, 1, 1, 20, 2, kept=doubled), 2 * expected, rtol=1e-9, atol=1e-9
    )


@pytest.mark.parametrize(
    "n, g, ci, co, k, dilation, stride, extra",
    [
        (1, 1, 64, 128, 2, 256, 1, 0),  # a stream's one-sample step of a WaveNet layer
        (3, 2, 3, 4, 5, 3, 2, 1),  # grouped, strided, one sample past the window
        (2, 4, 1, 2, 1, 1, 7, 6),  # depthwise, one tap, long stride
    ],
)
@pytest.mark.parametrize("bias", [False, True])
def test_gemm_one_output_position_equals_the_reference(n, g, ci, co, k, dilation, stride, extra, bias):
    """One window per item (L_out = 1, no left padding): GEMM's matrix-vector path."""
    rng = np.random.default_rng(0)
    length = (k - 1) * dilation + 1 + extra
    x = rng.standard_normal((n, g, ci, length))
    w = rng.standard_normal((g, co, ci, k))
    b = rng.standard_normal((g, co)) if bias else None
    expected = reference.conv(x, w, stride, dilation, 0, 0, b)
    assert expected.shape == (n, g, co, 1)
    assert_matches(
        gemm.conv(x, w, stride, dilation, 0, 0, b), expected, np.float64, "gemm one window", algorithm="gemm"
    )


@pytest.mark.parametrize(
    "n, g, ci, co, k, dilation, pad_left, pad_right, length, dtype",
    [
        (1, 1, 64, 32, 3, 1, 0, 0, 700, "float32"),  # EnCodec's residual layer, shorter
        (2, 2, 16, 4, 4, 3, 5, 2, 600, "float64"),  # grouped, dilated, padded both sides
        (2, 1, 16, 1, 7, 1, 3, 3, 520, "int64"),  # 'same', integers
        (1, 1, 16, 2, 2, 9, 0, 0, 530, "complex128"),
        (3, 1, 16, 1, 2, 1, 0, 40, 600, "float64"),  # zeros behind only
    ],
)
@pytest.mark.parametrize("bias", [False, True])
def test_gemm_tap_by_tap_equals_the_reference(
    n, g, ci, co, k, dilation, pad_left, pad_right, length, dtype, bias, monkeypatch
):
    """Long stride-1 outputs of layers with few outputs for their gathered rows: GEMM's
    products tap by tap, without gathering (the path is checked to be taken)."""
    taken = []
    real = gemm._conv_by_taps
    monkeypatch.setattr(gemm, "_conv_by_taps", lambda *a: taken.append(1) or real(*a))
    rng = np.random.default_rng(1)
    dtype = np.dtype(dtype)
    x = random_array(rng, (n, g, ci, length), dtype)
    w = random_array(rng, (g, co, ci, k), dtype)
    b = random_array(rng, (g, co), dtype) if bias else None
    expected = reference.conv(x, w, 1, dilation, pad_left, pad_right, b)
    actual = gemm.conv(x, w, 1, dilation, pad_left, pad_right, b)
    assert taken, "the tap-by-tap path was not taken"
    assert_matches(actual, expected, dtype, "gemm tap by tap", algorithm="gemm")


@pytest.mark.parametrize("name", list(KERNELS) + ["reference"])
@settings(max_examples=40, deadline=None)
@given(data=st.data(), seed=seeds)
def test_conv_writes_into_out(name: str, data: Any, seed: int) -> None:
    """Every kernel's ``conv(..., out=)`` writes the result it returns without ``out`` into
    ``out`` and returns that very array."""
    kernel = reference if name == "reference" else KERNELS[name]
    dtypes = REAL_FLOATS if name in ("fft", "winograd") else COMPUTE_DTYPES
    p = data.draw(kernel_problems(dtypes=dtypes, winograd=name == "winograd"))
    a = _arrays(p, seed)
    args = (a["x"], a["w"], p.stride, p.dilation, p.pad_left, p.pad_right, a["bias"])
    expected = kernel.conv(*args)
    out = np.full(p.y_shape, 7, p.dtype)
    assert kernel.conv(*args, out=out) is out
    np.testing.assert_array_equal(out, expected)
