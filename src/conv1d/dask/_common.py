"""What the graphs and the .npy tasks share: Dask, imported only when called for (``import
conv1d`` never imports it), and graph names unique across calls and processes."""

from __future__ import annotations

import itertools
import os
from typing import Any

_tokens = itertools.count()


def load_dask() -> tuple[Any, Any]:
    """``(dask.array, HighLevelGraph)``; an ImportError naming the extra when Dask is missing."""
    try:
        import dask.array  # the third-party package: imports are absolute, whatever this package is called
        from dask.highlevelgraph import HighLevelGraph
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("conv1d.dask needs Dask: pip install 'conv1d[dask]'") from e
    return dask.array, HighLevelGraph


def unique_name(what: str) -> str:
    """A graph layer's name, ``conv1d-<what>-<pid>-<counter>``: no two calls, in this process
    or another one feeding the same scheduler, build layers of the same name."""
    return f"conv1d-{what}-{os.getpid()}-{next(_tokens)}"
