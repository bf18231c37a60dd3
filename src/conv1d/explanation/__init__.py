"""Explanations: what a Conv1d does to *your* shapes, with your numbers.

:func:`explain` turns a layer (or Conv1d's arguments) and an input shape into an
:class:`Explanation`, plain data: how the input shape is read (and the exact fix when
the channels sit on the wrong axis), the output-length formula with the numbers filled
in, the output, weight and bias shapes and why, the parameter count, the multiply-adds,
the receptive field, the arithmetic of one output element with actual values (checked
against the computed output), and the algorithm the planner picks. ``str(explanation)``
renders it as text for an 80-column terminal (the rendering lives in ``_render``, apart
from the data), ``explanation.to_dict()`` as JSON-ready data; :func:`conv1d.plot.draw`
draws it.

:func:`explain_stack` follows a shape through a stack of layers (a WaveNet's dilations
1, 2, ..., 512, say) and gives the stack's receptive field.

Example:
    >>> import conv1d
    >>> e = conv1d.explain(conv1d.Conv1d(256, 100, 2), (32, 35, 256))
    >>> e.reading.fix
    'x.transpose(0, 2, 1)  (PyTorch: x.permute(0, 2, 1)), or Conv1d(..., layout="NLC")'
    >>> e.output_length.value, e.output_shape, e.weight_shape
    (34, (32, 100, 34), (100, 256, 2))
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import _padding
from .._layout import channel_axis, length_axis, ncl_view
from ..dispatch import choose_algorithm
from ..errors import ConvError, shape_str
from ..layers import Conv1d, ConvTranspose1d, as_layer, generator
from ..spec import ConvSpec, as_shape
from ._data import Explanation, Formula, Reading, StackExplanation, StackStep, Term, Trace
from ._render import render, render_stack

__all__ = ["Explanation", "StackExplanation", "explain", "explain_stack"]

# Example inputs and weights above this many values are refused, with the size, before
# anything is allocated.
EXAMPLE_VALUES = 2**27

# How far the hand-made sum may be from conv1d's result, relative to the sum of |terms|
# (the summation order differs); integers must agree exactly.
_TOLERANCE = {"float16": 2e-3, "float32": 1e-5, "complex64": 1e-5, "float64": 1e-12, "complex128": 1e-12}


# str() of an explanation is its text rendering (kept apart from the data, in _render).
Explanation.__str__ = render  # type: ignore[method-assign]
StackExplanation.__str__ = render_stack  # type: ignore[method-assign]


# --------------------------------------------------------------------------- explain


def _layer_from(layer: Any, arguments: dict[str, Any], seed: int) -> Conv1d | ConvTranspose1d:
    if layer is not None:
        if arguments:
            raise ConvError(
                f"explain: give a layer or Conv1d's arguments, not both (got a layer and "
                f"{', '.join(sorted(arguments))})."
            )
        found = as_layer(layer)
        if found is not None:
            return found
        raise ConvError(
            f"explain: expected a conv1d.Conv1d or ConvTranspose1d layer, got {type(layer).__name__}."
        )
    arguments = dict(arguments)
    transposed = bool(arguments.pop("transposed", False))
    missing = [a for a in ("in_channels", "out_channels", "kernel_size") if a not in arguments]
    if missing:
        raise ConvError(
            f"explain: without a layer, give Conv1d's arguments; missing {', '.join(missing)} "
            f"(e.g. explain(in_channels=256, out_channels=100, kernel_size=2, input_shape=(32, 256, 35)))."
        )
    cls = ConvTranspose1d if transposed else Conv1d
    try:  # (the layer checks the arguments themselves)
        count = int(arguments["out_channels"]) * int(arguments["in_channels"]) * int(arguments["kernel_size"])
    except (TypeError, ValueError):
        count = 0
    if count > EXAMPLE_VALUES:
        raise ConvError(
            f"explain: example weights for {arguments['out_channels']} x {arguments['in_channels']} channels "
            f"and {arguments['kernel_size']} taps would take {count * 4 / 2**30:.1f} GiB; explain a smaller "
            f"layer (the formulas and the traced element read the same way)."
        )
    return cls(**arguments, rng=seed)


def _read(layer: Conv1d | ConvTranspose1d, given: tuple[int, ...]) -> Reading:
    """Name the axes; when the channel axis does not hold in_channels but another does, say
    which transpose (or layout) fixes it and explain the fixed shape."""
    c_in, layout = layer.in_channels, layer.layout
    if len(given) not in (2, 3):
        return Reading(given, given, len(given) == 3, layout, {})  # the spec's error says the rest
    batched = len(given) == 3
    c_axis, l_axis = channel_axis(layout, batched), length_axis(layout, batched)
    shape, problem, fix = given, None, None
    if given[c_axis] != c_in and given[l_axis] == c_in:
        shape = list(given)
        shape[c_axis], shape[l_axis] = given[l_axis], given[c_axis]
        shape = tuple(shape)
        order = "(N, L, C)" if layout == "NCL" else "(N, C, L)"
        problem = (
            f"axis {c_axis} holds {given[c_axis]} but in_channels is {c_in}; axis {l_axis} holds {c_in}: the "
            f"input looks {'channels-last' if layout == 'NCL' else 'channels-first'} {order if batched else order.replace('N, ', '')}"
            + (", as an embedding layer returns it" if layout == "NCL" else "")
        )
        perm = "0, 2, 1" if batched else "1, 0"
        other = "NLC" if layout == "NCL" else "NCL"
        fix = f'x.transpose({perm})  (PyTorch: x.permute({perm})), or Conv1d(..., layout="{other}")'
    names = ("N", "C_in", "L_in") if layout == "NCL" else ("N", "L_in", "C_in")
    names = names if batched else names[1:]
    return Reading(given, shape, batched, layout, dict(zip(names, shape)), problem, fix)


def _spec(layer: Conv1d | ConvTranspose1d, shape: tuple[int, ...]) -> ConvSpec:
    return layer._spec(shape, layer.weight.dtype)


def _padding_note(spec: ConvSpec, padding: Any) -> str:
    left, right = spec.pad_left, spec.pad_right
    if spec.transposed:
        return f"padding={left} crops {left} sample(s) from each end of the full output" + (
            f"; output_padding={spec.output_padding} adds samples at the end" if spec.output_padding else ""
        )
    span = spec.span
    if padding == "causal":
        return f"'causal': all dilation*(K-1) = {span - 1} on the left, so y[t] sees x[..t] only"
    if padding == "same":
        if spec.stride == 1:
            return (
                f"'same': total dilation*(K-1) = {span - 1}, split {left} left and {right} right "
                "(the odd sample goes right, as PyTorch)"
            )
        lo = -(-spec.l_in // spec.stride)
        return (
            f"'same' with stride {spec.stride}: L_out = ceil(L_in/stride) = {lo}; total "
            f"(L_out-1)*stride + span - L_in = {left + right}, split {left} left and {right} right"
        )
    if padding == "valid":
        return "'valid': no padding"
    mode = "" if spec.padding_mode == "zeros" else f" ({spec.padding_mode})"
    return f"{left} on the left, {right} on the right{mode}"


def _length_formula(spec: ConvSpec) -> Formula:
    s, d, k = spec.stride, spec.dilation, spec.k
    if spec.transposed:
        symbols = "L_out = (L_in - 1)*stride - 2*padding + dilation*(K - 1) + output_padding + 1"
        numbers = (
            f"      = ({spec.l_in} - 1)*{s} - 2*{spec.pad_left} + {d}*({k} - 1) + "
            f"{spec.output_padding} + 1 = {spec.l_out}"
        )
        return Formula(symbols, numbers, spec.l_out)
    symbols = "L_out = floor((L_in + left + right - dilation*(K - 1) - 1) / stride) + 1"
    numbers = (
        f"      = floor(({spec.l_in} + {spec.pad_left} + {spec.pad_right} - {d}*({k} - 1) - 1) / {s}) + 1"
        f" = {spec.l_out}"
    )
    return Formula(symbols, numbers, spec.l_out)


def _element(spec: ConvSpec, element: Any) -> tuple[int, int, int] | None:
    """(n, o, t) checked against the output shape (N, C_out, L_out); None (no element to
    trace) when the output is empty and none was asked for."""
    empty = min(spec.n, spec.c_out, spec.l_out) == 0
    if element is None:
        return None if empty else (0, 0, 0)
    index = as_shape("explain", "element", element)
    if not spec.batched and len(index) == 2:
        index = (0, *index)
    bounds = (spec.n, spec.c_out, spec.l_out)
    if len(index) != 3 or any(not 0 <= i < b for i, b in zip(index, bounds)):
        raise ConvError(
            f"explain: element must be (n, o, t) inside the output's (N, C_out, L_out) = "
            f"{shape_str(bounds)}, got {tuple(index)}."
        )
    return index  # type: ignore[return-value]


def _example_input(spec: ConvSpec, seed: int, dtype: np.dtype) -> np.ndarray:
    """Small whole numbers (-3..3): products a reader can check in their head."""
    count = math.prod(spec.input_shape)
    if count > EXAMPLE_VALUES:
        raise ConvError(
            f"explain: an example input of shape {spec.input_shape} would take "
            f"{count * dtype.itemsize / 2**30:.1f} GiB; explain a shorter input (the formulas and "
            f"the traced element read the same way), or pass your own array as input=."
        )
    values = np.random.default_rng(seed).integers(-3, 4, spec.input_shape)
    return values.astype(dtype)


def _scalar(v: Any) -> float | complex:
    v = np.asarray(v).item()
    return v


def _trace(
    layer: Conv1d | ConvTranspose1d, spec: ConvSpec, x: np.ndarray, element: tuple[int, int, int], values: str
) -> Trace:
    n, o, t = element
    y = layer(x)
    xn, yn = ncl_view(x, spec.layout, spec.batched), ncl_view(y, spec.layout, spec.batched)
    w, b = layer.weight, layer.bias
    g = o // spec.c_out_per_group
    first = g * spec.c_in_per_group
    channels = range(first, first + spec.c_in_per_group)
    terms: list[Term] = []
    if spec.transposed:
        # y[o, u] += x[c, i] * w[c, o', j] wherever i*stride + j*dilation - padding == u
        o_local = o - g * spec.c_out_per_group
        for c in channels:
            for j in range(spec.k):
                reach = t + spec.pad_left - j * spec.dilation
                if reach % spec.stride or not 0 <= reach // spec.stride < spec.l_in:
                    continue
                i = reach // spec.stride
                xv, wv = _scalar(xn[n, c, i]), _scalar(w[c, o_local, j])
                terms.append(Term(c, j, i, i, "input", xv, (c, o_local, j), wv, xv * wv))
        window = (t + spec.pad_left - spec.span + 1, t + spec.pad_left)
    else:
        source = (
            _padding.source_indices(spec.l_in, spec.pad_left, spec.pad_right, spec.padding_mode)
            if spec.padding_mode != "zeros"
            else None
        )
        for c in channels:
            for j in range(spec.k):
                p = t * spec.stride + j * spec.dilation  # position in the padded input
                i = p - spec.pad_left
                c_local = c - first
                wv = _scalar(w[o, c_local, j])
                if 0 <= i < spec.l_in:
                    xv, where, label = _scalar(xn[n, c, i]), i, "input"
                elif source is None:
                    xv, where, label = 0.0, -1, "zero padding"
                else:
                    where = int(source[p])
                    xv, label = _scalar(xn[n, c, where]), f"{spec.padding_mode} padding (x[..., {where}])"
                terms.append(Term(c, j, where, p, label, xv, (o, c_local, j), wv, xv * wv))
        window = (t * spec.stride, t * spec.stride + spec.span - 1)
    bias = None if b is None else _scalar(b[o])
    total = sum((term.product for term in terms), 0.0) + (bias or 0.0)
    computed = _scalar(yn[n, o, t])
    scale = max(1.0, sum(abs(term.product) for term in terms) + abs(bias or 0.0))
    matches = abs(total - computed) <= _TOLERANCE.get(y.dtype.name, 0.0) * scale
    return Trace(
        (n, o, t),
        g,
        (first, first + spec.c_in_per_group - 1),
        window,
        tuple(terms),
        bias,
        total,
        computed,
        bool(matches),
        values,
    )


def explain(
    layer: Any = None,
    input_shape: Any = None,
    *,
    element: Any = None,
    input: Any = None,
    seed: int = 0,
    **arguments: Any,
) -> Explanation:
    """Explain a Conv1d (or ConvTranspose1d) on an input shape, with numbers.

    Args:
        layer: a :class:`conv1d.Conv1d` / :class:`conv1d.ConvTranspose1d` (or a torch
            module, converted), or None and Conv1d's arguments as keywords
            (``in_channels=256, out_channels=100, kernel_size=2, ...``; add
            ``transposed=True`` for ConvTranspose1d's).
        input_shape: the input's shape, as you have it: (N, C_in, L), (C_in, L), or
            channels-last. If the channels sit on the other axis the explanation says so,
            gives the fix and explains the fixed shape.
        element: the output element (n, o, t) to work out by hand (default (0, 0, 0)).
        input: your input array (then ``input_shape`` may be omitted); otherwise a seeded
            example of small whole numbers is used.
        seed: seeds the example input (and the weights, when built from arguments).

    Shape errors that no transpose explains are raised as the layer would raise them.
    """
    generator("explain", seed, "seed")  # a seed the example input can use
    layer = _layer_from(layer, arguments, seed)
    if input is not None:
        x = np.asarray(input)
        input_shape = x.shape if input_shape is None else input_shape
    if input_shape is None:
        raise ConvError("explain: give input_shape (e.g. (32, 256, 35)) or an input array.")
    given = as_shape("explain", "input_shape", input_shape)
    reading = _read(layer, given)
    spec = _spec(layer, reading.shape)
    index = _element(spec, element)
    if input is not None:
        x = np.asarray(input, dtype=layer.weight.dtype)
        if reading.shape != given:
            x = x.swapaxes(-1, -2)
        values = "your input and the layer's weights"
    else:
        x = _example_input(spec, seed, layer.weight.dtype)
        values = f"an example input of whole numbers -3..3 (seed {seed}) and the layer's weights"
    trace = None if index is None else _trace(layer, spec, x, index, values)
    plan = choose_algorithm(spec, layer.algorithm)
    weight_note = (
        f"(C_in, C_out/groups, K) = ({spec.c_in}, {spec.c_out}/{spec.groups}, {spec.k}): each of the "
        f"{spec.c_in} input channels spreads over {spec.c_out_per_group} output channel(s) x {spec.k} taps"
        if spec.transposed
        else f"(C_out, C_in/groups, K) = ({spec.c_out}, {spec.c_in}/{spec.groups}, {spec.k}): {spec.c_out} filters, "
        f"each {spec.c_in_per_group} channel(s) x {spec.k} taps"
    )
    if spec.transposed:
        macs = spec.n * spec.c_in * spec.l_in * spec.c_out_per_group * spec.k
        rf = _receptive_field([spec])
        rf_note = (
            f"an output sums inputs i with i*stride + j*dilation - padding = its position: at "
            f"most {rf} consecutive input samples (span {spec.span} / stride {spec.stride})"
        )
    else:
        macs = spec.n * spec.c_out * spec.l_out * spec.c_in_per_group * spec.k
        rf = spec.span
        rf_note = f"dilation*(K - 1) + 1 = {spec.dilation}*({spec.k} - 1) + 1 = {rf} input samples per output"
    return Explanation(
        layer=repr(layer),
        transposed=spec.transposed,
        reading=reading,
        padding=(spec.pad_left, spec.pad_right),
        padding_note=_padding_note(spec, spec.padding),
        output_length=_length_formula(spec),
        output_shape=spec.output_shape,
        weight_shape=tuple(layer.weight.shape),
        weight_note=weight_note,
        bias_shape=None if layer.bias is None else tuple(layer.bias.shape),
        parameters=int(layer.weight.size + (0 if layer.bias is None else layer.bias.size)),
        multiply_adds=int(macs),
        receptive_field=int(rf),
        receptive_field_note=rf_note,
        trace=trace,
        algorithm=plan.algorithm.value,
        algorithm_reason=plan.reason,
        estimates_ms={a.value: (s * 1e3 if math.isfinite(s) else None) for a, s in plan.seconds.items()},
        algorithm_source=plan.source,
        measured_ms={a.value: s * 1e3 for a, s in plan.measured.items()},
        spec=spec,
        example_input=ncl_view(x, spec.layout, spec.batched),
        weights=layer.weight.copy(),
    )


# --------------------------------------------------------------------------- stacks


def _inputs_of(spec: ConvSpec, outputs: np.ndarray) -> np.ndarray:
    """The input positions (padding counted as positions) that ``outputs`` depend on."""
    taps = np.arange(spec.k) * spec.dilation
    if spec.transposed:  # output u reads input i when i*stride + j*dilation - padding == u
        reach = (outputs[:, None] + spec.pad_left - taps).ravel()
        return np.unique(reach[reach % spec.stride == 0] // spec.stride)
    return np.unique((outputs[:, None] * spec.stride - spec.pad_left + taps).ravel())


def _receptive_field(specs: list[ConvSpec]) -> int:
    """How far apart the first and last input samples one output depends on can be
    (max - min + 1 of the exact set, so dilation's gaps count, as they do for a span),
    maximised over one period of output positions far from the edges."""
    period = math.prod(spec.stride for spec in specs)
    widest = 0
    for t in range(min(period, 256)):
        positions = np.array([10**9 + t])
        for spec in reversed(specs):
            positions = _inputs_of(spec, positions)
        if positions.size:
            widest = max(widest, int(positions[-1] - positions[0] + 1))
    return widest


def explain_stack(layers: Any, input_shape: Any) -> StackExplanation:
    """Shapes through a stack of layers, and how many input samples one output sees.

    ``layers``: Conv1d / ConvTranspose1d layers in order, conv1d's or ``torch.nn``'s (a
    ``torch.nn.Sequential`` too); other entries, such as elementwise functions, are skipped:
    they change neither shape nor receptive field.

    Example (WaveNet's dilations, kernel 2, causal):
        >>> import conv1d
        >>> stack = [conv1d.Conv1d(16, 16, 2, dilation=2**i, padding='causal') for i in range(10)]
        >>> conv1d.explain_stack(stack, (1, 16, 4096)).receptive_field
        1024
    """
    convs = [conv for conv in map(as_layer, layers) if conv is not None]
    if not convs:
        raise ConvError("explain_stack: give at least one Conv1d or ConvTranspose1d layer.")
    shape = as_shape("explain_stack", "input_shape", input_shape)
    specs, steps_shapes = [], []
    for layer in convs:
        spec = _spec(layer, shape)
        specs.append(spec)
        steps_shapes.append((shape, spec.output_shape))
        shape = spec.output_shape
    steps = []
    for depth in range(len(specs)):
        (before, after), layer = steps_shapes[depth], convs[depth]
        steps.append(
            StackStep(repr(layer), before, after, specs[depth].span, _receptive_field(specs[: depth + 1]))
        )
    return StackExplanation(tuple(steps), steps[-1].receptive_field)
