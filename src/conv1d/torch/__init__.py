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

import copy

import torch

from ..errors import ConvError, ConvTypeError
from ..layers import Conv1d as _NumpyConv1d
from ..layers import ConvTranspose1d as _NumpyConvTranspose1d
from ..spec import layer_arguments
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


# conv1d's class for each torch.nn class, and back
_CLASSES = {torch.nn.Conv1d: Conv1d, torch.nn.ConvTranspose1d: ConvTranspose1d}
_BACK = {ours: theirs for theirs, ours in _CLASSES.items()}


def _plain_class(module: torch.nn.Module) -> type:
    """The module's class, under torch.nn.utils.parametrize's generated subclass if it has one."""
    cls = type(module)
    if torch.nn.utils.parametrize.is_parametrized(module):
        cls = cls.__bases__[0]
    return cls


def _target(module: torch.nn.Module, to: str) -> type | None:
    """The class ``module`` becomes, or None if it stays; a ConvError if it cannot."""
    cls = _plain_class(module)
    if to == "conv1d":
        if cls not in _CLASSES:
            return None
        ours = _CLASSES[cls]
        try:  # what conv1d cannot compute is refused before any module changes
            layer_arguments(
                ours._op,
                module.in_channels,
                module.out_channels,
                module.kernel_size,
                module.stride,
                module.padding,
                module.dilation,
                module.groups,
                module.padding_mode,
                "NCL",
                output_padding=getattr(module, "output_padding", 0),
                transposed=ours is ConvTranspose1d,
            )
        except ConvError as error:
            raise ConvError(f"convert: {module!r} cannot become a conv1d module: {error}") from None
        return ours
    if cls not in _BACK:
        return None
    reason = refusal(module.padding, module.stride[0], module.layout)
    if reason:
        raise ConvError(f"convert: {module!r} cannot become a torch.nn module: {reason}.")
    return _BACK[cls]


def _become(module: torch.nn.Module, cls: type) -> None:
    """``module`` turned into an instance of ``cls`` in place: every parameter, buffer, hook,
    attribute, parametrization, ``requires_grad`` and the training mode stay as they are
    (only the class, and conv1d's two extra attributes, change). A parametrized module keeps
    a parametrized class, rebuilt on ``cls``."""
    if torch.nn.utils.parametrize.is_parametrized(module):
        generated = type(module)
        body = {k: v for k, v in vars(generated).items() if k not in ("__dict__", "__weakref__")}
        cls = type(f"Parametrized{cls.__name__}", (cls,), body)
    module.__class__ = cls
    if issubclass(cls, (Conv1d, ConvTranspose1d)):
        module.layout, module.algorithm = "NCL", "auto"
    else:
        for extra in ("layout", "algorithm"):
            module.__dict__.pop(extra, None)


def convert(model: torch.nn.Module, *, to: str = "conv1d", share: bool = True) -> torch.nn.Module:
    """Replace every ``torch.nn.Conv1d``/``ConvTranspose1d`` in ``model`` by conv1d's (``to='conv1d'``)
    or back (``to='torch'``), in place; returns the model (or the converted module, if
    ``model`` itself is a convolution).

    Each module changes its class and nothing else: its parameters and buffers, forward
    hooks and pre-hooks, attributes set on it, ``requires_grad``, training mode and
    parametrizations (``torch.nn.utils.parametrize``; also the hook-based ``weight_norm``,
    ``spectral_norm`` and ``prune``) stay as they were, so outputs are unchanged (up to
    floating-point rounding). ``share=True`` (default) converts the modules themselves, so
    an optimiser built before still updates the very same ``Parameter`` objects;
    ``share=False`` puts converted deep copies in their place. All or nothing: every
    module is checked first, and one that cannot be converted (conv1d-only options going
    back to torch: causal or (left, right) padding, 'same' with stride > 1, 'NLC') raises
    a :class:`ConvError` naming it before any module changes.
    """
    if to not in ("conv1d", "torch"):
        raise ConvError(f"convert: to must be 'conv1d' or 'torch', got {to!r}.")
    if not isinstance(model, torch.nn.Module):
        raise ConvTypeError(
            f"convert: expected a torch.nn.Module (a model or one layer), got {type(model).__name__}."
        )
    top = _target(model, to)
    changes = [(parent, name, child, cls) for parent in model.modules() for name, child in parent.named_children()
               if (cls := _target(child, to)) is not None]  # fmt: skip
    if top is not None:
        converted = model if share else copy.deepcopy(model)
        _become(converted, top)
        return converted
    for parent, name, child, cls in changes:
        if share:
            _become(child, cls)
        else:
            copied = copy.deepcopy(child)
            _become(copied, cls)
            setattr(parent, name, copied)
    return model
