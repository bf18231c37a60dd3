"""This checkout of conv1d against another commit of it, interleaved in one process.

    python benchmarks/compare.py BASE_COMMIT [--reps 30]

The base commit's ``src/conv1d`` is exported (``git archive``) into a temporary folder and
imported as the package ``conv1d_base`` (the package imports itself relatively), so both
versions run side by side, call after call, on the same arrays: every workload of the
suite (forward; forward and both gradients where the suite times a backward), the NumPy
layers' forward and backward, conv1d.torch modules' forward and backward on the FCN's
layers as examples/fcn_ucr.py trains them, and streaming steps. Each output is checked
against the other version's within the suite's tolerance before anything is timed.

Reports the median seconds of each and the median of the paired ratios (this checkout /
base), with the share of rounds in which this checkout was slower. Timings only mean
something with nothing else running on the machine.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see suite.py: pools sleep when idle

import argparse
import importlib
import io
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import conv1d
import conv1d.torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from suite import WORKLOADS, cpu_name  # the suite's workloads


def load_base(commit: str, folder: Path) -> object:
    """The package of ``commit`` as ``conv1d_base``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit, "src/conv1d"], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    (folder / "src" / "conv1d").rename(folder / "conv1d_base")
    sys.path.insert(0, str(folder))
    return importlib.import_module("conv1d_base")


def paired(
    new: Callable[[], object], old: Callable[[], object], reps: int
) -> tuple[float, float, float, float]:
    """(median new, median old, median of new/old per round, share of rounds new was slower);
    the order within a round alternates."""
    new(), old(), new(), old()  # warm-up, compilation, caches
    t_new, t_old = [], []
    for i in range(reps):
        for fn, times in ((new, t_new), (old, t_old)) if i % 2 == 0 else ((old, t_old), (new, t_new)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    ratios = [a / b for a, b in zip(t_new, t_old, strict=True)]
    return (
        statistics.median(t_new),
        statistics.median(t_old),
        statistics.median(ratios),
        sum(r > 1 for r in ratios) / len(ratios),
    )


def check(name: str, a: object, b: object) -> None:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(np.abs(b).max(initial=0.0), 1e-30)
    error = np.abs(a - b).max(initial=0.0) / scale
    if a.shape != b.shape or error > 1e-4:
        raise SystemExit(
            f"{name}: this checkout and the base disagree (shape {a.shape} vs {b.shape}, "
            f"error {error:.2e} of the largest value)"
        )


def cases(base: object) -> list[tuple[str, Callable[[], object], Callable[[], object]]]:
    """(name, this checkout's call, the base's call), outputs checked."""
    rng = np.random.default_rng(0)
    out: list[tuple[str, Callable[[], object], Callable[[], object]]] = []
    for w in WORKLOADS:
        x = rng.standard_normal((w.n, w.c_in, w.l_in), dtype=np.float32)
        weight = (
            rng.standard_normal((w.c_out, w.c_in // w.groups, w.k)) / np.sqrt(w.c_in // w.groups * w.k)
        ).astype(np.float32)
        options = {"stride": w.stride, "padding": w.padding, "dilation": w.dilation, "groups": w.groups}
        out.append(
            (
                f"{w.name}: forward",
                lambda m=conv1d, x=x, k=weight, o=options: m.conv1d(x, k, **o),
                lambda m=base, x=x, k=weight, o=options: m.conv1d(x, k, **o),
            )
        )
        if w.backward:
            gy = rng.standard_normal((w.n, w.c_out, w.l_out), dtype=np.float32)

            def gradients(
                m: object, x: np.ndarray = x, k: np.ndarray = weight, gy: np.ndarray = gy, o: dict = options
            ) -> tuple[np.ndarray, np.ndarray]:
                return (m.grad.conv1d_input(x.shape, k, gy, **o), m.grad.conv1d_weight(x, k.shape, gy, **o))

            out.append(
                (f"{w.name}: both gradients", lambda g=gradients: g(conv1d), lambda g=gradients: g(base))
            )
    # NumPy layers, forward and backward (the FCN's second layer on ItalyPowerDemand batches; a text CNN)
    for name, args, shape in (
        ("FCN 128->256 K5", (128, 256, 5), (6, 128, 24)),
        ("text CNN", (256, 100, 2), (32, 256, 35)),
    ):
        x = rng.standard_normal(shape, dtype=np.float32)
        layers = [m.Conv1d(*args, padding="same", rng=0) for m in (conv1d, base)]
        gy = np.ones_like(layers[0](x))

        def step(layer: object, x: np.ndarray = x, gy: np.ndarray = gy) -> np.ndarray:
            layer(x)
            layer.zero_grad()
            return layer.backward(gy)

        out.append(
            (
                f"NumPy layer {name}: forward+backward",
                lambda s=step, l=layers[0]: s(l),
                lambda s=step, l=layers[1]: s(l),
            )
        )
    # conv1d.torch modules: the FCN's three layers on ItalyPowerDemand batches (6 x 24 samples)
    import torch

    importlib.import_module("conv1d_base.torch")
    for c_in, c_out, k in ((1, 128, 8), (128, 256, 5), (256, 128, 3)):
        torch.manual_seed(0)
        modules = [
            sys.modules[m].Conv1d(c_in, c_out, k, padding="same")
            for m in ("conv1d.torch", "conv1d_base.torch")
        ]
        modules[1].load_state_dict(modules[0].state_dict())
        x = torch.randn(6, c_in, 24)

        def train_step(module: torch.nn.Module, x: torch.Tensor = x) -> np.ndarray:
            module.zero_grad()
            xg = x.clone().requires_grad_()
            module(xg).square().sum().backward()
            return xg.grad.numpy()

        out.append(
            (
                f"conv1d.torch FCN {c_in}->{c_out} K{k}: forward+backward",
                lambda s=train_step, m=modules[0]: s(m),
                lambda s=train_step, m=modules[1]: s(m),
            )
        )
    # streaming: one sample through a WaveNet layer, and chunks of 64
    history = rng.standard_normal((1, 64, 4096), dtype=np.float32)
    for chunk in (1, 64):
        streams = []
        for m in (conv1d, base):
            stream = m.StreamingConv1d(m.Conv1d(64, 128, 2, padding="causal", dilation=256, rng=0))
            stream(history)
            streams.append(stream)
        piece = history[..., -chunk:].copy()
        out.append(
            (
                f"stream WaveNet layer, chunks of {chunk}",
                lambda s=streams[0], p=piece: s(p),
                lambda s=streams[1], p=piece: s(p),
            )
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", help="the commit to compare against (e.g. HEAD~3)")
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--only", help="only the cases whose name contains this")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        base = load_base(args.base, Path(folder))
        print(f"{cpu_name()}, {os.cpu_count()} cores; this checkout against {args.base}, {args.reps} rounds")
        print("| case | this (ms) | base (ms) | ratio | rounds slower |\n|---|---|---|---|---|")
        ratios = []
        for name, new, old in cases(base):
            if args.only and args.only not in name:
                continue
            a, b = new(), old()
            for got, expected in zip(
                a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)
            ):
                check(name, got, expected)
            reps = (
                args.reps
                if statistics.median([_seconds(new) for _ in range(3)]) < 0.5
                else max(5, args.reps // 3)
            )
            t_new, t_old, ratio, slower = paired(new, old, reps)
            ratios.append(ratio)
            print(
                f"| {name} | {t_new * 1e3:.3g} | {t_old * 1e3:.3g} | {ratio:.3f} | {slower:.0%} |", flush=True
            )
        print(f"\ngeomean of the ratios: {float(np.exp(np.mean(np.log(ratios)))):.3f}")
    return 0


def _seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    raise SystemExit(main())
