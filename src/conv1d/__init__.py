"""conv1d: PyTorch's Conv1d and ConvTranspose1d on NumPy -- exact, trainable, explained.

Importing conv1d imports NumPy only (never torch).
"""

from . import grad
from .dispatch import Algorithm, Plan
from .errors import ConvError, ConvTypeError
from .explanation import Explanation, StackExplanation, explain, explain_stack
from .functional import conv1d, conv_transpose1d, plan
from .layers import Conv1d, ConvTranspose1d
from .spec import ConvSpec, output_length, transposed_output_length
from .streaming import (
    ConvStreamState,
    ConvTransposeStreamState,
    StreamingConv1d,
    StreamingConvTranspose1d,
    StreamingSequential,
    stream_conv1d,
    stream_conv_transpose1d,
)

__all__ = [
    "Algorithm",
    "Conv1d",
    "ConvError",
    "ConvSpec",
    "ConvStreamState",
    "ConvTranspose1d",
    "ConvTransposeStreamState",
    "ConvTypeError",
    "Explanation",
    "Plan",
    "StackExplanation",
    "StreamingConv1d",
    "StreamingConvTranspose1d",
    "StreamingSequential",
    "conv1d",
    "conv_transpose1d",
    "explain",
    "explain_stack",
    "get_num_threads",
    "grad",
    "output_length",
    "plan",
    "set_num_threads",
    "stream_conv1d",
    "stream_conv_transpose1d",
    "transposed_output_length",
]
__version__ = "0.1.0"


def set_num_threads(count: int) -> None:
    """Use ``count`` threads everywhere: BLAS, Numba kernels and scipy.fft (default: all cores)."""
    from .kernels import threads

    threads.set(count)


def get_num_threads() -> int:
    """The thread count kernels use (see :func:`set_num_threads`)."""
    from .kernels import threads

    return threads.get()
