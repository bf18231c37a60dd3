"""The FCN training example (examples/fcn_ucr.py) at CI size: shipped data, a short run that
learns, batch-norm folding, and NumPy-only inference equal to torch's predictions."""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers import assert_matches, one_thread_each
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import ConvCase, conv_cases, make_arrays, seeds

import conv1d

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DATA = EXAMPLES / "data" / "ucr"
sys.path.insert(0, str(EXAMPLES))

import fcn_ucr  # after the path insert

SHAPES = {"ItalyPowerDemand": ((67, 24), (1029, 24)), "GunPoint": ((50, 150), (150, 150))}
EPOCHS = 8  # ItalyPowerDemand: ~0.15 s an epoch


one_torch_thread = pytest.fixture(autouse=True, scope="module")(
    one_thread_each
)  # see helpers.one_thread_each


# --------------------------------------------------------------------------- 1. the shipped data


def test_shipped_files_match_their_checksums() -> None:
    listed = {}
    for line in (DATA / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        listed[name] = digest
    assert set(listed) == {p.name for p in DATA.glob("*.npz")} == {f"{n}.npz" for n in SHAPES}, listed
    for name, digest in listed.items():
        actual = hashlib.sha256((DATA / name).read_bytes()).hexdigest()
        assert actual == digest, f"{name}: sha256 {actual}, SHA256SUMS says {digest}"


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_shipped_data_shapes_labels_and_dtypes(name: str) -> None:
    data = fcn_ucr.load(name)
    assert sorted(data) == ["x_test", "x_train", "y_test", "y_train"]
    (train_shape, test_shape) = SHAPES[name]
    for split, shape in (("train", train_shape), ("test", test_shape)):
        x, y = data[f"x_{split}"], data[f"y_{split}"]
        assert x.shape == shape and x.dtype == np.float32, (
            f"{name} x_{split}: {x.shape} {x.dtype}, expected {shape} float32"
        )
        assert y.shape == shape[:1], f"{name} y_{split}: {y.shape}"
        assert set(np.unique(y).tolist()) == {0, 1}, f"{name} y_{split} labels {np.unique(y)}"
        assert np.isfinite(x).all(), f"{name} x_{split} has non-finite values"
        # NOTICE.md: z-normalised per series
        assert np.abs(x.mean(axis=1)).max() < 1e-3 and np.abs(x.std(axis=1) - 1).max() < 0.05, (
            f"{name} x_{split} is not z-normalised per series"
        )


# --------------------------------------------------------------------------- 2. a CI-sized run


@pytest.fixture(scope="module")
def italy_run() -> tuple[Any, torch.nn.Module]:
    """8 epochs of the conv1d-backed FCN on ItalyPowerDemand (the lowest-loss model, eval mode)."""
    return fcn_ucr.train("ItalyPowerDemand", "conv1d", seed=0, epochs=EPOCHS, progress=False)


def test_a_short_training_run_learns(italy_run: tuple[Any, torch.nn.Module]) -> None:
    run, model = italy_run
    # The first epoch of the same seed is the first epoch of the long run (same initial
    # weights and batch order), so a 1-epoch run gives its loss.
    first, _ = fcn_ucr.train("ItalyPowerDemand", "conv1d", seed=0, epochs=1, progress=False)
    assert run.epochs == EPOCHS and run.backend == "conv1d" and 1 <= run.best_epoch <= EPOCHS
    assert math.isfinite(first.best_train_loss) and math.isfinite(run.best_train_loss)
    assert run.best_train_loss < 0.8 * first.best_train_loss, (
        f"lowest training loss {run.best_train_loss:.4f} vs first epoch's {first.best_train_loss:.4f}"
    )
    assert run.best_train_loss < 0.5 * math.log(2), (
        f"lowest training loss {run.best_train_loss:.4f}, chance ln 2"
    )
    assert run.accuracy_at_best > 0.6, f"test accuracy {run.accuracy_at_best:.3f} at epoch {run.best_epoch}"
    assert 0.0 < run.accuracy_last <= 1.0 and run.seconds_per_epoch > 0
    convs = [m for m in model.blocks if hasattr(m, "kernel_size")]
    assert len(convs) == 3 and all(type(m).__module__ == "conv1d.torch" for m in convs), convs


# --------------------------------------------------------------------------- 3. fold_batch_norm


@settings(max_examples=25, deadline=None)
@given(
    case=conv_cases(
        batch=st.integers(1, 3), padding_forms=("int", "valid", "same"), layouts=("NCL",), strided_same=False
    ),
    seed=seeds,
    eps=st.sampled_from([1e-5, 1e-3, 0.1]),
)
def test_fold_batch_norm_is_exact(case: ConvCase, seed: int, eps: float) -> None:
    """Conv1d then BatchNorm1d (eval, random running statistics and affine parameters) equals
    one conv1d.conv1d with the folded weight and bias."""
    a = make_arrays(case, np.float64, seed)
    rng = np.random.default_rng(seed + 1)
    conv = torch.nn.Conv1d(
        case.c_in,
        case.c_out,
        case.k,
        stride=case.stride,
        padding=case.padding,
        dilation=case.dilation,
        groups=case.groups,
        bias=case.bias,
        padding_mode=case.padding_mode,
        dtype=torch.float64,
    )
    norm = torch.nn.BatchNorm1d(case.c_out, eps=eps, dtype=torch.float64).eval()
    stats = {
        "mean": rng.uniform(-1, 1, case.c_out),
        "var": rng.uniform(0.2, 3, case.c_out),
        "gamma": rng.uniform(0.5, 2, case.c_out) * rng.choice([-1, 1], case.c_out),
        "beta": rng.uniform(-1, 1, case.c_out),
    }
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(a.weight))
        if a.bias is not None:
            conv.bias.copy_(torch.from_numpy(a.bias))
        norm.running_mean.copy_(torch.from_numpy(stats["mean"]))
        norm.running_var.copy_(torch.from_numpy(stats["var"]))
        norm.weight.copy_(torch.from_numpy(stats["gamma"]))
        norm.bias.copy_(torch.from_numpy(stats["beta"]))
        expected = norm(conv(torch.from_numpy(a.input))).numpy()
    w, b = fcn_ucr.fold_batch_norm(
        a.weight, a.bias, stats["mean"], stats["var"], stats["gamma"], stats["beta"], eps
    )
    assert w.shape == a.weight.shape and b.shape == (case.c_out,), f"folded shapes {w.shape}, {b.shape}"
    actual = conv1d.conv1d(a.input, w, b, **case.options)
    assert_matches(actual, expected, np.float64, f"folded conv+BN {case} eps={eps}")


def test_fold_batch_norm_by_hand() -> None:
    """One channel, one tap: y = ((w x + b) - mean) / sqrt(var + eps) * gamma + beta."""
    w, b = fcn_ucr.fold_batch_norm(
        np.array([[[2.0]]]),
        np.array([1.0]),
        np.array([3.0]),
        np.array([4.0 - 0.25]),
        np.array([5.0]),
        np.array([-1.0]),
        0.25,
    )
    # s = 5 / sqrt(4) = 2.5: w' = 5, b' = (1 - 3) * 2.5 - 1 = -6
    assert w.tolist() == [[[5.0]]] and b.tolist() == [-6.0], (w, b)
    w, b = fcn_ucr.fold_batch_norm(
        np.array([[[2.0]]]), None, np.array([3.0]), np.array([3.75]), np.array([5.0]), np.array([-1.0]), 0.25
    )
    assert w.tolist() == [[[5.0]]] and b.tolist() == [-8.5], "no bias: b' = -mean * s + beta"


# --------------------------------------------------------------------------- 4. NumPy-only inference


NUMPY_ONLY = textwrap.dedent("""
    import sys
    sys.modules["torch"] = None  # any `import torch` now raises ImportError
    try:
        import torch
    except ImportError:
        pass
    else:
        raise SystemExit("torch is importable")
    examples, model_path, out_path = sys.argv[1:]
    sys.path.insert(0, examples)
    import numpy as np
    import conv1d
    import fcn_ucr
    with np.load(model_path) as f:
        arrays = {key: f[key] for key in f.files}
    data = fcn_ucr.load("ItalyPowerDemand")
    logits = fcn_ucr.predict_numpy(arrays, data["x_test"])
    loaded = sorted(m for m, v in sys.modules.items() if v is not None and m.split(".")[0] == "torch")
    assert not loaded, loaded
    np.savez(out_path, logits=logits, classes=logits.argmax(axis=1))
    print("numpy only")
""")


def test_numpy_only_inference_equals_torch(italy_run: tuple[Any, torch.nn.Module], tmp_path: Path) -> None:
    _, model = italy_run
    norms = [m for m in model.blocks if isinstance(m, torch.nn.BatchNorm1d)]
    assert all(n.num_batches_tracked > 0 and n.running_mean.abs().max() > 0 for n in norms), (
        "batch-norm statistics were never updated; folding them would test nothing"
    )
    arrays = fcn_ucr.export(model)
    assert sorted(arrays) == sorted(
        [f"conv{i}.{p}" for i in range(3) for p in ("weight", "bias")] + ["head.weight", "head.bias"]
    ), sorted(arrays)
    model_path, out_path = tmp_path / "fcn.npz", tmp_path / "predicted.npz"
    np.savez(model_path, **arrays)
    result = subprocess.run(
        [sys.executable, "-c", NUMPY_ONLY, str(EXAMPLES), str(model_path), str(out_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0 and result.stdout.strip() == "numpy only", result.stderr
    with np.load(out_path) as f:
        logits, classes = f["logits"], f["classes"]

    data = fcn_ucr.load("ItalyPowerDemand")
    model.eval()
    with torch.no_grad():
        expected = model(torch.from_numpy(data["x_test"][:, None, :])).numpy()
    assert logits.shape == expected.shape == (1029, 2) and logits.dtype == np.float32
    wrong = np.flatnonzero(classes != expected.argmax(axis=1))
    assert wrong.size == 0, (
        f"{wrong.size} of {len(classes)} test series classified differently, first {wrong[:5].tolist()}: "
        f"NumPy logits {logits[wrong[:3]].tolist()}, torch {expected[wrong[:3]].tolist()}"
    )
    # Folding rounds each folded weight once more in float32; measured 6e-7 of 1 + |logit|
    # at 8 epochs, inside the helpers' float32 row (1e-5).
    assert_matches(logits, expected, np.float32, "NumPy-only logits vs torch's")
