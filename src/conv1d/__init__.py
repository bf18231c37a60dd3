"""conv1d: PyTorch's Conv1d and ConvTranspose1d on NumPy -- exact, trainable, explained.

Importing conv1d imports NumPy only (never torch).
"""

from . import grad
from .errors import ConvError, ConvTypeError
from .functional import conv1d, conv_transpose1d
from .layers import Conv1d, ConvTranspose1d
from .spec import ConvSpec, output_length, transposed_output_length

__all__ = [
    "conv1d",
    "conv_transpose1d",
    "Conv1d",
    "ConvTranspose1d",
    "grad",
    "output_length",
    "transposed_output_length",
    "ConvSpec",
    "ConvError",
    "ConvTypeError",
]
__version__ = "0.1.0"
