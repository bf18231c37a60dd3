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

    V[p] = (BT @ tiles of x)[p]          (ALPHA, Ci, tiles)     input transform
    U[p] = (G @ w)[p]                    (ALPHA, Co, Ci)        weight transform
    M[p] = U[p] @ V[p]                   (ALPHA, Co, tiles)     the BLAS work
    y    = AT @ M                        (m outputs per tile)   output transform

The matrices come from the points 0, 1, -1, 2, -2, 1/2, -1/2 and infinity: with ``Vn`` the
``ALPHA x n`` Vandermonde matrix of the points (the infinity row picks the leading
coefficient), a linear convolution is ``c = V^-1 ((Vm a) * (Vr b))``, and correlation, its
transpose, gives ``AT = Vm^T``, ``G = Vr``, ``BT = V^-T`` (computed in exact rationals).

The weight gradient is the same algorithm with roles swapped: ``K`` outputs (the taps)
from a correlation of the input with ``m`` samples of the output gradient, F(K, m), and the
same ``BT``. The transposed convolution (stride 1) is the forward one with the flipped,
transposed kernel, whose transform is ``G`` with its columns reversed applied to ``w``
(no flipped copy), used transposed in the products.

How it runs: every product, the transforms' small ones included, goes through
:func:`conv1d.kernels.gemm.matmul` (NumPy's BLAS, or PyTorch's inside ``conv1d.torch``,
where these small products run about twice as fast). Tiles are never gathered: each row
of samples is copied once, with its zero padding, into rows of ``m``, and tile ``j``'s
``ALPHA`` samples are rows ``j, j+1, ...`` of that matrix, so ``BT @ tiles`` is a sum of
``ceil(ALPHA/m)`` products with overlapping views (see :func:`_input_transform`). Blocks
of tiles keep every temporary under ``BLOCK_BYTES`` (see :func:`tile_bytes`). The
transforms are passes over memory, which is why the planner weighs them
(``dispatch.TRANSFORM_BANDWIDTH``): Winograd wins on large channel-rich layers, GEMM on
small ones. (Tried: the transforms as compiled Numba loops, which measured slower than
these products on one thread.)

Accuracy: the transforms add rounding that the direct sum does not have. Measured against
float64 on 2,400 random problems (K = 2..7): the largest float32 error is 1.8e-6 of the
largest output (2.7e-6 for weight gradients), against about 1e-6 for a direct float32
sum; float64 stays under 4e-15. Integer dtypes are refused (the transforms have fractions).

See :mod:`conv1d.kernels` for the shared shape contract.
"""

from __future__ import annotations

import functools
from fractions import Fraction

import numpy as np

from . import gemm
from .gemm import BLOCK_BYTES, as_conv_window, copy_strided, matmul

ALPHA = 8  # samples per tile: 7 finite interpolation points and infinity
POINTS = tuple(Fraction(p) for p in ("0", "1", "-1", "2", "-2", "1/2", "-1/2"))
ONES = 1  # index of the point 1, whose column of AT is all ones (the bias goes there)
MAX_TAPS = ALPHA - 1  # at least two outputs per tile


def tile(k: int) -> int:
    """Outputs per tile for a ``k``-tap kernel."""
    return ALPHA - k + 1


def _vandermonde(columns: int) -> list[list[Fraction]]:
    return [[p**j for j in range(columns)] for p in POINTS] + [[Fraction(0)] * (columns - 1) + [Fraction(1)]]


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
def matrices(m: int, r: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(AT (m, ALPHA), G (ALPHA, r), BT (ALPHA, ALPHA))`` of F(m, r), ``m + r - 1 == ALPHA``."""
    if m + r - 1 != ALPHA:
        raise ValueError(f"F({m}, {r}) needs m + r - 1 == {ALPHA}")
    inverse = _inverse(_vandermonde(ALPHA))

    def array(rows: list[list[Fraction]]) -> np.ndarray:
        return np.array([[float(v) for v in row] for row in rows]).astype(dtype)

    vm, vr = _vandermonde(m), _vandermonde(r)
    at = [[vm[p][i] for p in range(ALPHA)] for i in range(m)]
    bt = array([[inverse[i][p] for i in range(ALPHA)] for p in range(ALPHA)])
    return array(at), array(vr), bt


@functools.lru_cache(maxsize=64)
def pieces(step: int, dtype: np.dtype) -> tuple[np.ndarray, ...]:
    """BT's blocks of ``step`` columns, for tiles that start every ``step`` samples (see
    :func:`_input_transform`)."""
    bt = matrices(ALPHA - 1, 2, dtype)[2]  # BT depends on the points alone
    return tuple(np.ascontiguousarray(bt[:, q : q + step]) for q in range(0, ALPHA, step))


def _check(stride: int, dilation: int, k: int) -> None:
    if stride != 1 or dilation != 1 or not 2 <= k <= MAX_TAPS:
        raise ValueError(f"the Winograd kernel computes stride 1, dilation 1, 2..{MAX_TAPS} taps; "
                         f"got stride={stride}, dilation={dilation}, K={k}")


def tile_bytes(ci: int, co: int, m: int, itemsize: int) -> int:
    """Working memory per tile slot and group: the samples (m per input channel), their
    transform and one partial sum of it (ALPHA each), the products (ALPHA per output
    channel) and the outputs or output-gradient samples (m). The blocks keep
    ``tile_bytes * tiles`` under BLOCK_BYTES; the weight transform comes on top."""
    return itemsize * (ci * (m + 2 * ALPHA) + co * (ALPHA + m))


def _blocks(n: int, tiles: int, per_tile: int, slack: int) -> list[tuple[int, int, int, int]]:
    """(n0, n1, j0, j1) blocks of batch items and tiles, each under BLOCK_BYTES counting
    ``slack`` more tile slots per item: whole items side by side when they fit, else one
    item at a time in ranges of tiles."""
    most = max(1, BLOCK_BYTES // max(per_tile, 1))
    if tiles + slack <= most:
        items = max(1, most // (tiles + slack))
        return [(n0, min(n, n0 + items), 0, tiles) for n0 in range(0, n, items)]
    step = max(1, most - slack)
    return [(b, b + 1, j0, min(tiles, j0 + step)) for b in range(n) for j0 in range(0, tiles, step)]


def _slots(m: int) -> int:
    """Tile slots past a row's last tile that its samples reach into: ceil((ALPHA - m) / m)."""
    return -(-(ALPHA - m) // m)


def tile_slots(n: int, lo: int, k: int) -> int:
    """Tile slots a ``k``-tap call with ``n`` items of ``lo`` outputs works on, junk included."""
    m = tile(k)
    return n * (-(-lo // m) + _slots(m))


def _rows(x: np.ndarray, off: int, m: int, count: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """The block's samples as rows of tiles: ``out[g, c, b, s] = x[b, g, c, off + s]`` (zero
    outside ``x``) for ``s < (count + _slots(m)) * m``, shape (G, C, nb, (count + slots) * m),
    and the flat array under it, which has ``ALPHA - m`` zeros of slack after the last row."""
    nb, g, c, _ = x.shape
    width = (count + _slots(m)) * m
    flat = np.empty(g * c * nb * width + ALPHA - m, dtype=dtype)
    flat[g * c * nb * width :] = 0
    rows = flat[: g * c * nb * width].reshape(g, c, nb, width)
    copy_strided(rows, x.transpose(1, 2, 0, 3), off, 1)
    return rows, flat


def _input_transform(x: np.ndarray, off: int, m: int, count: int, dtype: np.dtype) -> np.ndarray:
    """``V = BT @ tiles`` for ``count`` tiles of ``x`` starting at sample ``off`` (zeros
    outside ``x``), plus the junk slots (:func:`_slots`): (ALPHA, G, C, nb * slots). The
    samples are copied once into rows of ``m`` (:func:`_rows`); tile ``j``'s first ``m``
    samples are row ``j`` of the (rows, m) matrix they reshape to, the next ``m`` are row
    ``j + 1``, and so on, so ``BT @ tiles`` is a sum of ``ceil(ALPHA/m)`` products of BT's
    column blocks (:func:`pieces`) with overlapping views of the samples (leading dimension
    m): no tile is ever gathered. The last slots of each row of samples hold tiles that run
    into the next row: junk, never used."""
    rows, flat = _rows(x, off, m, count, dtype)
    g, c, nb, width = rows.shape
    v = None
    for q, piece in enumerate(pieces(m, dtype)):
        view = np.lib.stride_tricks.as_strided(flat[q * m :], (rows.size // m, piece.shape[1]),
                                               (m * flat.itemsize, flat.itemsize))
        part = matmul(piece, view.T)
        v = part if v is None else np.add(v, part, out=v)
    return v.reshape(ALPHA, g, c, nb * (width // m))


def _scatter(y: np.ndarray, out: np.ndarray, m: int) -> None:
    """``y[b, g, o, j*m + i] = out[i, g, o, b, j]``: tiles of outputs back in a row (the last
    tile may be cut short by ``y``'s end)."""
    full = y.shape[3] // m
    if full:
        y[..., : full * m].reshape(y.shape[:3] + (full, m))[...] = out[..., :full].transpose(3, 1, 2, 4, 0)
    if y.shape[3] > full * m:
        y[..., full * m :] = out[: y.shape[3] - full * m, ..., full].transpose(3, 1, 2, 0)


def conv(x: np.ndarray, w: np.ndarray, stride: int, dilation: int, pad_left: int = 0, pad_right: int = 0,
         bias: np.ndarray | None = None, keep: dict | None = None) -> np.ndarray:
    """``keep``: a dict that receives the transformed input for :func:`conv_weight`'s ``kept``
    (the same tiles: ``m`` and ``BT`` are the same there), if it is one block of at most
    ``gemm.KEEP_BYTES``."""
    _check(stride, dilation, w.shape[3])
    return _conv(x, w, False, pad_left, pad_right, bias, keep)


def _kept_key(x: np.ndarray, m: int, pad_left: int, dtype: np.dtype) -> tuple:
    return ("winograd", x.shape, m, pad_left, dtype)


def conv_transpose(y: np.ndarray, w: np.ndarray, stride: int, dilation: int, length: int, offset: int = 0) -> np.ndarray:
    """Stride 1: a forward conv of ``y`` with the flipped, transposed kernel (see
    :func:`conv1d.kernels.gemm.as_conv_window`), taken straight from ``w``: the transform of
    the flipped kernel is ``G`` with its columns reversed, and the transposition is a view
    in the products. No flipped copy of the weight is made."""
    _check(stride, dilation, w.shape[3])
    window = as_conv_window(y, w.shape[3], 1, length, offset)
    if window is None:
        return np.zeros(y.shape[:2] + (w.shape[2], length), dtype=np.result_type(y, w))
    return _conv(window[0], w, True, window[1], window[2], None, None)


def _conv(x: np.ndarray, w: np.ndarray, flipped: bool, pad_left: int, pad_right: int,
          bias: np.ndarray | None, keep: dict | None) -> np.ndarray:
    """conv of ``x`` with ``w`` (G, Co, Ci, K), or, if ``flipped``, with ``w``'s flipped,
    transposed kernel (then ``x`` has Co channels and the result Ci)."""
    n, g, _, length = x.shape
    _, w_out, w_in, k = w.shape
    ci, co = (w_out, w_in) if flipped else (w_in, w_out)
    lo = max(0, length + pad_left + pad_right - k + 1)
    dtype = np.result_type(x, w)
    y = np.empty((n, g, co, lo), dtype=dtype)
    m = tile(k)
    tiles = -(-lo // m)
    if y.size == 0:
        return y
    at, gt, _ = matrices(m, k, dtype)
    u = matmul(np.ascontiguousarray(gt[:, ::-1]) if flipped else gt, w.reshape(g * w_out * w_in, k).T)
    u = u.reshape(ALPHA, g, w_out, w_in)  # the weight transform: G @ each (o, c) kernel
    if flipped:
        u = u.transpose(0, 1, 3, 2)
    bias_column = None if bias is None else bias.reshape(g, co, 1).astype(dtype, copy=False)
    for n0, n1, j0, j1 in _blocks(n, tiles, g * tile_bytes(ci, co, m, dtype.itemsize), _slots(m)):
        nb, count = n1 - n0, j1 - j0
        v = _input_transform(x[n0:n1], j0 * m - pad_left, m, count, dtype)
        slots = v.shape[3] // nb
        if keep is not None and (nb, count) == (n, tiles) and v.nbytes <= gemm.KEEP_BYTES:
            keep[_kept_key(x, m, pad_left, dtype)] = v
        products = matmul(u, v)  # (ALPHA, g, co, nb * slots)
        if bias_column is not None:
            products[ONES] += bias_column
        out = matmul(at, products.reshape(ALPHA, -1)).reshape(m, g, co, nb, slots)
        _scatter(y[n0:n1, :, :, j0 * m : min(lo, j1 * m)], out, m)
    return y


def conv_weight(x: np.ndarray, y: np.ndarray, k: int, stride: int, dilation: int, pad_left: int = 0,
                kept: dict | None = None) -> np.ndarray:
    """F(K, m) per tile of ``m`` output-gradient samples, summed over tiles and batch in
    ``ALPHA`` products: ``M[p] = (G @ gy tiles)[p] @ (BT @ x tiles)[p]^T``, then ``AT @ M``.
    The junk tile slots of the input rows meet zeros in the output gradient's rows.
    ``kept``: where the forward call of the same ``x`` left its transformed input."""
    n, g, ci, _ = x.shape
    co, lo = y.shape[2], y.shape[3]
    _check(stride, dilation, k)
    dtype = np.result_type(x, y)
    m = tile(k)
    tiles = -(-lo // m)
    at, gt, _ = matrices(k, m, dtype)
    products = None
    for n0, n1, j0, j1 in _blocks(n, tiles, g * tile_bytes(ci, co, m, dtype.itemsize), _slots(m)):
        count = j1 - j0
        v = None if kept is None or (n1 - n0, count) != (n, tiles) else kept.get(_kept_key(x, m, pad_left, dtype))
        if v is None:
            v = _input_transform(x[n0:n1], j0 * m - pad_left, m, count, dtype)
        grad_rows, _ = _rows(y[n0:n1], j0 * m, m, count, dtype)
        grad_rows[..., count * m :] = 0  # the junk slots (and anything past this block)
        d = matmul(gt, grad_rows.reshape(-1, m).T).reshape(ALPHA, g, co, -1)
        part = matmul(d, v.transpose(0, 1, 3, 2))
        products = part if products is None else np.add(products, part, out=products)
    if products is None:  # no output positions
        return np.zeros((g, co, ci, k), dtype=dtype)
    # (K, G*Co*Ci) transposed is the (G, Co, Ci, K) result as a strided view: no copy.
    return matmul(at, products.reshape(ALPHA, -1)).T.reshape(g, co, ci, k)
