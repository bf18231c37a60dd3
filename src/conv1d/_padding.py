"""Padding modes other than zeros, as an index gather, and its adjoint (for gradients).

``reflect``, ``replicate`` and ``circular`` padding all read ``x[..., idx]`` for an index
array ``idx`` over the padded positions ``-left .. L_in+right-1``; the gradient of such a
gather is a scatter-add of the same indices. Zero padding never comes here: the kernels
take it as numbers. The spec has already checked each mode's limits (reflect: pad < L_in;
circular: pad <= L_in).
"""

from __future__ import annotations

import numpy as np


def sources(p: np.ndarray, l_in: int, mode: str) -> np.ndarray:
    """The input index that padded position ``p`` (``-L_in <= p < 2*L_in``) reads."""
    if mode == "reflect":  # mirror about the edge samples, which are not repeated
        p = np.abs(p)
        return np.where(p >= l_in, 2 * (l_in - 1) - p, p)
    if mode == "replicate":
        return np.clip(p, 0, l_in - 1)
    if mode == "circular":
        return p % l_in
    raise AssertionError(f"unknown padding mode {mode!r}")  # spec.py rejects it earlier


def source_indices(l_in: int, left: int, right: int, mode: str) -> np.ndarray:
    return sources(np.arange(-left, l_in + right), l_in, mode)


def pad(x: np.ndarray, left: int, right: int, mode: str) -> np.ndarray:
    """``x`` padded on its last axis; ``x`` itself (no copy) when there is no padding."""
    if left == 0 and right == 0:
        return x
    return np.take(x, source_indices(x.shape[-1], left, right, mode), axis=-1)


def pad_adjoint(grad: np.ndarray, l_in: int, left: int, right: int, mode: str) -> np.ndarray:
    """The gradient with respect to the unpadded input, given the padded input's: its middle,
    plus each padded position's gradient added to the sample it was read from (index arrays
    for the edges only, never as long as the signal)."""
    if left == 0 and right == 0:
        return grad
    out = grad[..., left : left + l_in].copy()
    with np.errstate(invalid="ignore", over="ignore"):  # (inf - inf: NaN, as PyTorch gives)
        if left:
            np.add.at(out, (Ellipsis, sources(np.arange(-left, 0), l_in, mode)), grad[..., :left])
        if right:
            np.add.at(
                out, (Ellipsis, sources(np.arange(l_in, l_in + right), l_in, mode)), grad[..., left + l_in :]
            )
    return out
