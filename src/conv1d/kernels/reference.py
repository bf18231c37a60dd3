"""The oracle: a loop over kernel taps, one ``einsum`` per tap. Obviously right, never fast.

See :mod:`conv1d.kernels` for the shared signature.
"""

from __future__ import annotations

import numpy as np

from . import Capabilities

CAPABILITIES = Capabilities()


def _tap(x: np.ndarray, j: int, count: int, stride: int, dilation: int) -> np.ndarray:
    """``x[..., j*dilation + t*stride]`` for ``t < count``: the samples tap ``j`` meets."""
    start = j * dilation
    return x[..., start : start + (count - 1) * stride + 1 : stride]


def _padded(x: np.ndarray, left: int, right: int) -> np.ndarray:
    return np.pad(x, [(0, 0)] * (x.ndim - 1) + [(left, right)])


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
    """The convolution as a loop over the K taps: one strided slice product per tap (the oracle).

    Shape:
        x     (N, G, Ci, L), without its zero padding (``pad_left``/``pad_right`` samples)
        w     (G, Co, Ci, K)
        bias  (G, Co) or None
        ->    (N, G, Co, Lo), Lo = (L + pad_left + pad_right - (K-1)*dilation - 1) // stride + 1
    """
    x = _padded(x, pad_left, pad_right)
    n, g, _ci, lp = x.shape
    _, co, _, k = w.shape
    lo = (lp - (k - 1) * dilation - 1) // stride + 1
    y = np.zeros((n, g, co, lo), dtype=np.result_type(x, w)) if out is None else out
    if out is not None:
        y[...] = 0
    for j in range(k):
        y += np.einsum("goc,ngct->ngot", w[..., j], _tap(x, j, lo, stride, dilation))
    if bias is not None:
        y += bias.reshape(1, g, co, 1)
    return y


def conv_transpose(
    y: np.ndarray, w: np.ndarray, stride: int, dilation: int, length: int, offset: int = 0
) -> np.ndarray:
    """The adjoint of :func:`conv`, scattered tap by tap (the oracle).

    Shape:
        y     (N, G, Co, Lo)
        w     (G, Co, Ci, K)
        ->    (N, G, Ci, length): positions offset .. offset+length-1 of the full adjoint

    Positions ``offset .. offset+length-1`` of the full adjoint (zero beyond its end).
    """
    n, g, _co, lo = y.shape
    _, _, ci, k = w.shape
    full = max(offset + length, (lo - 1) * stride + (k - 1) * dilation + 1)
    x = np.zeros((n, g, ci, full), dtype=np.result_type(y, w))
    for j in range(k):
        _tap(x, j, lo, stride, dilation)[...] += np.einsum("goc,ngot->ngct", w[..., j], y)
    return x[..., offset : offset + length]


def conv_weight(
    x: np.ndarray, y: np.ndarray, k: int, stride: int, dilation: int, pad_left: int = 0
) -> np.ndarray:
    """The weight gradient of :func:`conv`, one correlation per tap (the oracle).

    Shape:
        x     (N, G, Ci, L), without its zero padding (``pad_left`` samples on the left)
        y     (N, G, Co, Lo), the output gradient
        ->    (G, Co, Ci, K)
    """
    needed = (y.shape[3] - 1) * stride + (k - 1) * dilation + 1
    x = _padded(x, pad_left, max(0, needed - pad_left - x.shape[3]))
    _n, g, ci, _ = x.shape
    co, lo = y.shape[2], y.shape[3]
    gw = np.zeros((g, co, ci, k), dtype=np.result_type(x, y))
    for j in range(k):
        gw[..., j] = np.einsum("ngot,ngct->goc", y, _tap(x, j, lo, stride, dilation))
    return gw
