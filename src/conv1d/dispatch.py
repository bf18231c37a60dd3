"""Choosing an algorithm: a pure cost model from the spec to a :class:`Plan`.

``choose_algorithm(spec)`` estimates the seconds each kernel would take on this machine
and picks the cheapest one that is exact enough for the dtype, unless a measurement of the
problem on this machine (:mod:`conv1d.planning`) says which is fastest; a user may force
one with ``algorithm=``. The estimate is deliberately simple -- arithmetic, bytes moved,
transform sizes and a per-call overhead, each divided by a rate that
:func:`conv1d.planning.calibrate` measured on this machine for the thread count in force --
because it has to get the *order* of the candidates right only where factors of several
decide (depthwise: nothing for BLAS to multiply; long kernels: O(K) vs O(log n) work per
sample); where it is closer than that, measuring decides.

Correctness comes before speed: FFT is never chosen (and refuses to be forced) for integer
dtypes, whose results must be exact, nor for complex ones (the FFT kernel uses real
transforms).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from . import planning
from .errors import ConvError, closest
from .kernels import direct, fft, gemm, threads, winograd
from .planning import Rates
from .spec import ConvSpec

__all__ = ["KERNELS", "Algorithm", "Plan", "choose_algorithm"]


class Algorithm(enum.StrEnum):
    """The kernels. A str-valued enum: ``"fft"`` and ``Algorithm.FFT`` are the same."""

    GEMM = "gemm"
    DIRECT = "direct"
    FFT = "fft"
    WINOGRAD = "winograd"

    def __str__(self) -> str:
        return self.value


KERNELS: dict[Algorithm, ModuleType] = {
    Algorithm.GEMM: gemm,
    Algorithm.DIRECT: direct,
    Algorithm.FFT: fft,
    Algorithm.WINOGRAD: winograd,
}
# The Winograd transforms' bytes per second as a multiple of the machine's bandwidth
# (channels-last copies, compiled transform loops, the weight transform), keyed by whether
# an outside provider does the products (conv1d.torch hands in PyTorch's): fitted, with the
# efficiency terms below, so that the choice between GEMM and Winograd is right on the most
# shapes of a measured set (FCN, text CNN, ResNet-1D, mid-size and long inputs), not to
# predict times. Inside torch the GEMM kernel's own passes cost more than with NumPy's
# BLAS (its short-output transposes and col2im measured 1.3-1.9x slower there), which the
# higher figure stands for.
TRANSFORM_SPEED = {False: 1.0, True: 2.0}
DIRECTIONS = ("forward", "input_grad", "weight_grad")
# A gradient keeps the forward's kernel when it was timed within this factor of the
# fastest (see choose_algorithm): the forward's kept columns or transforms are worth more
# than a difference the size of the VM's run-to-run noise.
SAME_KERNEL = 1.15


@dataclass(frozen=True)
class Plan:
    """What will run and why: the algorithm, the reason, every candidate's estimate, and the
    timings when the choice was measured on this machine (see :mod:`conv1d.planning`)."""

    algorithm: Algorithm
    reason: str
    seconds: dict[Algorithm, float] = field(default_factory=dict)  # estimates; inf = not allowed
    memory_bytes: int = 0  # working memory of the chosen kernel, beyond input and output
    forced: bool = False
    measured: dict[Algorithm, float] = field(default_factory=dict)  # best run of each timed candidate
    direction: str = "forward"  # or "input_grad", "weight_grad": each is planned on its own

    @property
    def source(self) -> str:
        """How the choice was made: ``'forced'``, ``'measured'`` or ``'estimated'``."""
        return "forced" if self.forced else "measured" if self.measured else "estimated"

    def describe(self) -> str:
        costs = ", ".join(
            f"{a.value} {s * 1e3:.3g} ms" if math.isfinite(s) else f"{a.value} n/a"
            for a, s in self.seconds.items()
        )
        text = f"{self.algorithm.value}: {self.reason}"
        if self.measured:
            timed = ", ".join(f"{a.value} {s * 1e3:.3g} ms" for a, s in self.measured.items())
            text += f" (measured {timed}; estimated {costs})"
        else:
            text += f" (estimated {costs})"
        return text if self.direction == "forward" else f"{self.direction}: {text}"

    def candidates(self) -> list[Algorithm]:
        """The algorithms worth timing: allowed, and estimated within planning.PRUNE times the
        best estimate, best first."""
        best = min(self.seconds.values())
        allowed = [a for a, s in self.seconds.items() if math.isfinite(s) and s <= planning.PRUNE * best]
        return sorted(allowed, key=self.seconds.__getitem__)


def plan_key(spec: ConvSpec, direction: str, provided: bool) -> str:
    """What a measured choice is kept under: the problem (every field of the spec but the
    entry point's name and whether there is a bias, a sum beside the work), the direction, the thread count and who does the products."""
    fields = (
        "T" if spec.transposed else "C",
        spec.n,
        spec.c_in,
        spec.c_out,
        spec.l_in,
        spec.k,
        spec.stride,
        spec.dilation,
        spec.groups,
        spec.pad_left,
        spec.pad_right,
        spec.output_padding,
        spec.padding_mode,
        spec.layout,
        int(spec.batched),
        spec.dtype.str,
    )
    products = "torch" if provided else "numpy"
    count = planning.threads_key(threads.get(), threads.numba_threads(), threads.loops())
    return f"{direction} {','.join(map(str, fields))} threads={count} products={products}"


def parse_algorithm(op: str, algorithm: Any) -> Algorithm | None:
    """``'auto'`` -> None; a name or an Algorithm -> the Algorithm; anything else -> ConvError."""
    if isinstance(algorithm, Algorithm):
        return algorithm
    if isinstance(algorithm, str):
        if algorithm.lower() == "auto":
            return None
        try:
            return Algorithm(algorithm.lower())
        except ValueError:
            pass
    names = ["auto"] + [a.value for a in Algorithm]
    raise ConvError(
        f"{op}: algorithm must be one of {', '.join(map(repr, names))}, got algorithm={algorithm!r}."
        f"{closest(str(algorithm), names)}"
    )


def _problem(spec: ConvSpec) -> tuple[int, int, int, int, int, int, int]:
    """The forward problem the kernels see: (N, G, Ci, Co, L_padded_input, L_out, K)."""
    if spec.transposed:  # the adjoint of a conv from the (uncropped) output to the input
        return (spec.n, spec.groups, spec.c_out_per_group, spec.c_in_per_group, spec.l_pad, spec.l_in, spec.k)
    return (spec.n, spec.groups, spec.c_in_per_group, spec.c_out_per_group, spec.l_pad, spec.l_out, spec.k)


def estimate(
    spec: ConvSpec, provided: bool = False, rates: Rates | None = None, direction: str = "forward"
) -> dict[Algorithm, float]:
    """Estimated seconds of each kernel for ``spec``'s ``direction`` (the same work for each,
    but for the FFT's); ``provided``: the products go to an outside provider (see
    :func:`conv1d.kernels.gemm.products`); ``rates``: the machine's (default: this one's, for
    the thread count in force)."""
    r = planning.rates(threads.get(), threads.numba_threads(), threads.loops()) if rates is None else rates
    call = {a: r.call_seconds[a.value] for a in Algorithm}
    n, g, ci, co, lp, lo, k = _problem(spec)
    itemsize = max(spec.dtype.itemsize, 4)
    macs = n * g * co * ci * k * lo
    io = itemsize * n * g * (ci * lp + co * lo)
    function = kernel_function(spec, direction)  # what runs: conv, conv_transpose or conv_weight
    seconds = {}
    # GEMM: BLAS runs near peak only when all three matrix sides are large. Its forward
    # gathers K copies of the input, or, for long outputs with few output channels, takes
    # one product per tap of depth Ci and sums them (gemm.tap_by_tap).
    cols = n * lo if lo < 256 else lo
    taps = function == "conv" and lo >= 512 and gemm.tap_by_tap(ci, co, k, spec.stride)
    # (Tap by tap, a product with few output channels reads a window of the input that
    # stays in cache from tap to tap: HiFi-GAN's 32 -> 1 output layer over 25,600 samples,
    # 7 taps, takes 0.3 ms, about 40 GFLOP/s, where one gathered product would not.)
    rows = 8.0 if taps else 48.0
    efficiency = 1.0 / (1.0 + rows / max(co, 1) + 96.0 / max(ci if taps else ci * k, 1) + 64.0 / max(cols, 1))
    if taps:
        moved = 3 * itemsize * n * g * co * lo * (k - 1)
    else:
        moved = 2 * itemsize * n * g * ci * k * lo if k > 1 else 0
    seconds[Algorithm.GEMM] = (
        call[Algorithm.GEMM] + 2 * macs / (r.gemm_flops * efficiency) + (io + moved) / r.bandwidth
    )
    # Winograd: ALPHA products of (Co x Ci) by (Ci x tiles), plus the transforms, which are
    # passes over memory.
    if 2 <= k <= winograd.MAX_TAPS:
        m = winograd.tile(k)
        tiles = winograd.tiles(n, lo, k)
        w_macs = g * co * ci * winograd.ALPHA * tiles
        w_efficiency = 1.0 / (1.0 + 96.0 / max(co, 1) + 128.0 / max(ci, 1) + 32.0 / max(tiles, 1))
        # Per tile: the input's m samples copied channels-last (read and write) and their
        # ALPHA transforms written; ALPHA products written and read back, m outputs written
        # and moved once more into the caller's layout; and the weights' transform.
        moved = g * (
            tiles * (ci * (winograd.ALPHA + 2 * m) + co * (2 * winograd.ALPHA + 2 * m))
            + co * ci * (k + winograd.ALPHA)
        )
        seconds[Algorithm.WINOGRAD] = (
            call[Algorithm.WINOGRAD]
            + 2 * w_macs / (r.gemm_flops * w_efficiency)
            + (io + itemsize * moved) / (r.bandwidth * TRANSFORM_SPEED[provided])
        )
    else:
        seconds[Algorithm.WINOGRAD] = math.inf
    # Direct: one pass over input and output, vectorised multiply-adds (strided reads are
    # slower), plus a cost per row of positions, which decides short outputs with many
    # channels (a stream's one-sample step).
    rows = n * g * co * ci * k
    seconds[Algorithm.DIRECT] = (
        call[Algorithm.DIRECT]
        + macs * (1 if spec.stride == 1 else 3) / r.direct_macs
        + rows * r.direct_row_seconds
        + io / r.bandwidth
    )
    # FFT: transforms of input blocks, output blocks and kernels, plus per-frequency mixing.
    # The kernel's conv transforms blocks; its conv_transpose and conv_weight the whole
    # signal at once, and with it weight spectra as long as the signal (HiFi-GAN's second
    # upsampling, (256, 128, 16) over 6,400 samples: 840 MB, 2.5 s a call, priced at 18 ms
    # as blocks).
    span = spec.span
    if function == "conv":
        nfft = fft.fft_length(span, lp)
        blocks = math.ceil((lp - span + 1) / (nfft - span + 1))
    else:
        nfft, blocks = fft.whole_length(max(lp, (lo - 1) * spec.stride + span)), 1
    transform = 2.5 * nfft * math.log2(max(nfft, 2))
    fft_flops = transform * (n * g * (ci + co) * blocks + g * co * ci)
    mix_flops = 8.0 * n * g * co * ci * (nfft // 2 + 1) * blocks
    # The weight's spectra, written, rearranged and read: a layer's forward keeps them
    # between calls, the gradients and transposed convolutions make them each time, and
    # for channel-rich weights they are large (HiFi-GAN's (512, 256, 16) upsampling weight:
    # 441 MB, which made its FFT candidate 1-2 s against GEMM's 3 ms).
    spectra = 8 * g * co * ci * (nfft // 2 + 1)
    # With a stride, every stride-1 output is computed and most thrown away: their spectra
    # and samples pass through memory (wav2vec2's first layer on 8 signals, stride 5: 500 ms
    # against GEMM's 4).
    dense = 4 * itemsize * n * g * co * (lp - span + 1) if spec.stride > 1 else 0
    seconds[Algorithm.FFT] = (
        call[Algorithm.FFT]
        + fft_flops / r.fft_flops
        + mix_flops / r.mix_flops
        + (3 * io + 3 * spectra + dense) / r.bandwidth
    )
    return {a: seconds[a] for a in Algorithm}  # in the enum's order, for printing


def _refusal(spec: ConvSpec, algorithm: Algorithm) -> str | None:
    """Why ``algorithm`` cannot give a correct result for ``spec``, or None."""
    if algorithm is Algorithm.FFT and spec.dtype.kind in "iu":
        return f"FFT would round integer results ({spec.dtype}); use 'gemm' or 'direct' for exact integers"
    if algorithm is Algorithm.FFT and spec.dtype.kind == "c":
        return f"the FFT kernel uses real transforms and takes no complex input ({spec.dtype}); use 'gemm' or 'direct'"
    if algorithm is Algorithm.WINOGRAD:
        if spec.dtype.kind in "iu":
            return f"the Winograd transforms have fractions, so integer results ({spec.dtype}) would round; use 'gemm' or 'direct'"
        if spec.stride != 1 or spec.dilation != 1:
            return (
                f"the Winograd kernel computes stride 1, dilation 1 only (got stride={spec.stride}, "
                f"dilation={spec.dilation}); use 'gemm'"
            )
        if not 2 <= spec.k <= winograd.MAX_TAPS:
            also = " (or 'fft' for long kernels)" if spec.k > winograd.MAX_TAPS else ""
            return f"the Winograd kernel takes kernels of 2 to {winograd.MAX_TAPS} taps (got K={spec.k}); use 'gemm'{also}"
    return None


def kernel_function(spec: ConvSpec, direction: str) -> str:
    """The kernel function that computes ``direction`` of ``spec``: ``'conv'``,
    ``'conv_transpose'`` or ``'conv_weight'``."""
    if direction == "weight_grad":
        return "conv_weight"
    return "conv" if (direction == "forward") != spec.transposed else "conv_transpose"


def allowed_estimates(spec: ConvSpec, provided: bool, direction: str = "forward") -> dict[Algorithm, float]:
    """:func:`estimate`, with the algorithms that cannot compute ``spec`` at infinity."""
    seconds = estimate(spec, provided, direction=direction)
    for candidate in Algorithm:
        if _refusal(spec, candidate):
            seconds[candidate] = math.inf
    return seconds


def choose_algorithm(
    spec: ConvSpec, algorithm: Any = "auto", provided: bool | None = None, direction: str = "forward"
) -> Plan:
    """The plan for ``spec``: the forced algorithm, the fastest measured on this machine (in
    the planning mode ``'measure'``, once measured), or the cheapest allowed estimate.
    ``provided``: whether the products go to an outside provider (default: as they do now,
    see :func:`conv1d.kernels.gemm.products`); ``direction``: ``'forward'``, ``'input_grad'``
    or ``'weight_grad'``."""
    forced = parse_algorithm(spec.op, algorithm)
    provided = gemm.provided() if provided is None else provided
    seconds = allowed_estimates(spec, provided)
    if forced is not None:
        refusal = _refusal(spec, forced)
        if refusal:
            raise ConvError(f"{spec.op}: algorithm={forced.value!r} cannot run here: {refusal}.")
        return Plan(forced, "forced by algorithm=", seconds, _memory(spec, forced), True, direction=direction)
    best = min(seconds, key=seconds.__getitem__)
    plan = planned(spec, seconds, "forward", provided, best)
    if direction == "forward":
        return plan
    return planned(spec, allowed_estimates(spec, provided, direction), direction, provided, plan.algorithm)


def planned(
    spec: ConvSpec, seconds: dict[Algorithm, float], direction: str, provided: bool, forward: Algorithm
) -> Plan:
    """The plan of ``direction`` from the estimates ``seconds`` (refusals already infinite):
    the choice measured on this machine if there is one, else the cheapest estimate.
    ``forward``: the kernel of the forward pass, which a gradient takes when it was timed
    within SAME_KERNEL of the fastest -- the forward hands it the columns or transforms it
    made (keep/kept), which timing the gradient alone does not see, and the step then
    alternates fewer pools."""
    record = planning.recorded(plan_key(spec, direction, provided))
    if record is None or not math.isfinite(seconds.get(Algorithm(record.algorithm), math.inf)):
        best = min(seconds, key=seconds.__getitem__)
        return Plan(best, _reason(spec, best), seconds, _memory(spec, best), direction=direction)
    best = Algorithm(record.algorithm)
    measured = {Algorithm(a): s for a, s in record.seconds.items()}
    reason = "the fastest of the candidates timed on this machine"
    if (
        direction != "forward"
        and forward is not best
        and measured.get(forward, math.inf) <= SAME_KERNEL * measured[best]
    ):
        best = forward
        reason = (
            f"the forward's kernel, timed within {SAME_KERNEL - 1:.0%} of the fastest on this "
            f"machine; it reuses what the forward kept"
        )
    return Plan(best, reason, seconds, _memory(spec, best), measured=measured, direction=direction)


def _reason(spec: ConvSpec, algorithm: Algorithm) -> str:
    _n, _g, ci, co, _lp, _lo, k = _problem(spec)
    if algorithm is Algorithm.FFT:
        return f"long kernel (span {spec.span}): O(log n) work per sample beats O(K) = {k}"
    if algorithm is Algorithm.DIRECT:
        if ci * co <= 4:
            return f"{ci} input and {co} output channel(s) per group: too little for a matrix product"
        return "small problem: compiled loops have the least overhead"
    if algorithm is Algorithm.WINOGRAD:
        m = winograd.tile(k)
        return (
            f"channel-rich, {k} taps: Winograd F({m}, {k}) does {winograd.ALPHA} multiplications per {m} outputs "
            f"instead of {m * k}"
        )
    return f"channel-rich ({co}x{ci * k} weight matrix per group): BLAS matrix products"


def _memory(spec: ConvSpec, algorithm: Algorithm) -> int:
    n, g, ci, co, lp, lo, k = _problem(spec)
    itemsize = max(spec.dtype.itemsize, 4)
    if algorithm is Algorithm.GEMM:
        return min(gemm.BLOCK_BYTES, itemsize * n * g * ci * k * lo) + itemsize * n * g * ci * lp
    if algorithm is Algorithm.WINOGRAD:
        m = winograd.tile(k)
        blocks = min(
            winograd.BLOCK_BYTES, winograd.tile_slots(n, lo, k) * g * winograd.tile_bytes(ci, co, m, itemsize)
        )
        return blocks + itemsize * g * winograd.ALPHA * co * ci  # and the transformed weights
    if algorithm is Algorithm.FFT:
        nfft = fft.fft_length(spec.span, lp)
        return (
            min(fft.BLOCK_BYTES, 16 * n * g * max(ci, co) * nfft)
            + 8 * g * co * ci * nfft
            + itemsize * n * g * ci * lp
        )
    return 0
