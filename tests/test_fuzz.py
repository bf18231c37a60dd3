"""A differential fuzz harness: conv1d against PyTorch (float64) over every option.

Four areas, each a hypothesis test drawing whole configurations (every padding form and
mode, stride, dilation, groups, both layouts, batched or not, memory layouts, every kernel):

* forward and gradients of conv1d and conv_transpose1d (``conv1d.grad``);
* second-order gradients through ``conv1d.torch`` modules (a gradient penalty);
* error parity on calls that may be invalid (torch raises <=> conv1d raises ConvError);
* non-finite inputs (NaN, +inf, -inf): the same positions and finite values as torch.

CI runs a small profile (``CONV1D_FUZZ_EXAMPLES``, default 40 examples per test); the long
run is, for example (about 10,000 configurations, a few minutes)::

    CONV1D_FUZZ_EXAMPLES=1700 python -m pytest -q tests/test_fuzz.py --hypothesis-show-statistics
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from helpers import (
    assert_matches,
    torch_conv1d,
    torch_conv1d_grads,
    torch_conv1d_tensors,
    torch_conv_transpose1d,
    torch_conv_transpose1d_grads,
)
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from strategies import ConvCase, conv_cases, lay_out, make_arrays, raw_calls, transposed_cases
from test_vs_torch import check_error_parity

import conv1d
import conv1d.torch as ct
from conv1d import grad as cgrad

EXAMPLES = int(os.environ.get("CONV1D_FUZZ_EXAMPLES", "40"))
fuzz = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
seeds = st.integers(0, 2**16)
algorithms = st.sampled_from(["auto", "gemm", "direct", "fft", "winograd"])
F64 = np.dtype(np.float64)


def _runnable(case: Any, algorithm: str) -> str:
    """``algorithm``, or 'auto' where that kernel cannot run the case (Winograd: stride 1,
    dilation 1, 2 to 7 taps; no kernel for an empty weight)."""
    if algorithm == "winograd" and not (case.stride == case.dilation == 1 and 2 <= case.k <= 7):
        return "auto"
    return algorithm


def _ran(case: Any, algorithm: str, transposed: bool) -> str:
    if algorithm != "auto":
        return algorithm
    return conv1d.plan(
        case.input_shape, case.weight_shape, **case.options, transposed=transposed
    ).algorithm.value


@fuzz
@given(case=conv_cases(), algorithm=algorithms, seed=seeds)
def test_fuzz_conv1d_forward_and_gradients(case: ConvCase, algorithm: str, seed: int) -> None:
    algorithm = _runnable(case, algorithm)
    kernel = _ran(case, algorithm, False)
    a = make_arrays(case, F64, seed)
    x, gy = lay_out(a.input, case.view), lay_out(a.grad_output, case.view)
    y = conv1d.conv1d(x, a.weight, a.bias, **case.options, algorithm=algorithm)
    assert_matches(
        y, torch_conv1d(a.input, a.weight, a.bias, **case.options), F64, f"forward {case}", algorithm=kernel
    )
    expected = torch_conv1d_grads(a.input, a.weight, a.bias, a.grad_output, **case.options)
    gx = cgrad.conv1d_input(case.input_shape, a.weight, gy, **case.options, algorithm=algorithm)
    assert_matches(gx, expected.input, F64, f"grad input {case}", algorithm=kernel)
    gw = cgrad.conv1d_weight(x, case.weight_shape, gy, **case.options, algorithm=algorithm)
    assert_matches(gw, expected.weight, F64, f"grad weight {case}", algorithm=kernel)


@fuzz
@given(case=transposed_cases(), algorithm=algorithms, seed=seeds)
def test_fuzz_conv_transpose1d_forward_and_gradients(case: Any, algorithm: str, seed: int) -> None:
    algorithm = _runnable(case, algorithm)
    kernel = _ran(case, algorithm, True)
    a = make_arrays(case, F64, seed)
    x, gy = lay_out(a.input, case.view), lay_out(a.grad_output, case.view)
    y = conv1d.conv_transpose1d(x, a.weight, a.bias, **case.options, algorithm=algorithm)
    expected_y = torch_conv_transpose1d(a.input, a.weight, a.bias, **case.options)
    assert_matches(y, expected_y, F64, f"forward {case}", algorithm=kernel)
    expected = torch_conv_transpose1d_grads(a.input, a.weight, a.bias, a.grad_output, **case.options)
    gx = cgrad.conv_transpose1d_input(case.input_shape, a.weight, gy, **case.options, algorithm=algorithm)
    assert_matches(gx, expected.input, F64, f"grad input {case}", algorithm=kernel)
    gw = cgrad.conv_transpose1d_weight(x, case.weight_shape, gy, **case.options, algorithm=algorithm)
    assert_matches(gw, expected.weight, F64, f"grad weight {case}", algorithm=kernel)


@fuzz
@given(case=conv_cases(), algorithm=algorithms, seed=seeds)
def test_fuzz_second_order_gradients(case: ConvCase, algorithm: str, seed: int) -> None:
    """A gradient penalty through a conv1d.torch module equals the same through torch's
    functions: d/d(x, w, b) of sum(y^2) + sum((dy/dx)^2)."""
    algorithm = _runnable(case, algorithm)
    kernel = _ran(case, algorithm, False)
    a = make_arrays(case, F64, seed)
    options = case.options
    module = ct.Conv1d(case.groups * case.c_in_per_group, case.groups * case.c_out_per_group, case.k,
                       stride=options["stride"], padding=options["padding"], dilation=options["dilation"],
                       groups=case.groups, bias=a.bias is not None, padding_mode=options["padding_mode"],
                       layout=options["layout"], algorithm=algorithm, dtype=torch.float64)  # fmt: skip
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(a.weight))
        if a.bias is not None:
            module.bias.copy_(torch.from_numpy(a.bias))
    w = torch.from_numpy(a.weight.copy()).requires_grad_()
    b = None if a.bias is None else torch.from_numpy(a.bias.copy()).requires_grad_()
    results = []
    for forward, params in ((module, [module.weight] + ([module.bias] if a.bias is not None else [])),
                            (lambda x: torch_conv1d_tensors(x, w, b, **options), [w] + ([b] if b is not None else []))):  # fmt: skip
        x = torch.from_numpy(a.input.copy()).requires_grad_()
        y = forward(x)
        (g,) = torch.autograd.grad(y.square().sum(), x, create_graph=True)
        grads = torch.autograd.grad(y.square().sum() + g.square().sum(), [x, *params], allow_unused=True)
        results.append(
            [np.zeros(tuple(t.shape)) if d is None else d.numpy() for d, t in zip(grads, [x, *params])]
        )
    for name, got, expected in zip(("input", "weight", "bias"), *results):
        assert_matches(got, expected, F64, f"second-order {name} {case}", algorithm=kernel)


@fuzz
@given(raw=raw_calls(), seed=seeds)
def test_fuzz_error_parity(raw: Any, seed: int) -> None:
    check_error_parity(raw, seed)


@fuzz
@given(case=conv_cases(), algorithm=algorithms, seed=seeds, value=st.sampled_from([np.nan, np.inf, -np.inf]),
       where=st.sampled_from(["input", "weight"]), index=st.integers(0, 2**16))  # fmt: skip
def test_fuzz_non_finite_inputs(
    case: ConvCase, algorithm: str, seed: int, value: float, where: str, index: int
) -> None:
    """One NaN or Inf in the input or the weight: NaN, +inf and -inf exactly where torch puts
    them, the finite values within tolerance."""
    algorithm = _runnable(case, algorithm)
    a = make_arrays(case, F64, seed)
    x = lay_out(a.input, case.view)
    targets = (a.input, x) if where == "input" else (a.weight,)
    assume(targets[0].size > 0)  # (an empty array has nothing to poison)
    spot = np.unravel_index(index % targets[0].size, targets[0].shape)
    for target in targets:  # the reference's array and the laid-out one alike
        target[spot] = value
    got = conv1d.conv1d(x, a.weight, a.bias, **case.options, algorithm=algorithm)
    with np.errstate(invalid="ignore"):
        expected = torch_conv1d(a.input, a.weight, a.bias, **case.options)
    for name, mask in (("NaN", np.isnan), ("+inf", np.isposinf), ("-inf", np.isneginf)):
        np.testing.assert_array_equal(mask(got), mask(expected), err_msg=f"{name} positions differ: {case}")
    finite = np.isfinite(expected)
    assert_matches(
        got[finite], expected[finite], F64, f"finite values {case}", algorithm=_ran(case, algorithm, False)
    )


def _same_non_finite(got: np.ndarray, expected: np.ndarray, what: str, kernel: str) -> None:
    for name, mask in (("NaN", np.isnan), ("+inf", np.isposinf), ("-inf", np.isneginf)):
        np.testing.assert_array_equal(mask(got), mask(expected), err_msg=f"{name} positions differ: {what}")
    finite = np.isfinite(expected)
    assert_matches(got[finite], expected[finite], F64, f"finite values {what}", algorithm=kernel)


@fuzz
@given(case=conv_cases(), algorithm=algorithms, seed=seeds, value=st.sampled_from([np.nan, np.inf, -np.inf]),
       where=st.sampled_from(["input", "weight", "grad_output"]), index=st.integers(0, 2**16))  # fmt: skip
def test_fuzz_non_finite_gradients(
    case: ConvCase, algorithm: str, seed: int, value: float, where: str, index: int
) -> None:
    """One NaN or Inf in the input, the weight or the output gradient: conv1d.grad's input and
    weight gradients have torch autograd's NaN and Inf, and its finite values."""
    algorithm = _runnable(case, algorithm)
    kernel = _ran(case, algorithm, False)
    a = make_arrays(case, F64, seed)
    x, gy = lay_out(a.input, case.view), lay_out(a.grad_output, case.view)
    targets = {"input": (a.input, x), "weight": (a.weight,), "grad_output": (a.grad_output, gy)}[where]
    assume(targets[0].size > 0)  # (an empty array has nothing to poison)
    spot = np.unravel_index(index % targets[0].size, targets[0].shape)
    for target in targets:
        target[spot] = value
    with np.errstate(invalid="ignore", over="ignore"):
        expected = torch_conv1d_grads(a.input, a.weight, a.bias, a.grad_output, **case.options)
    gx = cgrad.conv1d_input(case.input_shape, a.weight, gy, **case.options, algorithm=algorithm)
    _same_non_finite(gx, expected.input, f"grad input {case}", kernel)
    gw = cgrad.conv1d_weight(x, case.weight_shape, gy, **case.options, algorithm=algorithm)
    _same_non_finite(gw, expected.weight, f"grad weight {case}", kernel)
