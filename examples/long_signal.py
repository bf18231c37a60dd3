"""Convolve a signal larger than the memory you allow: conv1d on Dask, file to file.

The signal is one ``.npy`` file of float32 samples, shape (1, L) (one channel, unbatched;
by default L = 2**30, 4 GiB), written once by this script (a chirp in noise, chunk by
chunk). Two layers run over it, each from the input file to an output ``.npy``, block by
block on a ``dask.distributed.LocalCluster`` of worker processes, each with a memory
limit:

* an FIR filter bank: 8 band-pass filters of K=4096 taps (windowed sinc, ``scipy.signal
  .firwin``), decimating by 8, ``padding='same'``: output (8, L/8), 4 GiB; each block
  runs conv1d's FFT algorithm;
* a WaveNet-like dilated layer: K=2, dilation 4096, causal, 1 -> 2 channels: output
  (2, L), 8 GiB.

Every task reads its own chunk of the input (plus the halo it needs) from the file and
writes its output block into the output file, so the data never travels through the
scheduler and no worker ever holds more than a few chunks. The script prints a progress
bar, the throughput, each worker's peak resident memory (``ru_maxrss``, which also counts
the file pages a task has mapped), and checks stretches of the output, including the
chunk boundaries, against the in-memory ``conv1d.conv1d`` on the same stretch of input.
With ``--compare`` it also times the in-memory call on the first ``--compare`` samples
(the part that fits) for the throughput comparison.

Run: ``python examples/long_signal.py`` (needs ``pip install -e '.[dask]'``, about 20 GiB
of free disk in ``--dir``; ``--samples 2**26`` for a quick run; ``--help`` for the rest).
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import conv1d
import conv1d.dask as cdask

FILTERS, TAPS, DECIMATION = 8, 4096, 8
TOLERANCE = 1e-5  # float32, relative to a stretch's largest output (the FFT's error is ~1e-7 x log n)


@dataclass
class Job:
    name: str
    weight: np.ndarray
    options: dict[str, Any]


def jobs(rate: float = 48_000.0) -> list[Job]:
    """The two layers: a decimating band-pass FIR bank and a WaveNet-like dilated layer."""
    from scipy.signal import firwin

    edges = np.geomspace(60.0, rate / 2 * 0.95, FILTERS + 1)
    bank = np.stack(
        [firwin(TAPS, [lo, hi], pass_zero=False, fs=rate) for lo, hi in itertools.pairwise(edges)]
    )
    wavenet = np.random.default_rng(0).standard_normal((2, 1, 2)) / np.sqrt(2)
    return [
        Job("fir-bank", bank[:, None, :].astype(np.float32), {"stride": DECIMATION, "padding": "same"}),
        Job("wavenet-layer", wavenet.astype(np.float32), {"dilation": 4096, "padding": "causal"}),
    ]


def make_signal(path: Path, samples: int, block: int = 2**24, rate: float = 48_000.0) -> None:
    """A (1, samples) float32 chirp in noise, written block by block (never all in memory)."""
    if path.exists():
        existing = np.load(path, mmap_mode="r")
        if existing.shape == (1, samples) and existing.dtype == np.float32:
            return
        del existing
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(1, samples))
    rng = np.random.default_rng(0)
    for start in range(0, samples, block):
        t = np.arange(start, min(samples, start + block)) / rate
        frequency = 100.0 + 8_000.0 * ((t / 60.0) % 1.0)  # a one-minute sweep, repeated
        chunk = np.sin(2 * np.pi * frequency * t) + 0.1 * rng.standard_normal(t.size)
        out[0, start : start + t.size] = chunk.astype(np.float32)
    out.flush()
    del out


def check_stretches(source: Path, result: Path, job: Job, chunk: int, samples: int, count: int = 4) -> float:
    """The largest relative difference between the written output and the in-memory
    ``conv1d.conv1d`` of the same stretches of input (the start, the end, and stretches
    around chunk boundaries), relative to the stretch's largest output."""
    x = np.load(source, mmap_mode="r")
    y = np.load(result, mmap_mode="r")
    spec = _spec(job, samples)
    span, stride, left = spec.span, spec.stride, spec.pad_left
    worst = 0.0
    boundaries = np.linspace(0, samples, count + 2).astype(int)[1:-1] // chunk * chunk
    for centre in [0, samples, *boundaries]:
        # an output stretch around the centre, and exactly the input it reads (padding as in memory)
        t0 = max(0, (centre - 4 * span) // stride)
        t1 = min(y.shape[-1], (centre + 4 * span) // stride)
        a, z = t0 * stride - left, (t1 - 1) * stride - left + span
        piece = np.zeros((1, z - a), np.float32)
        lo, hi = max(a, 0), min(z, samples)
        piece[:, lo - a : hi - a] = x[:, lo:hi]
        expected = conv1d.conv1d(piece, job.weight, stride=stride, dilation=spec.dilation)
        got = np.asarray(y[:, t0:t1])
        worst = max(worst, float(np.abs(got - expected).max() / max(np.abs(expected).max(), 1e-30)))
    return worst


def _spec(job: Job, samples: int) -> Any:
    """The job's ConvSpec for a (1, samples) input: the library's own padding split."""
    from conv1d.spec import conv1d_spec

    return conv1d_spec((1, samples), job.weight.shape, **job.options)


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    from dask.distributed import Client, LocalCluster, progress

    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "signal.npy"
    started = time.perf_counter()
    make_signal(source, args.samples)
    print(
        f"signal: {source} (1, {args.samples}) float32, {args.samples * 4 / 2**30:.2f} GiB "
        f"(ready in {time.perf_counter() - started:.1f} s)"
    )
    results = []
    with (
        LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=args.memory_limit,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        limit = cluster.workers[next(iter(cluster.workers))].memory_manager.memory_limit
        print(
            f"cluster: {args.workers} worker processes, 1 thread each, memory limit {limit / 2**30:.2f} GiB each"
        )
        x = cdask.from_npy(source, chunks=(1, args.chunk))
        for job in jobs():
            y = conv1d.conv1d(x, job.weight, **job.options)
            target = folder / f"{job.name}.npy"
            print(
                f"\n{job.name}: weight {job.weight.shape}, {job.options} -> {y.shape} float32, "
                f"{y.nbytes / 2**30:.2f} GiB, {y.npartitions} blocks"
            )
            client.run(_reset_peak)
            start = time.perf_counter()
            write = cdask.to_npy(y, target, compute=False)
            future = client.compute(write)
            if args.progress:
                progress(future)
                print()
            future.result()
            seconds = time.perf_counter() - start
            peaks = client.run(_peak_rss)
            error = check_stretches(source, target, job, args.chunk, args.samples)
            row = {
                "job": job.name,
                "samples": args.samples,
                "chunk": args.chunk,
                "seconds": seconds,
                "msamples_per_s": args.samples / seconds / 1e6,
                "output_gib": y.nbytes / 2**30,
                "peak_worker_mib": max(peaks.values()) / 2**20,
                "limit_mib": limit / 2**20,
                "check": error,
            }
            print(
                f"  {seconds:.1f} s, {row['msamples_per_s']:.1f} M input samples/s; peak RSS per worker "
                f"{', '.join(f'{v / 2**20:.0f}' for v in peaks.values())} MiB (limit {limit / 2**20:.0f}); "
                f"stretches vs in-memory: max relative difference {error:.1e}"
            )
            if args.compare:
                part = np.array(np.load(source, mmap_mode="r")[:, : args.compare])
                conv1d.conv1d(part[:, : 2**16], job.weight, **job.options)  # warm up
                start = time.perf_counter()
                conv1d.conv1d(part, job.weight, **job.options)
                in_memory = time.perf_counter() - start
                row["in_memory_msamples_per_s"] = args.compare / in_memory / 1e6
                print(
                    f"  in memory, first {args.compare} samples in this process: {in_memory:.2f} s, "
                    f"{row['in_memory_msamples_per_s']:.1f} M samples/s"
                )
                del part
            if not args.keep:
                target.unlink()
            results.append(row)
    return results


def _reset_peak() -> None:
    """Linux: start a new high-water mark of this process's resident memory."""
    try:
        with open(f"/proc/{os.getpid()}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _peak_rss() -> int:
    """This process's peak resident memory in bytes, since start or the last reset (Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _size(text: str) -> int:
    """``'2**30'`` or ``'1073741824'``."""
    base, _, exponent = text.partition("**")
    return int(base) ** int(exponent) if exponent else int(base)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=_size, default=2**30, help="signal length (default 2**30: 4 GiB)")
    parser.add_argument("--chunk", type=_size, default=2**23, help="samples per chunk (default 2**23)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--memory-limit", default="1.5GiB", help="per worker (default 1.5GiB)")
    parser.add_argument(
        "--dir", default="long-signal", help="where the .npy files go (default ./long-signal)"
    )
    parser.add_argument(
        "--compare",
        type=_size,
        default=0,
        help="also time the in-memory call on this many samples (e.g. 2**26)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the output files")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    args = parser.parse_args(argv)
    rows = run(args)
    bad = [row["job"] for row in rows if not row["check"] <= TOLERANCE]
    if bad:
        print(f"MISMATCH against the in-memory call: {', '.join(bad)}")
        return 1
    print(f"\nall outputs match the in-memory call (max relative difference <= {TOLERANCE:g})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
