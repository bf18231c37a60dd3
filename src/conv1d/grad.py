"""Gradients of conv1d and conv_transpose1d, written as convolutions.

``conv1d_input`` and ``conv1d_weight`` mirror ``torch.nn.grad``; the transposed pair and
``conv1d_bias`` are extras used by the layers.

Why these are convolutions. Let ``y = conv(x_pad, w)``, i.e.
``y[o, t] = sum_{c,j} w[o, c, j] * x_pad[c, t*s + j*d]``. Then

* ``dL/dx_pad[c, p] = sum_{o,t,j : t*s + j*d = p} w[o, c, j] * gy[o, t]``: every output
  gradient is scattered back through the window that read it. That is the transposed
  convolution of ``gy`` with the same weight (kernel ``conv_transpose``); the gradient with
  respect to the unpadded input then undoes the padding (a crop for zeros, a scatter-add
  for reflect/replicate/circular).
* ``dL/dw[o, c, j] = sum_{n,t} gy[n, o, t] * x_pad[n, c, t*s + j*d]``: a correlation of
  the input with the output gradient (kernel ``conv_weight``).

A transposed convolution is the adjoint of a convolution, so its gradients swap roles:
its input gradient is a plain convolution of the (uncropped) output gradient, and its
weight gradient is ``conv_weight`` with the output gradient in the input's place.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _padding
from .dispatch import KEEP_INPUT, KEEP_WEIGHTS, kernel_for, plan_for
from .errors import ConvError
from .functional import (
    compute_dtype,
    conv_input,
    conv_weight_groups,
    from_ncl,
    merge_groups,
    split_groups,
    to_ncl,
)
from .spec import (
    ConvSpec,
    as_arrays,
    as_shape,
    check_grad_output,
    check_layout,
    conv1d_spec,
    conv_transpose1d_spec,
)

__all__ = [
    "conv1d_bias",
    "conv1d_input",
    "conv1d_weight",
    "conv_transpose1d_input",
    "conv_transpose1d_weight",
]


def conv1d_input(
    input_size: Any,
    weight: Any,
    grad_output: Any,
    stride: int | tuple[int] = 1,
    padding: Any = 0,
    dilation: int | tuple[int] = 1,
    groups: int = 1,
    *,
    padding_mode: str = "zeros",
    layout: str = "NCL",
    algorithm: str = "auto",
) -> np.ndarray:
    """Gradient of :func:`conv1d.conv1d` with respect to its input, as ``torch.nn.grad.conv1d_input``.

    Shape: ``input_size`` is the input's shape, (N, C_in, L_in) or unbatched;
    weight (C_out, C_in/groups, K); grad_output has the output's shape. Returns an array
    of ``input_size``. Takes every option :func:`conv1d.conv1d` takes.
    """
    op = "conv1d_input"
    gy, w = as_arrays(op, grad_output=grad_output, weight=weight)
    spec = conv1d_spec(
        as_shape(op, "input_size", input_size), w.shape, stride=stride, padding=padding,
        dilation=dilation, groups=groups, padding_mode=padding_mode, layout=layout,
        dtype=gy.dtype, op=op,
    )
    check_grad_output(op, spec, gy.shape)
    return run_conv1d_input(spec, w, gy, algorithm)


def run_conv1d_input(spec: ConvSpec, w: np.ndarray, gy: np.ndarray, algorithm: Any = "auto",
                     kept: dict | None = None) -> np.ndarray:
    """``kept``: what :func:`conv1d.functional.run_conv1d`'s ``keep`` collected in the forward
    call with the same ``w`` (the Winograd kernel's weight transform, if it left one)."""
    plan = plan_for(spec, algorithm)
    kernel = kernel_for(plan)
    gyg, wg = split_groups(to_ncl(spec, gy), spec.groups), conv_weight_groups(spec, w)
    extra = {"kept": kept} if kept and plan.algorithm in KEEP_WEIGHTS else {}
    if spec.padding_mode == "zeros":  # the kernel computes just the unpadded window
        grad = kernel.conv_transpose(gyg, wg, spec.stride, spec.dilation, spec.l_in, spec.pad_left, **extra)
        return from_ncl(spec, merge_groups(grad))
    grad_padded = kernel.conv_transpose(gyg, wg, spec.stride, spec.dilation, spec.l_pad, 0, **extra)
    grad = _padding.pad_adjoint(merge_groups(grad_padded), spec.l_in, spec.pad_left, spec.pad_right, spec.padding_mode)
    return from_ncl(spec, grad)


def conv1d_weight(
    input: Any,
    weight_size: Any,
    grad_output: Any,
    stride: int | tuple[int] = 1,
    padding: Any = 0,
    dilation: int | tuple[int] = 1,
    groups: int = 1,
    *,
    padding_mode: str = "zeros",
    layout: str = "NCL",
    algorithm: str = "auto",
) -> np.ndarray:
    """Gradient of :func:`conv1d.conv1d` with respect to its weight, as ``torch.nn.grad.conv1d_weight``.

    Shape: input (N, C_in, L_in) or unbatched; ``weight_size`` is
    (C_out, C_in/groups, K); grad_output has the output's shape. Returns an array of
    ``weight_size``.
    """
    op = "conv1d_weight"
    x, gy = as_arrays(op, input=input, grad_output=grad_output)
    spec = conv1d_spec(
        x.shape, as_shape(op, "weight_size", weight_size), stride=stride, padding=padding,
        dilation=dilation, groups=groups, padding_mode=padding_mode, layout=layout,
        dtype=x.dtype, op=op,
    )
    check_grad_output(op, spec, gy.shape)
    return run_conv1d_weight(spec, x, gy, algorithm)


def run_conv1d_weight(spec: ConvSpec, x: np.ndarray, gy: np.ndarray, algorithm: Any = "auto",
                      kept: dict | None = None) -> np.ndarray:
    """``kept``: what :func:`conv1d.functional.run_conv1d`'s ``keep`` collected in the forward
    call on the same ``x`` (the gathered or transformed input, if the kernel left it)."""
    plan = plan_for(spec, algorithm)
    kernel = kernel_for(plan)
    xg, pad_left, _ = conv_input(spec, x)
    extra = {"kept": kept} if kept and plan.algorithm in KEEP_INPUT else {}
    gw = kernel.conv_weight(xg, split_groups(to_ncl(spec, gy), spec.groups), spec.k, spec.stride, spec.dilation, pad_left,
                            **extra)
    # C-contiguous like every other result (a strided gradient slows an optimiser step down).
    return np.ascontiguousarray(gw.reshape(spec.weight_shape), dtype=spec.dtype)


def conv1d_bias(grad_output: Any, *, layout: str = "NCL") -> np.ndarray:
    """Gradient with respect to the bias (of conv1d or conv_transpose1d): ``grad_output``
    summed over every axis but the channels. Shape (N, C_out, L_out) or unbatched -> (C_out,).
    """
    op = "conv1d_bias"
    (gy,) = as_arrays(op, grad_output=grad_output)
    layout = check_layout(op, layout)
    if gy.ndim not in (2, 3):
        raise ConvError(f"{op}: grad_output must be 2-D (unbatched) or 3-D (batched), got shape {gy.shape}.")
    return run_conv1d_bias(gy, (1 if layout == "NCL" else 2) - (3 - gy.ndim))


def run_conv1d_bias(gy: np.ndarray, channel_axis: int) -> np.ndarray:
    """``gy`` (2-D or 3-D, checked) summed over every axis but ``channel_axis``. Short rows of
    positions (channels first, fewer than SHORT_ROWS) are summed over the batch first
    (whole rows added element by element), then along each channel: 15-21 against 44-52 us
    for NumPy's reduction over both axes at once on a (6, 256, 24) float32 gradient (20-32
    us in PyTorch, which conv1d.torch used before; this one stays on the calling thread).
    Gradients already in their compute dtype are summed without a dtype argument."""
    dtype = compute_dtype(gy.dtype)
    if gy.ndim == 3 and channel_axis == 1 and gy.shape[2] < SHORT_ROWS:
        if dtype == gy.dtype:
            return gy.sum(axis=0).sum(axis=1)
        return gy.sum(axis=0, dtype=dtype).sum(axis=1, dtype=dtype).astype(gy.dtype, copy=False)
    # Long rows, or channels last (NumPy then adds whole rows of channels anyway): one pass
    # over both axes, without the (C, L) partial sums (7.4 against 9.4 ms on an
    # (8, 1536, 2048) gradient).
    axes = tuple(a for a in range(gy.ndim) if a != channel_axis)
    return gy.sum(axis=axes, dtype=dtype).astype(gy.dtype, copy=False)


SHORT_ROWS = 256  # positions: below, run_conv1d_bias sums over the batch first


def conv_transpose1d_input(
    input_size: Any,
    weight: Any,
    grad_output: Any,
    stride: int | tuple[int] = 1,
    padding: int | tuple[int] = 0,
    output_padding: int | tuple[int] = 0,
    groups: int = 1,
    dilation: int | tuple[int] = 1,
    *,
    layout: str = "NCL",
    algorithm: str = "auto",
) -> np.ndarray:
    """Gradient of :func:`conv1d.conv_transpose1d` with respect to its input: a conv1d of
    the output gradient. Shapes as :func:`conv1d.conv_transpose1d`; returns ``input_size``.
    """
    op = "conv_transpose1d_input"
    gy, w = as_arrays(op, grad_output=grad_output, weight=weight)
    spec = conv_transpose1d_spec(
        as_shape(op, "input_size", input_size), w.shape, stride=stride, padding=padding,
        output_padding=output_padding, groups=groups, dilation=dilation, layout=layout,
        dtype=gy.dtype, op=op,
    )
    check_grad_output(op, spec, gy.shape)
    return run_conv_transpose1d_input(spec, w, gy, algorithm)


def run_conv_transpose1d_input(spec: ConvSpec, w: np.ndarray, gy: np.ndarray, algorithm: Any = "auto") -> np.ndarray:
    kernel = kernel_for(plan_for(spec, algorithm))
    # The output gradient, with the cropped `padding` restored as zeros, is the uncropped
    # output's gradient; a conv of it gives floor((L_pad - span)/stride) + 1 >= L_in
    # positions (output_padding >= stride, allowed when dilation > stride, adds positions
    # no input sample reached).
    grad = kernel.conv(
        split_groups(to_ncl(spec, gy), spec.groups), conv_weight_groups(spec, w), spec.stride, spec.dilation,
        spec.pad_left, spec.pad_right,
    )
    return from_ncl(spec, merge_groups(grad)[..., : spec.l_in])


def conv_transpose1d_weight(
    input: Any,
    weight_size: Any,
    grad_output: Any,
    stride: int | tuple[int] = 1,
    padding: int | tuple[int] = 0,
    output_padding: int | tuple[int] = 0,
    groups: int = 1,
    dilation: int | tuple[int] = 1,
    *,
    layout: str = "NCL",
    algorithm: str = "auto",
) -> np.ndarray:
    """Gradient of :func:`conv1d.conv_transpose1d` with respect to its weight
    (C_in, C_out/groups, K). Shapes as :func:`conv1d.conv_transpose1d`.
    """
    op = "conv_transpose1d_weight"
    x, gy = as_arrays(op, input=input, grad_output=grad_output)
    spec = conv_transpose1d_spec(
        x.shape, as_shape(op, "weight_size", weight_size), stride=stride, padding=padding,
        output_padding=output_padding, groups=groups, dilation=dilation, layout=layout,
        dtype=x.dtype, op=op,
    )
    check_grad_output(op, spec, gy.shape)
    return run_conv_transpose1d_weight(spec, x, gy, algorithm)


def run_conv_transpose1d_weight(spec: ConvSpec, x: np.ndarray, gy: np.ndarray, algorithm: Any = "auto") -> np.ndarray:
    kernel = kernel_for(plan_for(spec, algorithm))
    gw = kernel.conv_weight(
        split_groups(to_ncl(spec, gy), spec.groups), split_groups(to_ncl(spec, x), spec.groups),
        spec.k, spec.stride, spec.dilation, spec.pad_left,
    )
    # C-contiguous like every other result (a strided gradient slows an optimiser step down).
    return np.ascontiguousarray(gw.reshape(spec.weight_shape), dtype=spec.dtype)
