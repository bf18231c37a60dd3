"""The examples run and check themselves; here with small settings so they stay quick."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
sys.path.insert(0, str(EXAMPLES))

import wavenet


def test_streamed_wavenet_generation_equals_the_offline_network_on_the_same_input() -> None:
    net = wavenet.WaveNet(blocks=2, top_dilation=16, residual=8, skip=16, seed=3)
    gen = wavenet.Generator(net)
    fed, logits = wavenet.generate(gen, 120, np.random.default_rng(3))
    assert fed.shape == (1, 120) and logits.shape == (1, 256, 120)
    offline = net.forward(wavenet.one_hot(fed))
    error = np.abs(offline - logits).max()
    assert error <= 1e-5 * max(1.0, np.abs(offline).max()), f"streamed logits differ by {error:.2e}"
    # the samples were really drawn from the logits (not all the same class)
    assert len(np.unique(fed)) > 10


def test_the_generator_only_looks_back_its_receptive_field() -> None:
    net = wavenet.WaveNet(blocks=1, top_dilation=8, residual=4, skip=8, seed=1)
    for conv in net._convs():
        conv.to(np.float64)  # the oldest sample's influence is small (~1e-6): look in float64
    assert net.receptive_field == 2 + 1 + 2 + 4 + 8
    classes = np.random.default_rng(0).integers(0, 256, (1, 40))

    def last(window: int) -> np.ndarray:
        return net.forward(wavenet.one_hot(classes[:, -window:]).astype(np.float64))[:, :, -1]

    full = last(40)
    np.testing.assert_allclose(last(net.receptive_field), full, rtol=1e-12, atol=1e-12)
    difference = np.abs(last(net.receptive_field - 1) - full).max()
    assert difference > 1e-9, f"one sample less must change the output (changed by {difference:.1e})"


def test_the_readme_command_runs_and_reports_a_match() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "wavenet.py"),
            "--samples",
            "40",
            "--blocks",
            "1",
            "--top-dilation",
            "32",
            "--recompute-steps",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "-> match" in done.stdout and "faster" in done.stdout, done.stdout


def test_the_long_signal_example_runs_on_a_cluster_and_checks_itself(tmp_path: Path) -> None:
    """A small signal, chunks (2**11) shorter than the FIR bank's halo (4095): both jobs run
    file to file on a two-worker LocalCluster and match the in-memory call."""
    done = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "long_signal.py"),
            "--samples",
            "2**18",
            "--chunk",
            "2**11",
            "--compare",
            "2**16",
            "--no-progress",
            "--dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all outputs match the in-memory call" in done.stdout, done.stdout
    assert done.stdout.count("peak RSS per worker") == 2, done.stdout
