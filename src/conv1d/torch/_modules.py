"""conv1d.torch's modules: ``torch.nn.Conv1d`` / ``ConvTranspose1d`` subclasses whose forward
and backward run through the layer's executor (see :mod:`conv1d.torch._function`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..dispatch import parse_algorithm
from ..errors import ConvError, mixed_dtypes
from ..executor import Executor
from ..layers import layer_executor
from ..spec import conv1d_spec, conv_transpose1d_spec, layer_arguments
from ._convert import stored_padding, torch_padding
from ._function import (
    Conv1dFunction,
    ConvTranspose1dFunction,
    apply_conv1d,
    apply_conv_transpose1d,
    functorch_active,
)

__all__ = ["Conv1d", "ConvTranspose1d"]


class Conv1d(torch.nn.Conv1d):
    """``torch.nn.Conv1d`` computed by conv1d: same constructor, parameters, state dict.

    Shape: input (N, C_in, L_in) or (C_in, L_in) -> (N, C_out, L_out), channels last with
    ``layout='NLC'``; L_out as :class:`torch.nn.Conv1d` (see :func:`conv1d.conv1d`).

    Extras (keyword-only where torch has none): ``padding='causal'`` or ``(left, right)``,
    ``'same'`` with stride > 1, ``layout='NLC'`` for (N, L, C) input and output, and
    ``algorithm='auto' | 'gemm' | 'direct' | 'fft' | 'winograd'`` (used for backward too). CPU tensors
    of float16/32/64 or complex dtypes.

    Example:
        >>> import torch, conv1d.torch
        >>> layer = conv1d.torch.Conv1d(16, 32, 3, padding="causal")
        >>> layer(torch.randn(4, 16, 100)).shape
        torch.Size([4, 32, 100])
    """

    _op = "conv1d.torch.Conv1d"

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
        *,
        layout: str = "NCL",
        algorithm: str = "auto",
    ) -> None:
        args = layer_arguments(
            self._op,
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            padding_mode,
            layout,
        )
        _check_device(self._op, device)
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            torch_padding(args["padding"], args["stride"]),
            dilation,
            groups,
            bias,
            padding_mode,
            device,
            dtype,
        )
        self.padding = stored_padding(args["padding"])
        self.layout = args["layout"]
        parse_algorithm(self._op, algorithm)
        self.algorithm = algorithm

    def _executor(
        self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, output_size: Any = None
    ) -> Executor:
        return layer_executor(
            self,
            x,
            w,
            b,
            lambda: conv1d_spec(
                x.shape,
                w.shape,
                None if b is None else b.shape,
                stride=self.stride,
                padding=self.padding,
                dilation=self.dilation,
                groups=self.groups,
                padding_mode=self.padding_mode,
                layout=self.layout,
                dtype=_same_dtype(self._op, x, w, b),
                op=self._op,
            ),
        )

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if functorch_active():
            return Conv1dFunction.apply(input, self.weight, self.bias, self)
        return apply_conv1d(input, self.weight, self.bias, self)

    def extra_repr(self) -> str:
        return _extras_repr(self, super().extra_repr())


class ConvTranspose1d(torch.nn.ConvTranspose1d):
    """``torch.nn.ConvTranspose1d`` computed by conv1d; extras ``layout`` and ``algorithm``.

    Shape: input (N, C_in, L_in) or (C_in, L_in) -> (N, C_out, L_out), channels last with
    ``layout='NLC'``; L_out as :class:`torch.nn.ConvTranspose1d` (see :func:`conv1d.conv_transpose1d`).

    ``forward(input, output_size=None)`` as in PyTorch.
    """

    _op = "conv1d.torch.ConvTranspose1d"

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        output_padding: Any = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: Any = 1,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
        *,
        layout: str = "NCL",
        algorithm: str = "auto",
    ) -> None:
        args = layer_arguments(
            self._op,
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            padding_mode,
            layout,
            output_padding=output_padding,
            transposed=True,
        )
        _check_device(self._op, device)
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            output_padding,
            groups,
            bias,
            dilation,
            padding_mode,
            device,
            dtype,
        )
        self.layout = args["layout"]
        parse_algorithm(self._op, algorithm)
        self.algorithm = algorithm

    def _executor(
        self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, output_size: Any = None
    ) -> Executor:
        return layer_executor(
            self,
            x,
            w,
            b,
            lambda: conv_transpose1d_spec(
                x.shape,
                w.shape,
                None if b is None else b.shape,
                stride=self.stride,
                padding=self.padding,
                output_padding=0 if output_size is not None else self.output_padding,
                groups=self.groups,
                dilation=self.dilation,
                layout=self.layout,
                dtype=_same_dtype(self._op, x, w, b),
                op=self._op,
                output_size=output_size,
            ),
            output_size,
        )

    def forward(self, input: torch.Tensor, output_size: Any = None) -> torch.Tensor:
        if output_size is not None:
            output_size = [int(s) for s in output_size] if not isinstance(output_size, int) else output_size
        if functorch_active():
            return ConvTranspose1dFunction.apply(input, self.weight, self.bias, self, output_size)
        return apply_conv_transpose1d(input, self.weight, self.bias, self, output_size)

    def extra_repr(self) -> str:
        return _extras_repr(self, super().extra_repr())


def _extras_repr(module: Conv1d | ConvTranspose1d, text: str) -> str:
    """torch's ``extra_repr`` text plus conv1d's extras where they are not the defaults."""
    if module.layout != "NCL":
        text += f", layout={module.layout!r}"
    if module.algorithm != "auto":
        text += f", algorithm={module.algorithm!r}"
    return text


def _check_device(op: str, device: Any) -> None:
    if device is not None and torch.device(device).type != "cpu":
        raise ConvError(f"{op}: conv1d computes on the CPU; got device={device!r}. Use device='cpu' or None.")


def _same_dtype(op: str, x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.dtype:
    for name, a in (("weight", w), ("bias", b)):
        if a is not None and a.dtype != x.dtype:
            raise mixed_dtypes(
                op,
                "input",
                x.dtype,
                name,
                a.dtype,
                f"Convert one side: input.to(torch.{a.dtype}) or module.to(torch.{x.dtype}).",
            )
    return x.dtype
