"""Streaming latency and throughput: conv1d's streams against recomputation (conv1d, PyTorch).

    python benchmarks/streaming.py [--write]

Three tables (float32, batch 1, medians of interleaved rounds):

1. One new sample through a typical WaveNet layer (64 -> 128 channels, K=2, causal,
   dilation 256): the stream's single-step update, against recomputing the output from
   the receptive field (the last 257 samples) with conv1d and with PyTorch, and the floor
   of any NumPy call (``np.add`` of two 1-element arrays) and of the arithmetic (the bare
   (128 x 128) @ (128,) product the step performs).
2. One new sample through the whole generator of ``examples/wavenet.py`` (30 layers,
   dilations 1..512 x 3, receptive field 3071), streamed against recomputation over the
   receptive field with conv1d and with PyTorch (the same weights in ``torch.nn.Conv1d``).
3. Throughput of the WaveNet layer streamed in chunks of 1, 64 and 4096 samples against
   one offline call on the whole signal (65,536 samples).

``--write`` puts the tables into BENCHMARKS.md between the streaming markers.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see suite.py: pools sleep when idle

import numpy as np

import conv1d

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
import wavenet  # the example is the workload
from suite import cpu_name, interleaved, write_section  # the same timing as the main suite


def layer_step(rounds: int) -> list[tuple[str, float]]:
    import torch

    rng = np.random.default_rng(0)
    layer = conv1d.Conv1d(64, 128, 2, padding="causal", dilation=256, rng=0)
    weight_t, bias_t = torch.from_numpy(layer.weight), torch.from_numpy(layer.bias)
    span = 257
    history = rng.standard_normal((1, 64, 4096), dtype=np.float32)
    stream = conv1d.StreamingConv1d(layer)
    stream(history)  # a running stream
    sample = history[..., -1:].copy()
    window = history[..., -span:].copy()
    valid = conv1d.Conv1d(64, 128, 2, dilation=256, rng=0)  # the same layer without padding
    window_t = torch.from_numpy(window)
    one = np.ones(1, np.float32)
    w2, v = np.ones((128, 128), np.float32), np.ones(128, np.float32)

    def torch_recompute() -> None:
        with torch.no_grad():
            torch.nn.functional.conv1d(window_t, weight_t, bias_t, dilation=256)

    medians = interleaved(
        {
            "stream step (conv1d)": lambda: stream(sample),
            "recompute 257 samples, conv1d": lambda: valid(window),
            "recompute 257 samples, PyTorch": torch_recompute,
            "floor: np.add of 1-element arrays": lambda: np.add(one, one),
            "floor: (128 x 128) @ (128,) product": lambda: w2 @ v,
        },
        rounds,
        inner=50,
    )
    return list(medians.items())


def _torch_net(net: wavenet.WaveNet) -> Callable[[np.ndarray], object]:
    import torch

    def torch_conv(c: conv1d.Conv1d) -> Callable[[object], object]:
        w, b, d = torch.from_numpy(c.weight), torch.from_numpy(c.bias), c.dilation[0]
        left = (c.kernel_size[0] - 1) * d if c.padding == "causal" else 0  # torch has no 'causal'
        return lambda h: torch.nn.functional.conv1d(torch.nn.functional.pad(h, (left, 0)), w, b, dilation=d)

    convs = {id(c): torch_conv(c) for c in net._convs()}

    def forward(x: np.ndarray) -> object:
        with torch.no_grad():
            t = torch.from_numpy(x)
            h = convs[id(net.causal)](t)
            skips = 0.0
            for layer in net.layers:
                a = convs[id(layer.dilated)](h)
                z = torch.tanh(a[:, :64]) * torch.sigmoid(a[:, 64:])
                skips = skips + convs[id(layer.skip)](z)
                h = h + convs[id(layer.residual)](z)
            out = convs[id(net.head1)](torch.relu(skips))
            return convs[id(net.head2)](torch.relu(out))[:, :, -1]

    return forward


def generator_step(rounds: int) -> list[tuple[str, float]]:
    net = wavenet.WaveNet()
    gen = wavenet.Generator(net)
    rng = np.random.default_rng(0)
    fed, _ = wavenet.generate(gen, 200, rng)  # a running generator
    sample = wavenet.one_hot(fed[:, -1:])
    window = wavenet.one_hot(rng.integers(0, 256, (1, net.receptive_field)))
    torch_forward = _torch_net(net)
    medians = interleaved(
        {
            "stream step (conv1d)": lambda: gen.step(sample),
            f"recompute {net.receptive_field} samples, conv1d": lambda: net.forward(window),
            f"recompute {net.receptive_field} samples, PyTorch": lambda: torch_forward(window),
        },
        rounds,
    )
    return list(medians.items())


def chunked_throughput(rounds: int) -> list[tuple[str, float]]:
    layer = conv1d.Conv1d(64, 128, 2, padding="causal", dilation=256, rng=0)
    x = np.random.default_rng(0).standard_normal((1, 64, 65536), dtype=np.float32)
    rows = []
    for chunk in (1, 64, 4096):
        stream = conv1d.StreamingConv1d(layer)

        def run(chunk: int = chunk, stream: conv1d.StreamingConv1d = stream) -> None:
            stream.reset()
            for i in range(0, x.shape[-1], chunk):
                stream(x[..., i : i + chunk])

        reps = 1 if chunk == 1 else rounds
        rows.append((f"chunks of {chunk}", interleaved({"s": run}, reps)["s"]))
    rows.append(("offline, one call", interleaved({"s": lambda: layer(x)}, rounds)["s"]))
    return rows


def _machine() -> str:
    import torch

    return (
        f"{cpu_name()}, {os.cpu_count()} cores; Python {platform.python_version()}, NumPy {np.__version__}, "
        f"torch {torch.__version__}; conv1d {conv1d.__version__}"
    )


def render(step: list, gen: list, chunks: list) -> str:
    lines = [f"Machine: {_machine()}.", ""]
    lines += [
        "One new sample through a WaveNet layer (64 -> 128 channels, K=2, dilation 256), median us:",
        "",
        "| method | us per sample | vs stream step |",
        "|---|---|---|",
    ]
    ours = step[0][1]
    lines += [f"| {name} | {s * 1e6:.1f} | {s / ours:.2f}x |" for name, s in step]
    lines += [
        "",
        "One new sample through the whole WaveNet generator (30 layers), median ms:",
        "",
        "| method | ms per sample | vs stream step |",
        "|---|---|---|",
    ]
    ours = gen[0][1]
    lines += [f"| {name} | {s * 1e3:.2f} | {s / ours:.1f}x |" for name, s in gen]
    lines += [
        "",
        "Streaming the WaveNet layer over 65,536 samples, by chunk size:",
        "",
        "| chunks | ms for the signal | samples per second | vs offline |",
        "|---|---|---|---|",
    ]
    offline = chunks[-1][1]
    lines += [f"| {name} | {s * 1e3:.1f} | {65536 / s:,.0f} | {offline / s:.2f}x |" for name, s in chunks]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30, help="interleaved rounds (default 30)")
    parser.add_argument("--write", action="store_true", help="write the tables into BENCHMARKS.md")
    args = parser.parse_args()
    table = render(layer_step(args.rounds), generator_step(max(5, args.rounds // 3)), chunked_throughput(5))
    print(table)
    if args.write:
        write_section(
            "streaming", table, "## Streaming\n\n`python benchmarks/streaming.py --write` regenerates this."
        )


if __name__ == "__main__":
    main()
