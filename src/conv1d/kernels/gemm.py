"""GEMM kernels: sliding-window views + BLAS matrix products (NumPy ``matmul``).

``conv`` gathers the columns ``cols[(c, j), t] = x[c, t*stride + j*dilation]`` (im2col)
and multiplies the ``(Co, Ci*K)`` weight matrix by them. Short outputs put several
batch items side by side in one product (the text CNN's 34 positions x 32 sentences
make one 1088-column product instead of 32 thin ones); long outputs (>= 512 positions)
go one item at a time, in blocks of positions written straight into the result. That
Python loop over batch items is deliberate: each iteration is one large BLAS call, and
writing in place beat one wide product plus the transpose it needs (measured: TCN
block 31 vs 39 ms, wav2vec2 conv0 8.8 vs 15.9 ms). Blocks keep the gathered
columns (and a product's columns) under ``BLOCK_BYTES`` (or one column, if that is
larger); zero padding is written into the columns, never copied into a padded input, so working memory is
bounded whatever the length.

``conv_transpose`` is, for stride 1, ``conv`` itself with the flipped, transposed kernel
(derived in ``conv_transpose_as_conv``); for larger strides it runs the product
backwards (col2im): ``(Ci*K, Co) @ y`` gives every tap's contribution, and each tap's
row is added into the output at stride ``stride`` starting at ``j*dilation``.

``conv_weight`` multiplies the output gradient by the transposed im2col columns of the
input, summing over batch and positions in one product per block.

Every product goes through :func:`matmul`, NumPy's ``matmul`` unless a caller hands in
another with :func:`products` (``conv1d.torch`` hands in PyTorch's, so that inside a
PyTorch model the products run on PyTorch's thread pool instead of fighting it).

See :mod:`conv1d.kernels` for the shared shape contract.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable

import numpy as np
from numba import prange

from . import Capabilities, scratch, threads
from ._compiled import compiled, run, valid_range, valid_range_jit

CAPABILITIES = Capabilities(
    keeps_input=True, sums_bias=True, spreads_non_finite=frozenset({"conv_transpose"}), compiles=True
)

BLOCK_BYTES = 32 * 2**20
# A forward call may keep its gathered (or transformed) input for the weight gradient of
# the same step (conv1d.torch does, through ``keep=``/``kept=``), when it is one block of at
# most this size: a deep model keeps at most this much per layer between forward and backward.
KEEP_BYTES = 4 * 2**20
SMALL_GATHER = 2**16  # inputs up to this many bytes are gathered in two copies, not K (see _gather)
# Short-output forward products of at most this many multiply-adds go item by item straight
# into the output instead of side by side (see conv): at this size the transposing pass
# that the side-by-side product needs costs more than the extra BLAS calls. (Measured on
# the FCN's first layer, 6 x 24 samples, 1 -> 128 channels, 8 taps: 46 against 28 us.)
PER_ITEM_PRODUCT = 2**18
# Long stride-1 outputs are computed tap by tap without gathering (see _conv_by_taps) when
# each tap's product has at least this depth (input channels per group) and the sums of
# the taps' products (3 values moved per output value and tap after the first) move no
# more than the gathered columns would (one per row: input channel and tap).
TAP_DEPTH = 16

Matmul = Callable[..., np.ndarray]  # (a, b, out=None) -> a @ b, NumPy's broadcasting rules
_matmul: contextvars.ContextVar[Matmul] = contextvars.ContextVar("conv1d_matmul", default=np.matmul)


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``a @ b`` (into ``out`` if given) with the current provider: ``np.matmul`` by default.
    Without ``out``, the product goes into working memory from :func:`conv1d.kernels.scratch.empty`."""
    provider = _matmul.get()
    if provider is np.matmul:
        threads.apply(blas=True)
    if out is None and a.ndim >= 2 and b.ndim >= 2:
        batch = a.shape[:-2]
        if (
            batch != b.shape[:-2]
        ):  # (np.broadcast_shapes costs 3-4 us a call; the kernels' batch axes mostly agree)
            batch = np.broadcast_shapes(batch, b.shape[:-2])
        out = scratch.empty(
            batch + (a.shape[-2], b.shape[-1]), a.dtype if a.dtype == b.dtype else np.result_type(a, b)
        )
    return provider(a, b, out=out)


def provided() -> bool:
    """Whether the products go to a provider other than NumPy's ``matmul`` here and now."""
    return _matmul.get() is not np.matmul


class products:  # lower case: used like the function it was, ``with products(f): ...``
    """Run the block's GEMM products with ``provider`` (same contract as ``np.matmul`` with
    ``out=``); the setting is per thread and per asyncio task, restored on exit.
    :func:`use` and :func:`restore` are the same without the object."""

    __slots__ = ("_provider", "_token")

    def __init__(self, provider: Matmul) -> None:
        self._provider = provider

    def __enter__(self) -> None:
        self._token = use(self._provider)

    def __exit__(self, *exc: object) -> None:
        restore(self._token)


def use(provider: Matmul) -> contextvars.Token:
    """Start a :class:`products` block with ``provider``; returns what :func:`restore` takes."""
    return _matmul.set(provider)


def restore(token: contextvars.Token) -> None:
    """End the block that :func:`use` started."""
    _matmul.reset(token)


def _block(per_position: int, itemsize: int, total: int) -> int:
    """Output positions per block so that a block's temporary stays under BLOCK_BYTES."""
    return max(1, min(total, BLOCK_BYTES // max(per_position * itemsize, 1)))


def conv(
    x: np.ndarray,
    w: np.ndarray,
    stride: int,
    dilation: int,
    pad_left: int = 0,
    pad_right: int = 0,
    bias: np.ndarray | None = None,
    keep: dict | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """The convolution as matrix products of the weight with gathered windows (im2col), block by block.

    Shape:
        x     (N, G, Ci, L), without its zero padding (``pad_left``/``pad_right`` samples)
        w     (G, Co, Ci, K)
        bias  (G, Co) or None
        ->    (N, G, Co, Lo), Lo = (L + pad_left + pad_right - (K-1)*dilation - 1) // stride + 1

    ``keep``: a dict that receives the gathered columns for :func:`conv_weight`'s ``kept``
    (if they are one block of at most KEEP_BYTES).
    """
    n, g, ci, length = x.shape
    _, co, _, k = w.shape
    lo = (length + pad_left + pad_right - (k - 1) * dilation - 1) // stride + 1
    dtype = np.result_type(x, w)
    y = np.empty((n, g, co, lo), dtype=dtype) if out is None else out
    if k == 1 and pad_left == 0 and pad_right == 0 and stride == 1 and bias is None:
        for b in range(n):  # pointwise without bias: the input itself is the column matrix
            matmul(w[..., 0], x[b], out=y[b])
        return y
    if lo == 1 and pad_left == 0 and n and length >= (k - 1) * dilation + 1:
        # One window (a stream's one-sample step): its K taps are the only column, so the
        # whole call is one matrix-vector product per item and group, with no gathering pass
        # (9 against 3 us for a 64 -> 128-channel, 2-tap window).
        taps = x[..., : (k - 1) * dilation + 1 : dilation].reshape(n, g, ci * k, 1)
        matmul(w.reshape(g, co, ci * k), taps, out=y)
        if bias is not None:
            y += bias.reshape(g, co, 1)
        return y
    w_matrix = w.reshape(g, co, ci * k)
    rows = ci * k
    per_column = g * max(rows + 1, co) * dtype.itemsize  # gathered column, or product column
    if lo < 512 and lo * per_column <= BLOCK_BYTES:
        # Short outputs: batch items side by side in one product, so BLAS sees wide matrices;
        # the bias is added as the product is moved into y (no extra pass).
        items = max(1, min(n, BLOCK_BYTES // max(lo * per_column, 1)))
        bias_column = None if bias is None else bias.reshape(g, co, 1).astype(dtype, copy=False)
        for n0 in range(0, n, items):
            n1 = min(n, n0 + items)
            cols = _gather(x[n0:n1], k, stride, dilation, pad_left, 0, lo, False, dtype)
            if keep is not None and n1 - n0 == n and cols.nbytes <= KEEP_BYTES:
                keep[_kept_key(x, k, stride, dilation, pad_left, lo, dtype)] = cols
            if n1 - n0 == 1 or co * rows * (n1 - n0) * lo <= PER_ITEM_PRODUCT:
                # One item, or a small product: item by item straight into y, whose bias is
                # then added in place (no transposing pass over the output).
                if n1 - n0 == 1:
                    matmul(w_matrix, cols.reshape(g, rows, lo), out=y[n0])
                else:
                    matmul(w_matrix, cols.reshape(g, rows, n1 - n0, lo).transpose(2, 0, 1, 3), out=y[n0:n1])
                if bias_column is not None:
                    y[n0:n1] += bias_column
                continue
            product = matmul(w_matrix, cols.reshape(g, rows, (n1 - n0) * lo)).reshape(g, co, n1 - n0, lo)
            if bias_column is None:
                y[n0:n1] = product.transpose(2, 0, 1, 3)
            else:
                np.add(product.transpose(2, 0, 1, 3), bias_column, out=y[n0:n1])
        return y
    if tap_by_tap(ci, co, k, stride):
        return _conv_by_taps(x, w, dilation, pad_left, bias, y)
    # Long outputs: the bias rides along in the product as one more column of the weight
    # matrix times a row of ones, so the output is written once (no separate bias pass).
    if bias is not None:
        w_matrix = np.concatenate([w_matrix, bias.reshape(g, co, 1).astype(dtype, copy=False)], axis=2)
        rows += 1
    # One item at a time, in blocks of positions written straight into y.
    block = max(1, min(lo, BLOCK_BYTES // per_column))
    for b in range(n):
        for t0 in range(0, lo, block):
            t1 = min(lo, t0 + block)
            cols = _gather(x[b : b + 1], k, stride, dilation, pad_left, t0, t1, bias is not None, dtype)
            matmul(w_matrix, cols.reshape(g, rows, t1 - t0), out=y[b, :, :, t0:t1])
    return y


def tap_by_tap(ci: int, co: int, k: int, stride: int) -> bool:
    """Whether :func:`conv` computes a long output (the batch items one at a time) tap by
    tap, without gathering (see TAP_DEPTH)."""
    return stride == 1 and k > 1 and ci >= TAP_DEPTH and 3 * (k - 1) * co <= ci * k


def _conv_by_taps(
    x: np.ndarray, w: np.ndarray, dilation: int, pad_left: int, bias: np.ndarray | None, y: np.ndarray
) -> np.ndarray:
    """Stride 1, long outputs with few output channels for the gathered rows (see
    TAP_DEPTH): one product per tap, ``y[b] += w[..., j] @ x[b, ..., j*dilation : j*dilation + Lo]``,
    each reading its window of ``x`` in place (a slice of rows is a matrix BLAS takes as
    it is), so nothing of the size of the columns (K times the input) is written. Measured
    on EnCodec's residual layer (64 -> 32 channels, 3 taps, 12,000 samples): 1.6 against
    1.2 ms. Where the output is as wide as the columns the gathering costs less than the
    sums: WaveNet's 64 -> 128 channels, 2 taps, 2.9 against 3.2 ms; ECG ResNet's 64 -> 64,
    16 taps, 12.2 against 16.5."""
    n, g, _, length = x.shape
    co, k = w.shape[1], w.shape[3]
    lo = y.shape[3]
    dtype = y.dtype
    x = x.astype(dtype, copy=False)
    per_tap = np.ascontiguousarray(w.transpose(3, 0, 1, 2), dtype)  # (K, G, Co, Ci)
    part = scratch.empty((g, co, lo), dtype)
    # Each tap's products cover the positions whose sample lies inside x (the padding is
    # skipped, never copied); the tap covering most is written into y, the rest added.
    offsets = [j * dilation - pad_left for j in range(k)]
    ranges = [valid_range(off, 1, lo, length) for off in offsets]
    first = max(range(k), key=lambda j: ranges[j][1] - ranges[j][0])
    order = [first] + [j for j in range(k) if j != first]
    for b in range(n):
        out = y[b]
        for j in order:
            t0, t1 = ranges[j]
            if j == first:
                out[..., :t0] = 0
                out[..., t1:] = 0
            if t1 == t0:
                continue
            window = x[b, ..., t0 + offsets[j] : t1 + offsets[j]]
            if j == first:
                matmul(per_tap[j], window, out=out[..., t0:t1])
            else:
                out[..., t0:t1] += matmul(per_tap[j], window, out=part[..., : t1 - t0])
        if bias is not None:
            out += bias.reshape(g, co, 1)
    return y


def _gather(
    x: np.ndarray,
    k: int,
    stride: int,
    dilation: int,
    pad_left: int,
    t0: int,
    t1: int,
    ones: bool,
    dtype: np.dtype,
) -> np.ndarray:
    """im2col: ``cols[g, (c, j), b, t] = xp[b, g, c, t*stride + j*dilation]`` for ``t0 <= t < t1``,
    ``xp`` being ``x`` with ``pad_left`` zeros in front (and as many as needed behind), plus
    a row of ones when ``ones``; shape (G, Ci*K (+1), N, t1 - t0).

    Stride 1: one copy per tap, each of whole rows of ``x`` (contiguous runs NumPy copies
    at memory speed). Larger strides: compiled loops (:func:`_gather_loops`), one row of
    columns per parallel task, as NumPy's strided copies ran at 4 to 5 GB/s on one thread
    on the development VM (against 13 to 15 on its two cores: ECG ResNet's strided
    128-channel layer, 23.2 against 21.8 ms a call; wav2vec2's second layer 44 against 40).
    For stride 1 the compiled loops lost (text CNN 3.5 against 5.0 ms: many short rows).
    The padding is written as zeros, never copied from a padded input. Small inputs
    (SMALL_GATHER bytes of samples) are the exception: there the copies cost their calls,
    not their bytes (0.1 ms for the FCN's 8-tap first layer), so the samples the block
    reads are copied once with their padding and the columns taken from that in one copy
    of a strided view (tap-major, positions innermost, as above).
    """
    nb, g, ci, _ = x.shape
    count = t1 - t0
    cols = np.empty((g, ci * k + ones, nb, count), dtype=dtype)
    taps = cols[:, : ci * k].reshape(g, ci, k, nb, count)
    span = (count - 1) * stride + (k - 1) * dilation + 1 if count else 0
    if count and g * ci * nb * span * cols.itemsize <= SMALL_GATHER:
        padded = np.empty((g, ci, nb, span), dtype=dtype)
        copy_strided(padded, x.transpose(1, 2, 0, 3), t0 * stride - pad_left, 1)
        step = padded.strides  # (a view made by the ndarray constructor: as_strided costs ~25 us a call)
        taps[...] = np.ndarray(
            (g, ci, k, nb, count),
            dtype,
            padded,
            strides=(step[0], step[1], dilation * step[3], step[2], stride * step[3]),
        )
    elif count and stride == 1:
        xt = x.transpose(1, 2, 0, 3)  # (g, ci, nb, L)
        for j in range(k):
            copy_strided(taps[:, :, j], xt, t0 + j * dilation - pad_left, 1)
    elif count:
        run(
            _gather_jit,
            _gather_serial,
            g * ci * k * nb * (count + 16),
            np.ascontiguousarray(x, dtype),
            k,
            stride,
            dilation,
            t0 * stride - pad_left,
            cols,
        )
    if ones:
        cols[:, ci * k] = 1
    return cols


def _gather_loops(x, k, stride, dilation, start, cols):  # pragma: no cover - compiled
    """``cols[g, c*k + j, b, t] = x[b, g, c, start + t*stride + j*dilation]``, zero outside ``x``."""
    nb, g, ci, length = x.shape
    count = cols.shape[3]
    rows = ci * k
    for job in prange(g * rows * nb):
        gi = job // (rows * nb)
        rest = job - gi * rows * nb
        r = rest // nb
        b = rest - r * nb
        c = r // k
        off = start + (r - c * k) * dilation
        a, e = valid_range_jit(off, stride, count, length)
        dst = cols[gi, r, b]
        dst[:a] = 0
        dst[e:] = 0
        if e > a:
            dst[a:e] = x[b, gi, c, a * stride + off : (e - 1) * stride + off + 1 : stride]


_gather_jit, _gather_serial = compiled(_gather_loops)


def copy_strided(dest: np.ndarray, x: np.ndarray, off: int, stride: int) -> None:
    """``dest[..., t] = x[..., off + t*stride]``, zero where that index falls outside ``x``
    (one strided copy; ``dest`` and ``x`` agree on every axis but the last)."""
    first, last = valid_range(off, stride, dest.shape[-1], x.shape[-1])
    dest[..., :first] = 0
    dest[..., last:] = 0
    if last > first:
        start = off + first * stride
        dest[..., first:last] = x[..., start : start + (last - first - 1) * stride + 1 : stride]


def conv_transpose(
    y: np.ndarray, w: np.ndarray, stride: int, dilation: int, length: int, offset: int = 0
) -> np.ndarray:
    """The adjoint of :func:`conv`: a product of the weight with ``y`` scattered back tap by
    tap (col2im), or, for stride 1 where it costs less, :func:`conv` of ``y`` with the
    flipped kernel.

    Shape:
        y     (N, G, Co, Lo)
        w     (G, Co, Ci, K)
        ->    (N, G, Ci, length): positions offset .. offset+length-1 of the full adjoint
    """
    n, g, co, lo = y.shape
    _, _, ci, k = w.shape
    # Stride 1 can also run as a forward conv with the flipped kernel, which gathers K
    # copies of y (and copies the flipped, transposed weight, about 3x slower per value
    # than the other moves: 0.22 ms for 128x256x3 inside a training step); col2im writes
    # K partial results the size of x and adds them. Take whichever costs less.
    if stride == 1 and 3 * g * co * ci * k + k * n * g * co * lo < 2 * k * n * g * ci * lo:
        return conv_transpose_as_conv(conv, y, w, dilation, length, offset)
    full = max(offset + length, (lo - 1) * stride + (k - 1) * dilation + 1)
    x = _conv_transpose(y, w, stride, dilation, full)
    return x if offset == 0 and full == length else np.ascontiguousarray(x[..., offset : offset + length])


def as_conv_window(
    y: np.ndarray, k: int, dilation: int, length: int, offset: int
) -> tuple[np.ndarray, int, int] | None:
    """Stride 1: the adjoint is a forward convolution with the flipped, transposed kernel.

    ``x[c, p] = sum_{o,j} w[o, c, j] * y[o, p - j*d]``; with ``wf[c, o, i] = w[o, c, K-1-i]``
    and ``u = p - (K-1)*d`` that is ``sum_{o,i} wf[c, o, i] * y[o, u + i*d]``: conv of ``y``
    at positions ``u = offset - (K-1)*d ...``, i.e. ``(K-1)*d - offset`` zeros in front
    (a negative count crops ``y`` instead) and enough behind for ``length`` outputs.
    Returns ``(y cropped, zeros in front, zeros behind)``, or None if no ``y`` reaches.
    """
    lo = y.shape[3]
    span = (k - 1) * dilation + 1
    front = span - 1 - offset
    if front < 0:
        y, lo, front = y[..., -front:], lo + front, 0
    back = length + span - 1 - lo - front
    if back < 0:
        y, lo, back = y[..., : lo + back], lo + back, 0
    return None if lo <= 0 else (y, front, back)


def conv_transpose_as_conv(
    conv: Callable[..., np.ndarray], y: np.ndarray, w: np.ndarray, dilation: int, length: int, offset: int
) -> np.ndarray:
    """Stride 1 as ``conv`` (a kernel's) of ``y`` with the flipped, transposed kernel (see
    :func:`as_conv_window`)."""
    window = as_conv_window(y, w.shape[3], dilation, length, offset)
    if window is None:
        return np.zeros(y.shape[:2] + (w.shape[2], length), dtype=np.result_type(y, w))
    wf = np.ascontiguousarray(w[..., ::-1].transpose(0, 2, 1, 3))  # (g, ci, co, k)
    return conv(window[0], wf, 1, dilation, window[1], window[2])


def _conv_transpose(y: np.ndarray, w: np.ndarray, stride: int, dilation: int, length: int) -> np.ndarray:
    n, g, co, lo = y.shape
    _, _, ci, k = w.shape
    dtype = np.result_type(y, w)
    w_t = w.reshape(g, co, ci * k).transpose(0, 2, 1)  # rows are (c, j); a view, no copy
    x = np.zeros((n, g, ci, length), dtype=dtype)
    per_column = g * max(ci * k, co) * dtype.itemsize
    if lo < 512 and lo * per_column <= BLOCK_BYTES:
        # Short inputs: batch items side by side in one product, as in conv.
        items = max(1, min(n, BLOCK_BYTES // max(lo * per_column, 1)))
        for n0 in range(0, n, items):
            n1 = min(n, n0 + items)
            y_matrix = y[n0:n1].transpose(1, 2, 0, 3).reshape(g, co, (n1 - n0) * lo)
            _scatter_taps(x[n0:n1].transpose(1, 2, 0, 3), matmul(w_t, y_matrix), k, stride, dilation, 0, lo)
        return x
    block = _block(g * ci * k, dtype.itemsize, lo)
    for b in range(n):
        for t0 in range(0, lo, block):
            t1 = min(lo, t0 + block)
            _scatter_taps(x[b, :, :, None], matmul(w_t, y[b, :, :, t0:t1]), k, stride, dilation, t0, t1 - t0)
    return x


def _scatter_taps(
    x: np.ndarray, taps: np.ndarray, k: int, stride: int, dilation: int, t0: int, count: int
) -> None:
    """col2im: ``x[g, c, b, (t0 + t)*stride + j*dilation] += taps[g, (c, j), (b, t)]`` for
    ``t < count``; ``x`` is (G, Ci, items, L)."""
    g, ci, items, _ = x.shape
    taps = taps.reshape(g, ci, k, items, count)
    for j in range(k):
        start = t0 * stride + j * dilation
        x[..., start : start + (count - 1) * stride + 1 : stride] += taps[:, :, j]


def _kept_key(
    x: np.ndarray, k: int, stride: int, dilation: int, pad_left: int, lo: int, dtype: np.dtype
) -> tuple:
    return ("gemm", x.shape, k, stride, dilation, pad_left, lo, dtype)


def conv_weight(
    x: np.ndarray,
    y: np.ndarray,
    k: int,
    stride: int,
    dilation: int,
    pad_left: int = 0,
    kept: dict | None = None,
    bias: np.ndarray | None = None,
) -> np.ndarray:
    """The weight gradient of :func:`conv`: products of ``y`` with the forward's gathered windows.

    Shape:
        x     (N, G, Ci, L), without its zero padding (``pad_left`` samples on the left)
        y     (N, G, Co, Lo), the output gradient
        ->    (G, Co, Ci, K)

    One product per block: ``gw (Co, Ci*K) = y (Co, N*tb) @ cols (Ci*K, N*tb)^T``, with the
    forward kernel's im2col columns (so padding is implicit here too), or the ones the
    forward call of the same ``x`` put in ``kept``. ``bias``: a (G, Co) array that receives
    ``y`` summed over batch and positions (the bias gradient): from each block's ``y`` matrix
    for short outputs, in one sum over ``y`` for long ones.
    """
    n, g, ci, _ = x.shape
    co, lo = y.shape[2], y.shape[3]
    dtype = np.result_type(x, y)
    per_column = g * (ci * k + co) * dtype.itemsize
    if lo * per_column <= BLOCK_BYTES:  # whole items side by side
        items = max(1, min(n, BLOCK_BYTES // max(lo * per_column, 1)))
        reuse = (
            None
            if kept is None or items < n
            else kept.get(_kept_key(x, k, stride, dilation, pad_left, lo, dtype))
        )
        total = None  # the first block's product is the sum so far (no zeroed array to add it to)
        for n0 in range(0, n, items):
            n1 = min(n, n0 + items)
            cols = (
                reuse
                if reuse is not None
                else _gather(x[n0:n1], k, stride, dilation, pad_left, 0, lo, False, dtype)
            )
            cols = cols.reshape(g, ci * k, -1)
            y_matrix = y[n0:n1].transpose(1, 2, 0, 3).reshape(g, co, -1)
            if bias is not None:
                sums = y_matrix.sum(axis=2)
                bias[...] = sums if total is None else bias + sums
            # The first block's product is the result so far, so it gets memory of its own.
            fresh = np.empty((g, co, ci * k), dtype=dtype) if total is None else None
            part = matmul(y_matrix, cols.transpose(0, 2, 1), out=fresh)
            total = part if total is None else np.add(total, part, out=total)
        if total is None:  # no batch items
            if bias is not None:
                bias[...] = 0
            return np.zeros((g, co, ci, k), dtype=dtype)
        return total.reshape(g, co, ci, k)
    if bias is not None:
        bias[...] = y.sum(axis=(0, 3))
    gw = np.zeros((g, co, ci * k), dtype=dtype)
    block = _block(g * (ci * k + co), dtype.itemsize, lo)
    for b in range(n):
        for t0 in range(0, lo, block):
            t1 = min(lo, t0 + block)
            cols = _gather(x[b : b + 1], k, stride, dilation, pad_left, t0, t1, False, dtype).reshape(
                g, ci * k, -1
            )
            gw += matmul(y[b, :, :, t0:t1], cols.transpose(0, 2, 1))
    return gw.reshape(g, co, ci, k)
