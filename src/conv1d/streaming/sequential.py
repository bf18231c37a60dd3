"""Streams and elementwise functions in sequence, with the stack's delay and rate."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from ..errors import ConvError
from ..layers import Conv1d, ConvTranspose1d
from ._state import _Stream, _whole
from .conv import StreamingConv1d
from .transpose import StreamingConvTranspose1d


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

    Shape: chunks as the first layer takes them; each call returns what the last one
    completes, (N, C_out of the last layer, count).

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
            raise ConvError(
                f"StreamingSequential: expected the states of {len(streams)} streams, got {len(state)}."
            )
        for s, st in zip(streams, state):
            s.load_state(st)

    def __repr__(self) -> str:
        inner = ",\n  ".join(
            repr(s)
            if not callable(s) or isinstance(s, (_Stream, StreamingSequential))
            else getattr(s, "__name__", repr(s))
            for s in self.steps
        )
        return f"StreamingSequential(\n  {inner}\n)  # delay {self.delay}"
