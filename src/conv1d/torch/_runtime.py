"""How conv1d's kernels run inside a PyTorch model: on the threads PyTorch uses
(``torch.get_num_threads()``), with the products on PyTorch's BLAS and pool, and no pool
that spins beside PyTorch's.

Inside a PyTorch model, torch's OpenMP workers spin for a while after each of its ops,
and any other pool that spins on the same cores then fights them: OpenBLAS's, and Numba's
on its OpenMP layer (the system libgomp; torch bundles its own). So inside conv1d.torch's
modules the kernels hand their matrix products to PyTorch (:func:`torch_matmul`:
PyTorch's BLAS on PyTorch's threads), run the FFT kernel's transforms on as many
``scipy.fft`` workers as PyTorch has threads and the compiled loops on as many Numba
threads where Numba's pool sleeps when idle (its TBB layer, see
:func:`conv1d.kernels.threads.numba_threads`), and keep NumPy's BLAS (small products
only) -- and the compiled loops on OpenMP -- on the calling thread. Measured on a 2-core
Xeon: on the OpenMP layer, a 2-thread Numba pool made torch's own ``Conv1d(10, 3, 1)`` on
(1001, 10, 219) take 24 ms instead of 1.4; on TBB, depthwise layers (Conformer's, Mamba's,
Conv-TasNet's) ran their forward twice as fast on two threads as on one, torch's
operations beside them unchanged. FCN training on GunPoint (examples/fcn_ucr.py), 2-core
EPYC, seconds per epoch: OpenBLAS on two threads 0.68, on one 0.24-0.31.
"""

from __future__ import annotations

import numpy as np
import torch

from ..kernels import gemm, threads

__all__ = ["SMALL_PRODUCT", "kernels", "torch_matmul"]

# Products with fewer multiply-adds than this go to NumPy: OpenBLAS runs them on the
# calling thread (its own threshold for threads is 65536 * 4), while torch.matmul inside
# a training step costs ~0.1 ms even for the FCN's first layer (1 -> 128 channels,
# 8 taps: 0.15 M multiply-adds), waking its thread pool.
SMALL_PRODUCT = 65536 * 4


def torch_matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``np.matmul`` done by torch on views of the arrays; NumPy's own for small products
    (SMALL_PRODUCT) and for what torch cannot view (read-only or negatively strided arrays)
    or should not multiply (half precision, mixed dtypes, a strided ``out``).

    Matrices go to ``torch.mm``; stacks with the same batch axes (the Winograd kernels'
    batches of eight, four per layer and step) to ``torch.bmm``, their batch axes folded
    into one by NumPy's reshape (a view wherever one can be, as torch's would be); only
    broadcasting goes to ``torch.matmul``, which expands and folds the batch axes itself
    (10 of the 20 us a tiny batched product takes, measured alone). Folding by torch's
    reshape instead measured 1.05-1.06x per Winograd layer's forward and gradients."""
    if (
        a.ndim >= 2
        and b.ndim >= 2
        and a.size * b.shape[-1] < SMALL_PRODUCT
        and b.size * a.shape[-2] < SMALL_PRODUCT
    ):
        return np.matmul(a, b, out=out)  # (the multiply-adds, counting either operand's batch)
    if not (
        a.dtype == b.dtype
        and a.dtype.kind in "fc"
        and a.dtype.itemsize >= 4
        and a.flags.writeable
        and b.flags.writeable
        and (out is None or (out.dtype == a.dtype and out.flags.c_contiguous))
    ):
        return np.matmul(a, b, out=out)
    product, shape = torch.matmul, None
    if a.ndim == b.ndim == 2:
        product = torch.mm
    elif a.ndim == b.ndim >= 3 and a.shape[:-2] == b.shape[:-2]:
        # (nothing here is empty: small products went to NumPy above)
        product, shape = torch.bmm, a.shape[:-1] + b.shape[-1:]
    try:
        ta = torch.from_numpy(a if shape is None else a.reshape((-1,) + a.shape[-2:]))
        tb = torch.from_numpy(b if shape is None else b.reshape((-1,) + b.shape[-2:]))
    except ValueError:  # negative strides
        return np.matmul(a, b, out=out)
    if out is None:
        result = product(ta, tb).numpy()
        return result if shape is None else result.reshape(shape)
    product(ta, tb, out=torch.from_numpy(out if shape is None else out.reshape((-1,) + out.shape[-2:])))
    return out


class kernels:  # lower case: used like a function, ``with kernels(): ...``
    """conv1d's kernels as they should run inside a PyTorch model (see the module
    docstring): torch's thread count, the products on torch's, the pools that spin on the
    calling thread. Entered twice per
    layer and step, so it calls the thread limit's and the provider's functions itself
    rather than entering their context managers."""

    __slots__ = ("_saved", "_token")

    def __enter__(self) -> None:
        self._saved = threads.enter(torch.get_num_threads(), loops=1)
        self._token = gemm.use(torch_matmul)

    def __exit__(self, *exc: object) -> None:
        gemm.restore(self._token)
        threads.leave(self._saved)
