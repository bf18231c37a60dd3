"""Text for explanations: :func:`render` and :func:`render_stack`, what ``str()`` of an
:class:`~conv1d.explanation.Explanation` or a
:class:`~conv1d.explanation.StackExplanation` prints.

Kept apart from the data: :func:`conv1d.explain` works the numbers out once, and this
text, ``to_dict()``'s JSON and :mod:`conv1d.plot`'s picture only present them.
"""

from __future__ import annotations

import textwrap
from typing import Any

from ..errors import shape_str
from ._data import Explanation, StackExplanation

WIDTH = 80
_SHOWN_TERMS = 8  # terms of an element's sum printed in the text (JSON has them all)


def _wrap(text: str, indent: int = 2, hang: int = 4) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=" " * indent, subsequent_indent=" " * hang) or [""]


def _num(v: Any) -> str:
    if isinstance(v, complex):
        return f"({v.real:.4g}{v.imag:+.4g}j)"
    if isinstance(v, float):
        return f"{v:.4g}" if v != int(v) or abs(v) >= 1e6 else f"{int(v)}"
    return str(v)


def render(e: Explanation) -> str:
    """The explanation as text, at most 80 columns wide."""
    r = e.reading
    lines = _wrap(f"{e.layer} on input {shape_str(r.given)}", 0, 2) + [""]
    lines.append("Input")
    axes = ", ".join(f"{k}={v}" for k, v in r.axes.items())
    order = ", ".join(r.axes)
    lines += _wrap(
        f"{shape_str(r.given)} read as ({order}): {axes}"
        if not r.problem
        else f"{shape_str(r.given)} does not fit: {r.problem}."
    )
    if r.fix:
        lines += _wrap(f"Fix: {r.fix}. Explained below as {shape_str(r.shape)} ({order}): {axes}.")
    if not r.batched:
        lines += _wrap("Unbatched (no N axis): treated as a batch of one.")
    lines += ["", "Padding"] + _wrap(e.padding_note)
    lines += ["", "Output length"] + _wrap(e.output_length.symbols) + _wrap(e.output_length.numbers)
    lines += ["", "Shapes"]
    lines += _wrap(f"output {shape_str(e.output_shape)}  ({', '.join(_output_axes(e))})")
    lines += _wrap(f"weight {shape_str(e.weight_shape)}  {e.weight_note}")
    if e.bias_shape is not None:
        lines += _wrap(f"bias   {shape_str(e.bias_shape)}  one per output channel")
    lines += _wrap(
        f"{e.parameters:,} parameters; {e.multiply_adds:,} multiply-adds "
        f"({2 * e.multiply_adds / 1e6:,.3g} MFLOP) per call"
    )
    lines += _wrap(f"receptive field: {e.receptive_field_note}")
    if e.trace is not None:
        lines += [""] + _render_trace(e)
    else:
        lines += ["", "One output element"] + _wrap(f"none: the output {shape_str(e.output_shape)} is empty.")
    lines += ["", "Algorithm"] + _wrap(f"{e.algorithm}: {e.algorithm_reason}")
    if e.measured_ms:
        timed = ", ".join(f"{k} {v:.3g} ms" for k, v in e.measured_ms.items())
        lines += _wrap(f"(measured on this machine: {timed})")
    costs = ", ".join(f"{k} {v:.3g} ms" if v is not None else f"{k} n/a" for k, v in e.estimates_ms.items())
    lines += _wrap(f"({e.algorithm_source}; the cost model's estimates: {costs})")
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _output_axes(e: Explanation) -> list[str]:
    names = ["N", "C_out", "L_out"] if e.reading.layout == "NCL" else ["N", "L_out", "C_out"]
    return names if e.reading.batched else names[1:]


def _render_trace(e: Explanation) -> list[str]:
    tr = e.trace
    n, o, t = tr.element
    lines = [f"One output element: y[{n}, {o}, {t}]  (indices in (N, C_out, L_out) order)"]
    if e.transposed:
        lines += _wrap(
            f"Transposed: every input sample i adds w[c, o, j] * x[c, i] at output position "
            f"i*stride + j*dilation - padding; y[{n}, {o}, {t}] collects the {len(tr.terms)} "
            f"(i, j) pairs that land on {t}, over input channels {tr.channels[0]}..{tr.channels[1]}."
        )
    else:
        lines += _wrap(
            f"Window: padded positions {tr.window[0]}..{tr.window[1]} (t*stride + j*dilation for "
            f"taps j = 0..{e.weight_shape[2] - 1}), input channels {tr.channels[0]}..{tr.channels[1]}"
            f" (group {tr.group}); padded position p is input position p - {e.padding[0]}."
        )
    lines += _wrap(f"Values: {tr.values}.")
    shown = tr.terms if len(tr.terms) <= _SHOWN_TERMS + 4 else tr.terms[:_SHOWN_TERMS]
    for term in shown:
        xi = f"x[{n}, {term.channel}, {term.position}]" if term.position >= 0 else "0 (padding)"
        if term.source not in ("input", "zero padding"):
            xi += f" ({term.source.split(' (')[0]})"
        w = "w[{}, {}, {}]".format(*term.weight_index)
        lines += _wrap(
            f"{w} * {xi} = {_num(term.weight_value)} * {_num(term.input_value)} = {_num(term.product)}", 4, 6
        )
    if len(tr.terms) > len(shown):
        rest = sum((term.product for term in tr.terms[len(shown) :]), 0.0)
        lines += _wrap(f"... {len(tr.terms) - len(shown)} more terms, adding {_num(rest)}", 4, 6)
    if not tr.terms:
        lines += _wrap("(no input sample reaches this position: only the bias)", 4, 6)
    if tr.bias is not None:
        lines += _wrap(f"+ bias b[{o}] = {_num(tr.bias)}", 4, 6)
    verdict = "equal" if tr.matches else "DIFFERENT"
    lines += _wrap(f"= {_num(tr.total)}   (conv1d computed {_num(tr.computed)}: {verdict})", 4, 6)
    return lines


def render_stack(s: StackExplanation) -> str:
    """The stack as text: each layer's shapes, span and receptive field so far."""
    lines = [f"{len(s.steps)} layers; receptive field {s.receptive_field} input samples", ""]
    for i, step in enumerate(s.steps):
        lines += _wrap(f"{i + 1}. {step.layer}", 0, 3)
        lines += _wrap(
            f"{shape_str(step.input_shape)} -> {shape_str(step.output_shape)}, span {step.span}, "
            f"receptive field so far {step.receptive_field}",
            3,
            5,
        )
    return "\n".join(lines) + "\n"
