"""Rebuild ItalyPowerDemand.npz and GunPoint.npz from the UCR files in the aeon 1.6.0 wheel.

    python examples/data/ucr/rebuild.py          # writes the .npz files and SHA256SUMS here

Downloads the ``aeon==1.6.0`` wheel once with pip into a temporary directory (aeon is not
a dependency of conv1d and is not installed), reads the ``.ts`` files of the two datasets
from it (the UCR archive's own train/test splits, z-normalised as the archive ships them),
and saves each dataset as ``x_train, y_train, x_test, y_test``: float32 series of shape
(N, L) and int64 labels 0..classes-1 (the archive's labels, sorted, mapped to 0, 1, ...).
The ``.npz`` files are written without timestamps, so a rebuild reproduces SHA256SUMS.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
WHEEL = "aeon==1.6.0"
DATASETS = ("ItalyPowerDemand", "GunPoint")


def read_ts(text: str) -> tuple[np.ndarray, np.ndarray]:
    """A univariate, equal-length ``.ts`` file -> (series (N, L) float64, labels (N,) str)."""
    rows, labels, in_data = [], [], False
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.lower() == "@data":
            in_data = True
            continue
        if in_data:
            values, label = line.rsplit(":", 1)
            rows.append([float(v) for v in values.split(",")])
            labels.append(label)
    return np.array(rows), np.array(labels)


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """``np.savez_compressed`` with fixed zip timestamps (reproducible bytes)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, member.getvalue())
    return out.getvalue()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", WHEEL, "-d", tmp], check=True
        )
        wheel = next(Path(tmp).glob("aeon-*.whl"))
        sums = []
        with zipfile.ZipFile(wheel) as archive:
            for name in DATASETS:
                parts = {}
                for split in ("TRAIN", "TEST"):
                    text = archive.read(f"aeon/datasets/data/{name}/{name}_{split}.ts").decode()
                    parts[split] = read_ts(text)
                classes = sorted(
                    {str(c) for c in parts["TRAIN"][1]} | {str(c) for c in parts["TEST"][1]},
                    key=lambda c: (len(c), c),
                )
                index = {c: i for i, c in enumerate(classes)}
                arrays = {
                    "x_train": parts["TRAIN"][0].astype(np.float32),
                    "y_train": np.array([index[c] for c in parts["TRAIN"][1]], np.int64),
                    "x_test": parts["TEST"][0].astype(np.float32),
                    "y_test": np.array([index[c] for c in parts["TEST"][1]], np.int64),
                }
                data = _npz_bytes(arrays)
                (HERE / f"{name}.npz").write_bytes(data)
                sums.append(f"{hashlib.sha256(data).hexdigest()}  {name}.npz")
                print(
                    f"{name}: train {arrays['x_train'].shape}, test {arrays['x_test'].shape}, "
                    f"classes {classes} -> 0..{len(classes) - 1}, {len(data):,} bytes"
                )
    (HERE / "SHA256SUMS").write_text("\n".join(sums) + "\n")


if __name__ == "__main__":
    main()
