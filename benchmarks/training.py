"""Seconds per training epoch of the FCN (examples/fcn_ucr.py): torch.nn.Conv1d against
conv1d.torch.Conv1d, the two models trained in turn, epoch by epoch, in one process.

    python benchmarks/training.py [--epochs 150] [--write]

Both models start from the same weights and see the same batches (the paper's batch
size, min(N/10, 16)); each round trains one epoch of each, alternating which goes first
(the first three rounds are warm-up). The table gives median seconds per epoch of each
model and, as the comparison, the median of the rounds' ratios (conv1d's epoch over
torch's in the same round): pairing the two epochs of a round cancels the machine's
drift, which on the development VM moves one model's epoch time by up to 2x over minutes.
Its 95% confidence interval comes from a bootstrap over the rounds (2,000 resamples,
fixed seed). ``--write`` puts the table into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
import fcn_ucr  # the example is the workload
from suite import cpu_name, write_section

import conv1d


def epochs(dataset: str, count: int) -> dict[str, list[float]]:
    data = fcn_ucr.load(dataset)
    x, y = torch.from_numpy(data["x_train"][:, None, :]), torch.from_numpy(data["y_train"])
    classes = int(y.max()) + 1
    batch = max(1, min(len(x) // 10, 16))
    models = {backend: fcn_ucr.build(classes, backend, seed=0) for backend in ("torch", "conv1d")}
    optimisers = {b: torch.optim.Adam(m.parameters(), lr=1e-3) for b, m in models.items()}
    loss_fn = torch.nn.CrossEntropyLoss()
    order = torch.Generator().manual_seed(0)
    seconds: dict[str, list[float]] = {b: [] for b in models}
    for round_ in range(count + 3):
        batches = torch.randperm(len(x), generator=order).split(batch)
        for backend in list(models) if round_ % 2 == 0 else list(models)[::-1]:
            model, optimiser = models[backend], optimisers[backend]
            start = time.perf_counter()
            for index in batches:
                optimiser.zero_grad()
                loss = loss_fn(model(x[index]), y[index])
                loss.backward()
                optimiser.step()
                loss.item()
            if round_ >= 3:
                seconds[backend].append(time.perf_counter() - start)
    return seconds


def median_interval(values: list[float], resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% bootstrap confidence interval of the median of ``values`` (percentile method)."""
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(resamples))
    return medians[int(0.025 * resamples)], medians[int(0.975 * resamples) - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    lines = [
        (
            f"Machine: {cpu_name()}, {torch.get_num_threads()} torch threads; torch {torch.__version__}, "
            f"conv1d {conv1d.__version__}. {args.epochs} rounds of one epoch of each model per dataset."
        ),
        "",
        (
            "| dataset | batch | torch.nn.Conv1d s/epoch | conv1d.torch.Conv1d s/epoch | "
            "conv1d / torch, median of the rounds' ratios | its 95% confidence interval | "
            "ratios' 10th-90th percentile |"
        ),
        "|---|---|---|---|---|---|---|",
    ]
    for dataset in ("ItalyPowerDemand", "GunPoint"):
        s = epochs(dataset, args.epochs)
        ratios = [c / t for c, t in zip(s["conv1d"], s["torch"])]
        low, high = median_interval(ratios)
        deciles = statistics.quantiles(ratios, n=10)
        n = len(fcn_ucr.load(dataset)["y_train"])
        lines.append(
            f"| {dataset} | {max(1, min(n // 10, 16))} | {statistics.median(s['torch']):.3f} | "
            f"{statistics.median(s['conv1d']):.3f} | {statistics.median(ratios):.3f}x | "
            f"{low:.3f}-{high:.3f}x | {deciles[0]:.2f}-{deciles[-1]:.2f}x |"
        )
        print(lines[-1], file=sys.stderr)
    table = "\n".join(lines)
    print(table)
    if args.write:
        write_section(
            "training", table, "## Training\n\n`python benchmarks/training.py --write` regenerates this."
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
