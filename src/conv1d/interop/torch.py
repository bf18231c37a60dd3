"""Conversion between conv1d layers and ``torch.nn.Conv1d`` / ``ConvTranspose1d``.

The only module that imports torch, and only when one of its functions is called.
Weights are copied both ways (a NumPy array and a torch tensor never share memory here).
"""

from __future__ import annotations

from typing import Any


from ..errors import ConvError, ConvTypeError
from ..layers import Conv1d, ConvTranspose1d, _ConvLayer


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ImportError(
            "conv1d's PyTorch interop needs torch: pip install 'conv1d[torch]' (torch==2.13.0)."
        ) from None
    return torch


def to_torch(layer: _ConvLayer) -> Any:
    """An equivalent ``torch.nn`` module, weights copied, in the layer's dtype.

    Options torch lacks ('causal' or (left, right) padding, 'same' with stride > 1,
    channels-last layout) have no equivalent module and raise :class:`ConvError`.
    """
    torch = _torch()
    op = f"{type(layer).__name__}.to_torch"
    if layer.layout != "NCL":
        raise ConvError(f"{op}: torch.nn modules take (N, C, L) input; this layer has layout={layer.layout!r}.")
    padding = layer.padding
    if padding == "causal" or (isinstance(padding, tuple) and len(padding) == 2):
        raise ConvError(
            f"{op}: torch.nn.Conv1d has no padding={padding!r}; pad the input with "
            f"torch.nn.functional.pad and use padding=0 instead."
        )
    if padding == "same" and layer.stride != (1,):
        raise ConvError(f"{op}: torch.nn.Conv1d refuses padding='same' with stride {layer.stride[0]}.")
    dtype = getattr(torch, str(layer.weight.dtype))
    common = dict(
        in_channels=layer.in_channels, out_channels=layer.out_channels, kernel_size=layer.kernel_size,
        stride=layer.stride, padding=padding, dilation=layer.dilation, groups=layer.groups,
        bias=layer.bias is not None, padding_mode=layer.padding_mode, dtype=dtype,
    )
    if isinstance(layer, ConvTranspose1d):
        module = torch.nn.ConvTranspose1d(output_padding=layer.output_padding, **common)
    else:
        module = torch.nn.Conv1d(**common)
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(layer.weight.copy()))
        if layer.bias is not None:
            module.bias.copy_(torch.from_numpy(layer.bias.copy()))
    return module


def from_torch(module: Any) -> _ConvLayer:
    """A conv1d layer with the options and copied weights of a ``torch.nn.Conv1d`` or ``ConvTranspose1d``."""
    torch = _torch()
    if isinstance(module, torch.nn.ConvTranspose1d):
        cls, extra = ConvTranspose1d, {"output_padding": module.output_padding}
    elif isinstance(module, torch.nn.Conv1d):
        cls, extra = Conv1d, {}
    else:
        raise ConvTypeError(f"from_torch: expected a torch.nn.Conv1d or ConvTranspose1d, got {type(module).__name__}.")
    weight = module.weight.detach().cpu().numpy()
    layer = cls(
        module.in_channels, module.out_channels, module.kernel_size, stride=module.stride,
        padding=module.padding, dilation=module.dilation, groups=module.groups,
        bias=module.bias is not None, padding_mode=module.padding_mode, dtype=weight.dtype, **extra,
    )
    layer.load_state_dict(module.state_dict())  # copies the values in
    return layer
