"""conv1d.torch: torch.nn modules whose forward and backward run conv1d.

* gradcheck (float64 finite differences through torch.autograd) on drawn configurations,
  every padding form and layout, with input, weight and bias all requiring grad;
* differential against torch.nn.Conv1d / ConvTranspose1d with the same state dict
  (forward and the input/weight/bias gradients of ``.backward(g)``), float64 and float32,
  each algorithm forced; conv1d's extras against torch composed from what it has
  (helpers.torch_conv1d_tensors: F.pad then F.conv1d; transposes for 'NLC');
* module parity (signature, state dict, initialisation, isinstance, repr) and the errors;
* convert() to conv1d and back, sharing or copying the Parameters;
* ``import conv1d`` never imports torch.
"""

from __future__ import annotations

import copy
import inspect
import io
import pickle
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from helpers import assert_matches, one_thread_each, torch_conv1d_tensors, torch_conv_transpose1d_tensors
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from strategies import (
    ConvCase,
    TransposedCase,
    conv_cases,
    make_arrays,
    random_array,
    seeds,
    transposed_cases,
    transposed_length,
)
from torch.autograd.gradcheck import GradcheckError
from torch.nn.utils import prune

import conv1d
import conv1d.torch as ct
import conv1d.torch._runtime as rt
from conv1d.torch._function import Conv1dFunction, ConvTranspose1dFunction

# torch warns (at construction and in forward) that 'same' with an even span copies the input.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")

ALGORITHMS = ("auto", "gemm", "direct", "fft")
TORCH_DTYPES = {
    np.dtype(np.float64): torch.float64,
    np.dtype(np.float32): torch.float32,
    np.dtype(np.complex128): torch.complex128,
}
# torch.nn accepts int, (p,), 'valid' and 'same' at stride 1, NCL only.
TORCH_FORMS = ("int", "1-tuple", "valid", "same")
EXTRA_FORMS = ("causal", "pair", "same")

# How the input tensor sits in memory (a leaf either way, so it collects its gradient):
# strategies.VIEWS, with 'reversed' (negative strides, which torch lacks) read as a view
# that starts one element into its storage.
TENSOR_VIEWS = {
    "contiguous": "contiguous",
    "strided": "strided",
    "transposed": "transposed",
    "reversed": "offset",
}


one_torch_thread = pytest.fixture(autouse=True, scope="module")(
    one_thread_each
)  # see helpers.one_thread_each


# --------------------------------------------------------------------------- building blocks


def leaf(a: np.ndarray, view: str = "contiguous") -> torch.Tensor:
    """A leaf tensor equal to ``a`` that requires grad, laid out in memory as ``view``."""
    t = torch.from_numpy(np.array(a, copy=True))
    view = TENSOR_VIEWS.get(view, view)
    if view == "strided" and t.dim():
        buffer = torch.zeros(*t.shape[:-1], 2 * t.shape[-1], dtype=t.dtype)
        buffer[..., ::2] = t
        t = buffer[..., ::2]
    elif view == "transposed":
        order = tuple(reversed(range(t.dim())))
        t = t.permute(order).contiguous().permute(order)
    elif view == "offset":
        buffer = torch.zeros(t.numel() + 1, dtype=t.dtype)
        buffer[1:] = t.reshape(-1)
        t = buffer[1:].view(t.shape)
    t = t.detach().requires_grad_()
    assert torch.equal(t.detach(), torch.from_numpy(np.asarray(a))), f"view {view!r} changed the values"
    return t


def conv_module(
    case: ConvCase, dtype: Any, algorithm: str = "auto", *, cls: type = ct.Conv1d
) -> torch.nn.Module:
    """``cls`` (ours or torch.nn.Conv1d) built for ``case``; extras only for ours."""
    extras = {} if cls is torch.nn.Conv1d else {"layout": case.layout, "algorithm": algorithm}
    return cls(
        case.c_in,
        case.c_out,
        case.k,
        stride=case.stride,
        padding=case.padding,
        dilation=case.dilation,
        groups=case.groups,
        bias=case.bias,
        padding_mode=case.padding_mode,
        dtype=TORCH_DTYPES[np.dtype(dtype)],
        **extras,
    )


def transposed_module(
    case: TransposedCase, dtype: Any, algorithm: str = "auto", *, cls: type = ct.ConvTranspose1d
) -> torch.nn.Module:
    extras = {} if cls is torch.nn.ConvTranspose1d else {"layout": case.layout, "algorithm": algorithm}
    return cls(
        case.c_in,
        case.c_out,
        case.k,
        stride=case.stride,
        padding=case.padding,
        output_padding=case.output_padding,
        groups=case.groups,
        bias=case.bias,
        dilation=case.dilation,
        dtype=TORCH_DTYPES[np.dtype(dtype)],
        **extras,
    )


def set_parameters(module: torch.nn.Module, weight: np.ndarray, bias: np.ndarray | None) -> None:
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(weight))
        if bias is not None:
            module.bias.copy_(torch.from_numpy(bias))


def assert_same_as(
    ours: torch.nn.Module,
    run_ours: Callable[[torch.Tensor], torch.Tensor],
    ref_parameters: tuple[torch.Tensor, torch.Tensor | None],
    run_ref: Callable[[torch.Tensor], torch.Tensor],
    x: np.ndarray,
    grad_output: np.ndarray | None,
    dtype: Any,
    what: str,
    *,
    view: str = "contiguous",
    algorithm: str = "gemm",
) -> None:
    """Forward and every gradient of ``ours`` equal the reference's: shape, dtype, then values
    within ``tolerance(dtype, algorithm)``. ``grad_output=None`` backpropagates ``y.sum()``
    (an expanded, stride-0 output gradient)."""
    x_ours, x_ref = leaf(x, view), leaf(x)
    y, y_ref = run_ours(x_ours), run_ref(x_ref)
    assert isinstance(y, torch.Tensor) and y.requires_grad, (
        f"{what}: output {type(y)} is not part of the graph"
    )
    assert_matches(y.detach().numpy(), y_ref.detach().numpy(), dtype, f"{what}: output", algorithm=algorithm)
    if grad_output is None:
        y.sum().backward()
        y_ref.sum().backward()
    else:
        y.backward(torch.from_numpy(grad_output))
        y_ref.backward(torch.from_numpy(grad_output))
    ref_weight, ref_bias = ref_parameters
    pairs = [("input", x_ours, x_ref), ("weight", ours.weight, ref_weight)]
    if ref_bias is not None:
        pairs.append(("bias", ours.bias, ref_bias))
    else:
        assert ours.bias is None, f"{what}: the module has a bias the reference lacks"
    for name, mine, theirs in pairs:
        assert theirs.grad is not None, f"{what}: the reference computed no {name} gradient"
        assert mine.grad is not None, (
            f"{what}: no {name} gradient (reference has shape {tuple(theirs.grad.shape)})"
        )
        assert_matches(
            mine.grad.numpy(), theirs.grad.numpy(), dtype, f"{what}: {name} gradient", algorithm=algorithm
        )


def ran(algorithm: str, case: ConvCase | TransposedCase, dtype: Any) -> str:
    """The kernel that runs: the forced one or the planner's choice (for the tolerance row)."""
    if algorithm != "auto":
        return algorithm
    return conv1d.plan(
        case.input_shape,
        case.weight_shape,
        **case.options,
        dtype=dtype,
        transposed=isinstance(case, TransposedCase),
    ).algorithm.value


# --------------------------------------------------------------------------- 1. gradcheck


def _numel(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape, dtype=np.int64))


def _tiny(case: ConvCase | TransposedCase) -> bool:
    """Few enough numbers that finite differences over all of them stay quick."""
    sizes = [_numel(case.input_shape), _numel(case.weight_shape), _numel(case.output_shape)]
    return 0 < min(sizes) and sum(sizes) <= 160 and case.l_in <= 24


tiny_conv_cases = conv_cases(batch=st.sampled_from([None, 1, 2]), c_in_per_group=st.integers(1, 2)).filter(
    _tiny
)
tiny_transposed_cases = transposed_cases(batch=st.sampled_from([None, 1, 2])).filter(_tiny)


def requested_length(case: TransposedCase, extra: int) -> int:
    """An ``output_size`` torch accepts: ``L_min + extra % stride``, with ``L_min`` the length at
    output_padding 0. Drawn only where ``L_min >= 1``: when ``L_min == 0`` conv1d refuses the
    lengths torch accepts (test_output_size_whose_shortest_length_is_zero_is_accepted)."""
    p = case.padding[0] if isinstance(case.padding, tuple) else case.padding
    shortest = transposed_length(case.l_in, case.k, case.stride, p, 0, case.dilation)
    assume(shortest >= 1)
    return shortest + extra % case.stride


def _gradcheck(module: torch.nn.Module, x: torch.Tensor, what: str, **call: Any) -> None:
    names = ["weight"] + (["bias"] if module.bias is not None else [])
    parameters = tuple(getattr(module, n).detach().clone().requires_grad_() for n in names)

    def run(x: torch.Tensor, *values: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(module, dict(zip(names, values)), (x,), call)

    inputs = (x, *parameters)
    assert all(t.requires_grad and t.dtype == torch.float64 for t in inputs)
    try:
        ok = torch.autograd.gradcheck(run, inputs, eps=1e-6, atol=1e-7, rtol=1e-5)
    except GradcheckError as error:
        raise AssertionError(f"{what}: gradcheck failed: {error}") from None
    assert ok, f"{what}: gradcheck returned False"


@settings(max_examples=25, deadline=None)
@given(case=tiny_conv_cases, seed=seeds)
def test_conv1d_module_passes_gradcheck(case: ConvCase, seed: int) -> None:
    a = make_arrays(case, np.float64, seed)
    module = conv_module(case, np.float64)
    set_parameters(module, a.weight, a.bias)
    _gradcheck(module, leaf(a.input, case.view), f"Conv1d {case}")


@settings(max_examples=25, deadline=None)
@given(
    case=tiny_transposed_cases,
    seed=seeds,
    how=st.sampled_from(["output_padding", "int", "length list", "shape"]),
    extra=st.integers(0, 3),
)
def test_conv_transpose1d_module_passes_gradcheck(
    case: TransposedCase, seed: int, how: str, extra: int
) -> None:
    """With the module's output_padding, or forward(x, output_size=...) as a length, a
    one-element list, or the full output shape."""
    a = make_arrays(case, np.float64, seed)
    module = transposed_module(case, np.float64)
    set_parameters(module, a.weight, a.bias)
    call: dict[str, Any] = {}
    if how != "output_padding":
        length = requested_length(case, extra)
        shape = list(case.output_shape)
        shape[-2 if case.layout == "NLC" else -1] = length
        call["output_size"] = {"int": length, "length list": [length], "shape": shape}[how]
    _gradcheck(module, leaf(a.input, case.view), f"ConvTranspose1d {case} {call}", **call)


# --------------------------------------------------------------------------- 2. differential against torch.nn


def _check_equals_torch_nn(case: ConvCase | TransposedCase, dtype: Any, seed: int, algorithm: str) -> None:
    """Our module, given torch.nn's parameters for ``case``, gives torch.nn's forward result
    and input/weight/bias gradients in ``dtype``."""
    transposed = isinstance(case, TransposedCase)
    build, torch_cls = (
        (transposed_module, torch.nn.ConvTranspose1d) if transposed else (conv_module, torch.nn.Conv1d)
    )
    a = make_arrays(case, dtype, seed)
    ref = build(case, dtype, cls=torch_cls)
    set_parameters(ref, a.weight, a.bias)
    ours = build(case, dtype, algorithm)
    ours.load_state_dict(ref.state_dict())
    name = "ConvTranspose1d" if transposed else "Conv1d"
    assert_same_as(
        ours,
        ours,
        (ref.weight, ref.bias),
        ref,
        a.input,
        a.grad_output,
        dtype,
        f"{name} {np.dtype(dtype)} {case} algorithm={algorithm}",
        view=case.view,
        algorithm=ran(algorithm, case, dtype),
    )


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@settings(max_examples=30, deadline=None)
@given(case=conv_cases(padding_forms=TORCH_FORMS, layouts=("NCL",), strided_same=False), seed=seeds)
def test_conv1d_equals_torch_nn_float64(algorithm: str, case: ConvCase, seed: int) -> None:
    _check_equals_torch_nn(case, np.float64, seed, algorithm)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@settings(max_examples=30, deadline=None)
@given(case=transposed_cases(layouts=("NCL",)), seed=seeds)
def test_conv_transpose1d_equals_torch_nn_float64(algorithm: str, case: TransposedCase, seed: int) -> None:
    _check_equals_torch_nn(case, np.float64, seed, algorithm)


@settings(max_examples=40, deadline=None)
@given(
    case=conv_cases(padding_forms=TORCH_FORMS, layouts=("NCL",), strided_same=False),
    seed=seeds,
    algorithm=st.sampled_from(ALGORITHMS),
)
def test_conv1d_equals_torch_nn_float32(case: ConvCase, seed: int, algorithm: str) -> None:
    """float32 against torch.nn in float32: both round, so the helpers' float32 row (14x the
    largest forward error seen against a float64 oracle) covers the two errors together."""
    _check_equals_torch_nn(case, np.float32, seed, algorithm)


@settings(max_examples=40, deadline=None)
@given(case=transposed_cases(layouts=("NCL",)), seed=seeds, algorithm=st.sampled_from(ALGORITHMS))
def test_conv_transpose1d_equals_torch_nn_float32(case: TransposedCase, seed: int, algorithm: str) -> None:
    _check_equals_torch_nn(case, np.float32, seed, algorithm)


@settings(max_examples=25, deadline=None)
@given(case=transposed_cases(layouts=("NCL",)), seed=seeds, extra=st.integers(0, 3), as_shape=st.booleans())
def test_conv_transpose1d_output_size_equals_torch_nn(
    case: TransposedCase, seed: int, extra: int, as_shape: bool
) -> None:
    a = make_arrays(case, np.float64, seed)
    length = requested_length(case, extra)
    output_size = [*case.output_shape[:-1], length] if as_shape else [length]
    ref = transposed_module(case, np.float64, cls=torch.nn.ConvTranspose1d)
    set_parameters(ref, a.weight, a.bias)
    ours = transposed_module(case, np.float64)
    ours.load_state_dict(ref.state_dict())
    g = random_array(np.random.default_rng(seed), (*case.output_shape[:-1], length), np.float64)
    assert_same_as(
        ours,
        lambda x: ours(x, output_size=output_size),
        (ref.weight, ref.bias),
        lambda x: ref(x, output_size=output_size),
        a.input,
        g,
        np.float64,
        f"ConvTranspose1d {case} output_size={output_size}",
        view=case.view,
    )


def test_output_size_whose_shortest_length_is_zero_is_accepted() -> None:
    """L_in=1, K=2, stride=2, padding=1: (1-1)*2 - 2*1 + 1*(2-1) + 1 = 0 at output_padding 0,
    so the lengths are 0..1 and torch accepts output_size=[1] (output_padding 1), as does
    conv1d.conv_transpose1d(..., output_padding=1). The module should too."""
    ref = torch.nn.ConvTranspose1d(1, 1, 2, stride=2, padding=1, dtype=torch.float64)
    ours = ct.ConvTranspose1d(1, 1, 2, stride=2, padding=1, dtype=torch.float64)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(1, 1, 1, dtype=torch.float64)
    expected = ref(x, output_size=[1])
    assert expected.shape == (1, 1, 1)
    assert_matches(
        ours(x, output_size=[1]).detach().numpy(),
        expected.detach().numpy(),
        np.float64,
        "ConvTranspose1d(1, 1, 2, stride=2, padding=1)(x of length 1, output_size=[1])",
    )


@settings(max_examples=30, deadline=None)
@given(case=conv_cases(padding_forms=TORCH_FORMS, layouts=("NCL",), strided_same=False), seed=seeds)
def test_conv1d_backward_of_a_sum_equals_torch_nn(case: ConvCase, seed: int) -> None:
    """``y.sum().backward()`` hands backward an expanded output gradient (every stride 0)."""
    a = make_arrays(case, np.float64, seed)
    ref = conv_module(case, np.float64, cls=torch.nn.Conv1d)
    set_parameters(ref, a.weight, a.bias)
    ours = conv_module(case, np.float64)
    ours.load_state_dict(ref.state_dict())
    assert_same_as(ours, ours, (ref.weight, ref.bias), ref, a.input, None, np.float64, f"Conv1d sum() {case}")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@settings(max_examples=30, deadline=None)
@given(case=conv_cases(padding_forms=EXTRA_FORMS), seed=seeds)
def test_conv1d_extras_equal_torch_composed(algorithm: str, case: ConvCase, seed: int) -> None:
    """'causal', (left, right), 'same' at any stride, 'NLC', every padding mode: against
    torch's F.pad then F.conv1d (and transposes for NLC) with the module's own parameters."""
    a = make_arrays(case, np.float64, seed)
    ours = conv_module(case, np.float64, algorithm)
    set_parameters(ours, a.weight, a.bias)
    w = ours.weight.detach().clone().requires_grad_()
    b = None if ours.bias is None else ours.bias.detach().clone().requires_grad_()

    def composed(x: torch.Tensor) -> torch.Tensor:
        return torch_conv1d_tensors(x, w, b, **case.options)

    assert_same_as(
        ours,
        ours,
        (w, b),
        composed,
        a.input,
        a.grad_output,
        np.float64,
        f"Conv1d {case} algorithm={algorithm}",
        view=case.view,
        algorithm=ran(algorithm, case, np.float64),
    )


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@settings(max_examples=25, deadline=None)
@given(case=transposed_cases(layouts=("NLC",)), seed=seeds)
def test_conv_transpose1d_nlc_equals_torch_composed(algorithm: str, case: TransposedCase, seed: int) -> None:
    a = make_arrays(case, np.float64, seed)
    ours = transposed_module(case, np.float64, algorithm)
    set_parameters(ours, a.weight, a.bias)
    w = ours.weight.detach().clone().requires_grad_()
    b = None if ours.bias is None else ours.bias.detach().clone().requires_grad_()

    def composed(x: torch.Tensor) -> torch.Tensor:
        return torch_conv_transpose1d_tensors(x, w, b, **case.options)

    assert_same_as(
        ours,
        ours,
        (w, b),
        composed,
        a.input,
        a.grad_output,
        np.float64,
        f"ConvTranspose1d {case} algorithm={algorithm}",
        view=case.view,
        algorithm=ran(algorithm, case, np.float64),
    )


def test_extras_hand_checked() -> None:
    """'causal', (left, right) with NLC, and 'same' at stride 2, on arange with all-ones
    kernels; the expected values written out."""
    m = ct.Conv1d(1, 1, 2, padding="causal", bias=False, dtype=torch.float64)
    set_parameters(m, np.ones((1, 1, 2)), None)
    x = torch.arange(5, dtype=torch.float64)[None, None]
    assert m(x).tolist() == [[[0, 1, 3, 5, 7]]], "causal: y[t] = x[t-1] + x[t]"
    m = ct.Conv1d(1, 1, 2, padding=(2, 0), dilation=2, bias=False, layout="NLC", dtype=torch.float64)
    set_parameters(m, np.ones((1, 1, 2)), None)
    assert m(x.transpose(1, 2)).tolist() == [[[0], [1], [2], [4], [6]]], (
        "(2, 0), dilation 2, NLC: y[t] = x[t-2] + x[t]"
    )
    m = ct.Conv1d(1, 1, 3, stride=2, padding="same", bias=False, dtype=torch.float64)
    set_parameters(m, np.ones((1, 1, 3)), None)
    assert m(x).tolist() == [[[1, 6, 7]]], "same, stride 2: L_out = ceil(5/2), one zero each side"


def test_frozen_weights_give_only_the_input_gradient() -> None:
    """Parameters with requires_grad=False get no gradient; the input's is still torch's."""
    torch.manual_seed(0)
    ref = torch.nn.Conv1d(3, 4, 3, padding=1, dtype=torch.float64)
    ours = ct.Conv1d(3, 4, 3, padding=1, dtype=torch.float64)
    ours.load_state_dict(ref.state_dict())
    for m in (ref, ours):
        m.requires_grad_(False)
    x = torch.randn(2, 3, 9, dtype=torch.float64)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours(xa).square().sum().backward()
    ref(xb).square().sum().backward()
    assert ours.weight.grad is None and ours.bias.grad is None, "frozen parameters got gradients"
    assert_matches(xa.grad.numpy(), xb.grad.numpy(), np.float64, "input gradient with frozen weights")


def test_output_is_a_new_tensor_not_a_view_of_the_input() -> None:
    """An identity-like layer (K=1, one channel) must not hand back the input's memory:
    an in-place edit of the output would otherwise corrupt the input saved for backward."""
    for layout in ("NCL", "NLC"):
        ours = ct.Conv1d(1, 1, 1, bias=False, layout=layout, dtype=torch.float64)
        set_parameters(ours, np.ones((1, 1, 1)), None)
        x = torch.arange(6, dtype=torch.float64).reshape(1, 1, 6)
        x = x if layout == "NCL" else x.transpose(1, 2)
        y = ours(x)
        y.add_(100)
        assert x.flatten().tolist() == [0, 1, 2, 3, 4, 5], f"{layout}: editing the output changed the input"


@pytest.mark.parametrize("cls", [ct.Conv1d, ct.ConvTranspose1d], ids=["Conv1d", "ConvTranspose1d"])
@pytest.mark.parametrize("edited", ["input", "weight"])
def test_backward_refuses_inputs_changed_in_place_after_the_forward(cls: type, edited: str) -> None:
    """The backward computes with the forward's NumPy views of x and the weight; autograd's
    saved-tensor check must still stop it when either changed in place in between (as
    torch.nn's layers do), instead of silently using the new values."""
    layer = cls(2, 3, 3, dtype=torch.float64)
    x = torch.randn(2, 2, 9, dtype=torch.float64, requires_grad=True) * 1.0
    y = layer(x)
    with torch.no_grad():
        (x if edited == "input" else layer.weight).add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


@pytest.mark.parametrize("cls", [ct.Conv1d, ct.ConvTranspose1d], ids=["Conv1d", "ConvTranspose1d"])
def test_a_second_differentiation_equals_torch_nn(cls: type) -> None:
    """With ``create_graph=True`` the first gradients equal torch.nn's, and differentiating
    them again gives torch.nn's second derivatives, for the input and the parameters."""
    layer = cls(2, 3, 3, dtype=torch.float64)
    theirs = (torch.nn.Conv1d if cls is ct.Conv1d else torch.nn.ConvTranspose1d)(2, 3, 3, dtype=torch.float64)
    theirs.load_state_dict(layer.state_dict())
    xs = [torch.randn(2, 2, 9, dtype=torch.float64)] * 2
    xs = [x.clone().requires_grad_() for x in xs]
    firsts = [
        torch.autograd.grad(m(x).square().sum(), x, create_graph=True)[0] for m, x in zip((layer, theirs), xs)
    ]
    assert torch.allclose(firsts[0], firsts[1], atol=1e-12)
    for first in firsts:
        first.square().sum().backward()
    for a, b in (
        (xs[0].grad, xs[1].grad),
        (layer.weight.grad, theirs.weight.grad),
        (layer.bias.grad, theirs.bias.grad),
    ):
        assert b is not None and torch.allclose(a, b, atol=1e-10), (a, b)


@pytest.mark.parametrize("cls", [ct.Conv1d, ct.ConvTranspose1d], ids=["Conv1d", "ConvTranspose1d"])
def test_a_second_differentiation_of_complex_layers_is_refused(cls: type) -> None:
    """Complex gradients take conjugates, which the second-order path does not: the first
    gradients still equal torch.nn's, and differentiating them again raises (as
    ``once_differentiable`` does) instead of silently giving zeros."""
    layer = cls(2, 3, 3, dtype=torch.complex128)
    theirs = (torch.nn.Conv1d if cls is ct.Conv1d else torch.nn.ConvTranspose1d)(
        2, 3, 3, dtype=torch.complex128
    )
    theirs.load_state_dict(layer.state_dict())
    x = torch.randn(2, 2, 9, dtype=torch.complex128, requires_grad=True)
    (ours,) = torch.autograd.grad(layer(x).abs().square().sum(), x, create_graph=True)
    (expected,) = torch.autograd.grad(theirs(x).abs().square().sum(), x)
    assert torch.allclose(ours, expected, atol=1e-12)
    with pytest.raises(RuntimeError, match="differentiate twice"):
        ours.abs().sum().backward()


@pytest.mark.parametrize("cls", [ct.Conv1d, ct.ConvTranspose1d], ids=["Conv1d", "ConvTranspose1d"])
def test_functorch_transforms_compute_with_torch(cls: type) -> None:
    """Under a functorch transform (torch.func.grad, vmap) the modules compute with PyTorch's
    own operators and give torch.nn's results (they raised torch's setup_context refusal)."""
    layer = cls(2, 3, 3, dtype=torch.float64)
    theirs = (torch.nn.Conv1d if cls is ct.Conv1d else torch.nn.ConvTranspose1d)(2, 3, 3, dtype=torch.float64)
    theirs.load_state_dict(layer.state_dict())
    x = torch.randn(4, 2, 8, dtype=torch.float64)
    ours = torch.func.grad(lambda x: layer(x).square().sum())(x)
    assert torch.allclose(ours, torch.func.grad(lambda x: theirs(x).square().sum())(x), atol=1e-12)
    assert torch.allclose(torch.func.vmap(layer)(x[:, None]), torch.func.vmap(theirs)(x[:, None]), atol=1e-12)
    # A tensor that escaped a finished transform (a "dead" wrapper) still computes what
    # torch's layer computes from it.
    leaked: list[torch.Tensor] = []
    torch.func.grad(lambda x: leaked.append(x) or x.sum())(x)
    assert torch.allclose(layer(leaked[0]), theirs(leaked[0]), atol=1e-12)


def _export_pair() -> tuple[torch.nn.Module, torch.nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    original = torch.nn.Sequential(
        torch.nn.Conv1d(2, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv1d(4, 4, 3, padding="same", padding_mode="reflect"),
        torch.nn.ConvTranspose1d(4, 3, 4, stride=2),
    )  # fmt: skip
    return original, ct.convert(copy.deepcopy(original)), torch.randn(2, 2, 16)


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning")
def test_a_converted_model_exports_to_the_originals_graph() -> None:
    """torch.export, the TorchScript ONNX exporter, torch.jit.trace and torch.jit.script
    (which all failed on a converted model) give what they give for the original: the same
    export graph, byte-identical ONNX, the same outputs."""
    original, converted, x = _export_pair()
    expected = original(x)
    original_weight = converted[0].weight
    exported = [torch.export.export(m, (x,)) for m in (original, converted)]
    assert str(exported[0].graph) == str(exported[1].graph)
    assert torch.allclose(exported[1].module()(x), expected, atol=1e-6)
    onnx = [io.BytesIO(), io.BytesIO()]
    for m, f in zip((original, converted), onnx):
        torch.onnx.export(m, (x,), f, dynamo=False)
    assert onnx[0].getvalue() == onnx[1].getvalue()
    assert torch.allclose(torch.jit.trace(converted, (x,))(x), expected, atol=1e-6)
    assert type(converted[0]) is ct.Conv1d
    assert torch.allclose(torch.jit.script(converted)(x), expected, atol=1e-6)
    # TorchScript's __prepare_scriptable__ protocol puts the returned modules in place in the
    # model (as for every module that has one): they are torch.nn's, with the same parameters.
    assert type(converted[0]) is torch.nn.Conv1d and converted[0].weight is original_weight
    with pytest.raises(
        conv1d.ConvError, match=r"has no TorchScript form: torch\.nn\.Conv1d has no padding='causal'"
    ):
        torch.jit.script(ct.Conv1d(2, 3, 3, padding="causal"))


def test_conv1d_extras_compute_with_torch_under_export() -> None:
    """Options torch.nn lacks ('causal', (left, right), channels last) export as explicit
    padding and a convolution, with the eager results."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        ct.Conv1d(2, 3, 3, padding="causal", layout="NLC"),
        ct.Conv1d(3, 2, 4, padding=(2, 1), padding_mode="replicate", layout="NLC"),
    )
    x = torch.randn(2, 16, 2)
    assert torch.allclose(torch.export.export(model, (x,)).module()(x), model(x), atol=1e-6)


def test_bfloat16_says_what_is_supported() -> None:
    layer = ct.Conv1d(2, 3, 3).to(torch.bfloat16)
    with pytest.raises(
        conv1d.ConvTypeError, match="computes float16, float32, float64, complex64 and complex128"
    ):
        layer(torch.randn(1, 2, 8, dtype=torch.bfloat16))


@pytest.mark.parametrize(
    "ours_cls, torch_cls",
    [(ct.Conv1d, torch.nn.Conv1d), (ct.ConvTranspose1d, torch.nn.ConvTranspose1d)],
    ids=["Conv1d", "ConvTranspose1d"],
)
def test_complex128_gradients_equal_torch_nn(ours_cls: type, torch_cls: type) -> None:
    """The class docstring accepts complex dtypes; torch's autograd convention for complex
    tensors is grad_x = grad_y * conj(w), grad_w = grad_y * conj(x) (one tap, one channel:
    y = w x)."""
    w, x, g = 1 + 2j, 3 - 1j, 1 + 0j
    ref = torch_cls(1, 1, 1, bias=False, dtype=torch.complex128)
    ours = ours_cls(1, 1, 1, bias=False, dtype=torch.complex128)
    set_parameters(ref, np.full((1, 1, 1), w), None)
    ours.load_state_dict(ref.state_dict())
    xa = torch.full((1, 1, 1), x, dtype=torch.complex128, requires_grad=True)
    xb = torch.full((1, 1, 1), x, dtype=torch.complex128, requires_grad=True)
    assert ours(xa).item() == ref(xb).item() == w * x, "forward"
    ours(xa).backward(torch.full((1, 1, 1), g, dtype=torch.complex128))
    ref(xb).backward(torch.full((1, 1, 1), g, dtype=torch.complex128))
    assert xb.grad.item() == g * np.conj(w) and ref.weight.grad.item() == g * np.conj(x), "torch's convention"
    assert (xa.grad.item(), ours.weight.grad.item()) == (xb.grad.item(), ref.weight.grad.item()), (
        f"input, weight gradients {xa.grad.item()}, {ours.weight.grad.item()}; torch.nn gives "
        f"{xb.grad.item()}, {ref.weight.grad.item()} (grad * conj(w), grad * conj(x))"
    )


# --------------------------------------------------------------------------- 3. module parity


@pytest.mark.parametrize(
    "ours, theirs", [(ct.Conv1d, torch.nn.Conv1d), (ct.ConvTranspose1d, torch.nn.ConvTranspose1d)]
)
def test_constructor_signature_is_torchs_plus_keyword_only_extras(ours: type, theirs: type) -> None:
    mine = inspect.signature(ours.__init__).parameters
    torchs = inspect.signature(theirs.__init__).parameters
    shared = [(p.name, p.default, p.kind) for p in mine.values() if p.name in torchs]
    assert shared == [(p.name, p.default, p.kind) for p in torchs.values()], (
        f"{ours.__name__}: {shared} differs from torch's {list(torchs.values())}"
    )
    extras = {p.name: (p.default, p.kind) for p in mine.values() if p.name not in torchs}
    assert extras == {
        "layout": ("NCL", inspect.Parameter.KEYWORD_ONLY),
        "algorithm": ("auto", inspect.Parameter.KEYWORD_ONLY),
    }, f"{ours.__name__} extras: {extras}"


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(
    "ours, theirs", [(ct.Conv1d, torch.nn.Conv1d), (ct.ConvTranspose1d, torch.nn.ConvTranspose1d)]
)
def test_state_dict_and_initialisation_are_torchs(ours: type, theirs: type, bias: bool) -> None:
    """Same seed, same weights (torch's kaiming-uniform and bias bounds), and the same
    amount of the random stream used; state dicts load both ways."""
    args = (6, 4, 5)
    options = {"stride": 2, "padding": 1, "groups": 2, "bias": bias, "dtype": torch.float64}
    torch.manual_seed(1234)
    ref = theirs(*args, **options)
    after_ref = torch.rand(3)
    torch.manual_seed(1234)
    mine = ours(*args, **options)
    after_mine = torch.rand(3)
    assert isinstance(mine, theirs) and type(mine) is ours
    assert list(mine.state_dict()) == list(ref.state_dict()), (
        f"keys {list(mine.state_dict())}, torch {list(ref.state_dict())}"
    )
    for key, value in ref.state_dict().items():
        assert torch.equal(mine.state_dict()[key], value), (
            f"{ours.__name__}.{key} initialised differently from torch's"
        )
    assert torch.equal(after_mine, after_ref), "construction consumed a different amount of the random stream"
    # torch -> ours and ours -> torch
    torch.manual_seed(99)
    other_ref, other_mine = theirs(*args, **options), ours(*args, **options)
    other_mine.load_state_dict(ref.state_dict())
    other_ref.load_state_dict(mine.state_dict())
    for key, value in ref.state_dict().items():
        assert torch.equal(other_mine.state_dict()[key], value), (
            f"{key}: torch's state dict did not load into ours"
        )
        assert torch.equal(other_ref.state_dict()[key], value), (
            f"{key}: our state dict did not load into torch's"
        )
    x = torch.randn(2, 6, 11, dtype=torch.float64)
    assert torch.allclose(other_mine(x), ref(x), rtol=1e-12, atol=1e-12), "loaded module computes differently"


@settings(max_examples=40, deadline=None)
@given(case=conv_cases(padding_forms=TORCH_FORMS, layouts=("NCL",), strided_same=False))
def test_repr_equals_torchs_for_torch_options(case: ConvCase) -> None:
    ours, ref = conv_module(case, np.float64), conv_module(case, np.float64, cls=torch.nn.Conv1d)
    assert repr(ours) == repr(ref)


@settings(max_examples=30, deadline=None)
@given(case=transposed_cases(layouts=("NCL",)))
def test_transposed_repr_equals_torchs(case: TransposedCase) -> None:
    ours, ref = (
        transposed_module(case, np.float64),
        transposed_module(case, np.float64, cls=torch.nn.ConvTranspose1d),
    )
    assert repr(ours) == repr(ref)


def test_repr_shows_the_extras() -> None:
    assert repr(ct.Conv1d(2, 3, 4, padding="causal", layout="NLC", algorithm="fft")) == (
        "Conv1d(2, 3, kernel_size=(4,), stride=(1,), padding=causal, layout='NLC', algorithm='fft')"
    )
    assert (
        repr(ct.Conv1d(2, 3, 4, padding=(1, 2)))
        == "Conv1d(2, 3, kernel_size=(4,), stride=(1,), padding=(1, 2))"
    )
    assert repr(ct.Conv1d(2, 3, 4, stride=2, padding="same")) == (
        "Conv1d(2, 3, kernel_size=(4,), stride=(2,), padding=same)"
    )
    assert repr(ct.ConvTranspose1d(2, 3, 4, layout="NLC", algorithm="direct")) == (
        "ConvTranspose1d(2, 3, kernel_size=(4,), stride=(1,), layout='NLC', algorithm='direct')"
    )


@pytest.mark.parametrize("cls", [ct.Conv1d, ct.ConvTranspose1d])
def test_layout_is_case_insensitive_and_normalised(cls: type) -> None:
    """check_layout accepts 'ncl'/'nlc' in any case; the module should store 'NCL'/'NLC'
    (Conv1d does), so repr and convert(to='torch') treat 'ncl' as torch's layout."""
    lower = cls(2, 3, 3, layout="ncl")
    assert lower.layout == "NCL", f"{cls.__name__}(layout='ncl').layout == {lower.layout!r}"
    assert repr(lower) == repr(cls(2, 3, 3)), f"{lower!r}"
    back = ct.convert(lower, to="torch")
    assert type(back) in (torch.nn.Conv1d, torch.nn.ConvTranspose1d)
    assert cls(2, 3, 3, layout="nlc").layout == "NLC"


@pytest.mark.parametrize("cls", [ct.Conv1d, ct.ConvTranspose1d])
@pytest.mark.parametrize("device", ["cuda", "cuda:0", torch.device("cuda", 1), "meta"])
def test_a_non_cpu_device_is_refused(cls: type, device: Any) -> None:
    with pytest.raises(conv1d.ConvError, match="conv1d computes on the CPU"):
        cls(2, 3, 3, device=device)


def test_cpu_device_is_accepted() -> None:
    assert ct.Conv1d(2, 3, 3, device="cpu").weight.device.type == "cpu"
    assert ct.ConvTranspose1d(2, 3, 3, device=torch.device("cpu")).weight.device.type == "cpu"


def test_wrong_input_channels_is_refused() -> None:
    with pytest.raises(
        conv1d.ConvError, match=r"expects 3 input channels on axis 1, got input of shape \(2, 5, 10\)"
    ):
        ct.Conv1d(3, 4, 3)(torch.randn(2, 5, 10))
    with pytest.raises(conv1d.ConvError, match="input channels"):
        ct.Conv1d(3, 4, 3, layout="NLC")(torch.randn(2, 10, 5))
    with pytest.raises(conv1d.ConvError, match="input channels"):
        ct.ConvTranspose1d(3, 4, 3)(torch.randn(2, 5, 10))


def test_mixed_dtypes_are_refused() -> None:
    with pytest.raises(conv1d.ConvError, match="input is float32 but weight is float64") as info:
        ct.Conv1d(3, 4, 3, dtype=torch.float64)(torch.randn(2, 3, 10, dtype=torch.float32))
    assert "module.to(torch.float32)" in str(info.value), f"no fix suggested: {info.value}"
    with pytest.raises(conv1d.ConvError, match="input is float32 but weight is float64"):
        ct.ConvTranspose1d(3, 4, 3, dtype=torch.float64)(torch.randn(2, 3, 10, dtype=torch.float32))


@pytest.mark.parametrize("cls", [ct.Conv1d, ct.ConvTranspose1d])
def test_a_bad_algorithm_name_is_refused(cls: type) -> None:
    with pytest.raises(
        conv1d.ConvError, match=r"algorithm must be one of 'auto', 'gemm', 'direct', 'fft'.*'fft'\?"
    ):
        cls(2, 3, 3, algorithm="fast")


@pytest.mark.parametrize("algorithm", ["gemm", "direct", "fft"])
def test_a_forced_algorithm_really_runs(algorithm: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the other kernels made to fail, forward and backward still work."""
    from conv1d.dispatch import KERNELS, Algorithm

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a kernel that was not forced ran")

    for other in Algorithm:
        if other.value != algorithm:
            for name in ("conv", "conv_transpose", "conv_weight"):
                if hasattr(KERNELS[other], name):
                    monkeypatch.setattr(KERNELS[other], name, refuse)
    m = ct.Conv1d(3, 4, 3, padding="causal", algorithm=algorithm, dtype=torch.float64)
    x = torch.randn(2, 3, 20, dtype=torch.float64, requires_grad=True)
    m(x).sum().backward()
    t = ct.ConvTranspose1d(3, 4, 3, stride=2, algorithm=algorithm, dtype=torch.float64)
    t(x).sum().backward()
    assert x.grad is not None and m.weight.grad is not None and t.weight.grad is not None


def test_fft_weight_spectra_follow_in_place_updates() -> None:
    """The FFT algorithm caches weight spectra; an optimiser step must invalidate them."""
    torch.manual_seed(0)
    ours = ct.Conv1d(2, 3, 9, padding="same", algorithm="fft", dtype=torch.float64)
    ref = torch.nn.Conv1d(2, 3, 9, padding="same", dtype=torch.float64)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(2, 2, 40, dtype=torch.float64)
    optimiser = torch.optim.SGD(ours.parameters(), lr=0.5)
    for step in range(3):
        ours(x).square().sum().backward()
        ref(x).square().sum().backward()
        optimiser.step()
        with torch.no_grad():
            for p in ref.parameters():
                p -= 0.5 * p.grad
        optimiser.zero_grad()
        ref.zero_grad()
        assert_matches(
            ours(x).detach().numpy(),
            ref(x).detach().numpy(),
            np.float64,
            f"after step {step}",
            algorithm="fft",
        )


# --------------------------------------------------------------------------- 4. convert


class Inner(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv1d(8, 8, 3, padding=1, groups=2)
        self.up = torch.nn.ConvTranspose1d(8, 4, 4, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(torch.relu(self.conv(x)))


def make_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Conv1d(3, 8, 5, padding="same"),
        torch.nn.BatchNorm1d(8),
        torch.nn.ReLU(),
        Inner(),
        torch.nn.Conv1d(4, 2, 3, stride=2, padding=1, padding_mode="reflect", bias=False),
    ).double()
    return model


def convs(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    return [
        (name, m)
        for name, m in model.named_modules()
        if isinstance(m, (torch.nn.Conv1d, torch.nn.ConvTranspose1d))
    ]


def test_convert_replaces_every_convolution_and_keeps_outputs() -> None:
    original = make_model().eval()
    x = torch.randn(4, 3, 32, dtype=torch.float64)
    before = original(x)
    model = ct.convert(copy.deepcopy(original))
    pairs = list(zip(convs(original), convs(model)))
    assert len(pairs) == 4
    for (name, old), (new_name, new) in pairs:
        assert name == new_name
        expected = {torch.nn.Conv1d: ct.Conv1d, torch.nn.ConvTranspose1d: ct.ConvTranspose1d}[type(old)]
        assert type(new) is expected, f"{name}: {type(new)} after conversion, expected {expected}"
        assert repr(new) == repr(old), f"{name}: options changed: {new!r} vs {old!r}"
    assert type(model[1]) is torch.nn.BatchNorm1d and type(model[2]) is torch.nn.ReLU
    assert list(model.state_dict()) == list(original.state_dict())
    after = model(x)
    assert torch.allclose(after, before, rtol=1e-12, atol=1e-12), (
        f"outputs differ by {(after - before).abs().max()}"
    )

    back = ct.convert(model, to="torch")
    for (name, old), (_, new) in zip(convs(original), convs(back)):
        assert type(new) is type(old), f"{name}: {type(new)} after converting back"
    assert torch.allclose(back(x), before, rtol=1e-12, atol=1e-12)


def test_convert_shares_parameters_so_an_existing_optimiser_still_trains() -> None:
    model = make_model()
    old = {name: (m.weight, m.bias) for name, m in convs(model)}
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
    converted = ct.convert(model)
    assert converted is model, "convert works in place and returns the model"
    snapshot = {}
    for name, m in convs(converted):
        assert isinstance(m, (ct.Conv1d, ct.ConvTranspose1d)), name
        assert m.weight is old[name][0] and m.bias is old[name][1], f"{name}: parameters were not shared"
        snapshot[name] = m.weight.detach().clone()
    converted(torch.randn(4, 3, 32, dtype=torch.float64)).square().sum().backward()
    optimiser.step()
    for name, m in convs(converted):
        assert m.weight.grad is not None, f"{name}: no gradient"
        moved = (m.weight.detach() - snapshot[name]).abs().max().item()
        assert moved > 0, f"{name}: the optimiser built before conversion did not move the weights"
        assert torch.allclose(m.weight.detach(), snapshot[name] - 0.1 * m.weight.grad), name


def test_convert_without_sharing_copies() -> None:
    model = make_model()
    old = {name: m for name, m in convs(model)}
    converted = ct.convert(model, share=False)
    for name, m in convs(converted):
        assert m.weight is not old[name].weight, f"{name}: weight shared despite share=False"
        assert torch.equal(m.weight, old[name].weight), f"{name}: weight values not copied"
        if m.bias is not None:
            assert m.bias is not old[name].bias and torch.equal(m.bias, old[name].bias), name
        with torch.no_grad():
            old[name].weight.add_(1.0)
        assert not torch.equal(m.weight, old[name].weight), f"{name}: the copy follows the original"


def test_a_training_step_after_convert_gives_the_same_gradients() -> None:
    original = make_model().train()
    converted = ct.convert(copy.deepcopy(original), share=False)
    x = torch.randn(4, 3, 32, dtype=torch.float64)
    target = torch.randn(4, 2, 32, dtype=torch.float64)  # the output's shape
    for model in (original, converted):
        torch.nn.functional.mse_loss(model(x), target).backward()
    for (name, p), (_, q) in zip(original.named_parameters(), converted.named_parameters()):
        assert q.grad is not None, f"{name}: no gradient after conversion"
        assert_matches(q.grad.numpy(), p.grad.numpy(), np.float64, f"gradient of {name}")
    for (name, b), (_, c) in zip(original.named_buffers(), converted.named_buffers()):
        assert torch.allclose(b.double(), c.double(), rtol=1e-12, atol=1e-12), f"buffer {name}"


@pytest.mark.parametrize(
    "module",
    [
        ct.Conv1d(2, 3, 3, padding="causal"),
        ct.Conv1d(2, 3, 3, padding=(1, 2)),
        ct.Conv1d(2, 3, 3, stride=2, padding="same"),
        ct.Conv1d(2, 3, 3, layout="NLC"),
        ct.ConvTranspose1d(2, 3, 3, layout="NLC"),
    ],
    ids=["causal", "pair", "same-stride-2", "NLC", "transposed-NLC"],
)
def test_convert_back_refuses_conv1d_only_options(module: torch.nn.Module) -> None:
    with pytest.raises(conv1d.ConvError, match=r"cannot become a torch\.nn module"):
        ct.convert(module, to="torch")
    with pytest.raises(conv1d.ConvError, match=r"cannot become a torch\.nn module"):
        ct.convert(torch.nn.Sequential(torch.nn.ReLU(), module), to="torch")


def test_convert_a_bare_convolution_returns_the_replacement() -> None:
    """A bare convolution is converted in place (share=True) or as a copy (share=False)."""
    conv = torch.nn.Conv1d(2, 3, 3, padding="same", dtype=torch.float64)
    reference = copy.deepcopy(conv)
    weight = conv.weight
    new = ct.convert(conv)
    assert type(new) is ct.Conv1d and new is conv and new.weight is weight
    x = torch.randn(1, 2, 7, dtype=torch.float64)
    assert torch.allclose(new(x), reference(x), rtol=1e-12, atol=1e-12)
    copied = ct.convert(copy.deepcopy(reference), share=False)
    assert type(copied) is ct.Conv1d and copied.weight is not reference.weight
    assert torch.allclose(copied(x), reference(x), rtol=1e-12, atol=1e-12)
    assert type(ct.convert(new, to="torch")) is torch.nn.Conv1d
    t = torch.nn.ConvTranspose1d(2, 3, 3, stride=2, output_padding=1)
    assert type(ct.convert(t)) is ct.ConvTranspose1d and ct.convert(t).output_padding == (1,)
    relu = torch.nn.ReLU()
    assert ct.convert(relu) is relu


def test_convert_refuses_an_unknown_target() -> None:
    with pytest.raises(conv1d.ConvError, match="to must be 'conv1d' or 'torch'"):
        ct.convert(torch.nn.Conv1d(1, 1, 1), to="numpy")


# --------------------------------------------------------------------------- 5. imports


def test_import_conv1d_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "import conv1d\n"
        "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))\n"
        "import conv1d.torch\n"
        "assert 'torch' in sys.modules\n"
        "import torch\n"
        "assert issubclass(conv1d.torch.Conv1d, torch.nn.Conv1d)\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


# --------------------------------------------------------------------------- products on torch's threads


def _count_torch_products(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[int, ...]]]:
    """Record (function, first operand's shape) of every torch.matmul, mm and bmm call
    (the provider calls mm or bmm itself where it can)."""
    calls: list[tuple[str, tuple[int, ...]]] = []

    def counting(name: str, product: Any) -> Any:
        def counted(*args: Any, **kwargs: Any) -> torch.Tensor:
            calls.append((name, tuple(args[0].shape)))
            return product(*args, **kwargs)

        return counted

    for name in ("matmul", "mm", "bmm"):
        monkeypatch.setattr(torch, name, counting(name, getattr(torch, name)))
    return calls


def test_gemm_products_go_to_torch_matmul_inside_the_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside the modules the GEMM kernel's products run on torch's matmul, mm or bmm (PyTorch's thread
    pool), the small ones (rt.SMALL_PRODUCT) on NumPy's; the results still equal
    torch.nn's, forward and all three gradients."""
    calls = _count_torch_products(monkeypatch)
    torch.manual_seed(0)
    ours = ct.Conv1d(32, 64, 5, padding=2, algorithm="gemm")
    theirs = torch.nn.Conv1d(32, 64, 5, padding=2)
    theirs.load_state_dict(ours.state_dict())
    x1 = torch.randn(4, 32, 200, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_()
    g = torch.randn(4, 64, 200)
    assert 64 * 32 * 5 * 4 * 200 > rt.SMALL_PRODUCT
    ours(x1).backward(g)
    assert len(calls) == 3, calls  # forward, input gradient, weight gradient
    calls.clear()
    small = ct.Conv1d(6, 8, 5, padding=2, algorithm="gemm")
    small(torch.randn(3, 6, 40, requires_grad=True)).sum().backward()
    assert not calls  # 8 x 30 x 120 multiply-adds per product: NumPy's
    assert small.weight.grad is not None and small.weight.grad.abs().sum() > 0
    theirs(x2).backward(g)
    assert not calls  # torch.nn's convolution does not come through here
    assert torch.allclose(x1.grad, x2.grad, atol=1e-4)
    assert torch.allclose(ours.weight.grad, theirs.weight.grad, atol=1e-3)
    assert torch.allclose(ours.bias.grad, theirs.bias.grad, atol=1e-3)
    assert np.asarray(conv1d.conv1d(np.ones((1, 6, 9)), np.ones((8, 6, 5)), algorithm="gemm")).shape == (
        1,
        8,
        5,
    )
    assert not calls  # outside the modules NumPy's matmul does the products


@pytest.mark.parametrize(
    "case",
    [
        "2-D",
        "2-D transposed",
        "batched",
        "batched transposed",
        "4-D transposed",
        "4-D, batch axes swapped",
        "broadcast",
        "2-D @ batched",
    ],
)
@pytest.mark.parametrize("with_out", [False, True])
def test_torch_products_above_the_numpy_threshold(
    case: str, with_out: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Products past SMALL_PRODUCT go to torch: mm for matrices, bmm for equal batch axes
    (folded by views, transposed operands included), matmul for broadcasting; each
    equals np.matmul, with or without ``out``."""
    rng = np.random.default_rng(1)
    shapes = {
        "2-D": ((70, 90), (90, 80)),
        "batched": ((8, 40, 64), (8, 64, 96)),
        "broadcast": ((3, 40, 64), (1, 64, 96)),
        "2-D @ batched": ((40, 64), (3, 64, 96)),
    }
    used = {
        "2-D": "mm",
        "2-D transposed": "mm",
        "batched": "bmm",
        "batched transposed": "bmm",
        "4-D transposed": "bmm",
        "4-D, batch axes swapped": "bmm",
        "broadcast": "matmul",
        "2-D @ batched": "matmul",
    }[case]
    if case == "2-D transposed":
        a, b = rng.standard_normal((90, 70)).T, rng.standard_normal((80, 90)).T
    elif case == "batched transposed":
        a, b = (
            rng.standard_normal((8, 64, 40)).transpose(0, 2, 1),
            rng.standard_normal((8, 96, 64)).transpose(0, 2, 1),
        )
    elif case == "4-D transposed":  # as the Winograd kernel hands them over: (ALPHA, G, cols, C) views
        a = rng.standard_normal((8, 40, 2, 64)).transpose(0, 2, 1, 3)
        b = rng.standard_normal((8, 2, 96, 64)).transpose(0, 1, 3, 2)
    elif case == "4-D, batch axes swapped":  # batch axes that fold only by a copy
        a = rng.standard_normal((3, 2, 40, 64)).transpose(1, 0, 2, 3)
        b = rng.standard_normal((3, 2, 64, 96)).transpose(1, 0, 2, 3)
    else:
        a, b = (rng.standard_normal(shape) for shape in shapes[case])
    a, b = a.astype(np.float32), b.astype(np.float32)
    assert max(a.size * b.shape[-1], b.size * a.shape[-2]) >= rt.SMALL_PRODUCT
    calls = _count_torch_products(monkeypatch)
    expected = np.matmul(a, b)
    out = np.full(expected.shape, np.nan, np.float32) if with_out else None
    got = rt.torch_matmul(a, b, out=out)
    assert [name for name, _ in calls] == [used]
    if with_out:
        assert got is out
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "case",
    [
        "float32",
        "float64",
        "complex64",
        "float16",
        "mixed",
        "read-only",
        "reversed",
        "strided out",
        "batched",
    ],
)
def test_torch_matmul_provider_equals_numpy(case: str) -> None:
    """The provider equals np.matmul, falling back to it for what torch cannot view or should
    not multiply; ``out`` is filled and returned."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((4, 6)), rng.standard_normal((6, 5))
    out = None
    if case in ("float32", "float16", "read-only", "reversed", "strided out"):
        a, b = (
            a.astype(np.float32 if case != "float16" else np.float16),
            b.astype(np.float32 if case != "float16" else np.float16),
        )
    if case == "complex64":
        a, b = (a + 1j * a).astype(np.complex64), (b - 2j * b).astype(np.complex64)
    if case == "mixed":
        a = a.astype(np.float32)
    if case == "read-only":
        a.flags.writeable = False
    if case == "reversed":
        a = a[::-1]
    if case == "strided out":
        out = np.zeros((4, 10), np.float32)[:, ::2]
    if case == "batched":
        a, b, out = rng.standard_normal((3, 4, 6)), rng.standard_normal((1, 6, 5)), np.empty((3, 4, 5))
    expected = np.matmul(a, b)
    got = rt.torch_matmul(a, b, out=out)
    if out is not None:
        assert got is out
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=2e-3 if case == "float16" else 1e-5)


def test_trained_models_pickle_deepcopy_and_torch_save() -> None:
    """A model that has run forward and backward (so its layers remember plans, whose
    kernels are Python modules) still deep-copies, pickles and goes through torch.save /
    torch.load whole; the copies compute what the original does."""
    model = torch.nn.Sequential(
        ct.Conv1d(2, 4, 3, padding="same", dtype=torch.float64),
        torch.nn.ReLU(),
        ct.ConvTranspose1d(4, 2, 3, stride=2, dtype=torch.float64),
    )
    x = torch.randn(3, 2, 10, dtype=torch.float64)
    model(x).square().sum().backward()
    expected = model(x).detach()
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    copies = {
        "deepcopy": copy.deepcopy(model),
        "pickle": pickle.loads(pickle.dumps(model)),
        "torch.save": torch.load(buffer, weights_only=False),
    }
    for how, other in copies.items():
        assert torch.equal(other(x), expected), how
        other(x).sum().backward()  # and it trains: plans are made anew
        assert other[0].weight.grad is not None, how


def test_explain_accepts_conv1d_torch_modules_as_it_accepts_torch_nn_ones() -> None:
    """A conv1d.torch module is a torch.nn.Conv1d: explain, explain_stack and the NumPy layers'
    from_torch take it, with its extras (causal padding, channels last)."""
    causal = ct.Conv1d(4, 8, 3, padding="causal", layout="NLC", dtype=torch.float64)
    e = conv1d.explain(causal, (2, 10, 4))
    assert e.output_shape == (2, 10, 8) and e.padding == (2, 0) and e.trace is not None and e.trace.matches
    assert (
        conv1d.explain(ct.Conv1d(4, 8, 3), (2, 4, 10)).output_shape
        == conv1d.explain(torch.nn.Conv1d(4, 8, 3), (2, 4, 10)).output_shape
        == (2, 8, 8)
    )
    assert conv1d.explain(ct.ConvTranspose1d(4, 8, 3, stride=2), (2, 4, 10)).output_shape == (2, 8, 21)
    stack = torch.nn.Sequential(ct.Conv1d(4, 8, 3), torch.nn.ReLU(), torch.nn.Conv1d(8, 2, 3, dilation=2))
    assert conv1d.explain_stack(stack, (2, 4, 10)).receptive_field == 7
    layer = conv1d.Conv1d.from_torch(causal)
    assert layer.padding == "causal" and layer.layout == "NLC"
    x = torch.randn(2, 10, 4, dtype=torch.float64)
    np.testing.assert_allclose(layer(x.numpy()), causal(x).detach().numpy(), rtol=1e-12, atol=1e-12)
    assert type(ct.from_torch(causal)) is conv1d.Conv1d
    assert type(ct.to_torch(conv1d.ConvTranspose1d(2, 3, 3, dtype=np.float64))) is torch.nn.ConvTranspose1d


SECOND_ORDER = [
    ("plain", ct.Conv1d, {"in_channels": 2, "out_channels": 3, "kernel_size": 3}),
    (
        "causal dilated grouped",
        ct.Conv1d,
        {
            "in_channels": 4,
            "out_channels": 6,
            "kernel_size": 3,
            "dilation": 2,
            "groups": 2,
            "padding": "causal",
        },
    ),
    (
        "strided reflect",
        ct.Conv1d,
        {
            "in_channels": 2,
            "out_channels": 2,
            "kernel_size": 4,
            "stride": 2,
            "padding": 2,
            "padding_mode": "reflect",
        },
    ),
    (
        "channels last, same",
        ct.Conv1d,
        {"in_channels": 3, "out_channels": 2, "kernel_size": 5, "padding": "same", "layout": "NLC"},
    ),
    (
        "no bias, circular",
        ct.Conv1d,
        {
            "in_channels": 2,
            "out_channels": 2,
            "kernel_size": 3,
            "padding": 1,
            "padding_mode": "circular",
            "bias": False,
        },
    ),
    (
        "transposed",
        ct.ConvTranspose1d,
        {"in_channels": 2, "out_channels": 4, "kernel_size": 4, "stride": 2, "padding": 1, "groups": 2},
    ),
    (
        "transposed, output padding",
        ct.ConvTranspose1d,
        {
            "in_channels": 3,
            "out_channels": 2,
            "kernel_size": 3,
            "stride": 3,
            "output_padding": 2,
            "dilation": 2,
        },
    ),
]


def _winograd_takes(options: dict) -> bool:
    return (
        options.get("stride", 1) == 1 and options.get("dilation", 1) == 1 and 2 <= options["kernel_size"] <= 7
    )


@pytest.mark.parametrize(
    ("name", "cls", "options", "algorithm"),
    [
        (*case, a)
        for case in SECOND_ORDER
        for a in ("gemm", "direct", "fft", "winograd")
        if a != "winograd" or _winograd_takes(case[2])
    ],
    ids=[
        f"{case[0]}-{a}"
        for case in SECOND_ORDER
        for a in ("gemm", "direct", "fft", "winograd")
        if a != "winograd" or _winograd_takes(case[2])
    ],
)
def test_second_order_gradients_pass_gradgradcheck(
    name: str, cls: type, options: dict, algorithm: str
) -> None:
    """The backward is itself made of convolutions by the same executor, so it is
    differentiable: gradient penalties (WGAN-GP, R1) and meta-learning get the exact
    second derivatives (every kernel that can run the layer)."""
    torch.manual_seed(0)
    module = cls(**options, algorithm=algorithm, dtype=torch.float64)
    c, length = options["in_channels"], 9
    shape = (2, length, c) if options.get("layout") == "NLC" else (2, c, length)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    params = [p for p in (module.weight, module.bias) if p is not None]

    def run(x: torch.Tensor, *ps: torch.Tensor) -> torch.Tensor:
        if cls is ct.ConvTranspose1d:
            return ConvTranspose1dFunction.apply(x, ps[0], ps[1] if len(ps) > 1 else None, module, None)
        return Conv1dFunction.apply(x, ps[0], ps[1] if len(ps) > 1 else None, module)

    assert torch.autograd.gradgradcheck(run, (x, *params), eps=1e-6, atol=1e-6, rtol=1e-5)


def test_a_gradient_penalty_equals_torch_nn() -> None:
    """The failure this guards: with create_graph=True the penalty on the input gradient
    was dropped, and the weight gradient came out 0.21 where torch.nn gives 218.9."""
    torch.manual_seed(0)
    reference = torch.nn.Conv1d(2, 3, 3, dtype=torch.float64)
    ours = ct.convert(copy.deepcopy(reference))
    x = torch.randn(2, 2, 11, dtype=torch.float64, requires_grad=True)
    for m in (reference, ours):
        (g,) = torch.autograd.grad(m(x).sum(), x, create_graph=True)
        (m(x).mean() + 10 * g.square().sum()).backward()
    for a, b in ((ours.weight.grad, reference.weight.grad), (ours.bias.grad, reference.bias.grad)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-10)
    assert reference.weight.grad.norm() > 1  # the penalty term dominates


def test_convert_refuses_what_is_not_a_module() -> None:
    with pytest.raises(conv1d.ConvTypeError, match=r"convert: expected a torch.nn.Module .* got str"):
        ct.convert("model")  # type: ignore[arg-type]


def _twins(build: Callable[[], torch.nn.Module]) -> tuple[torch.nn.Module, torch.nn.Module]:
    """Two equal models (built twice from one seed: weight_norm's modules do not deepcopy)."""
    models = []
    for _ in range(2):
        torch.manual_seed(0)
        models.append(build())
    return models[0], models[1]


@pytest.mark.parametrize("share", [True, False], ids=["share", "copies"])
def test_convert_keeps_hooks_attributes_frozen_weights_and_mode(share: bool) -> None:
    """These were dropped: a forward hook zeroing a channel stopped applying, a custom
    attribute vanished, and with share=False a frozen weight became trainable."""

    def build() -> torch.nn.Module:
        model = torch.nn.Sequential(
            torch.nn.Conv1d(2, 3, 3, dtype=torch.float64),
            torch.nn.ReLU(),
            torch.nn.ConvTranspose1d(3, 2, 4, stride=2, dtype=torch.float64),
        )
        model[0].register_forward_hook(
            lambda m, args, out: out * torch.tensor([0.0, 1.0, 1.0], dtype=out.dtype)[:, None]
        )
        model[2].register_forward_pre_hook(lambda m, args: (args[0] + 1,))
        model[0].note = "kept"
        model[0].weight.requires_grad_(False)
        model[2].eval()
        return model

    model, reference = _twins(build)
    converted = ct.convert(model, share=share)
    assert type(converted[0]) is ct.Conv1d and type(converted[2]) is ct.ConvTranspose1d
    assert converted[0].note == "kept" and not converted[0].weight.requires_grad
    assert converted[2].training is False and converted[0].training is True
    x = torch.randn(2, 2, 12, dtype=torch.float64)
    assert torch.allclose(converted(x), reference(x), rtol=1e-12, atol=1e-12)
    assert (converted[0](x)[:, 0] == 0).all()  # the hook still applies


@pytest.mark.filterwarnings("ignore:`torch.nn.utils.weight_norm` is deprecated:FutureWarning")
@pytest.mark.parametrize("kind", ["parametrize", "weight_norm", "spectral_norm", "prune"])
def test_convert_keeps_parametrizations_and_weight_hooks(kind: str) -> None:
    """Models using parametrizations, the hook-based weight_norm, spectral_norm or pruning
    convert and compute what they did (they raised a TypeError half-way through)."""

    class Double(torch.nn.Module):
        def forward(self, w: torch.Tensor) -> torch.Tensor:
            return 2 * w

    def build() -> torch.nn.Module:
        model = torch.nn.Sequential(
            torch.nn.Conv1d(2, 3, 3, dtype=torch.float64),
            torch.nn.Tanh(),
            torch.nn.Conv1d(3, 2, 3, dtype=torch.float64),
        )
        if kind == "parametrize":
            torch.nn.utils.parametrize.register_parametrization(model[2], "weight", Double())
        elif kind == "weight_norm":
            torch.nn.utils.weight_norm(model[2])
        elif kind == "spectral_norm":
            torch.nn.utils.spectral_norm(model[2])
            model.eval()  # (its power iteration updates u at every training-mode call)
        else:
            prune.l1_unstructured(model[2], "weight", amount=0.5)
        return model

    model, reference = _twins(build)
    ct.convert(model)
    assert isinstance(model[2], ct.Conv1d) and isinstance(model[0], ct.Conv1d)
    x = torch.randn(2, 2, 12, dtype=torch.float64, requires_grad=True)
    assert torch.allclose(model(x), reference(x), rtol=1e-12, atol=1e-12)
    model(x).sum().backward()  # gradients flow to the parametrization's own parameters
    if kind == "parametrize":
        assert torch.nn.utils.parametrize.is_parametrized(model[2])
        assert model[2].parametrizations.weight.original.grad is not None


def test_convert_is_all_or_nothing() -> None:
    model = torch.nn.Sequential(ct.Conv1d(2, 3, 3), ct.Conv1d(3, 2, 3, padding="causal"))
    with pytest.raises(conv1d.ConvError, match=r"cannot become a torch\.nn module"):
        ct.convert(model, to="torch")
    assert type(model[0]) is ct.Conv1d  # the first was not converted before the second refused
