"""ConvSpec: every argument of a convolution checked and normalised once.

All user-facing validation lives here. A :class:`ConvSpec` is immutable and knows the
explicit left/right padding, the output length, the receptive field and the shapes of
every array involved; kernels trust it and never validate again.

Padding vocabulary (all of it resolves to ``(pad_left, pad_right)``):

* ``int p`` or ``(p,)``: ``p`` zeros (or ``padding_mode`` samples) on both sides, as PyTorch;
* ``(left, right)``: explicit, possibly asymmetric (an extra: PyTorch wants one value);
* ``'valid'``: no padding;
* ``'same'``: for stride 1 the total ``dilation*(K-1)`` is split ``total//2`` left and the
  rest right, exactly PyTorch's split. For stride > 1 (which PyTorch refuses) we follow
  TensorFlow/JAX/ONNX ``SAME_UPPER``: ``L_out = ceil(L_in / stride)`` and the total is
  ``max((L_out-1)*stride + span - L_in, 0)``, again with the extra sample on the right;
* ``'causal'``: ``dilation*(K-1)`` on the left only, so ``y[t]`` sees ``x[..t]`` and
  ``L_out = ceil(L_in / stride)`` (an extra).
"""

from __future__ import annotations

import dataclasses
import numbers
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._layout import channel_axis, length_axis
from .errors import ConvError, ConvTypeError, closest, mixed_dtypes, shape_str

__all__ = [
    "SUPPORTED_DTYPES",
    "ConvSpec",
    "as_arrays",
    "as_shape",
    "check_grad_output",
    "conv1d_spec",
    "conv_transpose1d_spec",
    "output_length",
    "transposed_output_length",
]

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
PADDING_STRINGS = ("valid", "same", "causal")
LAYOUTS = ("NCL", "NLC")
SUPPORTED_DTYPES = tuple(
    np.dtype(t)
    for t in (
        "float16", "float32", "float64", "complex64", "complex128",
        "int8", "int16", "int32", "int64", "uint8",
    )
)  # fmt: skip


@dataclass(frozen=True)
class ConvSpec:
    """A fully checked convolution problem (for ``conv1d`` or ``conv_transpose1d``).

    Sizes use the project's vocabulary: ``n`` batch, ``c_in``/``c_out`` channels,
    ``l_in``/``l_out`` lengths, ``k`` kernel taps, ``groups``. For a transposed
    convolution ``pad_left == pad_right == padding`` is what is cropped from the output.

    A stream's spec has an open length, ``l_in = None`` (built with ``open_length=True``):
    every check that does not need the signal's length is done, and :meth:`window` gives
    the spec of what a stream computes per chunk. ``l_pad``, ``l_out`` and the array
    shapes are then undefined.
    """

    op: str  # the entry point, for messages: "conv1d", "conv1d_input", "Conv1d", ...
    transposed: bool
    n: int
    c_in: int
    c_out: int
    l_in: int | None
    k: int
    stride: int
    dilation: int
    groups: int
    pad_left: int
    pad_right: int
    padding_mode: str
    output_padding: int
    layout: str
    batched: bool
    dtype: np.dtype
    has_bias: bool
    padding: Any  # the padding as given, normalised: an int, (left, right) or a string

    @property
    def span(self) -> int:
        """Samples one output element's window covers: ``(K-1)*dilation + 1``."""
        return (self.k - 1) * self.dilation + 1

    receptive_field = span

    @property
    def l_pad(self) -> int:
        """Length of the padded input (conv) or of the uncropped output (transposed)."""
        if self.transposed:
            return (self.l_in - 1) * self.stride + self.span + self.output_padding
        return self.l_in + self.pad_left + self.pad_right

    @property
    def l_out(self) -> int:
        if self.transposed:
            return self.l_pad - self.pad_left - self.pad_right
        return (self.l_pad - self.span) // self.stride + 1

    @property
    def c_in_per_group(self) -> int:
        return self.c_in // self.groups

    @property
    def c_out_per_group(self) -> int:
        return self.c_out // self.groups

    def _shape(self, c: int, length: int) -> tuple[int, ...]:
        core = (c, length) if self.layout == "NCL" else (length, c)
        return (self.n, *core) if self.batched else core

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self._shape(self.c_in, self.l_in)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self._shape(self.c_out, self.l_out)

    @property
    def weight_shape(self) -> tuple[int, int, int]:
        if self.transposed:
            return (self.c_in, self.c_out_per_group, self.k)
        return (self.c_out, self.c_in_per_group, self.k)

    @property
    def channel_axis(self) -> int:
        """Axis of the channels in the input and output arrays."""
        return channel_axis(self.layout, self.batched)

    @property
    def length_axis(self) -> int:
        return length_axis(self.layout, self.batched)

    def window(self, n: int, l_in: int, dtype: np.dtype) -> ConvSpec:
        """The spec of the plain computation a stream runs on one block: a batch of ``n``
        channels-first signals of ``l_in`` samples already padded (conv1d: ``l_in`` at least
        the span), in ``dtype``, without bias; the rest of the arguments are this spec's."""
        return dataclasses.replace(
            self,
            n=n,
            l_in=l_in,
            pad_left=0,
            pad_right=0,
            padding=0,
            padding_mode="zeros",
            output_padding=0,
            layout="NCL",
            batched=True,
            dtype=np.dtype(dtype),
            has_bias=False,
        )


# --------------------------------------------------------------------------- helpers


def _int_param(op: str, name: str, value: Any, minimum: int) -> int:
    """An int option, also given as a 1-tuple like PyTorch's ``_single``."""
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise ConvError(
                f"{op}: {name} must be an int or a 1-element tuple for a 1-D convolution, "
                f"got {name}={tuple(value)!r}."
            )
        value = value[0]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ConvTypeError(f"{op}: {name} must be an int, got {value!r} ({type(value).__name__}).")
    value = int(value)
    if value < minimum:
        if minimum == 1:
            raise ConvError(f"{op}: {name} must be a positive int, got {name}={value}.")
        raise ConvError(f"{op}: {name} must be >= {minimum}, got {name}={value}.")
    return value


def _padding_param(op: str, padding: Any, transposed: bool = False) -> int | str | tuple[int, int]:
    """Normalise ``padding`` to a string, an int, or a ``(left, right)`` pair."""
    if isinstance(padding, str):
        if transposed:
            raise ConvError(
                f"{op}: padding must be an int for a transposed convolution (as in "
                f"PyTorch), got padding={padding!r}. It is the number of samples cropped "
                f"from each end of the output."
            )
        if padding.lower() not in PADDING_STRINGS:
            raise ConvError(
                f"{op}: padding={padding!r} is not a padding name; expected an int, "
                f"(left, right) or one of {', '.join(map(repr, PADDING_STRINGS))}."
                f"{closest(padding, PADDING_STRINGS)}"
            )
        return padding.lower()
    if isinstance(padding, (tuple, list)) and len(padding) == 2 and not transposed:
        left, right = (_padding_amount(op, "padding", p) for p in padding)
        return (left, right)
    if isinstance(padding, (tuple, list)) and len(padding) != 1:
        allowed = "an int or a 1-tuple" if transposed else "an int, a 1-tuple or (left, right)"
        raise ConvError(f"{op}: padding must be {allowed}, got padding={tuple(padding)!r}.")
    if isinstance(padding, (tuple, list)):
        padding = padding[0]
    return _padding_amount(op, "padding", padding)


def _padding_amount(op: str, name: str, value: Any) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ConvTypeError(
            f"{op}: {name} must be an int, (left, right) or a padding name, "
            f"got {value!r} ({type(value).__name__})."
        )
    if value < 0:
        raise ConvError(
            f"{op}: {name} must be >= 0 (negative padding is not supported), got {int(value)}. "
            f"To drop samples, slice the input instead, e.g. x[..., {-int(value)}:]."
        )
    return int(value)


def _padding_mode(op: str, mode: Any, transposed: bool = False) -> str:
    if not isinstance(mode, str) or mode not in PADDING_MODES:
        raise ConvError(
            f"{op}: padding_mode must be one of {', '.join(map(repr, PADDING_MODES))}, "
            f"got padding_mode={mode!r}.{closest(str(mode), PADDING_MODES)}"
        )
    if transposed and mode != "zeros":
        raise ConvError(
            f"{op}: only padding_mode='zeros' is supported for transposed convolutions "
            f"(as in PyTorch), got padding_mode={mode!r}."
        )
    return mode


def check_layout(op: str, layout: Any) -> str:
    """``'NCL'`` or ``'NLC'`` (case-insensitive), or a ConvError naming both."""
    name = layout.upper() if isinstance(layout, str) else layout
    if name not in LAYOUTS:
        raise ConvError(
            f"{op}: layout must be 'NCL' (channels first, PyTorch's) or 'NLC' "
            f"(channels last), got layout={layout!r}.{closest(str(layout).upper(), LAYOUTS)}"
        )
    return name


def _resolve_padding(
    padding: int | str | tuple[int, int], l_in: int, k: int, stride: int, dilation: int
) -> tuple[int, int]:
    """Explicit (left, right) padding; see the module docstring for the rules."""
    span = (k - 1) * dilation + 1
    if padding == "valid":
        return (0, 0)
    if padding == "causal":
        return (span - 1, 0)
    if padding == "same":
        l_out = -(-l_in // stride)
        total = max((l_out - 1) * stride + span - l_in, 0)
        return (total // 2, total - total // 2)
    if isinstance(padding, tuple):
        return padding
    return (padding, padding)


def _check_groups(op: str, groups: int, c_in: int, c_out: int, what: str) -> None:
    """``what`` names where the channel counts came from, for the message."""
    for name, c in (("in_channels", c_in), ("out_channels", c_out)):
        if c % groups:
            options = [g for g in range(1, max(c_in, c_out, 1) + 1) if c_in % g == 0 and c_out % g == 0]
            raise ConvError(
                f"{op}: {name}={c} is not divisible by groups={groups} ({what}); each group "
                f"takes in_channels/groups inputs and gives out_channels/groups outputs. "
                f"Valid groups here: {', '.join(map(str, options[:12]))}"
                f"{', ...' if len(options) > 12 else ''}."
            )


def layer_arguments(
    op: str,
    in_channels: Any,
    out_channels: Any,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: Any,
    padding_mode: Any,
    layout: Any,
    output_padding: Any = 0,
    transposed: bool = False,
) -> dict[str, Any]:
    """Check a layer's constructor arguments; return them normalised (ints, not 1-tuples)."""
    args = {
        "in_channels": _int_param(op, "in_channels", in_channels, 0),
        "out_channels": _int_param(op, "out_channels", out_channels, 0),
        "kernel_size": _int_param(op, "kernel_size", kernel_size, 1),
        "stride": _int_param(op, "stride", stride, 1),
        "dilation": _int_param(op, "dilation", dilation, 1),
        "groups": _int_param(op, "groups", groups, 1),
        "padding": _padding_param(op, padding, transposed),
        "padding_mode": _padding_mode(op, padding_mode, transposed),
        "layout": check_layout(op, layout),
    }
    if transposed:
        args["output_padding"] = _int_param(op, "output_padding", output_padding, 0)
        _check_output_padding(op, args["output_padding"], args["stride"], args["dilation"])
    _check_groups(op, args["groups"], args["in_channels"], args["out_channels"], "the layer's channels")
    return args


def _check_output_padding(op: str, output_padding: int, stride: int, dilation: int) -> None:
    if output_padding >= max(stride, dilation):
        raise ConvError(
            f"{op}: output_padding must be smaller than stride or dilation, got "
            f"output_padding={output_padding} with stride={stride}, dilation={dilation}. "
            f"It picks one of the max(stride, dilation) output lengths that map back to the "
            f"same input length; use output_padding < {max(stride, dilation)}."
        )


# --------------------------------------------------------------------------- arrays and dtypes


def is_dask_array(a: Any) -> bool:
    """A Dask array? Checked without importing Dask: none exists unless it is imported."""
    module = sys.modules.get("dask.array")
    return module is not None and isinstance(a, module.Array)


def as_arrays(op: str, **named: Any) -> tuple[np.ndarray | None, ...]:
    """The named arguments as ndarrays of one supported dtype, in the order given.

    No copy for ndarrays. The first array sets the dtype the others must share; only an
    argument called ``bias`` may be None.
    """
    arrays: dict[str, np.ndarray | None] = {}
    for name, value in named.items():
        if value is None:
            if name != "bias":
                raise ConvTypeError(f"{op}: {name} is required, got None.")
            arrays[name] = None
            continue
        try:
            array = np.asarray(value)
        except (ValueError, TypeError):  # ragged nested lists
            array = np.empty(0, dtype=object)
        if array.dtype not in SUPPORTED_DTYPES:
            readable = ", ".join(str(d) for d in SUPPORTED_DTYPES)
            what = (
                "could not be read as a numeric array (ragged nesting or non-numbers?)"
                if array.dtype == object
                else f"has dtype {array.dtype}, which conv1d does not convolve"
            )
            raise ConvTypeError(
                f"{op}: {name} {what}. Supported dtypes: {readable}. Convert with "
                f"{name}.astype(np.float32) or another of these."
            )
        arrays[name] = array
    first = next(iter(named))
    dtype = arrays[first].dtype
    for name, array in arrays.items():
        if array is not None and array.dtype != dtype:
            raise mixed_dtypes(
                op,
                first,
                dtype,
                name,
                array.dtype,
                f"Convert one of them: {name}.astype(np.{dtype}) or {first}.astype(np.{array.dtype}).",
            )
    return tuple(arrays.values())


def as_shape(op: str, name: str, size: Any) -> tuple[int, ...]:
    """A shape argument (``input_size``, ``weight_size``) as a tuple of ints."""
    try:
        shape = tuple(size)
    except TypeError:
        shape = None
    if shape is None or not all(
        isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 0 for s in shape
    ):
        raise ConvTypeError(f"{op}: {name} must be a shape, a tuple of non-negative ints, got {size!r}.")
    return tuple(int(s) for s in shape)


def check_grad_output(op: str, spec: ConvSpec, shape: tuple[int, ...]) -> None:
    if tuple(shape) != spec.output_shape:
        raise ConvError(
            f"{op}: grad_output must have the convolution's output shape "
            f"{shape_str(spec.output_shape)} (input {shape_str(spec.input_shape)}, weight "
            f"{shape_str(spec.weight_shape)}, layout {spec.layout!r}), got {shape_str(shape)}."
        )


def check_out(op: str, spec: ConvSpec, out: Any, *inputs: np.ndarray | None) -> np.ndarray:
    """``out=``: a writeable NumPy array of the result's shape and dtype, sharing no memory
    with the call's arrays (the kernels read those while they write it)."""
    wanted = f"np.empty({shape_str(spec.output_shape)}, np.{spec.dtype})"
    if not isinstance(out, np.ndarray):
        raise ConvTypeError(f"{op}: out must be a NumPy array, got {type(out).__name__}. Give {wanted}.")
    if out.shape != spec.output_shape or out.dtype != spec.dtype:
        raise ConvError(
            f"{op}: out must have the result's shape {shape_str(spec.output_shape)} and dtype "
            f"{spec.dtype}, got {shape_str(out.shape)} {out.dtype}. Give {wanted}."
        )
    if not out.flags.writeable:
        raise ConvError(f"{op}: out is read-only. Give a writeable array, e.g. {wanted}.")
    if any(a is not None and np.may_share_memory(out, a) for a in inputs):
        raise ConvError(
            f"{op}: out shares memory with the input, weight or bias, which are read while "
            f"out is written. Give a separate array, e.g. {wanted}."
        )
    return out


# --------------------------------------------------------------------------- specs


def _channel_mismatch(
    op: str,
    input_shape: tuple[int, ...],
    weight_shape: tuple[int, ...],
    expected: int,
    groups: int,
    layout: str,
    transposed: bool,
) -> ConvError:
    batched = len(input_shape) == 3
    c_axis, l_axis = channel_axis(layout, batched), length_axis(layout, batched)
    per_group = weight_shape[1]
    if transposed:
        source = f"weight {shape_str(weight_shape)} (a transposed weight is (C_in, C_out/groups, K))"
    elif groups == 1:
        source = f"weight {shape_str(weight_shape)} with groups=1"
    else:
        source = f"weight {shape_str(weight_shape)} with groups={groups} ({per_group} x {groups})"
    message = (
        f"{op}: {source} expects {expected} input channels on axis {c_axis}, got input of "
        f"shape {shape_str(input_shape)} with {input_shape[c_axis]} there."
    )
    if input_shape[l_axis] == expected:
        if layout == "NCL":
            swap = "x.transpose(0, 2, 1)" if batched else "x.T"
            form = "(N, L, C)" if batched else "(L, C)"
            message += (
                f" Axis {l_axis} has {expected}: if the input is channels-last {form}, "
                f"pass layout='NLC' or use {swap}."
            )
        else:
            message += (
                f" Axis {l_axis} has {expected}: the input looks channels-first; "
                f"pass layout='NCL' (the default)."
            )
    elif not transposed and input_shape[c_axis] == weight_shape[0] and groups == 1:
        message += (
            f" Weight axis 0 has {weight_shape[0]}: conv1d weights are (C_out, C_in/groups, K); "
            f"for a transposed convolution use conv_transpose1d."
        )
    return ConvError(message)


def _common_checks(
    op: str,
    input_shape: tuple[int, ...],
    weight_shape: tuple[int, ...],
    bias_shape: tuple[int, ...] | None,
    layout: str,
) -> None:
    if len(weight_shape) != 3:
        raise ConvError(
            f"{op}: weight must be 3-D (C_out, C_in/groups, K) for conv1d or "
            f"(C_in, C_out/groups, K) for conv_transpose1d, got shape {shape_str(weight_shape)}."
        )
    if len(input_shape) not in (2, 3):
        form = "(N, C_in, L) batched or (C_in, L)" if layout == "NCL" else "(N, L, C_in) batched or (L, C_in)"
        hint = ""
        if len(input_shape) == 1:
            hint = " For one signal with one channel use x[None, None, :] (or x.reshape(1, 1, -1))."
        raise ConvError(
            f"{op}: input must be 3-D {form} unbatched, got {len(input_shape)}-D input of "
            f"shape {shape_str(input_shape)}.{hint}"
        )
    if weight_shape[2] < 1:
        raise ConvError(
            f"{op}: the kernel size (weight axis 2) must be >= 1, got weight {shape_str(weight_shape)}."
        )


def _check_bias(
    op: str, bias_shape: tuple[int, ...] | None, c_out: int, weight_shape: tuple[int, ...]
) -> None:
    if bias_shape is not None and tuple(bias_shape) != (c_out,):
        raise ConvError(
            f"{op}: weight {shape_str(weight_shape)} gives {c_out} output channels, so bias must "
            f"have shape ({c_out},), got bias of shape {shape_str(bias_shape)}."
        )


def _check_length(op: str, l_in: int, input_shape: tuple[int, ...], l_axis: int) -> None:
    if l_in < 1:
        raise ConvError(
            f"{op}: the input has length 0 on axis {l_axis} (shape {shape_str(input_shape)}); "
            f"a convolution needs at least one sample."
        )


def conv1d_spec(
    input_shape: tuple[int, ...],
    weight_shape: tuple[int, ...],
    bias_shape: tuple[int, ...] | None = None,
    *,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: Any = 1,
    padding_mode: Any = "zeros",
    layout: Any = "NCL",
    dtype: Any = np.float32,
    op: str = "conv1d",
    open_length: bool = False,
) -> ConvSpec:
    """Check a ``conv1d`` call and return its :class:`ConvSpec`. ``open_length``: the input's
    length is that of a signal still arriving (a stream): the checks that need the whole
    length are left out and the spec's ``l_in`` is None."""
    stride = _int_param(op, "stride", stride, 1)
    dilation = _int_param(op, "dilation", dilation, 1)
    groups = _int_param(op, "groups", groups, 1)
    padding = _padding_param(op, padding)
    padding_mode = _padding_mode(op, padding_mode)
    layout = check_layout(op, layout)
    input_shape, weight_shape = (
        as_shape(op, "input_shape", input_shape),
        as_shape(op, "weight_shape", weight_shape),
    )
    _common_checks(op, input_shape, weight_shape, bias_shape, layout)

    c_out, c_in_per_group, k = weight_shape
    if c_out < 1:
        raise ConvError(
            f"{op}: weight {shape_str(weight_shape)} has no output channels (axis 0 is C_out); "
            f"it must be at least 1 (as in PyTorch)."
        )
    if c_out % groups:
        _check_groups(op, groups, c_in_per_group * groups, c_out, f"weight {shape_str(weight_shape)}")
    batched = len(input_shape) == 3
    c_axis, l_axis = channel_axis(layout, batched), length_axis(layout, batched)
    c_in = c_in_per_group * groups
    if input_shape[c_axis] != c_in:
        raise _channel_mismatch(op, input_shape, weight_shape, c_in, groups, layout, transposed=False)
    _check_bias(op, bias_shape, c_out, weight_shape)
    if open_length:
        if padding == "same" and stride > 1:
            raise ConvError(
                f"{op}: padding='same' with stride={stride} splits its padding according to the "
                f"signal's total length (L_in mod stride), which a stream does not know in advance. "
                f"Give the padding explicitly, padding=(left, right), or use padding='causal'."
            )
        l_in = None
        pad_left, pad_right = _resolve_padding(padding, 0, k, 1, dilation)
    else:
        l_in = input_shape[l_axis]
        _check_length(op, l_in, input_shape, l_axis)
        pad_left, pad_right = _resolve_padding(padding, l_in, k, stride, dilation)
        _check_padding_mode_limits(op, padding_mode, pad_left, pad_right, l_in)
        _check_span(op, l_in, pad_left, pad_right, k, dilation)
    return ConvSpec(
        op=op,
        transposed=False,
        n=input_shape[0] if batched else 1,
        c_in=c_in,
        c_out=c_out,
        l_in=l_in,
        k=k,
        stride=stride,
        dilation=dilation,
        groups=groups,
        pad_left=pad_left,
        pad_right=pad_right,
        padding_mode=padding_mode,
        output_padding=0,
        layout=layout,
        batched=batched,
        dtype=np.dtype(dtype),
        has_bias=bias_shape is not None,
        padding=padding,
    )


def _check_padding_mode_limits(op: str, mode: str, left: int, right: int, l_in: int) -> None:
    if mode == "reflect" and max(left, right) >= l_in:
        raise ConvError(
            f"{op}: padding_mode='reflect' needs each side's padding < L_in (it mirrors the "
            f"input without repeating the edge sample), got padding ({left}, {right}) for "
            f"L_in={l_in}. Use padding_mode='replicate', less padding or a longer input."
        )
    if mode == "circular" and max(left, right) > l_in:
        raise ConvError(
            f"{op}: padding_mode='circular' needs each side's padding <= L_in (it wraps around "
            f"at most once), got padding ({left}, {right}) for L_in={l_in}. Use less padding "
            f"or a longer input."
        )


def _check_span(op: str, l_in: int, left: int, right: int, k: int, dilation: int) -> None:
    span = (k - 1) * dilation + 1
    padded = l_in + left + right
    if padded < span:
        missing = span - padded
        raise ConvError(
            f"{op}: the kernel spans (K-1)*dilation+1 = ({k}-1)*{dilation}+1 = {span} samples, "
            f"but the padded input has only L_in + padding = {l_in} + {left} + {right} = "
            f"{padded}. Pad at least {missing} more sample{'s' if missing > 1 else ''} "
            f"(padding='same' keeps the length), or use a shorter kernel or dilation."
        )


def conv_transpose1d_spec(
    input_shape: tuple[int, ...],
    weight_shape: tuple[int, ...],
    bias_shape: tuple[int, ...] | None = None,
    *,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    groups: Any = 1,
    dilation: Any = 1,
    layout: Any = "NCL",
    dtype: Any = np.float32,
    op: str = "conv_transpose1d",
    output_size: Any = None,
    open_length: bool = False,
) -> ConvSpec:
    """Check a ``conv_transpose1d`` call and return its :class:`ConvSpec`; ``output_size``
    (as ``ConvTranspose1d.forward``'s) picks the output padding instead of ``output_padding``;
    ``open_length`` as in :func:`conv1d_spec`."""
    stride = _int_param(op, "stride", stride, 1)
    dilation = _int_param(op, "dilation", dilation, 1)
    groups = _int_param(op, "groups", groups, 1)
    padding = _padding_param(op, padding, transposed=True)
    output_padding = _int_param(op, "output_padding", output_padding, 0)
    layout = check_layout(op, layout)
    _check_output_padding(op, output_padding, stride, dilation)
    input_shape, weight_shape = (
        as_shape(op, "input_shape", input_shape),
        as_shape(op, "weight_shape", weight_shape),
    )
    _common_checks(op, input_shape, weight_shape, bias_shape, layout)

    c_in, c_out_per_group, k = weight_shape
    if c_in < 1:
        raise ConvError(
            f"{op}: weight {shape_str(weight_shape)} has no input channels (axis 0 is C_in for "
            f"a transposed convolution); it must be at least 1 (as in PyTorch)."
        )
    if c_in % groups:
        _check_groups(op, groups, c_in, c_out_per_group * groups, f"weight {shape_str(weight_shape)}")
    if c_out_per_group < 1:
        raise ConvError(
            f"{op}: weight {shape_str(weight_shape)} has no output channels (axis 1 is C_out/groups "
            f"for a transposed convolution); it must be at least 1 (as in PyTorch)."
        )
    c_out = c_out_per_group * groups
    batched = len(input_shape) == 3
    c_axis, l_axis = channel_axis(layout, batched), length_axis(layout, batched)
    if input_shape[c_axis] != c_in:
        raise _channel_mismatch(op, input_shape, weight_shape, c_in, groups, layout, transposed=True)
    _check_bias(op, bias_shape, c_out, weight_shape)
    l_in = None if open_length else input_shape[l_axis]
    if l_in is not None:
        _check_length(op, l_in, input_shape, l_axis)

    spec = ConvSpec(
        op=op,
        transposed=True,
        n=input_shape[0] if batched else 1,
        c_in=c_in,
        c_out=c_out,
        l_in=l_in,
        k=k,
        stride=stride,
        dilation=dilation,
        groups=groups,
        pad_left=padding,
        pad_right=padding,
        padding_mode="zeros",
        output_padding=output_padding,
        layout=layout,
        batched=batched,
        dtype=np.dtype(dtype),
        has_bias=bias_shape is not None,
        padding=padding,
    )
    if open_length:
        return spec
    if output_size is not None:
        spec = with_output_size(spec, output_size)
    l_out, output_padding = spec.l_out, spec.output_padding
    if l_out < 1:
        raise ConvError(
            f"{op}: the output would have (L_in-1)*stride - 2*padding + dilation*(K-1) + "
            f"output_padding + 1 = ({l_in}-1)*{stride} - 2*{padding} + {dilation}*({k}-1) + "
            f"{output_padding} + 1 = {l_out} samples; it must be at least 1. "
            f"Use padding <= {(l_out + 2 * padding - 1) // 2} or a longer input."
        )
    return spec


# --------------------------------------------------------------------------- the formulas


def output_length(l_in: int, kernel_size: int, stride: int = 1, padding: Any = 0, dilation: int = 1) -> int:
    """Output length of ``conv1d``: ``floor((L_in + left + right - dilation*(K-1) - 1) / stride) + 1``.

    ``padding`` takes everything :func:`conv1d.conv1d` does (an int, ``(left, right)``,
    ``'valid'``, ``'same'``, ``'causal'``). Raises :class:`ConvError` where the
    convolution itself would.

    >>> output_length(35, 2)            # the text-CNN tutorial
    34
    >>> output_length(16000, 10, stride=5)
    3199
    """
    op = "output_length"
    l_in = _int_param(op, "l_in", l_in, 1)
    k = _int_param(op, "kernel_size", kernel_size, 1)
    stride = _int_param(op, "stride", stride, 1)
    dilation = _int_param(op, "dilation", dilation, 1)
    left, right = _resolve_padding(_padding_param(op, padding), l_in, k, stride, dilation)
    _check_span(op, l_in, left, right, k, dilation)
    return (l_in + left + right - dilation * (k - 1) - 1) // stride + 1


def transposed_output_length(
    l_in: int, kernel_size: int, stride: int = 1, padding: int = 0, output_padding: int = 0, dilation: int = 1
) -> int:
    """Output length of ``conv_transpose1d``:
    ``(L_in - 1)*stride - 2*padding + dilation*(K-1) + output_padding + 1``.

    >>> transposed_output_length(34, 2)
    35
    >>> transposed_output_length(10, 4, stride=2, padding=1)
    20
    """
    op = "transposed_output_length"
    l_in = _int_param(op, "l_in", l_in, 1)
    k = _int_param(op, "kernel_size", kernel_size, 1)
    spec = conv_transpose1d_spec(
        (1, l_in),
        (1, 1, k),
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        dilation=dilation,
        op=op,
    )
    return spec.l_out


def with_output_size(spec: ConvSpec, output_size: Any) -> ConvSpec:
    """``spec`` (a transposed convolution) with the ``output_padding`` that gives ``output_size``.

    As ``ConvTranspose1d.forward(x, output_size)`` in PyTorch: ``output_size`` is the
    length, or the full output shape; the length must lie in ``[L_min, L_min + stride - 1]``
    with ``L_min = (L_in - 1)*stride - 2*padding + dilation*(K-1) + 1``.
    """
    op, rank = spec.op, len(spec.input_shape)
    if isinstance(output_size, numbers.Integral):
        output_size = (output_size,)
    try:
        sizes = [int(s) for s in output_size]
    except (TypeError, ValueError):
        sizes = []
    if len(sizes) not in (1, rank):
        raise ConvError(
            f"{op}: output_size must be the output length or the full output shape "
            f"({rank} values for input of shape {shape_str(spec.input_shape)}), got {output_size!r}."
        )
    length = sizes[0] if len(sizes) == 1 else sizes[spec.length_axis]
    smallest = (spec.l_in - 1) * spec.stride - 2 * spec.pad_left + spec.span
    largest = smallest + spec.stride - 1
    if not smallest <= length <= largest:
        raise ConvError(
            f"{op}: requested an output length of {length}, but for L_in={spec.l_in} with "
            f"stride={spec.stride}, padding={spec.pad_left}, kernel_size={spec.k}, "
            f"dilation={spec.dilation} the valid lengths are {smallest} to {largest} "
            f"((L_in-1)*stride - 2*padding + dilation*(K-1) + 1, plus up to stride-1)."
        )
    return dataclasses.replace(spec, output_padding=length - smallest)
