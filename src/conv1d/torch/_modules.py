"""conv1d.torch's modules: ``torch.nn.Conv1d`` / ``ConvTranspose1d`` subclasses whose forward
and backward run through the layer's executor (see :mod:`conv1d.torch._function`)."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch

from ..dispatch import parse_algorithm
from ..errors import ConvError, ConvTypeError, mixed_dtypes
from ..executor import Executor
from ..layers import layer_executor
from ..spec import conv1d_spec, conv_transpose1d_spec, layer_arguments
from ._convert import refusal, stored_padding, torch_padding
from ._function import (
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
        if _torch_computes(input):
            return self._torch_forward(input)
        _check_dtype(self._op, input)
        return apply_conv1d(input, self.weight, self.bias, self)

    def _torch_forward(self, input: torch.Tensor) -> torch.Tensor:
        """The same convolution by PyTorch's own operators (see :func:`_torch_computes`):
        ``torch.nn.Conv1d``'s forward where torch.nn has the options (so an export gives the
        original's graph), explicit padding and ``F.conv1d`` for conv1d's extras."""
        x = input.transpose(-1, -2) if self.layout == "NLC" else input
        if refusal(self.padding, self.stride[0], "NCL") is None:
            y = torch.nn.Conv1d.forward(self, x)
        else:
            spec = conv1d_spec(tuple(x.shape), tuple(self.weight.shape), stride=self.stride, padding=self.padding,
                               dilation=self.dilation, groups=self.groups, padding_mode=self.padding_mode, op=self._op)  # fmt: skip
            mode = "constant" if self.padding_mode == "zeros" else self.padding_mode
            x = torch.nn.functional.pad(x, (spec.pad_left, spec.pad_right), mode=mode)
            y = torch.nn.functional.conv1d(
                x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups
            )
        return y.transpose(-1, -2) if self.layout == "NLC" else y

    def __prepare_scriptable__(self) -> torch.nn.Module:
        """What ``torch.jit.script`` compiles in its place (conv1d's NumPy kernels cannot be
        scripted): torch.nn's own module, sharing the parameters. (TorchScript also puts it
        in the scripted model's place, as it does with every module that has this method.)"""
        return _scriptable(self, torch.nn.Conv1d)

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
        if _torch_computes(input):
            x = input.transpose(-1, -2) if self.layout == "NLC" else input
            y = torch.nn.ConvTranspose1d.forward(self, x, output_size)
            return y.transpose(-1, -2) if self.layout == "NLC" else y
        _check_dtype(self._op, input)
        return apply_conv_transpose1d(input, self.weight, self.bias, self, output_size)

    def __prepare_scriptable__(self) -> torch.nn.Module:
        """What ``torch.jit.script`` compiles in its place: torch.nn's own module, sharing the parameters."""
        return _scriptable(self, torch.nn.ConvTranspose1d)

    def extra_repr(self) -> str:
        return _extras_repr(self, super().extra_repr())


def _extras_repr(module: Conv1d | ConvTranspose1d, text: str) -> str:
    """torch's ``extra_repr`` text plus conv1d's extras where they are not the defaults."""
    if module.layout != "NCL":
        text += f", layout={module.layout!r}"
    if module.algorithm != "auto":
        text += f", algorithm={module.algorithm!r}"
    return text


def _torch_computes(x: torch.Tensor) -> bool:
    """Whether PyTorch's own operators must compute: under a functorch transform (vmap,
    grad, ...), while tracing (``torch.jit.trace``, the TorchScript ONNX exporter),
    compiling or exporting (``torch.compile``, ``torch.export``, the dynamo ONNX exporter),
    and for tensor subclasses (fake or wrapped tensors). Their values are never NumPy
    arrays, and the results are PyTorch's (equal to conv1d's within rounding)."""
    return (
        (type(x) is not torch.Tensor and type(x) is not torch.nn.Parameter)
        or functorch_active()
        or torch._C._get_tracing_state() is not None
        or torch.compiler.is_compiling()
        or torch.compiler.is_exporting()
    )  # (the ONNX exporters trace or export: torch.onnx.is_in_onnx_export, 1 us a call, adds nothing)


_DTYPES = frozenset({torch.float16, torch.float32, torch.float64, torch.complex64, torch.complex128})


def _check_dtype(op: str, x: torch.Tensor) -> None:
    if x.dtype not in _DTYPES:
        raise ConvTypeError(
            f"{op}: conv1d computes float16, float32, float64, complex64 and complex128 tensors; got "
            f"{x.dtype}. Convert the input and the module, e.g. x.float() and module.float()."
        )


def _scriptable(module: torch.nn.Module, cls: type) -> torch.nn.Module:
    """A torch.nn module of ``cls`` with ``module``'s options, sharing its parameters."""
    reason = refusal(module.padding, module.stride[0], module.layout)
    if reason:
        raise ConvError(f"torch.jit.script: {module!r} has no TorchScript form: {reason}.")
    twin = copy.copy(module)  # the same parameters, buffers and hooks
    twin.__class__ = cls
    return twin


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
