"""conv1d inside PyTorch models: ``torch.nn`` modules whose forward and backward run conv1d.

``conv1d.torch.Conv1d`` and ``conv1d.torch.ConvTranspose1d`` are ``torch.nn.Conv1d`` /
``torch.nn.ConvTranspose1d`` subclasses: the same constructor, parameters, initialisation,
state-dict keys and ``repr``, so they drop into a model (and its optimiser and saved
checkpoints) unchanged. Their forward and backward go through a
``torch.autograd.Function`` that hands the tensors to conv1d's planner and kernels as
NumPy views (CPU tensors; no copy where a view suffices) and wraps the results back as
tensors. They also take conv1d's extras: ``padding='causal'`` or ``(left, right)``,
``'same'`` with stride > 1, ``layout='NLC'`` (channels-last input) and ``algorithm=``.

:func:`convert` swaps every ``torch.nn.Conv1d`` / ``ConvTranspose1d`` in a model for
these (or back, ``to='torch'``), keeping the very same weight tensors, so outputs, the
optimiser's references and the state dict stay as they were.

Import it explicitly (``import conv1d.torch``; needs ``pip install 'conv1d[torch]'``):
``import conv1d`` never imports torch.

Example:
    >>> import torch, conv1d.torch
    >>> model = torch.nn.Sequential(torch.nn.Conv1d(1, 4, 3), torch.nn.ReLU(), torch.nn.Conv1d(4, 2, 3))
    >>> x = torch.randn(2, 1, 16)
    >>> before = model(x)
    >>> model = conv1d.torch.convert(model)
    >>> type(model[0]).__module__, torch.allclose(model(x), before, atol=1e-6)
    ('conv1d.torch', True)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from . import grad as _grad
from .calls import Calls
from .dispatch import parse_algorithm
from .errors import ConvError
from .functional import SpectrumCache
from .kernels import gemm as _gemm
from .kernels import threads as _kernel_threads
from .spec import ConvSpec, conv1d_spec, conv_transpose1d_spec, layer_arguments

__all__ = ["Conv1d", "ConvTranspose1d", "convert"]


def _array(t: torch.Tensor, op: str) -> np.ndarray:
    """A CPU tensor's values as a NumPy array sharing its memory (copied only for lazy
    negation/conjugation views, which NumPy cannot represent). ``detach().numpy()`` first,
    which refuses those views and other devices; only then is the device checked and
    ``numpy(force=True)`` called. In a training step this measured the same as checking
    the device and calling ``numpy(force=True)`` every time (BENCHMARKS.md, Training)."""
    try:
        return t.detach().numpy()
    except (RuntimeError, TypeError):
        if not t.is_cpu:
            raise ConvError(f"{op}: conv1d computes on the CPU; got a tensor on {t.device}. Move it with .cpu().") from None
        return t.numpy(force=True)


# Inside a PyTorch model, torch's OpenMP workers spin for a while after each of its ops,
# and any other thread pool started on the same cores then fights them: OpenBLAS's,
# and Numba's (its OpenMP layer loads the system libgomp, torch bundles its own). So
# inside these modules conv1d's kernels hand their matrix products to torch.matmul
# (PyTorch's BLAS on PyTorch's threads; see _torch_matmul) and run their own pools on
# KERNEL_THREADS threads. Measured on 2 cores, FCN training on GunPoint
# (examples/fcn_ucr.py), seconds per epoch: OpenBLAS on two threads 0.68, on one
# 0.24-0.31; conv1d over torch.nn.Conv1d, both models trained in turn in one process:
# 1.44-1.58x with OpenBLAS on one thread, 1.32-1.49x with torch.matmul. Running the two
# gradients of a layer on two Python threads (one BLAS thread each) measured worse
# (1.9x with OpenBLAS, whose threads then fight torch's; with torch.matmul from a second
# thread, the torch model's own step went from 20 to 28 ms). Since then: Winograd for the
# 128->256 and 256->128 layers (the planner picks it when the products go to torch),
# entering threads.limited for free, remembered specs, the forward's input (and
# Winograd's weight transform) kept for the backward, contiguous weight gradients, small
# products on NumPy's (session 5: GunPoint 0.87-0.95x, ItalyPowerDemand 1.01-1.08x per
# epoch); then the kernels' temporaries from a pool (no page faults), serial direct loops
# and less Python per call: GunPoint 0.91-0.97x, ItalyPowerDemand 0.95-1.03x in session
# 6's runs; then plans kept per input shape as conv1d.calls.Calls (plain arrays go
# straight to the kernel), the bias gradient summed inside the weight gradient's kernel,
# the forward's arrays reused by the backward: 0.977x per ItalyPowerDemand epoch against
# the code before (paired, interval 0.971-0.986), which put it at 0.974-1.015x of torch's
# (median 0.978x) and GunPoint at 0.905-0.946x in session 8's runs; then autograd's C++
# apply called directly, once_differentiable only under create_graph, less fixed cost in
# the kernels' calls, the batched products folded in NumPy: 0.924x against that (interval
# 0.916-0.933), 0.907-0.956x of torch's on ItalyPowerDemand (median 0.918x) and
# 0.860-0.898x on GunPoint in session 9's runs (see BENCHMARKS.md, Training).
KERNEL_THREADS = 1


# Products with fewer multiply-adds than this go to NumPy: OpenBLAS runs them
# on the calling thread (its own threshold for threads is 65536 * 4), while torch.matmul
# inside a training step costs ~0.1 ms even for the FCN's first layer (1 -> 128 channels,
# 8 taps: 0.15 M multiply-adds), waking its thread pool.
SMALL_PRODUCT = 65536 * 4


def _torch_matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``np.matmul`` done by torch on views of the arrays; NumPy's own for small products
    (SMALL_PRODUCT) and for what torch cannot view (read-only or negatively strided arrays)
    or should not multiply (half precision, mixed dtypes, a strided ``out``).

    Matrices go to ``torch.mm``; stacks with the same batch axes (the Winograd kernels'
    batches of eight, four per layer and step) to ``torch.bmm``, their batch axes folded
    into one by NumPy's reshape (a view wherever one can be, as torch's would be); only
    broadcasting goes to ``torch.matmul``, which expands and folds the batch axes itself
    (10 of the 20 us a tiny batched product takes, measured alone). Folding by torch's
    reshape instead measured 1.05-1.06x per Winograd layer's forward and gradients
    (interleaved, the FCN's layers alone) and 1.03x per training epoch."""
    if a.ndim >= 2 and b.ndim >= 2 and a.size * b.shape[-1] < SMALL_PRODUCT and b.size * a.shape[-2] < SMALL_PRODUCT:
        return np.matmul(a, b, out=out)  # (the multiply-adds, counting either operand's batch)
    if not (a.dtype == b.dtype and a.dtype.kind in "fc" and a.dtype.itemsize >= 4 and a.flags.writeable
            and b.flags.writeable and (out is None or (out.dtype == a.dtype and out.flags.c_contiguous))):
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


class _kernels:  # lower case: used like a function, ``with _kernels(): ...``
    """conv1d's kernels as they should run inside a PyTorch model (see KERNEL_THREADS): the
    products on torch's, the kernels' own pools limited. Entered twice per layer and step,
    so it calls the thread limit's and the provider's functions itself rather than
    entering their context managers."""

    __slots__ = ("_saved", "_token")

    def __enter__(self) -> None:
        self._saved = _kernel_threads.enter(KERNEL_THREADS)
        self._token = _gemm.use(_torch_matmul)

    def __exit__(self, *exc: object) -> None:
        _gemm.restore(self._token)
        _kernel_threads.leave(self._saved)


def _conj(a: np.ndarray) -> np.ndarray:
    """PyTorch's complex gradients are taken against the conjugate (Wirtinger calculus:
    grad_x = conj(w) * grad_y, grad_w = conj(x) * grad_y); real arrays pass through."""
    return np.conj(a) if a.dtype.kind == "c" else a


def _backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
    """(grad_input, grad_weight, grad_bias) of either Function, each only if needed, by the
    forward's :class:`conv1d.calls.Calls` (the bias gradient along with the weight's when
    both are needed: the kernels that can sum it from what they read anyway do)."""
    ctx.saved_tensors  # noqa: B018 - autograd's check that x and the weight were not changed in place since
    # The forward's plan, its views of x and the weight (so this reads them as they are
    # now), what it kept, and whether there is a bias.
    calls, x, weight, kept, has_bias = ctx.state
    needs = ctx.needs_input_grad
    gy = _array(grad_output, calls.spec.op)
    gx = gw = None
    gb = np.empty(calls.spec.c_out, gy.dtype) if has_bias and needs[2] else None
    with _kernels():
        if needs[0]:
            gx = torch.from_numpy(calls.input_grad(_conj(weight), gy, kept))
        if needs[1]:
            gw = torch.from_numpy(calls.weight_grad(_conj(x), gy, kept, bias=gb))
        elif gb is not None:
            gb[...] = _grad.run_conv1d_bias(gy, calls.spec.channel_axis)
    return gx, gw, None if gb is None else torch.from_numpy(gb)


def _once_differentiable(nones: int) -> Callable[..., tuple[torch.Tensor | None, ...]]:
    """The Functions' backward (followed by ``nones`` Nones) wrapped in torch's
    ``once_differentiable``: conv1d's gradients are NumPy arrays, not differentiable
    tensors, and under ``create_graph=True`` the wrapper makes a second differentiation
    raise instead of silently giving zeros. Only then is it used: with grad mode off (every
    ordinary backward) the wrapper returns the outputs as they are, after entering
    ``no_grad`` for nothing (0.92x per bare Function's forward+backward without it,
    measured alone)."""
    return torch.autograd.function.once_differentiable(
        lambda ctx, grad_output: (*_backward(ctx, grad_output), *(None,) * nones))


_conv1d_backward_once, _conv_transpose1d_backward_once = _once_differentiable(1), _once_differentiable(2)


class _Conv1dFunction(torch.autograd.Function):
    """y = conv1d(x, w, b) with conv1d's kernels; backward through the same planner."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, module: Conv1d) -> torch.Tensor:
        op = module._op
        xa, wa = _array(x, op), _array(weight, op)
        ba = None if bias is None else _array(bias, op)
        ctx.save_for_backward(x, weight)
        needs = ctx.needs_input_grad
        # The forward's gathered (GEMM) or transformed (Winograd) input, small ones only
        # (gemm.KEEP_BYTES), for the weight gradient, and Winograd's weight transform for
        # the input gradient: x and the weight are saved, and autograd refuses a backward
        # after either changed in place, so they still match (under no_grad the ctx, and
        # this, are dropped at once). Complex inputs differ (the gradients take conj(x) and
        # conj(w)), so nothing is kept for them.
        keep = {} if (needs[0] or needs[1]) and xa.dtype.kind != "c" else None
        with _kernels():
            calls = module._calls(xa, wa, ba)
            y = calls.forward(xa, wa, ba, module._spectra, keep)
        ctx.state = (calls, xa, wa, keep, bias is not None)
        return torch.from_numpy(y)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        if torch.is_grad_enabled():  # a backward with create_graph=True (see _once_differentiable)
            return _conv1d_backward_once(ctx, grad_output)
        return (*_backward(ctx, grad_output), None)


class _ConvTranspose1dFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, module: ConvTranspose1d,
                output_size: Any) -> torch.Tensor:
        op = module._op
        xa, wa = _array(x, op), _array(weight, op)
        ba = None if bias is None else _array(bias, op)
        ctx.save_for_backward(x, weight)
        with _kernels():
            calls = module._calls(xa, wa, ba, output_size)
            y = calls.forward(xa, wa, ba)
        ctx.state = (calls, xa, wa, None, bias is not None)
        return torch.from_numpy(y)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        if torch.is_grad_enabled():  # a backward with create_graph=True (see _once_differentiable)
            return _conv_transpose1d_backward_once(ctx, grad_output)
        return (*_backward(ctx, grad_output), None, None)


# ``Function.apply`` is a Python wrapper that, with no functorch transform (vmap, grad, ...)
# active, unwraps dead functorch wrappers among the arguments and calls the C++ apply of
# torch._C._FunctionBase. The modules call that C++ apply themselves when no transform is
# active (and ``apply`` otherwise, which gives torch's refusal for Functions without
# ``setup_context``): measured alone, 8.0 against 11.5 us per call. (A dead wrapper, a
# tensor that escaped a finished transform, reaches the forward as it is, which reads
# its values as torch's own layers do; tested.)
_functorch_active = torch._C._are_functorch_transforms_active
_conv1d_apply = super(torch.autograd.Function, _Conv1dFunction).apply
_conv_transpose1d_apply = super(torch.autograd.Function, _ConvTranspose1dFunction).apply


def _torch_padding(padding: Any, stride: int) -> Any:
    """What torch's constructor accepts for ``padding`` (0 for conv1d's extras)."""
    if isinstance(padding, str):
        return padding if padding == "valid" or (padding == "same" and stride == 1) else 0
    if isinstance(padding, tuple) and len(padding) == 2:
        return 0
    return padding


def _stored_padding(padding: Any) -> Any:
    """Padding as torch stores it: a string, (p,), or conv1d's (left, right)."""
    return padding if isinstance(padding, (str, tuple)) else (padding,)


class Conv1d(torch.nn.Conv1d):
    """``torch.nn.Conv1d`` computed by conv1d: same constructor, parameters, state dict.

    Extras (keyword-only where torch has none): ``padding='causal'`` or ``(left, right)``,
    ``'same'`` with stride > 1, ``layout='NLC'`` for (N, L, C) input and output, and
    ``algorithm='auto' | 'gemm' | 'direct' | 'fft' | 'winograd'`` (used for backward too). CPU tensors
    of float16/32/64 or complex dtypes.

    Example:
        >>> import torch, conv1d.torch
        >>> layer = conv1d.torch.Conv1d(16, 32, 3, padding="causal")
        >>> layer(torch.randn(4, 16, 100)).shape
        torch.Size([4, 32, 100])
    """

    _op = "conv1d.torch.Conv1d"

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device: Any = None, dtype: Any = None, *, layout: str = "NCL", algorithm: str = "auto") -> None:
        args = layer_arguments(self._op, in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                               padding_mode, layout)
        _check_device(self._op, device)
        super().__init__(in_channels, out_channels, kernel_size, stride, _torch_padding(args["padding"], args["stride"]),
                         dilation, groups, bias, padding_mode, device, dtype)
        self.padding = _stored_padding(args["padding"])
        self.layout = args["layout"]
        parse_algorithm(self._op, algorithm)
        self.algorithm = algorithm
        self._spectra = SpectrumCache()

    def _calls(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> Calls:
        return _remembered(self, x, w, b, lambda: conv1d_spec(
            x.shape, w.shape, None if b is None else b.shape, stride=self.stride, padding=self.padding,
            dilation=self.dilation, groups=self.groups, padding_mode=self.padding_mode, layout=self.layout,
            dtype=_same_dtype(self._op, x, w, b), op=self._op,
        ))

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if _functorch_active():
            return _Conv1dFunction.apply(input, self.weight, self.bias, self)
        return _conv1d_apply(input, self.weight, self.bias, self)

    def extra_repr(self) -> str:
        return _extras_repr(self, super().extra_repr())

    def __getstate__(self) -> dict:
        return _state(self)


class ConvTranspose1d(torch.nn.ConvTranspose1d):
    """``torch.nn.ConvTranspose1d`` computed by conv1d; extras ``layout`` and ``algorithm``.

    ``forward(input, output_size=None)`` as in PyTorch.
    """

    _op = "conv1d.torch.ConvTranspose1d"

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 output_padding: Any = 0, groups: int = 1, bias: bool = True, dilation: Any = 1,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None, *, layout: str = "NCL",
                 algorithm: str = "auto") -> None:
        args = layer_arguments(self._op, in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                               padding_mode, layout, output_padding=output_padding, transposed=True)
        _check_device(self._op, device)
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, output_padding, groups, bias,
                         dilation, padding_mode, device, dtype)
        self.layout = args["layout"]
        parse_algorithm(self._op, algorithm)
        self.algorithm = algorithm

    def _calls(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, output_size: Any = None) -> Calls:
        return _remembered(self, x, w, b, lambda: conv_transpose1d_spec(
            x.shape, w.shape, None if b is None else b.shape, stride=self.stride, padding=self.padding,
            output_padding=0 if output_size is not None else self.output_padding, groups=self.groups,
            dilation=self.dilation, layout=self.layout, dtype=_same_dtype(self._op, x, w, b), op=self._op,
            output_size=output_size,
        ), output_size, self.output_padding)

    def forward(self, input: torch.Tensor, output_size: Any = None) -> torch.Tensor:
        if output_size is not None:
            output_size = [int(s) for s in output_size] if not isinstance(output_size, int) else output_size
        if _functorch_active():
            return _ConvTranspose1dFunction.apply(input, self.weight, self.bias, self, output_size)
        return _conv_transpose1d_apply(input, self.weight, self.bias, self, output_size)

    def extra_repr(self) -> str:
        return _extras_repr(self, super().extra_repr())

    def __getstate__(self) -> dict:
        return _state(self)


def _extras_repr(module: Conv1d | ConvTranspose1d, text: str) -> str:
    """torch's ``extra_repr`` text plus conv1d's extras where they are not the defaults."""
    if module.layout != "NCL":
        text += f", layout={module.layout!r}"
    if module.algorithm != "auto":
        text += f", algorithm={module.algorithm!r}"
    return text


def _state(module: Conv1d | ConvTranspose1d) -> dict:
    """What pickling, ``torch.save(model)`` and ``copy.deepcopy`` keep of a module: all but
    its remembered plans, a cache (rebuilt on the next call, under whatever provider and
    thread count then hold) whose kernels are Python modules, which do not pickle."""
    return {key: value for key, value in torch.nn.Module.__getstate__(module).items() if key != "_plans"}


PLANS_KEPT = 64  # plans a module remembers (one per input shape and dtype it has seen)


def _remembered(module: Conv1d | ConvTranspose1d, x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                build: Callable[[], ConvSpec], *extra: Any) -> Calls:
    """The module's :class:`conv1d.calls.Calls` for these arrays' shapes and dtypes and its
    current options and algorithm: its spec built (and checked) and planned once, then
    looked up; a training step asks for the same few over and over, and building a spec
    costs about as much as a small layer's arithmetic. Called inside ``_kernels()``, so
    the plan is the one made with torch's products."""
    key = (x.shape, x.dtype, w.shape, w.dtype, None if b is None else (b.shape, b.dtype), module.stride,
           module.padding, module.dilation, module.groups, module.padding_mode, module.layout, module.algorithm,
           repr(extra) if extra else None)
    plans = module.__dict__.setdefault("_plans", {})
    calls = plans.get(key)
    if calls is None:
        calls = Calls(build(), module.algorithm)
        if len(plans) >= PLANS_KEPT:
            plans.clear()
        plans[key] = calls
    return calls


def _check_device(op: str, device: Any) -> None:
    if device is not None and torch.device(device).type != "cpu":
        raise ConvError(f"{op}: conv1d computes on the CPU; got device={device!r}. Use device='cpu' or None.")


def _same_dtype(op: str, x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.dtype:
    if w.dtype != x.dtype or (b is not None and b.dtype != x.dtype):
        raise ConvError(
            f"{op}: input is {x.dtype} but weight is {w.dtype}"
            + ("" if b is None else f" and bias {b.dtype}")
            + f". Convert one side: input.to({'torch.' + str(w.dtype)}) or module.to({'torch.' + str(x.dtype)})."
        )
    return x.dtype


# --------------------------------------------------------------------------- conversion


def _swap(module: torch.nn.Module, share: bool, to: str) -> torch.nn.Module | None:
    """The replacement for one module, or None if it stays."""
    if to == "conv1d":
        if type(module) is torch.nn.Conv1d:
            cls, extra = Conv1d, {}
        elif type(module) is torch.nn.ConvTranspose1d:
            cls, extra = ConvTranspose1d, {"output_padding": module.output_padding}
        else:
            return None
    else:
        if type(module) is Conv1d:
            cls, extra = torch.nn.Conv1d, {}
        elif type(module) is ConvTranspose1d:
            cls, extra = torch.nn.ConvTranspose1d, {"output_padding": module.output_padding}
        else:
            return None
        padding = module.padding
        expressible = padding == "valid" or (padding == "same" and module.stride[0] == 1) or (
            isinstance(padding, tuple) and len(padding) == 1)
        if module.layout != "NCL" or not expressible:
            raise ConvError(
                f"convert: {module!r} uses options torch.nn has no equivalent for (padding "
                f"{padding!r}, layout {module.layout!r}); it cannot become a torch.nn module."
            )
    new = cls(module.in_channels, module.out_channels, module.kernel_size, stride=module.stride,
              padding=module.padding, dilation=module.dilation, groups=module.groups,
              bias=module.bias is not None, padding_mode=module.padding_mode, device=module.weight.device,
              dtype=module.weight.dtype, **extra)
    if share:  # the same Parameter objects: optimisers and tied weights keep working
        new.weight = module.weight
        if module.bias is not None:
            new.bias = module.bias
    else:
        with torch.no_grad():
            new.weight.copy_(module.weight)
            if module.bias is not None:
                new.bias.copy_(module.bias)
    new.train(module.training)
    return new


def convert(model: torch.nn.Module, *, to: str = "conv1d", share: bool = True) -> torch.nn.Module:
    """Replace every ``torch.nn.Conv1d``/``ConvTranspose1d`` in ``model`` by conv1d's (``to='conv1d'``)
    or back (``to='torch'``), in place; returns the model (or the replacement, if ``model``
    itself is a convolution).

    ``share=True`` (default) keeps the very same weight and bias ``Parameter`` objects, so an
    optimiser built before the conversion still updates the model; ``share=False`` copies
    them. Outputs are unchanged (up to floating-point rounding). Converting back to torch
    refuses modules that use conv1d-only options (causal or (left, right) padding, 'NLC').
    """
    if to not in ("conv1d", "torch"):
        raise ConvError(f"convert: to must be 'conv1d' or 'torch', got {to!r}.")
    replacement = _swap(model, share, to)
    if replacement is not None:
        return replacement
    for parent in model.modules():
        for name, child in list(parent.named_children()):
            new = _swap(child, share, to)
            if new is not None:
                setattr(parent, name, new)
    return model
