"""explain(), explain_stack() and the picture: every number checked against the real layer.

The oracle is the layer itself: ``layer(x)`` gives the output shape and the value of the
traced element, the layer's arrays give the weight shape, parameters and term weights, and
impulses pushed through a stack of all-positive layers show which inputs an output sees.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import ConvCase, TransposedCase, conv_cases, seeds, transposed_cases

import conv1d
import conv1d.cli
from conv1d import Conv1d, ConvError, ConvTranspose1d, explain, explain_stack
from conv1d.explanation import Explanation, Formula, Reading, StackExplanation, Term, Trace

WIDTH = 80
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# How far an element's sum may be from the layer's output, relative to 1 + sum |terms| + |bias|:
# the layer sums in its own dtype and order, the trace in Python floats.
TOLERANCE = {"float32": 1e-5, "float64": 1e-12, "complex128": 1e-12}
# np.pad's names for the padding modes, an oracle independent of conv1d._padding.
NP_PAD_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}

nonempty_batches = st.one_of(st.none(), st.integers(1, 3))  # None: unbatched


# --------------------------------------------------------------------------- records and builders


@dataclass(frozen=True)
class ExplainCase:
    """A layer case, its dtype, the seed of weights and input, and the element to trace."""

    case: ConvCase | TransposedCase
    dtype: str
    seed: int
    element: tuple[int, int, int]  # (n, o, t) in (N, C_out, L_out) order
    short_element: bool  # unbatched only: pass (o, t) instead of (0, o, t)

    @property
    def transposed(self) -> bool:
        return isinstance(self.case, TransposedCase)

    @property
    def element_arg(self) -> tuple[int, ...]:
        return self.element[1:] if self.short_element else self.element


def build_layer(
    case: ConvCase | TransposedCase, dtype: Any = np.float64, seed: int = 0
) -> Conv1d | ConvTranspose1d:
    if isinstance(case, TransposedCase):
        return ConvTranspose1d(
            case.c_in,
            case.c_out,
            case.k,
            stride=case.stride,
            padding=case.padding,
            output_padding=case.output_padding,
            groups=case.groups,
            bias=case.bias,
            dilation=case.dilation,
            dtype=dtype,
            layout=case.layout,
            rng=seed,
        )
    return Conv1d(
        case.c_in,
        case.c_out,
        case.k,
        stride=case.stride,
        padding=case.padding,
        dilation=case.dilation,
        groups=case.groups,
        bias=case.bias,
        padding_mode=case.padding_mode,
        dtype=dtype,
        layout=case.layout,
        rng=seed,
    )


@st.composite
def explain_cases(
    draw: Any, transposed: bool = False, dtypes: tuple[str, ...] = ("float32", "float64")
) -> ExplainCase:
    """A valid layer on a non-empty batch (or unbatched input) and a random output element."""
    if transposed:
        case = draw(transposed_cases(batch=nonempty_batches, views=("contiguous",)))
    else:
        case = draw(conv_cases(batch=nonempty_batches, views=("contiguous",)))
    element = (
        draw(st.integers(0, (case.n or 1) - 1)),
        draw(st.integers(0, case.c_out - 1)),
        draw(st.integers(0, case.l_out - 1)),
    )
    return ExplainCase(
        case,
        draw(st.sampled_from(dtypes)),
        draw(seeds),
        element,
        short_element=case.n is None and draw(st.booleans()),
    )


def to_ncl(a: np.ndarray, layout: str, batched: bool) -> np.ndarray:
    """An input or output as the layer takes it -> (N, C, L), the order traces use."""
    a = a if batched else a[None]
    return a.transpose(0, 2, 1) if layout == "NLC" else a


def from_ncl(a: np.ndarray, layout: str, batched: bool) -> np.ndarray:
    """(N, C, L) -> the layer's layout (and without N when unbatched)."""
    a = a.transpose(0, 2, 1) if layout == "NLC" else a
    return a if batched else a[0]


def close(a: Any, b: Any, dtype: str, scale: float) -> bool:
    return abs(a - b) <= TOLERANCE[dtype] * (1.0 + scale)


def assert_trace(
    e: Explanation, layer: Conv1d | ConvTranspose1d, x: np.ndarray, element: tuple[int, int, int], what: str
) -> None:
    """The trace of ``element`` against ``layer(x)`` (x in the layer's own layout), term by term."""
    dtype = layer.weight.dtype.name
    batched = x.ndim == 3
    xn = to_ncl(x, layer.layout, batched)
    real = to_ncl(layer(x), layer.layout, batched)[element]
    tr = e.trace
    assert isinstance(tr, Trace), f"{what}: no trace"
    n, o, _ = element
    assert tr.element == element, f"{what}: traced {tr.element}, asked for {element}"
    scale = sum(abs(term.product) for term in tr.terms) + abs(tr.bias or 0)
    assert close(tr.total, real, dtype, scale), (
        f"{what}: trace total {tr.total}, layer(x){list(element)} = {real}"
    )
    assert close(tr.computed, real, dtype, 0.0), (
        f"{what}: trace.computed {tr.computed}, layer(x) gives {real}"
    )
    assert tr.matches is True, f"{what}: trace says {tr.total} != computed {tr.computed}"
    summed = (
        math.fsum(term.product for term in tr.terms)
        if "complex" not in dtype
        else sum(term.product for term in tr.terms)
    )
    summed += tr.bias if tr.bias is not None else 0
    assert close(summed, tr.total, "float64", scale), f"{what}: terms + bias = {summed}, total {tr.total}"
    expected_bias = None if layer.bias is None else layer.bias[o].item()
    assert tr.bias == expected_bias, f"{what}: trace bias {tr.bias}, layer bias {expected_bias}"

    spec = e.spec
    g = o // spec.c_out_per_group
    channels = range(g * spec.c_in_per_group, (g + 1) * spec.c_in_per_group)
    assert tr.group == g and tr.channels == (channels[0], channels[-1]), (
        f"{what}: group {tr.group} channels {tr.channels}, expected group {g} channels {channels}"
    )
    for term in tr.terms:
        label = f"{what}: {term}"
        assert isinstance(term, Term), f"{what}: terms hold {type(term).__name__}"
        assert term.channel in channels, f"{label}: channel outside group {g}"
        assert term.weight_value == layer.weight[term.weight_index].item(), (
            f"{label}: weight_value, layer.weight{list(term.weight_index)} = {layer.weight[term.weight_index]}"
        )
        assert term.product == term.input_value * term.weight_value, f"{label}: product != input * weight"
        if term.source == "input":
            assert term.input_value == xn[n, term.channel, term.position].item(), (
                f"{label}: input_value, x[{n}, {term.channel}, {term.position}] = {xn[n, term.channel, term.position]}"
            )
    if spec.transposed:
        assert_transposed_terms(tr, spec, layer, what)
    else:
        assert_conv_terms(tr, spec, xn, what)


def assert_conv_terms(tr: Trace, spec: Any, xn: np.ndarray, what: str) -> None:
    """Conv: one term per (channel of the group, tap), at padded position t*stride + j*dilation."""
    n, o, t = tr.element
    first = tr.channels[0]
    pairs = sorted((term.channel, term.tap) for term in tr.terms)
    expected = sorted(itertools.product(range(first, tr.channels[1] + 1), range(spec.k)))
    assert pairs == expected, f"{what}: terms cover (channel, tap) {pairs}, expected {expected}"
    source = None
    if spec.padding_mode != "zeros":
        source = np.pad(
            np.arange(spec.l_in), (spec.pad_left, spec.pad_right), mode=NP_PAD_MODE[spec.padding_mode]
        )
    for term in tr.terms:
        label = f"{what}: {term}"
        p = t * spec.stride + term.tap * spec.dilation
        assert term.padded_position == p, f"{label}: padded position, expected {p}"
        assert term.weight_index == (o, term.channel - first, term.tap), f"{label}: weight index"
        inside = 0 <= p - spec.pad_left < spec.l_in
        if inside:
            assert term.source == "input" and term.position == p - spec.pad_left, f"{label}: expected input"
        elif source is None:
            assert term.source == "zero padding" and term.position == -1 and term.input_value == 0, (
                f"{label}: expected zero padding"
            )
        else:
            assert term.position == source[p], f"{label}: {spec.padding_mode} copies x[{source[p]}]"
            assert spec.padding_mode in term.source, f"{label}: source should name {spec.padding_mode}"
            assert term.input_value == xn[n, term.channel, term.position].item(), f"{label}: padding value"
    assert tr.window == (t * spec.stride, t * spec.stride + spec.span - 1), f"{what}: window {tr.window}"


def assert_transposed_terms(tr: Trace, spec: Any, layer: ConvTranspose1d, what: str) -> None:
    """Transposed: exactly the (channel, i, j) with i*stride + j*dilation - padding == t."""
    _, o, t = tr.element
    o_local = o - tr.group * spec.c_out_per_group
    found = sorted((term.channel, term.position, term.tap) for term in tr.terms)
    expected = sorted(
        (c, i, j)
        for c in range(tr.channels[0], tr.channels[1] + 1)
        for i in range(spec.l_in)
        for j in range(spec.k)
        if i * spec.stride + j * spec.dilation - spec.pad_left == t
    )
    assert found == expected, f"{what}: terms (channel, i, j) {found}, expected {expected}"
    for term in tr.terms:
        assert term.source == "input" and term.weight_index == (term.channel, o_local, term.tap), (
            f"{what}: {term}: expected source 'input' and weight index {(term.channel, o_local, term.tap)}"
        )


def brute_force_multiply_adds(spec: Any) -> int:
    """Count the products of the definitions one by one (vectorised over the last loop).

    Conv: every output element sums C_in/groups * K products, padding taps included.
    Transposed: every input sample of every input channel is multiplied by each of the
    C_out/groups * K weights it scatters with, wherever the product lands (the adjoint of
    the conv above, and the usual count, e.g. fvcore's).
    """
    count = 0
    if spec.transposed:
        for _n, _c, _o in itertools.product(range(spec.n), range(spec.c_in), range(spec.c_out_per_group)):
            count += spec.l_in * spec.k
        return count
    for _n, _o, _c in itertools.product(range(spec.n), range(spec.c_out), range(spec.c_in_per_group)):
        taps = np.arange(spec.l_out)[:, None] * spec.stride + np.arange(spec.k)[None, :] * spec.dilation
        assert taps.max() < spec.l_pad, f"window {taps.max()} past the padded input {spec.l_pad}"
        count += taps.size
    return count


def evaluate_numbers(numbers: str) -> int:
    """The arithmetic of ``Formula.numbers`` ('      = floor((35 + 0 ...) / 1) + 1 = 34'), evaluated."""
    parts = [part.strip() for part in numbers.split("=")]
    assert len(parts) == 3 and parts[0] == "", f"unexpected formula text {numbers!r}"
    expression = parts[1]
    assert re.fullmatch(r"[0-9 ()+\-*/floor]+", expression), f"unexpected characters in {expression!r}"
    value = eval(expression, {"__builtins__": {}}, {"floor": math.floor})  # digits and floor only
    return int(value)


# --------------------------------------------------------------------------- 1. numbers vs the real layer


def assert_explains_layer(ec: ExplainCase) -> None:
    case = ec.case
    layer = build_layer(case, ec.dtype, ec.seed)
    rng = np.random.default_rng(ec.seed)
    x = rng.uniform(-1, 1, case.input_shape).astype(ec.dtype)
    y = layer(x)
    what = f"{layer!r} on {case.input_shape}, element {ec.element}"

    e = explain(layer, case.input_shape, element=ec.element_arg, input=x)
    assert e.reading.problem is None and e.reading.fix is None, f"{what}: {e.reading}"
    assert e.reading.shape == e.reading.given == case.input_shape, f"{what}: {e.reading}"
    assert e.reading.batched == (case.n is not None) and e.reading.layout == case.layout, (
        f"{what}: {e.reading}"
    )
    axes = {"C_in": case.c_in, "L_in": case.l_in} | ({} if case.n is None else {"N": case.n})
    assert e.reading.axes == axes, f"{what}: axes {e.reading.axes}, expected {axes}"
    assert e.transposed == ec.transposed
    l_out = y.shape[-1] if case.layout == "NCL" else y.shape[-2]
    assert e.output_length.value == l_out, f"{what}: L_out {e.output_length.value}, layer(x) has {l_out}"
    assert e.output_shape == y.shape, f"{what}: output_shape {e.output_shape}, layer(x).shape {y.shape}"
    assert e.weight_shape == layer.weight.shape, f"{what}: weight_shape {e.weight_shape}"
    bias_shape = None if layer.bias is None else layer.bias.shape
    assert e.bias_shape == bias_shape, f"{what}: bias_shape {e.bias_shape}, layer has {bias_shape}"
    parameters = sum(p.size for p in layer.parameters())
    assert e.parameters == parameters, f"{what}: parameters {e.parameters}, layer has {parameters}"
    macs = brute_force_multiply_adds(e.spec)
    assert e.multiply_adds == macs, f"{what}: multiply_adds {e.multiply_adds}, counted {macs}"
    if not ec.transposed:
        assert e.padding == case.pads, f"{what}: padding {e.padding}, expected {case.pads}"
        assert e.receptive_field == case.span, f"{what}: receptive_field {e.receptive_field}"
    assert_trace(e, layer, x, ec.element, f"{what} (your input)")

    # The default: a seeded example of whole numbers -3..3, kept in e.example_input as (N, C, L).
    d = explain(layer, case.input_shape, element=ec.element_arg, seed=ec.seed)
    example = d.example_input
    ncl = (case.n or 1, case.c_in, case.l_in)
    assert example.shape == ncl, f"{what}: example_input {example.shape}, expected {ncl}"
    assert np.all(example == np.round(example)) and np.abs(example).max() <= 3, f"{what}: example {example}"
    assert d.output_shape == e.output_shape and d.output_length == e.output_length, f"{what}: default differs"
    assert_trace(
        d, layer, from_ncl(example, case.layout, case.n is not None), ec.element, f"{what} (example)"
    )


@settings(max_examples=100, deadline=None)
@given(explain_cases())
def test_explain_conv_numbers_equal_the_layers(ec):
    assert_explains_layer(ec)


@settings(max_examples=60, deadline=None)
@given(explain_cases(transposed=True))
def test_explain_transposed_numbers_equal_the_layers(ec):
    assert_explains_layer(ec)


def test_explain_hand_checked_tutorial():
    """Conv1d(2, 3, 5) on (4, 2, 6): L_out = 6 - 5 + 1 = 2; y[0,0,1] = x[0,:,1:6] . w[0] + b[0]."""
    layer = Conv1d(2, 3, 5, rng=0, dtype=np.float64)
    x = np.arange(48, dtype=np.float64).reshape(4, 2, 6)
    e = explain(layer, input=x, element=(0, 0, 1))
    assert (e.output_length.value, e.output_shape, e.weight_shape, e.bias_shape) == (
        2,
        (4, 3, 2),
        (3, 2, 5),
        (3,),
    )
    assert e.parameters == 3 * 2 * 5 + 3 and e.multiply_adds == 4 * 3 * 2 * 2 * 5
    by_hand = float(np.sum(x[0, :, 1:6] * layer.weight[0]) + layer.bias[0])
    assert e.trace.total == pytest.approx(by_hand, rel=1e-12), f"{e.trace.total} != {by_hand}"
    assert [term.input_value for term in e.trace.terms] == [1, 2, 3, 4, 5, 7, 8, 9, 10, 11]


def test_explain_from_arguments_equals_explain_of_the_layer():
    """Conv1d's arguments as keywords build the same layer (weights seeded by ``seed``)."""
    e = explain(
        in_channels=4, out_channels=6, kernel_size=3, stride=2, groups=2, input_shape=(2, 4, 11), seed=5
    )
    layer = Conv1d(4, 6, 3, stride=2, groups=2, rng=5)
    f = explain(layer, (2, 4, 11), seed=5)
    assert e.output_shape == f.output_shape == (2, 6, 5), f"{e.output_shape}, {f.output_shape}"
    assert e.trace.total == f.trace.total and e.weight_shape == (6, 2, 3), f"{e.trace} vs {f.trace}"
    t = explain(in_channels=4, out_channels=6, kernel_size=3, stride=2, transposed=True, input_shape=(4, 5))
    assert t.transposed and t.output_shape == (6, 11) and t.weight_shape == (4, 6, 3), f"{t.output_shape}"
    with pytest.raises(ConvError, match="not both"):
        explain(layer, (2, 4, 11), in_channels=4)
    with pytest.raises(ConvError, match="missing kernel_size"):
        explain(in_channels=4, out_channels=6, input_shape=(2, 4, 11))


def test_explain_of_an_empty_batch_is_clean():
    """N = 0 is a valid input for the layer (output (0, 3, 8)); explain must either explain
    the shapes (with no element to trace) or refuse with a ConvError, not crash."""
    layer = Conv1d(2, 3, 3, rng=0)
    assert layer(np.zeros((0, 2, 10), np.float32)).shape == (0, 3, 8)
    try:
        e = explain(layer, (0, 2, 10))
    except ConvError as error:
        assert "(0, 2, 10)" in str(error) or "N" in str(error), f"unhelpful message: {error}"
    else:
        assert e.output_shape == (0, 3, 8) and e.trace is None, f"{e.output_shape}, {e.trace}"


# --------------------------------------------------------------------------- 2. the formula text


def assert_formula(e: Explanation, case: ConvCase | TransposedCase, what: str) -> None:
    f = e.output_length
    assert isinstance(f, Formula) and f.symbols.startswith("L_out = "), f"{what}: {f}"
    assert f.numbers.rstrip().endswith(f"= {f.value}"), f"{what}: {f.numbers!r} should end with '= {f.value}'"
    assert evaluate_numbers(f.numbers) == f.value, f"{what}: {f.numbers!r} does not evaluate to {f.value}"
    if isinstance(case, TransposedCase):
        p = case.padding[0] if isinstance(case.padding, tuple) else case.padding
        inner = (
            f"({case.l_in} - 1)*{case.stride} - 2*{p} + {case.dilation}*({case.k} - 1) + "
            f"{case.output_padding} + 1"
        )
    else:
        left, right = case.pads
        inner = f"floor(({case.l_in} + {left} + {right} - {case.dilation}*({case.k} - 1) - 1) / {case.stride}) + 1"
    assert inner in f.numbers, f"{what}: {f.numbers!r} should contain {inner!r}"


@settings(max_examples=50, deadline=None)
@given(st.one_of(explain_cases(dtypes=("float32",)), explain_cases(transposed=True, dtypes=("float32",))))
def test_formula_shows_your_numbers(ec):
    layer = build_layer(ec.case, ec.dtype, ec.seed)
    e = explain(layer, ec.case.input_shape)
    assert e.output_length.value == ec.case.l_out, f"{layer!r}: {e.output_length.value} != {ec.case.l_out}"
    assert_formula(e, ec.case, f"{layer!r} on {ec.case.input_shape}")


def test_formula_of_the_text_cnn():
    e = explain(Conv1d(256, 100, 2), (32, 256, 35))
    assert e.output_length.numbers.strip() == "= floor((35 + 0 + 0 - 1*(2 - 1) - 1) / 1) + 1 = 34"


# --------------------------------------------------------------------------- 3. channels on the wrong axis


def test_channels_last_batch_is_detected_and_fixed():
    layer = Conv1d(256, 100, 2, rng=0)
    e = explain(layer, (32, 35, 256))
    r = e.reading
    assert isinstance(r, Reading) and r.given == (32, 35, 256) and r.shape == (32, 256, 35), f"{r}"
    assert "axis 2" in r.problem and "channels-last" in r.problem, f"problem: {r.problem!r}"
    assert "x.transpose(0, 2, 1)" in r.fix and 'layout="NLC"' in r.fix, f"fix: {r.fix!r}"
    assert r.axes == {"N": 32, "C_in": 256, "L_in": 35}, f"{r.axes}"
    assert e.output_shape == (32, 100, 34) and e.output_length.value == 34, f"{e.output_shape}"
    assert e.weight_shape == (100, 256, 2) and e.trace.matches, f"{e.weight_shape}, {e.trace.matches}"
    text = str(e)
    assert "x.transpose(0, 2, 1)" in text and "(32, 100, 34)" in text, text


def test_channels_last_unbatched_input_is_detected_and_fixed():
    e = explain(Conv1d(256, 100, 2, rng=0), (35, 256))
    r = e.reading
    assert r.shape == (256, 35) and not r.batched, f"{r}"
    assert "axis 1" in r.problem and "channels-last" in r.problem, f"problem: {r.problem!r}"
    assert "x.transpose(1, 0)" in r.fix and 'layout="NLC"' in r.fix, f"fix: {r.fix!r}"
    assert e.output_shape == (100, 34), f"{e.output_shape}"


def test_channels_first_input_to_a_channels_last_layer_is_detected_and_fixed():
    layer = Conv1d(256, 100, 2, layout="NLC", rng=0)
    e = explain(layer, (32, 256, 35))
    r = e.reading
    assert r.shape == (32, 35, 256) and r.layout == "NLC", f"{r}"
    assert "channels-first" in r.problem, f"problem: {r.problem!r}"
    assert "x.transpose(0, 2, 1)" in r.fix and 'layout="NCL"' in r.fix, f"fix: {r.fix!r}"
    assert e.output_shape == (32, 34, 100), f"{e.output_shape}"
    u = explain(layer, (256, 35))
    assert u.reading.shape == (35, 256) and "x.transpose(1, 0)" in u.reading.fix, f"{u.reading}"
    assert u.output_shape == (34, 100), f"{u.output_shape}"


def test_channels_last_input_array_is_explained_as_the_transposed_array():
    """With input= on the wrong axes, the trace is of layer(x.transpose(0, 2, 1))."""
    layer = Conv1d(6, 4, 3, rng=1, dtype=np.float64)
    x = np.random.default_rng(2).uniform(-1, 1, (2, 9, 6))  # (N, L, C)
    e = explain(layer, input=x, element=(1, 3, 5))
    assert e.reading.fix is not None and e.output_shape == (2, 4, 7), f"{e.reading}, {e.output_shape}"
    assert_trace(e, layer, x.transpose(0, 2, 1), (1, 3, 5), "channels-last input=")


@pytest.mark.parametrize(
    "layer, shape",
    [
        (Conv1d(256, 100, 2, rng=0), (32, 35, 100)),
        (Conv1d(256, 100, 2, rng=0), (35, 100)),
        (Conv1d(256, 100, 2, layout="NLC", rng=0), (32, 100, 35)),
        (ConvTranspose1d(8, 4, 3, rng=0), (2, 5, 9)),
        (Conv1d(256, 100, 2, rng=0), (32, 35, 256, 1)),
        (Conv1d(4, 4, 5, rng=0), (2, 4, 3)),
    ],
)
def test_shapes_no_transpose_fixes_raise_the_layers_error(layer, shape):
    with pytest.raises(ConvError) as from_layer:
        layer(np.zeros(shape, layer.weight.dtype))
    with pytest.raises(ConvError) as from_explain:
        explain(layer, shape)
    assert str(from_explain.value) == str(from_layer.value), (
        f"explain says {from_explain.value!s}; the layer says {from_layer.value!s}"
    )


def test_channel_mismatch_message_names_the_numbers():
    with pytest.raises(ConvError, match=r"expects 256 input channels on axis 1.*\(32, 35, 100\)"):
        explain(Conv1d(256, 100, 2, rng=0), (32, 35, 100))


def test_element_outside_the_output_is_refused():
    layer = Conv1d(2, 3, 5, rng=0)
    for element in [(4, 0, 0), (0, 3, 0), (0, 0, 2), (0, 0), (0, 0, 0, 0)]:
        with pytest.raises(ConvError, match=r"element must be \(n, o, t\) inside .*\(4, 3, 2\)"):
            explain(layer, (4, 2, 6), element=element)


# --------------------------------------------------------------------------- 4. receptive fields of stacks


@dataclass(frozen=True)
class StackCase:
    """Conv1d layers, each (channels out, K, dilation, stride, padding), on (1, channels, length)."""

    channels: int
    layers: tuple[tuple[int, int, int, int, Any], ...]
    bias: bool

    @property
    def length(self) -> int:
        """Long enough that the middle outputs' receptive fields stay clear of both edges."""
        reach, period = 1, 1
        for _c, k, d, s, _p in self.layers:
            reach += (k - 1) * d * period
            period *= s
        return 2 * reach + 2 * period * period + 16 * period + 64


@st.composite
def stack_cases(draw: Any) -> StackCase:
    layers = []
    for _ in range(draw(st.integers(1, 4))):
        padding = draw(st.sampled_from([0, 1, (2, 0), (0, 3), "valid", "same", "causal"]))
        layers.append(
            (
                draw(st.integers(1, 2)),
                draw(st.integers(1, 4)),
                draw(st.integers(1, 3)),
                draw(st.integers(1, 2)),
                padding,
            )
        )
    return StackCase(draw(st.integers(1, 2)), tuple(layers), draw(st.booleans()))


def positive_stack(case: StackCase) -> list[Conv1d]:
    """All weights > 0 and zero bias: an output is nonzero exactly when an impulse reaches it."""
    layers, c = [], case.channels
    for i, (c_out, k, d, s, padding) in enumerate(case.layers):
        layer = Conv1d(
            c,
            c_out,
            k,
            stride=s,
            padding=padding,
            dilation=d,
            bias=case.bias,
            dtype=np.float64,
            algorithm="gemm",
            rng=i,
        )
        layer.weight[...] = np.abs(layer.weight) + 0.1
        if layer.bias is not None:
            layer.bias[...] = 0
        layers.append(layer)
        c = c_out
    return layers


def measured_receptive_field(y: np.ndarray, period: int, what: str) -> int:
    """``y[i]`` is the response to an impulse at input position i: (L_in, C, L_out). The widest
    extent (last - first + 1) of the inputs reaching outputs t0..t0+period-1 in the middle."""
    l_in, _, l_out = y.shape
    t0 = l_out // 2
    assert t0 + period <= l_out, f"{what}: output too short ({l_out}) to measure"
    widest = 0
    for t in range(t0, t0 + period):
        seen = np.nonzero(y[:, 0, t])[0]
        assert seen.size, f"{what}: no input reaches output {t}"
        assert 0 < seen[0] and seen[-1] < l_in - 1, f"{what}: output {t} sees inputs {seen}, up to an edge"
        widest = max(widest, int(seen[-1] - seen[0] + 1))
    return widest


def impulses(length: int, channels: int) -> np.ndarray:
    x = np.zeros((length, channels, length))
    x[np.arange(length), :, np.arange(length)] = 1.0
    return x


@settings(max_examples=50, deadline=None)
@given(stack_cases())
def test_stack_receptive_field_is_measured_through_the_real_stack(case):
    layers = positive_stack(case)
    shape = (1, case.channels, case.length)
    s = explain_stack(layers, shape)
    assert isinstance(s, StackExplanation) and len(s.steps) == len(layers), f"{case}: {s}"
    x, y, period = np.zeros(shape), impulses(case.length, case.channels), 1
    for depth, (layer, step) in enumerate(zip(layers, s.steps)):
        what = f"{case}, after layer {depth + 1} ({layer!r})"
        assert step.input_shape == x.shape, f"{what}: step input {step.input_shape}, real {x.shape}"
        x, y = layer(x), layer(y)
        period *= layer.stride[0]
        assert step.output_shape == x.shape, f"{what}: step output {step.output_shape}, real {x.shape}"
        span = (layer.kernel_size[0] - 1) * layer.dilation[0] + 1
        assert step.span == span and step.layer == repr(layer), f"{what}: {step}"
        measured = measured_receptive_field(y, period, what)
        assert step.receptive_field == measured, (
            f"{what}: step says {step.receptive_field}, measured {measured}"
        )
    assert s.receptive_field == s.steps[-1].receptive_field, f"{case}: {s}"


def test_wavenet_stack_receptive_field_is_1024():
    layers = [Conv1d(16, 16, 2, dilation=2**i, padding="causal", rng=i) for i in range(10)]
    s = explain_stack(layers, (1, 16, 4096))
    assert s.receptive_field == 1024, f"{s.receptive_field}"
    assert [step.receptive_field for step in s.steps] == [2 ** (i + 1) for i in range(10)], f"{s.steps}"
    x = np.zeros((1, 16, 4096), np.float32)
    for layer, step in zip(layers, s.steps):
        assert step.input_shape == x.shape, f"{step}"
        x = layer(x)
        assert step.output_shape == x.shape, f"{step}: real {x.shape}"
    text = str(s)
    assert "receptive field 1024" in text, text
    assert max(map(len, text.splitlines())) <= WIDTH, text
    data = json.loads(s.to_json())
    assert data["receptive_field"] == 1024 and len(data["steps"]) == 10, f"{data}"
    assert data["steps"][-1]["output_shape"] == [1, 16, 4096], f"{data['steps'][-1]}"


def test_stack_skips_non_layers_and_needs_one_layer():
    layer = Conv1d(2, 2, 3, dilation=2, rng=0)
    s = explain_stack([np.tanh, layer, np.tanh, layer], (1, 2, 50))
    assert len(s.steps) == 2 and s.receptive_field == 9, f"{s}"
    with pytest.raises(ConvError, match="at least one"):
        explain_stack([np.tanh], (1, 2, 50))


@pytest.mark.parametrize("k, dilation, stride", [(2, 3, 2), (4, 3, 2)])
def test_stack_receptive_field_of_a_transposed_layer(k, dilation, stride):
    """explain_stack's docstring: "how many input samples one output sees". For
    ConvTranspose1d(K=2, dilation=3, stride=2) the taps 0 and 3 land on output positions of
    different parity, so each output sees exactly 1 input sample (K=4: taps 0, 6 / 3, 9, so
    inputs i and i+3: 4 samples)."""
    layer = ConvTranspose1d(
        1, 1, k, stride=stride, dilation=dilation, bias=False, dtype=np.float64, algorithm="gemm", rng=0
    )
    layer.weight[...] = np.abs(layer.weight) + 0.1
    length = 40
    measured = measured_receptive_field(layer(impulses(length, 1)), stride, f"{layer!r}")
    s = explain_stack([layer], (1, 1, length))
    assert s.receptive_field == measured, (
        f"{layer!r}: explain_stack says {s.receptive_field}, measured {measured}"
    )


# --------------------------------------------------------------------------- 5. JSON


def assert_json_equals_dataclass(e: Explanation, what: str) -> None:
    text = e.to_json()
    data = json.loads(text, parse_constant=lambda c: pytest.fail(f"{what}: non-standard JSON constant {c}"))
    keys = {
        "layer",
        "transposed",
        "reading",
        "padding",
        "padding_note",
        "output_length",
        "output_shape",
        "weight_shape",
        "weight_note",
        "bias_shape",
        "parameters",
        "multiply_adds",
        "receptive_field",
        "trace",
        "algorithm",
        "algorithm_reason",
        "estimates_ms",
    }
    assert keys <= set(data), f"{what}: missing keys {keys - set(data)}"
    assert not {"spec", "example_input", "weights"} & set(data), f"{what}: arrays leaked into JSON"
    assert data == e.to_dict(), f"{what}: to_json and to_dict differ"

    def plain(v: Any) -> Any:
        return [v.real, v.imag] if isinstance(v, complex) else v

    assert data["output_length"] == {
        "symbols": e.output_length.symbols,
        "numbers": e.output_length.numbers,
        "value": e.output_length.value,
    }, f"{what}: {data['output_length']}"
    assert data["output_shape"] == list(e.output_shape) and data["weight_shape"] == list(e.weight_shape), what
    assert data["bias_shape"] == (None if e.bias_shape is None else list(e.bias_shape)), what
    assert data["padding"] == list(e.padding), what
    assert (data["parameters"], data["multiply_adds"], data["receptive_field"]) == (
        e.parameters,
        e.multiply_adds,
        e.receptive_field,
    ), what
    assert data["reading"]["shape"] == list(e.reading.shape) and data["reading"]["fix"] == e.reading.fix, what
    assert data["reading"]["axes"] == e.reading.axes, what
    assert data["algorithm"] == e.algorithm and set(data["estimates_ms"]) == set(e.estimates_ms), what
    tr, jt = e.trace, data["trace"]
    assert jt["element"] == list(tr.element) and jt["matches"] == tr.matches, what
    assert jt["total"] == plain(tr.total) and jt["computed"] == plain(tr.computed), what
    assert jt["bias"] == plain(tr.bias), what
    assert len(jt["terms"]) == len(tr.terms), (
        f"{what}: JSON has {len(jt['terms'])} terms, trace {len(tr.terms)}"
    )
    for jterm, term in zip(jt["terms"], tr.terms):
        assert jterm["weight_index"] == list(term.weight_index), what
        assert (jterm["input_value"], jterm["weight_value"], jterm["product"]) == (
            plain(term.input_value),
            plain(term.weight_value),
            plain(term.product),
        ), f"{what}: {jterm} vs {term}"
        assert (jterm["channel"], jterm["tap"], jterm["position"], jterm["source"]) == (
            term.channel,
            term.tap,
            term.position,
            term.source,
        ), f"{what}: {jterm} vs {term}"


@settings(max_examples=30, deadline=None)
@given(st.one_of(explain_cases(), explain_cases(transposed=True)))
def test_json_numbers_equal_the_dataclass(ec):
    layer = build_layer(ec.case, ec.dtype, ec.seed)
    assert_json_equals_dataclass(
        explain(layer, ec.case.input_shape, element=ec.element_arg), f"{layer!r} on {ec.case.input_shape}"
    )


def test_json_of_the_text_cnn():
    e = explain(Conv1d(256, 100, 2, rng=0), (32, 35, 256))
    data = json.loads(e.to_json())
    assert data["output_length"]["value"] == 34 and data["output_shape"] == [32, 100, 34], f"{data}"
    assert data["weight_shape"] == [100, 256, 2] and data["reading"]["shape"] == [32, 256, 35], f"{data}"
    assert len(data["trace"]["terms"]) == 512 and data["trace"]["matches"] is True, "all terms in JSON"
    assert json.loads(e.to_json(indent=None)) == data


@pytest.mark.parametrize("transposed", [False, True])
def test_json_of_a_complex_trace(transposed):
    rng = np.random.default_rng(3)
    if transposed:
        layer = ConvTranspose1d(2, 4, 3, stride=2, padding=1, dtype=np.complex128, rng=0)
        x = rng.uniform(-1, 1, (2, 2, 5)) + 1j * rng.uniform(-1, 1, (2, 2, 5))
        element = (1, 3, 4)
    else:
        layer = Conv1d(2, 4, 3, padding=1, padding_mode="circular", dtype=np.complex128, rng=0)
        x = rng.uniform(-1, 1, (2, 2, 5)) + 1j * rng.uniform(-1, 1, (2, 2, 5))
        element = (1, 3, 0)
    e = explain(layer, input=x, element=element)
    assert isinstance(e.trace.total, complex) and e.trace.total.imag != 0, f"{e.trace.total}"
    assert_trace(e, layer, x, element, f"complex {layer!r}")
    assert_json_equals_dataclass(e, f"complex {layer!r}")
    assert "equal" in str(e) and max(map(len, str(e).splitlines())) <= WIDTH, str(e)


def test_json_of_a_nan_input_is_strict_json():
    """NaN/inf become null (json.dumps would otherwise write the non-standard NaN)."""
    x = np.ones((1, 2, 6))
    x[0, 0, 1] = np.nan
    e = explain(Conv1d(2, 3, 3, dtype=np.float64, rng=0), input=x)
    assert math.isnan(e.trace.total), f"{e.trace.total}"
    data = json.loads(e.to_json(), parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert data["trace"]["total"] is None and data["trace"]["computed"] is None, f"{data['trace']}"


# --------------------------------------------------------------------------- 6. text


def assert_text(e: Explanation, what: str) -> None:
    text = str(e)
    long = [line for line in text.splitlines() if len(line) > WIDTH]
    assert not long, f"{what}: lines over {WIDTH} columns: {long}"
    flat = " ".join(text.split())
    assert " ".join(e.output_length.symbols.split()) in flat, f"{what}: no formula in\n{text}"
    assert " ".join(e.output_length.numbers.split()) in flat, f"{what}: no numbers in\n{text}"
    verdict = "equal" if e.trace.matches else "DIFFERENT"
    assert f"{verdict})" in flat and e.trace.matches, f"{what}: verdict\n{text}"
    assert str(e.output_shape) in text and str(e.weight_shape) in text, f"{what}: shapes in\n{text}"


@settings(max_examples=40, deadline=None)
@given(st.one_of(explain_cases(), explain_cases(transposed=True)))
def test_text_fits_80_columns(ec):
    layer = build_layer(ec.case, ec.dtype, ec.seed)
    assert_text(explain(layer, ec.case.input_shape, element=ec.element_arg), f"{layer!r}")


@pytest.mark.parametrize(
    "layer, shape, element",
    [
        (Conv1d(256, 100, 2, rng=0), (32, 35, 256), None),
        (
            Conv1d(
                256,
                512,
                7,
                stride=3,
                padding=(1000, 999),
                dilation=100,
                groups=4,
                padding_mode="replicate",
                bias=False,
                layout="NLC",
                rng=0,
            ),
            (2, 5000, 256),
            (1, 511, 1500),
        ),
        (
            Conv1d(256, 256, 3, padding="same", padding_mode="reflect", groups=256, rng=0),
            (256, 1234),
            (255, 1233),
        ),
        (Conv1d(64, 128, 2, dilation=256, padding="causal", rng=0), (1, 64, 1000), (0, 127, 999)),
        (Conv1d(12, 12, 5, stride=4, padding="same", rng=0), (3, 12, 10007), (2, 11, 2501)),
        (
            ConvTranspose1d(256, 128, 16, stride=8, padding=4, output_padding=3, groups=2, rng=0),
            (4, 256, 300),
            (3, 127, 2399),
        ),
        (
            ConvTranspose1d(512, 256, 4, stride=2, padding=1, dilation=3, layout="NLC", rng=0),
            (128, 512),
            (0, 0, 100),
        ),
    ],
)
def test_text_of_large_layers_fits_80_columns(layer, shape, element):
    e = explain(layer, shape, element=element)
    assert_text(e, f"{layer!r} on {shape}")


def test_text_of_the_text_cnn():
    text = str(explain(Conv1d(256, 100, 2, rng=0), (32, 35, 256)))
    for expected in [
        "does not fit",
        "x.transpose(0, 2, 1)",
        "= 34",
        "output (32, 100, 34)",
        "weight (100, 256, 2)",
        "bias   (100,)",
        "51,300 parameters",
        "more terms",
    ]:
        assert expected in text, f"{expected!r} not in\n{text}"


# --------------------------------------------------------------------------- 8. pictures


def assert_png(path: Any, what: str) -> None:
    assert path.exists(), f"{what}: {path} not written"
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{what}: not a PNG, starts {data[:8]!r}"
    assert len(data) > 5000, f"{what}: suspiciously small PNG ({len(data)} bytes)"


@pytest.mark.parametrize(
    "name, layer, shape, element",
    [
        ("stride2", Conv1d(2, 3, 3, stride=2, rng=0), (1, 2, 11), (0, 1, 3)),
        ("dilation3", Conv1d(2, 3, 3, dilation=3, rng=0), (1, 2, 12), (0, 0, 2)),
        (
            "same-reflect",
            Conv1d(2, 2, 4, padding="same", padding_mode="reflect", rng=0),
            (1, 2, 9),
            (0, 1, 0),
        ),
        ("groups2", Conv1d(4, 6, 3, groups=2, rng=0), (2, 4, 8), (1, 5, 2)),
        ("wide-dilation", Conv1d(64, 128, 2, dilation=256, rng=0), (1, 64, 1000), (0, 100, 500)),
        ("transposed", ConvTranspose1d(3, 2, 4, stride=2, padding=1, rng=0), (1, 3, 6), (0, 1, 5)),
        (
            "transposed-groups",
            ConvTranspose1d(4, 4, 3, stride=3, dilation=2, output_padding=1, groups=2, rng=0),
            (5, 4),
            (3, 7),
        ),
    ],
)
def test_draw_writes_a_png(tmp_path, name, layer, shape, element):
    from conv1d.plot import draw

    path = tmp_path / f"{name}.png"
    written = draw(explain(layer, shape, element=element), path)
    assert written == path, f"draw returned {written}"
    assert_png(path, f"{name}: {layer!r}")


def test_draw_writes_an_svg(tmp_path):
    from conv1d.plot import draw

    path = draw(explain(Conv1d(2, 3, 5, rng=0), (4, 2, 6), element=(0, 2, 1)), tmp_path / "window.svg")
    text = path.read_text()
    assert (text.startswith("<?xml") or "<svg" in text) and len(text) > 5000, f"not an SVG: {text[:200]!r}"


def test_demo_plot_writes_the_picture_and_says_where(tmp_path, capsys):
    path = tmp_path / "demo.png"
    assert conv1d.cli.main(["demo", "--plot", str(path)]) == 0
    out = capsys.readouterr().out
    assert_png(path, "conv1d demo --plot")
    assert str(path.resolve()) in out, f"{path} not mentioned in\n{out}"
