"""Streaming: feed a convolution chunk by chunk and get exactly the offline result.

A :class:`StreamingConv1d` keeps the *padded stream* ``P`` the offline layer would see
(left padding, the samples so far, and at :meth:`~StreamingConv1d.flush` the right
padding) from the first sample the next output needs, plus the stride phase. Output
``t`` reads ``P[t*stride : t*stride + span]`` with ``span = (K-1)*dilation + 1``; it is
emitted as soon as that window has arrived, so after ``m`` padded-stream samples the
stream has emitted ``(m - span) // stride + 1`` outputs, the same count and values as
the offline call on those samples. Concatenating every chunk's output (and the flush)
gives the offline ``layer(x)``.

What it keeps (:class:`ConvStreamState`, plain data): at most ``span - 1`` samples of
left context (more only while a chunk is being processed), and, when ``stride > span``,
how many coming samples to skip. Padding modes are streamed where their values are
known in time: ``'zeros'`` always; ``'replicate'`` (the first sample, then the last);
``'reflect'`` (the left side waits for ``padding + 1`` samples; the right side keeps the
last ``padding + 1``); ``'circular'`` only without left padding (the left side would
need the end of the signal). ``padding='same'`` with ``stride > 1`` splits its padding
by the total length, which a stream does not know, and is refused.

Delay: output ``t`` is aligned with input sample ``t*stride`` (that is what
``padding='same'`` means) and needs inputs up to ``t*stride + delay`` with
``delay = span - 1 - pad_left``: 0 for ``padding='causal'``, ``(K-1)//2`` for ``'same'``
with odd K, ``span - 1`` for ``'valid'`` (negative when the left padding exceeds the span:
those first outputs see padding only and come out at once).

:class:`StreamingConvTranspose1d` keeps the overlap-add tail instead: each input sample
adds ``weight`` times itself to ``span`` output positions; positions before
``seen*stride`` receive nothing more and are emitted, the others wait; so do the last
positions that the right crop (``padding``) would drop if the stream ended now. Output
``u`` is aligned with input ``u / stride``; its delay, in input samples, is
``max(padding, 2*padding + stride - span - output_padding) / stride`` (a
:class:`fractions.Fraction` when not whole).

:class:`StreamingSequential` streams layers and elementwise functions in sequence;
its delay is the sum of its parts, each scaled to the stack's input rate (a stride-2
layer's output samples are two input samples each).

The functional forms :func:`stream_conv1d` and :func:`stream_conv_transpose1d` take the
state in and give the new state out (``None`` starts a stream) and never modify the
state they are given. Chunks may have any length, 0 and 1 included, and any batch size
(fixed for one stream).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from .errors import ConvError
from .functional import SpectrumCache, compute_dtype, run_conv1d, run_conv_transpose1d
from .layers import Conv1d, ConvTranspose1d
from .spec import as_arrays, check_layout, conv1d_spec, conv_transpose1d_spec

__all__ = [
    "ConvStreamState",
    "ConvTransposeStreamState",
    "StreamingConv1d",
    "StreamingConvTranspose1d",
    "StreamingSequential",
    "stream_conv1d",
    "stream_conv_transpose1d",
]

_LONG = 1 << 40  # a length that passes every length check, to validate arguments alone


def _whole(delay: Fraction) -> int | Fraction:
    return int(delay) if delay.denominator == 1 else delay


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class _Config:
    """A stream's fixed arguments, checked once (what the offline spec would hold)."""

    op: str
    transposed: bool
    c_in: int
    c_out: int
    k: int
    stride: int
    dilation: int
    groups: int
    pad_left: int
    pad_right: int
    padding: Any  # as given, for the offline check at flush
    padding_mode: str
    output_padding: int
    layout: str
    algorithm: Any

    @property
    def span(self) -> int:
        return (self.k - 1) * self.dilation + 1

    @property
    def delay(self) -> int | Fraction:
        if self.transposed:
            # output u waits for the inputs reaching position u + padding, and (if the stream
            # ended there, the right crop would drop it) for u < L_out of the inputs so far
            held = max(self.pad_left, 2 * self.pad_left + self.stride - self.span - self.output_padding)
            return _whole(Fraction(held, self.stride))
        return self.span - 1 - self.pad_left

    @property
    def rate(self) -> Fraction:
        """Input samples per output sample."""
        return Fraction(1, self.stride) if self.transposed else Fraction(self.stride)


def _conv_config(op: str, weight_shape: tuple[int, ...], has_bias: bool, stride: Any, padding: Any, dilation: Any,
                 groups: Any, padding_mode: Any, layout: Any, algorithm: Any) -> _Config:
    if isinstance(padding, str) and padding == "same" and stride not in (1, (1,)):
        raise ConvError(
            f"{op}: padding='same' with stride={stride} splits its padding according to the "
            f"signal's total length (L_in mod stride), which a stream does not know in advance. "
            f"Give the padding explicitly, padding=(left, right), or use padding='causal'."
        )
    groups_ = groups if isinstance(groups, int) else 1
    c_in = weight_shape[1] * groups_ if len(weight_shape) == 3 else 0
    spec = conv1d_spec(
        (1, c_in, _LONG), weight_shape, (weight_shape[0],) if has_bias and weight_shape else None, stride=stride,
        padding=padding, dilation=dilation, groups=groups, padding_mode=padding_mode, layout="NCL", op=op,
    )
    layout = check_layout(op, layout)
    if spec.padding_mode == "circular" and spec.pad_left > 0:
        raise ConvError(
            f"{op}: padding_mode='circular' pads the start of the signal with its end "
            f"({spec.pad_left} samples on the left), which a stream has not seen when the first "
            f"outputs are due. Stream with padding_mode='zeros', 'reflect' or 'replicate', pad only "
            f"on the right (padding=(0, right)), or run the layer offline."
        )
    return _Config(
        op, False, spec.c_in, spec.c_out, spec.k, spec.stride, spec.dilation, spec.groups, spec.pad_left,
        spec.pad_right, spec.padding, spec.padding_mode, 0, layout, algorithm,
    )


def _transpose_config(op: str, weight_shape: tuple[int, ...], has_bias: bool, stride: Any, padding: Any,
                      output_padding: Any, groups: Any, dilation: Any, layout: Any, algorithm: Any) -> _Config:
    spec = conv_transpose1d_spec(
        (1, weight_shape[0] if weight_shape else 0, 1 << 20), weight_shape,
        (weight_shape[1] * (groups if isinstance(groups, int) else 1),) if has_bias and len(weight_shape) == 3 else None,
        stride=stride, padding=padding, output_padding=output_padding, groups=groups, dilation=dilation,
        layout="NCL", op=op,
    )
    layout = check_layout(op, layout)
    return _Config(
        op, True, spec.c_in, spec.c_out, spec.k, spec.stride, spec.dilation, spec.groups, spec.pad_left,
        spec.pad_right, spec.padding, "zeros", spec.output_padding, layout, algorithm,
    )


def _as_ncl(cfg: _Config, chunk: np.ndarray, batched: bool) -> np.ndarray:
    """A chunk as (N, C, L) in the compute dtype (a view when it can)."""
    a = chunk.astype(compute_dtype(chunk.dtype), copy=False)
    if not batched:
        a = a[None]
    return a if cfg.layout == "NCL" else a.transpose(0, 2, 1)


def _from_ncl(cfg: _Config, y: np.ndarray, batched: bool, dtype: np.dtype) -> np.ndarray:
    if cfg.layout == "NLC":
        y = y.transpose(0, 2, 1)
    if not batched:
        y = y[0]
    return np.ascontiguousarray(y, dtype=dtype)


def _whole_shape(cfg: _Config, batch: int | None, batched: bool, length: int) -> tuple[int, ...]:
    """The shape of the whole signal streamed so far, in the layer's layout (for the offline checks)."""
    core = (cfg.c_in, length) if cfg.layout == "NCL" else (length, cfg.c_in)
    return (batch, *core) if batched else core


def _check_chunk(cfg: _Config, chunk: np.ndarray, weight: np.ndarray, bias: np.ndarray | None,
                 batch: int | None, batched: bool | None) -> None:
    """The checks of the offline call that concern one chunk (shape, channels, dtype)."""
    shape = chunk.shape
    if len(shape) in (2, 3) and shape[-1 if cfg.layout == "NCL" else -2] == 0:
        # validate an empty chunk's channels as if it held one sample
        shape = shape[:-1] + (1,) if cfg.layout == "NCL" else shape[:-2] + (1, shape[-1])
    bias_shape = None if bias is None else bias.shape
    if cfg.transposed:
        conv_transpose1d_spec(shape, weight.shape, bias_shape, stride=cfg.stride, groups=cfg.groups,
                              dilation=cfg.dilation, layout=cfg.layout, dtype=chunk.dtype, op=cfg.op)
    else:
        conv1d_spec(shape, weight.shape, bias_shape, stride=cfg.stride, padding=(cfg.span, cfg.span),
                    dilation=cfg.dilation, groups=cfg.groups, layout=cfg.layout, dtype=chunk.dtype, op=cfg.op)
    if batched is not None and (len(shape) == 3) != batched:
        raise ConvError(
            f"{cfg.op}: this stream carries {'batched (N, C, L)' if batched else 'unbatched (C, L)'} "
            f"chunks; got a chunk of shape {tuple(chunk.shape)}. Every chunk of a stream has the same "
            f"number of dimensions; call reset() to start a new stream."
        )
    if batch is not None and len(shape) == 3 and shape[0] != batch:
        raise ConvError(
            f"{cfg.op}: this stream carries a batch of {batch} signals; got a chunk of shape "
            f"{tuple(chunk.shape)} (batch {shape[0]}). The batch size is fixed for a stream; "
            f"call reset() to start a new one."
        )


# --------------------------------------------------------------------------- conv1d


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


class _Core:
    """What both stream cores share: checking a chunk against the stream (once per shape)."""

    cfg: _Config
    batched: bool | None
    dtype: np.dtype | None
    finished: bool
    _checked: tuple | None = None  # the last (chunk, weight, bias) shapes and dtypes found valid

    @property
    def batch(self) -> int | None:
        raise NotImplementedError

    def accept(self, chunk: Any, weight: Any, bias: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The chunk and parameters as arrays, checked as the offline call would check them."""
        cfg = self.cfg
        if self.finished:
            raise ConvError(
                f"{cfg.op}: this stream was flushed (its output is complete); call reset() to start a "
                f"new one, or restore an earlier state."
            )
        if type(chunk) is np.ndarray and type(weight) is np.ndarray and (bias is None or type(bias) is np.ndarray):
            key = (chunk.shape, chunk.dtype, weight.shape, weight.dtype,
                   None if bias is None else (bias.shape, bias.dtype))
            if key == self._checked:  # a step of a running stream: nothing new to check
                return chunk, weight, bias
        else:
            key = None
        x, weight, bias = as_arrays(cfg.op, input=chunk, weight=weight, bias=bias)
        _check_chunk(cfg, x, weight, bias, self.batch, self.batched)
        if self.dtype is not None and x.dtype != self.dtype:
            raise ConvError(
                f"{cfg.op}: this stream carries {self.dtype} chunks; got {x.dtype}. Convert the chunk "
                f"with .astype({self.dtype.name!r}), or call reset() to start a new stream."
            )
        self.batched, self.dtype = x.ndim == 3, x.dtype
        self._checked = key
        return x, weight, bias


class _ConvCore(_Core):
    """The mutable working form of a :class:`ConvStreamState` (a growable buffer)."""

    def __init__(self, cfg: _Config, state: ConvStreamState | None) -> None:
        self.cfg = cfg
        state = state or ConvStreamState()
        self.skip, self.seen, self.emitted = state.skip, state.seen, state.emitted
        self.started, self.pending, self.head, self.tail = state.started, state.pending, state.head, state.tail
        self.batched, self.dtype, self.finished = state.batched, state.dtype, state.finished
        # buffer[..., lo:hi] is the context; the buffer is only written once owned
        self.buffer = state.context
        self.lo, self.hi = 0, 0 if state.context is None else state.context.shape[-1]
        self.owned = False
        self.spectra = SpectrumCache()
        self.specs: dict[tuple, Any] = {}

    def snapshot(self, copy: bool) -> ConvStreamState:
        context = None if self.buffer is None else self.buffer[..., self.lo : self.hi]
        if not copy:
            self.owned = False  # the state now shares the buffer: never write into it again
        held = (context, self.pending, self.head, self.tail)
        if copy:  # pending, head and tail are never written in place, but the caller may
            held = tuple(None if a is None else a.copy() for a in held)
        context, pending, head, tail = held
        return ConvStreamState(
            context, self.skip, self.seen, self.emitted, self.started, pending, head, tail,
            self.batched, self.dtype, self.finished,
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
        cfg = self.cfg
        self.seen += x.shape[-1]
        keep = {"reflect": cfg.pad_right + 1, "replicate": 1}.get(cfg.padding_mode, 0) if cfg.pad_right else 0
        # What is kept is copied: the caller may refill its chunk buffer (an audio callback does).
        if keep:
            kept = x if self.tail is None else np.concatenate([self.tail, x], -1)
            self.tail = kept[..., -keep:].copy()
        if cfg.padding_mode == "circular" and cfg.pad_right and (self.head is None or self.head.shape[-1] < cfg.pad_right):
            kept = x if self.head is None else np.concatenate([self.head, x], -1)
            self.head = kept[..., : cfg.pad_right].copy()
        if self.started:
            self._append(x)
            return
        held = x.copy() if self.pending is None else np.concatenate([self.pending, x], -1)
        needs = {"reflect": cfg.pad_left + 1, "replicate": 1}.get(cfg.padding_mode, 0) if cfg.pad_left else 0
        if held.shape[-1] < needs:
            self.pending = held
            return
        self.pending, self.started = None, True
        self._append(np.concatenate([self._left(held), held], -1) if cfg.pad_left else held)

    def _left(self, held: np.ndarray) -> np.ndarray:
        cfg, p = self.cfg, self.cfg.pad_left
        if cfg.padding_mode == "replicate":
            return np.repeat(held[..., :1], p, axis=-1)
        if cfg.padding_mode == "reflect":
            return held[..., p:0:-1]
        return np.zeros(held.shape[:2] + (p,), held.dtype)

    def right(self, like: np.ndarray) -> np.ndarray:
        cfg, p = self.cfg, self.cfg.pad_right
        if cfg.padding_mode == "replicate":
            return np.repeat(self.tail[..., -1:], p, axis=-1)
        if cfg.padding_mode == "reflect":
            return self.tail[..., :-1][..., ::-1]
        if cfg.padding_mode == "circular":
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
            cap = max(2 * (live + m), 2 * (self.cfg.span + self.cfg.stride), 16)
            fresh = np.empty(a.shape[:2] + (cap,), a.dtype)
            if live:
                fresh[..., :live] = self.buffer[..., self.lo : self.hi]
            self.buffer, self.lo, self.hi, self.owned = fresh, 0, live, True
        self.buffer[..., self.hi : self.hi + m] = a
        self.hi += m

    # -- output -------------------------------------------------------------------

    def emit(self, weight: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
        """Every output whose window has arrived, (N, C_out, count), compute dtype."""
        cfg, s = self.cfg, self.cfg.stride
        live = self.hi - self.lo
        known = self.emitted * s + live - self.skip  # padded samples received
        total = (known - cfg.span) // s + 1 if known >= cfg.span else 0
        count = total - self.emitted
        if count <= 0:
            n = self.batch or 0
            return np.empty((n, cfg.c_out, 0), compute_dtype(self.dtype or np.dtype(np.float32)))
        window = self.buffer[..., self.lo : self.lo + (count - 1) * s + cfg.span]
        y = self._step(window, weight, bias) if count == 1 else self._conv(window, weight, bias)
        self.emitted += count
        advance = count * s
        if advance <= live:
            self.lo += advance
        else:
            self.skip, self.lo = advance - live, self.hi
        return y

    def _step(self, window: np.ndarray, weight: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
        """One output: the K taps times the weight matrix, a few small NumPy calls."""
        cfg, g = self.cfg, self.cfg.groups
        n = window.shape[0]
        w = weight.astype(window.dtype, copy=False)
        if n == 0:  # an empty batch
            return np.zeros((0, cfg.c_out, 1), window.dtype)
        if g == 1:  # (N, Ci*K) @ (Ci*K, Co): one BLAS call
            y = np.matmul(window[..., :: cfg.dilation].reshape(n, -1), w.reshape(cfg.c_out, -1).T)
        else:  # (G, Co/G, Ci/G*K) @ (N, G, Ci/G*K, 1)
            taps = window[..., :: cfg.dilation].reshape(n, g, -1, 1)
            y = np.matmul(w.reshape(g, cfg.c_out // g, -1), taps)
        if bias is not None:
            y = y.reshape(n, cfg.c_out) + bias.astype(window.dtype, copy=False)
        return y.reshape(n, cfg.c_out, 1)

    @property
    def steady(self) -> bool:
        """True when a one-sample chunk only needs appending and one output: stride 1, NCL,
        left padding written, nothing kept for right padding (the autoregressive case)."""
        cfg = self.cfg
        return (cfg.stride == 1 and cfg.layout == "NCL" and self.started and not self.skip
                and (cfg.pad_right == 0 or cfg.padding_mode == "zeros") and self.owned)

    def _one_sample(self, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None) -> np.ndarray | None:
        """feed + emit for one (N, C, 1) sample, in the fewest NumPy calls; None if the
        general path is needed (a dtype to convert, a full buffer, a window not yet whole)."""
        buffer, span = self.buffer, self.cfg.span
        if x.dtype != buffer.dtype or self.hi == buffer.shape[-1] or self.hi - self.lo != span - 1:
            return None
        buffer[..., self.hi] = x[..., 0]
        self.hi += 1
        self.seen += 1
        y = self._step(buffer[..., self.lo : self.hi], weight, bias)
        self.lo += 1
        self.emitted += 1
        return y

    def _conv(self, window: np.ndarray, weight: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
        cfg = self.cfg
        key = (window.shape, window.dtype, weight.shape, None if bias is None else bias.shape)
        spec = self.specs.get(key)
        if spec is None:  # a stream sees few window shapes: check each once
            spec = self.specs[key] = conv1d_spec(
                window.shape, weight.shape, None if bias is None else bias.shape, stride=cfg.stride, padding=0,
                dilation=cfg.dilation, groups=cfg.groups, dtype=window.dtype, op=cfg.op,
            )
        w = weight.astype(window.dtype, copy=False)
        b = None if bias is None else bias.astype(window.dtype, copy=False)
        return run_conv1d(spec, window, w, b, cfg.algorithm, self.spectra)

    # -- one call -----------------------------------------------------------------

    def run(self, chunk: Any, weight: np.ndarray, bias: np.ndarray | None, flush: bool) -> np.ndarray:
        cfg = self.cfg
        x, weight, bias = self.accept(chunk, weight, bias)
        if not flush and self.steady and x.shape[-1] == 1 and x.ndim == 3:
            step = self._one_sample(x, weight, bias)
            if step is not None:
                return step
        self.feed(_as_ncl(cfg, x, self.batched))
        if flush:
            self._check_whole(weight, bias)
            if cfg.pad_right:
                self._append(self.right(self.buffer if self.buffer is not None else self.pending))
            self.finished = True
        return _from_ncl(cfg, self.emit(weight, bias), self.batched, x.dtype)

    def _check_whole(self, weight: np.ndarray, bias: np.ndarray | None) -> None:
        """The offline call on the whole signal must be valid (same error as offline)."""
        cfg = self.cfg
        conv1d_spec(_whole_shape(cfg, self.batch, self.batched, self.seen), weight.shape, None if bias is None else bias.shape, stride=cfg.stride,
                    padding=cfg.padding, dilation=cfg.dilation, groups=cfg.groups,
                    padding_mode=cfg.padding_mode, layout=cfg.layout, dtype=self.dtype, op=cfg.op)


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
    cfg = _conv_config("stream_conv1d", w.shape, bias is not None, stride, padding, dilation, groups,
                       padding_mode, layout, algorithm)
    core = _ConvCore(cfg, state)
    y = core.run(input, w, bias, flush)
    return y, core.snapshot(copy=False)


class _Stream:
    """What both streaming wrappers share: a layer, a mutable core, reset/state/flush."""

    layer: Any
    _cfg: _Config

    @property
    def delay(self) -> int | Fraction:
        """Input samples an output waits for beyond the input it is aligned with (see module docs)."""
        return self._cfg.delay

    @property
    def rate(self) -> Fraction:
        """Input samples per output sample (stride, or 1/stride when transposed)."""
        return self._cfg.rate

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
                f"{self._cfg.op}: flush() without a chunk needs the stream to have seen one "
                f"(to know the batch and dtype); pass the last chunk as flush(chunk)."
            )
        c = self._cfg.c_in
        shape = (core.batch, c, 0) if core.batched else (c, 0)
        if self._cfg.layout == "NLC":
            shape = shape[:-2] + (0, c)
        return np.empty(shape, core.dtype)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.layer!r}, delay={self.delay})"


class StreamingConv1d(_Stream):
    """A :class:`conv1d.Conv1d` fed chunk by chunk, equal to the offline layer.

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
        self._cfg = _conv_config(
            "StreamingConv1d", layer.weight.shape, layer.bias is not None, layer.stride[0],
            layer.padding if isinstance(layer.padding, str) else tuple(layer.padding),
            layer.dilation[0], layer.groups, layer.padding_mode, layer.layout, layer.algorithm,
        )
        self.reset()

    def _new_core(self, state: ConvStreamState | None) -> _ConvCore:
        return _ConvCore(self._cfg, state)


# --------------------------------------------------------------------------- conv_transpose1d


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


class _TransposeCore(_Core):
    def __init__(self, cfg: _Config, state: ConvTransposeStreamState | None) -> None:
        self.cfg = cfg
        state = state or ConvTransposeStreamState()
        self.tail, self.cursor, self.seen, self.emitted = state.tail, state.cursor, state.seen, state.emitted
        self.batched, self.dtype, self.finished = state.batched, state.dtype, state.finished
        self._batch: int | None = None if state.tail is None else state.tail.shape[0]
        self.specs: dict[tuple, Any] = {}

    def snapshot(self, copy: bool) -> ConvTransposeStreamState:
        tail = None if self.tail is None else (self.tail.copy() if copy else self.tail)
        return ConvTransposeStreamState(tail, self.cursor, self.seen, self.emitted, self.batched, self.dtype,
                                        self.finished)

    @property
    def batch(self) -> int | None:
        return self._batch

    def _length(self, seen: int) -> int:
        """The offline output length for ``seen`` inputs."""
        cfg = self.cfg
        return (seen - 1) * cfg.stride + cfg.span + cfg.output_padding - 2 * cfg.pad_left

    def _block(self, x: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """Every input sample's contribution, (N, C_out, (m-1)*stride + span), no bias."""
        cfg, g = self.cfg, self.cfg.groups
        n, _, m = x.shape
        w = weight.astype(x.dtype, copy=False)
        if m == 1 and n > 0:  # one sample: its taps are weight times it, laid dilation apart
            taps = np.matmul(x.reshape(n, g, 1, -1), w.reshape(g, cfg.c_in // g, -1))  # (N, G, 1, Co/G*K)
            block = np.zeros((n, cfg.c_out, cfg.span), x.dtype)
            block[..., :: cfg.dilation] = taps.reshape(n, cfg.c_out, cfg.k)
            return block
        key = (x.shape, x.dtype, w.shape)
        spec = self.specs.get(key)
        if spec is None:  # a stream sees few chunk shapes: check each once
            spec = self.specs[key] = conv_transpose1d_spec(x.shape, w.shape, None, stride=cfg.stride, groups=cfg.groups,
                                                           dilation=cfg.dilation, dtype=x.dtype, op=cfg.op)
        return run_conv_transpose1d(spec, x, w, None, cfg.algorithm)

    def run(self, chunk: Any, weight: np.ndarray, bias: np.ndarray | None, flush: bool) -> np.ndarray:
        cfg = self.cfg
        x, weight, bias = self.accept(chunk, weight, bias)
        xn = _as_ncl(cfg, x, self.batched)
        self._batch = xn.shape[0]
        m = xn.shape[-1]
        if self.tail is None:
            self.tail = np.zeros((xn.shape[0], cfg.c_out, 0), xn.dtype)
        if m:
            block = self._block(xn, weight)
            start = self.seen * cfg.stride - self.cursor
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
            conv_transpose1d_spec(_whole_shape(cfg, self._batch, self.batched, self.seen), weight.shape, None if bias is None else bias.shape, stride=cfg.stride,
                                  padding=cfg.padding, output_padding=cfg.output_padding, groups=cfg.groups,
                                  dilation=cfg.dilation, layout=cfg.layout, dtype=self.dtype, op=cfg.op)
            final = self._length(self.seen) + cfg.pad_left
            self.finished = True
        else:
            final = min(self.seen * cfg.stride, self._length(self.seen) + cfg.pad_left)
        final = max(final, self.cursor)  # output positions before `final` are complete
        count = final - self.cursor
        out = np.zeros(self.tail.shape[:2] + (count,), xn.dtype)
        have = min(count, self.tail.shape[-1])
        out[..., :have] = self.tail[..., :have]
        self.tail = self.tail[..., count:]
        out = out[..., max(0, cfg.pad_left - self.cursor) :]  # the first `padding` positions are cropped
        self.cursor = final
        self.emitted += out.shape[-1]
        if bias is not None:
            out = out + bias.astype(out.dtype, copy=False)[:, None]
        return _from_ncl(cfg, out, self.batched, x.dtype)


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

    As :func:`stream_conv1d`: ``state`` None starts, the given state is not modified, and
    ``flush=True`` with the last chunk emits the tail (and the ``output_padding`` samples).
    """
    w = as_arrays("stream_conv_transpose1d", weight=weight)[0]
    cfg = _transpose_config("stream_conv_transpose1d", w.shape, bias is not None, stride, padding, output_padding,
                            groups, dilation, layout, algorithm)
    core = _TransposeCore(cfg, state)
    y = core.run(input, w, bias, flush)
    return y, core.snapshot(copy=False)


class StreamingConvTranspose1d(_Stream):
    """A :class:`conv1d.ConvTranspose1d` fed chunk by chunk (overlap-add), equal to the offline layer.

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
        self._cfg = _transpose_config(
            "StreamingConvTranspose1d", layer.weight.shape, layer.bias is not None, layer.stride[0],
            layer.padding[0], layer.output_padding[0], layer.groups, layer.dilation[0], layer.layout,
            layer.algorithm,
        )
        self.reset()

    def _new_core(self, state: ConvTransposeStreamState | None) -> _TransposeCore:
        return _TransposeCore(self._cfg, state)


# --------------------------------------------------------------------------- stacks


def streaming(layer: Any) -> Any:
    """The streaming wrapper for ``layer`` (Conv1d, ConvTranspose1d; a stream is returned as is)."""
    if isinstance(layer, (_Stream, StreamingSequential)):
        return layer
    if isinstance(layer, ConvTranspose1d):
        return StreamingConvTranspose1d(layer)
    if isinstance(layer, Conv1d):
        return StreamingConv1d(layer)
    raise ConvError(f"streaming: expected a Conv1d or ConvTranspose1d layer, got {type(layer).__name__}.")


class StreamingSequential:
    """Layers and elementwise functions streamed in sequence.

    ``steps`` are :class:`conv1d.Conv1d` / :class:`conv1d.ConvTranspose1d` layers (wrapped
    in their streams), streams, nested :class:`StreamingSequential`, or callables applied
    to each chunk as it passes (they must act on each sample alone, like ``np.tanh``:
    anything that mixes samples along the length needs a stream of its own).
    ``delay`` is the sum of the parts' delays, each in the stack's input samples.

    Example:
        >>> import numpy as np, conv1d
        >>> net = conv1d.StreamingSequential(
        ...     conv1d.Conv1d(1, 4, 3, padding='causal'), np.tanh,
        ...     conv1d.Conv1d(4, 1, 3, padding='same', dilation=2))
        >>> net.delay
        2
    """

    def __init__(self, *steps: Any) -> None:
        if not steps:
            raise ConvError("StreamingSequential: give at least one layer or function.")
        self.steps: list[Any] = []
        for i, step in enumerate(steps):
            if isinstance(step, (Conv1d, ConvTranspose1d, _Stream, StreamingSequential)):
                self.steps.append(streaming(step))
            elif callable(step):
                self.steps.append(step)
            else:
                raise ConvError(
                    f"StreamingSequential: step {i} is a {type(step).__name__}; expected a Conv1d, "
                    f"ConvTranspose1d, a stream, or an elementwise function such as np.tanh."
                )

    def _streams(self) -> list[Any]:
        return [s for s in self.steps if isinstance(s, (_Stream, StreamingSequential))]

    @property
    def delay(self) -> int | Fraction:
        total, rate = Fraction(0), Fraction(1)
        for s in self._streams():
            total += Fraction(s.delay) * rate
            rate *= s.rate
        return _whole(total)

    @property
    def rate(self) -> Fraction:
        rate = Fraction(1)
        for s in self._streams():
            rate *= s.rate
        return rate

    def __call__(self, chunk: Any) -> np.ndarray:
        for step in self.steps:
            chunk = step(chunk)
        return chunk

    def flush(self, chunk: Any = None) -> np.ndarray:
        """End every stream in order: each one's tail passes through the steps after it."""
        started = chunk is not None
        for step in self.steps:
            if isinstance(step, (_Stream, StreamingSequential)):
                chunk = step.flush(chunk) if started else step.flush()
                started = True
            elif started:
                chunk = step(chunk)
        return chunk

    def reset(self) -> None:
        for s in self._streams():
            s.reset()

    @property
    def state(self) -> list[Any]:
        return [s.state for s in self._streams()]

    def load_state(self, state: list[Any]) -> None:
        streams = self._streams()
        if len(state) != len(streams):
            raise ConvError(f"StreamingSequential: expected the states of {len(streams)} streams, got {len(state)}.")
        for s, st in zip(streams, state):
            s.load_state(st)

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(s) if not callable(s) or isinstance(s, (_Stream, StreamingSequential))
                             else getattr(s, "__name__", repr(s)) for s in self.steps)
        return f"StreamingSequential(\n  {inner}\n)  # delay {self.delay}"
