"""Winograd kernels: stride-1, undilated convolutions with fewer multiplications.

Winograd's minimal filtering algorithm F(m, r) (Toom-Cook interpolation; Lavin & Gray,
"Fast Algorithms for Convolutional Neural Networks", 2016) computes ``m`` outputs of an
``r``-tap correlation from one tile of ``a = m + r - 1`` inputs with ``a`` multiplications
instead of ``m * r``::

    y = AT @ ((G @ w) * (BT @ d))        d: a inputs, w: r taps, y: m outputs

Here the tile always has ``a = ALPHA = 8`` samples, so ``m = 9 - K`` outputs per tile
(K=3: 6, K=5: 4) and the arithmetic falls by ``m*K/8`` (2.25x for K=3, 2.5x for K=4
and 5; 1.75x for K=2 and 7). With channels, the elementwise product becomes ``ALPHA``
matrix products, one per interpolation point::

    V[p] = (BT @ tiles of x)[p]          (ALPHA, tiles, Ci)     input transform
    U[p] = (G @ w)[p]                    (ALPHA, Co, Ci)        weight transform
    M[p] = V[p] @ U[p]^T                 (ALPHA, tiles, Co)     the BLAS work
    y    = AT @ M                        (m outputs per tile)   output transform

The matrices come from the points 0, 1, -1, 2, -2, 1/2, -1/2 and infinity: with ``Vn`` the
``ALPHA x n`` Vandermonde matrix of the points (the infinity row picks the leading
coefficient), a linear convolution is ``c = V^-1 ((Vm a) * (Vr b))``, and correlation, its
transpose, gives ``AT = Vm^T``, ``G = Vr``, ``BT = V^-T`` (computed in exact rationals).

The weight gradient is the same algorithm with roles swapped: ``K`` outputs (the taps)
from a correlation of the input with ``m`` samples of the output gradient, F(K, m), and the
same ``BT``. The transposed convolution (stride 1) is the forward one with the flipped,
transposed kernel; its transform comes from the kernel's own ``G @ w`` by interpolating
at the reciprocal points (see :func:`matrices`), so the input gradient of a training step
reuses the forward's weight transform (``keep=``/``kept=``) and no flipped copy is made.

How it runs: channels last inside. The input's samples are copied once into a
channels-last buffer with their zero padding (NumPy's strided copy, or a blocked
transposition for large inputs, see :func:`_samples`); the input and output transforms
are compiled loops (Numba) over tiles whose innermost loop runs along the channels with
unit stride, so it vectorises; the ``ALPHA`` products go through
:func:`conv1d.kernels.gemm.matmul` (NumPy's BLAS, or PyTorch's inside ``conv1d.torch``);
the output transform moves a few tiles at a time from a small channels-last buffer into
the (N, G, Co, Lo) result, so no large transposition is ever made. Measured on
the FCN's 128->256, K=5 layer (5 x 150 samples): 1.2 ms per call, against 3.5 ms with the
transforms as NumPy products of BT's blocks with overlapping views of rows of samples.
Blocks of tiles keep every temporary under ``BLOCK_BYTES`` (see
:func:`tile_bytes`). The planner weighs the transforms as passes over memory
(``dispatch.TRANSFORM_BANDWIDTH``): Winograd wins on channel-rich layers, GEMM on small
or channel-poor ones.

Accuracy: the transforms add rounding that the direct sum does not have. Measured against
float64 on 2,400 random problems (K = 2..7, every op, the transposed one with and
without the forward's weight transform): the largest float32 error is 1.8e-6 of the
largest output (2.6e-6 for weight gradients), against about 1e-6 for a direct float32
sum; float64 stays under 4e-15. Integer dtypes are refused (the transforms have fractions).

See :mod:`conv1d.kernels` for the shared shape contract.
"""

from __future__ import annotations

import functools
from fractions import Fraction

import numba
import numpy as np

from . import Capabilities, gemm, scratch
from .gemm import BLOCK_BYTES, as_conv_window, matmul

CAPABILITIES = Capabilities(
    keeps_input=True,
    keeps_weights=True,
    sums_bias=True,
    spreads_non_finite=frozenset({"conv", "conv_transpose", "conv_weight"}),
    compiles=True,
)

ALPHA = 8  # samples per tile: 7 finite interpolation points and infinity
INFINITY = None
POINTS = tuple(Fraction(p) for p in ("0", "1", "-1", "2", "-2", "1/2", "-1/2")) + (INFINITY,)
ONES = 1  # index of the point 1: its column of AT and its row of G are all ones
MAX_TAPS = ALPHA - 1  # at least two outputs per tile


def tile(k: int) -> int:
    """Outputs per tile for a ``k``-tap kernel."""
    return ALPHA - k + 1


def _reciprocal(p: Fraction | None) -> Fraction | None:
    return INFINITY if p == 0 else Fraction(0) if p is INFINITY else 1 / p


def _vandermonde(columns: int, points: tuple[Fraction | None, ...] = POINTS) -> list[list[Fraction]]:
    """Rows ``[1, p, p^2, ...]``; the row of infinity picks the leading coefficient."""
    return [
        [Fraction(int(j == columns - 1)) for j in range(columns)]
        if p is INFINITY
        else [p**j for j in range(columns)]
        for p in points
    ]


def _inverse(a: list[list[Fraction]]) -> list[list[Fraction]]:
    """Gauss-Jordan elimination in exact rationals (the matrix is small and invertible)."""
    n = len(a)
    rows = [row[:] + [Fraction(int(i == j)) for j in range(n)] for i, row in enumerate(a)]
    for col in range(n):
        pivot = next(r for r in range(col, n) if rows[r][col] != 0)
        rows[col], rows[pivot] = rows[pivot], rows[col]
        lead = rows[col][col]
        rows[col] = [v / lead for v in rows[col]]
        for r in range(n):
            if r != col and rows[r][col] != 0:
                factor = rows[r][col]
                rows[r] = [v - factor * u for v, u in zip(rows[r], rows[col])]
    return [row[n:] for row in rows]


@functools.lru_cache(maxsize=64)
def matrices(
    m: int, r: int, dtype: np.dtype, reciprocal: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(AT (m, ALPHA), G (ALPHA, r), BT (ALPHA, ALPHA))`` of F(m, r), ``m + r - 1 == ALPHA``.

    ``reciprocal``: the matrices that correlate with the *flipped* kernel while taking the
    kernel's own transform ``G @ w``. Flipping a kernel turns its polynomial ``w(t)`` into
    ``t^(r-1) w(1/t)``, so its value at a point ``q`` is ``q^(r-1)`` times the kernel's value
    at ``1/q`` (0 and infinity swap, with no factor). The point set is closed under
    ``p -> 1/p``, so interpolating at the reciprocals of POINTS, in the same order, lets
    product ``i`` use ``(G @ w)[i]`` as it is; the factors ``q^(r-1)`` (powers of 2, exact) go
    into AT's columns. A transposed convolution then reuses the forward's weight transform.
    """
    if m + r - 1 != ALPHA:
        raise ValueError(f"F({m}, {r}) needs m + r - 1 == {ALPHA}")
    points = tuple(_reciprocal(p) for p in POINTS) if reciprocal else POINTS
    inverse = _inverse(_vandermonde(ALPHA, points))

    def array(rows: list[list[Fraction]]) -> np.ndarray:
        return np.array([[float(v) for v in row] for row in rows]).astype(dtype)

    scale = [Fraction(1) if q in (0, INFINITY) or not reciprocal else q ** (r - 1) for q in points]
    vm = _vandermonde(m, points)
    at = [[vm[p][i] * scale[p] for p in range(ALPHA)] for i in range(m)]
    bt = array([[inverse[i][p] for i in range(ALPHA)] for p in range(ALPHA)])
    return array(at), array(_vandermonde(r)), bt


def _check(stride: int, dilation: int, k: int) -> None:
    if stride != 1 or dilation != 1 or not 2 <= k <= MAX_TAPS:
        raise ValueError(
            f"the Winograd kernel computes stride 1, dilation 1, 2..{MAX_TAPS} taps; "
            f"got stride={stride}, dilation={dilation}, K={k}"
        )


def tile_bytes(ci: int, co: int, m: int, itemsize: int) -> int:
    """Working memory per tile and group: the samples (m per channel, in and out) and their
    transforms (ALPHA per channel: the transformed input and the products, or the
    output-gradient transform). The blocks keep ``tile_bytes * tiles`` under BLOCK_BYTES;
    the weight transform comes on top."""
    return itemsize * (ci + co) * (m + ALPHA)


def _blocks(n: int, tiles: int, per_tile: int, slack: int) -> tuple[tuple[int, int, int, int], ...]:
    """(n0, n1, j0, j1) blocks of batch items and tiles, each under BLOCK_BYTES counting
    ``slack`` more tile slots per item: whole items side by side when they fit, else one
    item at a time in ranges of tiles. Remembered (a training step asks for the same few)."""
    return _blocks_within(n, tiles, per_tile, slack, BLOCK_BYTES)


@functools.lru_cache(maxsize=256)
def _blocks_within(
    n: int, tiles: int, per_tile: int, slack: int, budget: int
) -> tuple[tuple[int, int, int, int], ...]:
    most = max(1, budget // max(per_tile, 1))
    if tiles + slack <= most:
        items = max(1, most // (tiles + slack))
        return tuple((n0, min(n, n0 + items), 0, tiles) for n0 in range(0, n, items))
    step = max(1, most - slack)
    return tuple((b, b + 1, j0, min(tiles, j0 + step)) for b in range(n) for j0 in range(0, tiles, step))


def _slots(m: int) -> int:
    """Tile slots past an item's last tile that its samples reach into: ceil((ALPHA - m) / m)."""
    return -(-(ALPHA - m) // m)


def tile_slots(n: int, lo: int, k: int) -> int:
    """Tile slots of working memory a ``k``-tap call with ``n`` items of ``lo`` outputs
    needs: its tiles (the products' columns, :func:`tiles`) and each item's reach past its
    last tile."""
    return n * (-(-lo // tile(k)) + _slots(tile(k)))


def tiles(n: int, lo: int, k: int) -> int:
    """Tiles (columns of each of the ALPHA products) of a ``k``-tap call with ``n`` items of ``lo`` outputs."""
    return n * -(-lo // tile(k))


# The transforms are compiled loops over tiles whose innermost loop runs along the
# channels, with unit stride in the channels-last copies they read and write, so LLVM
# vectorises it; each tile's ALPHA rows of samples are read straight from the copy
# (tile j starts at row j*m), and each output is one fixed eight-term sum (a matrix
# with fewer columns is padded with zeros). Plain functions compiled by assignment, as in
# :mod:`conv1d.kernels.direct` (``NUMBA_DISABLE_JIT=1`` runs them in the interpreter).
# Measured on the FCN's 128->256, K=5 layer (5 x 150 samples, one thread): the input
# transform 0.03 ms against 1.2 ms as NumPy products of BT's blocks with overlapping
# views of rows of samples (rows and tiles along the length); the channels-last copies
# are NumPy's strided copies.
def _tile_loops(src, per_item, count, step, mat, out):  # pragma: no cover - compiled
    """``out[p, b*count + t, :] = sum_j mat[p, j] * src[b*per_item + t*step + j, :]``, j < 8."""
    for col in range(out.shape[1]):
        b = col // count
        r = b * per_item + (col - b * count) * step
        s0, s1, s2, s3 = src[r], src[r + 1], src[r + 2], src[r + 3]
        s4, s5, s6, s7 = src[r + 4], src[r + 5], src[r + 6], src[r + 7]
        for p in range(8):
            c0, c1, c2, c3 = mat[p, 0], mat[p, 1], mat[p, 2], mat[p, 3]
            c4, c5, c6, c7 = mat[p, 4], mat[p, 5], mat[p, 6], mat[p, 7]
            o = out[p, col]
            for c in range(o.shape[0]):
                o[c] = (
                    c0 * s0[c]
                    + c1 * s1[c]
                    + c2 * s2[c]
                    + c3 * s3[c]
                    + c4 * s4[c]
                    + c5 * s5[c]
                    + c6 * s6[c]
                    + c7 * s7[c]
                )


def _untile_loops(prods, mat, bias, count, out, n0, first, stop):  # pragma: no cover - compiled
    """``out[n0 + b, g, :, first + t*m + i] = sum_p mat[i, p] * prods[p, g, b*count + t, :] + bias[g, :]``
    for the positions below ``stop`` (the last tile may be cut short): the output transform,
    written straight into the (N, G, Co, Lo) result. A few tiles at a time go into a small
    channels-last buffer (the sums vectorised along the channels), which is then moved
    channel by channel into runs of positions: a transposition that stays in cache."""
    groups, co = out.shape[1], out.shape[2]
    m = mat.shape[0]
    per_buffer = 16  # tiles
    buffer = np.empty((per_buffer * m, co), dtype=out.dtype)
    items = prods.shape[2] // count
    for b in range(items):
        for gi in range(groups):
            add = bias[gi]
            for t0 in range(0, count, per_buffer):
                in_buffer = min(per_buffer, count - t0)
                for tt in range(in_buffer):
                    col = b * count + t0 + tt
                    s0, s1, s2, s3 = (
                        prods[0, gi, col],
                        prods[1, gi, col],
                        prods[2, gi, col],
                        prods[3, gi, col],
                    )
                    s4, s5, s6, s7 = (
                        prods[4, gi, col],
                        prods[5, gi, col],
                        prods[6, gi, col],
                        prods[7, gi, col],
                    )
                    for i in range(m):
                        c0, c1, c2, c3 = mat[i, 0], mat[i, 1], mat[i, 2], mat[i, 3]
                        c4, c5, c6, c7 = mat[i, 4], mat[i, 5], mat[i, 6], mat[i, 7]
                        o = buffer[tt * m + i]
                        for c in range(co):
                            o[c] = (
                                c0 * s0[c]
                                + c1 * s1[c]
                                + c2 * s2[c]
                                + c3 * s3[c]
                                + c4 * s4[c]
                                + c5 * s5[c]
                                + c6 * s6[c]
                                + c7 * s7[c]
                            ) + add[c]
                start = first + t0 * m
                length = min(in_buffer * m, stop - start)
                for c in range(co):
                    row = out[n0 + b, gi, c, start : start + length]
                    for pos in range(length):
                        row[pos] = buffer[pos, c]


def _weights_out_loops(prods, mat, out):  # pragma: no cover - compiled
    """``out[r, j] = sum_p mat[j, p] * prods[p, r]``: AT applied to the ALPHA products of every
    (o, c) pair of a weight gradient, written in the weight's own (..., K) layout. The
    points come in pairs +-q (POINTS[1:7]: 1, -1, 2, -2, 1/2, -1/2), whose columns of AT
    differ by the sign (-1)^j (see PAIRED), so each pair's two products are first folded
    into their sum (for the even taps) and difference (for the odd ones): five
    multiply-adds per output instead of eight. Blocks of rows: the sums vectorised along
    the rows into a small buffer, then moved tap by tap into the block's run of the flat
    output (measured on the FCN's 256x128x5 gradient: 170 us against 300 with a two-index
    store per element; the folding then 108 against 138 us, and 77 against 79 on 128x256x3)."""
    rows, k = out.shape
    flat = out.reshape(-1)
    block = 512
    buffer = np.empty((k, block), dtype=out.dtype)
    folds = np.empty((6, block), dtype=out.dtype)  # the pairs' sums, then their differences
    for r0 in range(0, rows, block):
        count = min(block, rows - r0)
        s0, s7 = prods[0, r0 : r0 + count], prods[7, r0 : r0 + count]
        for q in range(3):
            plus, minus = prods[2 * q + 1, r0 : r0 + count], prods[2 * q + 2, r0 : r0 + count]
            total, difference = folds[q], folds[3 + q]
            for i in range(count):
                total[i] = plus[i] + minus[i]
                difference[i] = plus[i] - minus[i]
        for j in range(k):
            first = 0 if j % 2 == 0 else 3
            f0, f1, f2 = folds[first], folds[first + 1], folds[first + 2]
            c0, c1, c3, c5, c7 = mat[j, 0], mat[j, 1], mat[j, 3], mat[j, 5], mat[j, 7]
            b = buffer[j]
            for i in range(count):
                b[i] = c0 * s0[i] + c1 * f0[i] + c3 * f1[i] + c5 * f2[i] + c7 * s7[i]
        dst = flat[r0 * k : (r0 + count) * k]
        for j in range(k):
            b = buffer[j]
            for i in range(count):
                dst[i * k + j] = b[i]


# The index pairs (+q, -q) of POINTS that _weights_out_loops folds.
PAIRED = ((1, 2), (3, 4), (5, 6))


# One thread, on purpose: the transforms are a small part of a call next to its products,
# and a parallel Numba region between BLAS calls is slow on a small machine: NumPy's
# OpenBLAS threads and Numba's OpenMP workers then wait on each other (measured on 2
# cores: 16 ms instead of 0.5 ms per call on the FCN's 128->256 layer). fastmath
# "contract" only: multiply-adds fused, nothing reordered.
_tile_jit = numba.njit(cache=True, fastmath={"contract"})(_tile_loops)
_untile_jit = numba.njit(cache=True, fastmath={"contract"})(_untile_loops)
_weights_out_jit = numba.njit(cache=True, fastmath={"contract"})(_weights_out_loops)


def _transpose_loops(x, off, r0, r1, out):  # pragma: no cover - compiled
    """``out[b, r, g, c] = x[b, g, c, off + r]`` for ``r0 <= r < r1``, in 32 x 32 blocks of
    (channels, positions) so that both sides stay in cache."""
    nb, g, c_count = x.shape[0], x.shape[1], x.shape[2]
    block = 32
    for b in range(nb):
        for gi in range(g):
            for c0 in range(0, c_count, block):
                c1 = min(c0 + block, c_count)
                for p0 in range(r0, r1, block):
                    p1 = min(p0 + block, r1)
                    for c in range(c0, c1):
                        row = x[b, gi, c, off + p0 : off + p1]
                        for i in range(p1 - p0):
                            out[b, p0 + i, gi, c] = row[i]


_transpose_jit = numba.njit(cache=True)(_transpose_loops)
SMALL_SAMPLES = 2**18  # bytes: below, NumPy's strided copy (cheaper to call); above, the blocked loop


def _samples(x: np.ndarray, off: int, rows: int, stop: int, dtype: np.dtype) -> np.ndarray:
    """``x``'s samples channels-last, ``out[b*rows + r, g*C + c] = x[b, g, c, off + r]`` for
    ``r < rows``, zero where ``off + r`` lies outside ``[0, stop)`` (``stop <= L``); shape
    (nb * rows, G * C), contiguous. Large inputs go through a blocked transposition: NumPy's
    copy walks the destination in order and, with long rows, each source element sits on
    another page (measured 20 ns per sample on a ResNet-1D block, against 3 ns blocked)."""
    nb, g, c, _ = x.shape
    out = scratch.empty((nb, rows, g, c), dtype)
    r0 = min(rows, max(0, -off))
    r1 = max(r0, min(rows, stop - off))
    if r0:
        out[:, :r0] = 0
    if r1 < rows:
        out[:, r1:] = 0
    if out.nbytes <= SMALL_SAMPLES or x.dtype != dtype:
        out[:, r0:r1] = x[..., off + r0 : off + r1].transpose(0, 3, 1, 2)
    else:
        _transpose_jit(x, off, r0, r1, out)
    return out.reshape(nb * rows, g * c)


def _transform(
    x: np.ndarray, off: int, m: int, count: int, stop: int, mat: np.ndarray, dtype: np.dtype
) -> np.ndarray:
    """``mat`` (ALPHA x ALPHA) applied to ``count`` tiles per item of ``x`` that start every
    ``m`` samples from sample ``off`` (zero outside ``[0, stop)``): (ALPHA, nb * count, G * C),
    columns item by item, channels last."""
    per_item = (count - 1) * m + ALPHA
    src = _samples(x, off, per_item, stop, dtype)
    out = scratch.empty((ALPHA, x.shape[0] * count, src.shape[1]), dtype)
    _tile_jit(src, per_item, count, m, mat, out)
    return out


def _input_transform(
    x: np.ndarray, off: int, m: int, count: int, dtype: np.dtype, reciprocal: bool = False
) -> np.ndarray:
    """``V = BT @ tiles`` for ``count`` tiles per item of ``x`` starting at sample ``off``
    (zeros outside ``x``): (ALPHA, nb * count, G * C). ``reciprocal``: BT of the reciprocal
    points (see :func:`matrices`)."""
    return _transform(x, off, m, count, x.shape[3], matrices(m, ALPHA - m + 1, dtype, reciprocal)[2], dtype)


def _grouped(v: np.ndarray, g: int) -> np.ndarray:
    """(ALPHA, cols, G * C) -> the (ALPHA, G, cols, C) view the products take."""
    return v.reshape(v.shape[0], v.shape[1], g, -1).transpose(0, 2, 1, 3)


@functools.lru_cache(maxsize=64)
def _padded(k: int, m: int, dtype: np.dtype) -> np.ndarray:
    """G of F(K, m) (ALPHA x m) with zero columns up to ALPHA: the output-gradient transform."""
    gt = matrices(k, m, dtype)[1]
    out = np.zeros((ALPHA, ALPHA), dtype=dtype)
    out[:, : gt.shape[1]] = gt
    return out


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
    """The convolution by Winograd's minimal filtering F(m, K): ALPHA products per tile of m outputs.

    Shape:
        x     (N, G, Ci, L), without its zero padding (``pad_left``/``pad_right`` samples)
        w     (G, Co, Ci, K)
        bias  (G, Co) or None
        ->    (N, G, Co, Lo), Lo = (L + pad_left + pad_right - (K-1)*dilation - 1) // stride + 1

    ``keep``: a dict that receives the transformed input for :func:`conv_weight`'s ``kept``
    (the same tiles: ``m`` and ``BT`` are the same there), if it is one block of at most
    ``gemm.KEEP_BYTES``, and the weight transform for :func:`conv_transpose`'s ``kept``.
    """
    _check(stride, dilation, w.shape[3])
    return _conv(x, w, False, pad_left, pad_right, bias, keep, None, out)


def _kept_key(x: np.ndarray, m: int, pad_left: int, dtype: np.dtype) -> tuple:
    return ("winograd", x.shape, m, pad_left, dtype)


def _weights_key(w: np.ndarray, dtype: np.dtype) -> tuple:
    return ("winograd weights", w.shape, dtype)


def conv_transpose(
    y: np.ndarray,
    w: np.ndarray,
    stride: int,
    dilation: int,
    length: int,
    offset: int = 0,
    kept: dict | None = None,
) -> np.ndarray:
    """The adjoint of :func:`conv` by Winograd's minimal filtering (stride 1).

    Shape:
        y     (N, G, Co, Lo)
        w     (G, Co, Ci, K)
        ->    (N, G, Ci, length): positions offset .. offset+length-1 of the full adjoint

    Stride 1: a forward conv of ``y`` with the flipped, transposed kernel (see
    :func:`conv1d.kernels.gemm.as_conv_window`), computed from ``w``'s own transform
    ``G @ w`` by interpolating at the reciprocal points (see :func:`matrices`): no flipped
    copy of the weight, and ``kept`` may hold the transform a forward :func:`conv` with
    the same ``w`` left in its ``keep``.
    """
    _check(stride, dilation, w.shape[3])
    window = as_conv_window(y, w.shape[3], 1, length, offset)
    if window is None:
        return np.zeros(y.shape[:2] + (w.shape[2], length), dtype=np.result_type(y, w))
    return _conv(window[0], w, True, window[1], window[2], None, None, kept)


def _conv(
    x: np.ndarray,
    w: np.ndarray,
    flipped: bool,
    pad_left: int,
    pad_right: int,
    bias: np.ndarray | None,
    keep: dict | None,
    kept: dict | None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """conv of ``x`` with ``w`` (G, Co, Ci, K), or, if ``flipped``, with ``w``'s flipped,
    transposed kernel (then ``x`` has Co channels and the result Ci), into ``out`` if given."""
    n, g, _, length = x.shape
    _, w_out, w_in, k = w.shape
    ci, co = (w_out, w_in) if flipped else (w_in, w_out)
    lo = max(0, length + pad_left + pad_right - k + 1)
    dtype = np.result_type(x, w)
    y = np.empty((n, g, co, lo), dtype=dtype) if out is None else out
    m = tile(k)
    count_all = -(-lo // m)
    if y.size == 0:
        return y
    at, gt, _ = matrices(m, k, dtype, flipped)
    u = None if kept is None else kept.get(_weights_key(w, dtype))
    if u is None:  # the weight transform: G @ each (o, c) kernel
        u = matmul(gt, w.reshape(g * w_out * w_in, k).T).reshape(ALPHA, g, w_out, w_in)
        if keep is not None and u.nbytes <= gemm.KEEP_BYTES:
            keep[_weights_key(w, dtype)] = u
    # The products' right-hand sides: (ALPHA, G, Ci, Co); the flipped kernel's transposition is u itself.
    right = u if flipped else u.transpose(0, 1, 3, 2)
    add = np.zeros((g, co), dtype) if bias is None else np.ascontiguousarray(bias.reshape(g, co), dtype)
    for n0, n1, j0, j1 in _blocks(n, count_all, g * tile_bytes(ci, co, m, dtype.itemsize), _slots(m)):
        count = j1 - j0
        v = _input_transform(x[n0:n1], j0 * m - pad_left, m, count, dtype, flipped)
        if keep is not None and (n1 - n0, count) == (n, count_all) and v.nbytes <= gemm.KEEP_BYTES:
            keep[_kept_key(x, m, pad_left, dtype)] = v
        products = matmul(_grouped(v, g), right)  # (ALPHA, G, cols, Co)
        _untile_jit(np.ascontiguousarray(products), at, add, count, y, n0, j0 * m, min(lo, j1 * m))
    return y


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
    """The weight gradient of :func:`conv` by Winograd's minimal filtering F(K, m).

    Shape:
        x     (N, G, Ci, L), without its zero padding (``pad_left`` samples on the left)
        y     (N, G, Co, Lo), the output gradient
        ->    (G, Co, Ci, K)

    F(K, m) per tile of ``m`` output-gradient samples, summed over tiles and batch in
    ``ALPHA`` products: ``M[p] = (G @ gy tiles)[p]^T @ (BT @ x tiles)[p]``, then ``AT @ M``.
    ``kept``: where the forward call of the same ``x`` left its transformed input.
    ``bias``: a (G, Co) array that receives ``y`` summed over batch and positions (the bias
    gradient), read off the transformed output gradient: at the point 1, G's row is all
    ones, so that row holds each tile's sum of its ``m`` samples (the tiles do not overlap).
    """
    n, g, ci, _ = x.shape
    co, lo = y.shape[2], y.shape[3]
    _check(stride, dilation, k)
    dtype = np.result_type(x, y)
    m = tile(k)
    count_all = -(-lo // m)
    at = matrices(k, m, dtype)[0]
    gt = _padded(k, m, dtype)
    products = None
    for n0, n1, j0, j1 in _blocks(n, count_all, g * tile_bytes(ci, co, m, dtype.itemsize), _slots(m)):
        count = j1 - j0
        v = (
            None
            if kept is None or (n1 - n0, count) != (n, count_all)
            else kept.get(_kept_key(x, m, pad_left, dtype))
        )
        if v is None:
            v = _input_transform(x[n0:n1], j0 * m - pad_left, m, count, dtype)
        # The output gradient's tiles of m samples (zero past the block's last tile).
        d = _transform(y[n0:n1], j0 * m, m, count, min(lo, j1 * m), gt, dtype)
        if bias is not None:
            sums = d[ONES].sum(axis=0).reshape(g, co)
            bias[...] = sums if products is None else bias + sums
        part = matmul(_grouped(d, g).transpose(0, 1, 3, 2), _grouped(v, g))  # (ALPHA, G, Co, Ci)
        products = part if products is None else np.add(products, part, out=products)
    if products is None:  # no output positions
        if bias is not None:
            bias[...] = 0
        return np.zeros((g, co, ci, k), dtype=dtype)
    # AT @ M, written straight into the (G, Co, Ci, K) layout: a contiguous gradient (as a
    # strided view of a (K, G*Co*Ci) product it made torch's Adam step 2.5x slower on the
    # FCN's weights; the product in that layout, M^T @ AT^T, ran 5-8x slower in PyTorch).
    gw = np.empty((g * co * ci, k), dtype=dtype)
    _weights_out_jit(np.ascontiguousarray(products.reshape(ALPHA, -1)), np.ascontiguousarray(at), gw)
    return gw.reshape(g, co, ci, k)
