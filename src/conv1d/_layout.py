"""Where the channels and the length are in a caller's array, and the dtype kernels compute in.

One home for the arithmetic every entry point needs: the functional API and the layers
(through :mod:`conv1d.executor`), streaming chunks, Dask blocks and the explanations.
"""

from __future__ import annotations

import numpy as np

__all__ = ["channel_axis", "compute_dtype", "from_ncl", "length_axis", "ncl_view", "to_ncl"]


def channel_axis(layout: str, batched: bool) -> int:
    """Axis of the channels in an input or output array of ``layout``."""
    return (1 if layout == "NCL" else 2) - (0 if batched else 1)


def length_axis(layout: str, batched: bool) -> int:
    """Axis of the samples in an input or output array of ``layout``."""
    return (2 if layout == "NCL" else 1) - (0 if batched else 1)


def compute_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype kernels compute in: float16 -> float32, integers -> int64, others as they are."""
    if dtype == np.float16:
        return np.dtype(np.float32)
    if dtype.kind in "iu":
        return np.dtype(np.int64)
    return dtype


def ncl_view(a: np.ndarray, layout: str, batched: bool) -> np.ndarray:
    """A caller's array viewed as a batched (N, C, L) array, in its own dtype."""
    if not batched:
        a = a[None]
    return a if layout == "NCL" else a.transpose(0, 2, 1)


def to_ncl(a: np.ndarray, layout: str, batched: bool) -> np.ndarray:
    """A caller's array as a batched (N, C, L) array in the compute dtype (a view when it can be)."""
    return ncl_view(a.astype(compute_dtype(a.dtype), copy=False), layout, batched)


def from_ncl(y: np.ndarray, layout: str, batched: bool, dtype: np.dtype) -> np.ndarray:
    """A batched (N, C, L) array back in the caller's layout and ``dtype``, C-contiguous."""
    if layout == "NLC":
        y = y.transpose(0, 2, 1)
    if not batched:
        y = y[0]
    return np.ascontiguousarray(y, dtype=dtype)
