"""``conv1d`` and ``conv_transpose1d``: build the spec, normalise the arrays, run a kernel.

The helpers here (layout, dtype, groups, padding) are shared with :mod:`conv1d.grad`.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from . import _padding
from .dispatch import KEEP_INPUT, Algorithm, Plan, choose_algorithm, kernel_for, plan_for
from .kernels import fft as _fft
from .spec import ConvSpec, as_arrays, conv1d_spec, conv_transpose1d_spec

__all__ = ["conv1d", "conv_transpose1d", "plan"]

_CONVOLUTION_NOTES = """
    Notes (shared by every entry point):

    * Cross-correlation, as in PyTorch: the kernel is not flipped.
    * ``groups=G`` splits the channels into G independent convolutions, each taking
      C_in/G inputs to C_out/G outputs; ``groups=C_in`` with C_out a multiple of it is a
      depthwise convolution.
    * ``dilation=d`` spaces the K taps d samples apart: a window spans (K-1)*d + 1 samples.
    * Arrays may be NumPy arrays or anything ``np.asarray`` accepts (Python lists
      become arrays of the dtype NumPy infers: ``[[1, 2]]`` is int64, so a float weight
      then raises the mixed-dtype error). Non-contiguous and read-only arrays work as
      they are; the caller's arrays are never modified. The result is a new C-contiguous
      array of the input's dtype, in the input's layout.
    * float16 is computed in float32 and rounded once at the end; integer dtypes are
      computed exactly in int64 and wrap to the input dtype, as PyTorch's integer
      convolution does. Complex inputs take the plain sum of w*x (no conjugation).
    * A Dask array input gives a lazy Dask array, computed chunk by chunk with halos
      (see :mod:`conv1d.dask`; the ``[dask]`` extra).
"""


def _is_dask_array(a: Any) -> bool:
    """A Dask array? Checked without importing Dask: none exists unless it is imported."""
    module = sys.modules.get("dask.array")
    return module is not None and isinstance(a, module.Array)


def compute_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype kernels compute in: float16 -> float32, integers -> int64."""
    if dtype == np.float16:
        return np.dtype(np.float32)
    if dtype.kind in "iu":
        return np.dtype(np.int64)
    return dtype


def to_ncl(spec: ConvSpec, a: np.ndarray) -> np.ndarray:
    """An input-layout array as a batched (N, C, L) array in the compute dtype (a view when it can)."""
    a = a.astype(compute_dtype(spec.dtype), copy=False)
    if not spec.batched:
        a = a[None]
    return a if spec.layout == "NCL" else a.transpose(0, 2, 1)


def from_ncl(spec: ConvSpec, y: np.ndarray) -> np.ndarray:
    """A batched (N, C, L) compute array back in the caller's layout and dtype, C-contiguous."""
    if spec.layout == "NLC":
        y = y.transpose(0, 2, 1)
    if not spec.batched:
        y = y[0]
    return np.ascontiguousarray(y, dtype=spec.dtype)


def split_groups(a: np.ndarray, groups: int) -> np.ndarray:
    """(N, C, L) -> (N, G, C/G, L)."""
    n, c, length = a.shape
    return a.reshape(n, groups, c // groups, length)


def merge_groups(a: np.ndarray) -> np.ndarray:
    """(N, G, C/G, L) -> (N, C, L)."""
    n, g, c, length = a.shape
    return a.reshape(n, g * c, length)


def conv_weight_groups(spec: ConvSpec, weight: np.ndarray) -> np.ndarray:
    """The weight as the kernels' (G, Co, Ci, K), in the compute dtype.

    For conv1d Co/Ci are C_out/G and C_in/G. For a transposed convolution the weight
    (C_in, C_out/G, K) is the weight of the *forward* convolution it is the adjoint of,
    which maps C_out channels to C_in: so Co = C_in/G and Ci = C_out/G, a pure reshape.
    """
    w = weight.astype(compute_dtype(spec.dtype), copy=False)
    rows = spec.c_in if spec.transposed else spec.c_out
    return w.reshape(spec.groups, rows // spec.groups, w.shape[1], spec.k)


def conv_input(spec: ConvSpec, x: np.ndarray) -> tuple[np.ndarray, int, int]:
    """The conv1d input as the kernels' (N, G, Ci, L) and the zero padding left to them.

    Zero padding is passed on as numbers (a kernel may skip it rather than copy); other
    padding modes are applied here, by composition, and leave no padding to the kernel.
    """
    xn = to_ncl(spec, x)
    if spec.padding_mode == "zeros":
        return split_groups(xn, spec.groups), spec.pad_left, spec.pad_right
    xp = _padding.pad(xn, spec.pad_left, spec.pad_right, spec.padding_mode)
    return split_groups(xp, spec.groups), 0, 0


def kernel_bias(spec: ConvSpec, bias: np.ndarray | None) -> np.ndarray | None:
    """The bias as the kernels' (G, C_out/G), in the compute dtype."""
    if bias is None:
        return None
    return bias.astype(compute_dtype(spec.dtype), copy=False).reshape(spec.groups, spec.c_out_per_group)


def add_bias(y: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """(N, C, L) += bias[:, None], in place on a kernel's fresh result."""
    if bias is not None:
        y += bias.astype(y.dtype, copy=False)[:, None]
    return y


def conv1d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: int | tuple[int] = 1,
    padding: int | tuple[int] | tuple[int, int] | str = 0,
    dilation: int | tuple[int] = 1,
    groups: int = 1,
    *,
    padding_mode: str = "zeros",
    layout: str = "NCL",
    algorithm: str = "auto",
) -> np.ndarray:
    """1-D convolution over an input of several channels, as ``torch.nn.functional.conv1d``.

    Cross-correlation, the kernel is not flipped::

        y[n, o, t] = bias[o] + sum_{c in group(o)} sum_{j<K}
                     weight[o, c, j] * x_pad[n, g(o)*C_in/G + c, t*stride + j*dilation]

    Shape:
        input  (N, C_in, L_in), or (C_in, L_in) unbatched
        weight (C_out, C_in/groups, K)
        bias   (C_out,) or None
        output (N, C_out, L_out) with
               L_out = floor((L_in + left + right - dilation*(K-1) - 1) / stride) + 1
        With ``layout='NLC'`` input and output are channels-last, (N, L, C) or (L, C).

    Args:
        padding: an int or ``(p,)`` for both sides, ``(left, right)``, ``'valid'``,
            ``'same'`` or ``'causal'`` (see :mod:`conv1d.spec` for the exact splits).
        padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.
        layout: ``'NCL'`` (PyTorch's) or ``'NLC'`` (channels last, no transpose needed).
        algorithm: ``'auto'`` (the planner's choice, see :func:`conv1d.plan`), or force
            ``'gemm'``, ``'direct'``, ``'fft'`` or ``'winograd'`` (stride 1, dilation 1, 2 to 7
            taps); all agree within floating-point tolerance.

    Example:
        >>> import numpy as np, conv1d
        >>> x = np.ones((32, 256, 35), np.float32)
        >>> w = np.ones((100, 256, 2), np.float32)
        >>> conv1d.conv1d(x, w).shape
        (32, 100, 34)

    Cost: 2 * N * C_out * L_out * (C_in/G) * K flops for ``gemm`` (BLAS products over
    blocks of gathered windows, at most 16 MiB of them at a time) and ``direct``
    (compiled loops, for depthwise and few-channel shapes); ``fft`` does
    O(log n) work per sample instead of O(K) and wins for long kernels, at an error
    relative to max|y| rather than per element. The planner picks one per call.

    NOTE, unlike PyTorch: ``padding=(left, right)``, ``'causal'``, ``'same'`` with
    stride > 1 (TensorFlow's SAME_UPPER: L_out = ceil(L_in/stride)), ``padding_mode``
    and ``layout`` are accepted here; with C_in = 0 the result has C_out channels that
    hold the bias (PyTorch returns zero channels and drops the bias); all integer
    dtypes are supported in both directions. Errors are ``ConvError`` (a ``ValueError``)
    or ``ConvTypeError`` (also a ``TypeError``), where PyTorch raises ``RuntimeError``.
    """
    if _is_dask_array(input):
        from . import dask as _dask

        return _dask.conv1d(input, weight, bias, stride, padding, dilation, groups, padding_mode=padding_mode,
                            layout=layout, algorithm=algorithm)
    x, w, b = as_arrays("conv1d", input=input, weight=weight, bias=bias)
    spec = conv1d_spec(
        x.shape, w.shape, None if b is None else b.shape, stride=stride, padding=padding,
        dilation=dilation, groups=groups, padding_mode=padding_mode, layout=layout, dtype=x.dtype,
    )
    return run_conv1d(spec, x, w, b, algorithm)


class SpectrumCache:
    """The FFT kernel's weight spectra, kept between calls (a layer owns one).

    Valid while the weight, the dilation and the transform size are unchanged; the weight
    is compared by value on every call (cheap next to an FFT), so in-place updates such
    as ``layer.weight -= lr * grad`` invalidate it.
    """

    def __init__(self) -> None:
        self._key: tuple[int, int, np.dtype] | None = None
        self._weight: np.ndarray | None = None
        self._spectrum: np.ndarray | None = None

    def get(self, w: np.ndarray, dilation: int, nfft: int) -> np.ndarray:
        key = (dilation, nfft, w.dtype)
        if self._key != key or self._weight is None or not np.array_equal(self._weight, w):
            self._key, self._weight = key, w.copy()
            self._spectrum = _fft.kernel_spectrum(w, dilation, nfft)
        return self._spectrum


def run_conv1d(spec: ConvSpec, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, algorithm: Any = "auto",
               spectra: SpectrumCache | None = None, keep: dict | None = None) -> np.ndarray:
    """conv1d on arrays already checked against ``spec``; ``spectra`` caches FFT weight spectra;
    ``keep``: a dict in which the GEMM and Winograd kernels leave their gathered or
    transformed input for :func:`conv1d.grad.run_conv1d_weight`'s ``kept``."""
    plan = plan_for(spec, algorithm)
    kernel = kernel_for(plan)
    xg, pad_left, pad_right = conv_input(spec, x)
    wg = conv_weight_groups(spec, w)
    extra = {}
    if spectra is not None and plan.algorithm is Algorithm.FFT:
        nfft = _fft.conv_length(spec.k, spec.dilation, xg.shape[-1] + pad_left + pad_right)
        extra["spectrum"] = spectra.get(wg, spec.dilation, nfft)
    if keep is not None and plan.algorithm in KEEP_INPUT:
        extra["keep"] = keep
    y = kernel.conv(xg, wg, spec.stride, spec.dilation, pad_left, pad_right, kernel_bias(spec, b), **extra)
    return from_ncl(spec, merge_groups(y))


def conv_transpose1d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: int | tuple[int] = 1,
    padding: int | tuple[int] = 0,
    output_padding: int | tuple[int] = 0,
    groups: int = 1,
    dilation: int | tuple[int] = 1,
    *,
    layout: str = "NCL",
    algorithm: str = "auto",
) -> np.ndarray:
    """1-D transposed convolution, as ``torch.nn.functional.conv_transpose1d``.

    The adjoint (gradient with respect to the input) of :func:`conv1d` with the same
    weight, stride, dilation and groups: each input sample scatters ``weight[c, :, j]``
    times itself to output position ``i*stride + j*dilation - padding``, and overlapping
    contributions add (sometimes called "deconvolution"; it does not invert conv1d)::

        y[n, o, i*stride + j*dilation - padding] += x[n, c, i] * weight[c, o', j]

    Shape:
        input  (N, C_in, L_in), or (C_in, L_in) unbatched
        weight (C_in, C_out/groups, K)   -- note: C_in first, unlike conv1d
        bias   (C_out,) or None
        output (N, C_out, L_out) with
               L_out = (L_in - 1)*stride - 2*padding + dilation*(K-1) + output_padding + 1
        ``padding`` crops samples from both ends of the output; ``output_padding``
        (< max(stride, dilation)) adds samples at the end, to pick among the output
        lengths that a stride-``stride`` conv1d maps to the same L_in.

    Example:
        >>> import numpy as np, conv1d
        >>> x = np.ones((1, 4, 10), np.float32)
        >>> w = np.ones((4, 2, 4), np.float32)
        >>> conv1d.conv_transpose1d(x, w, stride=2, padding=1).shape
        (1, 2, 20)

    NOTE, unlike PyTorch: ``layout='NLC'`` is accepted, and all integer dtypes (PyTorch:
    int64 only). Padding strings and padding modes are refused, as in PyTorch.
    """
    if _is_dask_array(input):
        from . import dask as _dask

        return _dask.conv_transpose1d(input, weight, bias, stride, padding, output_padding, groups, dilation,
                                      layout=layout, algorithm=algorithm)
    x, w, b = as_arrays("conv_transpose1d", input=input, weight=weight, bias=bias)
    spec = conv_transpose1d_spec(
        x.shape, w.shape, None if b is None else b.shape, stride=stride, padding=padding,
        output_padding=output_padding, groups=groups, dilation=dilation, layout=layout,
        dtype=x.dtype,
    )
    return run_conv_transpose1d(spec, x, w, b, algorithm)


def run_conv_transpose1d(spec: ConvSpec, x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                         algorithm: Any = "auto") -> np.ndarray:
    """conv_transpose1d on arrays already checked against ``spec``."""
    kernel = kernel_for(plan_for(spec, algorithm))
    y = kernel.conv_transpose(
        split_groups(to_ncl(spec, x), spec.groups), conv_weight_groups(spec, w),
        spec.stride, spec.dilation, spec.l_out, spec.pad_left,
    )
    return from_ncl(spec, add_bias(merge_groups(y), b))  # the kernel's own fresh array


def plan(
    input_shape: tuple[int, ...],
    weight_shape: tuple[int, ...],
    stride: int | tuple[int] = 1,
    padding: Any = 0,
    dilation: int | tuple[int] = 1,
    groups: int = 1,
    *,
    padding_mode: str = "zeros",
    layout: str = "NCL",
    dtype: Any = np.float32,
    algorithm: str = "auto",
    transposed: bool = False,
    output_padding: int = 0,
) -> Plan:
    """The algorithm conv1d (or, with ``transposed=True``, conv_transpose1d) would run for
    these shapes, why, and every candidate's estimated time.

    >>> import conv1d
    >>> conv1d.plan((4, 64, 8192), (64, 1, 1024), groups=64).algorithm
    <Algorithm.FFT: 'fft'>
    """
    if transposed:
        spec = conv_transpose1d_spec(
            input_shape, weight_shape, stride=stride, padding=padding, output_padding=output_padding,
            groups=groups, dilation=dilation, layout=layout, dtype=dtype, op="plan",
        )
    else:
        spec = conv1d_spec(
            input_shape, weight_shape, stride=stride, padding=padding, dilation=dilation, groups=groups,
            padding_mode=padding_mode, layout=layout, dtype=dtype, op="plan",
        )
    return choose_algorithm(spec, algorithm)


conv1d.__doc__ += _CONVOLUTION_NOTES
conv_transpose1d.__doc__ += _CONVOLUTION_NOTES
