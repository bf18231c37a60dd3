"""Gradients against float64 central finite differences.

The loss is ``sum(op(input, weight, bias) * grad_output)`` for a random ``grad_output``; its
derivative with respect to each element of an argument is what conv1d.grad returns. Every
convolution is linear in each argument, so a central difference is exact up to rounding
(about ``eps_machine * |loss| / step``, ~1e-9 here): the tolerance below is loose by 100x
and still catches a single misplaced tap. Failures name the argument and the index.
Each gradient is computed by every kernel in turn.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from strategies import ConvCase, TransposedCase, make_arrays

import conv1d
from conv1d import grad as cgrad

STEP = 1e-6
TOLERANCE = 1e-7  # absolute, plus the same relative to the central difference
ALGORITHMS = ("auto", "gemm", "direct", "fft")  # the gradient's kernel; the loss uses 'auto'

CONV_CASES = {
    "zeros": ConvCase(
        n=2,
        groups=1,
        c_in_per_group=2,
        c_out_per_group=3,
        k=3,
        stride=1,
        dilation=1,
        padding=2,
        padding_mode="zeros",
        l_in=7,
    ),
    "reflect": ConvCase(
        n=2,
        groups=1,
        c_in_per_group=2,
        c_out_per_group=2,
        k=3,
        stride=1,
        dilation=1,
        padding=2,
        padding_mode="reflect",
        l_in=5,
    ),
    "replicate": ConvCase(
        n=1,
        groups=1,
        c_in_per_group=2,
        c_out_per_group=2,
        k=4,
        stride=1,
        dilation=1,
        padding=(3, 1),
        padding_mode="replicate",
        l_in=4,
    ),
    "circular": ConvCase(
        n=2,
        groups=1,
        c_in_per_group=2,
        c_out_per_group=2,
        k=3,
        stride=1,
        dilation=2,
        padding=4,
        padding_mode="circular",
        l_in=4,
    ),
    "stride and dilation": ConvCase(
        n=2,
        groups=1,
        c_in_per_group=3,
        c_out_per_group=2,
        k=3,
        stride=2,
        dilation=2,
        padding=(1, 2),
        padding_mode="zeros",
        l_in=9,
    ),
    "groups, same": ConvCase(
        n=2,
        groups=2,
        c_in_per_group=2,
        c_out_per_group=3,
        k=4,
        stride=1,
        dilation=1,
        padding="same",
        padding_mode="zeros",
        l_in=6,
    ),
    "same stride 3, reflect": ConvCase(
        n=1,
        groups=1,
        c_in_per_group=2,
        c_out_per_group=2,
        k=3,
        stride=3,
        dilation=1,
        padding="same",
        padding_mode="reflect",
        l_in=8,
    ),
    "causal, NLC, unbatched": ConvCase(
        n=None,
        groups=3,
        c_in_per_group=1,
        c_out_per_group=2,
        k=2,
        stride=2,
        dilation=3,
        padding="causal",
        padding_mode="replicate",
        l_in=7,
        layout="NLC",
    ),
    "span = padded length": ConvCase(
        n=2,
        groups=1,
        c_in_per_group=2,
        c_out_per_group=2,
        k=3,
        stride=1,
        dilation=3,
        padding=1,
        padding_mode="circular",
        l_in=5,
    ),
}

TRANSPOSED_CASES = {
    "stride 2, padding, output_padding": TransposedCase(
        n=2,
        groups=1,
        c_in_per_group=2,
        c_out_per_group=3,
        k=3,
        stride=2,
        dilation=1,
        padding=1,
        output_padding=1,
        l_in=5,
    ),
    "dilation 3, output_padding >= stride": TransposedCase(
        n=1,
        groups=1,
        c_in_per_group=2,
        c_out_per_group=2,
        k=2,
        stride=1,
        dilation=3,
        padding=0,
        output_padding=2,
        l_in=4,
    ),
    "groups, NLC, unbatched": TransposedCase(
        n=None,
        groups=2,
        c_in_per_group=2,
        c_out_per_group=1,
        k=4,
        stride=3,
        dilation=2,
        padding=2,
        output_padding=1,
        l_in=4,
        layout="NLC",
    ),
}


def central_difference(loss: Callable[[np.ndarray], float], a: np.ndarray) -> np.ndarray:
    """d loss / d a by central differences, one element at a time (``a`` is restored)."""
    grad = np.zeros_like(a)
    for index in np.ndindex(a.shape):
        original = a[index]
        a[index] = original + STEP
        plus = loss(a)
        a[index] = original - STEP
        minus = loss(a)
        a[index] = original
        grad[index] = (plus - minus) / (2 * STEP)
    return grad


def check_gradient(
    name: str, analytic: np.ndarray, loss: Callable[[np.ndarray], float], a: np.ndarray, case: object
) -> None:
    assert analytic.shape == a.shape, f"d loss / d {name}: shape {analytic.shape}, expected {a.shape}"
    assert analytic.dtype == np.float64, f"d loss / d {name}: dtype {analytic.dtype}"
    numeric = central_difference(loss, a.copy())
    for index in np.ndindex(a.shape):
        got, want = analytic[index], numeric[index]
        assert abs(got - want) <= TOLERANCE * (1 + abs(want)), (
            f"d loss / d {name}{list(index)}: conv1d.grad gives {got!r}, central difference {want!r} "
            f"(|diff| {abs(got - want):.3g}) for {case}"
        )


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("case", list(CONV_CASES.values()), ids=list(CONV_CASES))
def test_conv1d_gradients_by_finite_differences(case: ConvCase, algorithm: str) -> None:
    a = make_arrays(case, np.float64, seed=7)
    x, w, b, gy = a.input, a.weight, a.bias, a.grad_output

    def loss(x_: np.ndarray, w_: np.ndarray, b_: np.ndarray | None) -> float:
        return float(np.sum(conv1d.conv1d(x_, w_, b_, **case.options) * gy))

    grad_input = cgrad.conv1d_input(x.shape, w, gy, **case.options, algorithm=algorithm)
    grad_weight = cgrad.conv1d_weight(x, w.shape, gy, **case.options, algorithm=algorithm)
    check_gradient("input", grad_input, lambda v: loss(v, w, b), x, case)
    check_gradient("weight", grad_weight, lambda v: loss(x, v, b), w, case)
    check_gradient("bias", cgrad.conv1d_bias(gy, layout=case.layout), lambda v: loss(x, w, v), b, case)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("case", list(TRANSPOSED_CASES.values()), ids=list(TRANSPOSED_CASES))
def test_conv_transpose1d_gradients_by_finite_differences(case: TransposedCase, algorithm: str) -> None:
    a = make_arrays(case, np.float64, seed=11)
    x, w, b, gy = a.input, a.weight, a.bias, a.grad_output

    def loss(x_: np.ndarray, w_: np.ndarray, b_: np.ndarray | None) -> float:
        return float(np.sum(conv1d.conv_transpose1d(x_, w_, b_, **case.options) * gy))

    grad_input = cgrad.conv_transpose1d_input(x.shape, w, gy, **case.options, algorithm=algorithm)
    grad_weight = cgrad.conv_transpose1d_weight(x, w.shape, gy, **case.options, algorithm=algorithm)
    check_gradient("input", grad_input, lambda v: loss(v, w, b), x, case)
    check_gradient("weight", grad_weight, lambda v: loss(x, v, b), w, case)
    check_gradient("bias", cgrad.conv1d_bias(gy, layout=case.layout), lambda v: loss(x, w, v), b, case)


def test_check_gradient_catches_a_wrong_gradient() -> None:
    """The checker itself can fail, and its message names the argument and the index."""
    case = CONV_CASES["zeros"]
    a = make_arrays(case, np.float64, seed=7)
    wrong = cgrad.conv1d_weight(a.input, a.weight.shape, a.grad_output, **case.options)
    wrong[1, 0, 2] += 1e-3

    def loss(v: np.ndarray) -> float:
        return float(np.sum(conv1d.conv1d(a.input, v, a.bias, **case.options) * a.grad_output))

    with pytest.raises(AssertionError, match=r"d loss / d weight\[1, 0, 2\]"):
        check_gradient("weight", wrong, loss, a.weight, case)
