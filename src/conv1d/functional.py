"""``conv1d`` and ``conv_transpose1d``: check the arguments into a spec, run its executor.

Arguments -> :class:`~conv1d.spec.ConvSpec` (every check, once) -> the spec's
:class:`~conv1d.executor.Executor` (plan, array conversions, kernel) -> result.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from .dispatch import DIRECTIONS, Plan, choose_algorithm
from .errors import ConvError, closest
from .executor import executor, executor_for
from .spec import ConvSpec, as_arrays, check_out, conv1d_spec, conv_transpose1d_spec, is_dask_array

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


def lazy(op: str, transposed: bool, input: Any, weight: Any, bias: Any, **options: Any) -> Any:
    """The one hand-off to :mod:`conv1d.dask` (for the functions here and the layers): a lazy
    Dask array, computed block by block."""
    from . import dask as _dask

    if options.pop("out", None) is not None:
        raise ConvError(
            f"{op}: out= takes NumPy arrays; with a Dask input the result is a lazy Dask array. "
            f"Leave out out=, and store the result with dask.array.store or .compute()."
        )
    run = _dask.conv_transpose1d if transposed else _dask.conv1d
    return run(input, weight, bias, op=op, **options)


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
    out: np.ndarray | None = None,
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
        out: an array of the result's shape and dtype to write the result into (and
            return), reused between calls: fresh memory for a large result costs as much as
            computing it (the kernel writes straight into ``out`` for a channels-first
            float32/float64 call with zero padding; otherwise the result is copied in).

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
    options = dict(
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        padding_mode=padding_mode,
        layout=layout,
    )
    if is_dask_array(input):
        return lazy("conv1d", False, input, weight, bias, **options, algorithm=algorithm, out=out)
    return _call("conv1d", conv1d_spec, input, weight, bias, options, algorithm, out)


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
    out: np.ndarray | None = None,
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

    ``out``: as in :func:`conv1d` (the result is copied into it).

    NOTE, unlike PyTorch: ``layout='NLC'`` is accepted, and all integer dtypes (PyTorch:
    int64 only). Padding strings and padding modes are refused, as in PyTorch.
    """
    options = dict(
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        groups=groups,
        dilation=dilation,
        layout=layout,
    )
    if is_dask_array(input):
        return lazy("conv_transpose1d", True, input, weight, bias, **options, algorithm=algorithm, out=out)
    return _call("conv_transpose1d", conv_transpose1d_spec, input, weight, bias, options, algorithm, out)


def _call(
    op: str,
    build: Callable[..., ConvSpec],
    input: Any,
    weight: Any,
    bias: Any,
    options: dict[str, Any],
    algorithm: Any,
    out: Any,
) -> np.ndarray:
    """The call of the convolution ``build`` checks (every check before any work), by its
    executor: looked up by the arrays' shapes and dtypes and the options as given, so that
    a spec is built and checked only for a call not seen before (checking costs 11 us,
    half of a small call). The options go into the key with their types, so
    ``stride=True`` or ``1.0`` is never taken for a ``1`` seen before (and refused as
    checking refuses it); options that cannot be a key (a list) are checked every time."""
    x, w, b = as_arrays(op, input=input, weight=weight, bias=bias)

    def spec() -> ConvSpec:
        return build(x.shape, w.shape, None if b is None else b.shape, **options, dtype=x.dtype)

    key: Hashable = (
        op,
        x.shape,
        x.dtype,
        w.shape,
        w.dtype,
        None if b is None else (b.shape, b.dtype),
        _typed(tuple(options.values())),
    )
    try:
        hash(key)
    except TypeError:
        run = executor(spec(), algorithm)
    else:
        run = executor_for(key, spec, algorithm)
    if out is not None:
        out = check_out(op, run.spec, out, x, w, b)
    return run.forward(x, w, b, out=out)


def _typed(value: Any) -> Any:
    """``value`` with the type of each of its items beside it (tuples are opened)."""
    if isinstance(value, tuple):
        return tuple(_typed(item) for item in value)
    return (type(value), value)


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
    direction: str = "forward",
) -> Plan:
    """The algorithm conv1d (or, with ``transposed=True``, conv_transpose1d) would run for
    these shapes, why, every candidate's estimated time, and -- once the choice was
    measured on this machine (see :func:`conv1d.set_planning`) -- each timed candidate's
    seconds (``plan.measured``, ``plan.source``). ``direction``: ``'forward'``, or the
    gradient ``'input_grad'`` or ``'weight_grad'``, each planned on its own.

    Shape: ``input_shape`` and ``weight_shape`` as the arrays of :func:`conv1d.conv1d`
    (or :func:`conv1d.conv_transpose1d`) would have them; nothing is computed.

    >>> import conv1d
    >>> conv1d.plan((4, 64, 8192), (64, 1, 1024), groups=64).algorithm
    <Algorithm.FFT: 'fft'>
    """
    if transposed:
        spec = conv_transpose1d_spec(
            input_shape,
            weight_shape,
            stride=stride,
            padding=padding,
            output_padding=output_padding,
            groups=groups,
            dilation=dilation,
            layout=layout,
            dtype=dtype,
            op="plan",
        )
    else:
        spec = conv1d_spec(
            input_shape,
            weight_shape,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            padding_mode=padding_mode,
            layout=layout,
            dtype=dtype,
            op="plan",
        )
    if direction not in DIRECTIONS:
        raise ConvError(
            f"plan: direction must be one of {', '.join(map(repr, DIRECTIONS))}, got direction={direction!r}."
            f"{closest(str(direction), list(DIRECTIONS))}"
        )
    return choose_algorithm(spec, algorithm, direction=direction)


conv1d.__doc__ += _CONVOLUTION_NOTES
conv_transpose1d.__doc__ += _CONVOLUTION_NOTES
