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

Also here: :func:`to_torch` and :func:`from_torch`, between conv1d's NumPy layers and
``torch.nn`` modules (weights copied).

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

import torch

from ..errors import ConvError, ConvTypeError
from ..layers import Conv1d as _NumpyConv1d
from ..layers import ConvTranspose1d as _NumpyConvTranspose1d
from ._convert import refusal, to_torch
from ._modules import Conv1d, ConvTranspose1d

__all__ = ["Conv1d", "ConvTranspose1d", "convert", "from_torch", "to_torch"]

# Their public home: what repr, pickles and error messages name.
Conv1d.__module__ = ConvTranspose1d.__module__ = __name__


def from_torch(module: torch.nn.Module) -> _NumpyConv1d | _NumpyConvTranspose1d:
    """A conv1d NumPy layer with the options and copied weights of a ``torch.nn.Conv1d`` or
    ``ConvTranspose1d`` (conv1d.torch's modules included, with their extras)."""
    if isinstance(module, torch.nn.ConvTranspose1d):
        return _NumpyConvTranspose1d.from_torch(module)
    return _NumpyConv1d.from_torch(module)


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
        reason = refusal(module.padding, module.stride[0], module.layout)
        if reason:
            raise ConvError(f"convert: {module!r} cannot become a torch.nn module: {reason}.")
    new = cls(
        module.in_channels,
        module.out_channels,
        module.kernel_size,
        stride=module.stride,
        padding=module.padding,
        dilation=module.dilation,
        groups=module.groups,
        bias=module.bias is not None,
        padding_mode=module.padding_mode,
        device=module.weight.device,
        dtype=module.weight.dtype,
        **extra,
    )
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
    if not isinstance(model, torch.nn.Module):
        raise ConvTypeError(
            f"convert: expected a torch.nn.Module (a model or one layer), got {type(model).__name__}."
        )
    replacement = _swap(model, share, to)
    if replacement is not None:
        return replacement
    for parent in model.modules():
        for name, child in list(parent.named_children()):
            new = _swap(child, share, to)
            if new is not None:
                setattr(parent, name, new)
    return model
