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

from collections.abc import Callable
from typing import Any

import numpy as np

from ._layout import channel_axis
from .errors import ConvError
from .executor import executor, sum_channels
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


def _input_grad(
    op: str,
    build: Callable[..., ConvSpec],
    input_size: Any,
    weight: Any,
    grad_output: Any,
    algorithm: Any,
    **options: Any,
) -> np.ndarray:
    """The input gradient of the convolution ``build`` checks (every check before any work)."""
    gy, w = as_arrays(op, grad_output=grad_output, weight=weight)
    spec = build(as_shape(op, "input_size", input_size), w.shape, dtype=gy.dtype, op=op, **options)
    check_grad_output(op, spec, gy.shape)
    return executor(spec, algorithm).input_grad(w, gy)


def _weight_grad(
    op: str,
    build: Callable[..., ConvSpec],
    input: Any,
    weight_size: Any,
    grad_output: Any,
    algorithm: Any,
    **options: Any,
) -> np.ndarray:
    """The weight gradient of the convolution ``build`` checks (every check before any work)."""
    x, gy = as_arrays(op, input=input, grad_output=grad_output)
    spec = build(x.shape, as_shape(op, "weight_size", weight_size), dtype=x.dtype, op=op, **options)
    check_grad_output(op, spec, gy.shape)
    return executor(spec, algorithm).weight_grad(x, gy)


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
    return _input_grad(
        "conv1d_input",
        conv1d_spec,
        input_size,
        weight,
        grad_output,
        algorithm,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        padding_mode=padding_mode,
        layout=layout,
    )


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
    return _weight_grad(
        "conv1d_weight",
        conv1d_spec,
        input,
        weight_size,
        grad_output,
        algorithm,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        padding_mode=padding_mode,
        layout=layout,
    )


def conv1d_bias(grad_output: Any, *, layout: str = "NCL") -> np.ndarray:
    """Gradient with respect to the bias (of conv1d or conv_transpose1d): ``grad_output``
    summed over every axis but the channels. Shape (N, C_out, L_out) or unbatched -> (C_out,).
    """
    op = "conv1d_bias"
    (gy,) = as_arrays(op, grad_output=grad_output)
    layout = check_layout(op, layout)
    if gy.ndim not in (2, 3):
        raise ConvError(f"{op}: grad_output must be 2-D (unbatched) or 3-D (batched), got shape {gy.shape}.")
    return sum_channels(gy, channel_axis(layout, gy.ndim == 3))


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
    return _input_grad(
        "conv_transpose1d_input",
        conv_transpose1d_spec,
        input_size,
        weight,
        grad_output,
        algorithm,
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        groups=groups,
        dilation=dilation,
        layout=layout,
    )


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
    return _weight_grad(
        "conv_transpose1d_weight",
        conv_transpose1d_spec,
        input,
        weight_size,
        grad_output,
        algorithm,
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        groups=groups,
        dilation=dilation,
        layout=layout,
    )
