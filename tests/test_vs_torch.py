"""conv1d against torch: forward, gradients, every dtype, empty and odd inputs, error parity.

The oracle (helpers.py) is torch in float64 (complex128; exact int64 wrapped for integers).
Options torch lacks ('causal', (left, right), 'same' with stride > 1, padding modes, layout
'NLC') are composed from ones it has, so every drawn configuration has a torch reference.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import (
    assert_matches,
    to_torch,
    torch_conv1d,
    torch_conv1d_grads,
    torch_conv_transpose1d,
    torch_conv_transpose1d_grads,
)
from hypothesis import currently_in_test_context, event, given, settings
from hypothesis import strategies as st
from strategies import (
    COMPLEX_DTYPES,
    INT_DTYPES,
    VIEWS,
    ConvCase,
    RawCall,
    TransposedCase,
    conv_cases,
    lay_out,
    make_arrays,
    random_array,
    raw_calls,
    seeds,
    transposed_cases,
)

import conv1d
from conv1d import grad as cgrad

F64 = np.dtype(np.float64)
OTHER_DTYPES = (np.dtype(np.float16), *COMPLEX_DTYPES, *INT_DTYPES)


def ids(dtype: Any) -> str:
    return np.dtype(dtype).name


# 'auto' lets the planner choose (for these small problems it picks 'direct'); the others
# force a kernel. FFT takes real floats only and refuses integers and complex numbers.
ALGORITHMS = ("auto", "gemm", "direct", "fft")


def algorithms_for(dtype: Any) -> tuple[str, ...]:
    return ALGORITHMS if np.dtype(dtype).kind == "f" else tuple(a for a in ALGORITHMS if a != "fft")


def ran(algorithm: str, case: ConvCase | TransposedCase, dtype: Any) -> str:
    """The kernel that runs: the forced one, or the planner's choice for 'auto'."""
    if algorithm != "auto":
        return algorithm
    transposed = isinstance(case, TransposedCase)
    return conv1d.plan(
        case.input_shape, case.weight_shape, **case.options, dtype=dtype, transposed=transposed
    ).algorithm.value


# --------------------------------------------------------------------------- forward


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=ids)
@settings(max_examples=150, deadline=None)
@given(case=conv_cases(), seed=seeds)
def test_conv1d_matches_torch(dtype: Any, algorithm: str, case: ConvCase, seed: int) -> None:
    a = make_arrays(case, dtype, seed)
    actual = conv1d.conv1d(lay_out(a.input, case.view), a.weight, a.bias, **case.options, algorithm=algorithm)
    expected = torch_conv1d(a.input, a.weight, a.bias, **case.options)
    assert_matches(actual, expected, dtype, f"conv1d {case}", algorithm=ran(algorithm, case, dtype))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=ids)
@settings(max_examples=120, deadline=None)
@given(case=transposed_cases(), seed=seeds)
def test_conv_transpose1d_matches_torch(dtype: Any, algorithm: str, case: TransposedCase, seed: int) -> None:
    a = make_arrays(case, dtype, seed)
    actual = conv1d.conv_transpose1d(
        lay_out(a.input, case.view), a.weight, a.bias, **case.options, algorithm=algorithm
    )
    expected = torch_conv_transpose1d(a.input, a.weight, a.bias, **case.options)
    assert_matches(actual, expected, dtype, f"conv_transpose1d {case}", algorithm=ran(algorithm, case, dtype))


def test_extras_torch_lacks_hand_checked() -> None:
    """'causal', (left, right) and TensorFlow's SAME_UPPER for stride > 1, on arange inputs."""
    x = np.arange(5, dtype=np.float64)[None]  # (C_in=1, L=5), unbatched
    ones = np.ones((1, 1, 2))
    # causal: y[t] = x[t-1] + x[t], with x[-1] = 0
    assert_matches(conv1d.conv1d(x, ones, padding="causal"), [[0, 1, 3, 5, 7]], F64, "causal")
    # (2, 0) with dilation 2: y[t] = x[t-2] + x[t]
    assert_matches(conv1d.conv1d(x, ones, padding=(2, 0), dilation=2), [[0, 1, 2, 4, 6]], F64, "(2, 0)")
    # same, stride 2, K=3, L=5: L_out = ceil(5/2) = 3, total = (3-1)*2 + 3 - 5 = 2 -> (1, 1);
    # x_pad = [0, 0, 1, 2, 3, 4, 0]: windows at 0, 2, 4
    assert_matches(
        conv1d.conv1d(x, np.ones((1, 1, 3)), stride=2, padding="same"), [[1, 6, 7]], F64, "same s2 k3"
    )
    # same, stride 2, K=4, L=5: total = 4 + 4 - 5 = 3 -> (1, 2), the extra sample on the right;
    # x_pad = [0, 0, 1, 2, 3, 4, 0, 0]
    assert_matches(
        conv1d.conv1d(x, np.ones((1, 1, 4)), stride=2, padding="same"), [[3, 10, 7]], F64, "same s2 k4"
    )
    # same, stride 2, K=2, L=6: total = 4 + 2 - 6 = 0, no padding
    x6 = np.arange(6, dtype=np.float64)[None]
    assert_matches(conv1d.conv1d(x6, ones, stride=2, padding="same"), [[1, 5, 9]], F64, "same s2 k2")
    # NLC is the same numbers channels-last: (L=5, C_in=1)
    assert_matches(
        conv1d.conv1d(x.T, ones, padding="causal", layout="NLC"), [[0], [1], [3], [5], [7]], F64, "NLC"
    )


# --------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@settings(max_examples=150, deadline=None)
@given(case=conv_cases(), seed=seeds)
def test_conv1d_gradients_match_torch_autograd(algorithm: str, case: ConvCase, seed: int) -> None:
    a = make_arrays(case, F64, seed)
    expected = torch_conv1d_grads(a.input, a.weight, a.bias, a.grad_output, **case.options)
    gy = lay_out(a.grad_output, case.view)
    kernel = ran(algorithm, case, F64)
    actual_input = cgrad.conv1d_input(case.input_shape, a.weight, gy, **case.options, algorithm=algorithm)
    assert_matches(actual_input, expected.input, F64, f"conv1d grad input {case}", algorithm=kernel)
    actual_weight = cgrad.conv1d_weight(
        lay_out(a.input, case.view), case.weight_shape, gy, **case.options, algorithm=algorithm
    )
    assert_matches(actual_weight, expected.weight, F64, f"conv1d grad weight {case}", algorithm=kernel)
    if case.bias:
        assert_matches(
            cgrad.conv1d_bias(gy, layout=case.layout), expected.bias, F64, f"conv1d grad bias {case}"
        )


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@settings(max_examples=120, deadline=None)
@given(case=transposed_cases(), seed=seeds)
def test_conv_transpose1d_gradients_match_torch_autograd(
    algorithm: str, case: TransposedCase, seed: int
) -> None:
    a = make_arrays(case, F64, seed)
    expected = torch_conv_transpose1d_grads(a.input, a.weight, a.bias, a.grad_output, **case.options)
    gy = lay_out(a.grad_output, case.view)
    kernel = ran(algorithm, case, F64)
    actual_input = cgrad.conv_transpose1d_input(
        case.input_shape, a.weight, gy, **case.options, algorithm=algorithm
    )
    assert_matches(actual_input, expected.input, F64, f"conv_transpose1d grad input {case}", algorithm=kernel)
    actual_weight = cgrad.conv_transpose1d_weight(
        lay_out(a.input, case.view), case.weight_shape, gy, **case.options, algorithm=algorithm
    )
    assert_matches(
        actual_weight, expected.weight, F64, f"conv_transpose1d grad weight {case}", algorithm=kernel
    )
    if case.bias:
        assert_matches(
            cgrad.conv1d_bias(gy, layout=case.layout),
            expected.bias,
            F64,
            f"conv_transpose1d grad bias {case}",
        )


@settings(max_examples=200, deadline=None)
@given(
    case=conv_cases(
        batch=st.integers(0, 3), padding_forms=("int",), padding_modes=("zeros",), layouts=("NCL",)
    ),
    seed=seeds,
)
def test_gradients_match_torch_nn_grad(case: ConvCase, seed: int) -> None:
    """torch.nn.grad.conv1d_input / conv1d_weight directly (they take int padding, NCL only)."""
    a = make_arrays(case, F64, seed)
    x, w, gy = (to_torch(v) for v in (a.input, a.weight, a.grad_output))
    torch_args = (case.stride, case.padding, case.dilation, case.groups)
    expected_input = torch.nn.grad.conv1d_input(case.input_shape, w, gy, *torch_args).numpy()
    expected_weight = torch.nn.grad.conv1d_weight(x, case.weight_shape, gy, *torch_args).numpy()
    actual_input = cgrad.conv1d_input(case.input_shape, a.weight, a.grad_output, *torch_args)
    actual_weight = cgrad.conv1d_weight(a.input, case.weight_shape, a.grad_output, *torch_args)
    assert_matches(actual_input, expected_input, F64, f"conv1d_input vs torch.nn.grad {case}")
    assert_matches(actual_weight, expected_weight, F64, f"conv1d_weight vs torch.nn.grad {case}")


# --------------------------------------------------------------------------- dtypes


DTYPE_ALGORITHMS = [(dtype, algorithm) for dtype in OTHER_DTYPES for algorithm in algorithms_for(dtype)]
DTYPE_ALGORITHM_IDS = [f"{dtype.name}-{algorithm}" for dtype, algorithm in DTYPE_ALGORITHMS]


@pytest.mark.parametrize(("dtype", "algorithm"), DTYPE_ALGORITHMS, ids=DTYPE_ALGORITHM_IDS)
@settings(max_examples=30, deadline=None)
@given(case=conv_cases(), seed=seeds)
def test_conv1d_every_dtype(dtype: np.dtype, algorithm: str, case: ConvCase, seed: int) -> None:
    a = make_arrays(case, dtype, seed)
    actual = conv1d.conv1d(lay_out(a.input, case.view), a.weight, a.bias, **case.options, algorithm=algorithm)
    assert_matches(
        actual,
        torch_conv1d(a.input, a.weight, a.bias, **case.options),
        dtype,
        f"conv1d {case}",
        algorithm=ran(algorithm, case, dtype),
    )
    if dtype.kind in "iu" and (case.dilation == 1 or dtype == np.int64):
        # torch's own integer convolution wraps the same way (it has no dilated kernel for
        # integers narrower than int64)
        native = torch_conv1d(a.input, a.weight, a.bias, native=True, **case.options)
        assert_matches(actual, native, dtype, f"conv1d vs torch {dtype} {case}")


@pytest.mark.parametrize(("dtype", "algorithm"), DTYPE_ALGORITHMS, ids=DTYPE_ALGORITHM_IDS)
@settings(max_examples=25, deadline=None)
@given(case=transposed_cases(), seed=seeds)
def test_conv_transpose1d_every_dtype(
    dtype: np.dtype, algorithm: str, case: TransposedCase, seed: int
) -> None:
    """torch's conv_transpose1d has no integer kernel but int64: ints are checked against the
    exact int64 result wrapped to the dtype."""
    a = make_arrays(case, dtype, seed)
    actual = conv1d.conv_transpose1d(
        lay_out(a.input, case.view), a.weight, a.bias, **case.options, algorithm=algorithm
    )
    expected = torch_conv_transpose1d(a.input, a.weight, a.bias, **case.options)
    assert_matches(actual, expected, dtype, f"conv_transpose1d {case}", algorithm=ran(algorithm, case, dtype))


def test_integer_wraparound_hand_checked() -> None:
    """100*100 + 100*100 = 20000 = 78*256 + 32, so int8 gives 32, as torch does."""
    x = np.full((1, 2, 1), 100, np.int8)
    w = np.full((1, 2, 1), 100, np.int8)
    assert_matches(conv1d.conv1d(x, w), [[[32]]], np.int8, "int8 conv1d")
    assert F.conv1d(torch.from_numpy(x), torch.from_numpy(w)).tolist() == [[[32]]]
    # uint8: 200 + 200 = 400 = 256 + 144
    u = np.full((1, 2, 1), 200, np.uint8)
    assert_matches(conv1d.conv1d(u, np.ones((1, 2, 1), np.uint8)), [[[144]]], np.uint8, "uint8 conv1d")
    # int16: 200*200*2 = 80000 = 65536 + 14464
    assert_matches(
        conv1d.conv1d(x.astype(np.int16) * 2, w.astype(np.int16) * 2), [[[14464]]], np.int16, "int16"
    )
    # transposed, int8: each output sample sums 100*100 over the two input channels
    wt = np.full((2, 1, 2), 100, np.int8)
    assert_matches(conv1d.conv_transpose1d(x, wt), [[[32, 32]]], np.int8, "int8 conv_transpose1d")
    # int8 with a bias: 32 + 100 = 132 -> 132 - 256 = -124
    assert_matches(conv1d.conv1d(x, w, np.array([100], np.int8)), [[[-124]]], np.int8, "int8 bias")


def test_bool_is_refused_like_torch() -> None:
    x, w = np.ones((1, 2, 5), bool), np.ones((3, 2, 2), bool)
    assert issubclass(conv1d.ConvTypeError, TypeError) and issubclass(conv1d.ConvTypeError, ValueError)
    with pytest.raises(conv1d.ConvTypeError):
        conv1d.conv1d(x, w)
    with pytest.raises(conv1d.ConvTypeError):
        conv1d.conv_transpose1d(x, np.ones((2, 3, 2), bool))
    with pytest.raises(RuntimeError):  # torch: "slow_conv2d_cpu" not implemented for 'Bool'
        F.conv1d(torch.from_numpy(x), torch.from_numpy(w))


@pytest.mark.parametrize(
    ("x_dtype", "w_dtype", "b_dtype"),
    [
        ("float32", "float64", None),
        ("float64", "float32", None),
        ("float64", "float64", "float32"),
        ("int64", "float64", None),
        ("int8", "int16", None),
        ("complex64", "float32", None),
        ("int64", "int64", "float64"),
    ],
)
def test_mixed_dtypes_are_refused_like_torch(x_dtype: str, w_dtype: str, b_dtype: str | None) -> None:
    x, w = np.ones((1, 2, 5), x_dtype), np.ones((3, 2, 2), w_dtype)
    b = None if b_dtype is None else np.ones(3, b_dtype)
    with pytest.raises(conv1d.ConvTypeError):
        conv1d.conv1d(x, w, b)
    with pytest.raises(conv1d.ConvTypeError):
        conv1d.conv_transpose1d(x, np.ones((2, 3, 2), w_dtype), b)
    with pytest.raises(RuntimeError):
        F.conv1d(*(None if v is None else torch.from_numpy(v) for v in (x, w, b)))


# --------------------------------------------------------------------------- empty and odd inputs


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@settings(max_examples=25, deadline=None)
@given(case=conv_cases(batch=st.just(0)), tcase=transposed_cases(batch=st.just(0)), seed=seeds)
def test_empty_batch_gives_an_empty_batch(
    algorithm: str, case: ConvCase, tcase: TransposedCase, seed: int
) -> None:
    a = make_arrays(case, F64, seed)
    actual = conv1d.conv1d(a.input, a.weight, a.bias, **case.options, algorithm=algorithm)
    assert actual.shape == case.output_shape and actual.shape[0] == 0, (actual.shape, case)
    assert_matches(actual, torch_conv1d(a.input, a.weight, a.bias, **case.options), F64, f"N=0 {case}")
    assert_matches(
        cgrad.conv1d_weight(a.input, case.weight_shape, a.grad_output, **case.options, algorithm=algorithm),
        np.zeros(case.weight_shape),
        F64,
        f"N=0 grad weight {case}",
    )
    t = make_arrays(tcase, F64, seed)
    actual = conv1d.conv_transpose1d(t.input, t.weight, t.bias, **tcase.options, algorithm=algorithm)
    assert actual.shape == tcase.output_shape and actual.shape[0] == 0, (actual.shape, tcase)
    assert_matches(
        actual, torch_conv_transpose1d(t.input, t.weight, t.bias, **tcase.options), F64, f"N=0 {tcase}"
    )
    assert_matches(
        cgrad.conv_transpose1d_input(
            tcase.input_shape, t.weight, t.grad_output, **tcase.options, algorithm=algorithm
        ),
        np.zeros(tcase.input_shape),
        F64,
        f"N=0 grad input {tcase}",
    )


def _ncl_to_case_layout(case: ConvCase, y: np.ndarray) -> np.ndarray:
    """A batched (N, C, L) array in the case's layout and batching."""
    y = y.transpose(0, 2, 1) if case.layout == "NLC" else y
    return y if case.n is not None else y[0]


@settings(max_examples=100, deadline=None)
@given(case=conv_cases(c_in_per_group=st.just(0)), seed=seeds, algorithm=st.sampled_from(ALGORITHMS))
def test_zero_input_channels_give_the_bias(case: ConvCase, seed: int, algorithm: str) -> None:
    """Documented deviation: with C_in = 0 the result has C_out channels holding the bias
    (zeros without one); torch returns zero channels."""
    a = make_arrays(case, F64, seed)
    actual = conv1d.conv1d(lay_out(a.input, case.view), a.weight, a.bias, **case.options, algorithm=algorithm)
    n = 1 if case.n is None else case.n
    bias = np.zeros(case.c_out) if a.bias is None else a.bias
    expected = _ncl_to_case_layout(case, np.zeros((n, case.c_out, case.l_out)) + bias[:, None])
    assert_matches(actual, expected, F64, f"C_in=0 {case}")
    if case.padding_mode == "zeros":  # (torch's F.pad refuses empty channels in the other modes)
        torch_shape = torch_conv1d(a.input, a.weight, a.bias, **case.options).shape
        channel_axis = (0 if case.n is None else 1) + (1 if case.layout == "NLC" else 0)
        assert torch_shape[channel_axis] == 0, f"torch now returns {torch_shape}: update the deviation note"


@settings(max_examples=200, deadline=None)
@given(
    case=conv_cases(),
    tcase=transposed_cases(),
    seed=seeds,
    weight_view=st.sampled_from(VIEWS),
    algorithm=st.sampled_from(ALGORITHMS),
)
def test_any_memory_layout_read_only_and_inputs_unchanged(
    case: ConvCase, tcase: TransposedCase, seed: int, weight_view: str, algorithm: str
) -> None:
    """Non-contiguous, negative-stride and read-only arrays work; the caller's arrays are left
    as they were; results are fresh, writeable and C-contiguous."""
    for this, forward, oracle, grads in (
        (case, conv1d.conv1d, torch_conv1d, (cgrad.conv1d_input, cgrad.conv1d_weight)),
        (
            tcase,
            conv1d.conv_transpose1d,
            torch_conv_transpose1d,
            (cgrad.conv_transpose1d_input, cgrad.conv_transpose1d_weight),
        ),
    ):
        a = make_arrays(this, F64, seed)
        x = lay_out(a.input, this.view, readonly=True)
        w = lay_out(a.weight, weight_view, readonly=True)
        b = None if a.bias is None else lay_out(a.bias, weight_view, readonly=True)
        gy = lay_out(a.grad_output, this.view, readonly=True)
        arguments = {"input": x, "weight": w, "bias": b, "grad_output": gy}
        before = {name: np.array(v, copy=True) for name, v in arguments.items() if v is not None}

        results = {
            "forward": forward(x, w, b, **this.options, algorithm=algorithm),
            "grad input": grads[0](this.input_shape, w, gy, **this.options, algorithm=algorithm),
            "grad weight": grads[1](x, this.weight_shape, gy, **this.options, algorithm=algorithm),
            "grad bias": cgrad.conv1d_bias(gy, layout=this.layout),
        }
        for name, copy in before.items():
            assert np.array_equal(arguments[name], copy), f"{name} was modified by a call on {this}"
            assert not arguments[name].flags.writeable, f"{name} became writeable ({this})"
        for name, result in results.items():
            assert result.flags.writeable, f"{name} result is read-only ({this})"
            for arg_name, arg in arguments.items():
                assert arg is None or not np.shares_memory(result, arg), (
                    f"{name} result shares memory with {arg_name}"
                )
        assert results["forward"].flags.c_contiguous, f"forward result not C-contiguous ({this})"
        assert_matches(
            results["forward"],
            oracle(a.input, a.weight, a.bias, **this.options),
            F64,
            f"{this}",
            algorithm=ran(algorithm, this, F64),
        )


@settings(max_examples=60, deadline=None)
@given(
    case=conv_cases(batch=st.sampled_from([None, 1, 2]), views=("contiguous",)),
    tcase=transposed_cases(batch=st.sampled_from([None, 1, 2]), views=("contiguous",)),
    seed=seeds,
)
def test_python_lists_work(case: ConvCase, tcase: TransposedCase, seed: int) -> None:
    """Nested lists are read with np.asarray: the same numbers give the same result."""
    a = make_arrays(case, F64, seed)
    as_list = None if a.bias is None else a.bias.tolist()
    actual = conv1d.conv1d(a.input.tolist(), a.weight.tolist(), as_list, **case.options)
    assert_matches(actual, conv1d.conv1d(a.input, a.weight, a.bias, **case.options), F64, f"lists {case}")
    t = make_arrays(tcase, F64, seed)
    as_list = None if t.bias is None else t.bias.tolist()
    actual = conv1d.conv_transpose1d(t.input.tolist(), t.weight.tolist(), as_list, **tcase.options)
    assert_matches(
        actual, conv1d.conv_transpose1d(t.input, t.weight, t.bias, **tcase.options), F64, f"lists {tcase}"
    )


def test_python_lists_hand_checked() -> None:
    # y[t] = x[t] - x[t+1] + 0.5
    assert_matches(
        conv1d.conv1d([[[0.0, 1, 2, 4]]], [[[1.0, -1]]], [0.5]), [[[-0.5, -0.5, -1.5]]], F64, "floats"
    )
    # Python ints are int64: unbatched (C_in=1, L=3) -> [1+2, 2+3]
    assert_matches(conv1d.conv1d([[1, 2, 3]], [[[1, 1]]]), [[3, 5]], np.int64, "ints")
    assert_matches(conv1d.conv_transpose1d([[1, 10]], [[[1, 2]]]), [[1, 12, 20]], np.int64, "transposed ints")
    assert_matches(
        cgrad.conv1d_weight([[1.0, 2, 3]], (1, 1, 2), [[1.0, 1]]), [[[3.0, 5.0]]], F64, "grad weight"
    )


# --------------------------------------------------------------------------- error parity

TORCH_ERRORS = (RuntimeError, ValueError, TypeError, IndexError)


def _raw_arrays(raw: RawCall, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    rng = np.random.default_rng(seed)
    return (
        random_array(rng, raw.input_shape, raw.input_dtype),
        random_array(rng, raw.weight_shape, raw.weight_dtype),
        None if raw.bias_shape is None else random_array(rng, raw.bias_shape, raw.bias_dtype),
    )


def _torch_call(raw: RawCall, x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> torch.Tensor:
    """What torch does with this call. Padding modes as torch.nn.Conv1d's forward does them:
    F.pad by the padding on each side, then a padding-0 convolution."""
    xt, wt, bt = (to_torch(v) for v in (x, w, b))
    if raw.transposed:
        return F.conv_transpose1d(
            xt, wt, bt, raw.stride, raw.padding, raw.output_padding, raw.groups, raw.dilation
        )
    if raw.padding_mode == "zeros":
        return F.conv1d(xt, wt, bt, raw.stride, raw.padding, raw.dilation, raw.groups)
    if raw.padding == "same" and raw.stride != 1:
        raise ValueError("padding='same' is not supported for strided convolutions")  # nn.Conv1d's check
    if raw.padding == "valid":
        pads = (0, 0)
    elif raw.padding == "same":
        total = raw.dilation * (wt.shape[-1] - 1)
        pads = (total // 2, total - total // 2)
    else:
        pads = (raw.padding, raw.padding)
    return F.conv1d(F.pad(xt, pads, mode=raw.padding_mode), wt, bt, raw.stride, 0, raw.dilation, raw.groups)


def _conv1d_call(raw: RawCall, x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    if raw.transposed:
        return conv1d.conv_transpose1d(x, w, b, **raw.options)
    return conv1d.conv1d(x, w, b, **raw.options)


def _event(what: str) -> None:
    """Count outcomes in hypothesis's statistics (--hypothesis-show-statistics)."""
    if currently_in_test_context():
        event(what)


def check_error_parity(raw: RawCall, seed: int = 0) -> None:
    """torch raises -> conv1d raises ConvError; torch accepts -> conv1d gives torch's result
    (with C_in = 0: C_out channels holding the bias, the documented deviation). Two places
    where conv1d is stricter than torch on purpose: mixed dtypes are always refused, and an
    empty input that torch lets through unchecked may be refused."""
    x, w, b = _raw_arrays(raw, seed)
    if len({raw.input_dtype, raw.weight_dtype} | ({raw.bias_dtype} if b is not None else set())) > 1:
        # Mixed dtypes are refused whatever torch does: its conv1d refuses them, but its
        # conv_transpose1d quietly casts a bias to the input's dtype.
        _event("mixed dtypes")
        with pytest.raises(conv1d.ConvTypeError):
            _conv1d_call(raw, x, w, b)
        return
    # torch is asked in float64 (the values are the same): its float32 depthwise transposed
    # kernel skips the dilation check and takes dilation=0, which its float64 path refuses.
    wide = tuple(None if v is None else v.astype(np.float64) for v in (x, w, b))
    try:
        expected = _torch_call(raw, *wide).numpy()
    except TORCH_ERRORS as error:
        torch_error: Exception | None = error
    else:
        torch_error = None
    _event("torch raises" if torch_error is not None else "torch accepts")
    if torch_error is not None:
        with pytest.raises((ValueError, TypeError)) as info:
            _conv1d_call(raw, x, w, b)
        assert isinstance(info.value, conv1d.ConvError), f"{type(info.value).__name__} is not a ConvError"
        return
    try:
        actual = _conv1d_call(raw, x, w, b)
    except (ValueError, TypeError) as error:
        # torch skips most checks for an empty input (N = 0 or C_in = 0): it accepts dilation=0,
        # L_in = 0 and transposed outputs of length 0 there. conv1d checks every call the same way.
        if x.size == 0 and isinstance(error, conv1d.ConvError):
            _event("empty input: only torch accepts")
            return
        raise AssertionError(
            f"torch accepts {raw}, but conv1d raised {type(error).__name__}: {error}"
        ) from None
    channel_axis = len(raw.input_shape) - 2
    if not raw.transposed and raw.input_shape[channel_axis] == 0:  # the C_in = 0 deviation
        shape = list(expected.shape)
        shape[channel_axis] = raw.weight_shape[0]
        bias = np.zeros(raw.weight_shape[0]) if b is None else b.astype(np.float64)
        expected = np.zeros(shape) + bias[:, None]
    assert_matches(actual, expected, raw.input_dtype, f"{raw}")


@settings(max_examples=1000, deadline=None)
@given(raw=raw_calls(), seed=seeds)
def test_conv1d_error_parity(raw: RawCall, seed: int) -> None:
    check_error_parity(raw, seed)


@settings(max_examples=800, deadline=None)
@given(raw=raw_calls(transposed=True), seed=seeds)
def test_conv_transpose1d_error_parity(raw: RawCall, seed: int) -> None:
    check_error_parity(raw, seed)


def _raw(
    transposed: bool, input_shape: tuple, weight_shape: tuple, bias_shape: tuple | None = None, **options: Any
) -> RawCall:
    options = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, **options}
    return RawCall(transposed, input_shape, weight_shape, bias_shape, **options)


PINNED_PARITY = {
    # torch refuses a transposed weight with no output channels (C_out/groups = 0)
    "transposed C_out=0": _raw(True, (1, 2, 5), (2, 0, 2)),
    "transposed C_out=0 groups=2": _raw(True, (2, 4, 3), (4, 0, 3), groups=2),
    # torch lets empty inputs through unchecked; conv1d may refuse them (but must not crash)
    "N=0, dilation=0": _raw(False, (0, 2, 5), (3, 2, 2), dilation=0),
    "N=0, L=0, padding": _raw(False, (0, 2, 0), (3, 2, 2), (3,), padding=1),
    "C_in=0, L=0, padding": _raw(False, (1, 0, 0), (3, 0, 2), (3,), padding=1),
    "transposed N=0, L=0": _raw(True, (0, 2, 0), (2, 3, 1)),
    "transposed N=0, L_out=0": _raw(True, (0, 2, 5), (2, 3, 2), padding=3),
    "N=0, circular, L=1": _raw(False, (0, 2, 1), (3, 2, 2), padding=1, padding_mode="circular"),
    # torch's conv_transpose1d casts a float32 bias to float64; conv1d refuses mixed dtypes
    "transposed float32 bias": _raw(True, (1, 2, 3), (2, 1, 2), (1,), bias_dtype="float32"),
    # agreements worth keeping in view
    "circular pad = L": _raw(False, (1, 2, 3), (3, 2, 2), padding=3, padding_mode="circular"),
    "circular pad > L": _raw(False, (1, 2, 3), (3, 2, 2), padding=4, padding_mode="circular"),
    "reflect pad = L": _raw(False, (1, 2, 3), (3, 2, 2), padding=3, padding_mode="reflect"),
    "reflect same too long": _raw(False, (1, 2, 2), (3, 2, 4), padding="same", padding_mode="reflect"),
    "span = padded length": _raw(False, (1, 2, 3), (3, 2, 3), padding=1, dilation=2),
    "span > padded length": _raw(False, (1, 2, 3), (3, 2, 4), padding=1, dilation=2),
    "transposed L_out = 0": _raw(True, (1, 2, 5), (2, 3, 2), padding=3),
    "transposed output_padding = dilation": _raw(True, (1, 2, 5), (2, 3, 2), dilation=2, output_padding=2),
    "transposed output_padding < dilation": _raw(True, (1, 2, 5), (2, 3, 2), dilation=3, output_padding=2),
}


@pytest.mark.parametrize("raw", list(PINNED_PARITY.values()), ids=list(PINNED_PARITY))
def test_error_parity_pinned(raw: RawCall) -> None:
    check_error_parity(raw)
