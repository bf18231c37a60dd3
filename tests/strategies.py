"""Hypothesis strategies for the conv1d tests: problems, arrays and memory layouts.

Every strategy draws a small record (a frozen dataclass), never a bare tuple, so a failing
example prints with its field names. Sizes stay small (channels per group 1..4, groups 1..3,
K 1..6, stride and dilation 1..4) so hundreds of examples run in seconds, and lengths start
at the smallest valid one, so the awkward case "the kernel's span equals the padded length"
is drawn often (it is the first candidate and where hypothesis shrinks to).

Array values come from a NumPy generator seeded by a drawn integer: the problems, not the
values, are what hypothesis should search and shrink.

* :func:`conv_cases` / :func:`transposed_cases`: valid ``conv1d`` / ``conv_transpose1d`` calls;
* :func:`kernel_problems`: the kernels' normalised problems, ``x (N, G, Ci, L)`` plus zero padding
  as numbers, ``w (G, Co, Ci, K)``;
* :func:`raw_calls`: calls that may be invalid, restricted to options torch itself accepts,
  for error parity;
* :func:`make_arrays`, :func:`random_array`, :func:`lay_out`: the arrays and how they sit in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
LAYOUTS = ("NCL", "NLC")
PADDING_FORMS = ("int", "1-tuple", "pair", "valid", "same", "causal")
# How an input array sits in memory. Values are always the same; only strides differ.
VIEWS = ("contiguous", "strided", "transposed", "reversed")
COMPLEX_DTYPES = tuple(map(np.dtype, ("complex64", "complex128")))
INT_DTYPES = tuple(map(np.dtype, ("int8", "int16", "int32", "int64", "uint8")))

seeds = st.integers(0, 2**32 - 1)
batches = st.one_of(st.none(), st.integers(0, 3))  # None: an unbatched input


# --------------------------------------------------------------------------- padding semantics


def resolve_padding(padding: Any, l_in: int, k: int, stride: int, dilation: int) -> tuple[int, int]:
    """``(left, right)`` for every padding form conv1d documents, from the definitions.

    ints and ``(p,)``: torch's ``p`` on both sides; ``(left, right)``: as given; ``'valid'``: none;
    ``'same'``: torch's split at stride 1 (``total // 2`` left, the rest right) and TensorFlow's
    SAME_UPPER at stride > 1 (``L_out = ceil(L_in / stride)``, extra sample on the right),
    which coincide at stride 1; ``'causal'``: ``dilation*(K-1)`` on the left only.
    """
    span = (k - 1) * dilation + 1
    if padding == "valid":
        return (0, 0)
    if padding == "causal":
        return (span - 1, 0)
    if padding == "same":
        l_out = -(-l_in // stride)
        total = max((l_out - 1) * stride + span - l_in, 0)
        return (total // 2, total - total // 2)
    if isinstance(padding, tuple) and len(padding) == 2:
        return padding
    if isinstance(padding, tuple):
        return (padding[0], padding[0])
    return (padding, padding)


def padding_fits(padding: Any, mode: str, l_in: int, k: int, stride: int, dilation: int) -> bool:
    """Whether a conv1d with these options is valid: the padded input holds one window and the
    padding mode's limits hold (reflect: each side < L_in; circular: each side <= L_in)."""
    left, right = resolve_padding(padding, l_in, k, stride, dilation)
    if l_in + left + right < (k - 1) * dilation + 1:
        return False
    if mode == "reflect":
        return max(left, right) < l_in
    if mode == "circular":
        return max(left, right) <= l_in
    return True


def transposed_length(
    l_in: int, k: int, stride: int, padding: int, output_padding: int, dilation: int
) -> int:
    """``(L_in - 1)*stride - 2*padding + dilation*(K-1) + output_padding + 1``, as torch documents it."""
    return (l_in - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1


def _shape(n: int | None, c: int, length: int, layout: str) -> tuple[int, ...]:
    core = (c, length) if layout == "NCL" else (length, c)
    return core if n is None else (n, *core)


# --------------------------------------------------------------------------- records


class _Shapes:
    """Array shapes of a drawn call, from its sizes (shared by both kinds of case)."""

    @property
    def c_in(self) -> int:
        return self.groups * self.c_in_per_group

    @property
    def c_out(self) -> int:
        return self.groups * self.c_out_per_group

    @property
    def input_shape(self) -> tuple[int, ...]:
        return _shape(self.n, self.c_in, self.l_in, self.layout)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return _shape(self.n, self.c_out, self.l_out, self.layout)

    @property
    def bias_shape(self) -> tuple[int] | None:
        return (self.c_out,) if self.bias else None


@dataclass(frozen=True)
class ConvCase(_Shapes):
    """A valid ``conv1d`` call: sizes, options, and how the input sits in memory (``view``)."""

    n: int | None  # None: unbatched input
    groups: int
    c_in_per_group: int
    c_out_per_group: int
    k: int
    stride: int
    dilation: int
    padding: Any  # as passed: int, (p,), (left, right) or a padding name
    padding_mode: str
    l_in: int
    layout: str = "NCL"
    bias: bool = True
    view: str = "contiguous"

    @property
    def span(self) -> int:
        return (self.k - 1) * self.dilation + 1

    @property
    def pads(self) -> tuple[int, int]:
        return resolve_padding(self.padding, self.l_in, self.k, self.stride, self.dilation)

    @property
    def l_out(self) -> int:
        return (self.l_in + sum(self.pads) - self.span) // self.stride + 1

    @property
    def weight_shape(self) -> tuple[int, int, int]:
        return (self.c_out, self.c_in_per_group, self.k)

    @property
    def options(self) -> dict[str, Any]:
        """Keyword arguments shared by conv1d.conv1d, conv1d.grad.conv1d_* and the torch oracle."""
        return dict(
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            groups=self.groups,
            padding_mode=self.padding_mode,
            layout=self.layout,
        )


@dataclass(frozen=True)
class TransposedCase(_Shapes):
    """A valid ``conv_transpose1d`` call. ``c_in``/``c_out`` are the transposed convolution's own."""

    n: int | None
    groups: int
    c_in_per_group: int
    c_out_per_group: int
    k: int
    stride: int
    dilation: int
    padding: Any  # int or (p,)
    output_padding: int
    l_in: int
    layout: str = "NCL"
    bias: bool = True
    view: str = "contiguous"

    @property
    def l_out(self) -> int:
        p = self.padding[0] if isinstance(self.padding, tuple) else self.padding
        return transposed_length(self.l_in, self.k, self.stride, p, self.output_padding, self.dilation)

    @property
    def weight_shape(self) -> tuple[int, int, int]:
        return (self.c_in, self.c_out_per_group, self.k)

    @property
    def options(self) -> dict[str, Any]:
        return dict(
            stride=self.stride,
            padding=self.padding,
            output_padding=self.output_padding,
            groups=self.groups,
            dilation=self.dilation,
            layout=self.layout,
        )


@dataclass(frozen=True)
class KernelProblem:
    """A kernel call on a normalised problem (see conv1d/kernels/__init__.py):
    ``x (N, G, Ci, L)`` with zero padding passed as numbers, ``w (G, Co, Ci, K)``, an
    optional ``bias (G, Co)``; ``conv_transpose`` returns ``t_length`` positions from ``offset``."""

    n: int
    groups: int
    ci: int
    co: int
    k: int
    stride: int
    dilation: int
    length: int  # L, before padding
    pad_left: int
    pad_right: int
    bias: bool
    offset: int
    t_length: int
    dtype: np.dtype
    view: str = "contiguous"

    @property
    def span(self) -> int:
        return (self.k - 1) * self.dilation + 1

    @property
    def l_out(self) -> int:
        return (self.length + self.pad_left + self.pad_right - self.span) // self.stride + 1

    @property
    def full_length(self) -> int:
        """Length of the whole adjoint: the positions the output's windows reach."""
        return (self.l_out - 1) * self.stride + self.span

    @property
    def x_shape(self) -> tuple[int, int, int, int]:
        return (self.n, self.groups, self.ci, self.length)

    @property
    def w_shape(self) -> tuple[int, int, int, int]:
        return (self.groups, self.co, self.ci, self.k)

    @property
    def y_shape(self) -> tuple[int, int, int, int]:
        return (self.n, self.groups, self.co, self.l_out)

    @property
    def transposed_shape(self) -> tuple[int, int, int, int]:
        return (self.n, self.groups, self.ci, self.t_length)


@dataclass(frozen=True)
class RawCall:
    """A conv1d or conv_transpose1d call that may be invalid, with only options torch accepts
    (int padding, 'valid', 'same', NCL). ``broken`` names what was changed from a valid call."""

    transposed: bool
    input_shape: tuple[int, ...]
    weight_shape: tuple[int, ...]
    bias_shape: tuple[int, ...] | None
    stride: int
    padding: Any
    dilation: int
    groups: int
    output_padding: int = 0
    padding_mode: str = "zeros"
    input_dtype: str = "float64"
    weight_dtype: str = "float64"
    bias_dtype: str = "float64"
    broken: tuple[str, ...] = ()

    @property
    def options(self) -> dict[str, Any]:
        if self.transposed:
            return dict(
                stride=self.stride,
                padding=self.padding,
                output_padding=self.output_padding,
                groups=self.groups,
                dilation=self.dilation,
            )
        return dict(
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            groups=self.groups,
            padding_mode=self.padding_mode,
        )


@dataclass(frozen=True)
class Arrays:
    """The arrays of one call, C-contiguous, plus a random output gradient."""

    input: np.ndarray
    weight: np.ndarray
    bias: np.ndarray | None
    grad_output: np.ndarray


# --------------------------------------------------------------------------- valid calls


def _padding(draw: Any, form: str) -> Any:
    if form == "int":
        return draw(st.integers(0, 5))
    if form == "1-tuple":
        return (draw(st.integers(0, 5)),)
    if form == "pair":
        return (draw(st.integers(0, 5)), draw(st.integers(0, 5)))
    return form


def _length(draw: Any, candidates: list[int], longest: int) -> int:
    """The smallest valid length (often the kernel span equal to the padded length), any
    small valid length, or now and then a long one (every length past the list is valid)."""
    return draw(
        st.one_of(
            st.just(candidates[0]),
            st.sampled_from(candidates),
            st.integers(candidates[-1], longest),
        )
    )


@st.composite
def conv_cases(
    draw: Any,
    *,
    batch: st.SearchStrategy = batches,
    c_in_per_group: st.SearchStrategy = st.integers(1, 4),  # noqa: B008 - strategies are immutable values
    padding_forms: tuple[str, ...] = PADDING_FORMS,
    padding_modes: tuple[str, ...] = PADDING_MODES,
    layouts: tuple[str, ...] = LAYOUTS,
    views: tuple[str, ...] = VIEWS,
    strided_same: bool = True,
    winograd: bool = False,
) -> ConvCase:
    """Valid conv1d calls; ``strided_same=False`` keeps 'same' at stride 1 (all torch accepts);
    ``winograd`` draws only what that kernel takes (stride 1, dilation 1, 2 to 7 taps)."""
    groups = draw(st.integers(1, 3))
    ci = draw(c_in_per_group)
    co = draw(st.integers(1, 4))
    k = draw(st.integers(2, 7) if winograd else st.integers(1, 6))
    dilation = 1 if winograd else draw(st.integers(1, 4))
    mode = draw(st.sampled_from(padding_modes))
    form = draw(st.sampled_from(padding_forms))
    stride = 1 if winograd or (form == "same" and not strided_same) else draw(st.integers(1, 4))
    padding = _padding(draw, form)
    span = (k - 1) * dilation + 1
    lengths = [n for n in range(1, span + 14) if padding_fits(padding, mode, n, k, stride, dilation)]
    return ConvCase(
        n=draw(batch),
        groups=groups,
        c_in_per_group=ci,
        c_out_per_group=co,
        k=k,
        stride=stride,
        dilation=dilation,
        padding=padding,
        padding_mode=mode,
        l_in=_length(draw, lengths, 160),
        layout=draw(st.sampled_from(layouts)),
        bias=draw(st.booleans()),
        view=draw(st.sampled_from(views)),
    )


@st.composite
def transposed_cases(
    draw: Any,
    *,
    batch: st.SearchStrategy = batches,
    layouts: tuple[str, ...] = LAYOUTS,
    views: tuple[str, ...] = VIEWS,
    winograd: bool = False,
) -> TransposedCase:
    """Valid conv_transpose1d calls: output_padding < max(stride, dilation), L_out >= 1;
    ``winograd`` as in :func:`conv_cases`."""
    groups = draw(st.integers(1, 3))
    ci = draw(st.integers(1, 4))
    co = draw(st.integers(1, 4))
    k = draw(st.integers(2, 7) if winograd else st.integers(1, 6))
    stride = 1 if winograd else draw(st.integers(1, 4))
    dilation = 1 if winograd else draw(st.integers(1, 4))
    output_padding = draw(st.integers(0, max(stride, dilation) - 1))
    p = draw(st.integers(0, 5))
    padding = draw(st.sampled_from([p, (p,)]))
    lengths = [n for n in range(1, 14) if transposed_length(n, k, stride, p, output_padding, dilation) >= 1]
    return TransposedCase(
        n=draw(batch),
        groups=groups,
        c_in_per_group=ci,
        c_out_per_group=co,
        k=k,
        stride=stride,
        dilation=dilation,
        padding=padding,
        output_padding=output_padding,
        l_in=_length(draw, lengths, 60),
        layout=draw(st.sampled_from(layouts)),
        bias=draw(st.booleans()),
        view=draw(st.sampled_from(views)),
    )


@st.composite
def kernel_problems(
    draw: Any, *, dtypes: tuple[np.dtype, ...] = (np.dtype(np.float64),), winograd: bool = False
) -> KernelProblem:
    """Kernel problems with L + padding >= span (equal is the first candidate), N including 0,
    and conv_transpose windows that are the gradient's (offset = pad_left, length = L), start
    anywhere, or run past the end of the adjoint (which must read as zeros). ``winograd``:
    only what that kernel takes (stride 1, dilation 1, 2 to 7 taps)."""
    k = draw(st.integers(2, 7) if winograd else st.integers(1, 6))
    dilation = 1 if winograd else draw(st.integers(1, 4))
    stride = 1 if winograd else draw(st.integers(1, 4))
    pad_left, pad_right = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    shortest = max(1, (k - 1) * dilation + 1 - pad_left - pad_right)
    length = draw(st.one_of(st.just(shortest), st.integers(shortest, shortest + 40)))
    lp = length + pad_left + pad_right
    full = ((lp - (k - 1) * dilation - 1) // stride) * stride + (k - 1) * dilation + 1
    offset, t_length = draw(
        st.one_of(
            st.just((pad_left, length)),
            st.tuples(st.integers(0, 3), st.integers(1, full + 3)),
        )
    )
    return KernelProblem(
        n=draw(st.integers(0, 3)),
        groups=draw(st.integers(1, 3)),
        ci=draw(st.integers(1, 4)),
        co=draw(st.integers(1, 4)),
        k=k,
        stride=stride,
        dilation=dilation,
        length=length,
        pad_left=pad_left,
        pad_right=pad_right,
        bias=draw(st.booleans()),
        offset=offset,
        t_length=t_length,
        dtype=draw(st.sampled_from(dtypes)),
        view=draw(st.sampled_from(VIEWS)),
    )


# --------------------------------------------------------------------------- possibly invalid calls

# Each entry breaks one thing about a valid call; raw_calls applies zero to two of them.
CONV_BREAKS = (
    "input channels",
    "groups",
    "negative padding",
    "stride",
    "dilation",
    "long kernel",
    "short input",
    "zero length",
    "no output channels",
    "empty kernel",
    "no input channels",
    "empty batch",
    "mode padding limit",
    "input rank",
    "weight rank",
    "bias shape",
    "mixed dtypes",
)
TRANSPOSED_BREAKS = (
    "input channels",
    "groups",
    "negative padding",
    "stride",
    "dilation",
    "output padding",
    "big padding",
    "zero length",
    "no output channels",
    "no input channels",
    "empty batch",
    "input rank",
    "weight rank",
    "bias shape",
    "mixed dtypes",
)


@st.composite
def raw_calls(draw: Any, *, transposed: bool = False) -> RawCall:
    """A valid call (NCL, int/'valid'/'same'-at-stride-1 padding) with zero to two things broken."""
    if transposed:
        case = draw(transposed_cases(layouts=("NCL",), views=("contiguous",)))
        padding = case.padding[0] if isinstance(case.padding, tuple) else case.padding
        mode = "zeros"
    else:
        case = draw(
            conv_cases(
                padding_forms=("int", "valid", "same"),
                layouts=("NCL",),
                views=("contiguous",),
                strided_same=False,
            )
        )
        padding, mode = case.padding, case.padding_mode
    n = case.n
    c_in, l_in = case.c_in, case.l_in
    w0, w1, k = case.weight_shape
    c_out = case.c_out
    stride, dilation, groups = case.stride, case.dilation, case.groups
    output_padding = getattr(case, "output_padding", 0)
    bias_shape: tuple[int, ...] | None = case.bias_shape
    dtypes = {"input": "float64", "weight": "float64", "bias": "float64"}
    if draw(st.integers(0, 3)) == 0:
        same = draw(st.sampled_from(["float32", "float64"]))
        dtypes = dict.fromkeys(dtypes, same)
    input_rank = weight_rank = 0  # 0: unchanged, else the rank to force

    how_many = draw(st.sampled_from([0, 1, 1, 2]))
    breaks = draw(
        st.lists(
            st.sampled_from(TRANSPOSED_BREAKS if transposed else CONV_BREAKS),
            min_size=how_many,
            max_size=how_many,
            unique=True,
        )
    )
    for what in breaks:
        if what == "input channels":
            c_in = max(0, c_in + draw(st.sampled_from([-2, -1, 1, 2])))
        elif what == "groups":
            groups = draw(st.integers(-1, 4))
        elif what == "negative padding" and mode == "zeros" and padding not in ("valid", "same"):
            padding = draw(st.integers(-3, -1))  # (torch's nn.Conv1d crops for other modes)
        elif what == "stride":
            stride = draw(st.integers(-1, 0))
        elif what == "dilation":
            dilation = draw(st.integers(-1, 0))
        elif what == "long kernel":
            k += draw(st.integers(1, 12))
        elif what == "short input":
            l_in = draw(st.integers(0, 2))
        elif what == "zero length":
            l_in = 0
        elif what == "no output channels":  # (with a bias that matches: only one thing broken)
            if transposed:
                w1 = 0
            else:
                w0 = 0
            bias_shape = None if bias_shape is None else (0,)
        elif what == "empty kernel":
            k = 0
        elif what == "no input channels" and mode == "zeros":
            # (torch's F.pad refuses empty channels for the other modes; conv1d's C_in=0
            # deviation is tested on its own)
            c_in = 0
            if transposed:
                w0 = 0
            else:
                w1 = 0
        elif what == "empty batch" and n is not None:
            n = 0
        elif (
            what == "mode padding limit"
            and mode in ("reflect", "circular")
            and padding not in ("valid", "same")
        ):
            padding = l_in + draw(st.integers(-1, 2))
        elif what == "output padding":
            output_padding = draw(
                st.one_of(st.integers(-2, -1), st.integers(max(stride, dilation), max(stride, dilation) + 2))
            )
        elif what == "big padding":
            padding += draw(st.integers(1, 12))
        elif what == "input rank":
            input_rank = draw(st.sampled_from([1, 4]))
        elif what == "weight rank":
            weight_rank = draw(st.sampled_from([2, 4]))
        elif what == "bias shape":
            c = c_out if bias_shape is None else bias_shape[0]
            bias_shape = draw(st.sampled_from([(c + 1,), (max(c - 1, 0),), (c, 1), ()]))
        elif what == "mixed dtypes":
            odd = draw(st.sampled_from(["input", "weight"] + (["bias"] if bias_shape else [])))
            dtypes[odd] = {"float64": "float32", "float32": "float64"}[dtypes[odd]]

    input_shape: tuple[int, ...] = (c_in, l_in) if n is None else (n, c_in, l_in)
    if input_rank == 1:
        input_shape = (l_in,)
    elif input_rank == 4:
        input_shape = (1, *input_shape) if len(input_shape) == 3 else (1, 1, *input_shape)
    weight_shape: tuple[int, ...] = (w0, w1, k)
    if weight_rank == 2:
        weight_shape = (w0, w1)
    elif weight_rank == 4:
        weight_shape = (w0, w1, 1, k)
    return RawCall(
        transposed=transposed,
        input_shape=input_shape,
        weight_shape=weight_shape,
        bias_shape=bias_shape,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        output_padding=output_padding,
        padding_mode=mode,
        input_dtype=dtypes["input"],
        weight_dtype=dtypes["weight"],
        bias_dtype=dtypes["bias"],
        broken=tuple(breaks),
    )


# --------------------------------------------------------------------------- arrays


def random_array(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """Random values of ``dtype``: floats in [-1, 1]; complex with both parts so; integers over
    the whole range for 8- and 16-bit types (so sums wrap), within +-2**20 for 32/64-bit (so
    int32 sums still wrap, and int64 products stay exact)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return rng.uniform(-1, 1, shape).astype(dtype)
    if dtype.kind == "c":
        return (rng.uniform(-1, 1, shape) + 1j * rng.uniform(-1, 1, shape)).astype(dtype)
    if dtype.itemsize <= 2:
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)
    return rng.integers(-(2**20), 2**20, shape, endpoint=True).astype(dtype)


def make_arrays(case: ConvCase | TransposedCase, dtype: Any, seed: int) -> Arrays:
    rng = np.random.default_rng(seed)
    return Arrays(
        input=random_array(rng, case.input_shape, dtype),
        weight=random_array(rng, case.weight_shape, dtype),
        bias=None if case.bias_shape is None else random_array(rng, case.bias_shape, dtype),
        grad_output=random_array(rng, case.output_shape, dtype),
    )


def lay_out(a: np.ndarray, view: str, *, readonly: bool = False) -> np.ndarray:
    """An array equal to ``a`` whose memory layout is ``view``:

    'contiguous' a C-contiguous copy; 'strided' every other element of a buffer twice as long
    on the last axis; 'transposed' a transposed copy transposed back (Fortran order);
    'reversed' negative strides on the last axis. ``readonly`` clears the writeable flag.
    """
    if view == "contiguous":
        out = a.copy()
    elif view == "strided":
        buffer = np.zeros(a.shape[:-1] + (2 * a.shape[-1],) if a.ndim else (), dtype=a.dtype)
        buffer[..., ::2] = a
        out = buffer[..., ::2]
    elif view == "transposed":
        out = np.ascontiguousarray(a.T).T
    elif view == "reversed":
        out = a[..., ::-1].copy()[..., ::-1]
    else:
        raise AssertionError(f"unknown view {view!r}")
    assert np.array_equal(out, a)
    if readonly:
        out.flags.writeable = False
    return out
