"""GEMM kernels: sliding-window views + BLAS matrix products (NumPy ``matmul``).

``conv`` gathers, for a block of output positions, the columns
``cols[(c, j), t] = x[c, t*stride + j*dilation]`` (im2col) and multiplies the
``(Co, Ci*K)`` weight matrix by them: one BLAS call per (batch, group) and block. Blocks
are sized so the gathered columns stay under ``BLOCK_BYTES`` (or one output position,
if that is larger), so working memory is bounded whatever the length.

``conv_transpose`` runs the same product backwards (col2im): ``(Ci*K, Co) @ y`` gives
every tap's contribution, and each tap's row is added into the output at stride
``stride`` starting at ``j*dilation``.

``conv_weight`` contracts the output gradient with the samples each tap met, summing over
batch and positions in one product per tap and block.

See :mod:`conv1d.kernels` for the shared shape contract.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

BLOCK_BYTES = 16 * 2**20


def pad(x: np.ndarray, left: int, right: int) -> np.ndarray:
    """Zero padding on the last axis (no copy when there is none)."""
    if left == 0 and right == 0:
        return x
    return np.pad(x, [(0, 0)] * (x.ndim - 1) + [(left, right)])


def _block(per_position: int, itemsize: int, total: int) -> int:
    """Output positions per block so that a block's temporary stays under BLOCK_BYTES."""
    return max(1, min(total, BLOCK_BYTES // max(per_position * itemsize, 1)))


def conv(x: np.ndarray, w: np.ndarray, stride: int, dilation: int, pad_left: int = 0, pad_right: int = 0,
         bias: np.ndarray | None = None) -> np.ndarray:
    y = _conv(pad(x, pad_left, pad_right), w, stride, dilation)
    if bias is not None:
        y += bias.reshape(1, y.shape[1], y.shape[2], 1)
    return y


def _conv(x: np.ndarray, w: np.ndarray, stride: int, dilation: int) -> np.ndarray:
    n, g, ci, lp = x.shape
    _, co, _, k = w.shape
    span = (k - 1) * dilation + 1
    lo = (lp - span) // stride + 1
    dtype = np.result_type(x, w)
    if k == 1:  # pointwise: the input itself is the column matrix
        return np.matmul(w[..., 0], x[..., : (lo - 1) * stride + 1 : stride])
    windows = sliding_window_view(x, span, axis=-1)[..., ::stride, ::dilation]  # (n, g, ci, lo, k)
    w_matrix = w.reshape(g, co, ci * k)
    y = np.empty((n, g, co, lo), dtype=dtype)
    block = _block(n * g * ci * k, dtype.itemsize, lo)
    for t0 in range(0, lo, block):
        t1 = min(lo, t0 + block)
        cols = windows[..., t0:t1, :].transpose(0, 1, 2, 4, 3).reshape(n, g, ci * k, t1 - t0)
        y[..., t0:t1] = np.matmul(w_matrix, cols)
    return y


def conv_transpose(y: np.ndarray, w: np.ndarray, stride: int, dilation: int, length: int, offset: int = 0) -> np.ndarray:
    n, g, co, lo = y.shape
    _, _, ci, k = w.shape
    full = max(offset + length, (lo - 1) * stride + (k - 1) * dilation + 1)
    x = _conv_transpose(y, w, stride, dilation, full)
    return x if offset == 0 and full == length else np.ascontiguousarray(x[..., offset : offset + length])


def _conv_transpose(y: np.ndarray, w: np.ndarray, stride: int, dilation: int, length: int) -> np.ndarray:
    n, g, co, lo = y.shape
    _, _, ci, k = w.shape
    dtype = np.result_type(y, w)
    w_t = w.transpose(0, 2, 3, 1).reshape(g, ci * k, co)  # rows are (c, j)
    x = np.zeros((n, g, ci, length), dtype=dtype)
    block = _block(n * g * ci * k, dtype.itemsize, lo)
    for t0 in range(0, lo, block):
        t1 = min(lo, t0 + block)
        taps = np.matmul(w_t, y[..., t0:t1]).reshape(n, g, ci, k, t1 - t0)
        for j in range(k):
            start = t0 * stride + j * dilation
            x[..., start : start + (t1 - t0 - 1) * stride + 1 : stride] += taps[:, :, :, j, :]
    return x


def conv_weight(x: np.ndarray, y: np.ndarray, k: int, stride: int, dilation: int, pad_left: int = 0) -> np.ndarray:
    needed = (y.shape[3] - 1) * stride + (k - 1) * dilation + 1  # samples the taps reach
    x = pad(x, pad_left, max(0, needed - pad_left - x.shape[3]))
    n, g, ci, _ = x.shape
    co, lo = y.shape[2], y.shape[3]
    dtype = np.result_type(x, y)
    gw = np.zeros((g, co, ci, k), dtype=dtype)
    block = _block(n * g * max(ci, co), dtype.itemsize, lo)
    for t0 in range(0, lo, block):
        t1 = min(lo, t0 + block)
        # (g, co, n*tb): batch and positions side by side form the contraction axis.
        y_matrix = y[..., t0:t1].transpose(1, 2, 0, 3).reshape(g, co, n * (t1 - t0))
        for j in range(k):
            start = t0 * stride + j * dilation
            tap = x[..., start : start + (t1 - t0 - 1) * stride + 1 : stride]
            gw[..., j] += np.matmul(y_matrix, tap.transpose(1, 0, 3, 2).reshape(g, n * (t1 - t0), ci))
    return gw
