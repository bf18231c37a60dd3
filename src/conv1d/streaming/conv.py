"""A conv1d stream: the padded stream's left context as state, outputs as their windows arrive.

The core keeps the padded stream ``P`` from the first sample the next output needs (a
growable buffer, written only while it owns it), writes the left padding once the
samples it needs have come, keeps what the right padding will need at flush, and emits
every output whose window has arrived, computed by the block's executor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._layout import compute_dtype, from_ncl, to_ncl
from ..dispatch import parse_algorithm
from ..errors import ConvError
from ..layers import Conv1d
from ..spec import ConvSpec, as_arrays, conv1d_spec
from ._state import _Core, _Stream, check_state, compute, configuration, conv_spec, whole_shape


@dataclass(frozen=True)
class ConvStreamState:
    """Where a conv1d stream stands (plain data: copy, pickle, restore it).

    ``context[..., :]`` are the padded-stream samples from the next output's window start
    on, (N, C_in, <= span - 1 + ...) in the compute dtype (float16 -> float32, integers ->
    int64); ``skip`` padded samples still to drop before that window (stride > span);
    ``seen`` input samples and ``emitted`` outputs so far; ``started`` once the left
    padding is written; ``pending`` raw samples held until it can be (reflect, replicate);
    ``head``/``tail`` the first/last raw samples kept for right padding at flush;
    ``batched``/``dtype`` of the chunks; ``finished`` after flush.
    """

    context: np.ndarray | None = None
    skip: int = 0
    seen: int = 0
    emitted: int = 0
    started: bool = False
    pending: np.ndarray | None = None
    head: np.ndarray | None = None
    tail: np.ndarray | None = None
    batched: bool | None = None
    dtype: np.dtype | None = None
    finished: bool = False
    layer: tuple | None = None  # the options of the layer whose stream this is (see _state.configuration)


class _ConvCore(_Core):
    """The mutable working form of a :class:`ConvStreamState` (a growable buffer)."""

    def __init__(self, spec: ConvSpec, algorithm: Any, state: ConvStreamState | None) -> None:
        self.spec, self.algorithm = spec, algorithm
        check_state(spec, state, ConvStreamState)
        state = state or ConvStreamState()
        self.skip, self.seen, self.emitted = state.skip, state.seen, state.emitted
        self.started, self.pending, self.head, self.tail = (
            state.started,
            state.pending,
            state.head,
            state.tail,
        )
        self.batched, self.dtype, self.finished = state.batched, state.dtype, state.finished
        # buffer[..., lo:hi] is the context; the buffer is only written once owned
        self.buffer = state.context
        self.lo, self.hi = 0, 0 if state.context is None else state.context.shape[-1]
        self.owned = False

    def snapshot(self, copy: bool) -> ConvStreamState:
        context = None if self.buffer is None else self.buffer[..., self.lo : self.hi]
        if not copy:
            self.owned = False  # the state now shares the buffer: never write into it again
        held = (context, self.pending, self.head, self.tail)
        if copy:  # pending, head and tail are never written in place, but the caller may
            held = tuple(None if a is None else a.copy() for a in held)
        context, pending, head, tail = held
        return ConvStreamState(
            context,
            self.skip,
            self.seen,
            self.emitted,
            self.started,
            pending,
            head,
            tail,
            self.batched,
            self.dtype,
            self.finished,
            configuration(self.spec),
        )

    @property
    def batch(self) -> int | None:
        for a in (self.buffer, self.pending, self.tail, self.head):
            if a is not None:
                return a.shape[0]
        return None

    # -- input --------------------------------------------------------------------

    def feed(self, x: np.ndarray) -> None:
        """Raw input samples (N, C, m), compute dtype."""
        spec = self.spec
        self.seen += x.shape[-1]
        keep = (
            {"reflect": spec.pad_right + 1, "replicate": 1}.get(spec.padding_mode, 0) if spec.pad_right else 0
        )
        # What is kept is copied: the caller may refill its chunk buffer (an audio callback does).
        if keep:
            kept = x if self.tail is None else np.concatenate([self.tail, x], -1)
            self.tail = kept[..., -keep:].copy()
        if (
            spec.padding_mode == "circular"
            and spec.pad_right
            and (self.head is None or self.head.shape[-1] < spec.pad_right)
        ):
            kept = x if self.head is None else np.concatenate([self.head, x], -1)
            self.head = kept[..., : spec.pad_right].copy()
        if self.started:
            self._append(x)
            return
        held = x.copy() if self.pending is None else np.concatenate([self.pending, x], -1)
        needs = (
            {"reflect": spec.pad_left + 1, "replicate": 1}.get(spec.padding_mode, 0) if spec.pad_left else 0
        )
        if held.shape[-1] < needs:
            self.pending = held
            return
        self.pending, self.started = None, True
        self._append(np.concatenate([self._left(held), held], -1) if spec.pad_left else held)

    def _left(self, held: np.ndarray) -> np.ndarray:
        spec, p = self.spec, self.spec.pad_left
        if spec.padding_mode == "replicate":
            return np.repeat(held[..., :1], p, axis=-1)
        if spec.padding_mode == "reflect":
            return held[..., p:0:-1]
        return np.zeros(held.shape[:2] + (p,), held.dtype)

    def right(self, like: np.ndarray) -> np.ndarray:
        spec, p = self.spec, self.spec.pad_right
        if spec.padding_mode == "replicate":
            return np.repeat(self.tail[..., -1:], p, axis=-1)
        if spec.padding_mode == "reflect":
            return self.tail[..., :-1][..., ::-1]
        if spec.padding_mode == "circular":
            return self.head[..., :p]
        return np.zeros(like.shape[:2] + (p,), like.dtype)

    def _append(self, a: np.ndarray) -> None:
        if self.skip:
            drop = min(self.skip, a.shape[-1])
            a, self.skip = a[..., drop:], self.skip - drop
        m = a.shape[-1]
        if m == 0 and self.buffer is not None:
            return
        live = self.hi - self.lo
        if self.buffer is None or not self.owned or self.hi + m > self.buffer.shape[-1]:
            cap = max(2 * (live + m), 2 * (self.spec.span + self.spec.stride), 16)
            fresh = np.empty(a.shape[:2] + (cap,), a.dtype)
            if live:
                fresh[..., :live] = self.buffer[..., self.lo : self.hi]
            self.buffer, self.lo, self.hi, self.owned = fresh, 0, live, True
        self.buffer[..., self.hi : self.hi + m] = a
        self.hi += m

    # -- output -------------------------------------------------------------------

    def emit(self, weight: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
        """Every output whose window has arrived, (N, C_out, count), compute dtype."""
        spec, s = self.spec, self.spec.stride
        live = self.hi - self.lo
        known = self.emitted * s + live - self.skip  # padded samples received
        total = (known - spec.span) // s + 1 if known >= spec.span else 0
        count = total - self.emitted
        if count <= 0:
            n = self.batch or 0
            return np.empty((n, spec.c_out, 0), compute_dtype(self.dtype or np.dtype(np.float32)))
        window = self.buffer[..., self.lo : self.lo + (count - 1) * s + spec.span]
        y = compute(self.spec, self.algorithm, window, weight, bias)
        self.emitted += count
        advance = count * s
        if advance <= live:
            self.lo += advance
        else:
            self.skip, self.lo = advance - live, self.hi
        return y

    @property
    def steady(self) -> bool:
        """True when a one-sample chunk only needs appending and one output: stride 1, NCL,
        left padding written, nothing kept for right padding (the autoregressive case)."""
        spec = self.spec
        return (
            spec.stride == 1
            and spec.layout == "NCL"
            and self.started
            and not self.skip
            and (spec.pad_right == 0 or spec.padding_mode == "zeros")
            and self.owned
        )

    def _one_sample(self, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None) -> np.ndarray | None:
        """feed + emit for one (N, C, 1) sample, in the fewest NumPy calls; None if the
        general path is needed (a dtype to convert, a full buffer, a window not yet whole)."""
        buffer, span = self.buffer, self.spec.span
        if x.dtype != buffer.dtype or self.hi == buffer.shape[-1] or self.hi - self.lo != span - 1:
            return None
        buffer[..., self.hi] = x[..., 0]
        self.hi += 1
        self.seen += 1
        y = compute(self.spec, self.algorithm, buffer[..., self.lo : self.hi], weight, bias)
        self.lo += 1
        self.emitted += 1
        return y

    # -- one call -----------------------------------------------------------------

    def run(self, chunk: Any, weight: np.ndarray, bias: np.ndarray | None, flush: bool) -> np.ndarray:
        spec = self.spec
        x, weight, bias = self.accept(chunk, weight, bias)
        if not flush and self.steady and x.shape[-1] == 1 and x.ndim == 3:
            step = self._one_sample(x, weight, bias)
            if step is not None:
                return step
        self.feed(to_ncl(x, spec.layout, self.batched))
        if flush:
            self._check_whole(weight, bias)
            if spec.pad_right:
                self._append(self.right(self.buffer if self.buffer is not None else self.pending))
            self.finished = True
        return from_ncl(self.emit(weight, bias), spec.layout, self.batched, x.dtype)

    def _check_whole(self, weight: np.ndarray, bias: np.ndarray | None) -> None:
        """The offline call on the whole signal must be valid (same error as offline)."""
        spec = self.spec
        conv1d_spec(
            whole_shape(spec, self.batch, self.batched, self.seen),
            weight.shape,
            None if bias is None else bias.shape,
            stride=spec.stride,
            padding=spec.padding,
            dilation=spec.dilation,
            groups=spec.groups,
            padding_mode=spec.padding_mode,
            layout=spec.layout,
            dtype=self.dtype,
            op=spec.op,
        )


def stream_conv1d(
    input: Any,
    state: ConvStreamState | None,
    weight: Any,
    bias: Any = None,
    stride: int | tuple[int] = 1,
    padding: Any = 0,
    dilation: int | tuple[int] = 1,
    groups: int = 1,
    *,
    padding_mode: str = "zeros",
    layout: str = "NCL",
    algorithm: str = "auto",
    flush: bool = False,
) -> tuple[np.ndarray, ConvStreamState]:
    """One chunk of a streamed :func:`conv1d.conv1d`: ``(output, new_state)``.

    Shape:
        input   a chunk (N, C_in, m) or (C_in, m), (N, m, C_in) with ``layout='NLC'``; any m >= 0
        weight  (C_out, C_in/groups, K), bias (C_out,) or None
        output  (N, C_out, outputs the chunk completes), in the same layout

    ``state`` is None for the first chunk, then the state the previous call returned
    (it is not modified, so keeping an old state checkpoints the stream). Pass
    ``flush=True`` with the last chunk (it may be empty) to append the right padding and
    emit the tail. The outputs of all calls, concatenated along the length axis, equal
    ``conv1d.conv1d`` of the whole signal with the same arguments.

    Example:
        >>> import numpy as np, conv1d
        >>> w = np.ones((1, 1, 3), np.float32)
        >>> y0, s = conv1d.stream_conv1d(np.ones((1, 1, 2), np.float32), None, w, padding='causal')
        >>> y1, s = conv1d.stream_conv1d(np.ones((1, 1, 1), np.float32), s, w, padding='causal')
        >>> np.concatenate([y0, y1], -1)
        array([[[1., 2., 3.]]], dtype=float32)
    """
    w = as_arrays("stream_conv1d", weight=weight)[0]
    spec = conv_spec(
        "stream_conv1d", w.shape, bias is not None, stride, padding, dilation, groups, padding_mode, layout
    )
    parse_algorithm(spec.op, algorithm)
    core = _ConvCore(spec, algorithm, state)
    y = core.run(input, w, bias, flush)
    return y, core.snapshot(copy=False)


class StreamingConv1d(_Stream):
    """A :class:`conv1d.Conv1d` fed chunk by chunk, equal to the offline layer.

    Shape: ``stream(chunk)`` takes (N, C_in, m) or (C_in, m) in the layer's layout, any
    m >= 0, the batch fixed for a stream, and returns (N, C_out, outputs completed).

    ``stream(chunk)`` returns the outputs the chunk completes; ``stream.flush()`` those held
    back by right padding. All of them concatenated equal ``layer(x)`` on the whole signal.
    Chunks can have any length (0, 1, shorter than the kernel, long); the layer's current
    weights are used at each call. ``delay`` says how many input samples an output waits
    for beyond its own (0 for ``padding='causal'``); see :mod:`conv1d.streaming`.

    Example:
        >>> import numpy as np, conv1d
        >>> layer = conv1d.Conv1d(1, 1, 3, padding='same', bias=False)
        >>> stream = conv1d.StreamingConv1d(layer)
        >>> x = np.arange(5, dtype=np.float32)[None, None]
        >>> parts = [stream(x[..., :2]), stream(x[..., 2:]), stream.flush()]
        >>> [p.shape[-1] for p in parts], stream.delay
        ([1, 3, 1], 1)
        >>> bool(np.allclose(np.concatenate(parts, -1), layer(x)))
        True
    """

    def __init__(self, layer: Conv1d) -> None:
        if not isinstance(layer, Conv1d):
            raise ConvError(
                f"StreamingConv1d: expected a conv1d.Conv1d layer, got {type(layer).__name__}. "
                f"Use StreamingConvTranspose1d for ConvTranspose1d; convert torch modules with "
                f"conv1d.Conv1d.from_torch(module)."
            )
        self.layer = layer
        self._spec = conv_spec(
            "StreamingConv1d",
            layer.weight.shape,
            layer.bias is not None,
            layer.stride[0],
            layer.padding if isinstance(layer.padding, str) else tuple(layer.padding),
            layer.dilation[0],
            layer.groups,
            layer.padding_mode,
            layer.layout,
        )
        self.reset()

    def _new_core(self, state: ConvStreamState | None) -> _ConvCore:
        return _ConvCore(self._spec, self.layer.algorithm, state)
