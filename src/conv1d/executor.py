"""One executor per spec: the only way from an entry point into a kernel.

An :class:`Executor` is made for a checked :class:`~conv1d.spec.ConvSpec` and an algorithm
(``'auto'``: the planner's choice, made once when it is built, with the products' provider
and the thread count then in force). It runs the four computations of that convolution:

* :meth:`Executor.forward`: ``conv1d`` (or ``conv_transpose1d`` for a transposed spec);
* :meth:`Executor.input_grad` and :meth:`Executor.weight_grad`: its gradients, written as
  convolutions (see :mod:`conv1d.grad` for why they are);
* :meth:`Executor.bias_grad`: the output gradient summed over all axes but the channels.

It turns the caller's arrays into the kernels' normalised problem -- channels first,
batched, groups split out, ``(N, G, C/G, L)``, in the compute dtype, other padding modes
than zeros applied -- and the kernel's result back into the caller's layout and dtype.
For plain arrays (zero padding, channels first, batched, already in the compute dtype)
all of that is reshapes, worked out once here. It owns what calls with the same spec can
reuse: the FFT kernel's weight spectra. What a forward call can hand to the gradients of
the same step (gathered columns, weight transforms) goes through the caller's ``keep``
dict, because only the caller knows the arrays are unchanged in between.

Every entry point reaches kernels through :func:`executor`: :mod:`conv1d.functional`,
:mod:`conv1d.grad`, the layers, each streaming step, :mod:`conv1d.torch`'s autograd
Functions and each Dask block. Executors are kept in one bounded cache, keyed by the spec
(or by the caller's own arguments, see :func:`executor_for`), the algorithm, who does the
products and the thread count; an executor is safe to share between threads.
"""

from __future__ import annotations

import functools
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from types import ModuleType
from typing import Any

import numpy as np

from . import _padding, planning
from ._layout import compute_dtype, from_ncl, ncl_view, to_ncl
from .dispatch import (
    DIRECTIONS,
    KERNELS,
    Algorithm,
    Plan,
    allowed_estimates,
    choose_algorithm,
    kernel_function,
    plan_key,
    planned,
)
from .errors import ConvError
from .kernels import gemm, threads
from .spec import ConvSpec

__all__ = ["Executor", "executor", "executor_for"]

SHORT_ROWS = 256  # positions: below, bias_grad sums over the batch first
# The general path's copies of the input and output (dtype conversion, padding modes,
# broadcast inputs) are made a block of at most this many bytes at a time.
BLOCK_BYTES = 16 * 2**20
ALGORITHMS = {kernel: algorithm for algorithm, kernel in KERNELS.items()}  # a kernel module's name
SPECTRA_KEPT = 4  # weight spectra an FFT executor keeps (layers of one shape sharing it)


def _refuse_what_cannot_be_allocated(
    what: str,
) -> Callable[[Callable[..., np.ndarray]], Callable[..., np.ndarray]]:
    """A computation whose arrays NumPy cannot allocate raises a ConvError naming the
    result's size (NumPy refuses such an allocation before anything is computed)."""

    def wrap(method: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
        @functools.wraps(method)
        def run(self: Executor, *args: Any, **kwargs: Any) -> np.ndarray:
            try:
                return method(self, *args, **kwargs)
            except MemoryError:
                s = self.spec
                shape = {"output": s.output_shape, "input gradient": s.input_shape}.get(what, s.weight_shape)
                size = math.prod(shape) * s.dtype.itemsize
                raise ConvError(
                    f"{s.op}: the {what} of shape {shape} ({s.dtype}, {size / 2**30:.1f} GiB) and the "
                    f"working memory around it could not be allocated; compute it in parts (a Dask "
                    f"array input does that), or with less padding, batch or length."
                ) from None

        return run

    return wrap


class Executor:
    """Forward and gradients of one ``spec`` with one kernel; see the module docstring.

    Shapes are the spec's, in its layout: ``x`` its input shape, ``w`` its weight shape,
    ``b`` (C_out,), ``gy`` its output shape.
    """

    __slots__ = (
        "_b",
        "_directions",
        "_estimates",
        "_kernels",
        "_spectra",
        "_w",
        "_w3",
        "_x",
        "_x3",
        "_y",
        "_y3",
        "plain",
        "plan",
        "spec",
    )

    def __init__(self, spec: ConvSpec, algorithm: Any = "auto") -> None:
        self.spec = spec
        self.plan: Plan = choose_algorithm(spec, algorithm)
        self._estimates = {"forward": self.plan.seconds}  # per direction, made when first needed
        # Each kernel function (the forward's, and each gradient's) has its own kernel: the
        # plan's, unless the planning mode measures, the choice is open (more than one
        # candidate) and not yet measured in this context -- then the first call times the
        # candidates (see _decide).
        self._directions = {kernel_function(spec, direction): direction for direction in DIRECTIONS}
        self._kernels: dict[str, ModuleType] = {}
        measuring = not self.plan.forced and planning.get_mode() == "measure"
        for name, direction in self._directions.items():
            plan = self.plan if direction == "forward" or not measuring else self._planned(direction)
            if not measuring or plan.measured or len(plan.candidates()) == 1:
                self._kernels[name] = KERNELS[plan.algorithm]
        # Plain arrays: every conversion to and from the kernels' arrays is a reshape.
        self.plain = (
            spec.padding_mode == "zeros"
            and spec.layout == "NCL"
            and spec.batched
            and compute_dtype(spec.dtype) == spec.dtype
        )
        g, ci, co = spec.groups, spec.c_in_per_group, spec.c_out_per_group
        self._x, self._x3 = (spec.n, g, ci, spec.l_in), (spec.n, spec.c_in, spec.l_in)
        self._y, self._y3 = (spec.n, g, co, spec.l_out), (spec.n, spec.c_out, spec.l_out)
        self._b, self._w3 = (g, co), spec.weight_shape
        # The kernels' weight (G, Co, Ci, K). For conv1d Co/Ci are C_out/G and C_in/G; a
        # transposed convolution's weight (C_in, C_out/G, K) is the weight of the forward
        # convolution it is the adjoint of, from C_out channels to C_in: Co = C_in/G, Ci = C_out/G.
        self._w = (g, ci, co, spec.k) if spec.transposed else (g, co, ci, spec.k)
        # (weight, transform size, spectrum), newest last; replaced whole, never changed in place.
        self._spectra: tuple[tuple[np.ndarray, int, np.ndarray], ...] = ()

    # -- the caller's arrays as the kernels' ------------------------------------------

    def _groups(self, a: np.ndarray) -> np.ndarray:
        """A caller's input or output array as the kernels' (N, G, C/G, L)."""
        s = self.spec
        a = to_ncl(a, s.layout, s.batched)
        n, c, length = a.shape
        return a.reshape(n, s.groups, c // s.groups, length)

    def _weight(self, w: np.ndarray) -> np.ndarray:
        return w.astype(compute_dtype(w.dtype), copy=False).reshape(self._w)

    def _bias(self, b: np.ndarray | None) -> np.ndarray | None:
        """The bias as the kernels' (G, C_out/G), in the compute dtype."""
        return None if b is None else b.astype(compute_dtype(b.dtype), copy=False).reshape(self._b)

    def _result(self, y: np.ndarray) -> np.ndarray:
        """The kernels' (N, G, C/G, L) back in the caller's layout and dtype."""
        s = self.spec
        n, g, c, length = y.shape
        return from_ncl(y.reshape(n, g * c, length), s.layout, s.batched, s.dtype)

    def _spectrum(self, wg: np.ndarray, padded_length: int) -> np.ndarray:
        """The FFT kernel's spectrum of ``wg`` for ``padded_length`` samples, kept while the
        weight is unchanged: the weight is compared by value on every call (cheap next to an
        FFT), so in-place updates such as ``layer.weight -= lr * grad`` are seen. Threads
        racing here compute the same spectrum."""
        fft = KERNELS[Algorithm.FFT]
        nfft = fft.conv_length(self.spec.k, self.spec.dilation, padded_length)
        for weight, size, spectrum in reversed(self._spectra):
            if (
                size == nfft
                and weight.shape == wg.shape
                and weight.dtype == wg.dtype
                and np.array_equal(weight, wg)
            ):
                return spectrum
        spectrum = fft.kernel_spectrum(wg, self.spec.dilation, nfft)
        self._spectra = (*self._spectra[-(SPECTRA_KEPT - 1) :], (wg.copy(), nfft, spectrum))
        return spectrum

    def _kernel(self, name: str, *args: Any, **extra: Any) -> np.ndarray:
        """The kernel's function ``name`` on the normalised arrays, with PyTorch's NaN and Inf.

        Two things can part from PyTorch where values are not finite: a function that spreads
        them (``Capabilities.spreads_non_finite``: its result has NaN where PyTorch's has
        none, or NaN for Inf), and zero padding that the kernel skips where PyTorch
        multiplies it (0 * NaN = NaN) by the other operand (the weight of a forward, the
        output gradient of a weight gradient). So the arrays that matter are looked at --
        before the call, or, where the result is smaller, the result after it (a finite
        result then rules them out, but where some tap or window meets only padding, see
        :func:`_padding_meets`) -- and if they are not finite, the call is made again: by
        the direct kernel where the function spreads, with the padding written out as zeros
        (and without the extras, which belong to the first call)."""
        if _flush_denormal:
            args = (_flushed(args[0]), _flushed(args[1]), *args[2:])
        kernel = self._decide(name, args)
        spreads = name in kernel.CAPABILITIES.spreads_non_finite
        padding = _padding_read(name, args)
        if not spreads and not any(padding):
            return getattr(kernel, name)(*args, **extra)
        watched = (args[0], args[1]) if spreads else (args[1],)
        if sum(a.size for a in watched) <= math.prod(_result_shape(name, args)):
            if all(_finite(a) for a in watched):
                return getattr(kernel, name)(*args, **extra)
        else:
            if spreads:
                with np.errstate(invalid="ignore", over="ignore"):  # (inf * 0 in a transform: computed again)
                    out = getattr(kernel, name)(*args, **extra)
            else:
                out = getattr(kernel, name)(*args, **extra)
            if _finite(out) and not (any(padding) and _padding_meets(name, args) and not _finite(args[1])):
                return out
        if "bias" in extra:  # conv_weight's bias gradient: the output gradient's exact sum
            extra["bias"][...] = args[1].sum(axis=(0, 3), dtype=extra["bias"].dtype)
        if any(padding):  # written out: no padding left to the kernel
            xp = _pad(args[0], *padding)
            args = (xp, *args[1:4], 0, 0, *args[6:]) if name == "conv" else (xp, *args[1:5], 0, *args[6:])
        # (the direct kernel pairs exactly the values PyTorch does)
        return getattr(KERNELS[Algorithm.DIRECT] if spreads else kernel, name)(*args)

    def _decide(self, name: str, args: tuple[Any, ...]) -> ModuleType:
        """The kernel that computes kernel function ``name``: decided when the executor was
        built, or now, by timing the plan's candidates on ``args`` (the call about to be
        made, so in its own context) and keeping the fastest (:mod:`conv1d.planning`).
        Threads racing here each time the candidates and keep a winner; any is correct."""
        kernel = self._kernels.get(name)
        if kernel is not None:
            return kernel
        calls = {}
        direction = self._directions[name]
        candidates = (self.plan if direction == "forward" else self._planned(direction)).candidates()
        shared: dict[str, Any] = {}
        if name == "conv":
            # Every candidate writes into one output array, touched by the first run: what is
            # timed is the kernel, not the system's cost of fresh pages for a large result,
            # which is the same for any kernel and varies with the machine's state (wav2vec2's
            # first layer on 8 signals, a 52 MB result: GEMM 3.8 ms into memory in use, 9 ms
            # into fresh pages, and 39 ms timed so in one process, which chose a 21 ms kernel).
            shared["out"] = np.empty(_result_shape(name, args), np.result_type(args[0], args[1]))
        for algorithm in candidates:
            extra = dict(shared)
            if name == "conv" and KERNELS[algorithm].CAPABILITIES.takes_spectrum:
                # (timed as it runs from the second call on: its weight spectrum kept)
                extra["spectrum"] = self._spectrum(args[1], args[0].shape[-1] + args[4] + args[5])
            calls[algorithm.value] = functools.partial(getattr(KERNELS[algorithm], name), *args, **extra)
        key = plan_key(self.spec, direction, gemm.provided())
        kind = f"{name} {args[0].dtype}"
        compiled = frozenset(a.value for a in candidates if KERNELS[a].CAPABILITIES.compiles)
        planning.time_candidates(key, calls, kind, compiled)
        plan = self._planned(direction)  # (the measurement read back)
        if direction == "forward":
            self.plan = plan  # (what ``plan`` says is what runs)
        kernel = KERNELS[plan.algorithm]
        self._kernels[name] = kernel
        return kernel

    def _planned(self, direction: str) -> Plan:
        """``direction``'s plan from this executor's estimates, with the forward's kernel as
        it runs (or is planned, while it is still to be measured)."""
        kernel = self.kernel_of("forward")
        forward = self.plan.algorithm if kernel is None else ALGORITHMS[kernel]
        seconds = self._estimates.get(direction)
        if seconds is None:
            seconds = self._estimates[direction] = allowed_estimates(self.spec, gemm.provided(), direction)
        return planned(self.spec, seconds, direction, gemm.provided(), forward)

    def kernel_of(self, direction: str) -> ModuleType | None:
        """The kernel module computing ``direction`` (``'forward'``, ``'input_grad'`` or
        ``'weight_grad'``), or None while it is still to be measured."""
        name = next(n for n, d in self._directions.items() if d == direction)
        return self._kernels.get(name)

    # -- the four computations ----------------------------------------------------------

    @_refuse_what_cannot_be_allocated("output")
    def forward(
        self,
        x: np.ndarray,
        w: np.ndarray,
        b: np.ndarray | None,
        keep: dict | None = None,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """The convolution's output. ``keep``: a dict in which kernels that can
        (``keeps_input``/``keeps_weights``) leave their gathered or transformed input and
        weight for :meth:`weight_grad`'s and :meth:`input_grad`'s ``kept`` in the same step.
        ``out``: an array of the output's shape and dtype (checked by the caller) that
        receives the result and is returned: the kernel writes into it on the plain path
        of a convolution (channels first, zero padding, a compute dtype), where a large
        output's fresh pages would cost as much as computing it; elsewhere the result is
        copied into it."""
        if out is None:
            return self._forward(x, w, b, keep, None)
        direct = (
            self.plain
            and not self.spec.transposed
            and not _broadcast(x)
            and out.flags.c_contiguous
            and out.dtype == compute_dtype(out.dtype)
        )
        view = out.reshape(self._y) if direct else None
        y = self._forward(x, w, b, keep, view)
        if y is not view:
            np.copyto(out, y)
        return out

    def _forward(
        self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, keep: dict | None, out: np.ndarray | None
    ) -> np.ndarray:
        """:meth:`forward`; ``out``: the caller's array as the kernel's (N, G, Co, Lo) output
        (plain path only)."""
        s = self.spec
        if s.transposed and (not self.plain or _broadcast(x)):
            blocks = self._transposed_blocks()
            if len(blocks) > 1:
                return self._transposed_forward_in_blocks(x, w, b, blocks)
        if s.transposed:
            y = self._kernel(
                "conv_transpose", self._groups(x), self._weight(w), s.stride, s.dilation, s.l_out, s.pad_left
            )
            n, g, c, length = y.shape
            y = y.reshape(n, g * c, length)
            if b is not None:  # in place, on the kernel's own fresh array
                y += b.astype(y.dtype, copy=False)[:, None]
            return from_ncl(y, s.layout, s.batched, s.dtype)
        plain = self.plain and not _broadcast(x)
        if not plain:
            blocks = self._output_blocks()
            if len(blocks) > 1:
                return self._forward_in_blocks(x, w, b, blocks)
        if plain:
            xg, wg = x.reshape(self._x), w.reshape(self._w)
            pad_left, pad_right = s.pad_left, s.pad_right
            bg = None if b is None else b.reshape(self._b)
        else:
            xg, pad_left, pad_right = self._padded_input(x)
            wg = self._weight(w)
            bg = self._bias(b)
        args = (xg, wg, s.stride, s.dilation, pad_left, pad_right, bg)
        can = self._decide("conv", args).CAPABILITIES
        extra: dict[str, Any] = {}
        if keep is not None and can.keeps_input:
            extra["keep"] = keep
        if can.takes_spectrum:
            extra["spectrum"] = self._spectrum(wg, xg.shape[-1] + pad_left + pad_right)
        if out is not None:
            extra["out"] = out
        y = self._kernel("conv", *args, **extra)
        if out is not None:
            if y is not out:  # (computed again for NaN or Inf, into fresh memory)
                out[...] = y
            return out
        if plain:
            return np.ascontiguousarray(y.reshape(self._y3))
        return self._result(y)

    def _output_blocks(self) -> list[tuple[int, int]]:
        """Output positions [t0, t1) computed together so that a block's converted, padded
        input and its output in the compute dtype each stay within BLOCK_BYTES (one block
        when the whole call does): what the general path copies -- a dtype conversion, the
        padding of a mode other than zeros, a broadcast input made whole -- is then at most
        a block's worth, never the whole signal."""
        s = self.spec
        return _blocks(
            s.l_out, s.n * s.c_out, lambda count: (count - 1) * s.stride + s.span, s.n * s.c_in, s.dtype
        )

    def _forward_in_blocks(
        self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, blocks: list[tuple[int, int]]
    ) -> np.ndarray:
        """:meth:`forward` block by block (see :meth:`_output_blocks` and :meth:`_block_input`),
        each block's output cast into the caller's array as it comes."""
        s = self.spec
        out = np.empty(s.output_shape, s.dtype)
        xn, yn = ncl_view(x, s.layout, s.batched), ncl_view(out, s.layout, s.batched)
        wg = self._weight(w)
        bg = self._bias(b)
        work = compute_dtype(s.dtype)
        for t0, t1 in blocks:
            piece, left, right = self._block_input(xn, t0, t1, work)
            n, c, length = piece.shape
            xg = piece.reshape(n, s.groups, c // s.groups, length)
            args = (xg, wg, s.stride, s.dilation, left, right, bg)
            takes = self._decide("conv", args).CAPABILITIES.takes_spectrum
            extra = {"spectrum": self._spectrum(wg, length + left + right)} if takes else {}
            y = self._kernel("conv", *args, **extra)
            yn[..., t0:t1] = y.reshape(n, s.c_out, t1 - t0)
        return out

    def _block_input(self, xn: np.ndarray, t0: int, t1: int, dtype: np.dtype) -> tuple[np.ndarray, int, int]:
        """The input outputs [t0, t1) read, (N, C_in, L) in ``dtype``, and the zero padding
        left to the kernel: positions [t0*stride - pad_left, (t1-1)*stride - pad_left + span);
        where they reach past the signal, zero padding is left to the kernel as numbers,
        other modes' padding is gathered for just those positions."""
        s = self.spec
        a = t0 * s.stride - s.pad_left
        z = (t1 - 1) * s.stride - s.pad_left + s.span
        inside = (min(max(a, 0), s.l_in), min(max(z, 0), s.l_in))
        piece = xn[..., inside[0] : inside[1]].astype(dtype)
        before, after = (a, min(z, 0)), (max(a, s.l_in), z)  # padded positions outside the signal
        left, right = max(0, before[1] - before[0]), max(0, after[1] - after[0])
        if s.padding_mode != "zeros" and (left or right):
            edges = [self._edge(xn, lo, hi, dtype) for lo, hi in (before, after) if hi > lo]
            piece = np.concatenate(edges[:1] * bool(left) + [piece] + edges[-1:] * bool(right), axis=-1)
            left = right = 0
        return piece, left, right

    def _edge(self, xn: np.ndarray, lo: int, hi: int, dtype: np.dtype) -> np.ndarray:
        """Padded positions [lo, hi) outside the signal, by the spec's padding mode."""
        s = self.spec
        return np.take(xn, _padding.sources(np.arange(lo, hi), s.l_in, s.padding_mode), axis=-1).astype(dtype)

    def _padded_input(self, x: np.ndarray) -> tuple[np.ndarray, int, int]:
        """The input as the kernels' (N, G, Ci, L) and the zero padding left to the kernel:
        zeros are passed on as numbers (a kernel may skip them rather than copy); other
        padding modes are applied here, by composition, and leave none."""
        s = self.spec
        xg = self._groups(x)
        if s.padding_mode == "zeros":
            return xg, s.pad_left, s.pad_right
        xp = _padding.pad(xg, s.pad_left, s.pad_right, s.padding_mode)
        return xp, 0, 0

    @_refuse_what_cannot_be_allocated("input gradient")
    def input_grad(self, w: np.ndarray, gy: np.ndarray, kept: dict | None = None) -> np.ndarray:
        """The gradient with respect to the input, of the input's shape. ``kept``: what
        :meth:`forward`'s ``keep`` collected with the same ``w``."""
        s = self.spec
        if s.transposed:
            # The output gradient, with the cropped ``padding`` restored as zeros, is the
            # uncropped output's gradient; a conv of it gives floor((L_pad - span)/stride) + 1
            # >= L_in positions (output_padding >= stride, allowed when dilation > stride,
            # adds positions no input sample reached).
            grad = self._kernel(
                "conv", self._groups(gy), self._weight(w), s.stride, s.dilation, s.pad_left, s.pad_right
            )
            return self._result(grad[..., : s.l_in])
        plain = self.plain and not _broadcast(gy)
        if not plain:
            blocks = self._input_blocks()
            if len(blocks) > 1:
                return self._input_grad_in_blocks(w, gy, blocks)
        if plain:
            args = (gy.reshape(self._y), w.reshape(self._w), s.stride, s.dilation, s.l_in, s.pad_left)
            gx = self._kernel("conv_transpose", *args, **self._reuse("conv_transpose", args, kept))
            return np.ascontiguousarray(gx.reshape(self._x3))
        gyg, wg = self._groups(gy), self._weight(w)
        if s.padding_mode == "zeros":  # the kernel computes just the unpadded window
            args = (gyg, wg, s.stride, s.dilation, s.l_in, s.pad_left)
            return self._result(
                self._kernel("conv_transpose", *args, **self._reuse("conv_transpose", args, kept))
            )
        args = (gyg, wg, s.stride, s.dilation, s.l_pad, 0)
        padded = self._kernel("conv_transpose", *args, **self._reuse("conv_transpose", args, kept))
        n, g, c, length = padded.shape
        grad = _padding.pad_adjoint(
            padded.reshape(n, g * c, length), s.l_in, s.pad_left, s.pad_right, s.padding_mode
        )
        return from_ncl(grad, s.layout, s.batched, s.dtype)

    def _transposed_blocks(self) -> list[tuple[int, int]]:
        """A transposed convolution's output positions [u0, u1) computed together, so that the
        inputs they read and the block itself, in the compute dtype, each stay within
        BLOCK_BYTES (one block when the whole call does)."""
        s = self.spec
        return _blocks(
            s.l_out, s.n * s.c_out, lambda count: (count + s.span - 2) // s.stride + 2, s.n * s.c_in, s.dtype
        )

    def _transposed_forward_in_blocks(
        self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, blocks: list[tuple[int, int]]
    ) -> np.ndarray:
        """:meth:`forward` of a transposed convolution block by block of output positions: each
        block is the kernel's conv_transpose of just the inputs that reach it (with an
        offset), converted a block at a time and cast into the caller's array as it comes."""
        s = self.spec
        work = compute_dtype(s.dtype)
        out = np.empty(s.output_shape, s.dtype)
        xn, yn = ncl_view(x, s.layout, s.batched), ncl_view(out, s.layout, s.batched)
        wg = self._weight(w)
        bias = None if b is None else b.astype(work, copy=False)[:, None]
        for u0, u1 in blocks:
            block = self._reaching(xn, wg, u0 + s.pad_left, u1 + s.pad_left, work)  # (uncropped positions)
            if bias is not None:
                block += bias
            yn[..., u0:u1] = block
        return out

    def _input_blocks(self) -> list[tuple[int, int]]:
        """Input positions [p0, p1) whose gradient is computed together, so that a block's
        output gradient window and its input gradient, in the compute dtype, each stay
        within BLOCK_BYTES (one block when the whole call does)."""
        s = self.spec
        return _blocks(
            s.l_in, s.n * s.c_in, lambda count: (count + s.span - 2) // s.stride + 2, s.n * s.c_out, s.dtype
        )

    def _reaching(self, src: np.ndarray, wg: np.ndarray, q0: int, q1: int, dtype: np.dtype) -> np.ndarray:
        """Positions [q0, q1) of the kernel's conv_transpose of ``src`` (N, C, L), (N, C', q1 - q0)
        in ``dtype``, computed from just the samples of ``src`` whose windows reach them: an
        input gradient's block (``src`` the output gradient, positions of the padded input)
        or a transposed convolution's (``src`` its input, positions of the uncropped output)."""
        s = self.spec
        n, c, length = src.shape
        t0 = max(0, -((s.span - 1 - q0) // s.stride))  # ceil((q0 - span + 1) / stride)
        t1 = min(length, (q1 - 1) // s.stride + 1)
        channels = wg.shape[0] * wg.shape[2]  # the kernels' w is (G, C/G, C'/G, K)
        if t1 <= t0:
            return np.zeros((n, channels, q1 - q0), dtype)
        part = src[..., t0:t1].astype(dtype).reshape(n, s.groups, c // s.groups, t1 - t0)
        start = max(q0, t0 * s.stride)  # (with stride > span, positions before the first window get nothing)
        grad = self._kernel(
            "conv_transpose", part, wg, s.stride, s.dilation, q1 - start, start - t0 * s.stride
        )
        grad = grad.reshape(n, channels, q1 - start)
        if start > q0:
            grad = np.concatenate([np.zeros((n, channels, start - q0), grad.dtype), grad], axis=-1)
        return grad

    def _input_grad_in_blocks(
        self, w: np.ndarray, gy: np.ndarray, blocks: list[tuple[int, int]]
    ) -> np.ndarray:
        """:meth:`input_grad` block by block of input positions (see :meth:`_input_blocks`),
        cast into the caller's array as it comes. For padding modes other than zeros, the
        gradient at the padded positions is computed first (small: the edges) and added to
        the samples they were read from as their block is written."""
        s = self.spec
        work = compute_dtype(s.dtype)
        out = np.empty(s.input_shape, s.dtype)
        gyn, gxn = ncl_view(gy, s.layout, s.batched), ncl_view(out, s.layout, s.batched)
        wg = self._weight(w)
        sources = sums = None
        if s.padding_mode != "zeros" and (s.pad_left or s.pad_right):
            positions = np.concatenate([np.arange(-s.pad_left, 0), np.arange(s.l_in, s.l_in + s.pad_right)])
            edges = [self._reaching(gyn, wg, q0, q1, work)
                     for q0, q1 in ((0, s.pad_left), (s.pad_left + s.l_in, s.l_pad)) if q1 > q0]  # fmt: skip
            sources, where = np.unique(
                _padding.sources(positions, s.l_in, s.padding_mode), return_inverse=True
            )
            sums = np.zeros((gyn.shape[0], s.c_in, sources.size), work)
            np.add.at(sums, (Ellipsis, where), np.concatenate(edges, axis=-1))
        for p0, p1 in blocks:
            grad = self._reaching(gyn, wg, p0 + s.pad_left, p1 + s.pad_left, work)
            if sources is not None:
                inside = (sources >= p0) & (sources < p1)
                grad[..., sources[inside] - p0] += sums[..., inside]
            gxn[..., p0:p1] = grad
        return out

    @_refuse_what_cannot_be_allocated("weight gradient")
    def weight_grad(
        self, x: np.ndarray, gy: np.ndarray, kept: dict | None = None, bias: np.ndarray | None = None
    ) -> np.ndarray:
        """The gradient with respect to the weight, of the weight's shape, C-contiguous (a
        strided gradient slows an optimiser step down). ``kept``: what :meth:`forward`'s
        ``keep`` collected from the same ``x``. ``bias``: a (C_out,) array that receives
        :meth:`bias_grad`, which ``sums_bias`` kernels sum from what they read anyway."""
        s = self.spec
        if s.transposed:  # the adjoint's weight gradient: the output gradient in the input's place
            if bias is not None:
                bias[...] = self.bias_grad(gy)
            gw = self._kernel(
                "conv_weight", self._groups(gy), self._groups(x), s.k, s.stride, s.dilation, s.pad_left
            )
            return np.ascontiguousarray(gw.reshape(self._w3), dtype=s.dtype)
        plain = self.plain and not (_broadcast(x) or _broadcast(gy))
        if not plain:
            blocks = self._output_blocks()
            if len(blocks) > 1:
                if bias is not None:
                    bias[...] = self.bias_grad(gy)
                return self._weight_grad_in_blocks(x, gy, blocks)
        if plain:
            args = (x.reshape(self._x), gy.reshape(self._y), s.k, s.stride, s.dilation, s.pad_left)
        else:
            xg, pad_left, _ = self._padded_input(x)
            args = (xg, self._groups(gy), s.k, s.stride, s.dilation, pad_left)
        extra = self._reuse("conv_weight", args, kept)
        if bias is not None:
            if plain and self._decide("conv_weight", args).CAPABILITIES.sums_bias:
                extra["bias"] = bias.reshape(self._b)
            else:
                bias[...] = self.bias_grad(gy)
        gw = self._kernel("conv_weight", *args, **extra)
        if plain:
            return np.ascontiguousarray(gw.reshape(self._w3))
        return np.ascontiguousarray(gw.reshape(self._w3), dtype=s.dtype)

    def _reuse(self, name: str, args: tuple[Any, ...], kept: dict | None) -> dict[str, Any]:
        """The extra argument that hands a gradient's kernel function ``name`` what the
        forward's ``keep`` collected (``kept``), if there is any and it is of use: the same
        kernel computes the forward (what it keeps is its own) and can reuse it."""
        if not kept:
            return {}
        kernel = self._decide(name, args)
        can = kernel.CAPABILITIES
        usable = can.keeps_weights if name == "conv_transpose" else can.keeps_input
        return {"kept": kept} if usable and kernel is self.kernel_of("forward") else {}

    def _weight_grad_in_blocks(
        self, x: np.ndarray, gy: np.ndarray, blocks: list[tuple[int, int]]
    ) -> np.ndarray:
        """:meth:`weight_grad` as the sum of the blocks' weight gradients (see
        :meth:`_output_blocks`): each block's input window and output gradient, converted
        and padded a block at a time."""
        s = self.spec
        work = compute_dtype(s.dtype)
        xn, gyn = ncl_view(x, s.layout, s.batched), ncl_view(gy, s.layout, s.batched)
        total = None
        for t0, t1 in blocks:
            piece, left, _ = self._block_input(xn, t0, t1, work)
            n, c, length = piece.shape
            xg = piece.reshape(n, s.groups, c // s.groups, length)
            gyg = gyn[..., t0:t1].astype(work).reshape(n, s.groups, s.c_out_per_group, t1 - t0)
            part = self._kernel("conv_weight", xg, gyg, s.k, s.stride, s.dilation, left)
            total = part if total is None else np.add(total, part, out=total)
        return np.ascontiguousarray(total.reshape(self._w3), dtype=s.dtype)

    def bias_grad(self, gy: np.ndarray) -> np.ndarray:
        """The gradient with respect to the bias, (C_out,)."""
        return sum_channels(gy, self.spec.channel_axis)


def _blocks(
    total: int, per_position: int, reads: Callable[[int], int], per_read: int, dtype: np.dtype
) -> list[tuple[int, int]]:
    """Positions [0, total) in blocks such that a block of ``count`` positions (each
    ``per_position`` values) and the ``reads(count)`` positions of the other side it reads
    (each ``per_read`` values), in ``dtype``'s compute dtype, stay within BLOCK_BYTES; one
    block when the whole call does."""
    itemsize = compute_dtype(dtype).itemsize

    def fits(count: int) -> bool:
        return (
            count * per_position * itemsize <= BLOCK_BYTES
            and reads(count) * per_read * itemsize <= BLOCK_BYTES
        )

    if total <= 1 or fits(total):
        return [(0, total)]
    count = max(1, BLOCK_BYTES // max(per_position * itemsize, 1))
    while count > 1 and not fits(count):
        count //= 2
    return [(p, min(total, p + count)) for p in range(0, total, count)]


def _broadcast(a: np.ndarray) -> bool:
    """Whether ``a`` repeats values through a zero stride (``np.broadcast_to``): made whole,
    it would be larger than the memory it views."""
    return 0 in a.strides and any(stride == 0 and size > 1 for stride, size in zip(a.strides, a.shape))


def _finite(a: np.ndarray) -> bool:
    """No NaN or Inf in ``a``. Up to SMALL_CHECK values: ``np.isfinite(a).all()`` (1 us for
    a thousand values, 3.9 for 37,000, against 2.2 and 5.6 for a sum under ``np.errstate``
    or the largest and smallest value); beyond, the largest and the smallest value (NaN
    carries through both), which need no temporary as large as ``a``.
    Complex arrays: their sum, NaN and Inf carrying through it (an overflowing sum counts
    as non-finite: the exact path then computes, which is only slower)."""
    if a.dtype.kind == "f":
        if a.size <= SMALL_CHECK:
            return bool(np.isfinite(a).all())
        return bool(np.isfinite(a.max()) and np.isfinite(a.min()))  # (no warning on NaN)
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(a.sum()))


SMALL_CHECK = 2**17  # values: up to this many, _finite tests each


_flush_denormal = False  # conv1d.set_flush_denormal


def flush_denormal(mode: bool) -> None:
    """Read subnormal operands as zero in every kernel call from now on (see
    :func:`conv1d.set_flush_denormal`)."""
    global _flush_denormal
    _flush_denormal = bool(mode)


def _flushed(a: np.ndarray) -> np.ndarray:
    """``a`` with its subnormal values (nonzero, smaller in magnitude than the dtype's
    smallest normal number) replaced by zero; ``a`` itself if it has none or is not floating."""
    if a.dtype.kind not in "fc" or a.size == 0:
        return a
    tiny = np.finfo(a.dtype).tiny
    magnitude = np.abs(a)
    subnormal = (magnitude < tiny) & (magnitude > 0)
    return np.where(subnormal, 0, a).astype(a.dtype, copy=False) if subnormal.any() else a


def _padding_read(name: str, args: tuple[Any, ...]) -> tuple[int, int]:
    """The zero padding (left, right) that kernel function ``name``'s windows read past its
    input and skip (none for conv_transpose, which only crops)."""
    if name == "conv":
        return args[4], args[5]
    if name == "conv_weight":
        x, y, k, stride, dilation, left = args[:6]
        return left, max(0, (y.shape[3] - 1) * stride + (k - 1) * dilation + 1 - left - x.shape[3])
    return 0, 0


def _padding_meets(name: str, args: tuple[Any, ...]) -> bool:
    """Whether a NaN in the other operand (the weight of conv, the output gradient of
    conv_weight) can meet padding only, so that a finite result does not rule it out: a
    weight tap that every window places in the padding, or a window that places every
    tap there (long padding, or a dilation stepping over a short input)."""
    x, y = args[0], args[1]
    if name == "conv":
        stride, dilation, left, right = args[2:6]
        k = y.shape[3]
        count = (x.shape[3] + left + right - (k - 1) * dilation - 1) // stride + 1
        return _padding_only(x.shape[3], count, k, stride, dilation, left, True)
    k, stride, dilation, left = args[2:6]
    return _padding_only(x.shape[3], y.shape[3], k, stride, dilation, left, False)


@functools.lru_cache(maxsize=256)
def _padding_only(length: int, count: int, k: int, stride: int, dilation: int, left: int, taps: bool) -> bool:
    """For ``count`` windows of ``k`` taps over ``length`` samples with ``left`` padding:
    whether some tap lies in the padding in every window (``taps``), or some window has
    every tap in the padding. Only the windows at the edges, which reach past the input,
    are looked at: a window wholly inside has every tap inside. Kept per geometry."""
    span = (k - 1) * dilation + 1
    inner_from = max(0, -(-left // stride))  # the first window starting inside the input
    inner_to = (length - span + left) // stride + 1  # past the last window ending inside it
    if taps and inner_to > inner_from and count > inner_from:
        return False  # a window wholly inside has every tap inside
    edges = np.concatenate(
        [np.arange(0, min(count, inner_from)), np.arange(max(inner_to, inner_from, 0), count)]
    )
    if edges.size == 0:
        return False
    positions = edges[:, None] * stride - left + np.arange(k)[None, :] * dilation  # (window, tap)
    inside = (positions >= 0) & (positions < length)
    return bool(np.any(~inside.any(axis=0 if taps else 1)))


def _pad(x: np.ndarray, left: int, right: int) -> np.ndarray:
    return np.pad(x, [(0, 0)] * 3 + [(left, right)])


def _result_shape(name: str, args: tuple[Any, ...]) -> tuple[int, int, int, int]:
    """The shape of what kernel function ``name`` returns for ``args`` (the kernel contract)."""
    if name == "conv":
        x, w, stride, dilation = args[:4]
        pad = sum(args[4:6])
        n, g, _, length = x.shape
        _, co, _, k = w.shape
        return n, g, co, max(0, (length + pad - (k - 1) * dilation - 1) // stride + 1)
    if name == "conv_transpose":
        y, w, length = args[0], args[1], args[4]
        return y.shape[0], y.shape[1], w.shape[2], length
    x, y, k = args[:3]  # conv_weight
    return x.shape[1], y.shape[2], x.shape[2], k


def sum_channels(gy: np.ndarray, channel_axis: int) -> np.ndarray:
    """``gy`` (2-D or 3-D) summed over every axis but ``channel_axis``, in its compute dtype,
    returned in its own. Short rows of positions (channels first, fewer than SHORT_ROWS) are
    summed over the batch first (whole rows added element by element), then along each
    channel: 15-21 against 44-52 us for NumPy's reduction over both axes at once on a
    (6, 256, 24) float32 gradient. Gradients already in their compute dtype are summed
    without a dtype argument."""
    dtype = compute_dtype(gy.dtype)
    if gy.ndim == 3 and channel_axis == 1 and gy.shape[2] < SHORT_ROWS:
        if dtype == gy.dtype:
            return gy.sum(axis=0).sum(axis=1)
        return gy.sum(axis=0, dtype=dtype).sum(axis=1, dtype=dtype).astype(gy.dtype, copy=False)
    # Long rows, or channels last (NumPy then adds whole rows of channels anyway): one pass
    # over both axes, without the (C, L) partial sums (7.4 against 9.4 ms on an
    # (8, 1536, 2048) gradient).
    axes = tuple(a for a in range(gy.ndim) if a != channel_axis)
    return gy.sum(axis=axes, dtype=dtype).astype(gy.dtype, copy=False)


# --------------------------------------------------------------------------- the one cache

EXECUTORS_KEPT = 1024
_executors: OrderedDict[Hashable, Executor] = OrderedDict()
_lock = threading.Lock()


def executor_for(key: Hashable, build: Callable[[], ConvSpec], algorithm: Any = "auto") -> Executor:
    """The executor for the spec ``build()`` returns, looked up by ``key``: arguments that
    determine that spec (shapes, dtypes, options), so that a caller asking for the same few
    specs over and over -- a training step, a stream -- does not build and check a spec each
    time (which costs about as much as a small layer's arithmetic). The plan depends on who
    does the products and on the thread count, so they are part of the key."""
    full = (key, algorithm, gemm.provided(), threads.get(), threads.loops())
    found = _executors.get(full)
    if found is None:
        found = Executor(build(), algorithm)
        with _lock:
            _executors[full] = found
            if len(_executors) > EXECUTORS_KEPT:
                _executors.popitem(last=False)
    return found


def executor(spec: ConvSpec, algorithm: Any = "auto") -> Executor:
    """The executor for ``spec`` and ``algorithm`` (from the cache, or built and kept)."""
    return executor_for(spec, lambda: spec, algorithm)


def clear() -> None:
    """Forget every executor (their plans are remade on the next call)."""
    with _lock:
        _executors.clear()
