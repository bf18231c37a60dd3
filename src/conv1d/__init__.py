"""conv1d: PyTorch's Conv1d and ConvTranspose1d on NumPy -- exact, trainable, explained.

Importing conv1d imports NumPy only (never torch).
"""

from . import grad
from ._version import __version__ as __version__
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
    "get_planning",
    "grad",
    "output_length",
    "plan",
    "set_num_threads",
    "set_planning",
    "stream_conv1d",
    "stream_conv_transpose1d",
    "transposed_output_length",
]


def set_num_threads(count: int) -> None:
    """Use ``count`` threads everywhere: BLAS, Numba kernels and scipy.fft (default: all cores)."""
    from .kernels import threads

    threads.set(count)


def set_planning(mode: str) -> None:
    """How conv1d chooses the kernel of each convolution, from now on, for the process:

    * ``'measure'`` (the default): the kernels the cost model does not rule out are timed on
      the first call of each new problem (shapes, options, dtype; forward and each gradient
      apart; thread count; inside conv1d.torch or not) and the fastest is kept, in memory
      and in a cache file on disk, so later calls and later processes start with it;
    * ``'estimate'``: the cost model alone, with this machine's measured rates -- no call is
      timed, and a problem always gets the same kernel on the same machine;
    * ``'off'``: the cost model with rates measured in this process; nothing is timed,
      read from or written to disk.

    The environment variable ``CONV1D_PLANNING`` sets the mode a process starts in, and
    ``CONV1D_CACHE_DIR`` the cache's folder (default: the user's cache directory;
    empty: no file). ``conv1d.plan(...)`` shows whether a choice was measured, and the
    timings. An ``algorithm=`` argument forces a kernel whatever the mode.

    >>> import conv1d
    >>> conv1d.set_planning("estimate"); conv1d.get_planning()
    'estimate'
    """
    from . import executor, planning

    planning.set_mode(mode)
    executor.clear()  # executors planned in the old mode plan again


def get_planning() -> str:
    """The planning mode in force (see :func:`set_planning`)."""
    from . import planning

    return planning.get_mode()


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
