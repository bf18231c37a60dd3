"""Direct kernels: compiled loops (Numba), one output row per parallel task.

For depthwise and grouped convolutions with few channels per group, small inputs and
memory-bound shapes, where a matrix product has nothing to multiply: each task owns one
row ``y[n, g, o, :]`` (or ``x``/``w`` row for the gradients), starts it from the bias and
adds ``w * x`` tap by tap; the innermost loop runs along the length with unit stride
when ``stride == 1``, so LLVM vectorises it, and the row stays in cache across taps. Loops index slices with the loop counter itself:
``row[t + off]`` with a signed offset makes Numba emit a negative-index wraparound check
that stops vectorisation (measured: 85 ms -> 15 ms on the Mamba depthwise shape).
Zero padding is implicit (out-of-range samples are skipped, never copied), so the input
is read once and the output written once.

The loops are compiled as :mod:`conv1d.kernels._compiled` says (by assignment, cached on
disk; see :func:`compile_seconds` for the first process's cost).

See :mod:`conv1d.kernels` for the shared shape contract.
"""

from __future__ import annotations

import time

import numpy as np
from numba import prange

from . import Capabilities
from ._compiled import compiled, run, valid_range_jit

CAPABILITIES = Capabilities(compiles=True)


def _conv_loops(x, w, bias, stride, dilation, pad_left, y):  # pragma: no cover - compiled
    n, g, ci, length = x.shape
    co, k = w.shape[1], w.shape[3]
    lo = y.shape[3]
    # The first tap writes bias + w*x where it reaches; only the rest is prefilled (one
    # pass fewer over the output, which matters for memory-bound shapes). Computed once,
    # outside the parallel loop: a value reassigned inside a prange body is shared
    # between threads (seen as a flaky wrong result).
    first0, first1 = valid_range_jit(-pad_left, stride, lo, length) if ci > 0 else (lo, lo)
    for job in prange(n * g * co):
        b = job // (g * co)
        rest = job - b * g * co
        gi = rest // co
        o = rest - gi * co
        out = y[b, gi, o]
        start = bias[gi, o]
        for t in range(first0):
            out[t] = start
        for t in range(first1, lo):
            out[t] = start
        for c in range(ci):
            row = x[b, gi, c]
            for j in range(k):
                weight = w[gi, o, c, j]
                off = j * dilation - pad_left
                t0, t1 = valid_range_jit(off, stride, lo, length)
                dst = out[t0:t1]
                if c == 0 and j == 0 and stride == 1:
                    src = row[t0 + off : t1 + off]
                    for i in range(t1 - t0):
                        dst[i] = start + weight * src[i]
                elif c == 0 and j == 0:
                    strided = row[t0 * stride + off : (t1 - 1) * stride + off + 1 : stride]
                    for i in range(t1 - t0):
                        dst[i] = start + weight * strided[i]
                elif stride == 1:  # a slice without a step stays contiguous: vectorised
                    src = row[t0 + off : t1 + off]
                    for i in range(t1 - t0):
                        dst[i] += weight * src[i]
                else:
                    strided = row[t0 * stride + off : (t1 - 1) * stride + off + 1 : stride]
                    for i in range(t1 - t0):
                        dst[i] += weight * strided[i]


def _conv_transpose_loops(y, w, stride, dilation, offset, x):  # pragma: no cover - compiled
    n, g, co, lo = y.shape
    ci, k = w.shape[2], w.shape[3]
    length = x.shape[3]
    for job in prange(n * g * ci):
        b = job // (g * ci)
        rest = job - b * g * ci
        gi = rest // ci
        c = rest - gi * ci
        out = x[b, gi, c]
        for p in range(length):
            out[p] = 0
        for o in range(co):
            row = y[b, gi, o]
            for j in range(k):
                weight = w[gi, o, c, j]
                # y[t] lands on out[t*stride + j*dilation - offset]
                off = j * dilation - offset
                t0, t1 = valid_range_jit(off, stride, lo, length)
                src = row[t0:t1]
                if stride == 1:
                    dst = out[t0 + off : t1 + off]
                    for i in range(t1 - t0):
                        dst[i] += weight * src[i]
                else:
                    strided = out[t0 * stride + off : (t1 - 1) * stride + off + 1 : stride]
                    for i in range(t1 - t0):
                        strided[i] += weight * src[i]


def _conv_weight_loops(x, y, stride, dilation, pad_left, gw):  # pragma: no cover - compiled
    n, g, ci, length = x.shape
    co, lo = y.shape[2], y.shape[3]
    k = gw.shape[3]
    for job in prange(g * co * ci):
        gi = job // (co * ci)
        rest = job - gi * co * ci
        o = rest // ci
        c = rest - o * ci
        for j in range(k):
            off = j * dilation - pad_left
            t0, t1 = valid_range_jit(off, stride, lo, length)
            total = gw[gi, o, c, j]  # zero: the caller allocates gw with np.zeros
            for b in range(n):
                ys = y[b, gi, o, t0:t1]
                if stride == 1:
                    xs = x[b, gi, c, t0 + off : t1 + off]
                    for i in range(t1 - t0):
                        total += ys[i] * xs[i]
                else:
                    strided = x[b, gi, c, t0 * stride + off : (t1 - 1) * stride + off + 1 : stride]
                    for i in range(t1 - t0):
                        total += ys[i] * strided[i]
            gw[gi, o, c, j] = total


_conv_jit, _conv_serial = compiled(_conv_loops)
_conv_transpose_jit, _conv_transpose_serial = compiled(_conv_transpose_loops)
_conv_weight_jit, _conv_weight_serial = compiled(_conv_weight_loops)


def conv(
    x: np.ndarray,
    w: np.ndarray,
    stride: int,
    dilation: int,
    pad_left: int = 0,
    pad_right: int = 0,
    bias: np.ndarray | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """The convolution as compiled loops (Numba) along the output positions, no temporaries.

    Shape:
        x     (N, G, Ci, L), without its zero padding (``pad_left``/``pad_right`` samples)
        w     (G, Co, Ci, K)
        bias  (G, Co) or None
        ->    (N, G, Co, Lo), Lo = (L + pad_left + pad_right - (K-1)*dilation - 1) // stride + 1
    """
    n, g, ci, length = x.shape
    _, co, _, k = w.shape
    dtype = np.result_type(x, w)
    lo = (length + pad_left + pad_right - (k - 1) * dilation - 1) // stride + 1
    y = np.empty((n, g, co, lo), dtype=dtype) if out is None else out
    b = np.zeros((g, co), dtype) if bias is None else np.ascontiguousarray(bias, dtype).reshape(g, co)
    run(
        _conv_jit,
        _conv_serial,
        n * g * co * ci * k * (lo + 16),
        np.ascontiguousarray(x, dtype),
        np.ascontiguousarray(w, dtype),
        b,
        stride,
        dilation,
        pad_left,
        y,
    )
    return y


def conv_transpose(
    y: np.ndarray, w: np.ndarray, stride: int, dilation: int, length: int, offset: int = 0
) -> np.ndarray:
    """The adjoint of :func:`conv` as compiled loops: each output gradient scattered through its window.

    Shape:
        y     (N, G, Co, Lo)
        w     (G, Co, Ci, K)
        ->    (N, G, Ci, length): positions offset .. offset+length-1 of the full adjoint
    """
    n, g, co, lo = y.shape
    ci, k = w.shape[2], w.shape[3]
    dtype = np.result_type(y, w)
    x = np.empty((n, g, ci, length), dtype=dtype)
    run(
        _conv_transpose_jit,
        _conv_transpose_serial,
        n * g * ci * co * k * (lo + 16),
        np.ascontiguousarray(y, dtype),
        np.ascontiguousarray(w, dtype),
        stride,
        dilation,
        offset,
        x,
    )
    return x


def conv_weight(
    x: np.ndarray, y: np.ndarray, k: int, stride: int, dilation: int, pad_left: int = 0
) -> np.ndarray:
    """The weight gradient of :func:`conv` as compiled loops: one correlation per (output
    channel, input channel, tap).

    Shape:
        x     (N, G, Ci, L), without its zero padding (``pad_left`` samples on the left)
        y     (N, G, Co, Lo), the output gradient
        ->    (G, Co, Ci, K)
    """
    _, g, ci, _ = x.shape
    co = y.shape[2]
    dtype = np.result_type(x, y)
    gw = np.zeros((g, co, ci, k), dtype=dtype)
    run(
        _conv_weight_jit,
        _conv_weight_serial,
        x.shape[0] * g * co * ci * k * (y.shape[3] + 16),
        np.ascontiguousarray(x, dtype),
        np.ascontiguousarray(y, dtype),
        stride,
        dilation,
        pad_left,
        gw,
    )
    return gw


FLOAT32 = np.dtype(np.float32)


def compile_seconds(dtype: np.dtype = FLOAT32) -> float:
    """Seconds to make the three kernels ready for ``dtype`` in this process (compile or load the cache),
    in the form for the threads conv1d may use now (see :func:`conv1d.kernels._compiled.compiled`)."""
    start = time.perf_counter()
    x = np.zeros((1, 1, 1, 4), dtype)
    w = np.zeros((1, 1, 1, 2), dtype)
    y = conv(x, w, 1, 1)
    conv_transpose(y, w, 1, 1, 4)
    conv_weight(x, y, 2, 1, 1)
    return time.perf_counter() - start
