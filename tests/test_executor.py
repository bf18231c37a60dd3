"""conv1d.executor: one executor per spec, the only way into a kernel.

Its plain path (reshapes only) and its general one give the same arrays; what a forward
keeps is what the gradients reuse; kernels' capability records say what their functions
take; every entry point reaches kernels through an executor; the one cache is keyed by
what decides a plan; a shared executor gives every thread the serial result's bits.
"""

from __future__ import annotations

import inspect
import itertools
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from helpers import assert_matches
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import conv_cases, lay_out, make_arrays, transposed_cases

import conv1d
from conv1d import dispatch, executor
from conv1d.executor import Executor
from conv1d.kernels import Capabilities, fft, gemm, reference, threads, winograd
from conv1d.spec import conv1d_spec, conv_transpose1d_spec

ALGORITHMS = ("auto", "gemm", "direct", "fft", "winograd")

# Half the examples from the plain path's own ground (zero padding, channels first, batched).
plain_or_any = st.one_of(
    conv_cases(padding_modes=("zeros",), layouts=("NCL",), batch=st.integers(0, 3)),
    conv_cases(),
)


def _allowed(case: Any, dtype: Any, algorithm: str) -> str:
    if algorithm == "winograd" and not (case.stride == case.dilation == 1 and 2 <= case.k <= 7):
        return "gemm"
    if algorithm == "fft" and np.dtype(dtype) == np.float16:
        return "auto"
    return algorithm


def _general(run: Executor) -> Executor:
    """The same executor taking its general path (layout, dtype and groups handled step by step)."""
    other = Executor(run.spec, run.plan.algorithm)
    other.plain = False
    return other


def _assert_bias_sum(gb: np.ndarray, gy: np.ndarray, channel_axis: int) -> None:
    """``gb`` is the bias gradient: ``gy`` summed over all but the channel axis (in float64
    here; the kernels sum in their compute dtype, in their own order)."""
    axes = tuple(a for a in range(gy.ndim) if a != channel_axis)
    exact = gy.astype(np.float64).sum(axis=axes)
    scale = np.abs(gy.astype(np.float64)).sum(axis=axes) + 1
    eps = np.finfo(np.float32 if gy.dtype == np.float16 else gy.dtype).eps
    assert gb.dtype == gy.dtype
    assert np.all(
        np.abs(gb.astype(np.float64) - exact)
        <= 8 * eps * scale + (1e-3 * scale if gy.dtype == np.float16 else 0)
    )


@settings(max_examples=120, deadline=None)
@given(
    case=plain_or_any,
    dtype=st.sampled_from([np.float64, np.float32, np.float16]),
    algorithm=st.sampled_from(ALGORITHMS),
    seed=st.integers(0, 2**16),
)
def test_the_plain_path_equals_the_general_one(case, dtype, algorithm, seed):
    algorithm = _allowed(case, dtype, algorithm)
    a = make_arrays(case, dtype, seed)
    x, w, gy = lay_out(a.input, case.view), a.weight, lay_out(a.grad_output, case.view)
    spec = conv1d_spec(
        x.shape, w.shape, None if a.bias is None else a.bias.shape, **case.options, dtype=x.dtype
    )
    run = executor.executor(spec, algorithm)
    assert run.plain == (
        case.padding_mode == "zeros"
        and case.layout == "NCL"
        and case.n is not None
        and np.dtype(dtype) != np.float16
    )
    general = _general(run)
    keep, keep_general = {}, {}
    y = run.forward(x, w, a.bias, keep=keep)
    np.testing.assert_array_equal(y, general.forward(x, w, a.bias, keep=keep_general))
    assert y.shape == spec.output_shape and y.dtype == dtype and y.flags.c_contiguous
    assert keep.keys() == keep_general.keys()
    for kept, kept_general in ((keep, keep_general), (None, None)):
        gx = run.input_grad(w, gy, kept)
        np.testing.assert_array_equal(gx, general.input_grad(w, gy, kept_general))
        assert gx.shape == spec.input_shape and gx.dtype == dtype and gx.flags.c_contiguous
        gb = np.full(spec.c_out, np.nan, gy.dtype)
        gw = run.weight_grad(x, gy, kept, bias=gb)
        np.testing.assert_array_equal(gw, general.weight_grad(x, gy, kept_general))
        assert gw.shape == spec.weight_shape and gw.dtype == dtype and gw.flags.c_contiguous
        _assert_bias_sum(gb, gy, spec.channel_axis)
        np.testing.assert_array_equal(run.bias_grad(gy), general.bias_grad(gy))


@settings(max_examples=80, deadline=None)
@given(
    case=plain_or_any,
    transposed=st.none() | transposed_cases(),
    dtype=st.sampled_from([np.float64, np.float32, np.float16]),
    algorithm=st.sampled_from(ALGORITHMS),
    order=st.sampled_from(["C", "F", "strided"]),
    seed=st.integers(0, 2**16),
)
def test_out_receives_the_result(case, transposed, dtype, algorithm, order, seed):
    """``out=``: the very array passed, holding the call's result bit for bit, whatever the
    path (written by the kernel on the plain one, copied in elsewhere) and out's layout."""
    if transposed is not None:
        case, function, algorithm = transposed, conv1d.conv_transpose1d, "gemm"
    else:
        function, algorithm = conv1d.conv1d, _allowed(case, dtype, algorithm)
    a = make_arrays(case, dtype, seed)
    x = lay_out(a.input, case.view) if transposed is None else a.input
    expected = function(x, a.weight, a.bias, **case.options, algorithm=algorithm)
    if order == "strided":
        room = np.full(expected.shape[:-1] + (2 * expected.shape[-1],), np.nan, expected.dtype)
        out = room[..., ::2]
    else:
        out = np.full(expected.shape, np.nan, expected.dtype, order=order)
    got = function(x, a.weight, a.bias, **case.options, algorithm=algorithm, out=out)
    assert got is out
    np.testing.assert_array_equal(out, expected)


def test_a_bad_out_is_refused_before_any_work(monkeypatch):
    monkeypatch.setattr(executor.Executor, "_forward", lambda *a: pytest.fail("worked on a bad out="))
    x, w, b = np.ones((2, 3, 10), np.float32), np.ones((4, 3, 3), np.float32), np.ones(4, np.float32)
    cases = {
        "must be a NumPy array, got list": [0.0] * 64,
        r"shape \(2, 4, 8\) and dtype float32, got \(2, 4, 9\) float32": np.empty((2, 4, 9), np.float32),
        r"got \(2, 4, 8\) float64. Give np.empty\(\(2, 4, 8\), np.float32\)": np.empty((2, 4, 8)),
        "read-only": np.broadcast_to(np.float32(0), (2, 4, 8)),
    }
    for message, out in cases.items():
        with pytest.raises((TypeError, ValueError), match=message):
            conv1d.conv1d(x, w, b, out=out)
    room = np.ones((2, 7, 10), np.float32)  # the input and out= in one buffer
    with pytest.raises(ValueError, match="shares memory with the input"):
        conv1d.conv1d(room[:, :3], w, b, out=room[:, 3:, :8])
    da = pytest.importorskip("dask.array")
    with pytest.raises(ValueError, match="with a Dask input the result is a lazy Dask array"):
        conv1d.conv1d(da.from_array(x), w, b, out=np.empty((2, 4, 8), np.float32))


@settings(max_examples=30, deadline=None)
@given(case=transposed_cases(), seed=st.integers(0, 2**16))
def test_a_transposed_executor_gives_conv_transpose1d_and_its_gradients(case, seed):
    a = make_arrays(case, np.float64, seed)
    spec = conv_transpose1d_spec(
        a.input.shape,
        a.weight.shape,
        None if a.bias is None else a.bias.shape,
        **case.options,
        dtype=a.input.dtype,
    )
    run = executor.executor(spec, "gemm")
    oracle = Executor(spec, "gemm")
    oracle._kernels.update(
        dict.fromkeys(oracle._kernels, reference)
    )  # the same conversions around the oracle kernel
    for got, expected in (
        (run.forward(a.input, a.weight, a.bias), oracle.forward(a.input, a.weight, a.bias)),
        (run.input_grad(a.weight, a.grad_output), oracle.input_grad(a.weight, a.grad_output)),
        (run.weight_grad(a.input, a.grad_output), oracle.weight_grad(a.input, a.grad_output)),
    ):
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)
    gb = np.full(spec.c_out, np.nan)
    run.weight_grad(a.input, a.grad_output, bias=gb)
    _assert_bias_sum(gb, a.grad_output, spec.channel_axis)


@pytest.mark.parametrize("algorithm", ["gemm", "winograd"])
def test_what_a_forward_keeps_the_gradients_reuse(algorithm, monkeypatch):
    """The FCN's middle layer: the forward leaves the gathered (GEMM) or transformed
    (Winograd) input, and Winograd's weight transform; with them the gradients do not gather
    or transform again, and give the same arrays."""
    rng = np.random.default_rng(0)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((6, 16, 24), (32, 16, 5), (32,)))
    gy = rng.standard_normal((6, 32, 24)).astype(np.float32)
    run = executor.executor(conv1d_spec(x.shape, w.shape, b.shape, padding="same", dtype=x.dtype), algorithm)
    assert run.plain and run.plan.algorithm.value == algorithm
    keep: dict = {}
    run.forward(x, w, b, keep=keep)
    assert any(key[0] == algorithm for key in keep)
    if algorithm == "winograd":
        assert any(key[0] == "winograd weights" for key in keep)
    fresh_gw, fresh_gx = run.weight_grad(x, gy), run.input_grad(w, gy)
    module = gemm if algorithm == "gemm" else winograd
    name = "_gather" if algorithm == "gemm" else "_input_transform"
    np.testing.assert_array_equal(run.input_grad(w, gy, keep), fresh_gx)
    monkeypatch.setattr(module, name, lambda *args, **kwargs: pytest.fail(f"{name} ran again"))
    np.testing.assert_array_equal(run.weight_grad(x, gy, keep), fresh_gw)


@pytest.mark.parametrize("algorithm", list(dispatch.Algorithm))
def test_each_kernel_declares_what_its_functions_take(algorithm):
    """The capability record is the truth about the keyword arguments: the executor passes
    an extra argument only where the record says a kernel takes it."""
    kernel = dispatch.KERNELS[algorithm]
    can = kernel.CAPABILITIES
    assert isinstance(can, Capabilities)
    conv, transpose, weight = (
        set(inspect.signature(f).parameters) for f in (kernel.conv, kernel.conv_transpose, kernel.conv_weight)
    )
    assert can.keeps_input == ("keep" in conv and "kept" in weight)
    assert can.keeps_weights == ("kept" in transpose)
    assert can.sums_bias == ("bias" in weight)
    assert can.takes_spectrum == ("spectrum" in conv)
    assert can.spreads_non_finite <= {"conv", "conv_transpose", "conv_weight"}
    assert can.compiles == any(
        hasattr(getattr(kernel, name, None), "py_func") for name in dir(kernel)
    )  # (Numba's compiled functions carry their Python function)
    if can.keeps_weights:
        assert can.keeps_input  # the weight transform is left in the same keep dict


def test_the_reference_kernel_takes_no_extras():
    assert reference.CAPABILITIES == Capabilities()


def test_one_cache_keyed_by_spec_algorithm_provider_and_threads():
    spec = conv1d_spec((2, 4, 50), (8, 4, 3), dtype=np.float32)
    run = executor.executor(spec)
    assert executor.executor(spec) is run
    assert executor.executor(spec, "direct") is not run
    with threads.limited(1):
        assert executor.executor(spec) is not run
    with gemm.products(lambda a, b, out=None: np.matmul(a, b, out=out)):
        assert executor.executor(spec) is not run
    executor.clear()
    assert executor.executor(spec) is not run


def _recording(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every Executor method call, by name, while the test runs."""
    calls: list[str] = []
    for name in ("forward", "input_grad", "weight_grad", "bias_grad"):
        method = getattr(Executor, name)

        def recorded(
            self: Executor, *args: Any, _method: Callable = method, _name: str = name, **kwargs: Any
        ) -> Any:
            calls.append(_name)
            return _method(self, *args, **kwargs)

        monkeypatch.setattr(Executor, name, recorded)
    return calls


def test_a_call_seen_before_builds_no_spec_and_checks_what_is_new(monkeypatch):
    """conv1d and conv_transpose1d look their executor up by the call's arguments: a repeat
    builds and checks no spec, and an option equal to one seen before but of another type
    (True or 1.0 for 1) is still checked, and refused."""
    from conv1d import functional

    built = []
    for name in ("conv1d_spec", "conv_transpose1d_spec"):
        real = getattr(functional, name)
        monkeypatch.setattr(functional, name, lambda *a, _real=real, **k: built.append(1) or _real(*a, **k))
    executor.clear()
    x, w = np.ones((2, 3, 10), np.float32), np.ones((4, 3, 3), np.float32)
    for _ in range(3):
        conv1d.conv1d(x, w, stride=1, padding=(1, 2))
        conv1d.conv_transpose1d(x, w.transpose(1, 0, 2).copy(), stride=2)
    assert len(built) == 2
    for stride in (True, 1.0):
        with pytest.raises(TypeError, match="stride must be an int"):
            conv1d.conv1d(x, w, stride=stride, padding=(1, 2))
    conv1d.conv1d(x, w, stride=[1], padding=(1, 2))  # not a key: checked on every call
    conv1d.conv1d(x, w, stride=[1], padding=(1, 2))
    assert len(built) == 6


def test_every_numpy_entry_point_goes_through_an_executor(monkeypatch):
    calls = _recording(monkeypatch)
    for name in ("conv", "conv_transpose", "conv_weight"):  # no kernel call outside an executor
        for kernel in dispatch.KERNELS.values():
            original = getattr(kernel, name)

            def guarded(*args: Any, _original: Callable = original, **kwargs: Any) -> Any:
                caller = inspect.stack()[1]
                assert caller.filename.endswith("executor.py") or "kernels" in caller.filename, (
                    caller.filename
                )
                return _original(*args, **kwargs)

            monkeypatch.setattr(kernel, name, guarded)
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 20)), rng.standard_normal((4, 3, 5))
    y = conv1d.conv1d(x, w, padding=2)
    assert calls == ["forward"]
    conv1d.grad.conv1d_input(x.shape, w, y, padding=2)
    conv1d.grad.conv1d_weight(x, w.shape, y, padding=2)
    conv1d.conv_transpose1d(y, w, padding=2)
    assert calls[1:] == ["input_grad", "weight_grad", "forward"]
    layer = conv1d.Conv1d(3, 4, 5, padding=2, dtype=np.float64, rng=0)
    calls.clear()
    layer.backward(np.ones_like(layer(x)))
    # (weight_grad asks bias_grad for the bias gradient where its kernel does not sum it)
    assert calls[:3] == ["forward", "input_grad", "weight_grad"] and set(calls[3:]) <= {"bias_grad"}
    calls.clear()
    stream = conv1d.StreamingConv1d(layer)
    stream(x[..., :7])
    stream(x[..., 7:8])
    stream.flush()
    assert calls and set(calls) == {"forward"}
    calls.clear()
    up = conv1d.StreamingConvTranspose1d(conv1d.ConvTranspose1d(3, 4, 5, stride=2, dtype=np.float64, rng=0))
    up(x[..., :1])
    up(x[..., 1:])
    assert calls and set(calls) == {"forward"}


def test_dask_blocks_go_through_executors(monkeypatch):
    da = pytest.importorskip("dask.array")
    calls = _recording(monkeypatch)
    x = np.random.default_rng(0).standard_normal((1, 2, 100))
    w = np.ones((3, 2, 5))
    lazy = conv1d.conv1d(da.from_array(x, chunks=(1, 2, 25)), w, padding="same")
    assert not calls  # lazy: nothing computed yet
    np.testing.assert_allclose(
        lazy.compute(scheduler="sync"), conv1d.conv1d(x, w, padding="same"), rtol=1e-12
    )
    assert calls.count("forward") == 1 + 4  # the in-memory call, and one per block


def test_conv1d_torch_modules_go_through_an_executor(monkeypatch):
    torch = pytest.importorskip("torch")
    import conv1d.torch as ct

    calls = _recording(monkeypatch)
    module = ct.Conv1d(3, 4, 5, padding="causal", dtype=torch.float64)
    x = torch.randn(2, 3, 20, dtype=torch.float64, requires_grad=True)
    module(x).sum().backward()
    assert calls[:3] == ["forward", "input_grad", "weight_grad"] and set(calls[3:]) <= {"bias_grad"}


def test_an_fft_layer_shared_between_threads_gives_the_serial_bits():
    """The executor's weight spectra are replaced whole, never changed in place: threads
    calling one FFT layer on inputs of several lengths get exactly the serial results."""
    layer = conv1d.Conv1d(2, 2, 513, padding="same", algorithm="fft", dtype=np.float64, rng=0)
    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal((1, 2, length)) for length in (600, 1000, 1500, 2100)]
    serial = [layer(x) for x in inputs]
    assert layer.plan(inputs[0].shape).algorithm is dispatch.Algorithm.FFT
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(12):
                k = (i + j) % len(inputs)
                np.testing.assert_array_equal(layer.forward(inputs[k]), serial[k])
        except BaseException as e:  # reported below, with the thread's own assertion
            errors.append(e)

    pool = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not errors, errors[0]


def test_an_fft_executor_keeps_spectra_per_weight(monkeypatch):
    """Two layers of one shape share the executor; each weight's spectrum is kept (up to
    SPECTRA_KEPT), and an in-place update of a weight is seen."""
    computed = []
    original = fft.kernel_spectrum
    monkeypatch.setattr(fft, "kernel_spectrum", lambda *args: computed.append(1) or original(*args))
    a, b = (
        conv1d.Conv1d(1, 1, 300, bias=False, algorithm="fft", dtype=np.float64, rng=seed) for seed in (0, 1)
    )
    x = np.random.default_rng(2).standard_normal((1, 1, 1000))
    ya, yb = a(x), b(x)
    assert len(computed) == 2
    np.testing.assert_array_equal(a(x), ya)
    np.testing.assert_array_equal(b(x), yb)
    assert len(computed) == 2
    a.weight *= 2
    np.testing.assert_allclose(a(x), 2 * ya, rtol=1e-12, atol=1e-12)
    assert len(computed) == 3


def _torch_f64(op: str, x: np.ndarray, w: np.ndarray, gy: np.ndarray, options: dict) -> np.ndarray:
    torch = pytest.importorskip("torch")
    tx, tw, tg = (torch.from_numpy(a.astype(np.float64)) for a in (x, w, gy))
    F = torch.nn.functional
    if op == "forward":
        return F.conv1d(tx, tw, **options).numpy()
    if op == "transposed":
        return F.conv_transpose1d(tx, tw, **options).numpy()
    if op == "input gradient":
        return torch.nn.grad.conv1d_input(tuple(x.shape), tw, tg, **options).numpy()
    return torch.nn.grad.conv1d_weight(tx, tuple(w.shape), tg, **options).numpy()


# (the computation, an array it reads)
NON_FINITE_CASES = [
    ("forward", "input"), ("forward", "weight"), ("transposed", "input"), ("transposed", "weight"),
    ("input gradient", "weight"), ("input gradient", "output gradient"),
    ("weight gradient", "input"), ("weight gradient", "output gradient"),
]  # fmt: skip


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize(
    ("op", "where"), NON_FINITE_CASES, ids=[f"{op}, {where}" for op, where in NON_FINITE_CASES]
)
@pytest.mark.parametrize("algorithm", ["fft", "winograd"])
def test_non_finite_values_stay_where_torch_puts_them(algorithm, op, where, value):
    """FFT and Winograd mix a block of inputs into every output; a non-finite result is
    computed again by an exact kernel, so NaN and Inf land exactly where PyTorch's (float64)
    do, and the finite values agree. (Before: one inf in 20,000 samples gave 7,616 NaN by
    FFT where PyTorch gives 1,025 inf.)"""
    rng = np.random.default_rng(0)
    k = 3 if algorithm == "winograd" else 9
    x = rng.standard_normal((2, 4, 40)).astype(np.float32)
    w = rng.standard_normal((4, 4, k)).astype(np.float32)
    options = {"padding": 1}
    if op == "transposed":
        gy = rng.standard_normal((2, 4, 40 + k - 1 - 2)).astype(np.float32)
    else:
        gy = rng.standard_normal((2, 4, 40 + 2 - k + 1)).astype(np.float32)
    target = {"input": x, "weight": w, "output gradient": gy}[where]
    if (op, where) in {
        ("forward", "output gradient"),
        ("transposed", "output gradient"),
        ("input gradient", "input"),
        ("weight gradient", "weight"),
    }:
        return  # that array takes no part in this computation
    target[(0,) * (target.ndim - 1) + (target.shape[-1] // 2,)] = value
    if op == "forward":
        got = conv1d.conv1d(x, w, algorithm=algorithm, **options)
    elif op == "transposed":
        got = conv1d.conv_transpose1d(x, w, algorithm=algorithm, **options)
    elif op == "input gradient":
        got = conv1d.grad.conv1d_input(x.shape, w, gy, algorithm=algorithm, **options)
    else:
        got = conv1d.grad.conv1d_weight(x, w.shape, gy, algorithm=algorithm, **options)
    expected = _torch_f64(op, x, w, gy, options)
    for name, mask in (("NaN", np.isnan), ("+inf", np.isposinf), ("-inf", np.isneginf)):
        np.testing.assert_array_equal(mask(got), mask(expected), err_msg=f"{name} positions differ")
    finite = np.isfinite(expected)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-4, atol=1e-4)


def test_one_inf_in_a_long_signal_gives_torchs_infs():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 1, 20_000)).astype(np.float32)
    x[0, 0, 5_000] = np.inf
    w = rng.standard_normal((1, 1, 1025)).astype(np.float32)
    assert conv1d.plan(x.shape, w.shape, padding="same").algorithm is dispatch.Algorithm.FFT
    got = conv1d.conv1d(x, w, padding="same")
    expected = torch.nn.functional.conv1d(torch.from_numpy(x), torch.from_numpy(w), padding="same").numpy()
    assert np.isnan(got).sum() == np.isnan(expected).sum() == 0
    np.testing.assert_array_equal(np.isinf(got), np.isinf(expected))
    assert np.isinf(got).sum() == 1025


def _in_threads(work: Callable[[int], None], count: int = 8) -> None:
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            work(i)
        except BaseException as e:  # re-raised below with the thread's own message
            errors.append(e)

    pool = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not errors, errors[0]


LAYER_CASES = [  # (algorithm, layer options): every kernel, on a layer it can run
    ("gemm", {"in_channels": 8, "out_channels": 16, "kernel_size": 5, "padding": "same", "stride": 1}),
    ("direct", {"in_channels": 8, "out_channels": 8, "kernel_size": 7, "groups": 8, "padding": 3}),
    ("fft", {"in_channels": 2, "out_channels": 2, "kernel_size": 129, "padding": "same"}),
    ("winograd", {"in_channels": 16, "out_channels": 16, "kernel_size": 3, "padding": 1}),
]


@pytest.mark.parametrize(("algorithm", "options"), LAYER_CASES, ids=[a for a, _ in LAYER_CASES])
def test_a_numpy_layer_shared_by_eight_threads_gives_the_serial_bits(algorithm, options):
    layer = conv1d.Conv1d(**options, algorithm=algorithm, dtype=np.float32, rng=0)
    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal((n, options["in_channels"], length)).astype(np.float32)
              for n, length in ((1, 300), (2, 257), (3, 400), (2, 1000))]  # fmt: skip
    serial = [layer(x) for x in inputs]
    assert layer.plan(inputs[0].shape).algorithm.value == algorithm

    def work(i: int) -> None:
        for j in range(10):
            k = (i + j) % len(inputs)
            np.testing.assert_array_equal(layer(inputs[k]), serial[k])

    _in_threads(work)


@pytest.mark.parametrize(("algorithm", "options"), LAYER_CASES, ids=[a for a, _ in LAYER_CASES])
def test_a_conv1d_torch_module_shared_by_eight_threads_gives_the_serial_bits(algorithm, options):
    """Forward and both gradients (torch.autograd.grad, which accumulates nothing) of one
    module from eight threads equal a serial run's bits: the thread limit and the products'
    provider conv1d.torch sets around its kernels are each thread's own."""
    torch = pytest.importorskip("torch")
    import conv1d.torch as ct

    torch.manual_seed(0)
    module = ct.Conv1d(**options, algorithm=algorithm)
    rng = np.random.default_rng(1)
    inputs = [torch.from_numpy(rng.standard_normal((n, options["in_channels"], length)).astype(np.float32))
              for n, length in ((1, 300), (2, 257), (3, 400), (2, 1000))]  # fmt: skip

    def step(x: torch.Tensor) -> list[np.ndarray]:
        x = x.clone().requires_grad_()
        y = module(x)
        grads = torch.autograd.grad(y.square().sum(), (x, module.weight, module.bias))
        return [y.detach().numpy(), *(g.numpy() for g in grads)]

    serial = [step(x) for x in inputs]

    def work(i: int) -> None:
        for j in range(6):
            k = (i + j) % len(inputs)
            for got, expected in zip(step(inputs[k]), serial[k], strict=True):
                np.testing.assert_array_equal(got, expected)

    _in_threads(work)


def test_a_thread_limit_is_the_calling_threads_own():
    """conv1d.torch lowers the thread count around its kernels; another thread meanwhile
    keeps the process's count (it used to see the lowered one, and a thread leaving its
    block could restore a count another thread had set)."""
    if threads.get() < 2:
        pytest.skip("needs two or more cores")  # the limit must differ from the process's count
    process = threads.get()
    inside, seen = threading.Event(), []

    def other() -> None:
        inside.wait()
        seen.append(threads.get())

    t = threading.Thread(target=other)
    t.start()
    with threads.limited(1):
        assert threads.get() == 1
        inside.set()
        t.join()
    assert seen == [process]
    assert threads.get() == process


@settings(max_examples=120, deadline=None)
@given(case=conv_cases(), dtype=st.sampled_from([np.float64, np.float32, np.float16]),
       algorithm=st.sampled_from(ALGORITHMS), block_bytes=st.sampled_from([1, 64, 512]), seed=st.integers(0, 2**16))  # fmt: skip
def test_a_forward_in_blocks_equals_one_call(case, dtype, algorithm, block_bytes, seed):
    """The general path's forward, weight gradient and input gradient split into blocks (tiny BLOCK_BYTES: often one
    output per block), every padding mode at the signal's edges, equals PyTorch in float64."""
    algorithm = _allowed(case, dtype, algorithm)
    a = make_arrays(case, dtype, seed)
    x = lay_out(a.input, case.view)
    spec = conv1d_spec(
        x.shape, a.weight.shape, None if a.bias is None else a.bias.shape, **case.options, dtype=x.dtype
    )
    expected = conv1d.conv1d(x.astype(np.float64), a.weight.astype(np.float64),
                             None if a.bias is None else a.bias.astype(np.float64), **case.options, algorithm="gemm")  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(executor, "BLOCK_BYTES", block_bytes)
        run = Executor(spec, algorithm)
        blocks = run._output_blocks()
        assert blocks[0][0] == 0 and blocks[-1][1] == spec.l_out
        assert all(b[1] == c[0] for b, c in itertools.pairwise(blocks))
        got = run.forward(x, a.weight, a.bias)
        gw = run.weight_grad(x, lay_out(a.grad_output, case.view))
        gx = run.input_grad(a.weight, lay_out(a.grad_output, case.view))
        input_blocks = run._input_blocks()
        assert input_blocks[0][0] == 0 and input_blocks[-1][1] == spec.l_in
    expected_gx = conv1d.grad.conv1d_input(x.shape, a.weight.astype(np.float64), a.grad_output.astype(np.float64),
                                           **case.options, algorithm="gemm")  # fmt: skip
    assert_matches(gx, expected_gx.astype(dtype), np.dtype(dtype), f"input gradient {case} in blocks of {block_bytes}",
                   algorithm=run.plan.algorithm.value)  # fmt: skip
    expected_gw = conv1d.grad.conv1d_weight(x.astype(np.float64), a.weight.shape, a.grad_output.astype(np.float64),
                                            **case.options, algorithm="gemm")  # fmt: skip
    assert_matches(gw, expected_gw.astype(dtype), np.dtype(dtype), f"weight gradient {case} in blocks of {block_bytes}",
                   algorithm=run.plan.algorithm.value)  # fmt: skip
    assert got.shape == spec.output_shape and got.dtype == dtype and got.flags.c_contiguous
    assert_matches(got, expected.astype(dtype), np.dtype(dtype), f"{case} in blocks of {block_bytes} bytes",
                   algorithm=run.plan.algorithm.value)  # fmt: skip


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")  # float16's inf, below
@pytest.mark.parametrize(
    ("name", "options", "dtype", "broadcast"),
    [
        ("zeros", {"padding": 1}, np.float32, False),
        ("reflect", {"padding": 1, "padding_mode": "reflect"}, np.float32, False),
        ("reflect, stride 100", {"padding": 1, "padding_mode": "reflect", "stride": 100}, np.float32, False),
        ("replicate", {"padding": 1, "padding_mode": "replicate"}, np.float32, False),
        ("circular", {"padding": 1, "padding_mode": "circular"}, np.float32, False),
        ("float16", {"padding": 1}, np.float16, False),
        ("float64", {"padding": 1, "padding_mode": "reflect"}, np.float64, False),
        ("int8", {"padding": 1}, np.int8, False),
        *(
            (np.dtype(t).name, {"padding": 1, "padding_mode": "reflect"}, np.dtype(t), False)
            for t in ("int16", "int32", "int64", "uint8", "complex64", "complex128")
        ),
        ("broadcast input, stride 100", {"padding": 1, "stride": 100}, np.float32, True),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_working_memory_stays_bounded(name, options, dtype, broadcast):
    """On a signal of 16 Mi samples (32 Mi broadcast) the working memory beyond input and
    output stays within max(64 MiB, output size), for the forward and the weight gradient
    (tracemalloc, which sees NumPy's allocations). These made whole
    padded copies with int64 index arrays (reflect: 801 MiB on a 153 MiB signal, stride 100:
    952 MiB), a whole float32 copy of a float16 input, or a broadcast input made whole."""
    import tracemalloc

    from conv1d.kernels import scratch

    length = (32 if broadcast else 16) * 2**20  # (a broadcast input takes no memory of its own)
    x = np.random.default_rng(0).standard_normal((1, 1, 1 if broadcast else length), dtype=np.float32)
    x = (
        np.broadcast_to(x, (1, 1, length))
        if broadcast
        else (np.abs(x) if np.dtype(dtype).kind == "u" else x).astype(dtype)
    )
    w = np.ones((1, 1, 3), dtype)
    conv1d.conv1d(x[..., :1000], w, **options)  # compiled, planned
    scratch.release()
    tracemalloc.start()
    try:
        y = conv1d.conv1d(x, w, **options)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    working = peak - y.nbytes + scratch.pooled_bytes()
    bound = max(64 * 2**20, y.nbytes)
    assert working <= bound, (
        f"{name}: {working / 2**20:.0f} MiB beyond the output, bound {bound / 2**20:.0f} MiB"
    )
    wide = np.complex128 if np.dtype(dtype).kind == "c" else np.float64
    expected = conv1d.conv1d(x.astype(wide), w.astype(wide), **options)
    if np.dtype(dtype).kind in "iu":  # exact, wrapping to the dtype as PyTorch's integer convolution
        np.testing.assert_array_equal(y, expected.real.astype(np.int64).astype(dtype))
    else:
        np.testing.assert_allclose(
            y.astype(wide), expected, rtol=2e-3 if dtype == np.float16 else 1e-5, atol=1e-2
        )
    # the input gradient: its output is the input's size
    scratch.release()
    tracemalloc.start()
    try:
        gx = conv1d.grad.conv1d_input(x.shape, w, y, **options)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    working = peak - gx.nbytes + scratch.pooled_bytes()
    bound = max(64 * 2**20, gx.nbytes)
    assert working <= bound, f"{name}: the input gradient took {working / 2**20:.0f} MiB beyond its output"
    # the weight gradient: its output is tiny, so the bound is 64 MiB
    scratch.release()
    tracemalloc.start()
    try:
        gw = conv1d.grad.conv1d_weight(x, w.shape, y, **options)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    working = peak + scratch.pooled_bytes()
    assert working <= 64 * 2**20, f"{name}: the weight gradient took {working / 2**20:.0f} MiB"
    expected_gw = conv1d.grad.conv1d_weight(x.astype(wide), w.shape, y.astype(wide), **options)
    if dtype == np.float16:  # 16.7 million overflows float16 (max 65504): inf, as PyTorch gives
        assert np.isposinf(gw).all()
    elif np.dtype(dtype).kind in "iu":  # exact, wrapping to the dtype as PyTorch's integer convolution
        np.testing.assert_array_equal(gw, expected_gw.real.astype(np.int64).astype(dtype))
    else:  # (float32 sums of 16 Mi products: 1.3e-3 relative error measured)
        np.testing.assert_allclose(gw.astype(wide), expected_gw, rtol=5e-3)


def test_a_result_too_large_to_allocate_is_a_conv_error_naming_its_size():
    """A broadcast input of one sample made into 10^8, through 4096 output channels: a
    1.5 TiB output, refused by NumPy before any work, reported with its size."""
    x = np.broadcast_to(np.ones((1, 1, 1), np.float32), (1, 1, 10**8))
    with pytest.raises(
        conv1d.ConvError, match=r"output of shape \(1, 4096, 100000000\) \(float32, 1525\.9 GiB\)"
    ):
        conv1d.conv1d(x, np.ones((4096, 1, 1), np.float32))


@pytest.mark.parametrize("algorithm", ["gemm", "direct", "fft", "winograd"])
def test_flush_denormal_reads_subnormal_operands_as_zero(algorithm):
    """Off (the default) subnormal values compute exactly; on, every kernel reads them as
    zero in its operands, as torch.set_flush_denormal(True) does."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 64)).astype(np.float32)
    w = rng.standard_normal((4, 4, 3)).astype(np.float32)
    tiny = np.finfo(np.float32).tiny
    x[:, :, ::3] = 3e-39  # subnormal
    w[0] = 1e-39
    exact = conv1d.conv1d(x.astype(np.float64), w.astype(np.float64), padding=1, algorithm="gemm")
    flushed_x = np.where(np.abs(x) < tiny, 0, x).astype(np.float32)
    flushed_w = np.where(np.abs(w) < tiny, 0, w).astype(np.float32)
    flushed = conv1d.conv1d(
        flushed_x.astype(np.float64), flushed_w.astype(np.float64), padding=1, algorithm="gemm"
    )
    assert np.any(exact != flushed)
    try:
        assert conv1d.set_flush_denormal(True) is True
        on = conv1d.conv1d(x, w, padding=1, algorithm=algorithm)
        grad_w_on = conv1d.grad.conv1d_weight(x, w.shape, np.ones_like(on), padding=1, algorithm=algorithm)
    finally:
        conv1d.set_flush_denormal(False)
    assert_matches(on, flushed.astype(np.float32), np.float32, "flushed forward", algorithm=algorithm)
    assert np.abs(on[:, 0]).max() < 1e-30  # the subnormal filter is read as zero (FFT: rounding noise)
    expected_gw = conv1d.grad.conv1d_weight(flushed_x, w.shape, np.ones_like(on), padding=1, algorithm="gemm")
    assert_matches(grad_w_on, expected_gw, np.float32, "flushed weight gradient", algorithm=algorithm)
    off = conv1d.conv1d(x.astype(np.float64), w.astype(np.float64), padding=1, algorithm=algorithm)
    assert np.abs(off[:, 0]).max() > 1e-40  # off: the subnormal filter computes (1e-39 * x)


@settings(max_examples=80, deadline=None)
@given(case=transposed_cases(), dtype=st.sampled_from([np.float64, np.float32, np.float16]),
       algorithm=st.sampled_from(("auto", "gemm", "direct", "fft")), block_bytes=st.sampled_from([1, 64, 512]),
       seed=st.integers(0, 2**16))  # fmt: skip
def test_a_transposed_forward_in_blocks_equals_one_call(case, dtype, algorithm, block_bytes, seed):
    if algorithm == "fft" and np.dtype(dtype) == np.float16:
        algorithm = "auto"
    a = make_arrays(case, dtype, seed)
    x = lay_out(a.input, case.view)
    spec = conv_transpose1d_spec(x.shape, a.weight.shape, None if a.bias is None else a.bias.shape,
                                 **case.options, dtype=x.dtype)  # fmt: skip
    expected = conv1d.conv_transpose1d(x.astype(np.float64), a.weight.astype(np.float64),
                                       None if a.bias is None else a.bias.astype(np.float64), **case.options,
                                       algorithm="gemm")  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(executor, "BLOCK_BYTES", block_bytes)
        run = Executor(spec, algorithm)
        blocks = run._transposed_blocks()
        assert blocks[0][0] == 0 and blocks[-1][1] == spec.l_out
        got = run.forward(x, a.weight, a.bias)
    assert got.shape == spec.output_shape and got.dtype == dtype and got.flags.c_contiguous
    assert_matches(got, expected.astype(dtype), np.dtype(dtype), f"{case} in blocks of {block_bytes} bytes",
                   algorithm=run.plan.algorithm.value)  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float16, np.float32], ids=["float16", "float32"])
def test_a_transposed_forward_stays_within_its_memory_bound(dtype):
    """conv_transpose1d of a 16 Mi-sample signal: beyond input and output, at most
    max(64 MiB, output size) (a float16 input was converted whole to float32)."""
    import tracemalloc

    from conv1d.kernels import scratch

    x = np.random.default_rng(0).standard_normal((1, 1, 16 * 2**20), dtype=np.float32).astype(dtype)
    w = np.ones((1, 1, 3), dtype)
    conv1d.conv_transpose1d(x[..., :1000], w, stride=2)
    scratch.release()
    tracemalloc.start()
    try:
        y = conv1d.conv_transpose1d(x, w, stride=2)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    working = peak - y.nbytes + scratch.pooled_bytes()
    assert working <= max(64 * 2**20, y.nbytes), f"{working / 2**20:.0f} MiB beyond the output"
    expected = conv1d.conv_transpose1d(x[..., :5000].astype(np.float64), w.astype(np.float64), stride=2)
    np.testing.assert_allclose(y[..., :9000].astype(np.float64), expected[..., :9000], rtol=2e-3, atol=1e-2)
