"""A layer zoo: the convolutions of published 1-D architectures, at their published shapes,
through conv1d against PyTorch, ONNX Runtime and OpenVINO.

    python benchmarks/zoo.py --solo               # the headline: each library alone in its own process
    python benchmarks/zoo.py                      # every library in turn, in one process
    python benchmarks/zoo.py --only tasnet        # the rows whose name contains "tasnet"
    python benchmarks/zoo.py --quick --only fcn   # a smoke test: one or two rounds
    python benchmarks/zoo.py --solo --write       # and replace the zoo tables in BENCHMARKS.md

Needs the benchmark extra (``pip install -e '.[bench]'``: torch, onnxruntime, onnx,
openvino). ``--suite`` runs the ten workloads of ``suite.py`` through the same table, so
that the suite, too, meets every peer form.

What is timed. Each row of ``LAYERS`` is one convolution of a published network, with the
channels, kernel, stride, dilation, groups, padding and bias of its reference code (named
in the row's ``source``, with any departure from it), on the input it sees there. Each
row runs through

- ``conv1d``: conv1d's NumPy layer (``conv1d.Conv1d`` / ``ConvTranspose1d``, in eval mode
  for forward) on NumPy arrays;
- ``conv1d.torch``: conv1d's drop-in ``torch.nn`` module on torch tensors;
- ``torch``: ``torch.nn.Conv1d`` / ``ConvTranspose1d``;
- ``ORT 1-D``: ONNX Runtime on a one-node graph, the layer as a 1-D ``Conv`` /
  ``ConvTranspose`` with its weights as initializers;
- ``ORT 2-D``: the same layer written as a 2-D node with a 1 x K kernel, fed the input
  viewed as (N, C, 1, L) (a free reshape), as 2-D-first exporters write 1-D layers;
- ``OpenVINO``: the 1-D graph compiled for the CPU with ``INFERENCE_PRECISION_HINT=f32``
  (its default may compute in bf16 where the CPU has it).

Forward (torch modules under ``torch.no_grad()``) for all; forward + backward (input,
weight and bias gradients for a random output gradient) for the first three. Then four
small models built from these layers in torch (``MODELS``: a WaveNet stack, the
Conv-TasNet separator, a HiFi-GAN generator, the FCN), timed end to end as written and
after ``conv1d.torch.convert``, forward and forward + backward, and forward through ONNX
Runtime and OpenVINO on their ``torch.onnx`` export.

The WaveNet generation row times one new sample through the d = 512 layer: conv1d's
``StreamingConv1d`` step (which also updates its own state) against the others computing
the same output from a window of the K = 2 samples it reads (the cache a fast WaveNet
generator keeps; its upkeep is not timed). The Hyena row gives conv1d ``padding='causal'``
(L outputs) and the others the padded form torch needs (2L - 1 outputs, the first L kept).

Method (as ``suite.py``). Every implementation's output, and each gradient, is first
checked against a float64 PyTorch reference: the largest error must stay under 1e-4 of
the largest reference value (for whole models, 1e-3 for outputs and 5e-2 of the largest
gradient for gradients, which pass activation kinks: see ``MODEL_GRADIENT_TOLERANCE``),
and a failing check stops the run. The reference is ``torch.nn.functional`` in float64,
except for kernels of 256 taps or more, computed through torch's float64 FFT instead (the
direct float64 path takes 30 s on the Hyena row); --solo computes each reference once.
Interleaved (the default): in one process, the implementations run in turn for
``--reps`` rounds after a warm-up, medians reported, with every thread pool told to sleep
when idle (``OMP_WAIT_POLICY=PASSIVE``, ONNX Runtime's ``allow_spinning=0``). ``--solo``:
each library alone in a fresh process with its default thread settings (torch and ONNX
Runtime use one thread per core, as in ``suite.py``); the headline. Calls shorter than a
millisecond are repeated within a round; slow rows run fewer rounds (at least three) to
stay within about ``--budget`` seconds per row. Ratios are another implementation's median
over conv1d's: above 1, conv1d is faster; "best peer" is the fastest of torch, ORT 1-D,
ORT 2-D and OpenVINO. The algorithm column is what ``conv1d.plan`` chooses.
"""

from __future__ import annotations

import os

# Thread pools sleep when idle in the interleaved run (see suite.py); --solo children keep
# their defaults. Must be set before the libraries load.
SOLO = bool(os.environ.get("CONV1D_BENCH_SOLO"))
if not SOLO:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import dataclasses
import functools
import io
import json
import re
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from suite import THREADS, interleaved, machine, write_section  # the suite's timing and output
from torch import nn

import conv1d
import conv1d.torch

# Expected here: torch's note on padding='same' with an even kernel (the FCN's K=8).
warnings.filterwarnings("ignore", message="Using padding='same' with even kernel", category=UserWarning)

# --------------------------------------------------------------------------- the layers


@dataclasses.dataclass(frozen=True)
class Layer:
    """One convolution of a published network, as ``torch.nn`` declares it."""

    name: str
    n: int
    c_in: int
    l_in: int
    c_out: int
    k: int
    stride: int = 1
    padding: int | str = 0  # as torch.nn takes it
    dilation: int = 1
    groups: int = 1
    bias: bool = True
    transposed: bool = False
    ours: str | None = None  # conv1d's padding, where it differs from torch's ('causal' for Hyena)
    keep: int | None = None  # the network keeps the first `keep` outputs (those are compared)
    step: int | None = None  # a generation step of the layer with this dilation (see the module doc)
    source: str = ""

    @property
    def pads(self) -> tuple[int, int]:
        """torch's padding on the left and on the right (for 'same', the odd sample goes right)."""
        if self.padding == "same":
            total = self.dilation * (self.k - 1)
            return total // 2, total - total // 2
        if self.padding == "valid":
            return 0, 0
        return self.padding, self.padding

    @property
    def weight_shape(self) -> tuple[int, int, int]:
        if self.transposed:
            return self.c_in, self.c_out // self.groups, self.k
        return self.c_out, self.c_in // self.groups, self.k

    @property
    def l_out(self) -> int:
        if self.transposed:
            length = (self.l_in - 1) * self.stride - 2 * self.padding + self.dilation * (self.k - 1) + 1
        else:
            span = self.dilation * (self.k - 1) + 1
            length = (self.l_in + sum(self.pads) - span) // self.stride + 1
        return min(length, self.keep or length)

    def describe(self) -> str:
        """The layer in one line: ``N×C_in×L_in → C_out, K=...`` and its other options."""
        if self.step:
            return f"{self.n}×{self.c_in}×1 (one step) → {self.c_out}, K={self.k} d={self.step}"
        kind = "ConvT " if self.transposed else ""
        parts = [f"{kind}{self.n}×{self.c_in}×{self.l_in} → {self.c_out}, K={self.k}"]
        for label, value, default in (
            ("s", self.stride, 1),
            ("d", self.dilation, 1),
            ("g", self.groups, 1),
            ("p", self.ours or self.padding, 0),
        ):
            if value != default:
                parts.append(f"{label}={value}")
        return " ".join(parts)


_W2V = (
    "facebookresearch/fairseq fairseq/models/wav2vec/wav2vec2.py: ConvFeatureExtractionModel "
    "(conv_bias=False) with the BASE model's conv_feature_layers "
    "[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512, 2, 2)] * 2 (16000 samples -> 3199, 1599, 799, 399, 199, "
    "99, 49 frames); TransformerEncoder.pos_conv: Conv1d(768, 768, conv_pos=128, padding=conv_pos // 2, "
    "groups=16) on 499 frames (10 s)"
)
_CONFORMER = (
    "pytorch/audio torchaudio/models/conformer.py _ConvolutionModule (bias=False; pointwise to 2d, GLU, "
    "depthwise K=31 with padding (K-1)//2, the odd size it asserts for 'same' output, pointwise "
    "back); d=256 is Conformer (M) (Gulati 2020, Table 1); 250 frames = 10 s after 4x subsampling"
)
_HIFIGAN = (
    "jik876/hifi-gan models.py Generator, config_v1.json (upsample_rates [8, 8, 2, 2], kernels "
    "[16, 16, 4, 4], upsample_initial_channel 512, ConvTranspose1d padding (k-u)//2; ResBlock1 "
    "padding get_padding(k, d)); 100 mel frames -> 800, 6400, 12800, 25600 samples"
)
_TASNET = (
    "naplab/Conv-TasNet conv_tasnet.py (encoder Conv1d(1, N, L, stride=L//2, bias=False), decoder "
    "ConvTranspose1d(N, 1, L, stride=L//2)) and utility/models.py DepthConv1d (1x1 B->H, depthwise "
    "H, padding=dilation=2**i); N=512, L=16 (2 ms at 8 kHz), B=128, H=512, P=3 (Luo 2019, best "
    "model). pad_signal pads 32000 samples to 32024, so the encoder gives 4002 frames (not 3999)"
)
_ENCODEC = (
    "facebookresearch/encodec encodec/modules/seanet.py SEANetEncoder (n_filters 32, ratios "
    "[8, 5, 4, 2] reversed, down-sampling K=2*ratio, residual blocks K=3 then 1x1, compress 2, "
    "n_residual_layers 1, dilation_base 2) and encodec/modules/conv.py SConv1d, which pads "
    "itself ((K-1)*d - (s-1) on the left for the causal 24 kHz model, reflect) before an "
    "unpadded conv; timed here as that unpadded conv on the padded length. With one residual "
    "layer per stage the residual conv's dilation is 2**0 = 1, not 3"
)
_WAVENET = (
    "van den Oord 2016 (WaveNet), Sec. 2.1 and 2.3-2.4: K=2 causal dilated convolutions, "
    "dilations 1, 2, ..., 512 repeated, gated tanh * sigmoid, 1x1 residual and skip convs. The "
    "paper gives no channel counts: 64 residual, 2x64 gate, 256 skip channels as listed "
    "(examples/wavenet.py uses 64 residual). Causal: the input has d samples of left padding"
)
_KIM = (
    "yoonkim/CNN_sentence conv_net_sentence.py: filter_hs [3, 4, 5], 100 feature maps, 300-d "
    "word2vec, batch_size 50, max_l=56 words padded with filter_h - 1 = 4 zeros on each side "
    "(get_idx_from_sent), so the convolution sees 64 positions, not 56"
)
_FCN = (
    "hfawaz/dl-4-tsc classifiers/fcn.py (Wang 2017): Conv1D 128/K=8, 256/K=5, 128/K=3, "
    "padding 'same', batch min(N/10, 16); L=150 is GunPoint's length"
)
_ECG = (
    "awni/ecg ecg/network.py and examples/cinc17/config.json (Hannun 2019): conv_filter_length "
    "16, filters 32 * 2**(block // 4), Keras border_mode='same', every other block subsampling "
    "by 2. TensorFlow's 'same' with stride 2 on 2048 samples pads 7 on each side, so the strided "
    "conv is timed with padding=7"
)
_MAMBA = (
    "state-spaces/mamba mamba_ssm/modules/mamba_simple.py: nn.Conv1d(d_inner, d_inner, "
    "kernel_size=d_conv=4, groups=d_inner, padding=d_conv - 1, bias=True), then [..., :seqlen]; "
    "mamba-130m: d_model 768, expand 2 -> d_inner 1536"
)
_HYENA = (
    "HazyResearch/safari src/models/sequence/hyena.py: the long filter has the input's length "
    "(l_filter = L) and fftconv_ref keeps the first L outputs of the linear convolution (its "
    "bias is a separate u * D term, so the conv has none); L=2048 as "
    "configs/experiment/pile/base.yaml (max_length), 768 channels as the 125M-class models"
)

LAYERS = [
    Layer("wav2vec2 conv0", 4, 1, 16000, 512, 10, stride=5, bias=False, source=_W2V),
    Layer("wav2vec2 conv1 (K=3)", 4, 512, 3199, 512, 3, stride=2, bias=False, source=_W2V),
    Layer("wav2vec2 conv5 (K=2)", 4, 512, 199, 512, 2, stride=2, bias=False, source=_W2V),
    Layer("wav2vec2 pos_conv", 4, 768, 499, 768, 128, padding=64, groups=16, source=_W2V),
    Layer("Conformer pointwise1", 8, 256, 250, 512, 1, bias=False, source=_CONFORMER),
    Layer("Conformer depthwise", 8, 256, 250, 256, 31, padding=15, groups=256, bias=False, source=_CONFORMER),
    Layer("Conformer pointwise2", 8, 256, 250, 256, 1, bias=False, source=_CONFORMER),
    Layer("HiFi-GAN conv_pre", 1, 80, 100, 512, 7, padding=3, source=_HIFIGAN),
    Layer("HiFi-GAN ups0", 1, 512, 100, 256, 16, stride=8, padding=4, transposed=True, source=_HIFIGAN),
    Layer("HiFi-GAN ups1", 1, 256, 800, 128, 16, stride=8, padding=4, transposed=True, source=_HIFIGAN),
    Layer("HiFi-GAN resblock K=11 d=5", 1, 128, 6400, 128, 11, padding=25, dilation=5, source=_HIFIGAN),
    Layer("HiFi-GAN conv_post", 1, 32, 25600, 1, 7, padding=3, source=_HIFIGAN),
    Layer("Conv-TasNet encoder", 4, 1, 32024, 512, 16, stride=8, bias=False, source=_TASNET),
    Layer("Conv-TasNet 1x1", 4, 128, 4002, 512, 1, source=_TASNET),
    Layer("Conv-TasNet depthwise d=8", 4, 512, 4002, 512, 3, padding=8, dilation=8, groups=512, source=_TASNET),
    Layer("Conv-TasNet decoder", 4, 512, 4002, 1, 16, stride=8, transposed=True, source=_TASNET),
    Layer("EnCodec conv in", 1, 1, 24006, 32, 7, source=_ENCODEC),
    Layer("EnCodec down 32->64 s2", 1, 32, 24002, 64, 4, stride=2, source=_ENCODEC),
    Layer("EnCodec residual 64->32", 1, 64, 12002, 32, 3, source=_ENCODEC),
    Layer("EnCodec down 128->256 s5", 1, 128, 3005, 256, 10, stride=5, source=_ENCODEC),
    Layer("EnCodec down 256->512 s8", 1, 256, 608, 512, 16, stride=8, source=_ENCODEC),
    Layer("WaveNet dilated d=1", 1, 64, 16001, 128, 2, dilation=1, source=_WAVENET),
    Layer("WaveNet dilated d=32", 1, 64, 16032, 128, 2, dilation=32, source=_WAVENET),
    Layer("WaveNet dilated d=512", 1, 64, 16512, 128, 2, dilation=512, source=_WAVENET),
    Layer("WaveNet skip 1x1", 1, 64, 16000, 256, 1, source=_WAVENET),
    Layer("WaveNet generation step d=512", 1, 64, 2, 128, 2, step=512, source=_WAVENET),
    Layer("Text CNN K=3", 50, 300, 64, 100, 3, source=_KIM),
    Layer("Text CNN K=4", 50, 300, 64, 100, 4, source=_KIM),
    Layer("Text CNN K=5", 50, 300, 64, 100, 5, source=_KIM),
    Layer("FCN conv1", 16, 1, 150, 128, 8, padding="same", source=_FCN),
    Layer("FCN conv2", 16, 128, 150, 256, 5, padding="same", source=_FCN),
    Layer("FCN conv3", 16, 256, 150, 128, 3, padding="same", source=_FCN),
    Layer("ECG ResNet 64 same", 8, 64, 2048, 64, 16, padding="same", source=_ECG),
    Layer("ECG ResNet 128 s2", 8, 128, 2048, 128, 16, stride=2, padding=7, source=_ECG),
    Layer("Mamba-130m conv", 1, 1536, 2048, 1536, 4, padding=3, groups=1536, source=_MAMBA),
    Layer(
        "Hyena long conv", 1, 768, 2048, 768, 2048, padding=2047, groups=768, bias=False, ours="causal",
        keep=2048, source=_HYENA,
    ),
]  # fmt: skip


def suite_layers() -> list[Layer]:
    """The workloads of benchmarks/suite.py as rows of this table (``--suite``): the suite
    against every peer form this file has, OpenVINO and ONNX Runtime's 2-D form included."""
    from suite import WORKLOADS

    return [
        Layer(w.name, w.n, w.c_in, w.l_in, w.c_out, w.k, stride=w.stride, padding=w.padding,
              dilation=w.dilation, groups=w.groups, source="benchmarks/suite.py")
        for w in WORKLOADS
    ]  # fmt: skip


# --------------------------------------------------------------------------- the models


class WaveNetStack(nn.Module):
    """WaveNet's residual layers (one block, dilations 1..512) and its output head, on the
    residual channels: (N, 64, L) -> (N, 256, L) logits. Source: as ``_WAVENET``."""

    def __init__(self, residual: int = 64, skip: int = 256, layers: int = 10) -> None:
        super().__init__()
        self.dilations = [2**i for i in range(layers)]
        self.dilated = nn.ModuleList(nn.Conv1d(residual, 2 * residual, 2, dilation=d) for d in self.dilations)
        # the last layer's residual output would go nowhere: it has none
        self.residual = nn.ModuleList(nn.Conv1d(residual, residual, 1) for _ in self.dilations[1:])
        self.skip = nn.ModuleList(nn.Conv1d(residual, skip, 1) for _ in self.dilations)
        self.head = nn.Sequential(nn.ReLU(), nn.Conv1d(skip, skip, 1), nn.ReLU(), nn.Conv1d(skip, 256, 1))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        channels, skips = h.shape[1], None
        for i, (d, dilated, skip) in enumerate(zip(self.dilations, self.dilated, self.skip)):
            a = dilated(F.pad(h, (d, 0)))  # causal: d samples of left padding for K=2
            z = torch.tanh(a[:, :channels]) * torch.sigmoid(a[:, channels:])
            skips = skip(z) if skips is None else skips + skip(z)
            if i < len(self.residual):
                h = h + self.residual[i](z)
        return self.head(skips)


class TCNBlock(nn.Module):
    """Conv-TasNet's 1-D conv block (naplab's DepthConv1d, non-causal): 1x1 B->H, PReLU,
    gLN, depthwise dilated K=P, PReLU, gLN, then 1x1 H->B twice (residual and skip; the
    last block's residual output would go nowhere, so it has none)."""

    def __init__(self, b: int, h: int, p: int, dilation: int, residual: bool = True) -> None:
        super().__init__()
        self.expand = nn.Conv1d(b, h, 1)
        self.act1, self.norm1 = nn.PReLU(), nn.GroupNorm(1, h, eps=1e-8)
        self.depthwise = nn.Conv1d(h, h, p, dilation=dilation, padding=dilation * (p - 1) // 2, groups=h)
        self.act2, self.norm2 = nn.PReLU(), nn.GroupNorm(1, h, eps=1e-8)
        self.residual = nn.Conv1d(h, b, 1) if residual else None
        self.skip = nn.Conv1d(h, b, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        y = self.norm1(self.act1(self.expand(x)))
        y = self.norm2(self.act2(self.depthwise(y)))
        return (None if self.residual is None else self.residual(y)), self.skip(y)


class TasNetSeparator(nn.Module):
    """The Conv-TasNet separator (naplab's TasNet.BN + models.TCN) with ``blocks`` blocks of
    dilations 1, 2, 4, ... (the paper's best has 8 x 3): encoder frames (N, 512, T) -> the
    masks of two speakers (N, 1024, T). Source: as ``_TASNET``."""

    def __init__(self, n: int = 512, b: int = 128, h: int = 512, p: int = 3, blocks: int = 4) -> None:
        super().__init__()
        self.bottleneck = nn.Conv1d(n, b, 1, bias=False)
        self.norm = nn.GroupNorm(1, b, eps=1e-8)
        self.blocks = nn.ModuleList(TCNBlock(b, h, p, 2**i, i < blocks - 1) for i in range(blocks))
        self.output = nn.Sequential(nn.PReLU(), nn.Conv1d(b, 2 * n, 1))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        x, skips = self.norm(self.bottleneck(w)), None
        for block in self.blocks:
            residual, skip = block(x)
            x = x if residual is None else x + residual
            skips = skip if skips is None else skips + skip
        return torch.sigmoid(self.output(skips))


class ResBlock1(nn.Module):
    """HiFi-GAN's ResBlock1: for each dilation, leaky ReLU, dilated conv, leaky ReLU, conv,
    added to the input."""

    def __init__(self, channels: int, k: int, dilations: tuple[int, ...] = (1, 3, 5)) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(
            nn.Conv1d(channels, channels, k, dilation=d, padding=d * (k - 1) // 2) for d in dilations
        )
        self.convs2 = nn.ModuleList(nn.Conv1d(channels, channels, k, padding=(k - 1) // 2) for _ in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, 0.1)), 0.1))
        return x


class HiFiGANGenerator(nn.Module):
    """HiFi-GAN V1's generator cut to its first two upsamples, each followed by one
    ResBlock1 (V1 averages three, K=3, 7 and 11; this keeps the K=3 one), then conv_post:
    mel frames (N, 80, T) -> audio (N, 1, 64 T). Source: as ``_HIFIGAN``."""

    def __init__(self, mels: int = 80, channels: int = 512, rates: tuple[int, ...] = (8, 8)) -> None:
        super().__init__()
        self.conv_pre = nn.Conv1d(mels, channels, 7, padding=3)
        widths = [channels // 2**i for i in range(len(rates) + 1)]
        self.ups = nn.ModuleList(
            nn.ConvTranspose1d(widths[i], widths[i + 1], 2 * u, u, padding=u // 2)
            for i, u in enumerate(rates)
        )
        self.resblocks = nn.ModuleList(ResBlock1(width, 3) for width in widths[1:])
        self.conv_post = nn.Conv1d(widths[-1], 1, 7, padding=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(x)
        for up, resblock in zip(self.ups, self.resblocks):
            x = resblock(up(F.leaky_relu(x, 0.1)))
        return torch.tanh(self.conv_post(F.leaky_relu(x)))  # slope 0.01 here, as in the original


class FCN(nn.Module):
    """Wang 2017's fully convolutional network: three conv + BN + ReLU, global average
    pooling, linear: (N, 1, L) -> (N, classes). Source: as ``_FCN``."""

    def __init__(self, classes: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        for filters, k in ((128, 8), (256, 5), (128, 3)):
            layers += [nn.Conv1d(channels, filters, k, padding="same"), nn.BatchNorm1d(filters), nn.ReLU()]
            channels = filters
        self.blocks = nn.Sequential(*layers)
        self.head = nn.Linear(channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(x).mean(dim=-1))


@dataclasses.dataclass(frozen=True)
class Model:
    name: str
    build: Callable[[], nn.Module]
    input_shape: tuple[int, ...]


# Batch 1 (one utterance), except the FCN's training batch, to keep each model's rounds short.
MODELS = [
    Model("WaveNet stack (10 layers)", WaveNetStack, (1, 64, 16000)),
    Model("Conv-TasNet separator (4 blocks)", TasNetSeparator, (1, 512, 4002)),
    Model("HiFi-GAN generator (2 upsamples)", HiFiGANGenerator, (1, 80, 100)),
    Model("FCN", FCN, (16, 1, 150)),
]

# Implementations: columns of the tables and the --solo children, in this order.
IMPLS = ("conv1d", "conv1d.torch", "torch", "ort-1d", "ort-2d", "openvino")
LABELS = dict(zip(IMPLS, ("conv1d", "conv1d.torch", "torch", "ORT 1-D", "ORT 2-D", "OpenVINO")))
PEERS = ("torch", "ort-1d", "ort-2d", "openvino")
BACKWARD_IMPLS = ("conv1d", "conv1d.torch", "torch")
MODEL_IMPLS = ("conv1d.torch", "torch", "ort-1d", "openvino")  # ort-1d: the exported graph as it is
REFUSABLE = ("ort-1d", "ort-2d", "openvino")  # a failure to build or run is reported, not fatal
# Checks, as fractions of the largest reference value. A whole model's output compounds
# float32 rounding through its layers; its gradients also pass activation kinks (ReLU,
# PReLU, leaky ReLU), where a pre-activation within rounding of 0 takes the other slope in
# float32 than in float64 and moves every weight gradient upstream of it by about one term
# of its sum over time (measured on the Conv-TasNet separator: 9e-3 of its largest gradient
# for torch's float32 model, 3e-5 for conv1d.torch's, depending only on where the rounding
# falls). So model gradients are held to a fraction of the model's largest gradient; the
# layers' own gradients, checked at 1e-4 above, are what the convolutions compute.
LAYER_TOLERANCE, MODEL_TOLERANCE, MODEL_GRADIENT_TOLERANCE = 1e-4, 1e-3, 5e-2


# --------------------------------------------------------------------------- references and checks


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")


class References:
    """float64 results, computed once and, with a folder, shared between the --solo children."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.memory: dict[str, tuple[np.ndarray, ...]] = {}

    def get(self, key: str, compute: Callable[[], tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
        if key in self.memory:
            return self.memory[key]
        path = self.folder / f"{_slug(key)}.npz" if self.folder else None
        if path is not None and path.exists():
            with np.load(path) as saved:
                arrays = tuple(saved[f"arr_{i}"] for i in range(len(saved.files)))
        else:
            arrays = compute()
            if path is not None:
                np.savez(path, *arrays)
        self.memory[key] = arrays
        return arrays


def _arrays(layer: Layer) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """The row's input, weight, bias and output gradient (float32, seeded)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((layer.n, layer.c_in, layer.l_in), dtype=np.float32)
    fan_in = layer.weight_shape[1] * layer.k
    weight = (rng.standard_normal(layer.weight_shape) / np.sqrt(fan_in)).astype(np.float32)
    bias = rng.standard_normal(layer.c_out, dtype=np.float32) if layer.bias else None
    grad_output = rng.standard_normal((layer.n, layer.c_out, layer.l_out), dtype=np.float32)
    return x, weight, bias, grad_output


def _fft_correlate(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, pads: tuple[int, int]):
    """A depthwise cross-correlation through FFTs: with xp the padded input and K taps,
    y[n, c, t] = b[c] + sum_j w[c, 0, j] xp[n, c, t + j]. The linear convolution of xp with
    the flipped kernel, full[s] = sum_m xp[m] w[c, 0, K-1-s+m], gives y[t] = full[t + K - 1]."""
    xp = F.pad(x, pads)
    length, k = xp.shape[-1], w.shape[-1]
    size = length + k - 1
    full = torch.fft.irfft(torch.fft.rfft(xp, size) * torch.fft.rfft(w[:, 0].flip(-1), size), size)
    y = full[..., k - 1 : length]
    return y if b is None else y + b[:, None]


def _conv(layer: Layer, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """The layer as torch.nn computes it (float64 here), with the outputs the network keeps."""
    if layer.transposed:
        y = F.conv_transpose1d(x, w, b, layer.stride, layer.padding, 0, layer.groups, layer.dilation)
    elif layer.k >= 256 and layer.groups == layer.c_in == layer.c_out and layer.stride == layer.dilation == 1:
        y = _fft_correlate(x, w, b, layer.pads)
    else:
        y = F.conv1d(F.pad(x, layer.pads), w, b, layer.stride, 0, layer.dilation, layer.groups)
    return y[..., : layer.keep] if layer.keep else y


def _layer_reference(layer: Layer, backward: bool) -> tuple[np.ndarray, ...]:
    """float64 output, or (grad_input, grad_weight) for the row's output gradient."""
    x, weight, bias, grad_output = _arrays(layer)
    xt, wt = (torch.from_numpy(a.astype(np.float64)).requires_grad_(backward) for a in (x, weight))
    bt = None if bias is None else torch.from_numpy(bias.astype(np.float64))
    y = _conv(layer, xt, wt, bt)
    if not backward:
        return (y.detach().numpy(),)
    y.backward(torch.from_numpy(grad_output.astype(np.float64)))
    return xt.grad.numpy(), wt.grad.numpy()


def _as_numpy(a: Any) -> np.ndarray:
    return a.detach().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def _verify(
    row: str,
    impl: str,
    got: Any,
    refs: tuple[np.ndarray, ...],
    names: list[str],
    tolerance: float,
    against_largest: bool = False,
) -> None:
    """Stop the run unless every result matches its float64 reference within ``tolerance``
    of that reference's largest value, or with ``against_largest``, of the largest value of
    all the references. A result that is zero but for rounding (the gradient of a conv's
    bias before BatchNorm) is always held to ``tolerance`` of the largest of all."""
    got = got if isinstance(got, (tuple, list)) else (got,)
    largest = max(float(np.abs(ref).max()) for ref in refs)
    for name, value, ref in zip(names, got, refs):
        value = _as_numpy(value)
        scale = largest if against_largest else max(float(np.abs(ref).max()), tolerance * largest)
        scale = scale or 1.0
        error = float(np.abs(value - ref).max()) / scale if value.shape == ref.shape else float("inf")
        if not error < tolerance:
            raise SystemExit(
                f"{row}: {LABELS.get(impl, impl)} computed a different {name}: shape {value.shape} "
                f"(reference {ref.shape}), largest error {error:.2e} of the largest reference value"
                f"{' of all' if against_largest else ''} (tolerance {tolerance:.0e})."
            )


# --------------------------------------------------------------------------- implementations


def _keep(y: Any, layer: Layer) -> Any:
    return y[..., : layer.keep] if layer.keep else y


def _numpy_layer(layer: Layer, weight: np.ndarray, bias: np.ndarray | None, **changes: Any):
    """conv1d's NumPy layer holding the row's weights (``changes`` override options)."""
    options = {
        "stride": layer.stride,
        "padding": layer.ours or layer.padding,
        "dilation": layer.dilation,
        "groups": layer.groups,
        "bias": layer.bias,
        "rng": 0,
        **changes,
    }
    cls = conv1d.ConvTranspose1d if layer.transposed else conv1d.Conv1d
    module = cls(layer.c_in, layer.c_out, layer.k, **options)
    module.weight[...] = weight
    if bias is not None:
        module.bias[...] = bias
    return module


def _torch_module(layer: Layer, weight: np.ndarray, bias: np.ndarray | None, ours: bool) -> nn.Module:
    """conv1d.torch's module (``ours``) or torch.nn's, holding the row's weights."""
    family = conv1d.torch if ours else nn
    cls = family.ConvTranspose1d if layer.transposed else family.Conv1d
    padding = (layer.ours or layer.padding) if ours else layer.padding
    module = cls(
        layer.c_in,
        layer.c_out,
        layer.k,
        stride=layer.stride,
        padding=padding,
        dilation=layer.dilation,
        groups=layer.groups,
        bias=layer.bias,
    )
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(weight))
        if bias is not None:
            module.bias.copy_(torch.from_numpy(bias))
    return module


def _onnx_layer(layer: Layer, weight: np.ndarray, bias: np.ndarray | None, two_d: bool) -> bytes:
    """A one-node ONNX graph of the layer, weights as initializers (built with onnx.helper, as
    suite.py's); ``two_d``: a 2-D node with a 1 x K kernel on input (N, C, 1, L)."""
    from onnx import TensorProto, helper, numpy_helper

    left, right = (layer.padding, layer.padding) if layer.transposed else layer.pads
    attributes: dict[str, Any] = dict(
        kernel_shape=[layer.k], strides=[layer.stride], pads=[left, right], dilations=[layer.dilation]
    )
    shape = [layer.n, layer.c_in, layer.l_in]
    if two_d:
        attributes = {name: [1 if name != "pads" else 0, *value] for name, value in attributes.items()}
        attributes["pads"] = [0, left, 0, right]  # ONNX order: all the begins, then all the ends
        weight, shape = weight[:, :, None, :], [layer.n, layer.c_in, 1, layer.l_in]
    initializers = [numpy_helper.from_array(np.ascontiguousarray(weight), "w")]
    if bias is not None:
        initializers.append(numpy_helper.from_array(bias, "b"))
    node = helper.make_node(
        "ConvTranspose" if layer.transposed else "Conv",
        ["x", "w"] + (["b"] if bias is not None else []),
        ["y"],
        group=layer.groups,
        **attributes,
    )
    graph = helper.make_graph(
        [node],
        "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    return model.SerializeToString()


def _ort_run(model: bytes) -> Callable[[np.ndarray], np.ndarray]:
    """ONNX Runtime on ``model``'s first input and output (threads sleep when idle, except solo)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = THREADS
    if not SOLO:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0]


def _openvino_run(model: bytes) -> Callable[[np.ndarray], np.ndarray]:
    """OpenVINO's CPU plugin in float32 on an ONNX model; arrays shared, not copied, both ways."""
    import openvino

    core = openvino.Core()
    compiled = core.compile_model(core.read_model(model), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    request = compiled.create_infer_request()

    def run(x: np.ndarray, _alive: tuple = (core, compiled)) -> np.ndarray:  # keeps them alive
        request.infer({0: x}, share_inputs=True, share_outputs=True)
        return request.get_output_tensor(0).data

    return run


def layer_forward(impl: str, layer: Layer, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None):
    """One call of the row's forward through ``impl``, as a function of nothing."""
    if impl == "conv1d" and layer.step:
        # The causal layer with the row's dilation, streamed: first the history whose last
        # sample with the one timed makes the K-sample window x, then one sample per call.
        span = (layer.k - 1) * layer.step + 1
        history = np.zeros((layer.n, layer.c_in, span), np.float32)
        history[..., :: layer.step] = x
        stream = conv1d.StreamingConv1d(
            _numpy_layer(layer, weight, bias, padding="causal", dilation=layer.step).eval()
        )
        stream(history[..., :-1])
        sample = history[..., -1:].copy()
        return lambda: stream(sample)
    if impl == "conv1d":
        module = _numpy_layer(layer, weight, bias).eval()
        return lambda: _keep(module(x), layer)
    if impl in ("conv1d.torch", "torch"):
        module, xt = _torch_module(layer, weight, bias, ours=impl == "conv1d.torch"), torch.from_numpy(x)

        def run() -> torch.Tensor:
            with torch.no_grad():
                return _keep(module(xt), layer)

        return run
    two_d = impl == "ort-2d"
    run = (_openvino_run if impl == "openvino" else _ort_run)(_onnx_layer(layer, weight, bias, two_d))
    if two_d:
        x4 = x.reshape(layer.n, layer.c_in, 1, layer.l_in)
        return lambda: _keep(run(x4)[:, :, 0], layer)
    return lambda: _keep(run(x), layer)


def layer_backward(
    impl: str,
    layer: Layer,
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None,
    grad_output: np.ndarray,
):
    """One forward + backward of the row through ``impl``, returning (grad_input, grad_weight)."""
    if impl == "conv1d":
        module = _numpy_layer(layer, weight, bias)

        def run() -> tuple[np.ndarray, np.ndarray]:
            module(x)
            module.zero_grad()
            return module.backward(grad_output), module.weight_grad

        return run
    module = _torch_module(layer, weight, bias, ours=impl == "conv1d.torch")
    xt, gyt = torch.from_numpy(x.copy()).requires_grad_(True), torch.from_numpy(grad_output)

    def run() -> tuple[torch.Tensor, torch.Tensor]:
        xt.grad = None
        module.zero_grad()
        _keep(module(xt), layer).backward(gyt)
        return xt.grad, module.weight.grad

    return run


def _onnx_model(model: nn.Module, x: torch.Tensor) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the exporter's notices (it is the older one; shape inference)
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (x,), buffer, dynamo=False, input_names=["x"], output_names=["y"], opset_version=17
        )
    return buffer.getvalue()


def _seeded(spec: Model) -> nn.Module:
    torch.manual_seed(0)
    return spec.build()


def _model_inputs(spec: Model, references: References) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(spec.input_shape, dtype=np.float32)
    (y,) = _model_reference(spec, references, backward=False)
    return x, rng.standard_normal(y.shape, dtype=np.float32)


def _model_reference(spec: Model, references: References, backward: bool) -> tuple[np.ndarray, ...]:
    """float64 output (eval mode), or the input's and every parameter's gradient (train mode)."""

    def compute() -> tuple[np.ndarray, ...]:
        model = _seeded(spec).double().train(backward)
        x = np.random.default_rng(0).standard_normal(spec.input_shape, dtype=np.float32)
        xt = torch.from_numpy(x.astype(np.float64)).requires_grad_(backward)
        if not backward:
            with torch.no_grad():
                return (model(xt).numpy(),)
        _, grad_output = _model_inputs(spec, references)
        model(xt).backward(torch.from_numpy(grad_output.astype(np.float64)))
        return (xt.grad.numpy(), *(p.grad.numpy() for p in model.parameters()))

    return references.get(f"{spec.name} {'backward' if backward else 'forward'}", compute)


def model_forward(impl: str, spec: Model, x: np.ndarray):
    model = _seeded(spec).eval()
    if impl == "conv1d.torch":
        model = conv1d.torch.convert(model)
    xt = torch.from_numpy(x)
    if impl in ("ort-1d", "openvino"):
        run = (_openvino_run if impl == "openvino" else _ort_run)(_onnx_model(model, xt))
        return lambda: run(x)

    def forward() -> torch.Tensor:
        with torch.no_grad():
            return model(xt)

    return forward


def model_backward(impl: str, spec: Model, x: np.ndarray, grad_output: np.ndarray):
    model = _seeded(spec).train()
    if impl == "conv1d.torch":
        model = conv1d.torch.convert(model)
    xt, gyt = torch.from_numpy(x.copy()).requires_grad_(True), torch.from_numpy(grad_output)

    def run() -> list[torch.Tensor]:
        xt.grad = None
        model.zero_grad()
        model(xt).backward(gyt)
        return [xt.grad, *(p.grad for p in model.parameters())]

    return run


# --------------------------------------------------------------------------- timing


def _seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@dataclasses.dataclass
class Settings:
    reps: int  # most rounds per row
    budget: float  # seconds of timed rounds per row, about
    min_rounds: int


def measure(impls: dict[str, Callable[[], object]], settings: Settings) -> dict[str, float]:
    """Median seconds per call of each (checked, hence warm) implementation, interleaved."""
    once = {name: _seconds(fn) for name, fn in impls.items()}
    inner = {name: max(1, min(200, int(1e-3 / max(t, 1e-7)))) for name, t in once.items()}
    per_round = sum(once[name] * inner[name] for name in impls)
    rounds = max(settings.min_rounds, min(settings.reps, int(settings.budget / max(per_round, 1e-9))))

    def repeated(fn: Callable[[], object], times: int) -> Callable[[], None]:
        def run() -> None:
            for _ in range(times):
                fn()

        return run

    medians = interleaved({name: repeated(fn, inner[name]) for name, fn in impls.items()}, rounds)
    return {name: medians[name] / inner[name] for name in impls}


Results = dict[str, dict[str, dict[str, float]]]  # section -> row -> implementation -> seconds
SECTIONS = ("forward", "backward", "models", "models backward")


def _checked(
    row: str,
    wanted: list[str],
    build: Callable[[str], Callable[[], object]],
    refs: tuple[np.ndarray, ...],
    names: list[str],
    tolerance: float,
    notes: list[str],
    against_largest: bool = False,
) -> dict[str, Callable[[], object]]:
    """Build each implementation in ``wanted`` and check its first result; peers that cannot
    build or run the row are left out with a note, wrong results stop the run."""
    impls = {}
    for impl in wanted:
        try:
            fn = build(impl)
            got = fn()
        except Exception as error:
            if impl not in REFUSABLE:
                raise
            notes.append(
                f"{LABELS[impl]} on {row}: {type(error).__name__}: {str(error).splitlines()[0][:200]}"
            )
            print(f"  {notes[-1]}", file=sys.stderr)
            continue
        _verify(row, impl, got, refs, names, tolerance, against_largest)
        impls[impl] = fn
    return impls


def run(
    layers: list[Layer],
    models: list[Model],
    wanted: tuple[str, ...],
    settings: Settings,
    backward: bool,
    references: References,
) -> tuple[Results, list[str]]:
    """Check, then time, the implementations in ``wanted`` (interleaved when several) on every row."""
    results: Results = {section: {} for section in SECTIONS}
    notes: list[str] = []

    def record(section: str, row: str, impls: dict[str, Callable[[], object]]) -> None:
        if impls:
            results[section][row] = measure(impls, settings)
            times = ", ".join(f"{LABELS[i]} {s * 1e3:.3g} ms" for i, s in results[section][row].items())
            print(f"  {section}: {row}: {times}", file=sys.stderr)

    backward_impls = [impl for impl in wanted if impl in BACKWARD_IMPLS]
    for layer in layers:
        x, weight, bias, grad_output = _arrays(layer)
        refs = references.get(f"{layer.name} forward", functools.partial(_layer_reference, layer, False))
        build = functools.partial(layer_forward, layer=layer, x=x, weight=weight, bias=bias)
        impls = _checked(layer.name, list(wanted), build, refs, ["output"], LAYER_TOLERANCE, notes)
        record("forward", layer.name, impls)
        if backward and backward_impls and not layer.step:
            refs = references.get(f"{layer.name} backward", functools.partial(_layer_reference, layer, True))
            build = functools.partial(
                layer_backward, layer=layer, x=x, weight=weight, bias=bias, grad_output=grad_output
            )
            names = ["grad_input", "grad_weight"]
            impls = _checked(layer.name, backward_impls, build, refs, names, LAYER_TOLERANCE, notes)
            record("backward", layer.name, impls)
    model_impls = [impl for impl in wanted if impl in MODEL_IMPLS]
    for spec in models if model_impls else []:
        x, grad_output = _model_inputs(spec, references)
        refs = _model_reference(spec, references, backward=False)
        build = functools.partial(model_forward, spec=spec, x=x)
        impls = _checked(spec.name, model_impls, build, refs, ["output"], MODEL_TOLERANCE, notes)
        record("models", spec.name, impls)
        chosen = [impl for impl in model_impls if impl in BACKWARD_IMPLS]
        if backward and chosen:
            refs = _model_reference(spec, references, backward=True)
            names = ["grad_input"] + [f"gradient of {name}" for name, _ in _seeded(spec).named_parameters()]
            build = functools.partial(model_backward, spec=spec, x=x, grad_output=grad_output)
            impls = _checked(spec.name, chosen, build, refs, names, MODEL_GRADIENT_TOLERANCE, notes, True)
            record("models backward", spec.name, impls)
    return results, notes


def solo(args: argparse.Namespace) -> tuple[Results, list[str]]:
    """Each implementation alone in a fresh process (default thread settings), in turn."""
    results: Results = {section: {} for section in SECTIONS}
    notes: list[str] = []
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | {"CONV1D_BENCH_SOLO": "1"}
    with tempfile.TemporaryDirectory() as folder:
        for impl in IMPLS:
            print(f"{LABELS[impl]} alone:", file=sys.stderr)
            command = [sys.executable, __file__, "--solo-impl", impl, "--references", folder]
            command += ["--reps", str(args.reps), "--budget", str(args.budget)]
            for flag in ("quick", "no_backward", "no_models", "suite"):
                if getattr(args, flag):
                    command.append("--" + flag.replace("_", "-"))
            if args.only:
                command += ["--only", args.only]
            done = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True)
            if done.returncode != 0:
                raise SystemExit(
                    f"the solo run of {LABELS[impl]} failed (exit code {done.returncode}); see above."
                )
            child = json.loads(done.stdout.strip().splitlines()[-1])
            for section in SECTIONS:
                for row, times in child["results"][section].items():
                    results[section].setdefault(row, {}).update(times)
            notes += child["notes"]
    return results, notes


# --------------------------------------------------------------------------- output


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    ms = seconds * 1e3
    return f"{ms:.3f}" if ms < 1 else f"{ms:.2f}" if ms < 100 else f"{ms:.0f}"


def _ratio(theirs: float | None, ours: float | None) -> float | None:
    return theirs / ours if theirs is not None and ours is not None else None


def _x(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio:.2f}x"


def _geomean(values: list[float | None]) -> str:
    present = [v for v in values if v is not None]
    return _x(float(np.exp(np.mean(np.log(present))))) if present else "n/a"


def _best(times: dict[str, float], among: tuple[str, ...]) -> float | None:
    present = [times[i] for i in among if i in times]
    return min(present) if present else None


def _algorithm(layer: Layer) -> str:
    """What conv1d's planner chooses for the row (only ``.algorithm`` of the plan is read)."""
    try:
        if layer.step:  # the stream computes the output from (K-1)*d + 1 samples of context
            shape = (layer.n, layer.c_in, (layer.k - 1) * layer.step + 1)
            plan = conv1d.plan(shape, layer.weight_shape, dilation=layer.step)
        else:
            plan = conv1d.plan(
                (layer.n, layer.c_in, layer.l_in),
                layer.weight_shape,
                layer.stride,
                layer.ours or layer.padding,
                layer.dilation,
                layer.groups,
                transposed=layer.transposed,
            )
        return str(getattr(plan.algorithm, "value", plan.algorithm))
    except Exception as error:  # the planner's interface may change; the timings stand
        return f"? ({type(error).__name__})"


def layer_tables(results: Results, layers: list[Layer]) -> list[str]:
    lines = [
        "Forward, float32, median ms; ratios are the other's time over conv1d's (> 1: conv1d is faster):",
        "",
        "| layer | shape | algorithm | conv1d | conv1d.torch | torch | ORT 1-D | ORT 2-D | OpenVINO "
        "| conv1d vs torch | conv1d vs best peer | conv1d.torch vs torch | conv1d.torch vs best peer |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    columns: list[list[float | None]] = [[], [], [], []]
    for layer in layers:
        times = results["forward"].get(layer.name)
        if not times:
            continue
        best = _best(times, PEERS)
        ratios = [
            _ratio(times.get("torch"), times.get(ours)) if vs == "torch" else _ratio(best, times.get(ours))
            for ours in ("conv1d", "conv1d.torch")
            for vs in ("torch", "best")
        ]
        for column, ratio in zip(columns, ratios):
            column.append(ratio)
        cells = [_ms(times.get(impl)) for impl in IMPLS] + [_x(r) for r in ratios]
        lines.append(
            f"| {layer.name} | {layer.describe()} | {_algorithm(layer)} | " + " | ".join(cells) + " |"
        )
    lines.append("| geometric mean | | | | | | | | | " + " | ".join(_geomean(c) for c in columns) + " |")
    rows = [layer for layer in layers if layer.name in results["backward"]]
    if rows:
        lines += [
            "",
            "Forward + backward (input, weight and bias gradients), float32, median ms:",
            "",
            "| layer | conv1d | conv1d.torch | torch | conv1d vs torch | conv1d.torch vs torch |",
            "|---|---|---|---|---|---|",
        ]
        columns = [[], []]
        for layer in rows:
            times = results["backward"][layer.name]
            ratios = [_ratio(times.get("torch"), times.get(ours)) for ours in ("conv1d", "conv1d.torch")]
            for column, ratio in zip(columns, ratios):
                column.append(ratio)
            cells = [_ms(times.get(impl)) for impl in BACKWARD_IMPLS] + [_x(r) for r in ratios]
            lines.append(f"| {layer.name} | " + " | ".join(cells) + " |")
        lines.append("| geometric mean | | | | " + " | ".join(_geomean(c) for c in columns) + " |")
    sources = list(dict.fromkeys(layer.source for layer in layers if layer.name in results["forward"]))
    lines += ["", "Shapes, from the reference code:", ""] + [f"- {source}." for source in sources]
    return lines


def model_tables(results: Results, models: list[Model]) -> list[str]:
    rows = [spec for spec in models if spec.name in results["models"]]
    if not rows:
        return []
    lines = [
        "Whole models in torch, as written (torch) and after conv1d.torch.convert (conv1d.torch); "
        "ONNX Runtime and OpenVINO run their torch.onnx export. Forward, float32, median ms:",
        "",
        "| model | input | conv1d.torch | torch | ONNX Runtime | OpenVINO | vs torch | vs best peer |",
        "|---|---|---|---|---|---|---|---|",
    ]
    columns: list[list[float | None]] = [[], []]
    for spec in rows:
        times = results["models"][spec.name]
        ours = times.get("conv1d.torch")
        ratios = [_ratio(times.get("torch"), ours), _ratio(_best(times, PEERS), ours)]
        for column, ratio in zip(columns, ratios):
            column.append(ratio)
        cells = [_ms(times.get(impl)) for impl in MODEL_IMPLS] + [_x(r) for r in ratios]
        shape = "×".join(map(str, spec.input_shape))
        lines.append(f"| {spec.name} | {shape} | " + " | ".join(cells) + " |")
    lines.append("| geometric mean | | | | | | " + " | ".join(_geomean(c) for c in columns) + " |")
    rows = [spec for spec in models if spec.name in results["models backward"]]
    if rows:
        lines += [
            "",
            "Forward + backward (the input's and every parameter's gradient, train mode), median ms:",
            "",
            "| model | conv1d.torch | torch | vs torch |",
            "|---|---|---|---|",
        ]
        ratios = []
        for spec in rows:
            times = results["models backward"][spec.name]
            ratios.append(_ratio(times.get("torch"), times.get("conv1d.torch")))
            cells = [_ms(times.get("conv1d.torch")), _ms(times.get("torch")), _x(ratios[-1])]
            lines.append(f"| {spec.name} | " + " | ".join(cells) + " |")
        lines.append(f"| geometric mean | | | {_geomean(ratios)} |")
    return lines


def versions() -> str:
    """The machine and every library's version."""
    extra = []
    for module, label in (("scipy", "SciPy"), ("numba", "Numba"), ("openvino", "OpenVINO")):
        try:
            version = __import__(module).__version__
            extra.append(f"{label} {version.split('-')[0]}")
        except ImportError:
            extra.append(f"{label} not installed")
    return f"{machine()}; " + ", ".join(extra)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--solo", action="store_true", help="each library alone in its own process (the headline)"
    )
    parser.add_argument("--reps", type=int, default=15, help="rounds per row at most (fewer for slow rows)")
    parser.add_argument("--budget", type=float, default=20.0, help="seconds of timed rounds per row, about")
    parser.add_argument("--only", help="run the layers and models whose name contains this text")
    parser.add_argument("--quick", action="store_true", help="a smoke test: at most two rounds per row")
    parser.add_argument("--no-backward", action="store_true", help="skip forward+backward")
    parser.add_argument("--no-models", action="store_true", help="skip the whole models")
    parser.add_argument(
        "--suite",
        action="store_true",
        help="the ten workloads of benchmarks/suite.py instead of the zoo's layers",
    )
    parser.add_argument("--write", action="store_true", help="replace the zoo tables in BENCHMARKS.md")
    parser.add_argument("--solo-impl", choices=IMPLS, help=argparse.SUPPRESS)
    parser.add_argument("--references", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    torch.set_num_threads(THREADS)
    chosen = (lambda name: args.only.lower() in name.lower()) if args.only else (lambda name: True)
    layers = [layer for layer in (suite_layers() if args.suite else LAYERS) if chosen(layer.name)]
    models = [] if args.no_models or args.suite else [spec for spec in MODELS if chosen(spec.name)]
    if not layers and not models:
        raise SystemExit(f"no layer or model name contains {args.only!r}.")
    settings = Settings(2, 1.0, 1) if args.quick else Settings(args.reps, args.budget, 3)
    references = References(args.references)
    if args.solo_impl:  # a child of --solo: print the results as JSON, last line
        results, notes = run(layers, models, (args.solo_impl,), settings, not args.no_backward, references)
        print(json.dumps({"results": results, "notes": notes}))
        return 0
    if args.solo:
        results, notes = solo(args)
        mode = "each library alone in its own process (default thread settings)"
    else:
        results, notes = run(layers, models, IMPLS, settings, not args.no_backward, references)
        mode = "interleaved in one process, idle thread pools sleeping"
    header = [f"Machine: {versions()}.", "", f"Timed {mode}.", ""]
    layer_part, model_part = layer_tables(results, layers), model_tables(results, models)
    if notes:
        layer_part += ["", "Not available:", ""] + [f"- {note}" for note in notes]
    text = "\n".join(header + layer_part + ([""] + model_part if model_part else [])) + "\n"
    print(text)
    if args.write and args.suite:
        write_section("suite-peers-solo" if args.solo else "suite-peers-interleaved", text)
    elif args.write:
        if args.solo:
            write_section(
                "zoo-solo",
                "\n".join(header + layer_part),
                "## Layer zoo\n\n`python benchmarks/zoo.py --solo --write` regenerates this and the "
                "models table below; `python benchmarks/zoo.py --write` the interleaved tables after them.",
            )
            if model_part:
                write_section("zoo-models", "\n".join(header + model_part), "### Layer zoo: whole models")
        else:
            write_section("zoo-interleaved", text, "### Layer zoo, interleaved in one process")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
