"""The Winograd algorithm against torch, through every public door: functions, gradients,
layers and the torch modules, on drawn configurations it takes (stride 1, dilation 1, 2 to
7 taps; any padding, padding mode, groups, layout, batch), in float64 and float32.

Its kernel is checked against the reference in test_kernels.py; its refusals and the
planner's choice in test_dispatch.py. Tolerances are the tables' (helpers.py): the
transforms' extra rounding stays inside float32's 1e-5 (measured: about 2e-6 of the
largest output on the FCN's layers).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from helpers import (
    assert_matches,
    torch_conv1d,
    torch_conv1d_grads,
    torch_conv_transpose1d,
    torch_conv_transpose1d_grads,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import ConvCase, TransposedCase, conv_cases, lay_out, make_arrays, seeds, transposed_cases
from test_torch_modules import _gradcheck, conv_module, leaf, set_parameters, transposed_module

import conv1d
import conv1d.torch as ct
from conv1d import grad as cgrad

F64 = np.dtype(np.float64)
W = "winograd"


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@settings(max_examples=80, deadline=None)
@given(case=conv_cases(winograd=True), seed=seeds)
def test_conv1d_matches_torch(dtype: Any, case: ConvCase, seed: int) -> None:
    a = make_arrays(case, dtype, seed)
    actual = conv1d.conv1d(lay_out(a.input, case.view), a.weight, a.bias, **case.options, algorithm=W)
    assert_matches(
        actual, torch_conv1d(a.input, a.weight, a.bias, **case.options), dtype, f"conv1d {case}", algorithm=W
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@settings(max_examples=60, deadline=None)
@given(case=transposed_cases(winograd=True), seed=seeds)
def test_conv_transpose1d_matches_torch(dtype: Any, case: TransposedCase, seed: int) -> None:
    a = make_arrays(case, dtype, seed)
    actual = conv1d.conv_transpose1d(
        lay_out(a.input, case.view), a.weight, a.bias, **case.options, algorithm=W
    )
    assert_matches(
        actual,
        torch_conv_transpose1d(a.input, a.weight, a.bias, **case.options),
        dtype,
        f"conv_transpose1d {case}",
        algorithm=W,
    )


def _check_gradients(
    case: ConvCase | TransposedCase, seed: int, oracle: Any, input_grad: Any, weight_grad: Any
) -> None:
    """Input and weight gradients by Winograd (``conv1d.grad`` functions) against torch's
    autograd (``oracle``), in float64."""
    a = make_arrays(case, F64, seed)
    expected = oracle(a.input, a.weight, a.bias, a.grad_output, **case.options)
    gy = lay_out(a.grad_output, case.view)
    actual_input = input_grad(case.input_shape, a.weight, gy, **case.options, algorithm=W)
    assert_matches(actual_input, expected.input, F64, f"grad input {case}", algorithm=W)
    actual_weight = weight_grad(
        lay_out(a.input, case.view), case.weight_shape, gy, **case.options, algorithm=W
    )
    assert_matches(actual_weight, expected.weight, F64, f"grad weight {case}", algorithm=W)


@settings(max_examples=80, deadline=None)
@given(case=conv_cases(winograd=True), seed=seeds)
def test_conv1d_gradients_match_torch_autograd(case: ConvCase, seed: int) -> None:
    _check_gradients(case, seed, torch_conv1d_grads, cgrad.conv1d_input, cgrad.conv1d_weight)


@settings(max_examples=60, deadline=None)
@given(case=transposed_cases(winograd=True), seed=seeds)
def test_conv_transpose1d_gradients_match_torch_autograd(case: TransposedCase, seed: int) -> None:
    _check_gradients(
        case, seed, torch_conv_transpose1d_grads, cgrad.conv_transpose1d_input, cgrad.conv_transpose1d_weight
    )


@settings(max_examples=40, deadline=None)
@given(case=conv_cases(winograd=True), seed=seeds)
def test_layer_forward_and_backward_match_torch(case: ConvCase, seed: int) -> None:
    """conv1d.Conv1d (NumPy layer) with algorithm='winograd': output and all three gradients."""
    a = make_arrays(case, F64, seed)
    layer = conv1d.Conv1d(
        case.c_in,
        case.c_out,
        case.k,
        stride=case.stride,
        padding=case.padding,
        dilation=case.dilation,
        groups=case.groups,
        bias=case.bias,
        padding_mode=case.padding_mode,
        layout=case.layout,
        dtype=np.float64,
        algorithm=W,
    )
    layer.weight[...] = a.weight
    if case.bias:
        layer.bias[...] = a.bias
    expected = torch_conv1d_grads(a.input, a.weight, a.bias, a.grad_output, **case.options)
    assert_matches(
        layer(lay_out(a.input, case.view)),
        torch_conv1d(a.input, a.weight, a.bias, **case.options),
        F64,
        f"layer forward {case}",
        algorithm=W,
    )
    assert_matches(
        layer.backward(a.grad_output), expected.input, F64, f"layer grad input {case}", algorithm=W
    )
    assert_matches(layer.weight_grad, expected.weight, F64, f"layer grad weight {case}", algorithm=W)


def _small(case: ConvCase | TransposedCase) -> bool:
    sizes = [int(np.prod(s)) for s in (case.input_shape, case.weight_shape, case.output_shape)]
    return 0 < min(sizes) and sum(sizes) <= 200


@settings(max_examples=20, deadline=None)
@given(
    case=conv_cases(
        winograd=True, batch=st.sampled_from([None, 1, 2]), c_in_per_group=st.integers(1, 2)
    ).filter(_small),
    seed=seeds,
)
def test_torch_module_passes_gradcheck(case: ConvCase, seed: int) -> None:
    a = make_arrays(case, F64, seed)
    module = conv_module(case, F64, W)
    set_parameters(module, a.weight, a.bias)
    _gradcheck(module, leaf(a.input, case.view), f"Conv1d winograd {case}")


@settings(max_examples=20, deadline=None)
@given(case=transposed_cases(winograd=True, batch=st.sampled_from([None, 1, 2])).filter(_small), seed=seeds)
def test_torch_transposed_module_passes_gradcheck(case: TransposedCase, seed: int) -> None:
    a = make_arrays(case, F64, seed)
    module = transposed_module(case, F64, W)
    set_parameters(module, a.weight, a.bias)
    _gradcheck(module, leaf(a.input, case.view), f"ConvTranspose1d winograd {case}")


def test_fcn_layer_in_float32_inside_torch() -> None:
    """The layer the planner hands to Winograd inside conv1d.torch (the FCN's 128->256, K=5,
    'same'), float32, forward and backward against torch.nn.Conv1d on the same weights."""
    torch.manual_seed(0)
    ours = ct.Conv1d(128, 256, 5, padding="same")
    theirs = torch.nn.Conv1d(128, 256, 5, padding="same")
    theirs.load_state_dict(ours.state_dict())
    x1 = torch.randn(5, 128, 150, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_()
    gy = torch.randn(5, 256, 150)
    y1, y2 = ours(x1), theirs(x2)
    y1.backward(gy)
    y2.backward(gy)
    from conv1d.dispatch import Algorithm
    from conv1d.executor import executor
    from conv1d.kernels import gemm
    from conv1d.spec import conv1d_spec
    from conv1d.torch._runtime import torch_matmul

    with gemm.products(torch_matmul):
        spec = conv1d_spec((5, 128, 150), (256, 128, 5), (256,), padding="same", dtype=np.float32)
        assert executor(spec).plan.algorithm is Algorithm.WINOGRAD
    for what, a, b in (
        ("output", y1, y2),
        ("grad input", x1.grad, x2.grad),
        ("grad weight", ours.weight.grad, theirs.weight.grad),
        ("grad bias", ours.bias.grad, theirs.bias.grad),
    ):
        a, b = a.detach().double().numpy(), b.detach().double().numpy()
        scale = np.abs(b).max()
        assert np.abs(a - b).max() <= 1e-5 * scale, (
            f"{what}: {np.abs(a - b).max() / scale:.2e} of the largest value"
        )
