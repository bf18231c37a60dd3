"""Measured planning: the mode switch, what a measurement is kept under, the cache file
(shared by processes, a corrupt or foreign one rewritten), a measured choice against a
kernel made slow on purpose, and calibration. No timing assertions: a kernel made slow
sleeps far longer than any kernel takes on these problems."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import conv1d
from conv1d import Algorithm, ConvError, executor, planning
from conv1d.dispatch import KERNELS, plan_key
from conv1d.kernels import threads
from conv1d.spec import conv1d_spec

# The text CNN's layer: GEMM is the model's best, Winograd within its pruning factor (so
# both are timed), FFT and direct outside it.
X, W = (32, 256, 35), (100, 256, 2)
SLOW = 0.05  # seconds a kernel made slow sleeps per call


@pytest.fixture
def measuring(tmp_path, monkeypatch):
    """Measure mode with an empty cache folder of the test's own."""
    monkeypatch.setenv("CONV1D_CACHE_DIR", str(tmp_path))
    planning.forget()
    executor.clear()
    with planning.mode("measure"):
        yield tmp_path
    planning.forget()
    executor.clear()


def _slow(monkeypatch, algorithm: Algorithm, name: str = "conv") -> None:
    kernel = KERNELS[algorithm]
    original = getattr(kernel, name)

    def slow(*args, **kwargs):
        time.sleep(SLOW)
        return original(*args, **kwargs)

    monkeypatch.setattr(kernel, name, slow)


def _arrays(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal(X, dtype=np.float32), rng.standard_normal(W, dtype=np.float32)


def test_the_pruned_candidates_of_the_example_are_gemm_and_winograd():
    assert conv1d.plan(X, W).candidates() == [Algorithm.GEMM, Algorithm.WINOGRAD]


@pytest.mark.parametrize("slow", [Algorithm.GEMM, Algorithm.WINOGRAD])
def test_a_measured_choice_is_the_fastest_candidate(measuring, monkeypatch, slow):
    _slow(monkeypatch, slow)
    x, w = _arrays()
    y = conv1d.conv1d(x, w)
    np.testing.assert_allclose(y, conv1d.conv1d(x, w, algorithm="direct"), rtol=1e-3, atol=2e-3)
    plan = conv1d.plan(X, W)
    fast = ({Algorithm.GEMM, Algorithm.WINOGRAD} - {slow}).pop()
    assert plan.algorithm is fast and plan.source == "measured", plan.describe()
    assert set(plan.measured) == {Algorithm.GEMM, Algorithm.WINOGRAD}
    assert plan.measured[slow] >= SLOW > plan.measured[fast]
    assert "measured" in plan.describe() and "estimated" in plan.describe()
    run = executor.executor(conv1d_spec(X, W, dtype=np.float32, op="conv1d"))
    assert run.kernel_of("forward") is KERNELS[fast]


def test_each_direction_is_measured_on_its_own(measuring, monkeypatch):
    """GEMM's weight gradient made slow: the forward keeps GEMM, the weight gradient moves."""
    _slow(monkeypatch, Algorithm.GEMM, "conv_weight")
    _slow(monkeypatch, Algorithm.WINOGRAD, "conv")
    layer = conv1d.Conv1d(256, 100, 2)
    x, _ = _arrays()
    y = layer(x)
    layer.backward(np.ones_like(y))
    run = executor.executor(conv1d_spec(X, W, (100,), dtype=np.float32, op="Conv1d"))
    assert run.kernel_of("forward") is KERNELS[Algorithm.GEMM]
    assert run.kernel_of("weight_grad") is KERNELS[Algorithm.WINOGRAD]
    assert conv1d.plan(X, W, direction="weight_grad").algorithm is Algorithm.WINOGRAD


def test_a_measurement_is_made_once_per_problem_and_context(measuring, monkeypatch):
    timed = []
    real = planning.time_candidates
    monkeypatch.setattr(planning, "time_candidates", lambda key, *rest: timed.append(key) or real(key, *rest))
    x, w = _arrays()
    for _ in range(3):
        conv1d.conv1d(x, w)
    executor.clear()  # a new executor finds the measurement in memory
    conv1d.conv1d(x, w)
    assert len(timed) == 1
    with threads.limited(1):  # another thread count is another context
        conv1d.conv1d(x, w)
    assert len(timed) == (2 if threads.get() > 1 else 1)


def test_the_key_holds_what_decides_the_choice():
    spec = conv1d_spec(X, W, dtype=np.float32, op="conv1d")
    key = plan_key(spec, "forward", False)
    assert key == plan_key(conv1d_spec(X, W, dtype=np.float32, op="Conv1d.forward"), "forward", False)
    others = [
        plan_key(spec, "input_grad", False),
        plan_key(spec, "forward", True),
        plan_key(conv1d_spec(X, W, dtype=np.float64, op="conv1d"), "forward", False),
        plan_key(conv1d_spec(X, W, stride=2, dtype=np.float32, op="conv1d"), "forward", False),
        plan_key(conv1d_spec((31, 256, 35), W, dtype=np.float32, op="conv1d"), "forward", False),
        plan_key(
            conv1d_spec(X, W, padding=1, padding_mode="reflect", dtype=np.float32, op="conv1d"),
            "forward",
            False,
        ),
        plan_key(
            conv1d_spec((32, 35, 256), W, layout="NLC", dtype=np.float32, op="conv1d"), "forward", False
        ),
    ]
    with threads.limited(1):
        others.append(plan_key(spec, "forward", False))
    if threads.get() == 1:
        others.pop()
    assert len({key, *others}) == len(others) + 1
    assert f"threads={threads.get()}" in key


def _file(folder) -> dict:
    (path,) = [p for p in folder.iterdir() if p.suffix == ".json"]
    return json.loads(path.read_text())


def test_a_measurement_is_written_to_the_cache_and_a_second_process_starts_with_it(measuring):
    x, w = _arrays()
    conv1d.conv1d(x, w)
    data = _file(measuring)
    assert data["machine"] == planning.machine()
    (key,) = data["plans"]
    assert key.startswith("forward ") and data["plans"][key]["algorithm"] in ("gemm", "winograd")
    code = textwrap.dedent(f"""
        import numpy as np, conv1d
        from conv1d import planning
        def refuse(*args):
            raise AssertionError("measured again")
        planning.time_candidates = refuse
        x = np.ones({X}, np.float32); w = np.ones({W}, np.float32)
        conv1d.conv1d(x, w)
        plan = conv1d.plan({X}, {W})
        print(plan.source, plan.algorithm.value)
    """)
    env = dict(os.environ, CONV1D_CACHE_DIR=str(measuring), CONV1D_PLANNING="measure")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["measured", data["plans"][key]["algorithm"]]
    # (the second process calibrated the machine's rates, on one thread, and kept them)
    assert list(_file(measuring)["rates"]) == ["1"]


WRITER = """
import sys
from conv1d import planning
planning.set_mode("measure")
for i in range(40):
    planning.time_candidates(f"{sys.argv[1]} {i}", {"gemm": lambda: None, "direct": lambda: None})
"""


def test_two_processes_writing_at_once_lose_nothing(measuring):
    env = dict(os.environ, CONV1D_CACHE_DIR=str(measuring))
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, name], env=env) for name in ("a", "b")]
    assert [p.wait(timeout=120) for p in writers] == [0, 0]
    plans = _file(measuring)["plans"]
    assert set(plans) == {f"{name} {i}" for name in "ab" for i in range(40)}
    assert not [p for p in measuring.iterdir() if p.suffix == ".tmp"]


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "",
        json.dumps([1, 2]),
        json.dumps(
            {"format": planning.FORMAT, "machine": {"cpu": "another"}, "rates": {}, "plans": {"k": 1}}
        ),
        json.dumps({"format": 999}),
    ],
    ids=["corrupt", "empty", "not an object", "another machine", "another format"],
)
def test_a_corrupt_or_foreign_cache_is_ignored_and_rewritten(measuring, content):
    path = planning.cache_path()
    path.write_text(content)
    planning.forget()
    assert planning.recorded("k") is None
    x, w = _arrays()
    np.testing.assert_allclose(
        conv1d.conv1d(x, w), conv1d.conv1d(x, w, algorithm="direct"), rtol=1e-3, atol=2e-3
    )
    data = _file(measuring)
    assert data["format"] == planning.FORMAT and data["machine"] == planning.machine()
    assert len(data["plans"]) == 1 and "k" not in data["plans"]


def test_the_mode_switch(measuring, monkeypatch):
    x, w = _arrays()
    conv1d.conv1d(x, w)  # measured and kept
    assert conv1d.plan(X, W).source == "measured"

    def refuse(*args):
        raise AssertionError("timed outside measure mode")

    monkeypatch.setattr(planning, "time_candidates", refuse)
    conv1d.set_planning("estimate")
    assert conv1d.get_planning() == "estimate"
    assert conv1d.plan(X, W).source == "estimated"  # the model alone, measurements aside
    conv1d.conv1d(x, w, stride=2)
    conv1d.set_planning("off")
    assert planning.cache_path() is None
    before = (measuring / _file_name(measuring)).read_text()
    conv1d.conv1d(x, w, dilation=3)
    assert (measuring / _file_name(measuring)).read_text() == before
    conv1d.set_planning("MEASURE")
    assert conv1d.get_planning() == "measure" and conv1d.plan(X, W).source == "measured"


def _file_name(folder) -> str:
    (path,) = [p for p in folder.iterdir() if p.suffix == ".json"]
    return path.name


def test_a_bad_mode_is_refused_with_the_choices():
    with pytest.raises(
        ConvError, match=r"'measure', 'estimate', 'off'.*got 'measured'. Did you mean 'measure'"
    ):
        conv1d.set_planning("measured")
    with pytest.raises(ConvError, match="got None"):
        conv1d.set_planning(None)
    env = dict(os.environ, CONV1D_PLANNING="fast")
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import numpy as np, conv1d; conv1d.conv1d(np.ones((1, 1, 4)), np.ones((1, 1, 2)))",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0 and "CONV1D_PLANNING" in out.stderr and "got 'fast'" in out.stderr


def test_an_unwritable_cache_warns_once_and_keeps_measurements_in_memory(measuring, monkeypatch):
    blocker = measuring / "file"
    blocker.write_text("")
    monkeypatch.setenv("CONV1D_CACHE_DIR", str(blocker / "below"))  # a folder under a file
    monkeypatch.setattr(planning, "_warned", False)
    x, w = _arrays()
    with pytest.warns(RuntimeWarning, match="could not write its plan cache"):
        conv1d.conv1d(x, w)
    assert conv1d.plan(X, W).source == "measured"


def test_an_empty_cache_dir_keeps_nothing_on_disk(measuring, monkeypatch):
    monkeypatch.setenv("CONV1D_CACHE_DIR", "")
    assert planning.cache_path() is None
    x, w = _arrays()
    conv1d.conv1d(x, w)
    assert conv1d.plan(X, W).source == "measured"
    assert not list(measuring.iterdir())


def test_a_forced_algorithm_is_never_timed(measuring, monkeypatch):
    monkeypatch.setattr(planning, "time_candidates", lambda *a: pytest.fail("timed a forced algorithm"))
    x, w = _arrays()
    conv1d.conv1d(x, w, algorithm="direct")
    assert conv1d.plan(X, W, algorithm="direct").source == "forced"


def test_calibration_measures_every_rate_of_the_model():
    rates = planning.calibrate()
    assert set(rates.call_seconds) == {a.value for a in Algorithm}
    values = [v for k, v in rates.to_dict().items() if k != "call_seconds"] + list(
        rates.call_seconds.values()
    )
    assert all(np.isfinite(v) and v > 0 for v in values)
    assert planning.Rates.from_dict(json.loads(json.dumps(rates.to_dict()))) == rates
    with pytest.raises(ValueError):
        planning.Rates.from_dict({**rates.to_dict(), "bandwidth": -1.0})


def test_a_candidate_that_cannot_run_the_call_is_left_out(measuring):
    def fails():
        raise MemoryError

    record = planning.time_candidates("k", {"fft": fails, "gemm": lambda: None})
    assert record.algorithm == "gemm" and set(record.seconds) == {"gemm"}
    with pytest.raises(MemoryError):
        planning.time_candidates("k2", {"fft": fails})


def test_a_burst_of_other_work_in_the_first_round_does_not_decide(measuring):
    """The model's first candidate is slowed (as by another program) for its whole first
    round only: the second round, in reverse order, times it again and it wins."""
    calls = {"gemm": 0}

    def gemm():
        calls["gemm"] += 1
        time.sleep(0.05 if calls["gemm"] <= 2 else 0.001)

    record = planning.time_candidates("burst", {"gemm": gemm, "winograd": lambda: time.sleep(0.01)})
    assert calls["gemm"] >= 3
    assert record.algorithm == "gemm", record.seconds


def test_rates_are_calibrated_on_one_thread_and_scaled(measuring, monkeypatch, machine_rates):
    one = planning.Rates(1e9, 1e8, 1e-8, 2e9, 3e9, 1e10, {a.value: 1e-5 for a in Algorithm})
    counts = []
    monkeypatch.setattr(planning, "calibrate", lambda: counts.append(threads.get()) or one)
    assert machine_rates(1) == one
    two = machine_rates(2)
    assert (two.gemm_flops, two.direct_macs, two.direct_row_seconds, two.fft_flops) == (2e9, 2e8, 5e-9, 4e9)
    inside_torch = machine_rates(2, 1, 1)
    assert (inside_torch.gemm_flops, inside_torch.direct_macs, inside_torch.mix_flops) == (2e9, 1e8, 3e9)
    assert counts == [1]  # calibrated once, on one thread
    assert list(_file(measuring)["rates"]) == ["1"]


def test_explain_and_the_cli_show_a_measured_choice_and_its_timings(measuring):
    layer = conv1d.Conv1d(256, 100, 2)
    layer(_arrays()[0])
    explanation = conv1d.explain(layer, X)
    data = explanation.to_dict()
    assert data["algorithm_source"] == "measured"
    assert set(data["measured_ms"]) == {"gemm", "winograd"} and data["algorithm"] in data["measured_ms"]
    assert "measured on this machine: gemm" in str(explanation)
    command = "conv1d explain --in-channels 256 --out-channels 100 --kernel-size 2 --input-shape 32,256,35"
    env = dict(os.environ, CONV1D_CACHE_DIR=str(measuring), CONV1D_PLANNING="measure")
    out = subprocess.run(command.split(), env=env, capture_output=True, text=True, check=True).stdout
    assert "measured on this machine: gemm" in out and "(measured;" in out
    env["CONV1D_PLANNING"] = "estimate"
    out = subprocess.run(command.split(), env=env, capture_output=True, text=True, check=True).stdout
    assert "measured on this machine" not in out and "(estimated;" in out


@pytest.mark.parametrize("gemm_seconds, expected", [(1.1, Algorithm.GEMM), (1.3, Algorithm.WINOGRAD)])
def test_a_gradient_close_to_the_fastest_keeps_the_forwards_kernel(measuring, gemm_seconds, expected):
    """What the forward keeps for the gradients (keep/kept) is the forward kernel's own,
    so a gradient takes that kernel when it was timed within SAME_KERNEL of the fastest."""
    spec = conv1d_spec(X, W, dtype=np.float32, op="conv1d")
    planning._records[plan_key(spec, "forward", False)] = planning.Record(
        "gemm", {"gemm": 1.0, "winograd": 2.0}
    )
    planning._records[plan_key(spec, "weight_grad", False)] = planning.Record(
        "winograd", {"winograd": 1.0, "gemm": gemm_seconds}
    )
    plan = conv1d.plan(X, W, direction="weight_grad")
    assert plan.algorithm is expected and plan.source == "measured", plan.describe()
    assert ("forward's kernel" in plan.reason) is (expected is Algorithm.GEMM)
