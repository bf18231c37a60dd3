"""A conv_transpose1d stream: overlap-add, with the tail of partial sums as state.

Each input sample adds the kernel times itself to ``span`` output positions; positions
no later input can reach are emitted, the rest wait in the tail (and so do the last
positions the right crop would drop if the stream ended now).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._layout import from_ncl, to_ncl
from ..dispatch import parse_algorithm
from ..errors import ConvError
from ..layers import ConvTranspose1d
from ..spec import ConvSpec, as_arrays, conv_transpose1d_spec
from ._state import _Core, _Stream, check_state, compute, configuration, transpose_spec, whole_shape


@dataclass(frozen=True)
class ConvTransposeStreamState:
    """Where a conv_transpose1d stream stands (plain data).

    ``tail`` (N, C_out, A) holds the partial sums of output positions (before cropping)
    from ``cursor`` on, which later inputs still add to; everything before ``cursor`` has
    been emitted or cropped. ``seen`` inputs and ``emitted`` outputs so far.
    """

    tail: np.ndarray | None = None
    cursor: int = 0
    seen: int = 0
    emitted: int = 0
    batched: bool | None = None
    dtype: np.dtype | None = None
    finished: bool = False
    layer: tuple | None = None  # the options of the layer whose stream this is (see _state.configuration)


class _TransposeCore(_Core):
    def __init__(self, spec: ConvSpec, algorithm: Any, state: ConvTransposeStreamState | None) -> None:
        self.spec, self.algorithm = spec, algorithm
        check_state(spec, state, ConvTransposeStreamState)
        state = state or ConvTransposeStreamState()
        self.tail, self.cursor, self.seen, self.emitted = state.tail, state.cursor, state.seen, state.emitted
        self.batched, self.dtype, self.finished = state.batched, state.dtype, state.finished
        self._batch: int | None = None if state.tail is None else state.tail.shape[0]

    def snapshot(self, copy: bool) -> ConvTransposeStreamState:
        tail = None if self.tail is None else (self.tail.copy() if copy else self.tail)
        return ConvTransposeStreamState(
            tail,
            self.cursor,
            self.seen,
            self.emitted,
            self.batched,
            self.dtype,
            self.finished,
            configuration(self.spec),
        )

    @property
    def batch(self) -> int | None:
        return self._batch

    def _length(self, seen: int) -> int:
        """The offline output length for ``seen`` inputs."""
        spec = self.spec
        return (seen - 1) * spec.stride + spec.span + spec.output_padding - 2 * spec.pad_left

    def run(self, chunk: Any, weight: np.ndarray, bias: np.ndarray | None, flush: bool) -> np.ndarray:
        spec = self.spec
        x, weight, bias = self.accept(chunk, weight, bias)
        xn = to_ncl(x, spec.layout, self.batched)
        self._batch = xn.shape[0]
        m = xn.shape[-1]
        if self.tail is None:
            self.tail = np.zeros((xn.shape[0], spec.c_out, 0), xn.dtype)
        if m:
            block = compute(spec, self.algorithm, xn, weight, None)  # every contribution, no bias
            start = self.seen * spec.stride - self.cursor
            end = start + block.shape[-1]
            if end > self.tail.shape[-1]:
                grown = np.zeros(self.tail.shape[:2] + (end,), xn.dtype)
                grown[..., : self.tail.shape[-1]] = self.tail
                self.tail = grown
            else:
                self.tail = self.tail.copy()  # never write into a state someone may hold
            self.tail[..., start:end] += block
        self.seen += m
        if flush:
            conv_transpose1d_spec(
                whole_shape(spec, self._batch, self.batched, self.seen),
                weight.shape,
                None if bias is None else bias.shape,
                stride=spec.stride,
                padding=spec.padding,
                output_padding=spec.output_padding,
                groups=spec.groups,
                dilation=spec.dilation,
                layout=spec.layout,
                dtype=self.dtype,
                op=spec.op,
            )
            final = self._length(self.seen) + spec.pad_left
            self.finished = True
        else:
            final = min(self.seen * spec.stride, self._length(self.seen) + spec.pad_left)
        final = max(final, self.cursor)  # output positions before `final` are complete
        count = final - self.cursor
        out = np.zeros(self.tail.shape[:2] + (count,), xn.dtype)
        have = min(count, self.tail.shape[-1])
        out[..., :have] = self.tail[..., :have]
        self.tail = self.tail[..., count:]
        out = out[..., max(0, spec.pad_left - self.cursor) :]  # the first `padding` positions are cropped
        self.cursor = final
        self.emitted += out.shape[-1]
        if bias is not None:
            out = out + bias.astype(out.dtype, copy=False)[:, None]
        return from_ncl(out, spec.layout, self.batched, x.dtype)


def stream_conv_transpose1d(
    input: Any,
    state: ConvTransposeStreamState | None,
    weight: Any,
    bias: Any = None,
    stride: int | tuple[int] = 1,
    padding: int | tuple[int] = 0,
    output_padding: int | tuple[int] = 0,
    groups: int = 1,
    dilation: int | tuple[int] = 1,
    *,
    layout: str = "NCL",
    algorithm: str = "auto",
    flush: bool = False,
) -> tuple[np.ndarray, ConvTransposeStreamState]:
    """One chunk of a streamed :func:`conv1d.conv_transpose1d`: ``(output, new_state)``.

    Shape:
        input   a chunk (N, C_in, m) or (C_in, m), (N, m, C_in) with ``layout='NLC'``; any m >= 0
        weight  (C_in, C_out/groups, K), bias (C_out,) or None
        output  (N, C_out, positions no later input reaches), in the same layout

    As :func:`stream_conv1d`: ``state`` None starts, the given state is not modified, and
    ``flush=True`` with the last chunk emits the tail (and the ``output_padding`` samples).
    """
    w = as_arrays("stream_conv_transpose1d", weight=weight)[0]
    spec = transpose_spec(
        "stream_conv_transpose1d",
        w.shape,
        bias is not None,
        stride,
        padding,
        output_padding,
        groups,
        dilation,
        layout,
    )
    parse_algorithm(spec.op, algorithm)
    core = _TransposeCore(spec, algorithm, state)
    y = core.run(input, w, bias, flush)
    return y, core.snapshot(copy=False)


class StreamingConvTranspose1d(_Stream):
    """A :class:`conv1d.ConvTranspose1d` fed chunk by chunk (overlap-add), equal to the offline layer.

    Shape: ``stream(chunk)`` takes (N, C_in, m) or (C_in, m) in the layer's layout, any
    m >= 0, and returns (N, C_out, positions completed).

    Each input sample adds the kernel times itself to the next ``span`` output positions;
    the stream emits the positions no later input can reach and keeps the rest.
    ``flush()`` emits the tail, ``output_padding`` included. ``forward``'s ``output_size``
    has no streaming form: set the layer's ``output_padding`` instead.

    Example:
        >>> import numpy as np, conv1d
        >>> up = conv1d.ConvTranspose1d(1, 1, kernel_size=4, stride=2, padding=1)
        >>> stream = conv1d.StreamingConvTranspose1d(up)
        >>> x = np.ones((1, 1, 5), np.float32)
        >>> y = np.concatenate([stream(x[..., :3]), stream(x[..., 3:]), stream.flush()], -1)
        >>> bool(np.allclose(y, up(x))), stream.delay
        (True, Fraction(1, 2))
    """

    def __init__(self, layer: ConvTranspose1d) -> None:
        if not isinstance(layer, ConvTranspose1d):
            raise ConvError(
                f"StreamingConvTranspose1d: expected a conv1d.ConvTranspose1d layer, got "
                f"{type(layer).__name__}. Use StreamingConv1d for Conv1d."
            )
        self.layer = layer
        self._spec = transpose_spec(
            "StreamingConvTranspose1d",
            layer.weight.shape,
            layer.bias is not None,
            layer.stride[0],
            layer.padding[0],
            layer.output_padding[0],
            layer.groups,
            layer.dilation[0],
            layer.layout,
        )
        self.reset()

    def _new_core(self, state: ConvTransposeStreamState | None) -> _TransposeCore:
        return _TransposeCore(self._spec, self.layer.algorithm, state)
