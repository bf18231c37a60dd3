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


def set_flush_denormal(mode: bool) -> bool:
    """Read subnormal (denormal) inputs, weights and gradients as zero, as
    ``torch.set_flush_denormal(True)`` does; ``False`` (the default) computes them exactly.

    CPUs compute with subnormal numbers (magnitudes below ``np.finfo(dtype).tiny``, about
    1.2e-38 in float32) tens of times slower than with normal ones, in every kernel (and in
    PyTorch). With flushing on, each kernel call first replaces such values in its two
    operands by zero (a pass over them, and a copy of those that have any), so the
    arithmetic runs at full speed; results differ from exact ones by at most about that
    magnitude times the weights. Returns True (supported everywhere, unlike PyTorch's,
    which needs SSE3). A process-wide setting: it holds for every thread.

    >>> import numpy as np, conv1d
    >>> x = np.full((1, 1, 4), 1e-40, np.float32)
    >>> conv1d.set_flush_denormal(True)
    True
    >>> conv1d.conv1d(x, np.ones((1, 1, 2), np.float32)).tolist()
    [[[0.0, 0.0, 0.0]]]
    >>> conv1d.set_flush_denormal(False)
    True
    """
    from . import executor

    executor.flush_denormal(mode)
    return True


def get_num_threads() -> int:
    """The thread count kernels use (see :func:`set_num_threads`)."""
    from .kernels import threads

    return threads.get()
