"""The oracle: a loop over kernel taps, one ``einsum`` per tap. Obviously right, never fast.

See :mod:`conv1d.kernels` for the shared signature.
"""

from __future__ import annotations

import numpy as np


def _tap(x: np.ndarray, j: int, count: int, stride: int, dilation: int) -> np.ndarray:
    """``x[..., j*dilation + t*stride]`` for ``t < count``: the samples tap ``j`` meets."""
    start = j * dilation
    return x[..., start : start + (count - 1) * stride + 1 : stride]


def conv(x: np.ndarray, w: np.ndarray, stride: int, dilation: int) -> np.ndarray:
    n, g, ci, lp = x.shape
    _, co, _, k = w.shape
    lo = (lp - (k - 1) * dilation - 1) // stride + 1
    y = np.zeros((n, g, co, lo), dtype=np.result_type(x, w))
    for j in range(k):
        y += np.einsum("goc,ngct->ngot", w[..., j], _tap(x, j, lo, stride, dilation))
    return y


def conv_transpose(y: np.ndarray, w: np.ndarray, stride: int, dilation: int, length: int) -> np.ndarray:
    n, g, co, lo = y.shape
    _, _, ci, k = w.shape
    x = np.zeros((n, g, ci, length), dtype=np.result_type(y, w))
    for j in range(k):
        _tap(x, j, lo, stride, dilation)[...] += np.einsum("goc,ngot->ngct", w[..., j], y)
    return x


def conv_weight(x: np.ndarray, y: np.ndarray, k: int, stride: int, dilation: int) -> np.ndarray:
    n, g, ci, _ = x.shape
    co, lo = y.shape[2], y.shape[3]
    gw = np.zeros((g, co, ci, k), dtype=np.result_type(x, y))
    for j in range(k):
        gw[..., j] = np.einsum("ngot,ngct->goc", y, _tap(x, j, lo, stride, dilation))
    return gw
