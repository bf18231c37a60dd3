"""What limits conv1d on dense layers: its gathering and its matrix products, against
PyTorch's convolution and PyTorch's product of the same matrices.

    python benchmarks/products.py                 # print the table
    python benchmarks/products.py --write         # and replace it in BENCHMARKS.md

For each dense layer of ``benchmarks/zoo.py`` (one group, more than one input channel,
not the generation step), forward, float32, medians of ``--reps`` rounds after a warm-up,
each side alone in its own process with its default threads (conv1d's calls in one, with
PyTorch's pool told to sleep when idle, as PyTorch only computes references there;
PyTorch's in the other):

* ``conv1d``: ``conv1d.conv1d`` / ``conv_transpose1d`` with ``algorithm='gemm'``;
* ``torch``: ``torch.nn.functional.conv1d`` / ``conv_transpose1d`` (oneDNN);
* ``gather``: the columns conv1d's GEMM kernel gathers for a convolution (im2col,
  ``kernels.gemm._gather``, all of them at once; a transposed convolution, a pointwise
  layer and a layer the kernel computes tap by tap gather none);
* ``NumPy product`` and ``torch product``: the kernel's products alone -- for a
  convolution ``(Co x Ci*K) @ (Ci*K x Lo)`` per batch item (one product of ``N*Lo``
  columns for outputs shorter than 512), or ``(Co x Ci) @ (Ci x Lo)`` per tap and item
  where the kernel goes tap by tap (``gemm.tap_by_tap``) and per item for a pointwise
  layer, for a transposed convolution
  ``(Co*K x Ci) @ (Ci x L)`` -- through NumPy's ``matmul`` (OpenBLAS) and through
  ``torch.mm`` (PyTorch's BLAS), and their rates in GFLOP/s.

conv1d's time is roughly its gathering plus its products plus writing the output; where
PyTorch's product of the same matrices is faster than NumPy's, or where the gathering
costs as much as the product, no choice of conv1d's kernels closes the gap to PyTorch's
convolution, which gathers nothing. Every output is checked against float64 (conv1d's
and torch's convolutions against ``torch.nn.functional`` in float64, both products
against the float64 product): the largest error must stay under 1e-4 of the largest
reference value.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
import suite
import zoo

import conv1d
from conv1d.kernels import gemm


def dense(layer: zoo.Layer) -> bool:
    return layer.groups == 1 and layer.c_in > 1 and not layer.step


def _check(what: str, got: np.ndarray, reference: np.ndarray) -> None:
    scale = float(np.abs(reference).max()) or 1.0
    error = float(np.abs(got.astype(np.float64) - reference).max())
    if error > 1e-4 * scale:
        raise SystemExit(f"{what}: largest error {error:.3g} against float64, over 1e-4 of {scale:.3g}")


def _medians(calls: dict[str, Callable[[], object]], reps: int) -> dict[str, float]:
    """Median seconds per call over ``reps`` rounds, the calls in turn; a call shorter than
    2 ms is repeated within a round (as in zoo.py), so that the second core's wake-up after
    the other calls is not what is timed."""
    inner = {}
    for name, call in calls.items():  # warm-up, and how many calls make 2 ms
        start = time.perf_counter()
        call()
        inner[name] = max(1, int(2e-3 / max(time.perf_counter() - start, 1e-6)))
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(reps):
        for name, call in calls.items():
            start = time.perf_counter()
            for _ in range(inner[name]):
                call()
            times[name].append((time.perf_counter() - start) / inner[name])
    return {name: statistics.median(t) for name, t in times.items()}


SIDES = {"numpy": ("conv1d", "gather", "numpy product"), "torch": ("torch", "torch product")}


def row(layer: zoo.Layer, reps: int, side: str) -> dict[str, object]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((layer.n, layer.c_in, layer.l_in), dtype=np.float32)
    w = rng.standard_normal(layer.weight_shape, dtype=np.float32)
    xt, wt = torch.from_numpy(x), torch.from_numpy(w)
    left, right = layer.pads
    f32 = np.dtype(np.float32)
    calls: dict[str, Callable[[], object]] = {}
    if layer.transposed:
        options = dict(stride=layer.stride, padding=layer.padding, dilation=layer.dilation)
        calls["conv1d"] = lambda: conv1d.conv_transpose1d(x, w, **options, algorithm="gemm")
        calls["torch"] = lambda: F.conv_transpose1d(xt, wt, **options)
        reference = F.conv_transpose1d(xt.double(), wt.double(), **options).numpy()
        # (Co*K x Ci) @ (Ci x L): every tap's contribution, before the scatter
        a = np.ascontiguousarray(w.reshape(layer.c_in, -1).T)
        items = [x[i] for i in range(layer.n)]
    else:
        xp = F.pad(xt, (left, right))
        calls["conv1d"] = lambda: conv1d.conv1d(
            x, w, stride=layer.stride, padding=(left, right), dilation=layer.dilation, algorithm="gemm"
        )
        calls["torch"] = lambda: F.conv1d(xp, wt, stride=layer.stride, dilation=layer.dilation)
        reference = F.conv1d(xp.double(), wt.double(), stride=layer.stride, dilation=layer.dilation).numpy()
        lo = reference.shape[-1]
        if layer.k == 1 and layer.stride == 1 and (left, right) == (0, 0):
            # pointwise: the input itself is the column matrix, one product per item
            pairs = [(np.ascontiguousarray(w[:, :, 0]), x[i]) for i in range(layer.n)]
        elif lo >= 512 and gemm.tap_by_tap(layer.c_in, layer.c_out, layer.k, layer.stride):
            # one product per tap and batch item, on a window of the input read in place
            xpad = np.ascontiguousarray(F.pad(xt, (left, right)).numpy())
            pairs = [
                (np.ascontiguousarray(w[:, :, j]), xpad[i, :, j * layer.dilation : j * layer.dilation + lo])
                for i in range(layer.n)
                for j in range(layer.k)
            ]
        else:
            x4 = x[:, None]
            calls["gather"] = lambda: gemm._gather(
                x4, layer.k, layer.stride, layer.dilation, left, 0, lo, False, f32
            )
            cols = calls["gather"]().reshape(layer.c_in * layer.k, layer.n, lo)
            whole = lo < 512  # short outputs: the batch items side by side in one product
            items = (
                [cols.reshape(layer.c_in * layer.k, -1)] if whole else [cols[:, i] for i in range(layer.n)]
            )
            a = np.ascontiguousarray(w.reshape(layer.c_out, -1))
            pairs = [(a, np.ascontiguousarray(m)) for m in items]
    if layer.transposed:
        pairs = [(a, m) for m in items]
    pairs_t = [(torch.from_numpy(p), torch.from_numpy(np.ascontiguousarray(q))) for p, q in pairs]
    calls["numpy product"] = lambda: [p @ q for p, q in pairs]
    calls["torch product"] = lambda: [torch.mm(p, q) for p, q in pairs_t]
    exact = [p.astype(np.float64) @ q.astype(np.float64) for p, q in pairs]
    if side == "numpy":
        _check(f"{layer.name}: conv1d", calls["conv1d"](), reference)
        for got, want in zip(calls["numpy product"](), exact):
            _check(f"{layer.name}: NumPy product", got, want)
    else:
        _check(f"{layer.name}: torch", calls["torch"]().numpy(), reference)
        for got, want in zip(calls["torch product"](), exact):
            _check(f"{layer.name}: torch product", got.numpy(), want)
    medians = _medians({name: call for name, call in calls.items() if name in SIDES[side]}, reps)
    medians["flops"] = sum(2 * p.shape[0] * p.shape[1] * q.shape[1] for p, q in pairs)
    return medians


def markdown(rows: list[dict[str, object]]) -> str:
    lines = [
        "| layer | shape | conv1d | torch | conv1d vs torch | gather | NumPy product | torch product "
        "| NumPy GFLOP/s | torch GFLOP/s | torch product vs NumPy's |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        layer = r["layer"]
        gather = f"{r['gather'] * 1e3:.2f}" if "gather" in r else "-"
        lines.append(
            f"| {layer.name} | {layer.describe()} | {r['conv1d'] * 1e3:.2f} | {r['torch'] * 1e3:.2f} "
            f"| {r['torch'] / r['conv1d']:.2f}x | {gather} | {r['numpy product'] * 1e3:.2f} "
            f"| {r['torch product'] * 1e3:.2f} | {r['numpy rate']:.0f} | {r['torch rate']:.0f} "
            f"| {r['numpy product'] / r['torch product']:.2f}x |"
        )
    ratios = [r["numpy product"] / r["torch product"] for r in rows]
    shares = [(r.get("gather", 0.0) + r["numpy product"]) / r["conv1d"] for r in rows]
    lines += [
        "",
        f"Geometric mean: conv1d vs torch {suite._geomean([r['torch'] / r['conv1d'] for r in rows]):.2f}x; "
        f"torch's product vs NumPy's {suite._geomean(ratios):.2f}x; gathering and products make "
        f"{statistics.median(shares):.0%} of conv1d's time (median over the rows).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--only", default="", help="layers whose name contains this text")
    parser.add_argument("--write", action="store_true", help="replace the table in BENCHMARKS.md")
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)  # (one process's share)
    args = parser.parse_args(argv)
    layers = [layer for layer in zoo.LAYERS if dense(layer) and args.only.lower() in layer.name.lower()]
    if args.side:
        for layer in layers:
            print(json.dumps({"layer": layer.name, **row(layer, args.reps, args.side)}), flush=True)
        return 0
    measured: dict[str, dict[str, object]] = {layer.name: {"layer": layer} for layer in layers}
    for side in SIDES:
        # (suite.py, imported here, tells PyTorch's pool to sleep when idle unless the run is solo)
        env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "CONV1D_BENCH_SOLO")}
        if side == "torch":
            env["CONV1D_BENCH_SOLO"] = "1"
        command = [sys.executable, __file__, "--side", side, "--reps", str(args.reps), "--only", args.only]
        lines = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
        for line in lines.splitlines():
            found = json.loads(line)
            measured[found.pop("layer")].update(found)
    rows = []
    for r in measured.values():
        r["numpy rate"] = r["flops"] / r["numpy product"] / 1e9
        r["torch rate"] = r["flops"] / r["torch product"] / 1e9
        rows.append(r)
    table = (
        f"Machine: {suite.machine()}; NumPy's BLAS: {_blas()}.\n\n"
        "Forward, float32, median ms, each side alone in its own process:\n\n" + markdown(rows)
    )
    print(table)
    if args.write:
        suite.write_section("products", table, "## What limits the dense layers")
    return 0


def _blas() -> str:
    from threadpoolctl import threadpool_info

    found = [
        f"{i['internal_api']} {i['version']} ({i.get('architecture', '?')})"
        for i in threadpool_info()
        if i["user_api"] == "blas"
    ]
    return ", ".join(found) or "unknown"


if __name__ == "__main__":
    raise SystemExit(main())
