"""The tolerance table, the one differential assertion, and the torch oracles.

The oracles compute in float64 (complex128 for complex inputs; exact int64 for integer
inputs, wrapped back to the input's dtype afterwards, which is exact because wrapping
commutes with + and *). Options torch lacks are composed from ones it has: explicit
``F.pad`` (zeros -> 'constant') then ``F.conv1d(padding=0)``, as ``torch.nn.Conv1d`` does for
its padding modes; layout 'NLC' is a transpose before and after.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from strategies import resolve_padding

# --------------------------------------------------------------------------- tolerances


@dataclass(frozen=True)
class Tolerance:
    """``|actual - expected| <= atol + rtol * |expected|``, elementwise; with ``scaled``, ``atol``
    is a fraction of ``max(1, max |expected|)`` (for kernels whose rounding mixes values)."""

    rtol: float
    atol: float
    scaled: bool = False


EXACT = Tolerance(0.0, 0.0)
INT_NAMES = ("int8", "int16", "int32", "int64", "uint8")

# One table for every comparison (forward and gradients), keyed by the result's dtype and the
# kind of kernel: "sum" for the ones that add products one by one (reference, gemm, direct),
# "fft" for overlap-save FFT, whose error scales with max|y| * log2(nfft) rather than per
# element, and which takes real floats only.
# Found by experiment: 1,500-2,500 problems drawn as in strategies.py (values in [-1, 1], up
# to 24 products per output sample, a few hundred per weight-gradient sample), each kernel
# forced in turn, forward and transposed, plus gradients, against the float64/complex128
# torch oracle. The largest error seen, as a fraction of 1 + |expected| (the bound below
# with rtol = atol), was the same for every kernel at these sizes (nfft <= 256):
#   float64 1e-15 forward, 8e-15 weight gradients; complex128 2e-15;
#   float32 7e-7 forward, 3e-6 weight gradients; complex64 7e-7;
#   float16 4e-4 (one rounding of a float32 result: 2**-11).
# The table leaves >= 100x headroom for float64/complex128, >= 14x for float32/complex64
# forward (3x for float32 weight gradients, which are only drawn in float64 here) and 5x for
# float16. Integers are exact: computed in int64 and wrapped, like torch.
_FLOATS = {
    "float64": Tolerance(rtol=1e-12, atol=1e-12),
    "complex128": Tolerance(rtol=1e-12, atol=1e-12),
    "float32": Tolerance(rtol=1e-5, atol=1e-5),
    "complex64": Tolerance(rtol=1e-5, atol=1e-5),
    "float16": Tolerance(rtol=2e-3, atol=2e-3),
}
TOLERANCES: dict[tuple[np.dtype, str], Tolerance] = {
    **{(np.dtype(name), "sum"): tol for name, tol in _FLOATS.items()},
    **{(np.dtype(name), "sum"): EXACT for name in INT_NAMES},
    (np.dtype("float64"), "fft"): Tolerance(rtol=1e-12, atol=1e-12),
    (np.dtype("float32"), "fft"): Tolerance(rtol=1e-5, atol=1e-5),
    (np.dtype("float16"), "fft"): Tolerance(rtol=2e-3, atol=2e-3),
    # Winograd: each output is a combination of a whole tile's transformed products, so its
    # error follows the largest values around it, not its own size. Measured on 2,400 random
    # kernel problems (K = 2..7, values in [-1, 1], up to 40 positions, every op) in each
    # dtype, as a fraction of max(1, max |expected|): float32 forward and transposed 1.8e-6,
    # weight gradients 2.6e-6; float64 3.9e-15 (re-measured with the compiled transforms).
    # Headroom: >= 3.8x for float32, >= 250x for float64.
    **{
        (np.dtype(name), "winograd"): Tolerance(rtol=tol.rtol, atol=tol.atol, scaled=True)
        for name, tol in _FLOATS.items()
    },
}


def tolerance(dtype: Any, algorithm: str = "gemm") -> Tolerance:
    """The row for a result of ``dtype`` computed by ``algorithm`` ('reference', 'gemm',
    'direct', 'fft' or 'winograd'; 'auto' means the planner's choice, which the caller resolves)."""
    kind = str(algorithm) if str(algorithm) in ("fft", "winograd") else "sum"
    return TOLERANCES[(np.dtype(dtype), kind)]


def assert_matches(actual: Any, expected: Any, dtype: Any, what: str, *, algorithm: str = "gemm") -> None:
    """Assert ``actual`` has ``expected``'s shape, then the dtype ``dtype``, then its values
    within ``tolerance(dtype, algorithm)``; the message names ``what`` and the worst element."""
    dtype = np.dtype(dtype)
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    assert actual.dtype == dtype, f"{what}: dtype {actual.dtype}, expected {dtype}"
    tol = tolerance(dtype, algorithm)
    if actual.size == 0:
        return
    if tol == EXACT:
        bad = actual.astype(np.int64) != expected.astype(np.int64)
        err = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    else:
        wide = np.complex128 if dtype.kind == "c" else np.float64
        a, e = actual.astype(wide), expected.astype(wide)
        err = np.abs(a - e)
        atol = tol.atol * max(1.0, float(np.nanmax(np.abs(e)))) if tol.scaled else tol.atol
        bad = ~(err <= atol + tol.rtol * np.abs(e))  # NaN counts as bad
    if bad.any():
        worst = np.unravel_index(np.argmax(np.where(bad, np.nan_to_num(err, nan=np.inf), -1.0)), bad.shape)
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {bad.size} values differ beyond rtol={tol.rtol}, atol={tol.atol} "
            f"({dtype}, {algorithm}); worst at index {tuple(map(int, worst))}: got {actual[worst]!r}, "
            f"expected {expected[worst]!r} (|diff| {err[worst]:.3g}); max |expected| {np.abs(expected).max():.3g}"
        )


# --------------------------------------------------------------------------- torch oracles

TORCH_PAD_MODES = {
    "zeros": "constant",
    "reflect": "reflect",
    "replicate": "replicate",
    "circular": "circular",
}


def oracle_dtype(dtype: Any) -> torch.dtype:
    """float64 for real floats, complex128 for complex, int64 (exact) for integers."""
    kind = np.dtype(dtype).kind
    return {"c": torch.complex128, "i": torch.int64, "u": torch.int64}.get(kind, torch.float64)


def to_torch(
    a: np.ndarray | None, dtype: torch.dtype | None = None, grad: bool = False
) -> torch.Tensor | None:
    """A torch copy of ``a`` (never a view of the caller's array), optionally tracking gradients."""
    if a is None:
        return None
    t = torch.from_numpy(np.array(a, copy=True))
    t = t if dtype is None else t.to(dtype)
    return t.requires_grad_() if grad else t


def _from_torch(t: torch.Tensor, dtype: np.dtype) -> np.ndarray:
    """The oracle's result as NumPy: integers wrapped to ``dtype``, floats kept wide."""
    out = t.detach().numpy()
    return out.astype(dtype) if np.dtype(dtype).kind in "iu" else out


def _torch_pads_itself(padding: Any, stride: int) -> bool:
    """Whether F.conv1d takes this padding as it is."""
    if isinstance(padding, str):
        return padding == "valid" or (padding == "same" and stride == 1)
    return not (isinstance(padding, tuple) and len(padding) == 2)


def torch_conv1d_tensors(
    x: torch.Tensor,
    w: torch.Tensor,
    b: torch.Tensor | None,
    *,
    stride: int = 1,
    padding: Any = 0,
    dilation: int = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
    layout: str = "NCL",
) -> torch.Tensor:
    """conv1d.conv1d's semantics on torch tensors (differentiable)."""
    unbatched = x.dim() == 2
    x = x.unsqueeze(0) if unbatched else x
    x = x.transpose(1, 2) if layout == "NLC" else x
    if padding_mode == "zeros" and _torch_pads_itself(padding, stride):
        with warnings.catch_warnings():  # 'same' with an even span: torch warns that it copies
            warnings.filterwarnings("ignore", "Using padding='same'", UserWarning)
            y = F.conv1d(x, w, b, stride, padding, dilation, groups)
    else:
        left, right = resolve_padding(padding, x.shape[-1], w.shape[-1], stride, dilation)
        x = F.pad(x, (left, right), mode=TORCH_PAD_MODES[padding_mode])
        y = F.conv1d(x, w, b, stride, 0, dilation, groups)
    y = y.transpose(1, 2) if layout == "NLC" else y
    return y[0] if unbatched else y


def torch_conv_transpose1d_tensors(
    x: torch.Tensor,
    w: torch.Tensor,
    b: torch.Tensor | None,
    *,
    stride: int = 1,
    padding: Any = 0,
    output_padding: int = 0,
    groups: int = 1,
    dilation: int = 1,
    layout: str = "NCL",
) -> torch.Tensor:
    """conv1d.conv_transpose1d's semantics on torch tensors (differentiable)."""
    unbatched = x.dim() == 2
    x = x.unsqueeze(0) if unbatched else x
    x = x.transpose(1, 2) if layout == "NLC" else x
    y = F.conv_transpose1d(x, w, b, stride, padding, output_padding, groups, dilation)
    y = y.transpose(1, 2) if layout == "NLC" else y
    return y[0] if unbatched else y


def _oracle(
    op: Callable[..., torch.Tensor], x: Any, w: Any, b: Any, native: bool, options: dict
) -> np.ndarray:
    dtype = np.asarray(x).dtype
    tdtype = None if native else oracle_dtype(dtype)
    return _from_torch(op(to_torch(x, tdtype), to_torch(w, tdtype), to_torch(b, tdtype), **options), dtype)


def torch_conv1d(x: Any, w: Any, b: Any = None, *, native: bool = False, **options: Any) -> np.ndarray:
    """The reference for ``conv1d.conv1d(x, w, b, **options)`` (float64/complex128/wrapped int64;
    ``native=True`` computes in x's own dtype instead)."""
    return _oracle(torch_conv1d_tensors, x, w, b, native, options)


def torch_conv_transpose1d(
    x: Any, w: Any, b: Any = None, *, native: bool = False, **options: Any
) -> np.ndarray:
    """The reference for ``conv1d.conv_transpose1d(x, w, b, **options)``."""
    return _oracle(torch_conv_transpose1d_tensors, x, w, b, native, options)


@dataclass(frozen=True)
class Grads:
    """Gradients of ``sum(op(input, weight, bias) * grad_output)`` from torch autograd, float64."""

    input: np.ndarray
    weight: np.ndarray
    bias: np.ndarray | None


def _autograd(
    op: Callable[..., torch.Tensor],
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    grad_output: np.ndarray,
    options: dict,
) -> Grads:
    xt, wt, bt = (to_torch(a, torch.float64, grad=True) for a in (x, w, b))
    y = op(xt, wt, bt, **options)
    y.backward(to_torch(grad_output, torch.float64))

    def grad_of(t: torch.Tensor | None) -> np.ndarray | None:
        if t is None:
            return None
        return np.zeros(tuple(t.shape)) if t.grad is None else t.grad.numpy()

    return Grads(grad_of(xt), grad_of(wt), grad_of(bt))


def torch_conv1d_grads(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None, grad_output: np.ndarray, **options: Any
) -> Grads:
    return _autograd(torch_conv1d_tensors, x, w, b, grad_output, options)


def torch_conv_transpose1d_grads(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None, grad_output: np.ndarray, **options: Any
) -> Grads:
    return _autograd(torch_conv_transpose1d_tensors, x, w, b, grad_output, options)


def one_thread_each() -> Any:
    """For a module-scoped autouse fixture: torch and conv1d on one thread while the module
    runs (both restored after). On a 2-core machine busy with another job, torch's two
    spinning OpenMP threads slow small ops ~30x (measured: an FCN epoch 7.7 s instead of
    0.13 s, either backend); results do not depend on the thread count. conv1d's count too,
    so that its per-call limit is a no-op and cannot hand torch a second thread again (see
    test_torch_modules.py::test_a_forward_leaves_torchs_thread_count_alone)."""
    import conv1d

    previous = torch.get_num_threads(), conv1d.get_num_threads()
    conv1d.set_num_threads(1)
    torch.set_num_threads(1)
    yield
    conv1d.set_num_threads(previous[1])
    torch.set_num_threads(previous[0])
