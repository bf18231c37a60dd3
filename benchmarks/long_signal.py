"""Beyond memory: conv1d on Dask, file to file, against the in-memory path on the part that fits.

    python benchmarks/long_signal.py [--samples 2**30] [--compare 2**26] [--write]

Runs ``examples/long_signal.py``'s two jobs (a K=4096 decimating FIR bank and a
WaveNet-like dilated layer) over a 2**30-sample float32 ``.npy`` (4 GiB) on a two-worker
``LocalCluster`` with a memory limit per worker, and times the same layers in memory on
the first ``--compare`` samples, with conv1d and with PyTorch (``torch.nn.functional
.conv1d`` on the explicitly padded input: PyTorch has no ``'same'`` with stride), the
in-memory calls interleaved, medians of ``--rounds``. ``--write`` puts the table into
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see suite.py: pools sleep when idle

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
import long_signal  # the example is the workload
from suite import cpu_name, interleaved, write_section

import conv1d


def in_memory(samples: int, source: Path, rounds: int) -> dict[str, tuple[float, float]]:
    """Median seconds of each job on the first ``samples`` samples: (conv1d, torch)."""
    import torch
    import torch.nn.functional as F

    x = np.array(np.load(source, mmap_mode="r")[:, :samples])
    out = {}
    for job in long_signal.jobs():
        spec = long_signal._spec(job, samples)  # conv1d's padding split, given to torch explicitly
        ours = conv1d.conv1d(x, job.weight, **job.options)
        xt, wt = torch.from_numpy(x), torch.from_numpy(job.weight)

        def theirs(xt=xt, wt=wt, spec=spec) -> torch.Tensor:
            return F.conv1d(
                F.pad(xt, (spec.pad_left, spec.pad_right)), wt, stride=spec.stride, dilation=spec.dilation
            )

        assert theirs().shape[-1] == ours.shape[-1]
        times = interleaved(
            {"conv1d": lambda job=job: conv1d.conv1d(x, job.weight, **job.options), "torch": theirs}, rounds
        )
        out[job.name] = (times["conv1d"], times["torch"])
    return out


def render(rows: list[dict], memory: dict[str, tuple[float, float]], compare: int) -> str:
    import dask
    import torch

    lines = [
        (
            f"Machine: {cpu_name()}, {os.cpu_count()} cores; NumPy {np.__version__}, Dask {dask.__version__}, "
            f"torch {torch.__version__}; conv1d {conv1d.__version__}."
        ),
        "",
        (
            f"Signal: {rows[0]['samples']:,} float32 samples ({rows[0]['samples'] * 4 / 2**30:.0f} GiB `.npy`), "
            f"chunks of {rows[0]['chunk']:,} samples, 2 worker processes x 1 thread, "
            f"memory limit {rows[0]['limit_mib']:.0f} MiB per worker. In memory: the first {compare:,} samples, "
            f"in this process (2 threads)."
        ),
        "",
        (
            "| job | output | Dask, file to file: s | M samples/s | peak RSS per worker, MiB | "
            "in memory, conv1d: M samples/s | in memory, torch: M samples/s | max rel. difference |"
        ),
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ours, theirs = memory[row["job"]]
        lines.append(
            f"| {row['job']} | {row['output_gib']:.0f} GiB | {row['seconds']:.1f} | "
            f"{row['msamples_per_s']:.1f} | {row['peak_worker_mib']:.0f} | {compare / ours / 1e6:.1f} | "
            f"{compare / theirs / 1e6:.1f} | {row['check']:.1e} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=long_signal._size, default=2**30)
    parser.add_argument("--chunk", type=long_signal._size, default=2**23)
    parser.add_argument("--compare", type=long_signal._size, default=2**26)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default=None, help="for the .npy files (default: a temporary directory)")
    parser.add_argument("--write", action="store_true", help="write the table into BENCHMARKS.md")
    args = parser.parse_args()
    folder = args.dir or tempfile.mkdtemp(prefix="conv1d-long-")
    example = argparse.Namespace(
        samples=args.samples,
        chunk=args.chunk,
        workers=2,
        memory_limit="1.5GiB",
        dir=folder,
        compare=0,
        keep=False,
        progress=False,
    )
    rows = long_signal.run(example)
    memory = in_memory(args.compare, Path(folder) / "signal.npy", args.rounds)
    table = render(rows, memory, args.compare)
    print(table)
    if args.write:
        write_section(
            "dask", table, "## Dask\n\n`python benchmarks/long_signal.py --write` regenerates this."
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
