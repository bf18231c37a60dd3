"""conv1d against PyTorch and ONNX Runtime on real Conv1d shapes, side by side in one process.

    python benchmarks/suite.py                    # print the table
    python benchmarks/suite.py --write            # and replace the table in BENCHMARKS.md

Needs the benchmark extra: ``pip install -e '.[bench]'`` (torch 2.13.0, onnxruntime, onnx).

Method: for every workload the implementations run interleaved (conv1d, torch, ORT,
conv1d, torch, ...) for ``--reps`` rounds after a warm-up, and the table reports medians.
Every implementation's output is checked against a float64 PyTorch reference before it
is timed, so nobody wins by computing something else. The machine's SGEMM peak (NumPy
float32 matmul, best of several 2048^3 products) and memory bandwidth (best ``np.copyto``
of 256 MiB, counting read + write) are measured in the same run. Working memory is the
``tracemalloc`` peak of one conv1d call (NumPy reports its allocations there) minus the
output's size, plus the buffers the call took into ``conv1d.kernels.scratch``'s pool.
"""

from __future__ import annotations

import os

# Three thread pools share two cores here (OpenBLAS/Numba for conv1d, OpenMP for torch,
# ORT's own). Spinning idle threads of one library steal the cores of the next one in
# an interleaved run (torch's text CNN measured 30 ms instead of 1.4 ms alone), so every
# pool is told to sleep when idle. Must be set before the libraries load.
# ``--solo`` runs each library alone in its own process with its default settings instead.
if not os.environ.get("CONV1D_BENCH_SOLO"):
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import dataclasses
import json
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

import conv1d
from conv1d.kernels import scratch

THREADS = os.cpu_count() or 1


@dataclasses.dataclass(frozen=True)
class Workload:
    name: str
    n: int
    c_in: int
    l_in: int
    c_out: int
    k: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    groups: int = 1
    backward: bool = False  # also time forward+backward

    @property
    def l_out(self) -> int:
        return conv1d.output_length(self.l_in, self.k, self.stride, self.padding, self.dilation)

    @property
    def plan(self) -> conv1d.Plan:
        """What conv1d's planner runs for this workload."""
        return conv1d.plan(
            (self.n, self.c_in, self.l_in),
            (self.c_out, self.c_in // self.groups, self.k),
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
        )

    @property
    def flops(self) -> float:
        return 2.0 * self.n * self.c_out * self.l_out * (self.c_in // self.groups) * self.k

    @property
    def io_bytes(self) -> int:
        return 4 * self.n * (self.c_in * self.l_in + self.c_out * self.l_out)


WORKLOADS = [
    Workload("text CNN (tutorial)", 32, 256, 35, 100, 2, backward=True),
    Workload("tiny (tutorial)", 4, 2, 6, 3, 5),
    Workload("WaveNet dilated", 4, 64, 16000, 128, 2, dilation=256, backward=True),
    Workload("wav2vec2 conv0", 8, 1, 16000, 512, 10, stride=5),
    Workload("Mamba depthwise", 8, 1024, 2048, 1024, 4, padding=3, groups=1024, backward=True),
    Workload("ResNet-1D dense", 8, 512, 4096, 512, 3, padding=1, backward=True),
    Workload("pointwise", 8, 512, 1024, 2048, 1),
    Workload("Hyena long depthwise", 4, 64, 8192, 64, 1024, groups=64),
    Workload("FIR bank long", 1, 16, 16384, 16, 4096),
    Workload("TCN block", 16, 128, 1024, 128, 7, padding=6, dilation=2),
]


# --------------------------------------------------------------------------- the machine


def sgemm_peak(size: int = 2048, reps: int = 8) -> float:
    """Best NumPy float32 matmul rate in GFLOP/s."""
    a = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((size, size), dtype=np.float32)
    np.matmul(a, b)
    best = min(_seconds(lambda: np.matmul(a, b)) for _ in range(reps))
    return 2 * size**3 / best / 1e9


def memory_bandwidth(mib: int = 256, reps: int = 8) -> float:
    """Best ``np.copyto`` rate in GB/s, counting the bytes read and the bytes written."""
    src = np.ones(mib * 2**20 // 4, np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    best = min(_seconds(lambda: np.copyto(dst, src)) for _ in range(reps))
    return 2 * src.nbytes / best / 1e9


def write_section(marker: str, table: str, heading: str = "") -> None:
    """Put ``table`` into BENCHMARKS.md between ``<!-- marker:start -->`` and ``<!-- marker:end -->``,
    replacing what was there; a new section (under ``heading``, if given) goes at the end."""
    path = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
    text = path.read_text() if path.exists() else ""
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    block = f"{start}\n{table.rstrip()}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + (f"{heading}\n\n" if heading else "") + block + "\n"
    path.write_text(text)


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return cpu


def machine() -> str:
    cpu = cpu_name()
    import torch

    versions = [
        f"Python {platform.python_version()}",
        f"NumPy {np.__version__}",
        f"torch {torch.__version__}",
    ]
    try:
        import onnxruntime

        versions.append(f"onnxruntime {onnxruntime.__version__}")
    except ImportError:
        versions.append("onnxruntime not installed")
    return f"{cpu}, {THREADS} cores; " + ", ".join(versions) + f"; conv1d {conv1d.__version__}"


# --------------------------------------------------------------------------- implementations


def _seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _layers(w: Workload, weight: np.ndarray, bias: np.ndarray):
    """conv1d's layer and torch's module holding the same weights (forward is timed on layers,
    the way models call them; a layer keeps what it can reuse, such as FFT weight spectra)."""
    layer = conv1d.Conv1d(w.c_in, w.c_out, w.k, w.stride, w.padding, w.dilation, w.groups, rng=0)
    layer.weight[...] = weight
    layer.bias[...] = bias
    return layer, layer.to_torch()


def _torch_forward(module, x: np.ndarray) -> Callable[[], np.ndarray]:
    import torch

    xt = torch.from_numpy(x)

    def run() -> np.ndarray:
        with torch.no_grad():
            return module(xt).numpy()

    return run


def _ort_forward(
    w: Workload, x: np.ndarray, weight: np.ndarray, bias: np.ndarray
) -> Callable[[], np.ndarray] | None:
    try:
        import onnxruntime
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        return None
    node = helper.make_node(
        "Conv",
        ["x", "w", "b"],
        ["y"],
        kernel_shape=[w.k],
        strides=[w.stride],
        pads=[w.padding, w.padding],
        dilations=[w.dilation],
        group=w.groups,
    )
    graph = helper.make_graph(
        [node],
        "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # see OMP_WAIT_POLICY above
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return lambda: session.run(None, {"x": x})[0]


def _reference(w: Workload, x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    xt, wt, bt = (torch.from_numpy(a.astype(np.float64)) for a in (x, weight, bias))
    return F.conv1d(xt, wt, bt, w.stride, w.padding, w.dilation, w.groups).numpy()


def _check(name: str, impl: str, got: np.ndarray, ref: np.ndarray) -> None:
    scale = float(np.abs(ref).max()) or 1.0
    error = float(np.abs(got - ref).max()) / scale
    if got.shape != ref.shape or not error < 1e-4:
        raise SystemExit(
            f"{name}: {impl} computed something else (shape {got.shape}, relative error {error:.2e})"
        )


def _working_memory(fn: Callable[[], np.ndarray]) -> int:
    """tracemalloc's peak minus the output, plus the kernels' pooled buffers (mapped memory
    that tracemalloc does not see), counted from an empty pool."""
    scratch.release()
    tracemalloc.start()
    try:
        y = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - y.nbytes + scratch.pooled_bytes()


def interleaved(impls: dict[str, Callable[[], object]], reps: int, inner: int = 1) -> dict[str, float]:
    """Median seconds per call; each of ``reps`` rounds runs every implementation ``inner``
    times in turn (more than once for calls too short to time alone)."""
    for fn in impls.values():  # warm-up (and first-call compilation, if any)
        fn()
    times: dict[str, list[float]] = {name: [] for name in impls}
    for _ in range(reps):
        for name, fn in impls.items():
            start = time.perf_counter()
            for _ in range(inner):
                fn()
            times[name].append((time.perf_counter() - start) / inner)
    return {name: statistics.median(t) for name, t in times.items()}


def _reps_for(seconds: float, reps: int) -> int:
    """Fewer rounds for slow workloads, so the suite stays a few minutes long."""
    return max(5, min(reps, int(20.0 / max(seconds, 1e-6))))


def forward_medians(
    w: Workload, reps: int, only: str | None = None
) -> tuple[dict[str, float], Callable[[], np.ndarray]]:
    """Verified, interleaved median seconds of each implementation (or of ``only``)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((w.n, w.c_in, w.l_in), dtype=np.float32)
    weight = (
        rng.standard_normal((w.c_out, w.c_in // w.groups, w.k)) / np.sqrt(w.c_in // w.groups * w.k)
    ).astype(np.float32)
    bias = rng.standard_normal(w.c_out, dtype=np.float32)
    ref = _reference(w, x, weight, bias)
    layer, module = _layers(w, weight, bias)
    impls: dict[str, Callable[[], np.ndarray]] = {
        "conv1d": lambda: layer(x),
        "torch": _torch_forward(module, x),
    }
    ort = _ort_forward(w, x, weight, bias)
    if ort is not None:
        impls["onnxruntime"] = ort
    if only:
        impls = {only: impls[only]}
    for impl, fn in impls.items():
        _check(w.name, impl, fn(), ref)
    first = _seconds(next(iter(impls.values())))
    return interleaved(impls, _reps_for(first, reps)), impls.get("conv1d")


def forward_row(w: Workload, reps: int, peak: float) -> dict[str, object]:
    medians, ours = forward_medians(w, reps)
    ms = medians["conv1d"]
    return {
        "workload": w.name,
        "algorithm": w.plan.algorithm.value,
        "conv1d ms": medians["conv1d"] * 1e3,
        "torch ms": medians["torch"] * 1e3,
        "ort ms": medians.get("onnxruntime", float("nan")) * 1e3,
        "vs torch": medians["torch"] / ms,
        "vs best": min(medians["torch"], medians.get("onnxruntime", float("inf"))) / ms,
        "GFLOP/s": w.flops / ms / 1e9,
        "% peak": 100 * w.flops / ms / 1e9 / peak,
        "GB/s": w.io_bytes / ms / 1e9,
        "work MiB": _working_memory(ours) / 2**20,
    }


def backward_row(w: Workload, reps: int) -> dict[str, object]:
    import torch

    rng = np.random.default_rng(0)
    layer = conv1d.Conv1d(w.c_in, w.c_out, w.k, w.stride, w.padding, w.dilation, w.groups, rng=0)
    module = layer.to_torch()
    x = rng.standard_normal((w.n, w.c_in, w.l_in), dtype=np.float32)
    gy = rng.standard_normal((w.n, w.c_out, w.l_out), dtype=np.float32)
    xt, gyt = torch.from_numpy(x), torch.from_numpy(gy)

    def ours() -> np.ndarray:
        layer(x)
        layer.zero_grad()
        return layer.backward(gy)

    def theirs() -> np.ndarray:
        xr = xt.detach().requires_grad_(True)
        module.zero_grad()
        module(xr).backward(gyt)
        return xr.grad.numpy()

    _check(w.name + " backward", "conv1d", ours(), theirs())
    medians = interleaved({"conv1d": ours, "torch": theirs}, _reps_for(_seconds(ours), reps))
    return {
        "workload": w.name,
        "conv1d ms": medians["conv1d"] * 1e3,
        "torch ms": medians["torch"] * 1e3,
        "vs torch": medians["torch"] / medians["conv1d"],
    }


# --------------------------------------------------------------------------- output


def _geomean(values: list[float]) -> float:
    return float(np.exp(np.mean(np.log(values))))


def markdown(info: str, peak: float, bandwidth: float, fwd: list[dict], bwd: list[dict]) -> str:
    lines = [
        f"Machine: {info}.",
        f"Measured SGEMM peak {peak:.0f} GFLOP/s; memory bandwidth {bandwidth:.1f} GB/s (copy, read + write).",
        "",
        "Forward, float32, median ms (ratios > 1 mean conv1d is faster):",
        "",
        "| workload | algorithm | conv1d ms | torch ms | onnxruntime ms | vs torch | vs best | GFLOP/s | % SGEMM peak | GB/s | working MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in fwd:
        lines.append(
            f"| {r['workload']} | {r['algorithm']} | {r['conv1d ms']:.3f} | {r['torch ms']:.3f} | {r['ort ms']:.3f} | "
            f"{r['vs torch']:.2f}x | {r['vs best']:.2f}x | {r['GFLOP/s']:.1f} | {r['% peak']:.0f}% | "
            f"{r['GB/s']:.1f} | {r['work MiB']:.1f} |"
        )
    lines += [
        "",
        f"Geometric-mean speedup over torch (forward): {_geomean([r['vs torch'] for r in fwd]):.2f}x",
        "",
    ]
    if bwd:
        lines += [
            "Forward + backward (input and weight gradients), float32, median ms:",
            "",
            "| workload | conv1d ms | torch autograd ms | vs torch |",
            "|---|---|---|---|",
        ]
        for r in bwd:
            lines.append(
                f"| {r['workload']} | {r['conv1d ms']:.2f} | {r['torch ms']:.2f} | {r['vs torch']:.2f}x |"
            )
        lines += [
            "",
            f"Geometric-mean speedup over torch (forward+backward): {_geomean([r['vs torch'] for r in bwd]):.2f}x",
        ]
    return "\n".join(lines) + "\n"


IMPLEMENTATIONS = ("conv1d", "torch", "onnxruntime")


def solo_table(workloads: list[Workload], reps: int) -> str:
    """Each library alone in a fresh process, default thread settings: no interference."""
    times: dict[str, dict[str, float]] = {}
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | {"CONV1D_BENCH_SOLO": "1"}
    for impl in IMPLEMENTATIONS:
        names = [w.name for w in workloads]
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--solo-impl",
                impl,
                "--reps",
                str(reps),
                "--names",
                json.dumps(names),
            ],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        times[impl] = json.loads(out.strip().splitlines()[-1])
    lines = [
        "Each library alone in its own process (default thread settings), forward, median ms:",
        "",
        "| workload | conv1d ms | torch ms | onnxruntime ms | vs torch | vs best |",
        "|---|---|---|---|---|---|",
    ]
    for w in workloads:
        ours, torch_ms, ort_ms = (times[i][w.name] for i in IMPLEMENTATIONS)
        lines.append(
            f"| {w.name} | {ours:.3f} | {torch_ms:.3f} | {ort_ms:.3f} | {torch_ms / ours:.2f}x | "
            f"{min(torch_ms, ort_ms) / ours:.2f}x |"
        )
    ratios = [times["torch"][w.name] / times["conv1d"][w.name] for w in workloads]
    return (
        "\n".join(lines + ["", f"Geometric-mean speedup over torch (forward, solo): {_geomean(ratios):.2f}x"])
        + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--reps", type=int, default=15, help="interleaved rounds per workload (fewer for slow ones)"
    )
    parser.add_argument("--only", help="run the workloads whose name contains this text")
    parser.add_argument("--no-backward", action="store_true", help="skip forward+backward")
    parser.add_argument("--write", action="store_true", help="write the table into BENCHMARKS.md")
    parser.add_argument("--solo", action="store_true", help="also time each library alone in its own process")
    parser.add_argument("--solo-impl", help=argparse.SUPPRESS)
    parser.add_argument("--names", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(THREADS)
    workloads = [w for w in WORKLOADS if not args.only or args.only.lower() in w.name.lower()]
    if args.solo_impl:  # child of --solo: print {workload: ms} as JSON
        chosen = [w for w in WORKLOADS if w.name in json.loads(args.names)]
        print(
            json.dumps(
                {
                    w.name: forward_medians(w, args.reps, args.solo_impl)[0][args.solo_impl] * 1e3
                    for w in chosen
                }
            )
        )
        return 0
    peak, bandwidth = sgemm_peak(), memory_bandwidth()
    print(f"SGEMM peak {peak:.0f} GFLOP/s, bandwidth {bandwidth:.1f} GB/s", file=sys.stderr)
    fwd = []
    for w in workloads:
        fwd.append(forward_row(w, args.reps, peak))
        print(f"  {w.name}: {fwd[-1]['conv1d ms']:.2f} ms, {fwd[-1]['vs torch']:.2f}x torch", file=sys.stderr)
    bwd = []
    if not args.no_backward:
        for w in workloads:
            if w.backward:
                bwd.append(backward_row(w, args.reps))
                print(f"  {w.name} fwd+bwd: {bwd[-1]['vs torch']:.2f}x torch", file=sys.stderr)
    table = markdown(machine(), peak, bandwidth, fwd, bwd)
    if args.solo:
        table += "\n" + solo_table(workloads, args.reps)
    print(table)
    if args.write:
        write_section(
            "suite",
            table,
            "## Forward and backward\n\n`python benchmarks/suite.py --solo --write` regenerates this.",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
