"""conv1d on Dask arrays: lazy, chunk by chunk, exactly the in-memory answer.

``conv1d.conv1d``, ``conv1d.conv_transpose1d`` and the layers hand a Dask array here and
get a lazy Dask array back (needs ``pip install 'conv1d[dask]'``; ``import conv1d`` never
imports Dask: the check is whether ``dask.array`` is already imported and the input is one
of its arrays). The functions below can also be called directly.

How the work is split, along each axis of the input:

* **batch**: every batch chunk is an independent task; the output keeps those chunks.
* **channels**: a convolution mixes channels, so each task joins all channel chunks;
  the output has one chunk of C_out channels.
* **length**: output positions are split where the input's chunks are split (output ``t``
  goes with the chunk in which its window starts). Each output block gathers exactly the
  input samples its windows read: the rest of its own chunk plus a halo of up to
  ``(K-1)*dilation + 1 - stride`` samples from the chunks after it (from as many as
  needed, so chunks shorter than the halo are fine), and, at the two ends, the padding,
  built as the padding mode says (reflect/replicate/circular read the right samples,
  from whichever chunks hold them). The block is then an ordinary ``padding=0`` call of
  the in-memory function on that segment, so the normal planner picks the algorithm
  (FFT for long kernels, ...) per block, and the stride phase is right by construction:
  a block's first window starts at ``t0*stride - left``. A transposed convolution is
  split the same way in output coordinates: each output block gathers the inputs that
  scatter into it.

Results equal the in-memory call within the algorithm's floating-point tolerance (the
same terms, summed per block); integer dtypes are exact. Each task holds its own
segment, at most one chunk plus the halo, and its output block: memory per worker is a
few chunks, whatever the length of the signal.

:func:`from_npy` and :func:`to_npy` (in :mod:`conv1d.dask.npy`, importable from here too)
read and write one ``.npy`` file chunk by chunk.

Example:
    >>> import numpy as np, dask.array as da, conv1d
    >>> x = np.random.default_rng(0).standard_normal((2, 3, 1000))
    >>> w = np.random.default_rng(1).standard_normal((4, 3, 5))
    >>> lazy = conv1d.conv1d(da.from_array(x, chunks=(1, 3, 128)), w, padding="same")
    >>> lazy.chunks[2][:3], lazy.shape
    ((130, 128, 128), (2, 4, 1000))
    >>> bool(np.allclose(lazy.compute(), conv1d.conv1d(x, w, padding="same")))
    True
"""

from __future__ import annotations

# Absolute imports throughout: this package is conv1d.dask, and "dask" is always the
# third-party library (Python 3 resolves `import dask.array` absolutely).
import bisect
import itertools
import math
from typing import Any

import numpy as np

from conv1d import _padding
from conv1d._layout import compute_dtype
from conv1d.dask._common import load_dask, unique_name
from conv1d.dask.npy import from_npy, to_npy
from conv1d.dispatch import parse_algorithm
from conv1d.errors import ConvError, ConvTypeError
from conv1d.executor import Executor, executor_for
from conv1d.spec import ConvSpec, as_arrays, conv1d_spec, conv_transpose1d_spec, is_dask_array

__all__ = ["conv1d", "conv_transpose1d", "from_npy", "is_dask_array", "to_npy"]


# --------------------------------------------------------------------------- checks


def _checked_input(op: str, x: Any) -> Any:
    da, _ = load_dask()
    if not isinstance(x, da.Array):
        raise ConvTypeError(
            f"{op}: expected a dask.array.Array input, got {type(x).__name__}; "
            f"use conv1d.{op.split('.')[-1]} for in-memory arrays."
        )
    if any(math.isnan(size) for sizes in x.chunks for size in sizes):
        raise ConvError(
            f"{op}: the input's chunk sizes are unknown (shape {x.shape}); the halos need "
            f"them. Call x.compute_chunk_sizes() first."
        )
    return x


def _parameters(op: str, x: Any, weight: Any, bias: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """The weight and bias as NumPy arrays (computed if they are Dask arrays: they are
    small), checked for dtype against the input like the in-memory call does."""
    weight = weight.compute() if is_dask_array(weight) else weight
    bias = bias.compute() if is_dask_array(bias) else bias
    _, w, b = as_arrays(op, input=np.empty(0, x.dtype), weight=weight, bias=bias)
    return w, b


def _axes(spec: ConvSpec) -> tuple[int | None, int, int]:
    """(batch, channel, length) axes of the input (batch None when unbatched)."""
    shift = 0 if spec.batched else 1
    c_axis, l_axis = (1, 2) if spec.layout == "NCL" else (2, 1)
    return (0 if spec.batched else None), c_axis - shift, l_axis - shift


# --------------------------------------------------------------------------- public functions


def conv1d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: Any = 1,
    *,
    padding_mode: str = "zeros",
    layout: str = "NCL",
    algorithm: str = "auto",
    op: str = "conv1d",
) -> Any:
    """:func:`conv1d.conv1d` of a Dask array: a lazy Dask array, computed chunk by chunk.

    Shape: as :func:`conv1d.conv1d`, (N, C_in, L_in) -> (N, C_out, L_out); the result's
    chunks follow the input's along the batch and the length, each block computed by its
    executor from the input chunks its windows read (halos included).

    Same arguments and checks as the in-memory function (all raised here, before any
    work); ``weight`` and ``bias`` are NumPy arrays (Dask ones are computed first).
    """
    x = _checked_input(op, input)
    w, b = _parameters(op, x, weight, bias)
    spec = conv1d_spec(
        x.shape,
        w.shape,
        None if b is None else b.shape,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        padding_mode=padding_mode,
        layout=layout,
        dtype=x.dtype,
        op=op,
    )
    parse_algorithm(op, algorithm)
    return _graph_conv1d(spec, x, w, b, algorithm)


def conv_transpose1d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    groups: Any = 1,
    dilation: Any = 1,
    *,
    layout: str = "NCL",
    algorithm: str = "auto",
    output_size: Any = None,
    op: str = "conv_transpose1d",
) -> Any:
    """:func:`conv1d.conv_transpose1d` of a Dask array: a lazy Dask array.

    Shape: as :func:`conv1d.conv_transpose1d`, (N, C_in, L_in) -> (N, C_out, L_out).

    ``output_size`` picks the output padding as ``ConvTranspose1d.forward``'s does.
    """
    x = _checked_input(op, input)
    w, b = _parameters(op, x, weight, bias)
    spec = conv_transpose1d_spec(
        x.shape,
        w.shape,
        None if b is None else b.shape,
        stride=stride,
        padding=padding,
        output_padding=0 if output_size is not None else output_padding,
        groups=groups,
        dilation=dilation,
        layout=layout,
        dtype=x.dtype,
        op=op,
        output_size=output_size,
    )
    parse_algorithm(op, algorithm)
    return _graph_conv_transpose1d(spec, x, w, b, algorithm)


# --------------------------------------------------------------------------- the graphs


class _Graph:
    """Builds one output array's tasks: pieces of input chunks, and the blocks using them."""

    def __init__(self, spec: ConvSpec, x: Any, w: np.ndarray, b: np.ndarray | None, algorithm: Any) -> None:
        self.spec, self.x, self.name = spec, x, unique_name(spec.op.replace(".", "-"))
        self.n_axis, self.c_axis, self.l_axis = _axes(spec)
        self.starts = [0, *itertools.accumulate(x.chunks[self.l_axis])]  # chunk boundaries along L
        self._pieces = itertools.count()
        # the weight and bias are stored once in the graph; every block task names them
        self.weight_key, self.bias_key = (f"{self.name}-weight",), (f"{self.name}-bias",)
        self.tasks: dict[Any, Any] = {self.weight_key: w, self.bias_key: b}
        self.options = (
            spec.stride,
            spec.dilation,
            spec.groups,
            spec.layout,
            algorithm,
            self.l_axis,
            self.c_axis,
        )

    def chunk_keys(self, batch_chunk: int | None, length_chunk: int) -> list[tuple]:
        """The input keys of one (batch chunk, length chunk) over all channel chunks."""
        keys = []
        for c in range(len(self.x.chunks[self.c_axis])):
            index = [0] * self.x.ndim
            if self.n_axis is not None:
                index[self.n_axis] = batch_chunk
            index[self.c_axis], index[self.l_axis] = c, length_chunk
            keys.append((self.x.name, *index))
        return keys

    def piece(self, batch_chunk: int | None, length_chunk: int, where: slice | np.ndarray) -> Any:
        """A key holding input chunk ``length_chunk`` (all channels joined) at ``where``
        (local positions along L): the chunk itself when that is all of it."""
        keys = self.chunk_keys(batch_chunk, length_chunk)
        size = self.starts[length_chunk + 1] - self.starts[length_chunk]
        if len(keys) == 1 and isinstance(where, slice) and where == slice(0, size):
            return keys[0]
        key = (f"{self.name}-piece", next(self._pieces))
        self.tasks[key] = (_join_piece, keys, self.c_axis, self.l_axis, where)
        return key

    def parts(self, batch_chunk: int | None, positions: np.ndarray | tuple[int, int]) -> list[Any]:
        """Keys (and zero-run lengths, as ints) that concatenated along L give the input at
        ``positions``: a (start, stop) range inside [0, L_in), or an index array whose -1
        entries are zeros."""
        parts: list[Any] = []
        if isinstance(positions, tuple):
            start, stop = positions
            first = bisect.bisect_right(self.starts, start) - 1
            for c in range(max(first, 0), len(self.starts) - 1):
                lo, hi = max(start, self.starts[c]), min(stop, self.starts[c + 1])
                if lo >= stop:
                    break
                if hi > lo:
                    parts.append(self.piece(batch_chunk, c, slice(lo - self.starts[c], hi - self.starts[c])))
            return parts
        index = np.asarray(positions)
        run_start = 0
        for i in range(1, len(index) + 1):  # runs of zeros, or of indices in one chunk
            if i < len(index) and self._owner(index[i]) == self._owner(index[run_start]):
                continue
            run = index[run_start:i]
            if run[0] < 0:
                parts.append(len(run))
            else:
                c = self._owner(run[0])
                parts.append(self.piece(batch_chunk, c, run - self.starts[c]))
            run_start = i
        return parts

    def _owner(self, position: int) -> int:
        return -1 if position < 0 else bisect.bisect_right(self.starts, position) - 1

    def batch_chunks(self) -> list[int | None]:
        return [None] if self.n_axis is None else list(range(len(self.x.chunks[self.n_axis])))

    def segment_shape(self, batch_chunk: int | None) -> tuple[int, ...]:
        """A segment's shape with length 0 (for zero runs and empty blocks)."""
        shape = [0] * self.x.ndim
        if self.n_axis is not None:
            shape[self.n_axis] = self.x.chunks[self.n_axis][batch_chunk]
        shape[self.c_axis] = self.spec.c_in
        return tuple(shape)

    def output_key(self, batch_chunk: int | None, block: int) -> tuple:
        index = [0] * self.x.ndim
        if self.n_axis is not None:
            index[self.n_axis] = batch_chunk
        index[self.l_axis] = block
        return (self.name, *index)

    def array(self, blocks: list[int]) -> Any:
        da, graph = load_dask()
        chunks: list[tuple[int, ...]] = [()] * self.x.ndim
        if self.n_axis is not None:
            chunks[self.n_axis] = self.x.chunks[self.n_axis]
        chunks[self.c_axis] = (self.spec.c_out,)
        chunks[self.l_axis] = tuple(blocks)
        layer = graph.from_collections(self.name, self.tasks, dependencies=[self.x])
        return da.Array(layer, self.name, chunks=tuple(chunks), dtype=self.spec.dtype)


def _boundaries(starts: list[int], position_of: Any, total: int) -> list[int]:
    """Output block boundaries: each input chunk boundary mapped to output coordinates,
    clamped to [0, total], without empty blocks."""
    cuts = {0, total}
    for s in starts[1:-1]:
        cuts.add(min(max(position_of(s), 0), total))
    return sorted(cuts)


def _graph_conv1d(spec: ConvSpec, x: Any, w: np.ndarray, b: np.ndarray | None, algorithm: Any) -> Any:
    g = _Graph(spec, x, w, b, algorithm)
    s, left, span = spec.stride, spec.pad_left, (spec.k - 1) * spec.dilation + 1
    cuts = _boundaries(
        g.starts, lambda start: -((-start - left) // s), spec.l_out
    )  # ceil((start + left) / s)
    for n in g.batch_chunks():
        for i, (t0, t1) in enumerate(itertools.pairwise(cuts)):
            a, z = t0 * s - left, (t1 - 1) * s - left + span  # the input positions the block reads
            parts: list[Any] = []
            if a < 0:
                parts += g.parts(n, _padding_positions(spec, np.arange(a, min(0, z))))
            if min(z, spec.l_in) > max(a, 0):
                parts += g.parts(n, (max(a, 0), min(z, spec.l_in)))
            if z > spec.l_in:
                parts += g.parts(n, _padding_positions(spec, np.arange(max(a, spec.l_in), z)))
            g.tasks[g.output_key(n, i)] = (
                _conv1d_block,
                parts,
                g.segment_shape(n),
                spec.dtype,
                g.weight_key,
                g.bias_key,
                g.options,
            )
    return g.array([t1 - t0 for t0, t1 in itertools.pairwise(cuts)])


def _padding_positions(spec: ConvSpec, p: np.ndarray) -> np.ndarray:
    """Input indices read at positions ``p`` outside [0, L_in) (-1: a zero)."""
    if spec.padding_mode == "zeros":
        return np.full(p.shape, -1)
    return _padding.sources(p, spec.l_in, spec.padding_mode)


def _graph_conv_transpose1d(
    spec: ConvSpec, x: Any, w: np.ndarray, b: np.ndarray | None, algorithm: Any
) -> Any:
    g = _Graph(spec, x, w, b, algorithm)
    s, pad, reach = spec.stride, spec.pad_left, (spec.k - 1) * spec.dilation
    cuts = _boundaries(g.starts, lambda start: start * s - pad, spec.l_out)
    for n in g.batch_chunks():
        for i, (p0, p1) in enumerate(itertools.pairwise(cuts)):
            # inputs i scatter to i*s + j*d - pad, j < K: those reaching [p0, p1)
            i0 = max(0, -((reach - p0 - pad) // s))  # ceil((p0 + pad - reach) / s)
            i1 = min(spec.l_in, (p1 - 1 + pad) // s + 1)
            parts = g.parts(n, (i0, i1)) if i1 > i0 else []
            first = p0 - (i0 * s - pad)  # the block's first position in the segment's full output
            g.tasks[g.output_key(n, i)] = (
                _conv_transpose1d_block,
                parts,
                g.segment_shape(n),
                spec.dtype,
                g.weight_key,
                g.bias_key,
                g.options,
                first,
                p1 - p0,
            )
    return g.array([p1 - p0 for p0, p1 in itertools.pairwise(cuts)])


# --------------------------------------------------------------------------- the tasks


def _join_piece(chunks: list[np.ndarray], c_axis: int, l_axis: int, where: slice | np.ndarray) -> np.ndarray:
    """Channel chunks joined, then the positions ``where`` taken along L."""
    joined = chunks[0] if len(chunks) == 1 else np.concatenate(chunks, axis=c_axis)
    if isinstance(where, slice):
        index = [slice(None)] * joined.ndim
        index[l_axis] = where
        return joined[tuple(index)]
    return np.take(joined, where, axis=l_axis)


def _segment(parts: list[Any], empty_shape: tuple[int, ...], l_axis: int, dtype: np.dtype) -> np.ndarray:
    """The parts joined along L, ints being runs of zeros."""
    arrays = []
    for part in parts:
        if isinstance(part, int):
            shape = list(empty_shape)
            shape[l_axis] = part
            arrays.append(np.zeros(shape, dtype))
        else:
            arrays.append(part)
    if not arrays:
        return np.zeros(empty_shape, dtype)
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays, axis=l_axis)


def _executor(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    stride: int,
    dilation: int,
    groups: int,
    layout: str,
    algorithm: Any,
    transposed: bool,
) -> Executor:
    """A block's executor: the convolution (or transposed one) of a segment already padded
    (for conv1d: with every sample its outputs read), in the graph's layout."""
    key = (
        "dask block",
        transposed,
        x.shape,
        x.dtype,
        w.shape,
        None if b is None else b.shape,
        stride,
        dilation,
        groups,
        layout,
    )
    build = conv_transpose1d_spec if transposed else conv1d_spec
    return executor_for(
        key,
        lambda: build(
            x.shape,
            w.shape,
            None if b is None else b.shape,
            stride=stride,
            dilation=dilation,
            groups=groups,
            layout=layout,
            dtype=x.dtype,
            op="conv1d.dask block",
        ),
        algorithm,
    )


def _conv1d_block(
    parts: list[Any],
    empty_shape: tuple[int, ...],
    dtype: np.dtype,
    w: np.ndarray,
    b: np.ndarray | None,
    options: tuple,
) -> np.ndarray:
    stride, dilation, groups, layout, algorithm, l_axis, _ = options
    x = _segment(parts, empty_shape, l_axis, dtype)
    return _executor(x, w, b, stride, dilation, groups, layout, algorithm, False).forward(x, w, b)


def _conv_transpose1d_block(
    parts: list[Any],
    empty_shape: tuple[int, ...],
    dtype: np.dtype,
    w: np.ndarray,
    b: np.ndarray | None,
    options: tuple,
    first: int,
    length: int,
) -> np.ndarray:
    """Output positions [first, first + length) of the segment's full (unpadded) transposed
    convolution, computed in the compute dtype with the bias added once, as in memory."""
    stride, dilation, groups, layout, algorithm, l_axis, c_axis = options
    work = compute_dtype(np.dtype(dtype))
    shape = list(empty_shape)
    shape[l_axis] = length
    shape[c_axis] = w.shape[1] * groups
    out = np.zeros(shape, work)
    if parts:
        x = _segment(parts, empty_shape, l_axis, dtype).astype(work, copy=False)
        w = w.astype(work, copy=False)
        full = _executor(x, w, None, stride, dilation, groups, layout, algorithm, True).forward(x, w, None)
        lo, hi = max(first, 0), min(first + length, full.shape[l_axis])
        if hi > lo:
            target = [slice(None)] * out.ndim
            source = [slice(None)] * out.ndim
            target[l_axis], source[l_axis] = slice(lo - first, hi - first), slice(lo, hi)
            out[tuple(target)] = full[tuple(source)]
    if b is not None:
        bias_shape = [1] * out.ndim
        bias_shape[c_axis] = -1
        out += b.astype(work, copy=False).reshape(bias_shape)
    return out.astype(dtype, copy=False)
