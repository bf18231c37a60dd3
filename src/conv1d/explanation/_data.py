"""The explanations' data: plain, frozen dataclasses; ``to_dict``/``to_json`` give JSON-ready data.

Text is :mod:`conv1d.explanation._render`'s job (``str()`` of an explanation calls it).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..spec import ConvSpec

__all__ = ["Explanation", "Formula", "Reading", "StackExplanation", "StackStep", "Term", "Trace"]


@dataclass(frozen=True)
class Reading:
    """How the input shape is read: the axes' meaning, and what to do if it does not fit."""

    given: tuple[int, ...]  # the shape as passed
    shape: tuple[int, ...]  # the shape explained (the fixed one, when a fix is suggested)
    batched: bool
    layout: str  # 'NCL' or 'NLC'
    axes: dict[str, int]  # {'N': 32, 'C_in': 256, 'L_in': 35}
    problem: str | None = None
    fix: str | None = None


@dataclass(frozen=True)
class Formula:
    """A length formula: in symbols, with the numbers, and its value."""

    symbols: str
    numbers: str
    value: int


@dataclass(frozen=True)
class Term:
    """One product of an output element's sum: ``x[n, channel, position] * w[...]``."""

    channel: int  # input channel
    tap: int  # kernel tap j
    position: int  # index into the (unpadded) input; -1 when the value is zero padding
    padded_position: int  # index into the padded input (conv) or the input (transposed)
    source: str  # 'input', 'zero padding', or e.g. 'reflect padding (x[..., 2])'
    input_value: float | complex
    weight_index: tuple[int, int, int]
    weight_value: float | complex
    product: float | complex


@dataclass(frozen=True)
class Trace:
    """The arithmetic of one output element ``y[n, o, t]``, checked against the real output."""

    element: tuple[int, int, int]  # (n, o, t) in (N, C_out, L_out) order, whatever the layout
    group: int
    channels: tuple[int, int]  # input channels [first, last] the element reads
    window: tuple[int, int]  # padded-input positions [first, last] of the window (conv)
    terms: tuple[Term, ...]
    bias: float | complex | None
    total: float | complex
    computed: float | complex
    matches: bool
    values: str  # where the values come from


@dataclass(frozen=True)
class Explanation:
    """Everything :func:`explain` found; ``str()`` for text, ``to_dict()``/``to_json()`` for data."""

    layer: str
    transposed: bool
    reading: Reading
    padding: tuple[int, int]
    padding_note: str
    output_length: Formula
    output_shape: tuple[int, ...]
    weight_shape: tuple[int, int, int]
    weight_note: str
    bias_shape: tuple[int, ...] | None
    parameters: int
    multiply_adds: int
    receptive_field: int
    receptive_field_note: str
    trace: Trace | None
    algorithm: str
    algorithm_reason: str
    estimates_ms: dict[str, float | None] = field(default_factory=dict)
    algorithm_source: str = "estimated"  # or "measured" (on this machine), "forced"
    measured_ms: dict[str, float] = field(default_factory=dict)  # each timed candidate's best run
    spec: ConvSpec | None = field(default=None, repr=False, compare=False)
    example_input: np.ndarray | None = field(default=None, repr=False, compare=False)  # (N, C_in, L_in)
    weights: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("spec")
        data.pop("example_input")
        data.pop("weights")
        return _plain(data)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)


@dataclass(frozen=True)
class StackStep:
    layer: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    span: int
    receptive_field: int  # of the stack up to and including this layer, in input samples


@dataclass(frozen=True)
class StackExplanation:
    steps: tuple[StackStep, ...]
    receptive_field: int

    def to_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)


def _plain(value: Any) -> Any:
    """JSON-ready: tuples -> lists, NumPy scalars -> Python, complex -> [re, im]."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, complex):
        return [value.real, value.imag]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
