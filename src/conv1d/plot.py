"""The picture of an :class:`~conv1d.explanation.Explanation`: the sliding window, drawn.

Three bands share one horizontal axis, the (padded) input positions:

- the input, channels x positions, with padding cells hatched (and, for reflect /
  replicate / circular, the input position they copy);
- the kernel of the chosen output channel, each tap drawn under the input column it
  multiplies (dilated taps leave gaps), with its weight;
- the output, with the chosen element highlighted and connected to its taps; each output
  position sits under the centre of its window, so stride spreads the outputs apart.

For a transposed convolution the roles swap: the input samples that reach the chosen
output element are highlighted, and lines show which tap carries each one there.

Needs matplotlib (``pip install 'conv1d[plot]'``); nothing else in conv1d imports it.
Large layers are cropped to the channels and positions around the chosen element, and the
picture says what it left out.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from . import _padding
from .errors import ConvError
from .explanation import Explanation

__all__ = ["draw"]

_MAX_ROWS = 8  # channels shown per band
_MARGIN = 6  # positions shown either side of the window when the input is long
_PAD = "#d9d9d9"
_HIGHLIGHT = "#d62728"
_TAP = "#1f77b4"


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - depends on the environment
        raise ConvError(
            "plot: drawing needs matplotlib; install it with pip install 'conv1d[plot]'."
        ) from None
    return plt


def _rows(first: int, count: int, focus: int) -> list[int]:
    """At most _MAX_ROWS channel indices of ``first..first+count-1``, including ``focus``."""
    if count <= _MAX_ROWS:
        return list(range(first, first + count))
    start = min(max(focus - _MAX_ROWS // 2, first), first + count - _MAX_ROWS)
    return list(range(start, start + _MAX_ROWS))


def _fmt(v: Any) -> str:
    if isinstance(v, complex):
        return f"{v.real:.2g}{v.imag:+.2g}j"
    v = float(v)
    return f"{v:.0f}" if v == int(v) and abs(v) < 1000 else f"{v:.2g}"


class _Canvas:
    """Cells on a grid: x is a column, y a row (going down); text in 7-point type."""

    def __init__(self, plt: Any, columns: int, rows: float) -> None:
        self.plt = plt
        width = min(3.0 + 0.5 * max(columns, 8), 24.0)
        self.fig, self.ax = plt.subplots(figsize=(width, 1.6 + 0.42 * rows))
        self.columns = columns

    def cell(
        self,
        x: float,
        y: float,
        text: str,
        face: str = "white",
        edge: str = "#888888",
        lw: float = 0.6,
        hatch: str | None = None,
    ) -> None:
        self.ax.add_patch(
            self.plt.Rectangle((x - 0.5, y - 0.5), 1, 1, facecolor=face, edgecolor=edge, lw=lw, hatch=hatch)
        )
        if text:
            self.ax.text(x, y, text, ha="center", va="center", fontsize=7)

    def label(self, y: float, text: str, bold: bool = False) -> None:
        self.ax.text(
            -0.8,
            y,
            text,
            ha="right",
            va="center",
            fontsize=8 if bold else 7,
            weight="bold" if bold else "normal",
        )

    def line(self, x0: float, y0: float, x1: float, y1: float) -> None:
        self.ax.plot([x0, x1], [y0, y1], color=_HIGHLIGHT, lw=0.6, alpha=0.6)

    def save(self, path: Path, title: str, notes: list[str], bottom: float) -> None:
        ax = self.ax
        ax.set_title(title, fontsize=9)
        if notes:
            text = "\n".join(textwrap.wrap("; ".join(notes), max(40, int(self.columns * 3.2))))
            ax.text(0, bottom + 0.2, text, fontsize=7, color="#555555", va="top")
        ax.set_xlim(-6.5, self.columns + 0.5)
        ax.set_ylim(bottom - 0.8, 1.8)
        ax.set_aspect("equal")
        ax.axis("off")
        self.fig.tight_layout()
        self.fig.savefig(path, dpi=110)
        self.plt.close(self.fig)


def _slots(taps: list[int], window: tuple[int, int], total: int) -> list[int | None]:
    """The padded positions to draw, left to right; None marks a gap. A short window is
    shown whole with _MARGIN either side; a long (dilated) one as a few columns around
    each tap and around its centre."""
    lo, hi = window
    if hi - lo + 1 <= 40:
        return list(_window(lo, hi, total))
    centre = (lo + hi) // 2
    keep = sorted({c for p in [*taps, centre, centre + 1] for c in range(p - 2, p + 3) if 0 <= c < total})
    slots: list[int | None] = []
    for c in keep:
        if slots and slots[-1] is not None and c != slots[-1] + 1:
            slots.append(None)
        slots.append(c)
    return slots


def _at(xs: dict[int, int], position: float) -> float | None:
    """Where a (possibly half-integer) padded position is drawn, or None if not shown."""
    whole = int(np.floor(position))
    if position == whole:
        return xs.get(whole)
    if whole in xs and xs.get(whole + 1) == xs[whole] + 1:
        return xs[whole] + 0.5
    return None


def _window(lo: int, hi: int, total: int) -> list[int]:
    """Columns to show: all of them when few, else the window and _MARGIN either side."""
    if total <= hi - lo + 1 + 3 * _MARGIN:
        return list(range(total))
    return list(range(max(0, lo - _MARGIN), min(total, hi + _MARGIN + 1)))


def check_path(path: str | Path) -> Path:
    """``path`` as a place a picture can be written: its folder exists and its suffix names
    a format matplotlib writes; otherwise a :class:`ConvError` saying what to change
    (checked before any drawing, or any explaining, is done)."""
    path = Path(path)
    if not path.parent.is_dir():
        raise ConvError(
            f"plot: the folder {str(path.parent)!r} of {str(path)!r} does not exist; create it first or "
            f"write the picture elsewhere (e.g. {path.name!r} here)."
        )
    plt = _pyplot()
    formats = plt.figure().canvas.get_supported_filetypes()
    plt.close("all")
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in formats:
        raise ConvError(
            f"plot: cannot write a picture as {str(path)!r}: the suffix must name a format, one of "
            f"{', '.join('.' + f for f in sorted(formats))} (e.g. {path.stem or 'picture'}.png)."
        )
    return path


def draw(e: Explanation, path: str | Path) -> Path:
    """Draw ``e`` into ``path`` (PNG, SVG or PDF, by its suffix); returns the path."""
    path = check_path(path)
    if e.trace is None or e.spec is None or e.example_input is None:
        raise ConvError("plot: this explanation has no element trace to draw.")
    (_draw_transposed if e.spec.transposed else _draw_conv)(_pyplot(), e, path)
    return path


def _title(e: Explanation) -> str:
    spec, tr = e.spec, e.trace
    n, o, t = tr.element
    bias = "" if tr.bias is None else f" + b[{o}] ({_fmt(tr.bias)})"
    title = (
        f"{e.layer}\ninput {tuple(e.reading.shape)} -> output {e.output_shape}\n"
        f"y[{n}, {o}, {t}] = sum of {len(tr.terms)} products{bias} = {_fmt(tr.total)}"
    )
    if spec.dilation > 1 or spec.stride > 1 or spec.groups > 1:
        title += f";  stride {spec.stride}, dilation {spec.dilation}, groups {spec.groups} (group {tr.group})"
    return title


def _notes(e: Explanation, in_rows: list[int], out_rows: list[int], cols: list[int], total: int) -> list[str]:
    tr, spec = e.trace, e.spec
    read = tr.channels[1] - tr.channels[0] + 1
    notes = []
    if len(in_rows) < read:
        notes.append(f"showing {len(in_rows)} of the {read} input channels the element reads")
    if len(out_rows) < spec.c_out:
        notes.append(f"{len(out_rows)} of {spec.c_out} output channels")
    if len(cols) < total:
        contiguous = cols[-1] - cols[0] + 1 == len(cols)
        notes.append(
            f"positions {cols[0]}..{cols[-1]} of {total}"
            if contiguous
            else f"{len(cols)} of {total} positions, around the taps (... marks gaps)"
        )
    return notes


def _draw_conv(plt: Any, e: Explanation, path: Path) -> None:
    """Columns are padded-input positions; output u sits under the centre of its window."""
    spec, tr, x = e.spec, e.trace, e.example_input
    n, o, t = tr.element
    taps = sorted({term.padded_position for term in tr.terms}) or [tr.window[0]]
    slots = _slots(taps, tr.window, spec.l_pad)
    cols = [c for c in slots if c is not None]
    xs = {c: i for i, c in enumerate(slots) if c is not None}
    in_rows = _rows(tr.channels[0], tr.channels[1] - tr.channels[0] + 1, tr.channels[0])
    out_rows = _rows(0, spec.c_out, o)
    canvas = _Canvas(plt, len(slots), 2 * len(in_rows) + len(out_rows) + 4)
    for i, c in enumerate(slots):
        if c is None:  # a gap in a long (dilated) window
            canvas.ax.text(i, -(len(in_rows) - 1) / 2, "...", ha="center", va="center", fontsize=9)
    terms = {(term.channel, term.padded_position): term for term in tr.terms}
    source = (
        None
        if spec.padding_mode == "zeros"
        else _padding.source_indices(spec.l_in, spec.pad_left, spec.pad_right, spec.padding_mode)
    )
    padded = " (padded)" if spec.pad_left or spec.pad_right else ""
    canvas.label(0.9, f"input x[{n}]{padded}", bold=True)
    for col in cols:
        canvas.ax.text(xs[col], 0.8, str(col - spec.pad_left), ha="center", fontsize=6, color="#555555")
    for r, c in enumerate(in_rows):
        canvas.label(-r, f"c={c}")
        for col in cols:
            i = col - spec.pad_left
            inside = 0 <= i < spec.l_in
            value = x[n, c, i] if inside else (0 if source is None else x[n, c, source[col]])
            used = (c, col) in terms
            canvas.cell(
                xs[col],
                -r,
                _fmt(value),
                "white" if inside else _PAD,
                _HIGHLIGHT if used else "#888888",
                2.0 if used else 0.6,
                None if inside else "//",
            )
    y = -len(in_rows) - 1.2
    canvas.label(y + 0.9, f"weight w[{o}, :, j]", bold=True)
    for r, c in enumerate(in_rows):
        for (tc, col), term in terms.items():
            if tc == c and col in xs:
                canvas.cell(xs[col], y - r, _fmt(term.weight_value), "#dbe9f6", _TAP, 1.2)
                canvas.ax.text(
                    xs[col] + 0.45, y - r + 0.38, f"j{term.tap}", fontsize=5, color=_TAP, ha="right"
                )
    kernel_bottom = y - len(in_rows) + 0.5
    y = y - len(in_rows) - 1.2
    canvas.label(y + 0.9, f"output y[{n}]", bold=True)
    target = None
    for r, oc in enumerate(out_rows):
        canvas.label(y - r, f"o={oc}")
        for u in range(spec.l_out):
            xpos = _at(xs, u * spec.stride + (spec.span - 1) / 2)
            if xpos is not None:
                chosen = oc == o and u == t
                canvas.cell(
                    xpos,
                    y - r,
                    _fmt(tr.computed) if chosen else "",
                    "#fde0dd" if chosen else "#f7f7f7",
                    _HIGHLIGHT if chosen else "#bbbbbb",
                    2.0 if chosen else 0.5,
                )
                if chosen:
                    target = (xpos, y - r + 0.5)
    if target is not None:
        for c, col in terms:
            if col in xs and c == in_rows[-1]:
                canvas.line(xs[col], kernel_bottom, *target)
    bottom = y - len(out_rows)
    canvas.save(path, _title(e), _notes(e, in_rows, out_rows, cols, spec.l_pad), bottom)


def _draw_transposed(plt: Any, e: Explanation, path: Path) -> None:
    """Columns are positions of the full (uncropped) output: input i sits at i*stride, and
    each contributing input's kernel is drawn where it lands, i*stride + j*dilation."""
    spec, tr, x = e.spec, e.trace, e.example_input
    n, o, t = tr.element
    full = (spec.l_in - 1) * spec.stride + spec.span + spec.output_padding
    q_target = t + spec.pad_left
    cols = _window(q_target - spec.span + 1, q_target, max(full, q_target + 1))
    xs = {c: i for i, c in enumerate(cols)}
    in_rows = _rows(tr.channels[0], tr.channels[1] - tr.channels[0] + 1, tr.channels[0])
    out_rows = _rows(0, spec.c_out, o)
    pairs = [(term.channel, term.position) for term in tr.terms if term.channel in in_rows]
    canvas = _Canvas(plt, len(cols), len(in_rows) + len(pairs) + len(out_rows) + 4)
    canvas.label(0.9, f"input x[{n}] (at i*stride)", bold=True)
    for r, c in enumerate(in_rows):
        canvas.label(-r, f"c={c}")
        for i in range(spec.l_in):
            q = i * spec.stride
            if q in xs:
                used = (c, i) in pairs
                canvas.cell(
                    xs[q],
                    -r,
                    _fmt(x[n, c, i]),
                    "white",
                    _HIGHLIGHT if used else "#888888",
                    2.0 if used else 0.6,
                )
                canvas.ax.text(xs[q], 0.8, f"i={i}", ha="center", fontsize=6, color="#555555")
    y = -len(in_rows) - 1.2
    o_local = o - tr.group * spec.c_out_per_group
    canvas.label(y + 0.9, f"w[c, {o_local}, :] placed by each input", bold=True)
    for r, (c, i) in enumerate(pairs):
        canvas.label(y - r, f"c={c}, i={i}")
        for j in range(spec.k):
            q = i * spec.stride + j * spec.dilation
            if q in xs:
                lands = q == q_target
                canvas.cell(
                    xs[q],
                    y - r,
                    _fmt(e.weights[c, o_local, j]),
                    "#dbe9f6" if lands else "#f4f8fc",
                    _TAP if lands else "#b8cfe6",
                    1.2 if lands else 0.5,
                )
    y = y - max(len(pairs), 1) - 1.2
    canvas.label(y + 0.9, f"output y[{n}] (hatched: cropped by padding)", bold=True)
    for r, oc in enumerate(out_rows):
        canvas.label(y - r, f"o={oc}")
        for q in cols:
            u = q - spec.pad_left
            inside = 0 <= u < spec.l_out
            chosen = oc == o and u == t
            canvas.cell(
                xs[q],
                y - r,
                _fmt(tr.computed) if chosen else "",
                "#fde0dd" if chosen else ("#f7f7f7" if inside else _PAD),
                _HIGHLIGHT if chosen else "#bbbbbb",
                2.0 if chosen else 0.5,
                None if inside else "//",
            )
    bottom = y - len(out_rows)
    canvas.save(path, _title(e), _notes(e, in_rows, out_rows, cols, max(full, q_target + 1)), bottom)
