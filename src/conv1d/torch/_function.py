"""The autograd Functions behind conv1d.torch's modules: forward and backward by the
layer's executor, on NumPy views of the tensors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ..errors import ConvError
from ._runtime import kernels

__all__ = [
    "Conv1dFunction",
    "ConvTranspose1dFunction",
    "apply_conv1d",
    "apply_conv_transpose1d",
    "functorch_active",
]


def array(t: torch.Tensor, op: str) -> np.ndarray:
    """A CPU tensor's values as a NumPy array sharing its memory (copied only for lazy
    negation/conjugation views, which NumPy cannot represent). ``detach().numpy()`` first,
    which refuses those views and other devices; only then is the device checked and
    ``numpy(force=True)`` called (in a training step this measured the same as checking
    the device and calling ``numpy(force=True)`` every time)."""
    try:
        return t.detach().numpy()
    except (RuntimeError, TypeError):
        if not t.is_cpu:
            raise ConvError(
                f"{op}: conv1d computes on the CPU; got a tensor on {t.device}. Move it with .cpu()."
            ) from None
        return t.numpy(force=True)


def _conj(a: np.ndarray) -> np.ndarray:
    """PyTorch's complex gradients are taken against the conjugate (Wirtinger calculus:
    grad_x = conj(w) * grad_y, grad_w = conj(x) * grad_y); real arrays pass through."""
    return np.conj(a) if a.dtype.kind == "c" else a


def _forward(
    ctx: Any,
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    module: Any,
    output_size: Any,
    keeps: bool,
) -> torch.Tensor:
    op = module._op
    xa, wa = array(x, op), array(weight, op)
    ba = None if bias is None else array(bias, op)
    ctx.save_for_backward(x, weight)
    needs = ctx.needs_input_grad
    # What the kernel gathers or transforms from x and the weight (small ones only,
    # gemm.KEEP_BYTES), for the gradients: x and the weight are saved, and autograd refuses
    # a backward after either changed in place, so they still match (under no_grad the
    # ctx, and this, are dropped at once). Complex gradients take conj(x) and conj(w), so
    # nothing is kept for them.
    keep = {} if keeps and (needs[0] or needs[1]) and xa.dtype.kind != "c" else None
    with kernels():
        run = module._executor(xa, wa, ba, output_size)
        y = run.forward(xa, wa, ba, keep)
    ctx.state = (run, xa, wa, keep, bias is not None)
    return torch.from_numpy(y)


def _backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
    """(grad_input, grad_weight, grad_bias) of either Function, each only if needed, by the
    forward's executor (the bias gradient along with the weight's when both are needed:
    the kernels that can sum it from what they read anyway do)."""
    ctx.saved_tensors  # noqa: B018 - autograd's check that x and the weight were not changed in place since
    # The forward's executor, its views of x and the weight (so this reads them as they are
    # now), what it kept, and whether there is a bias.
    run, x, weight, kept, has_bias = ctx.state
    needs = ctx.needs_input_grad
    gy = array(grad_output, run.spec.op)
    gx = gw = None
    gb = np.empty(run.spec.c_out, gy.dtype) if has_bias and needs[2] else None
    with kernels():
        if needs[0]:
            gx = torch.from_numpy(run.input_grad(_conj(weight), gy, kept))
        if needs[1]:
            gw = torch.from_numpy(run.weight_grad(_conj(x), gy, kept, bias=gb))
        elif gb is not None:
            gb[...] = run.bias_grad(gy)
    return gx, gw, None if gb is None else torch.from_numpy(gb)


def _once_differentiable(nones: int) -> Callable[..., tuple[torch.Tensor | None, ...]]:
    """The Functions' backward (followed by ``nones`` Nones) wrapped in torch's
    ``once_differentiable``: conv1d's gradients are NumPy arrays, not differentiable
    tensors, and under ``create_graph=True`` the wrapper makes a second differentiation
    raise instead of silently giving zeros. Only then is it used: with grad mode off (every
    ordinary backward) the wrapper returns the outputs as they are, after entering
    ``no_grad`` for nothing (0.92x per bare Function's forward+backward without it,
    measured alone)."""
    return torch.autograd.function.once_differentiable(
        lambda ctx, grad_output: (*_backward(ctx, grad_output), *(None,) * nones)
    )


FORWARD, INPUT_GRAD, WEIGHT_GRAD = 0, 1, 2


class _Linear(torch.autograd.Function):
    """One of a convolution's three computations by its executor -- the forward without
    bias ``y = F(x, w)``, the input gradient ``F_x(w)^T gy`` or the weight gradient
    ``F_w(x)^T gy`` -- as a Function whose backward is made of the other two, so that
    gradients of every order are convolutions by the same executor. Each is linear in each
    of its two arguments, and for a bilinear ``F``:

    * ``y = F(x, w)``: dx = input_grad(w, g), dw = weight_grad(x, g);
    * ``gx = input_grad(w, gy)``: <g, gx> = <F(g, w), gy> = <w, weight_grad(g, gy)>, so
      dw = weight_grad(g, gy) and dgy = F(g, w);
    * ``gw = weight_grad(x, gy)``: <g, gw> = <F(x, g), gy> = <x, input_grad(g, gy)>, so
      dx = input_grad(g, gy) and dgy = F(x, g).

    Real dtypes only (complex gradients take conjugates; see :func:`_backward`)."""

    @staticmethod
    def forward(ctx: Any, kind: int, run: Any, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(a, b)
        ctx.kind, ctx.run = kind, run
        op = run.spec.op
        aa, ba = array(a, op), array(b, op)
        with kernels():
            if kind == FORWARD:
                out = run.forward(aa, ba, None)
            elif kind == INPUT_GRAD:
                out = run.input_grad(aa, ba)
            else:
                out = run.weight_grad(aa, ba)
        return torch.from_numpy(out)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        a, b = ctx.saved_tensors
        kind, run, needs = ctx.kind, ctx.run, ctx.needs_input_grad
        apply = _Linear.apply
        if kind == FORWARD:  # a = x, b = w
            da = apply(INPUT_GRAD, run, b, g) if needs[2] else None
            db = apply(WEIGHT_GRAD, run, a, g) if needs[3] else None
        elif kind == INPUT_GRAD:  # a = w, b = gy
            da = apply(WEIGHT_GRAD, run, g, b) if needs[2] else None
            db = apply(FORWARD, run, g, a) if needs[3] else None
        else:  # a = x, b = gy
            da = apply(INPUT_GRAD, run, g, b) if needs[2] else None
            db = apply(FORWARD, run, a, g) if needs[3] else None
        return None, None, da, db


def _differentiable_backward(
    ctx: Any, grad_output: torch.Tensor, nones: int
) -> tuple[torch.Tensor | None, ...]:
    """The Functions' backward under ``create_graph=True``: the gradients as differentiable
    tensors (``_Linear``), so gradient penalties and other second-order terms see them.
    Complex dtypes keep the once-differentiable form, whose second differentiation raises."""
    x, weight = ctx.saved_tensors
    if x.is_complex():
        return _once_differentiable(nones)(ctx, grad_output)
    run, _, _, _, has_bias = ctx.state
    needs = ctx.needs_input_grad
    gx = _Linear.apply(INPUT_GRAD, run, weight, grad_output) if needs[0] else None
    gw = _Linear.apply(WEIGHT_GRAD, run, x, grad_output) if needs[1] else None
    gb = None
    if has_bias and needs[2]:
        gb = grad_output.sum(dim=tuple(a for a in range(grad_output.ndim) if a != run.spec.channel_axis))
    return (gx, gw, gb, *(None,) * nones)


class Conv1dFunction(torch.autograd.Function):
    """y = conv1d(x, w, b) by the module's executor; backward by the same executor."""

    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, module: Any
    ) -> torch.Tensor:
        return _forward(ctx, x, weight, bias, module, None, True)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        if torch.is_grad_enabled():  # a backward with create_graph=True
            return _differentiable_backward(ctx, grad_output, 1)
        return (*_backward(ctx, grad_output), None)


class ConvTranspose1dFunction(torch.autograd.Function):
    """y = conv_transpose1d(x, w, b) by the module's executor; backward by the same executor."""

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        module: Any,
        output_size: Any,
    ) -> torch.Tensor:
        return _forward(ctx, x, weight, bias, module, output_size, False)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        if torch.is_grad_enabled():  # a backward with create_graph=True
            return _differentiable_backward(ctx, grad_output, 2)
        return (*_backward(ctx, grad_output), None, None)


# ``Function.apply`` is a Python wrapper that, with no functorch transform (vmap, grad, ...)
# active, unwraps dead functorch wrappers among the arguments and calls the C++ apply of
# torch._C._FunctionBase. The modules call that C++ apply themselves when no transform is
# active (and ``apply`` otherwise, which gives torch's refusal for Functions without
# ``setup_context``): measured alone, 8.0 against 11.5 us per call. (A dead wrapper, a
# tensor that escaped a finished transform, reaches the forward as it is, which reads
# its values as torch's own layers do; tested.)
functorch_active = torch._C._are_functorch_transforms_active
apply_conv1d = super(torch.autograd.Function, Conv1dFunction).apply
apply_conv_transpose1d = super(torch.autograd.Function, ConvTranspose1dFunction).apply
