"""What conv and transposed streams share: the stream's spec (a :class:`~conv1d.spec.ConvSpec`
with an open length), its delay and rate, checking each chunk as the offline call would,
computing a block through the executor, and the wrappers' methods (reset, state, flush)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from ..errors import ConvError, ConvTypeError
from ..executor import executor_for
from ..spec import ConvSpec, as_arrays, conv1d_spec, conv_transpose1d_spec

__all__ = [
    "check_state",
    "compute",
    "configuration",
    "conv_spec",
    "delay",
    "rate",
    "transpose_spec",
    "whole_shape",
]


def _whole(value: Fraction) -> int | Fraction:
    return int(value) if value.denominator == 1 else value


def conv_spec(
    op: str,
    weight_shape: tuple[int, ...],
    has_bias: bool,
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: Any,
    padding_mode: Any,
    layout: Any,
) -> ConvSpec:
    """The spec of a conv1d stream: every offline check that does not need the signal's
    length, plus what streaming cannot do (circular padding on the left)."""
    c_in = weight_shape[1] * (groups if isinstance(groups, int) else 1) if len(weight_shape) == 3 else 0
    shape = (1, 0, c_in) if layout == "NLC" else (1, c_in, 0)
    spec = conv1d_spec(
        shape,
        weight_shape,
        (weight_shape[0],) if has_bias and weight_shape else None,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        padding_mode=padding_mode,
        layout=layout,
        op=op,
        open_length=True,
    )
    if spec.padding_mode == "circular" and spec.pad_left > 0:
        raise ConvError(
            f"{op}: padding_mode='circular' pads the start of the signal with its end "
            f"({spec.pad_left} samples on the left), which a stream has not seen when the first "
            f"outputs are due. Stream with padding_mode='zeros', 'reflect' or 'replicate', pad only "
            f"on the right (padding=(0, right)), or run the layer offline."
        )
    return spec


def transpose_spec(
    op: str,
    weight_shape: tuple[int, ...],
    has_bias: bool,
    stride: Any,
    padding: Any,
    output_padding: Any,
    groups: Any,
    dilation: Any,
    layout: Any,
) -> ConvSpec:
    """The spec of a conv_transpose1d stream (every offline check that does not need the length)."""
    c_in = weight_shape[0] if weight_shape else 0
    shape = (1, 0, c_in) if layout == "NLC" else (1, c_in, 0)
    c_out = weight_shape[1] * (groups if isinstance(groups, int) else 1) if len(weight_shape) == 3 else 0
    return conv_transpose1d_spec(
        shape,
        weight_shape,
        (c_out,) if has_bias and len(weight_shape) == 3 else None,
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        groups=groups,
        dilation=dilation,
        layout=layout,
        op=op,
        open_length=True,
    )


def configuration(spec: ConvSpec) -> tuple:
    """What a stream's state means only together with: the options of the layer it came from."""
    return (spec.transposed, spec.c_in, spec.c_out, spec.k, spec.stride, spec.dilation, spec.groups, spec.pad_left,
            spec.pad_right, spec.padding_mode, spec.output_padding, spec.layout)  # fmt: skip


_FIELDS = ("transposed", "in_channels", "out_channels", "kernel_size", "stride", "dilation", "groups",
           "left padding", "right padding", "padding_mode", "output_padding", "layout")  # fmt: skip


def check_state(spec: ConvSpec, state: Any, kind: type) -> None:
    """A state given to a stream (``load_state``, a stream function's ``state``) is one of
    its kind, from a stream with the same options; else a ConvError saying which differ."""
    if state is None:
        return
    if not isinstance(state, kind):
        raise ConvTypeError(
            f"{spec.op}: expected a {kind.__name__} (a stream's .state, or what a stream function "
            f"returned), got {type(state).__name__}."
        )
    mine = configuration(spec)
    if state.layer is not None and tuple(state.layer) != mine:
        differ = ", ".join(
            f"{name} {theirs!r} (here {ours!r})"
            for name, theirs, ours in zip(_FIELDS, state.layer, mine, strict=True)
            if theirs != ours
        )
        raise ConvError(
            f"{spec.op}: this state comes from a stream of a differently configured layer: {differ}. "
            f"Load it into a stream of a layer with the same options."
        )


def delay(spec: ConvSpec) -> int | Fraction:
    """Input samples an output waits for beyond the input it is aligned with (see conv1d.streaming)."""
    if spec.transposed:
        # output u waits for the inputs reaching position u + padding, and (if the stream
        # ended there, the right crop would drop it) for u < L_out of the inputs so far
        held = max(spec.pad_left, 2 * spec.pad_left + spec.stride - spec.span - spec.output_padding)
        return _whole(Fraction(held, spec.stride))
    return spec.span - 1 - spec.pad_left


def rate(spec: ConvSpec) -> Fraction:
    """Input samples per output sample."""
    return Fraction(1, spec.stride) if spec.transposed else Fraction(spec.stride)


def whole_shape(spec: ConvSpec, batch: int | None, batched: bool, length: int) -> tuple[int, ...]:
    """The shape of the whole signal streamed so far, in the stream's layout (for the offline checks)."""
    core = (spec.c_in, length) if spec.layout == "NCL" else (length, spec.c_in)
    return (batch, *core) if batched else core


def compute(
    spec: ConvSpec, algorithm: Any, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None
) -> np.ndarray:
    """The stream's convolution (or transposed one) of a block ``x`` (N, C_in, L), already
    padded, channels first, in the compute dtype, through the block's executor (planned and
    kept like any other): conv1d's outputs whose windows lie in ``x``, or every transposed
    contribution of ``x``, (N, C_out, L_out)."""
    n, _, length = x.shape
    dtype = x.dtype
    run = executor_for(("stream", spec, n, length, dtype), lambda: spec.window(n, length, dtype), algorithm)
    w = weight.astype(dtype, copy=False)
    return run.forward(x, w, None if bias is None else bias.astype(dtype, copy=False))


def _check_chunk(
    spec: ConvSpec,
    chunk: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None,
    batch: int | None,
    batched: bool | None,
) -> None:
    """The checks of the offline call that concern one chunk (shape, channels, dtype)."""
    shape, bias_shape = chunk.shape, None if bias is None else bias.shape
    if spec.transposed:
        conv_transpose1d_spec(
            shape,
            weight.shape,
            bias_shape,
            stride=spec.stride,
            padding=spec.padding,
            output_padding=spec.output_padding,
            groups=spec.groups,
            dilation=spec.dilation,
            layout=spec.layout,
            dtype=chunk.dtype,
            op=spec.op,
            open_length=True,
        )
    else:
        conv1d_spec(
            shape,
            weight.shape,
            bias_shape,
            stride=spec.stride,
            padding=spec.padding,
            dilation=spec.dilation,
            groups=spec.groups,
            padding_mode=spec.padding_mode,
            layout=spec.layout,
            dtype=chunk.dtype,
            op=spec.op,
            open_length=True,
        )
    if batched is not None and (len(shape) == 3) != batched:
        raise ConvError(
            f"{spec.op}: this stream carries {'batched (N, C, L)' if batched else 'unbatched (C, L)'} "
            f"chunks; got a chunk of shape {tuple(chunk.shape)}. Every chunk of a stream has the same "
            f"number of dimensions; call reset() to start a new stream."
        )
    if batch is not None and len(shape) == 3 and shape[0] != batch:
        raise ConvError(
            f"{spec.op}: this stream carries a batch of {batch} signals; got a chunk of shape "
            f"{tuple(chunk.shape)} (batch {shape[0]}). The batch size is fixed for a stream; "
            f"call reset() to start a new one."
        )


class _Core:
    """What both stream cores share: checking a chunk against the stream (once per shape)."""

    spec: ConvSpec
    batched: bool | None
    dtype: np.dtype | None
    finished: bool
    _checked: tuple | None = None  # the last (chunk, weight, bias) shapes and dtypes found valid

    @property
    def batch(self) -> int | None:
        raise NotImplementedError

    def accept(self, chunk: Any, weight: Any, bias: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The chunk and parameters as arrays, checked as the offline call would check them."""
        spec = self.spec
        if self.finished:
            raise ConvError(
                f"{spec.op}: this stream was flushed (its output is complete); call reset() to start a "
                f"new one, or restore an earlier state."
            )
        if (
            type(chunk) is np.ndarray
            and type(weight) is np.ndarray
            and (bias is None or type(bias) is np.ndarray)
        ):
            key = (
                chunk.shape,
                chunk.dtype,
                weight.shape,
                weight.dtype,
                None if bias is None else (bias.shape, bias.dtype),
            )
            if key == self._checked:  # a step of a running stream: nothing new to check
                return chunk, weight, bias
        else:
            key = None
        x, weight, bias = as_arrays(spec.op, input=chunk, weight=weight, bias=bias)
        _check_chunk(spec, x, weight, bias, self.batch, self.batched)
        if self.dtype is not None and x.dtype != self.dtype:
            raise ConvError(
                f"{spec.op}: this stream carries {self.dtype} chunks; got {x.dtype}. Convert the chunk "
                f"with .astype({self.dtype.name!r}), or call reset() to start a new stream."
            )
        self.batched, self.dtype = x.ndim == 3, x.dtype
        self._checked = key
        return x, weight, bias


class _Stream:
    """What both streaming wrappers share: a layer, a mutable core, reset/state/flush."""

    layer: Any
    _spec: ConvSpec

    @property
    def delay(self) -> int | Fraction:
        """Input samples an output waits for beyond the input it is aligned with (see module docs)."""
        return delay(self._spec)

    @property
    def rate(self) -> Fraction:
        """Input samples per output sample (stride, or 1/stride when transposed)."""
        return rate(self._spec)

    def reset(self) -> None:
        """Forget the stream: the next chunk starts a new signal."""
        self._core = self._new_core(None)

    @property
    def state(self) -> Any:
        """A copy of the stream's state (plain data), for :meth:`load_state`."""
        return self._core.snapshot(copy=True)

    def load_state(self, state: Any) -> None:
        """Resume from a :attr:`state` (of a stream of an identically configured layer)."""
        self._core = self._new_core(state)

    def __call__(self, chunk: Any) -> np.ndarray:
        """The outputs this chunk completes (possibly none), in the layer's layout."""
        return self._core.run(chunk, self.layer.weight, self.layer.bias, flush=False)

    def flush(self, chunk: Any = None) -> np.ndarray:
        """End the stream (optionally with a last chunk): the outputs still held back."""
        if chunk is None:
            chunk = self._empty()
        return self._core.run(chunk, self.layer.weight, self.layer.bias, flush=True)

    def _empty(self) -> np.ndarray:
        core = self._core
        if core.batched is None:
            raise ConvError(
                f"{self._spec.op}: flush() without a chunk needs the stream to have seen one "
                f"(to know the batch and dtype); pass the last chunk as flush(chunk)."
            )
        c = self._spec.c_in
        shape = (core.batch, c, 0) if core.batched else (c, 0)
        if self._spec.layout == "NLC":
            shape = shape[:-2] + (0, c)
        return np.empty(shape, core.dtype)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.layer!r}, delay={self.delay})"
