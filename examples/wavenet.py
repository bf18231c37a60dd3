"""Generate audio WaveNet-style, one sample at a time, with conv1d's streaming layers.

The network (van den Oord et al. 2016, "WaveNet"): 8-bit mu-law samples (256 classes)
in, one-hot; a causal K=2 convolution to the residual channels; ``blocks`` blocks of
layers with dilations 1, 2, 4, ..., 512, each a causal K=2 dilated convolution to twice
the residual channels, a gated activation tanh(a) * sigmoid(b), a 1x1 convolution back
to the residual channels (added to the layer's input) and a 1x1 convolution to the skip
channels; the skips are summed, ReLU, 1x1, ReLU, 1x1 to 256 logits.

Generating offline means recomputing the whole receptive field for every new sample.
Streaming keeps each dilated layer's last ``dilation`` inputs instead
(:class:`conv1d.StreamingConv1d`), so one sample costs O(layers). The weights are random
(seeded): this shows the mechanics and checks them, it does not make music.

Run: ``python examples/wavenet.py`` (options: ``--help``). It generates samples one at a
time, then runs the offline network on the same (teacher-forced) input and checks that
every logit matches, and times generation against recomputation.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np

import conv1d

CLASSES = 256


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * a))  # no overflow warnings for large |a|


@dataclass
class _Layer:
    dilated: conv1d.Conv1d  # residual -> 2 * residual, K=2, causal
    residual: conv1d.Conv1d  # residual -> residual, 1x1
    skip: conv1d.Conv1d  # residual -> skip, 1x1


class WaveNet:
    """The network's layers (conv1d.Conv1d, float32), and its offline forward pass."""

    def __init__(
        self, blocks: int = 3, top_dilation: int = 512, residual: int = 64, skip: int = 128, seed: int = 0
    ) -> None:
        rng = np.random.default_rng(seed)
        self.dilations = [2**i for i in range(int(np.log2(top_dilation)) + 1)] * blocks
        self.causal = conv1d.Conv1d(CLASSES, residual, 2, padding="causal", rng=rng)
        self.layers = [
            _Layer(
                conv1d.Conv1d(residual, 2 * residual, 2, padding="causal", dilation=d, rng=rng),
                conv1d.Conv1d(residual, residual, 1, rng=rng),
                conv1d.Conv1d(residual, skip, 1, rng=rng),
            )
            for d in self.dilations
        ]
        self.head1 = conv1d.Conv1d(skip, skip, 1, rng=rng)
        self.head2 = conv1d.Conv1d(skip, CLASSES, 1, rng=rng)

    @property
    def receptive_field(self) -> int:
        """Input samples one output sees: 2 for the first causal conv, + dilation per layer."""
        return 2 + sum(self.dilations)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Logits (N, 256, L) for one-hot input (N, 256, L), all at once."""
        return self._run(x, {id(c): c for c in self._convs()})

    def _convs(self) -> list[conv1d.Conv1d]:
        inner = [c for layer in self.layers for c in (layer.dilated, layer.residual, layer.skip)]
        return [self.causal, *inner, self.head1, self.head2]

    def _run(self, x: np.ndarray, convs: dict) -> np.ndarray:
        """The network with each conv replaced by ``convs[id(conv)]`` (a layer or its stream)."""
        h = convs[id(self.causal)](x)
        skips = 0.0
        for layer in self.layers:
            a = convs[id(layer.dilated)](h)
            half = a.shape[1] // 2
            z = np.tanh(a[:, :half]) * _sigmoid(a[:, half:])
            skips = skips + convs[id(layer.skip)](z)
            h = h + convs[id(layer.residual)](z)
        out = convs[id(self.head1)](np.maximum(skips, 0))
        return convs[id(self.head2)](np.maximum(out, 0))


class Generator:
    """The same network streamed: each conv is a :class:`conv1d.StreamingConv1d` (delay 0)."""

    def __init__(self, net: WaveNet) -> None:
        self.net = net
        self.streams = {id(c): conv1d.StreamingConv1d(c) for c in net._convs()}
        assert all(s.delay == 0 for s in self.streams.values())  # causal: nothing held back

    def step(self, x: np.ndarray) -> np.ndarray:
        """Logits (N, 256, L) for the next L one-hot samples (N, 256, L), L >= 0."""
        return self.net._run(x, self.streams)

    def reset(self) -> None:
        for s in self.streams.values():
            s.reset()


def one_hot(classes: np.ndarray) -> np.ndarray:
    """(N, L) integer classes -> (N, 256, L) float32 one-hot."""
    return np.eye(CLASSES, dtype=np.float32)[classes].transpose(0, 2, 1)


def generate(
    gen: Generator, samples: int, rng: np.random.Generator, first: int = 128
) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``samples`` classes one at a time; returns (classes fed (1, samples), logits (1, 256, samples))."""
    fed = np.empty((1, samples), np.int64)
    logits = np.empty((1, CLASSES, samples), np.float32)
    current = first
    for t in range(samples):
        fed[0, t] = current
        out = gen.step(one_hot(fed[:, t : t + 1]))[0, :, 0]
        logits[0, :, t] = out
        p = np.exp(out - out.max())
        current = int(rng.choice(CLASSES, p=p / p.sum()))
    return fed, logits


def recompute_seconds(net: WaveNet, fed: np.ndarray, steps: int) -> float:
    """Median seconds per sample when each new sample reruns the network on its receptive field."""
    window = net.receptive_field
    history = np.concatenate([np.full((1, window), 128, np.int64), fed], axis=1)
    times = []
    for t in range(steps):
        x = one_hot(history[:, t + 1 : t + 1 + window])
        start = time.perf_counter()
        net.forward(x)[:, :, -1]
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=2000, help="samples to generate (default 2000)")
    parser.add_argument("--blocks", type=int, default=3, help="blocks of dilations 1..top (default 3)")
    parser.add_argument("--top-dilation", type=int, default=512, help="largest dilation (default 512)")
    parser.add_argument(
        "--recompute-steps",
        type=int,
        default=10,
        help="samples timed with recomputation (default 10; 0 skips it)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    net = WaveNet(args.blocks, args.top_dilation, seed=args.seed)
    gen = Generator(net)
    print(
        f"WaveNet: {len(net.layers)} dilated layers (dilations {net.dilations[0]}..{max(net.dilations)}"
        f" x {args.blocks} blocks), receptive field {net.receptive_field} samples"
    )

    start = time.perf_counter()
    fed, logits = generate(gen, args.samples, np.random.default_rng(args.seed))
    per_sample = (time.perf_counter() - start) / args.samples
    print(f"generated {args.samples} samples one at a time: {per_sample * 1e3:.2f} ms per sample")

    offline = net.forward(one_hot(fed))  # teacher forcing: the same inputs, all at once
    error = float(np.abs(offline - logits).max())
    scale = float(np.abs(offline).max())
    ok = error <= 1e-5 * max(scale, 1.0)
    print(
        f"offline network on the same input: max |difference| {error:.2e} (logits up to {scale:.2f}) "
        f"-> {'match' if ok else 'MISMATCH'}"
    )

    if args.recompute_steps:
        again = recompute_seconds(net, fed, args.recompute_steps)
        print(
            f"recomputing the receptive field instead: {again * 1e3:.1f} ms per sample "
            f"-> streaming is {again / per_sample:.0f}x faster"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
