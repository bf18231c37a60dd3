"""Train the fully convolutional network of Wang, Yan & Oates (2017) on two UCR datasets,
once with ``torch.nn.Conv1d`` and once with ``conv1d.torch.Conv1d``, and compare.

    python examples/fcn_ucr.py                      # the table (see --help for the options)
    python examples/fcn_ucr.py --epochs 5 --runs 1  # a quick look

The network ("Time Series Classification from Scratch with Deep Neural Networks: A Strong
Baseline", IJCNN 2017): three blocks of Conv1d (128, 256, 128 filters; kernels 8, 5, 3;
``padding='same'``, which for K=8 pads 3 on the left and 4 on the right), batch norm and
ReLU; global average pooling over time; a linear layer to the classes (softmax in the loss).
The protocol of Ismail Fawaz et al. ("Deep learning for time series classification: a
review", 2019), who re-ran it on the whole archive: Adam (lr 0.001), batch size
``min(N_train // 10, 16)``, 2000 epochs, the learning rate halved when the training loss
has not improved for 50 epochs (down to 0.0001), and the model of the epoch with the lowest
training loss evaluated on the test set. The data are the UCR archive's own splits,
shipped in ``examples/data/ucr`` (see its NOTICE).

Both backends start from the same seed, so the same initial weights and batch order; they
differ only in who computes the convolutions (and rounding, which makes the runs drift
apart over thousands of steps). For each run the script reports the test accuracy at the
lowest-training-loss epoch (the papers' figure) and the mean test accuracy over the last
10% of the epochs, and the seconds per epoch.

``export()`` folds each batch norm into the convolution before it and saves the network as
plain arrays; ``predict_numpy()`` runs it with conv1d and NumPy alone (no torch).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(__file__).resolve().parent / "data" / "ucr"
PUBLISHED = {  # test accuracy of FCN, % (Ismail Fawaz et al. 2019: mean of 10 runs; Wang et al. 2017)
    "ItalyPowerDemand": "96.1 ± 0.3 / 97.0",
    "GunPoint": "100.0 ± 0.0 / 100.0",
}
FILTERS, KERNELS = (128, 256, 128), (8, 5, 3)


def load(name: str) -> dict[str, np.ndarray]:
    """The shipped dataset: x_train, y_train, x_test, y_test (x as float32 (N, L))."""
    with np.load(DATA / f"{name}.npz") as data:
        return {key: data[key] for key in data.files}


# --------------------------------------------------------------------------- the network (torch)


def build(classes: int, backend: str, seed: int) -> Any:
    """The FCN with ``torch.nn.Conv1d`` (backend 'torch') or ``conv1d.torch.Conv1d`` ('conv1d')."""
    import torch

    if backend == "torch":
        conv = torch.nn.Conv1d
    else:
        import conv1d.torch

        conv = conv1d.torch.Conv1d
    torch.manual_seed(seed)
    layers: list[Any] = []
    channels = 1
    for filters, k in zip(FILTERS, KERNELS):
        layers += [conv(channels, filters, k, padding="same"), torch.nn.BatchNorm1d(filters), torch.nn.ReLU()]
        channels = filters

    class FCN(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.blocks = torch.nn.Sequential(*layers)
            self.head = torch.nn.Linear(channels, classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 1, L) -> logits (N, classes)
            return self.head(self.blocks(x).mean(dim=-1))

    return FCN()


@dataclass
class Run:
    dataset: str
    backend: str
    seed: int
    epochs: int
    best_epoch: int  # the epoch of the lowest training loss
    best_train_loss: float
    accuracy_at_best: float  # test accuracy of that epoch's model (the papers' figure)
    accuracy_last: float  # mean test accuracy over the last 10% of epochs
    seconds_per_epoch: float


def train(
    name: str, backend: str, seed: int, epochs: int, progress: bool = True, evaluate_every: int = 25
) -> tuple[Run, Any]:
    """Train one FCN; returns the run's figures and the lowest-training-loss model."""
    import torch

    data = load(name)
    classes = int(data["y_train"].max()) + 1
    x_train = torch.from_numpy(data["x_train"][:, None, :])
    y_train = torch.from_numpy(data["y_train"])
    x_test = torch.from_numpy(data["x_test"][:, None, :])
    y_test = torch.from_numpy(data["y_test"])
    model = build(classes, backend, seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.ReduceLROnPlateau(optimiser, factor=0.5, patience=50, min_lr=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss()
    batch = max(1, min(len(x_train) // 10, 16))
    order = torch.Generator().manual_seed(seed)
    best_loss, best_epoch, best_state = float("inf"), 0, None
    last: list[float] = []
    seconds = 0.0
    bar = _bar(epochs, f"{name} {backend} seed {seed}", progress)
    accuracy = float("nan")
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        model.train()
        total = 0.0
        for index in torch.randperm(len(x_train), generator=order).split(batch):
            optimiser.zero_grad()
            loss = loss_fn(model(x_train[index]), y_train[index])
            loss.backward()
            optimiser.step()
            total += loss.item() * len(index)
        train_loss = total / len(x_train)
        schedule.step(train_loss)
        seconds += time.perf_counter() - start
        if train_loss < best_loss:
            best_loss, best_epoch, best_state = train_loss, epoch, copy.deepcopy(model.state_dict())
        if epoch % evaluate_every == 0 or epoch == epochs or epoch > epochs - max(1, epochs // 10):
            accuracy = _accuracy(model, x_test, y_test)
            if epoch > epochs - max(1, epochs // 10):
                last.append(accuracy)
        bar.update(1)
        bar.set_postfix(loss=f"{train_loss:.4f}", test_acc=f"{accuracy:.3f}", refresh=False)
    bar.close()
    model.load_state_dict(best_state)
    run = Run(
        name,
        backend,
        seed,
        epochs,
        best_epoch,
        best_loss,
        _accuracy(model, x_test, y_test),
        statistics.mean(last),
        seconds / epochs,
    )
    return run, model


def _accuracy(model: Any, x: Any, y: Any) -> float:
    import torch

    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).float().mean())


def _bar(total: int, label: str, enabled: bool) -> Any:
    try:
        from tqdm import tqdm
    except ImportError:  # the progress bar is optional; training is not
        enabled = False
    if not enabled:

        class Quiet:
            def update(self, n: int) -> None: ...
            def set_postfix(self, **kwargs: Any) -> None: ...
            def close(self) -> None: ...

        return Quiet()
    return tqdm(total=total, desc=label, unit="epoch", leave=False, dynamic_ncols=True, file=sys.stderr)


# --------------------------------------------------------------------------- NumPy-only deployment


def fold_batch_norm(
    weight: np.ndarray,
    bias: np.ndarray | None,
    mean: np.ndarray,
    var: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    eps: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Conv then BatchNorm (inference) as one conv: ``w' = w * s``, ``b' = (b - mean) * s + beta``
    with ``s = gamma / sqrt(var + eps)`` per output channel."""
    scale = gamma / np.sqrt(var + eps)
    b = np.zeros_like(mean) if bias is None else bias
    return weight * scale[:, None, None], (b - mean) * scale + beta


def export(model: Any) -> dict[str, np.ndarray]:
    """The trained FCN as plain arrays: each conv with its batch norm folded in, and the head."""
    convs = [m for m in model.blocks if hasattr(m, "kernel_size")]
    norms = [m for m in model.blocks if type(m).__name__ == "BatchNorm1d"]
    arrays: dict[str, np.ndarray] = {}
    for i, (conv, norm) in enumerate(zip(convs, norms)):
        w, b = fold_batch_norm(
            conv.weight.detach().numpy().astype(np.float64),
            None if conv.bias is None else conv.bias.detach().numpy().astype(np.float64),
            norm.running_mean.numpy().astype(np.float64),
            norm.running_var.numpy().astype(np.float64),
            norm.weight.detach().numpy().astype(np.float64),
            norm.bias.detach().numpy().astype(np.float64),
            norm.eps,
        )
        arrays[f"conv{i}.weight"], arrays[f"conv{i}.bias"] = w.astype(np.float32), b.astype(np.float32)
    arrays["head.weight"] = model.head.weight.detach().numpy().copy()
    arrays["head.bias"] = model.head.bias.detach().numpy().copy()
    return arrays


def predict_numpy(arrays: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """Logits (N, classes) for series (N, L), with conv1d and NumPy only."""
    import conv1d

    h = x[:, None, :].astype(np.float32)
    i = 0
    while f"conv{i}.weight" in arrays:
        h = np.maximum(
            conv1d.conv1d(h, arrays[f"conv{i}.weight"], arrays[f"conv{i}.bias"], padding="same"), 0
        )
        i += 1
    return h.mean(axis=-1) @ arrays["head.weight"].T + arrays["head.bias"]


# --------------------------------------------------------------------------- the table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", default="ItalyPowerDemand,GunPoint")
    parser.add_argument("--epochs", type=int, default=2000, help="epochs per run (default 2000, the papers')")
    parser.add_argument(
        "--runs", type=int, default=3, help="seeds per dataset and backend (default 3: 0, 1, 2)"
    )
    parser.add_argument("--seeds", help="run these seeds instead, e.g. 1,2")
    parser.add_argument(
        "--include",
        metavar="PATH",
        action="append",
        default=[],
        help="add the runs saved by an earlier --json to the table (repeatable)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", metavar="PATH", help="also write every run's figures here")
    parser.add_argument(
        "--export", metavar="DIR", help="save each dataset's first conv1d model, folded, as .npz"
    )
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else list(range(args.runs))
    runs: list[Run] = [Run(**r) for path in args.include for r in json.loads(Path(path).read_text())]
    included = len(runs)
    for name in args.datasets.split(","):
        for seed in seeds:
            for backend in ("torch", "conv1d"):
                run, model = train(name, backend, seed, args.epochs, progress=not args.no_progress)
                runs.append(run)
                print(
                    f"{name:17s} {backend:6s} seed {seed}: test accuracy {100 * run.accuracy_at_best:.1f}% at the "
                    f"lowest-loss epoch {run.best_epoch}, {100 * run.accuracy_last:.1f}% over the last epochs, "
                    f"{run.seconds_per_epoch:.3f} s/epoch",
                    flush=True,
                )
                if args.export and backend == "conv1d" and seed == seeds[0]:
                    Path(args.export).mkdir(parents=True, exist_ok=True)
                    np.savez(Path(args.export) / f"fcn_{name}.npz", **export(model))
    print()
    print(
        "| dataset | published FCN, % (Ismail Fawaz 2019 / Wang 2017) | torch Conv1d, % | conv1d Conv1d, % "
        "| torch s/epoch | conv1d s/epoch |"
    )
    print("|---|---|---|---|---|---|")
    for name in args.datasets.split(","):
        cells = []
        for backend in ("torch", "conv1d"):
            mine = [r for r in runs if r.dataset == name and r.backend == backend]
            best = [100 * r.accuracy_at_best for r in mine]
            lasts = [100 * r.accuracy_last for r in mine]
            cells.append(
                f"{statistics.mean(best):.1f} ± {statistics.pstdev(best):.1f} (last epochs "
                f"{statistics.mean(lasts):.1f})"
            )
        times = [
            statistics.mean(r.seconds_per_epoch for r in runs if r.dataset == name and r.backend == b)
            for b in ("torch", "conv1d")
        ]
        print(
            f"| {name} | {PUBLISHED.get(name, '?')} | {cells[0]} | {cells[1]} | {times[0]:.3f} | {times[1]:.3f} |"
        )
    counts = sorted(
        {sum(r.dataset == n and r.backend == "conv1d" for r in runs) for n in args.datasets.split(",")}
    )
    epochs = sorted({r.epochs for r in runs})
    print(
        f"\n{'/'.join(map(str, counts))} run(s) per cell ({included} from --include), "
        f"{'/'.join(map(str, epochs))} epochs each; accuracy at the lowest-training-loss epoch, mean ± std over runs."
    )
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in runs], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
