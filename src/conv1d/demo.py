"""The two classic tutorials, replayed with conv1d (``conv1d demo``)."""

from __future__ import annotations

import textwrap

import numpy as np

from .errors import ConvError
from .layers import Conv1d
from .spec import output_length


def _fmt(v: float) -> str:
    return f"{v:+.4f}"


def text_cnn() -> list[str]:
    """Tutorial 1: Conv1d(256, 100, 2) over a (32, 35, 256) batch of word embeddings."""
    out = ["== Tutorial 1: a text CNN ==", ""]
    conv = Conv1d(in_channels=256, out_channels=100, kernel_size=2, rng=0)
    x = np.random.default_rng(1).standard_normal((32, 35, 256)).astype(np.float32)
    out += [
        ">>> conv = conv1d.Conv1d(in_channels=256, out_channels=100, kernel_size=2)",
        ">>> x.shape              # 32 sentences, 35 words, 256-dim embeddings",
        f"{x.shape}",
        ">>> conv(x)",
    ]
    try:
        conv(x)
        raise AssertionError("the untransposed batch must not convolve")  # pragma: no cover
    except ConvError as error:
        out += textwrap.wrap(f"ConvError: {error}", 80, subsequent_indent="  ") + [""]
    y = conv(x.transpose(0, 2, 1))
    out += [
        "Conv1d wants channels (the embedding) on axis 1 and slides along axis 2 (words):",
        ">>> conv(x.transpose(0, 2, 1)).shape",
        f"{y.shape}",
        "",
        "Why 34? L_out = floor((L_in + 2*padding - dilation*(K-1) - 1) / stride) + 1",
        f"           = floor((35 + 2*0 - 1*(2-1) - 1) / 1) + 1 = {output_length(35, 2)}",
        "Each output position sees K = 2 neighbouring words: 35 words give 34 word pairs.",
        "",
        "Or keep the data as it is and say that channels come last:",
        ">>> conv1d.Conv1d(256, 100, 2, layout='NLC')(x).shape",
        f"{Conv1d(256, 100, 2, layout='NLC', rng=0)(x).shape}",
    ]
    return out


def interactive() -> list[str]:
    """Tutorial 2: Conv1d(2, 3, 5) on (4, 2, 6), one output element by hand."""
    conv = Conv1d(2, 3, 5, rng=0)
    x = np.random.default_rng(2).standard_normal((4, 2, 6)).astype(np.float32)
    y = conv(x)
    w, b = conv.weight, conv.bias
    out = [
        "== Tutorial 2: what does Conv1d(2, 3, 5) compute? ==",
        "",
        ">>> conv = conv1d.Conv1d(2, 3, 5)",
        ">>> conv.weight.shape, conv.bias.shape",
        f"({w.shape}, {b.shape})",
        "weight is (out_channels, in_channels, kernel_size): a 2x5 filter per output.",
        f">>> conv(x).shape        # x.shape = {x.shape}",
        f"{y.shape}",
        f"Output length = input length - kernel size + 1 = 6 - 5 + 1 = {y.shape[2]}.",
        "",
    ]
    for t in (0, 1):
        a = float(x[0, 0, t : t + 5] @ w[0, 0])
        c = float(x[0, 1, t : t + 5] @ w[0, 1])
        total = a + c + float(b[0])
        out += [
            f"y[0,0,{t}] = x[0,0,{t}:{t + 5}] @ w[0,0] + x[0,1,{t}:{t + 5}] @ w[0,1] + b[0]",
            f"         = {_fmt(a)} {_fmt(c)} {_fmt(float(b[0]))} = {_fmt(total)}",
            f"conv(x)[0,0,{t}]        = {_fmt(float(y[0, 0, t]))}"
            f"   ({'equal' if np.isclose(total, y[0, 0, t], atol=1e-5) else 'DIFFERENT'})",
        ]
    out += ["", "No flip: this is cross-correlation, the kernel slides as written."]
    return out


def picture(path: str) -> list[str]:
    """Tutorial 2's y[0,0,0] as a picture of the sliding window (needs matplotlib)."""
    from .explanation import explain

    conv = Conv1d(2, 3, 5, rng=0)
    x = np.random.default_rng(2).standard_normal((4, 2, 6)).astype(np.float32)
    e = explain(conv, input=x, element=(0, 0, 0))
    try:
        from .plot import draw

        written = draw(e, path)
    except ConvError as error:  # no matplotlib: say how to get the picture
        return ["", f"(No picture: {error})"]
    return [
        "",
        f"The window of y[0,0,0], drawn: {written.resolve()}",
        "(the input cells the window reads in red, the filter's taps under them in blue;",
        " `conv1d explain --help` draws any configuration of yours)",
    ]


def run(plot: str | None = None) -> str:
    """Both tutorials as text; with ``plot``, also write the picture there and say where."""
    lines = text_cnn() + [""] + interactive()
    if plot:
        lines += picture(plot)
    return "\n".join(lines) + "\n"
