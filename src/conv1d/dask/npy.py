""".npy files as Dask arrays, block by block: :func:`from_npy` and :func:`to_npy`.

Each task opens the file itself and reads or writes only its own block (``os.preadv`` /
``os.pwritev`` at computed byte offsets, no memory map), so they work with worker
processes too and never send the data through the scheduler: only the path travels.
Both are also importable from :mod:`conv1d.dask`.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

import numpy as np

from conv1d.dask._common import load_dask, unique_name
from conv1d.errors import ConvError, ConvTypeError

__all__ = ["from_npy", "to_npy"]


def _npy_header(path: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, byte offset of the data) of a C-order ``.npy`` file of rank >= 1."""
    with open(path, "rb") as f:
        major, _ = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(f)
        offset = f.tell()
    if fortran and len(shape) > 1:
        raise ConvError(
            f"from_npy: {path} is stored in Fortran order; rewrite it in C order "
            f"(np.save(path, np.ascontiguousarray(a)))."
        )
    if dtype.hasobject:
        raise ConvTypeError(
            f"from_npy: {path} holds Python objects ({dtype}); conv1d reads numeric arrays only."
        )
    if not shape:
        raise ConvError(f"from_npy: {path} holds a 0-d array, which has no chunks; read it with np.load.")
    return tuple(shape), dtype, offset


def from_npy(path: str | os.PathLike, chunks: Any = "auto") -> Any:
    """A ``.npy`` file as a lazy Dask array whose tasks each read their own chunk from the
    file (with ``os.pread``: no memory map, so a task's memory is its chunk), and only
    the path travels to worker processes. ``chunks`` as for Dask arrays."""
    da, graph = load_dask()
    path = os.fspath(path)
    shape, dtype, offset = _npy_header(path)
    normalized = da.core.normalize_chunks(chunks, shape, dtype=dtype)
    name = unique_name("from-npy")
    tasks = {}
    edges = [[0, *itertools.accumulate(c)] for c in normalized]
    for index in itertools.product(*(range(len(c)) for c in normalized)):
        where = tuple(slice(e[i], e[i + 1]) for e, i in zip(edges, index))
        tasks[(name, *index)] = (_read_npy, path, shape, dtype, offset, where)
    return da.Array(
        graph.from_collections(name, tasks, dependencies=[]), name, chunks=normalized, dtype=dtype
    )


def _read_npy(
    path: str, shape: tuple[int, ...], dtype: np.dtype, offset: int, where: tuple[slice, ...]
) -> np.ndarray:
    block = np.empty(tuple(s.stop - s.start for s in where), dtype)
    _transfer(path, shape, offset, where, block, write=False)
    return block


def _transfer(
    path: str, shape: tuple[int, ...], offset: int, where: tuple[slice, ...], block: np.ndarray, write: bool
) -> None:
    """Read the region ``where`` of the C-order array stored at byte ``offset`` of ``path``
    into the C-contiguous ``block``, or write ``block`` there: one ``preadv``/``pwritev``
    per contiguous run along the last axis (the calls may move fewer bytes; looped)."""
    if block.size == 0:
        return
    call = os.pwritev if write else os.preadv
    strides = np.cumprod((1, *shape[:0:-1]))[::-1]  # elements per step of each axis
    rows = block.reshape(-1, block.shape[-1])
    starts = itertools.product(*(range(s.start, s.stop) for s in where[:-1]))  # leading indices, in C order
    fd = os.open(path, os.O_WRONLY if write else os.O_RDONLY)
    try:
        for row, lead in zip(rows, starts):
            buffer = memoryview(row).cast("B")
            position = (
                offset + (sum(i * st for i, st in zip(lead, strides)) + where[-1].start) * block.itemsize
            )
            done = 0
            while done < len(buffer):
                moved = call(fd, [buffer[done:]], position + done)
                if moved <= 0:
                    raise OSError(f"conv1d.dask: short {call.__name__} of {path} at byte {position + done}")
                done += moved
    finally:
        os.close(fd)


class _NpyTarget:
    """A ``.npy`` file as a ``dask.array.store`` target: each block is written in place
    with ``os.pwrite`` (one call per contiguous run), from any worker on the same disk."""

    def __init__(self, path: str, shape: tuple[int, ...], dtype: np.dtype, offset: int) -> None:
        self.path, self.shape, self.dtype, self.offset = path, shape, dtype, offset

    def __setitem__(self, where: Any, block: np.ndarray) -> None:
        where = tuple(slice(*s.indices(n)) for s, n in zip(where, self.shape))
        _transfer(
            self.path,
            self.shape,
            self.offset,
            where,
            np.ascontiguousarray(block, dtype=self.dtype),
            write=True,
        )


def to_npy(array: Any, path: str | os.PathLike, compute: bool = True, **compute_kwargs: Any) -> Any:
    """Write a Dask array to one ``.npy`` file block by block, never holding all of it.

    Creates the file first (sparse where the filesystem allows); with ``compute=False``
    returns the delayed write instead of running it. ``compute_kwargs`` go to
    ``dask.array.store`` (``scheduler=...``, ...). The file then opens with
    ``np.load(path, mmap_mode='r')``.
    """
    da, _ = load_dask()
    if not isinstance(array, da.Array):
        raise ConvTypeError(f"to_npy: expected a dask.array.Array, got {type(array).__name__}.")
    if array.ndim == 0:
        raise ConvError("to_npy: a 0-d array has no blocks to write; use np.save.")
    path = os.fspath(path)
    created = np.lib.format.open_memmap(path, mode="w+", dtype=array.dtype, shape=array.shape)
    target = _NpyTarget(
        path, array.shape, created.dtype, created.offset
    )  # the data's place, from the header written
    del created
    return da.store(array, target, lock=False, compute=compute, **compute_kwargs)
