"""conv1d.calls.Calls: a spec's forward and gradients, planned once, give exactly the arrays
of the general functions (run_conv1d, conv1d.grad.run_*), on its plain path (direct kernel
calls on reshaped arrays) and on the general one it hands everything else to."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import conv_cases, lay_out, make_arrays, transposed_cases

from conv1d import grad as cgrad
from conv1d.calls import Calls
from conv1d.functional import run_conv1d, run_conv_transpose1d
from conv1d.spec import conv1d_spec, conv_transpose1d_spec

ALGORITHMS = ("auto", "gemm", "direct", "fft", "winograd")


def _plain_expected(case, dtype: np.dtype, algorithm: str) -> bool:
    return (case.padding_mode == "zeros" and case.layout == "NCL" and case.n is not None
            and dtype in (np.float32, np.float64) and algorithm != "fft")


# Half the examples from the plain path's own ground (zero padding, channels first, batched).
plain_or_any = st.one_of(
    conv_cases(padding_modes=("zeros",), layouts=("NCL",), batch=st.integers(0, 3)),
    conv_cases(),
)


@settings(max_examples=120, deadline=None)
@given(case=plain_or_any, dtype=st.sampled_from([np.float64, np.float32, np.float16]),
       algorithm=st.sampled_from(ALGORITHMS), seed=st.integers(0, 2**16))
def test_conv1d_calls_equal_the_general_functions(case, dtype, algorithm, seed):
    if algorithm == "winograd" and not (case.stride == case.dilation == 1 and 2 <= case.k <= 7):
        algorithm = "gemm"
    if algorithm == "fft" and np.dtype(dtype) == np.float16:
        algorithm = "auto"
    a = make_arrays(case, dtype, seed)
    x, w, gy = lay_out(a.input, case.view), a.weight, lay_out(a.grad_output, case.view)
    spec = conv1d_spec(x.shape, w.shape, None if a.bias is None else a.bias.shape, **case.options, dtype=x.dtype)
    calls = Calls(spec, algorithm)
    assert calls.plain == _plain_expected(case, np.dtype(dtype), algorithm)
    keep, keep_general = {}, {}
    y = calls.forward(x, w, a.bias, keep=keep)
    np.testing.assert_array_equal(y, run_conv1d(spec, x, w, a.bias, algorithm, None, keep_general))
    assert y.shape == spec.output_shape and y.dtype == dtype and y.flags.c_contiguous
    assert keep.keys() == keep_general.keys()
    for kept, kept_general in (((keep,), (keep_general,)), ((), ())):
        gx = calls.input_grad(w, gy, *kept)
        np.testing.assert_array_equal(gx, cgrad.run_conv1d_input(spec, w, gy, algorithm, *kept_general))
        assert gx.shape == spec.input_shape and gx.flags.c_contiguous
        gb = np.full(spec.c_out, np.nan, gy.dtype)
        gw = calls.weight_grad(x, gy, *kept, bias=gb)
        np.testing.assert_array_equal(gw, cgrad.run_conv1d_weight(spec, x, gy, algorithm, *kept_general))
        assert gw.shape == spec.weight_shape and gw.flags.c_contiguous
        _assert_bias_sum(gb, gy, spec.channel_axis)


def _assert_bias_sum(gb: np.ndarray, gy: np.ndarray, channel_axis: int) -> None:
    """``gb`` is the bias gradient: ``gy`` summed over all but the channel axis (in float64
    here; the kernels sum in their compute dtype, in their own order)."""
    axes = tuple(a for a in range(gy.ndim) if a != channel_axis)
    exact = gy.astype(np.float64).sum(axis=axes)
    scale = np.abs(gy.astype(np.float64)).sum(axis=axes) + 1
    eps = np.finfo(np.float32 if gy.dtype == np.float16 else gy.dtype).eps
    assert gb.dtype == gy.dtype
    assert np.all(np.abs(gb.astype(np.float64) - exact) <= 8 * eps * scale + (1e-3 * scale if gy.dtype == np.float16 else 0))


@settings(max_examples=30, deadline=None)
@given(case=transposed_cases(), seed=st.integers(0, 2**16))
def test_transposed_calls_take_the_general_functions(case, seed):
    a = make_arrays(case, np.float64, seed)
    spec = conv_transpose1d_spec(a.input.shape, a.weight.shape, None if a.bias is None else a.bias.shape,
                                 **case.options, dtype=a.input.dtype)
    calls = Calls(spec)
    assert not calls.plain
    np.testing.assert_array_equal(calls.forward(a.input, a.weight, a.bias),
                                  run_conv_transpose1d(spec, a.input, a.weight, a.bias))
    np.testing.assert_array_equal(calls.input_grad(a.weight, a.grad_output),
                                  cgrad.run_conv_transpose1d_input(spec, a.weight, a.grad_output))
    gb = np.full(spec.c_out, np.nan)
    np.testing.assert_array_equal(calls.weight_grad(a.input, a.grad_output, bias=gb),
                                  cgrad.run_conv_transpose1d_weight(spec, a.input, a.grad_output))
    _assert_bias_sum(gb, a.grad_output, spec.channel_axis)


@pytest.mark.parametrize("algorithm", ["gemm", "winograd"])
def test_plain_calls_keep_what_the_gradients_reuse(algorithm):
    """The FCN's middle layer: the plain path's forward leaves the transformed/gathered input
    (and Winograd's weight transform) for the gradients, as run_conv1d does."""
    rng = np.random.default_rng(0)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((6, 16, 24), (32, 16, 5), (32,)))
    gy = rng.standard_normal((6, 32, 24)).astype(np.float32)
    calls = Calls(conv1d_spec(x.shape, w.shape, b.shape, padding="same", dtype=x.dtype), algorithm)
    assert calls.plain
    keep = {}
    np.testing.assert_array_equal(calls.forward(x, w, b, keep=keep), run_conv1d(calls.spec, x, w, b, algorithm))
    assert any(key[0] == algorithm for key in keep)
    if algorithm == "winograd":
        assert any(key[0] == "winograd weights" for key in keep)
    for kept in ((keep,), ()):
        np.testing.assert_array_equal(calls.weight_grad(x, gy, *kept), cgrad.run_conv1d_weight(calls.spec, x, gy, algorithm))
        np.testing.assert_array_equal(calls.input_grad(w, gy, *kept), cgrad.run_conv1d_input(calls.spec, w, gy, algorithm))
