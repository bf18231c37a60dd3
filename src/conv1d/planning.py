"""Measured planning: which kernel computes a convolution, decided on the machine at hand.

The cost model (:mod:`conv1d.dispatch`) estimates each kernel's time from the problem's
arithmetic and memory traffic, and the rates of *this* machine, measured by
:func:`calibrate` (a fraction of a second, once per machine, on one thread; scaled to the
thread count in force). In the
default mode the model only prunes: the kernels it does not rule out are timed on the
first call of each new problem, in the context that call runs in (thread count, products
on NumPy's BLAS or PyTorch's, forward and each gradient apart), and the fastest is kept.

One setting, :func:`conv1d.set_planning` (or the ``CONV1D_PLANNING`` environment
variable), chooses the mode:

* ``'measure'`` (the default): time the candidates the model allows, once per problem,
  and remember the winner in memory and on disk. A user wants the fastest kernel; the
  model alone is wrong by factors of several where rates it cannot see decide (cache
  sizes, a BLAS's shape-dependent paths, the threads it really gets), and measuring costs
  a few calls of each new problem once per machine. Results may then differ in the last
  bits between machines (each kernel rounds differently), as with cuDNN's benchmark mode.
* ``'estimate'``: the model alone, with this machine's calibrated rates: no call is timed,
  so the same machine always runs the same kernel for the same problem.
* ``'off'``: nothing is read from or written to disk, and nothing is timed: the model,
  with rates calibrated in this process (for read-only or throw-away environments).

The cache is a JSON file per machine (CPU model, core count and the versions of conv1d,
NumPy, SciPy and Numba) in the user's cache directory (``platformdirs``), or in
``CONV1D_CACHE_DIR`` if set. Each entry is keyed by the problem, the direction, the
thread count and who does the products. Processes share it: a writer takes a file lock,
merges what is on disk with what it learned, and replaces the file atomically; a corrupt
file, or one of another machine or version, is ignored and rewritten.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import platform
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConvError, closest

__all__ = [
    "MODES",
    "Rates",
    "Record",
    "cache_path",
    "calibrate",
    "get_mode",
    "rates",
    "recorded",
    "set_mode",
    "time_candidates",
]

MODES = ("measure", "estimate", "off")
FORMAT = 2  # of the cache file (and of how its records were measured); another is ignored and rewritten
PRUNE = 4.0  # candidates estimated within this factor of the model's best are timed
LOSING = 2.0  # a candidate whose first timed run is this much slower than the best so far stops there
# ... or this much, for its first run in the process: a kernel's first call also starts its
# thread pool and touches fresh memory (GEMM on the FCN's first layer: 1.1 ms cold, 0.2 warm)
COLD_LOSING = 20.0
MIN_SECONDS = 2e-3  # short calls are repeated until each candidate has run this long (or MAX_RUNS)
MAX_RUNS = 20
LOCK_SECONDS = 10.0  # a writer waits this long for the lock, then keeps its results in memory only

_lock = threading.Lock()
_mode: str | None = None  # set_mode's, else CONV1D_PLANNING's, else 'measure'
_records: dict[str, Record] = {}  # this process's measurements (and what was read from disk)
_rates: dict[str, Rates] = {}  # calibrated: "1", one thread's
_derived: dict[str, Rates] = {}  # per thread count (see threads_key), scaled from one thread's
_warmed: set[tuple[str, str]] = set()  # (candidate, kind) that ran once in this process (time_candidates)
_loaded = False  # whether the disk file was read into _records and _rates
_warned = False


@dataclasses.dataclass(frozen=True)
class Rates:
    """This machine's speeds as the cost model uses them, for one thread count."""

    gemm_flops: float  # float32 matrix products through the GEMM kernel, flops per second
    direct_macs: float  # the direct kernel's multiply-adds per second, stride 1
    direct_row_seconds: float  # the direct kernel's cost per row of positions, beyond its arithmetic
    fft_flops: float  # real transforms, counted as 2.5 n log2 n flops each
    mix_flops: float  # complex products per frequency, 8 flops per multiply-add
    bandwidth: float  # bytes per second, one direction (a large copy)
    call_seconds: dict[str, float]  # each kernel's cost of a tiny call

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rates:
        rates = cls(**data)
        values = [getattr(rates, f.name) for f in dataclasses.fields(cls) if f.name != "call_seconds"]
        values += list(rates.call_seconds.values())
        if not all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in values):
            raise ValueError(f"rates must be positive numbers, got {data!r}")
        return rates


@dataclasses.dataclass(frozen=True)
class Record:
    """A measured choice: the fastest kernel and every candidate's seconds (best run)."""

    algorithm: str
    seconds: dict[str, float]


# --------------------------------------------------------------------------- the mode


def get_mode() -> str:
    """The planning mode in force: ``'measure'``, ``'estimate'`` or ``'off'``."""
    global _mode
    if _mode is None:
        _mode = _checked(os.environ.get("CONV1D_PLANNING", "measure"), "the CONV1D_PLANNING variable")
    return _mode


def set_mode(mode: str) -> None:
    """Plan in ``mode`` from now on (see the module docstring)."""
    global _mode, _loaded
    _mode = _checked(mode, "set_planning")
    _loaded = False  # (read the disk file again if the new mode keeps one)


def _checked(mode: Any, where: str) -> str:
    if isinstance(mode, str) and mode.strip().lower() in MODES:
        return mode.strip().lower()
    raise ConvError(
        f"{where}: the planning mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}."
        f"{closest(str(mode), list(MODES))}"
    )


# --------------------------------------------------------------------------- the cache file


def cache_path() -> Path | None:
    """This machine's cache file, or None when planning keeps nothing on disk (mode
    ``'off'``, or ``CONV1D_CACHE_DIR`` set to the empty string)."""
    if get_mode() == "off":
        return None
    folder = os.environ.get("CONV1D_CACHE_DIR")
    if folder is None:
        import platformdirs

        folder = platformdirs.user_cache_dir("conv1d", appauthor=False)
    if not folder:
        return None
    return Path(folder) / f"plans-{_identity()[1]}.json"


def machine() -> dict[str, Any]:
    """What decides the measurements besides the problem: the CPU and the libraries (read
    once per process)."""
    return _identity()[0]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


_who: tuple[dict[str, Any], str] | None = None  # machine() and its hash, once found


def _identity() -> tuple[dict[str, Any], str]:
    global _who
    if _who is None:
        import numba
        import scipy

        from ._version import __version__

        who = {
            "cpu": _cpu_model(),
            "cores": os.cpu_count() or 1,
            "conv1d": __version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "numba": numba.__version__,
        }
        _who = (who, hashlib.sha256(json.dumps(who, sort_keys=True).encode()).hexdigest()[:16])
    return _who


def _read(path: Path) -> tuple[dict[str, Record], dict[str, Rates]]:
    """The records and rates in ``path``; nothing if it is missing, corrupt or foreign."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT or data.get("machine") != machine():
            return {}, {}
        records = {k: Record(str(v["algorithm"]), {a: float(s) for a, s in v["seconds"].items()})
                   for k, v in data["plans"].items()}  # fmt: skip
        rates = {str(t): Rates.from_dict(r) for t, r in data["rates"].items()}
        return records, rates
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}, {}


def _load() -> None:
    """Read the disk file into memory once (what this process measured wins)."""
    global _loaded
    if _loaded:
        return
    path = cache_path()
    if path is not None:
        records, rates = _read(path)
        with _lock:
            for key, record in records.items():
                _records.setdefault(key, record)
            for count, r in rates.items():
                _rates.setdefault(count, r)
    _loaded = True


def _save() -> None:
    """Merge this process's records and rates into the disk file, under its lock, replacing
    it atomically (a reader never sees half a file). Failing to write (a read-only folder,
    the lock held too long) keeps them in memory only, with one warning."""
    global _warned
    path = cache_path()
    if path is None:
        return
    from filelock import FileLock, Timeout

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock", timeout=LOCK_SECONDS):
            records, rates = _read(path)
            with _lock:
                records.update(_records)
                rates.update(_rates)
            data = {
                "format": FORMAT,
                "machine": machine(),
                "rates": {t: r.to_dict() for t, r in sorted(rates.items())},
                "plans": {k: dataclasses.asdict(v) for k, v in sorted(records.items())},
            }
            temporary = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            temporary.write_text(json.dumps(data, indent=1), encoding="utf-8")
            os.replace(temporary, path)
    except (OSError, Timeout) as error:
        if not _warned:
            _warned = True
            warnings.warn(
                f"conv1d could not write its plan cache {path} ({error}); measured plans are kept for "
                f"this process only. Set CONV1D_CACHE_DIR to a writable folder, or "
                f"conv1d.set_planning('off').",
                RuntimeWarning,
                stacklevel=2,
            )


def forget(disk: bool = False) -> None:
    """Forget what this process measured and read; with ``disk=True`` also delete this
    machine's cache file, so that rates are calibrated and choices measured afresh (after
    they were measured on a busy machine: timings taken while other programs use the
    cores say little about the kernels)."""
    global _loaded
    path = cache_path() if disk else None
    if path is not None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    with _lock:
        _records.clear()
        _rates.clear()
        _derived.clear()
        _loaded = False


# --------------------------------------------------------------------------- measurements


def recorded(key: str) -> Record | None:
    """The measured choice for ``key`` (see :func:`conv1d.dispatch.plan_key`), if any."""
    if get_mode() != "measure":
        return None
    _load()
    return _records.get(key)


def time_candidates(
    key: str,
    candidates: dict[str, Callable[[], object]],
    kind: str = "",
    compiled: frozenset[str] = frozenset(),
) -> Record:
    """Time each candidate (name -> a call), keep the fastest for ``key`` in memory and on
    disk, and return the record.

    Two rounds, the second in reverse order, each candidate's best run counted: a burst of
    other work on the machine (and a measurement is kept for good) then has to slow a
    candidate in both rounds, at both ends of the timing, to decide the choice. (Timed one
    candidate after another, a layer whose GEMM took 0.30 ms was recorded at 5.1 ms and
    lost to a 0.48 ms kernel.)

    In the first round, in the order given (the model's best first), each candidate runs
    twice, short calls until half of MIN_SECONDS; one whose first timed run is LOSING times
    slower than the best so far stops after it, which bounds the cost of timing a poor one
    (COLD_LOSING times, for a candidate's first run in the process, which also starts its
    thread pool). In the second, each within COLD_LOSING times of the best runs once more
    (one further off cannot have been slowed that much by a burst; the FFT's strided
    transposed convolution can be 100 times the best, at seconds a call), and a candidate
    then within LOSING times of the best again until half of MIN_SECONDS. The first run in the process of a
    ``compiled`` candidate for ``kind`` (the kernel function and dtype: what its compiled
    code is specialised for) is not timed at all: it loads or compiles that code.
    Floating-point warnings of the candidates are silenced (the call they time is made
    again by the executor, which checks its operands)."""
    runs: dict[str, list[float]] = {}
    failure: Exception | None = None
    with np.errstate(all="ignore"):
        for name, call in candidates.items():
            try:
                warm = (name, kind) in _warmed
                if name in compiled and not warm:
                    call()
                    warm = True
                _warmed.add((name, kind))
                best = min((min(r) for r in runs.values()), default=math.inf)
                first = _once(call)
                runs[name] = [first]
                if first > (LOSING if warm else COLD_LOSING) * best:
                    continue
                _repeat(call, runs[name], 1, runs)
            except (
                MemoryError,
                ValueError,
            ) as error:  # (a candidate that cannot run this call is no candidate)
                runs.pop(name, None)
                failure = failure or error
        if not runs:
            raise failure or ValueError("no candidate to time")
        best = min(min(r) for r in runs.values())
        for name in reversed([name for name in runs if min(runs[name]) <= COLD_LOSING * best]):
            try:
                _repeat(candidates[name], runs[name], 1, runs)
            except (MemoryError, ValueError):  # (it ran before: its runs so far stand)
                pass
    seconds = {name: min(r) for name, r in runs.items()}
    record = Record(min(seconds, key=seconds.__getitem__), seconds)
    with _lock:
        _records[key] = record
    _save()
    return record


def _repeat(call: Callable[[], object], these: list[float], least: int, runs: dict[str, list[float]]) -> None:
    """Time ``call`` into ``these`` (its list in ``runs``): ``least`` more runs, then more
    while they took under half of MIN_SECONDS and it is within LOSING times of the best in
    ``runs`` (at most MAX_RUNS in all)."""
    spent = 0.0
    for count in range(MAX_RUNS - len(these)):
        if count >= least and (
            spent >= MIN_SECONDS / 2 or min(these) > LOSING * min(min(r) for r in runs.values())
        ):
            return
        these.append(_once(call))
        spent += these[-1]


def _once(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


# --------------------------------------------------------------------------- calibration


def rates(count: int, numba: int | None = None, blas: int | None = None) -> Rates:
    """This machine's rates for ``count`` threads, ``numba`` of them for the compiled loops
    and ``blas`` for NumPy's BLAS, if fewer (inside PyTorch; see
    :func:`conv1d.kernels.threads.numba_threads` and :func:`~conv1d.kernels.threads.loops`).
    The rates of one thread come from memory, the disk file, or :func:`calibrate` now (and
    are written to the file); those of more threads are scaled from them. Calibrating on
    one thread keeps the rates sane on a machine that is busy meanwhile: a pool of as many
    threads as cores, sharing them with another program, measured 30x slower than alone
    (OpenBLAS products at 7 against 200 GFLOP/s on two cores, one of them busy), and rates
    measured so would be kept for good."""
    numba = count if numba is None else min(numba, count)
    blas = count if blas is None else min(blas, count)
    key = threads_key(count, numba, blas)
    found = _derived.get(key)
    if found is not None:
        return found
    _load()
    one = _rates.get("1")
    if one is None:
        from .kernels import threads

        saved = threads.enter(1)
        try:
            one = calibrate()
        finally:
            threads.leave(saved)
        with _lock:
            _rates["1"] = one
        _save()
    # One thread's arithmetic rates times the threads that do it: the cost model needs the
    # order of the kernels right within the factor its candidates are pruned by, which
    # perfect scaling gives; measuring decides the rest. (GEMM's products and the FFT's
    # transforms run on ``count`` threads: PyTorch's pool or NumPy's BLAS, scipy.fft.)
    found = dataclasses.replace(
        one,
        gemm_flops=one.gemm_flops * count,
        direct_macs=one.direct_macs * numba,
        direct_row_seconds=one.direct_row_seconds / numba,
        fft_flops=one.fft_flops * count,
        mix_flops=one.mix_flops * blas,
    )
    _derived[key] = found
    return found


def threads_key(count: int, numba: int, blas: int) -> str:
    """The thread counts that decide a plan, as they are written in the cache: ``count``
    alone when the compiled loops and NumPy's BLAS use all of them."""
    return str(count) if numba == blas == count else f"{count}/numba {numba}/blas {blas}"


def calibrate() -> Rates:
    """Measure the cost model's rates on this machine, with the thread count in force (one,
    when :func:`rates` calls it): one small problem per rate, each the best of a few runs
    (0.1 s in all, up to 0.5 s in a process whose kernels have not run yet)."""
    import scipy.fft

    from .kernels import direct, fft, gemm, threads, winograd

    rng = np.random.default_rng(0)
    f32 = np.float32
    with np.errstate(all="ignore"):
        x = rng.standard_normal((2, 1, 128, 1024), dtype=f32)
        w = rng.standard_normal((1, 128, 128, 3), dtype=f32)
        gemm_flops = 2 * 2 * 128 * 128 * 3 * 1022 / _best(lambda: gemm.conv(x, w, 1, 1))
        xd = rng.standard_normal((2, 256, 1, 2048), dtype=f32)
        wd = rng.standard_normal((256, 1, 1, 4), dtype=f32)
        direct_macs = 2 * 256 * 4 * 2045 / _best(lambda: direct.conv(xd, wd, 1, 1))
        # one output position from many (output, input channel, tap) rows: the per-row cost
        xr = rng.standard_normal((1, 1, 64, 2), dtype=f32)
        wr = rng.standard_normal((1, 128, 64, 2), dtype=f32)
        row = _best(lambda: direct.conv(xr, wr, 1, 1)) / (128 * 64 * 2)
        a = rng.standard_normal((64, 4096), dtype=f32)
        workers = threads.get()
        fft_flops = 64 * 2.5 * 4096 * 12 / _best(lambda: scipy.fft.rfft(a, workers=workers))
        k = (rng.standard_normal((1, 1025, 16, 16)) + 1j).astype(np.complex64)
        s = (rng.standard_normal((1, 1025, 16, 8)) + 1j).astype(np.complex64)
        mix_flops = 8 * 1025 * 16 * 16 * 8 / _best(lambda: np.matmul(k, s))
        src = np.ones(32 * 2**20 // 4, f32)
        dst = np.empty_like(src)
        bandwidth = src.nbytes / _best(lambda: np.copyto(dst, src), reps=3)
        xt, wt = np.ones((1, 1, 1, 16), f32), np.ones((1, 1, 1, 3), f32)
        calls = {
            "gemm": _best(lambda: gemm.conv(xt, wt, 1, 1), reps=20),
            "direct": _best(lambda: direct.conv(xt, wt, 1, 1), reps=20),
            "fft": _best(lambda: fft.conv(xt, wt, 1, 1), reps=20),
            "winograd": _best(lambda: winograd.conv(xt, wt, 1, 1), reps=20),
        }
    return Rates(gemm_flops, direct_macs, row, fft_flops, mix_flops, bandwidth, calls)


def _best(call: Callable[[], object], reps: int = 5) -> float:
    call()  # (loads compiled code, touches memory)
    return max(min(_once(call) for _ in range(reps)), 1e-9)


@contextlib.contextmanager
def mode(name: str) -> Iterator[None]:
    """Plan in mode ``name`` inside the block (for tests and benchmarks)."""
    global _mode
    saved = get_mode()
    set_mode(name)
    try:
        yield
    finally:
        _mode = saved
