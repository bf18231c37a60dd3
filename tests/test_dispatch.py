"""The planner: golden plans, forced algorithms that really run, refusals, and thread control."""

from __future__ import annotations

import math

import numpy as np
import pytest

import conv1d
from conv1d import Algorithm, ConvError
from conv1d.kernels import direct, fft, gemm, reference, winograd

# The benchmark suite's shapes (benchmarks/suite.py) and the algorithm each must get.
GOLDEN = [
    ("text CNN", (32, 256, 35), (100, 256, 2), {}, Algorithm.GEMM),
    ("tiny", (4, 2, 6), (3, 2, 5), {}, Algorithm.DIRECT),
    ("WaveNet dilated", (4, 64, 16000), (128, 64, 2), dict(dilation=256), Algorithm.GEMM),
    ("wav2vec2 conv0", (8, 1, 16000), (512, 1, 10), dict(stride=5), Algorithm.GEMM),
    ("Mamba depthwise", (8, 1024, 2048), (1024, 1, 4), dict(padding=3, groups=1024), Algorithm.DIRECT),
    ("ResNet-1D dense", (8, 512, 4096), (512, 512, 3), dict(padding=1), Algorithm.WINOGRAD),
    ("pointwise", (8, 512, 1024), (2048, 512, 1), {}, Algorithm.GEMM),
    ("Hyena long depthwise", (4, 64, 8192), (64, 1, 1024), dict(groups=64), Algorithm.FFT),
    ("FIR bank long", (1, 16, 16384), (16, 16, 4096), {}, Algorithm.FFT),
    ("TCN block", (16, 128, 1024), (128, 128, 7), dict(padding=6, dilation=2), Algorithm.GEMM),
]


@pytest.mark.parametrize("name, x_shape, w_shape, options, expected", GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden_plans(name, x_shape, w_shape, options, expected):
    plan = conv1d.plan(x_shape, w_shape, **options)
    assert plan.algorithm is expected, plan.describe()
    assert not plan.forced and plan.reason
    assert set(plan.seconds) == set(Algorithm)
    assert all(s > 0 for s in plan.seconds.values())
    assert plan.seconds[plan.algorithm] == min(plan.seconds.values())
    assert plan.memory_bytes >= 0
    assert plan == conv1d.plan(x_shape, w_shape, **options)  # pure: same question, same answer


def test_plan_of_a_layer_and_of_a_transposed_convolution():
    layer = conv1d.ConvTranspose1d(64, 64, 1024, groups=64)
    assert layer.plan((4, 64, 8192)).algorithm is Algorithm.FFT
    assert conv1d.plan((4, 64, 8192), (64, 1, 1024), groups=64, transposed=True).algorithm is Algorithm.FFT
    assert conv1d.Conv1d(2, 3, 5, algorithm="gemm").plan((4, 2, 6)).algorithm is Algorithm.GEMM
    text = conv1d.plan((32, 256, 35), (100, 256, 2)).describe()
    assert text.startswith("gemm: ") and "direct" in text and "fft" in text and "ms" in text


def test_algorithm_is_a_str_enum():
    assert Algorithm("fft") is Algorithm.FFT and Algorithm.FFT == "fft" and str(Algorithm.GEMM) == "gemm"
    x, w = np.ones((1, 1, 8)), np.ones((1, 1, 3))
    np.testing.assert_allclose(
        conv1d.conv1d(x, w, algorithm=Algorithm.FFT), conv1d.conv1d(x, w, algorithm="FFT")
    )


@pytest.mark.parametrize("algorithm", list(Algorithm))
def test_a_forced_algorithm_really_runs(monkeypatch, algorithm):
    """Every other kernel is made to fail; forward and both gradients still work."""

    def refuse(*args, **kwargs):
        raise AssertionError("the wrong kernel ran")

    for module in (gemm, direct, fft, winograd):
        if module is not conv1d.dispatch.KERNELS[algorithm]:
            for name in ("conv", "conv_transpose", "conv_weight"):
                monkeypatch.setattr(module, name, refuse)
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 4, 30)), rng.standard_normal((6, 2, 5)), rng.standard_normal(6)
    y = conv1d.conv1d(x, w, b, padding=2, groups=2, algorithm=algorithm)
    expected = reference.conv(x.reshape(2, 2, 2, 30), w.reshape(2, 3, 2, 5), 1, 1, 2, 2, b.reshape(2, 3))
    np.testing.assert_allclose(y, expected.reshape(2, 6, 30), rtol=1e-10, atol=1e-10)
    gy = np.ones_like(y)
    assert conv1d.grad.conv1d_input(x.shape, w, gy, padding=2, groups=2, algorithm=algorithm).shape == x.shape
    assert (
        conv1d.grad.conv1d_weight(x, w.shape, gy, padding=2, groups=2, algorithm=algorithm).shape == w.shape
    )
    stride = 1 if algorithm is Algorithm.WINOGRAD else 2  # Winograd: stride 1 only
    layer = conv1d.ConvTranspose1d(4, 6, 3, stride=stride, groups=2, dtype=np.float64, algorithm=algorithm)
    out = layer(x)
    assert layer.backward(np.ones_like(out)).shape == x.shape
    with pytest.raises(AssertionError, match="the wrong kernel ran"):
        other = next(a for a in Algorithm if a is not algorithm)
        conv1d.conv1d(x, w, b, padding=2, groups=2, algorithm=other)


def test_unknown_algorithm_lists_the_names():
    with pytest.raises(
        ConvError,
        match=r"conv1d: algorithm must be one of 'auto', 'gemm', 'direct', 'fft', 'winograd', got algorithm='ftt'\. Did you mean 'fft'\?",
    ):
        conv1d.conv1d(np.ones((1, 1, 5)), np.ones((1, 1, 2)), algorithm="ftt")
    with pytest.raises(ConvError, match=r"Conv1d: algorithm must be one of"):
        conv1d.Conv1d(1, 1, 2, algorithm="winograd2")


def test_fft_refuses_integers_and_complex_and_auto_never_picks_it():
    x = np.ones((1, 2, 4096), np.int32)
    w = np.ones((2, 2, 1024), np.int32)
    with pytest.raises(
        ConvError, match=r"algorithm='fft' cannot run here: FFT would round integer results \(int32\)"
    ):
        conv1d.conv1d(x, w, algorithm="fft")
    plan = conv1d.plan(x.shape, w.shape, dtype=np.int32)
    assert plan.algorithm is not Algorithm.FFT and math.isinf(plan.seconds[Algorithm.FFT])
    np.testing.assert_array_equal(conv1d.conv1d(x, w), np.full((1, 2, 3073), 2048, np.int32))
    with pytest.raises(ConvError, match=r"real transforms and takes no complex input \(complex128\)"):
        conv1d.conv1d(x.astype(complex), w.astype(complex), algorithm="fft")


def test_winograd_refusals_say_why_and_auto_respects_them():
    x, w = np.ones((1, 2, 64)), np.ones((2, 2, 3))
    for options, why in (
        ({"stride": 2}, r"stride 1, dilation 1 only \(got stride=2, dilation=1\); use 'gemm'"),
        ({"dilation": 2}, r"stride 1, dilation 1 only \(got stride=1, dilation=2\)"),
    ):
        with pytest.raises(
            ConvError, match=r"algorithm='winograd' cannot run here: the Winograd kernel computes " + why
        ):
            conv1d.conv1d(x, w, **options, algorithm="winograd")
        assert math.isinf(conv1d.plan(x.shape, w.shape, **options).seconds[Algorithm.WINOGRAD])
    with pytest.raises(
        ConvError, match=r"kernels of 2 to 7 taps \(got K=9\); use 'gemm' \(or 'fft' for long kernels\)"
    ):
        conv1d.conv1d(x, np.ones((2, 2, 9)), algorithm="winograd")
    with pytest.raises(ConvError, match=r"kernels of 2 to 7 taps \(got K=1\); use 'gemm'\."):
        conv1d.conv1d(x, np.ones((2, 2, 1)), algorithm="winograd")
    with pytest.raises(ConvError, match=r"fractions, so integer results \(int64\) would round"):
        conv1d.conv1d(x.astype(np.int64), w.astype(np.int64), algorithm="winograd")
    resnet = conv1d.plan((8, 512, 4096), (512, 512, 3), padding=1, dtype=np.int64)
    assert resnet.algorithm is not Algorithm.WINOGRAD and math.isinf(resnet.seconds[Algorithm.WINOGRAD])


def test_the_plan_follows_who_does_the_products():
    """Inside conv1d.torch the products run on PyTorch's matmul, next to which the GEMM
    kernel's own passes cost more; the FCN's 128->256, K=5 layer on ItalyPowerDemand
    batches (6 x 24 samples) is then cheaper by Winograd, with NumPy's BLAS by GEMM
    (measured both ways; see dispatch.TRANSFORM_BANDWIDTH)."""
    from conv1d.executor import executor
    from conv1d.spec import conv1d_spec

    spec = conv1d_spec((6, 128, 24), (256, 128, 5), padding="same", dtype=np.float32)
    assert executor(spec).plan.algorithm is Algorithm.GEMM
    with gemm.products(lambda a, b, out=None: np.matmul(a, b, out=out)):
        assert executor(spec).plan.algorithm is Algorithm.WINOGRAD
    assert executor(spec).plan.algorithm is Algorithm.GEMM


def test_the_plan_follows_the_thread_count():
    """The direct kernel's loops run on the threads conv1d may use: on both of two cores a
    bank of 32 filters of 8 taps over one 4000-sample channel is cheapest direct, on one
    (as inside conv1d.torch) by GEMM, whose products go to BLAS (measured on a 2-core Xeon:
    direct 130 against GEMM 253 us on two threads, 95 against 62 on one)."""
    from conv1d.executor import executor
    from conv1d.kernels import threads
    from conv1d.spec import conv1d_spec

    if threads.get() < 2:
        pytest.skip("needs two or more cores")  # the comparison is between thread counts
    spec = conv1d_spec((1, 1, 4000), (32, 1, 8), padding="same", dtype=np.float32)
    assert executor(spec).plan.algorithm is Algorithm.DIRECT
    with threads.limited(1):
        assert executor(spec).plan.algorithm is Algorithm.GEMM
    assert executor(spec).plan.algorithm is Algorithm.DIRECT


def test_one_output_position_with_many_channels_is_not_direct():
    """The direct loops pay per (item, output channel, input channel, tap) row: a stream's
    one-sample step of a WaveNet layer (64 -> 128 channels, 2 taps, one output) is a
    matrix-vector product for BLAS (measured: direct 125, GEMM 9 us)."""
    plan = conv1d.plan((1, 64, 257), (128, 64, 2), dilation=256)
    assert plan.algorithm is Algorithm.GEMM, plan.describe()
    assert plan.seconds[Algorithm.DIRECT] > 2 * plan.seconds[Algorithm.GEMM]


def test_thread_count_is_one_setting():
    before = conv1d.get_num_threads()
    try:
        conv1d.set_num_threads(1)
        assert conv1d.get_num_threads() == 1
        y1 = conv1d.conv1d(np.ones((1, 1, 64)), np.ones((1, 1, 32)), algorithm="fft")
        np.testing.assert_allclose(y1, 32.0)
    finally:
        conv1d.set_num_threads(before)
    assert conv1d.get_num_threads() == before


def test_direct_compile_time_is_reported():
    seconds = direct.compile_seconds(np.dtype(np.float64))
    assert 0 <= seconds < 120


def test_a_layer_caches_fft_weight_spectra_until_the_weight_changes(monkeypatch):
    layer = conv1d.Conv1d(8, 8, 200, groups=8, dtype=np.float64, rng=0)
    x = np.random.default_rng(1).standard_normal((2, 8, 1000))
    assert layer.plan(x.shape).algorithm is Algorithm.FFT
    computed = []
    original = fft.kernel_spectrum
    monkeypatch.setattr(fft, "kernel_spectrum", lambda *args: computed.append(1) or original(*args))
    first = layer(x)
    second = layer(x)
    assert len(computed) == 1  # the second call reused the spectra
    np.testing.assert_array_equal(first, second)
    layer.weight -= 0.1 * layer.weight  # an in-place training step
    third = layer(x)
    assert len(computed) == 2
    np.testing.assert_allclose(
        third, conv1d.conv1d(x, layer.weight, layer.bias, groups=8, algorithm="gemm"), rtol=1e-9, atol=1e-9
    )


def test_the_fft_is_priced_by_what_each_direction_transforms():
    """The FFT kernel's conv transforms blocks; its conv_transpose and conv_weight the whole
    signal, with weight spectra as long: a transposed convolution's forward and a
    convolution's gradients are priced so (HiFi-GAN's second upsampling: 2.5 s a call by
    FFT, which the planner must not time)."""
    from conv1d import dispatch
    from conv1d.spec import conv1d_spec, conv_transpose1d_spec

    ups = conv_transpose1d_spec((1, 256, 800), (256, 128, 16), None, stride=8, padding=4, dtype=np.float32)
    plan = conv1d.plan((1, 256, 800), (256, 128, 16), stride=8, padding=4, transposed=True)
    assert Algorithm.FFT not in plan.candidates(), plan.describe()
    as_conv = conv1d_spec((1, 128, 6400), (256, 128, 16), None, stride=8, padding=4, dtype=np.float32)
    forward = dispatch.estimate(as_conv)[Algorithm.FFT]
    assert (
        dispatch.estimate(ups)[Algorithm.FFT]
        == dispatch.estimate(as_conv, direction="input_grad")[Algorithm.FFT]
    )
    assert dispatch.estimate(as_conv, direction="input_grad")[Algorithm.FFT] > 10 * forward
    assert dispatch.estimate(as_conv, direction="weight_grad")[Algorithm.FFT] > 10 * forward
    assert dispatch.estimate(ups, direction="input_grad")[Algorithm.FFT] == forward
