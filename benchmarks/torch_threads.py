"""conv1d's kernels inside a PyTorch model: on PyTorch's threads, or on one.

    python benchmarks/torch_threads.py            # print the table
    python benchmarks/torch_threads.py --write    # and replace the table in BENCHMARKS.md

Inside ``conv1d.torch`` modules the kernels run with ``torch.get_num_threads()`` threads:
products on PyTorch's pool, ``scipy.fft`` on that many workers, the compiled loops and
NumPy's BLAS on the calling thread (``conv1d/torch/_runtime.py``). The alternative they
replaced kept every kernel thread count at one. This runs the zoo's whole models
(``benchmarks/zoo.py``), converted with ``conv1d.torch.convert``, forward+backward, both
ways interleaved in one process (each way with its own plans, measured in its context),
next to torch's original, and reports medians. Outputs are checked against torch's.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("CONV1D_CACHE_DIR", tempfile.mkdtemp(prefix="conv1d-torch-threads-"))

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import suite
import zoo

import conv1d.torch as ct
from conv1d.kernels import threads
from conv1d.torch import _function, _runtime


class one_thread(_runtime.kernels):
    """The kernels' context with every thread count at one."""

    __slots__ = ()

    def __enter__(self) -> None:
        self._saved = threads.enter(1)
        self._token = _runtime.gemm.use(_runtime.torch_matmul)


def step(model: torch.nn.Module, x: torch.Tensor):
    def run() -> None:
        model.zero_grad(set_to_none=True)
        model(x).square().mean().backward()

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    rows = []
    for spec in zoo.MODELS:
        torch.manual_seed(0)
        original = spec.build()
        converted = spec.build()
        converted.load_state_dict(original.state_dict())
        ct.convert(converted)
        x = torch.randn(spec.input_shape)
        with torch.no_grad():
            expected, got = original(x), converted(x)
        scale = float(expected.abs().max())
        assert float((expected - got).abs().max()) <= 1e-3 * scale, f"{spec.name}: outputs differ"
        impls = {"torch": step(original, x), "conv1d.torch, torch's threads": step(converted, x)}

        def single(run=impls["conv1d.torch, torch's threads"]) -> None:
            saved = _function.kernels
            _function.kernels = one_thread
            try:
                run()
            finally:
                _function.kernels = saved

        impls["conv1d.torch, one thread"] = single
        medians = suite.interleaved(impls, args.reps)
        rows.append((spec.name, medians))
        print(spec.name, {k: f"{v * 1e3:.2f} ms" for k, v in medians.items()}, flush=True)
    names = list(rows[0][1])
    lines = [
        f"{suite.machine()}; torch threads: {torch.get_num_threads()}; forward+backward of each whole model, "
        f"medians of {args.reps} interleaved rounds.",
        "",
        "| model | " + " | ".join(f"{n} ms" for n in names) + " | torch's threads vs one |",
        "|---|" + "---|" * (len(names) + 1),
    ]
    for name, m in rows:
        values = " | ".join(f"{m[n] * 1e3:.3g}" for n in names)
        ratio = m["conv1d.torch, one thread"] / m["conv1d.torch, torch's threads"]
        lines.append(f"| {name} | {values} | {ratio:.2f}x |")
    ratios = [m["conv1d.torch, one thread"] / m["conv1d.torch, torch's threads"] for _, m in rows]
    lines += ["", f"Geometric mean, one thread's time over torch's threads': {suite._geomean(ratios):.2f}x."]
    table = "\n".join(lines)
    print(table)
    if args.write:
        suite.write_section("torch-threads", table, "## Threads inside PyTorch")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())
