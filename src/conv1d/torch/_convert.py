"""The one place that decides what ``torch.nn`` can express, and the conversions between
conv1d's NumPy layers and ``torch.nn`` modules (weights copied both ways: a NumPy array and
a torch tensor never share memory here).

Imports nothing of conv1d's layers or modules, so that the NumPy layers' ``to_torch`` and
``from_torch`` can use it without an import cycle.
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import ConvError, ConvTypeError

__all__ = ["layer_arguments", "refusal", "stored_padding", "to_torch", "torch_padding"]


def refusal(padding: Any, stride: int, layout: str) -> str | None:
    """Why a convolution with these options has no ``torch.nn`` equivalent, or None.
    ``padding`` as conv1d's layers store it (a string, (p,) or (left, right))."""
    if layout != "NCL":
        return f"torch.nn modules take (N, C, L) input, this has layout={layout!r}"
    if padding == "causal" or (isinstance(padding, tuple) and len(padding) == 2):
        return (
            f"torch.nn.Conv1d has no padding={padding!r}; pad the input with torch.nn.functional.pad "
            f"and use padding=0 instead"
        )
    if padding == "same" and stride != 1:
        return f"torch.nn.Conv1d refuses padding='same' with stride {stride}"
    return None


def torch_padding(padding: Any, stride: int) -> Any:
    """What torch's constructor accepts for ``padding`` (0 for conv1d's extras, which a
    conv1d.torch module stores itself after torch's constructor has run)."""
    if isinstance(padding, str):
        return padding if padding == "valid" or (padding == "same" and stride == 1) else 0
    if isinstance(padding, tuple) and len(padding) == 2:
        return 0
    return padding


def stored_padding(padding: Any) -> Any:
    """Padding as torch stores it: a string, (p,), or conv1d's (left, right)."""
    return padding if isinstance(padding, (str, tuple)) else (padding,)


def to_torch(layer: Any) -> torch.nn.Module:
    """An equivalent ``torch.nn.Conv1d``/``ConvTranspose1d`` of a conv1d layer, weights
    copied, in the layer's dtype. Options torch lacks raise :class:`ConvError`."""
    op = f"{type(layer).__name__}.to_torch"
    reason = refusal(layer.padding, layer.stride[0], layer.layout)
    if reason:
        raise ConvError(f"{op}: {reason}.")
    common = dict(
        in_channels=layer.in_channels,
        out_channels=layer.out_channels,
        kernel_size=layer.kernel_size,
        stride=layer.stride,
        padding=layer.padding,
        dilation=layer.dilation,
        groups=layer.groups,
        bias=layer.bias is not None,
        padding_mode=layer.padding_mode,
        dtype=getattr(torch, str(layer.weight.dtype)),
    )
    if layer.transposed:
        module = torch.nn.ConvTranspose1d(output_padding=layer.output_padding, **common)
    else:
        module = torch.nn.Conv1d(**common)
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(layer.weight.copy()))
        if layer.bias is not None:
            module.bias.copy_(torch.from_numpy(layer.bias.copy()))
    return module


def layer_arguments(module: Any) -> tuple[bool, dict[str, Any], dict[str, Any]]:
    """What a conv1d layer equal to ``module`` (a ``torch.nn.Conv1d``/``ConvTranspose1d``,
    conv1d.torch's modules and their extras included) is built from: (transposed, the
    constructor's arguments, the state dict to load)."""
    if isinstance(module, torch.nn.ConvTranspose1d):
        transposed, extra = True, {"output_padding": module.output_padding}
    elif isinstance(module, torch.nn.Conv1d):
        transposed, extra = False, {}
    else:
        raise ConvTypeError(
            f"from_torch: expected a torch.nn.Conv1d or ConvTranspose1d, got {type(module).__name__}."
        )
    weight = module.weight.detach().cpu().numpy()
    arguments = dict(
        in_channels=module.in_channels,
        out_channels=module.out_channels,
        kernel_size=module.kernel_size,
        stride=module.stride,
        padding=module.padding,
        dilation=module.dilation,
        groups=module.groups,
        bias=module.bias is not None,
        padding_mode=module.padding_mode,
        dtype=weight.dtype,
        layout=getattr(module, "layout", "NCL"),
        algorithm=getattr(module, "algorithm", "auto"),
        **extra,
    )
    return transposed, arguments, module.state_dict()
