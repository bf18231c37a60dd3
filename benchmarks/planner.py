"""Is the measured choice the fastest kernel? The layer zoo's layers, forward, NumPy API.

    python benchmarks/planner.py                  # print the table
    python benchmarks/planner.py --write          # and replace the table in BENCHMARKS.md

For every layer of ``benchmarks/zoo.py`` (the generation step aside), in a fresh cache
folder, so that nothing is known yet:

* the first call in planning mode ``'measure'`` (it times the candidates) and the median
  of the calls after it, which run the kernel it kept; the measuring's cost is reported
  as that first call in units of a later one;
* the median of each kernel that can compute the layer, forced with ``algorithm=``
  (a kernel whose first run is 10x the best so far is recorded from that run alone);
* what the cost model alone (mode ``'estimate'``) picks.

The table reports the measured choice's median, forced like the others (so timed in the
same conditions), over the best forced kernel's: 1.00 is the best choice; above 1.10 is a
miss. "auto / fastest" is the median of the unforced calls right after the first one,
which run the same kernel but just after the measuring (on these VMs, the calls after
other work can be slower: see Known limits). Outputs are checked against the float64 reference
of ``direct``. Medians of ``--reps`` calls after a warm-up, on this machine.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ["CONV1D_CACHE_DIR"] = tempfile.mkdtemp(prefix="conv1d-planner-")
os.environ["CONV1D_PLANNING"] = "measure"

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import suite
import zoo

import conv1d


def _median(call, reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def row(layer: zoo.Layer, reps: int) -> dict[str, object]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((layer.n, layer.c_in, layer.l_in), dtype=np.float32)
    w = rng.standard_normal(layer.weight_shape, dtype=np.float32)
    function = conv1d.conv_transpose1d if layer.transposed else conv1d.conv1d
    options = dict(
        stride=layer.stride, padding=layer.ours or layer.padding, dilation=layer.dilation, groups=layer.groups
    )

    def call(algorithm: str = "auto") -> np.ndarray:
        return function(x, w, algorithm=algorithm, **options)

    plan_options = dict(options, transposed=layer.transposed)
    with conv1d.planning.mode("estimate"):
        estimated = conv1d.plan(x.shape, w.shape, **plan_options)
    start = time.perf_counter()
    first = call()
    first_seconds = time.perf_counter() - start
    reference = function(x.astype(np.float64), w.astype(np.float64), algorithm="direct", **options)
    scale = float(np.abs(reference).max()) or 1.0
    assert np.abs(first - reference).max() <= 1e-3 * scale, (
        f"{layer.name}: the measured choice's output differs"
    )
    auto = _median(call, reps)
    plan = conv1d.plan(x.shape, w.shape, **plan_options)
    forced: dict[str, float] = {}
    for algorithm, estimate in estimated.seconds.items():
        if not math.isfinite(estimate):
            continue
        out = call(algorithm.value)
        assert np.abs(out - reference).max() <= 1e-3 * scale, f"{layer.name}: {algorithm.value} differs"
        best = min(forced.values(), default=math.inf)
        once = _median(lambda a=algorithm.value: call(a), 1)
        forced[algorithm.value] = (
            once if once > 10 * best else min(once, _median(lambda a=algorithm.value: call(a), reps))
        )
    fastest = min(forced, key=forced.__getitem__)
    return {
        "layer": layer.name,
        "chosen": plan.algorithm.value,
        "source": plan.source,
        "timed": ", ".join(a.value for a in plan.measured),
        "auto": auto,
        "fastest": fastest,
        "best": forced[fastest],
        "ratio": forced[plan.algorithm.value] / forced[fastest],
        "auto_ratio": auto / forced[fastest],
        "estimated": estimated.algorithm.value,
        "estimated_ratio": forced.get(estimated.algorithm.value, math.inf) / forced[fastest],
        "first_calls": first_seconds / auto,
        "first_ms": first_seconds * 1e3,
    }


def markdown(rows: list[dict[str, object]]) -> str:
    lines = [
        "| layer | measured choice (timed) | auto median ms | fastest forced | its median ms | choice / fastest | auto / fastest | model alone picks | its / fastest | first call: ms, in calls |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['layer']} | {r['chosen']} ({r['timed'] or r['source']}) | {r['auto'] * 1e3:.3g} | {r['fastest']} | "
            f"{r['best'] * 1e3:.3g} | {r['ratio']:.2f} | {r['auto_ratio']:.2f} | {r['estimated']} | {r['estimated_ratio']:.2f} | "
            f"{r['first_ms']:.3g}, {r['first_calls']:.1f} |"
        )
    worst = max(rows, key=lambda r: r["ratio"])
    misses = sum(r["ratio"] > 1.10 for r in rows)
    model_misses = sum(r["estimated_ratio"] > 1.10 for r in rows)
    lines += [
        "",
        f"Measured choice within 10% of the fastest forced kernel on {len(rows) - misses} of {len(rows)} layers "
        f"(worst {worst['ratio']:.2f}, {worst['layer']}); the cost model alone on {len(rows) - model_misses}. "
        f"Geometric mean of choice / fastest: {suite._geomean([r['ratio'] for r in rows]):.3f}.",
    ]
    return "\n".join(lines)


def warm_up() -> float:
    """Load every kernel's compiled code (a tiny call of each function of each kernel) and
    calibrate the cost model's rates, so that a layer's first call measures its timing of
    candidates alone; returns the calibration's seconds."""
    start = time.perf_counter()  # (first: every call, forced ones too, estimates with the rates)
    conv1d.planning.rates(conv1d.get_num_threads())
    calibration = time.perf_counter() - start
    x, w = np.ones((1, 2, 16), np.float32), np.ones((2, 2, 3), np.float32)
    for algorithm in conv1d.Algorithm:
        conv1d.conv1d(x, w, algorithm=algorithm)
        conv1d.conv_transpose1d(x, w, algorithm=algorithm)
        conv1d.grad.conv1d_weight(x, w.shape, conv1d.conv1d(x, w), algorithm=algorithm)
    return calibration


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--only", default="", help="layers whose name contains this text")
    parser.add_argument("--write", action="store_true", help="replace the table in BENCHMARKS.md")
    args = parser.parse_args(argv)
    calibration = warm_up()
    rows = []
    for layer in zoo.LAYERS:
        if layer.step or args.only.lower() not in layer.name.lower():
            continue
        rows.append(row(layer, args.reps))
        r = rows[-1]
        print(
            f"{r['layer']:<30} {r['chosen']:<9} {r['auto'] * 1e3:9.3f} ms   fastest {r['fastest']:<9} "
            f"{r['best'] * 1e3:9.3f} ms   {r['ratio']:.2f}   model {r['estimated']} {r['estimated_ratio']:.2f}   "
            f"first {r['first_calls']:.1f} calls",
            flush=True,
        )
    table = (
        f"{suite.machine()}; forward, NumPy API, float32. The calibration of the cost model's rates "
        f"took {calibration:.2f} s (once per machine).\n\n" + markdown(rows)
    )
    print(table)
    if args.write:
        suite.write_section("planner", table, "## Measured planning: the choice against every kernel")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
