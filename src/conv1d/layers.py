"""``Conv1d`` and ``ConvTranspose1d`` layers: parameters with PyTorch's initialisation,
a forward pass through the functional API, and a backward pass that computes gradients.

Training in plain NumPy::

    layer = conv1d.Conv1d(2, 3, 5, rng=0)
    for x, target in batches:
        y = layer(x)                       # keeps a reference to x for backward
        grad_y = 2 * (y - target) / y.size # d(mean squared error)/dy
        layer.zero_grad()
        layer.backward(grad_y)             # returns d loss / d x; fills layer.weight_grad, .bias_grad
        for p, g in zip(layer.parameters(), layer.gradients()):
            p -= 0.1 * g                   # parameters() are the layer's own arrays

``backward`` accumulates into ``weight_grad`` and ``bias_grad`` (as PyTorch accumulates
into ``.grad``), so call ``zero_grad()`` between steps.
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from .dispatch import Plan, choose_algorithm, parse_algorithm
from .errors import ConvError, ConvTypeError, mixed_dtypes
from .executor import Executor, executor_for
from .functional import lazy
from .spec import (
    ConvSpec,
    as_arrays,
    as_shape,
    check_grad_output,
    conv1d_spec,
    conv_transpose1d_spec,
    is_dask_array,
    layer_arguments,
)

__all__ = ["Conv1d", "ConvTranspose1d"]

# A layer's weight above this is refused before anything is allocated (a mistyped kernel
# size would otherwise end in a MemoryError, or in the system killing the process).
MAX_PARAMETER_BYTES = 16 * 2**30

_PARAMETER_DTYPES = tuple(np.dtype(t) for t in ("float16", "float32", "float64", "complex64", "complex128"))


def _parameter_dtype(op: str, dtype: Any) -> np.dtype:
    try:
        dt = np.dtype(np.float32 if dtype is None else dtype)
    except TypeError:
        dt = None
    if dt not in _PARAMETER_DTYPES:
        raise ConvTypeError(
            f"{op}: dtype must be a floating or complex dtype ({', '.join(map(str, _PARAMETER_DTYPES))}) "
            f"for trainable parameters, got dtype={dtype!r}. For integer convolution call "
            f"conv1d.conv1d on integer arrays."
        )
    return dt


def _device(op: str, device: Any) -> None:
    if device not in (None, "cpu"):
        raise ConvError(
            f"{op}: conv1d runs on the CPU with NumPy; device must be None or 'cpu', got {device!r}."
        )


def generator(op: str, rng: Any, name: str = "rng") -> np.random.Generator:
    """``rng`` (None, a seed >= 0, or NumPy's Generator, BitGenerator or SeedSequence) as a
    ``numpy.random.Generator``; anything else is a :class:`ConvTypeError` saying so."""
    if rng is None or isinstance(rng, (np.random.Generator, np.random.BitGenerator, np.random.SeedSequence)):
        return np.random.default_rng(rng)
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise ConvTypeError(
        f"{op}: {name} must be a seed (a whole number >= 0), a numpy.random.Generator or None, got {name}={rng!r}."
    )


def as_layer(layer: Any) -> Conv1d | ConvTranspose1d | None:
    """``layer`` itself if it is a conv1d layer; a conv1d layer equal to it (weights copied) if
    it is a ``torch.nn.Conv1d``/``ConvTranspose1d``, conv1d.torch's modules included; else None.
    (No torch import: a torch module exists only if torch was imported.)"""
    if isinstance(layer, _ConvLayer):
        return layer
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(layer, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)):
        return _ConvLayer.from_torch(layer)
    return None


def layer_executor(
    layer: Any,
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    build: Callable[[], ConvSpec],
    output_size: Any = None,
) -> Executor:
    """The executor for a layer's call on these arrays (a conv1d layer or a conv1d.torch
    module: the same option attributes): looked up by the arrays' shapes and dtypes and the
    layer's options as they are now, so a spec is built and checked (``build``) only for a
    combination not seen before."""
    key = (
        layer._op,
        x.shape,
        x.dtype,
        w.shape,
        w.dtype,
        None if b is None else (b.shape, b.dtype),
        layer.stride,
        layer.padding,
        layer.dilation,
        layer.groups,
        layer.padding_mode,
        layer.layout,
        getattr(layer, "output_padding", None),
        None if output_size is None else repr(output_size),
    )
    return executor_for(key, build, layer.algorithm)


class _ConvLayer:
    """What Conv1d and ConvTranspose1d share: parameters, gradients, state dicts, repr."""

    _op = ""
    transposed = False

    def __init__(self, args: dict[str, Any], bias: bool, dtype: Any, rng: Any, algorithm: Any) -> None:
        # Stored as PyTorch stores them: 1-tuples, so ported code such as
        # ``layer.kernel_size[0]`` works; padding stays a string or becomes (p,) / (left, right).
        self.in_channels: int = args["in_channels"]
        self.out_channels: int = args["out_channels"]
        self.kernel_size: tuple[int] = (args["kernel_size"],)
        self.stride: tuple[int] = (args["stride"],)
        padding = args["padding"]
        self.padding: str | tuple[int, ...] = padding if isinstance(padding, (str, tuple)) else (padding,)
        self.dilation: tuple[int] = (args["dilation"],)
        self.groups: int = args["groups"]
        self.padding_mode: str = args["padding_mode"]
        self.layout: str = args["layout"]
        self.output_padding: tuple[int] = (args.get("output_padding", 0),)
        parse_algorithm(self._op, algorithm)
        self.algorithm = algorithm  # 'auto' or a forced kernel, for forward and backward
        dtype = _parameter_dtype(self._op, dtype)
        k, g = args["kernel_size"], self.groups
        if self.transposed:
            shape = (self.in_channels, self.out_channels // g, k)
        else:
            shape = (self.out_channels, self.in_channels // g, k)
        size = math.prod(shape) * dtype.itemsize
        if size > MAX_PARAMETER_BYTES:
            raise ConvError(
                f"{self._op}: a weight of shape {shape} would take {size / 2**30:.1f} GiB "
                f"(at most {MAX_PARAMETER_BYTES / 2**30:.0f} GiB here); check kernel_size and the channel counts."
            )
        self.weight: np.ndarray = np.zeros(shape, dtype)
        self.bias: np.ndarray | None = np.zeros(self.out_channels, dtype) if bias else None
        self.weight_grad = np.zeros_like(self.weight)
        self.bias_grad = None if self.bias is None else np.zeros_like(self.bias)
        self.training = True  # forward keeps what backward can reuse (see train/eval)
        # The last forward's executor, input and what its kernel kept for the weight gradient.
        self._saved: tuple[Executor, np.ndarray, dict | None] | None = None
        self.reset_parameters(rng)

    # -- parameters ---------------------------------------------------------------

    def reset_parameters(self, rng: Any = None) -> None:
        """PyTorch's initialisation: weight and bias uniform in +-1/sqrt(fan_in).

        That is ``kaiming_uniform_(weight, a=sqrt(5))`` followed by the bias rule of
        ``torch.nn.Conv1d.reset_parameters``, with ``fan_in = weight.shape[1] * K`` (for a
        transposed layer that is C_out/groups * K, from its own weight shape, as PyTorch).
        Complex parameters get real and imaginary parts drawn independently, as PyTorch's
        ``uniform_``. ``rng`` is a ``numpy.random.Generator``, a seed, or None.
        """
        rng = generator(self._op, rng)
        fan_in = self.weight.shape[1] * self.weight.shape[2]
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        self.weight[...] = self._uniform(rng, bound, self.weight.shape)
        if self.bias is not None:
            self.bias[...] = self._uniform(rng, bound, self.bias.shape)

    def _uniform(self, rng: np.random.Generator, bound: float, shape: tuple[int, ...]) -> np.ndarray:
        values = rng.uniform(-bound, bound, shape)
        if self.weight.dtype.kind == "c":
            values = values + 1j * rng.uniform(-bound, bound, shape)
        return values

    def parameters(self) -> list[np.ndarray]:
        """The layer's own parameter arrays (update them in place), weight then bias."""
        return [p for _, p in self.named_parameters()]

    def named_parameters(self) -> list[tuple[str, np.ndarray]]:
        return [("weight", self.weight)] + ([("bias", self.bias)] if self.bias is not None else [])

    def gradients(self) -> list[np.ndarray]:
        """The accumulated gradients, in the order of :meth:`parameters`."""
        return [self.weight_grad] + ([self.bias_grad] if self.bias_grad is not None else [])

    def zero_grad(self) -> None:
        for g in self.gradients():
            g[...] = 0

    def to(self, dtype: Any) -> _ConvLayer:
        """Convert parameters and gradients to ``dtype`` in place (like ``module.to(dtype)``); returns self."""
        dtype = _parameter_dtype(self._op, dtype)
        self.weight, self.weight_grad = self.weight.astype(dtype), self.weight_grad.astype(dtype)
        if self.bias is not None:
            self.bias, self.bias_grad = self.bias.astype(dtype), self.bias_grad.astype(dtype)
        return self

    # -- state dicts and torch ----------------------------------------------------------

    def state_dict(self) -> dict[str, np.ndarray]:
        """``{'weight': ..., 'bias': ...}`` with PyTorch's keys. Copies, unlike PyTorch's views."""
        return {name: p.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> None:
        """Copy parameters in from a state dict of NumPy arrays or torch tensors.

        Values are cast to the layer's dtype (as ``Tensor.copy_``); shapes must match.
        With ``strict``, missing and unexpected keys are errors, as in PyTorch.
        """
        expected = dict(self.named_parameters())
        missing = [k for k in expected if k not in state_dict]
        unexpected = [k for k in state_dict if k not in expected]
        if strict and (missing or unexpected):
            raise ConvError(
                f"{self._op}.load_state_dict: missing keys {missing}, unexpected keys {unexpected}; "
                f"this layer has {list(expected)}"
                + (" (it was built with bias=False)" if "bias" in unexpected else "")
                + (" (it was built with bias=True)" if "bias" in missing else "")
                + "."
            )
        for name, target in expected.items():
            if name not in state_dict:
                continue
            value = state_dict[name]
            if hasattr(value, "detach"):  # a torch tensor; no torch import needed
                value = value.detach().cpu().numpy()
            value = np.asarray(value)
            if value.shape != target.shape:
                raise ConvError(
                    f"{self._op}.load_state_dict: {name!r} has shape {value.shape}, the layer's "
                    f"{name} has shape {target.shape} ({self!r})."
                )
            target[...] = value

    def to_torch(self) -> Any:
        """An equivalent ``torch.nn.Conv1d``/``ConvTranspose1d`` with copied weights (needs torch)."""
        from .torch._convert import to_torch

        return to_torch(self)

    @classmethod
    def from_torch(cls, module: Any) -> _ConvLayer:
        """A layer with the options and (copied) weights of a ``torch.nn.Conv1d`` or
        ``ConvTranspose1d`` (conv1d.torch's modules included, with their extras)."""
        from .torch._convert import layer_arguments

        transposed, arguments, state = layer_arguments(module)
        target = ConvTranspose1d if transposed else Conv1d
        if not issubclass(target, cls):
            raise ConvTypeError(
                f"{cls.__name__}.from_torch: got a {type(module).__name__}; use {target.__name__}.from_torch."
            )
        layer = target(**arguments)
        layer.load_state_dict(state)  # copies the values in
        return layer

    # -- forward and backward -------------------------------------------------------

    def plan(self, input_shape: tuple[int, ...]) -> Plan:
        """The algorithm this layer would run on an input of ``input_shape``, and why."""
        return choose_algorithm(
            self._spec(as_shape(self._op, "input_shape", input_shape), self.weight.dtype), self.algorithm
        )

    def __call__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        return self.forward(*args, **kwargs)

    def train(self, mode: bool = True) -> _ConvLayer:
        """Training mode (the default): forward keeps, for backward, what its kernel can
        reuse (at most a few MiB). ``train(False)`` or :meth:`eval` keeps nothing; returns self."""
        self.training = bool(mode)
        return self

    def eval(self) -> _ConvLayer:
        """``train(False)``: for inference, forward keeps nothing for backward."""
        return self.train(False)

    def _executor(
        self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, output_size: Any = None
    ) -> Executor:
        return layer_executor(self, x, w, b, lambda: self._spec(x.shape, x.dtype, output_size), output_size)

    def _forward(self, input: Any, output_size: Any = None) -> Any:
        if is_dask_array(input):  # lazy, chunk by chunk; nothing kept for backward
            self._saved = None
            return lazy(
                self._op, self.transposed, input, self.weight, self.bias, **self._options(output_size)
            )
        x, w, b = as_arrays(self._op, input=input, weight=self.weight, bias=self.bias)
        run = self._executor(x, w, b, output_size)
        # What the kernel gathers from x, for the weight gradient (complex gradients take conj(x)).
        keep = {} if self.training and x.dtype.kind != "c" else None
        y = run.forward(x, w, b, keep)
        self._saved = (run, x, keep)
        return y

    def backward(self, grad_output: Any, input: Any = None) -> np.ndarray:
        """Gradients for ``grad_output`` = dL/d(output of the last forward call).

        Adds dL/dweight to ``weight_grad`` and dL/dbias to ``bias_grad`` and returns
        dL/dinput. ``input`` defaults to the input of the last ``forward`` call (kept by
        reference: do not modify it in place between forward and backward).

        Complex layers follow PyTorch's autograd: gradients are taken against the
        conjugates (grad_input uses conj(weight), grad_weight conj(input)), so that
        ``weight -= lr * weight_grad`` descends a real loss. (``conv1d.grad`` functions, like
        ``torch.nn.grad``, are the plain adjoints, without conjugation.)
        """
        if input is None:
            if self._saved is None:
                raise ConvError(
                    f"{self._op}.backward: call forward first (or pass input=); a forward of a "
                    f"Dask array is lazy and keeps nothing for backward."
                )
            run, x, kept = self._saved
        else:
            (x,) = as_arrays(self._op, input=input)
            run, kept = self._executor(x, self.weight, self.bias), None
        (gy,) = as_arrays(f"{self._op}.backward", grad_output=grad_output)
        if gy.dtype != self.weight.dtype:
            raise mixed_dtypes(
                f"{self._op}.backward",
                "grad_output",
                gy.dtype,
                "the layer",
                self.weight.dtype,
                f"Use grad_output.astype(np.{self.weight.dtype}).",
            )
        check_grad_output(f"{self._op}.backward", run.spec, gy.shape)
        if gy.dtype.kind == "c":  # PyTorch's convention (see above)
            w, x = np.conj(self.weight), np.conj(x)
        else:
            w = self.weight
        grad_input = run.input_grad(w, gy)  # (the weight may have changed since forward: nothing kept)
        grad_bias = None if self.bias_grad is None else np.empty_like(self.bias_grad)
        grad_weight = run.weight_grad(x, gy, kept, bias=grad_bias)
        self.weight_grad += grad_weight
        if grad_bias is not None:
            self.bias_grad += grad_bias
        return grad_input

    # -- repr ---------------------------------------------------------------------

    def extra_repr(self) -> str:
        """PyTorch's wording: non-default options only, 1-tuples as PyTorch prints them."""
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if isinstance(self.padding, str) or any(self.padding):
            s += f", padding={self.padding}"
        if self.dilation != (1,):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        if self.layout != "NCL":
            s += f", layout={self.layout}"
        return s

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


class Conv1d(_ConvLayer):
    """A 1-D convolution layer, as ``torch.nn.Conv1d``, on NumPy arrays.

    Cross-correlation, the kernel is not flipped (see :func:`conv1d.conv1d` for the formula).

    Shape:
        input  (N, C_in, L_in) or (C_in, L_in); with ``layout='NLC'``, (N, L_in, C_in)
        weight (out_channels, in_channels/groups, kernel_size)
        bias   (out_channels,)
        output (N, C_out, L_out),
               L_out = floor((L_in + left + right - dilation*(kernel_size-1) - 1)/stride) + 1

    Example:
        >>> import numpy as np, conv1d
        >>> layer = conv1d.Conv1d(in_channels=256, out_channels=100, kernel_size=2)
        >>> x = np.zeros((32, 35, 256), np.float32)   # (batch, words, embedding)
        >>> layer(x.transpose(0, 2, 1)).shape          # channels must come first...
        (32, 100, 34)
        >>> conv1d.Conv1d(256, 100, 2, layout="NLC")(x).shape   # ...or say they come last
        (32, 34, 100)

    Parameters are initialised as PyTorch's (uniform in +-1/sqrt(in_channels/groups *
    kernel_size)); pass ``rng`` (a seed or ``numpy.random.Generator``) to reproduce them.
    ``device`` is accepted for signature compatibility and must be None or 'cpu'.

    NOTE, unlike PyTorch: ``padding`` also takes ``'causal'`` and ``(left, right)``,
    ``'same'`` works with stride > 1, ``layout`` and ``rng`` are extra keyword-only
    arguments, and ``state_dict()`` returns copies. Gradients come from :meth:`backward`
    (see :mod:`conv1d.layers` for a training loop), not from autograd.
    """

    _op = "Conv1d"

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int],
        stride: int | tuple[int] = 1,
        padding: int | tuple[int] | tuple[int, int] | str = 0,
        dilation: int | tuple[int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
        *,
        layout: str = "NCL",
        algorithm: str = "auto",
        rng: Any = None,
    ) -> None:
        _device(self._op, device)
        args = layer_arguments(
            self._op,
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            padding_mode,
            layout,
        )
        super().__init__(args, bias, dtype, rng, algorithm)

    def _spec(self, shape: tuple[int, ...], dtype: np.dtype, output_size: Any = None) -> ConvSpec:
        return conv1d_spec(
            shape,
            self.weight.shape,
            None if self.bias is None else self.bias.shape,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            groups=self.groups,
            padding_mode=self.padding_mode,
            layout=self.layout,
            dtype=dtype,
            op=self._op,
        )

    def _options(self, output_size: Any = None) -> dict[str, Any]:
        return dict(
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            groups=self.groups,
            padding_mode=self.padding_mode,
            layout=self.layout,
            algorithm=self.algorithm,
        )

    def forward(self, input: Any) -> np.ndarray:
        return self._forward(input)


class ConvTranspose1d(_ConvLayer):
    """A 1-D transposed convolution layer, as ``torch.nn.ConvTranspose1d``, on NumPy arrays.

    The adjoint of a :class:`Conv1d` with the same options (see
    :func:`conv1d.conv_transpose1d`); used to upsample, e.g. in vocoders and decoders.

    Shape:
        input  (N, C_in, L_in) or (C_in, L_in); with ``layout='NLC'``, (N, L_in, C_in)
        weight (in_channels, out_channels/groups, kernel_size)   -- C_in first
        bias   (out_channels,)
        output (N, C_out, L_out),
               L_out = (L_in-1)*stride - 2*padding + dilation*(kernel_size-1) + output_padding + 1

    ``forward(x, output_size=None)``: as in PyTorch, ``output_size`` (the length or the
    full output shape) picks ``output_padding`` for this call.

    Example:
        >>> import numpy as np, conv1d
        >>> up = conv1d.ConvTranspose1d(16, 8, kernel_size=4, stride=2, padding=1)
        >>> up(np.zeros((1, 16, 50), np.float32)).shape
        (1, 8, 100)

    Initialised as PyTorch's, with fan_in = out_channels/groups * kernel_size (from the
    weight's own shape, as PyTorch). Only ``padding_mode='zeros'`` exists, as in PyTorch.
    NOTE, unlike PyTorch: ``layout`` and ``rng`` are extra keyword-only arguments.
    """

    _op = "ConvTranspose1d"
    transposed = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int],
        stride: int | tuple[int] = 1,
        padding: int | tuple[int] = 0,
        output_padding: int | tuple[int] = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: int | tuple[int] = 1,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
        *,
        layout: str = "NCL",
        algorithm: str = "auto",
        rng: Any = None,
    ) -> None:
        _device(self._op, device)
        args = layer_arguments(
            self._op,
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            padding_mode,
            layout,
            output_padding=output_padding,
            transposed=True,
        )
        super().__init__(args, bias, dtype, rng, algorithm)

    def _spec(self, shape: tuple[int, ...], dtype: np.dtype, output_size: Any = None) -> ConvSpec:
        return conv_transpose1d_spec(
            shape,
            self.weight.shape,
            None if self.bias is None else self.bias.shape,
            stride=self.stride,
            padding=self.padding,
            output_padding=0 if output_size is not None else self.output_padding,
            groups=self.groups,
            dilation=self.dilation,
            layout=self.layout,
            dtype=dtype,
            op=self._op,
            output_size=output_size,
        )

    def _options(self, output_size: Any = None) -> dict[str, Any]:
        return dict(
            stride=self.stride,
            padding=self.padding,
            output_padding=self.output_padding,
            groups=self.groups,
            dilation=self.dilation,
            layout=self.layout,
            algorithm=self.algorithm,
            output_size=output_size,
        )

    def forward(self, input: Any, output_size: Any = None) -> np.ndarray:
        return self._forward(input, output_size)
