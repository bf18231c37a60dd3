"""Layers: the tutorials, PyTorch's initialisation, training, state dicts, repr, torch conversion."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import conv1d
from conv1d import ConvError, ConvTypeError

# --------------------------------------------------------------------------- the tutorials


def test_tutorial_text_cnn():
    """Conv1d(256, 100, 2) on (32, 35, 256) embeddings: the error, the transpose, (32, 100, 34)."""
    conv = conv1d.Conv1d(in_channels=256, out_channels=100, kernel_size=2)
    x = np.random.default_rng(0).standard_normal((32, 35, 256)).astype(np.float32)
    with pytest.raises(
        ConvError, match=r"Axis 2 has 256: .* pass layout='NLC' or use x\.transpose\(0, 2, 1\)"
    ):
        conv(x)
    y = conv(x.transpose(0, 2, 1))
    assert y.shape == (32, 100, 34) and y.dtype == np.float32
    # the channels-last option gives the same numbers, in the same layout as the input
    channels_last = conv1d.Conv1d(256, 100, 2, layout="NLC")
    channels_last.load_state_dict(conv.state_dict())
    np.testing.assert_allclose(channels_last(x), y.transpose(0, 2, 1), rtol=1e-5, atol=1e-5)


def test_tutorial_interactive_walkthrough():
    """Conv1d(2, 3, 5): weight (3, 2, 5), bias (3,), (4, 2, 6) -> (4, 3, 2), y[0,0,t] by hand."""
    conv = conv1d.Conv1d(2, 3, 5)
    w, b = conv.weight, conv.bias
    assert w.shape == (3, 2, 5) and b.shape == (3,)
    x = np.random.default_rng(1).standard_normal((4, 2, 6)).astype(np.float32)
    y = conv(x)
    assert y.shape == (4, 3, 2)
    assert y.shape[2] == x.shape[2] - w.shape[2] + 1
    np.testing.assert_allclose(
        y[0, 0, 0], x[0, 0, 0:5] @ w[0, 0] + x[0, 1, 0:5] @ w[0, 1] + b[0], rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        y[0, 0, 1], x[0, 0, 1:6] @ w[0, 0] + x[0, 1, 1:6] @ w[0, 1] + b[0], rtol=1e-5, atol=1e-6
    )


# --------------------------------------------------------------------------- initialisation


@pytest.mark.parametrize(
    "cls, torch_cls, args",
    [
        (conv1d.Conv1d, torch.nn.Conv1d, dict(in_channels=64, out_channels=96, kernel_size=5)),
        (conv1d.Conv1d, torch.nn.Conv1d, dict(in_channels=64, out_channels=128, kernel_size=3, groups=4)),
        (conv1d.Conv1d, torch.nn.Conv1d, dict(in_channels=32, out_channels=32, kernel_size=9, groups=32)),
        (
            conv1d.ConvTranspose1d,
            torch.nn.ConvTranspose1d,
            dict(in_channels=96, out_channels=64, kernel_size=4),
        ),
        (
            conv1d.ConvTranspose1d,
            torch.nn.ConvTranspose1d,
            dict(in_channels=64, out_channels=48, kernel_size=3, groups=4),
        ),
    ],
)
def test_init_matches_torch_distribution(cls, torch_cls, args):
    module = torch_cls(**args)
    fan_in, _ = torch.nn.init._calculate_fan_in_and_fan_out(module.weight)
    bound = 1 / np.sqrt(fan_in)
    torch_w = module.weight.detach().numpy()
    assert np.abs(torch_w).max() <= bound  # our reading of torch's rule
    layer = cls(**args, rng=np.random.default_rng(0))
    assert layer.weight.shape == torch_w.shape and layer.weight.dtype == np.float32
    for values in (layer.weight.ravel(), layer.bias):
        assert np.abs(values).max() <= bound
        # uniform on [-bound, bound]: a KS test cannot tell them apart (seeded, so deterministic)
        assert scipy.stats.kstest(values, scipy.stats.uniform(-bound, 2 * bound).cdf).pvalue > 1e-3
    # and torch's own draws pass the same test against the same distribution
    assert scipy.stats.kstest(torch_w.ravel(), scipy.stats.uniform(-bound, 2 * bound).cdf).pvalue > 1e-3


def test_init_is_seedable_and_complex_parts_are_independent():
    a = conv1d.Conv1d(4, 6, 3, rng=7)
    b = conv1d.Conv1d(4, 6, 3, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a.weight, b.weight)
    np.testing.assert_array_equal(a.bias, b.bias)
    assert not np.array_equal(a.weight, conv1d.Conv1d(4, 6, 3, rng=8).weight)
    c = conv1d.Conv1d(4, 6, 3, dtype=np.complex64, rng=0)
    bound = 1 / np.sqrt(12)
    assert c.weight.dtype == np.complex64
    assert np.abs(c.weight.real).max() <= bound and np.abs(c.weight.imag).max() <= bound
    assert np.corrcoef(c.weight.real.ravel(), c.weight.imag.ravel())[0, 1] < 0.5
    # zero fan-in: nothing to draw, as torch (which warns and leaves zeros)
    assert conv1d.Conv1d(0, 4, 3).weight.shape == (4, 0, 3)


# --------------------------------------------------------------------------- torch parity of layers

layer_configs = st.fixed_dictionaries(
    {
        "groups": st.integers(1, 3),
        "cin_g": st.integers(1, 3),
        "cout_g": st.integers(1, 3),
        "kernel_size": st.integers(1, 5),
        "stride": st.integers(1, 3),
        "dilation": st.integers(1, 3),
        "padding": st.one_of(st.integers(0, 3), st.just("same"), st.just("valid")),
        "padding_mode": st.sampled_from(["zeros", "reflect", "replicate", "circular"]),
        "bias": st.booleans(),
        "n": st.integers(1, 3),
        "extra_length": st.integers(0, 12),
        "batched": st.booleans(),
    }
)


def _torch_layer_args(c):
    return dict(
        in_channels=c["cin_g"] * c["groups"],
        out_channels=c["cout_g"] * c["groups"],
        kernel_size=c["kernel_size"],
        stride=c["stride"],
        padding=c["padding"],
        dilation=c["dilation"],
        groups=c["groups"],
        bias=c["bias"],
        padding_mode=c["padding_mode"],
    )


@settings(max_examples=60, deadline=None)
@given(c=layer_configs)
def test_conv1d_layer_forward_backward_match_torch(c):
    if c["padding"] == "same":
        c["stride"] = 1  # torch refuses 'same' with stride > 1
    args = _torch_layer_args(c)
    span = (c["kernel_size"] - 1) * c["dilation"] + 1
    length = span + c["extra_length"]
    module = torch.nn.Conv1d(**args).double()
    layer = conv1d.Conv1d.from_torch(module)
    assert repr(layer) == repr(module)
    rng = np.random.default_rng(0)
    shape = (c["n"], args["in_channels"], length) if c["batched"] else (args["in_channels"], length)
    x = rng.standard_normal(shape)
    xt = torch.tensor(x, requires_grad=True)
    try:
        expected = module(xt)
    except RuntimeError:  # padding mode limits: both must refuse
        with pytest.raises(ConvError):
            layer(x)
        return
    y = layer(x)
    np.testing.assert_allclose(y, expected.detach().numpy(), rtol=1e-10, atol=1e-10)
    grad_y = rng.standard_normal(y.shape)
    expected.backward(torch.tensor(grad_y))
    grad_x = layer.backward(grad_y)
    np.testing.assert_allclose(grad_x, xt.grad.numpy(), rtol=1e-10, atol=1e-10, err_msg="grad_input")
    np.testing.assert_allclose(
        layer.weight_grad, module.weight.grad.numpy(), rtol=1e-10, atol=1e-10, err_msg="grad_weight"
    )
    if c["bias"]:
        np.testing.assert_allclose(
            layer.bias_grad, module.bias.grad.numpy(), rtol=1e-10, atol=1e-10, err_msg="grad_bias"
        )


@settings(max_examples=60, deadline=None)
@given(c=layer_configs, output_padding=st.integers(0, 2), use_output_size=st.booleans())
def test_conv_transpose1d_layer_forward_backward_match_torch(c, output_padding, use_output_size):
    args = _torch_layer_args(c)
    args["padding"] = c["padding"] if isinstance(c["padding"], int) else 0
    args["padding_mode"] = "zeros"
    args["output_padding"] = output_padding if output_padding < max(c["stride"], c["dilation"]) else 0
    module = torch.nn.ConvTranspose1d(**args).double()
    layer = conv1d.ConvTranspose1d.from_torch(module)
    assert repr(layer) == repr(module)
    rng = np.random.default_rng(1)
    length = 1 + c["extra_length"]
    shape = (c["n"], args["in_channels"], length) if c["batched"] else (args["in_channels"], length)
    x = rng.standard_normal(shape)
    xt = torch.tensor(x, requires_grad=True)
    smallest = (length - 1) * c["stride"] - 2 * args["padding"] + c["dilation"] * (c["kernel_size"] - 1) + 1
    output_size = [smallest + c["stride"] - 1] if use_output_size else None
    try:
        expected = module(xt, output_size=output_size)
    except RuntimeError:  # output too short: both must refuse
        with pytest.raises(ConvError):
            layer(x, output_size=output_size)
        return
    y = layer(x, output_size=output_size)
    np.testing.assert_allclose(y, expected.detach().numpy(), rtol=1e-10, atol=1e-10)
    grad_y = rng.standard_normal(y.shape)
    expected.backward(torch.tensor(grad_y))
    np.testing.assert_allclose(
        layer.backward(grad_y), xt.grad.numpy(), rtol=1e-10, atol=1e-10, err_msg="grad_input"
    )
    np.testing.assert_allclose(
        layer.weight_grad, module.weight.grad.numpy(), rtol=1e-10, atol=1e-10, err_msg="grad_weight"
    )
    if c["bias"]:
        np.testing.assert_allclose(
            layer.bias_grad, module.bias.grad.numpy(), rtol=1e-10, atol=1e-10, err_msg="grad_bias"
        )


def test_extras_in_layers_channels_last_and_causal():
    layer = conv1d.Conv1d(3, 5, 4, dilation=2, padding="causal", layout="NLC", rng=0)
    x = np.random.default_rng(0).standard_normal((2, 11, 3))
    y = layer(x.astype(np.float32))
    assert y.shape == (2, 11, 5)
    # causal: y[t] depends on x[..t] only
    x2 = x.copy()
    x2[:, 7:, :] += 1.0
    np.testing.assert_array_equal(layer(x2.astype(np.float32))[:, :7], y[:, :7])
    ref = conv1d.conv1d(
        x.transpose(0, 2, 1),
        layer.weight.astype(np.float64),
        layer.bias.astype(np.float64),
        padding=(6, 0),
        dilation=2,
    )
    np.testing.assert_allclose(y, ref.transpose(0, 2, 1), rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- training


def test_a_numpy_training_loop_learns_a_known_filter():
    """Gradient descent recovers the weights of a target convolution from its outputs."""
    rng = np.random.default_rng(0)
    target = conv1d.Conv1d(2, 3, 5, padding=2, dtype=np.float64, rng=1)
    layer = conv1d.Conv1d(2, 3, 5, padding=2, dtype=np.float64, rng=2)
    losses = []
    for _ in range(300):
        x = rng.standard_normal((8, 2, 32))
        y = layer(x)
        diff = y - target(x)
        losses.append(float(np.mean(diff**2)))
        layer.zero_grad()
        layer.backward(2 * diff / diff.size)
        for p, g in zip(layer.parameters(), layer.gradients()):
            p -= 0.5 * g
    assert losses[-1] < 1e-3 * losses[0], (losses[0], losses[-1])
    np.testing.assert_allclose(layer.weight, target.weight, atol=2e-2)


def test_backward_accumulates_until_zero_grad():
    layer = conv1d.Conv1d(2, 3, 3, dtype=np.float64, rng=0)
    x = np.random.default_rng(0).standard_normal((2, 2, 9))
    gy = np.ones((2, 3, 7))
    layer(x)
    layer.backward(gy)
    once = layer.weight_grad.copy()
    layer.backward(gy, input=x)
    np.testing.assert_allclose(layer.weight_grad, 2 * once)
    layer.zero_grad()
    assert not layer.weight_grad.any() and not layer.bias_grad.any()


def test_to_changes_dtype():
    layer = conv1d.Conv1d(2, 3, 3, rng=0).to(np.float64)
    assert layer.weight.dtype == layer.bias.dtype == layer.weight_grad.dtype == np.float64
    assert layer(np.zeros((1, 2, 5))).dtype == np.float64


# --------------------------------------------------------------------------- state dicts and conversion


def test_state_dict_round_trips_with_real_torch_modules():
    torch.manual_seed(0)
    module = torch.nn.Conv1d(4, 6, 3, padding=1, groups=2)
    layer = conv1d.Conv1d(4, 6, 3, padding=1, groups=2)
    layer.load_state_dict(module.state_dict())  # torch tensors in
    assert list(layer.state_dict()) == list(module.state_dict()) == ["weight", "bias"]
    x = np.random.default_rng(0).standard_normal((2, 4, 10)).astype(np.float32)
    np.testing.assert_allclose(layer(x), module(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-5)
    other = torch.nn.Conv1d(4, 6, 3, padding=1, groups=2)
    other.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})  # NumPy arrays out
    np.testing.assert_array_equal(other.weight.detach().numpy(), layer.weight)
    # state_dict() is a snapshot
    snapshot = layer.state_dict()
    snapshot["weight"][...] = 0
    assert layer.weight.any()


def test_conversion_both_ways_copies_weights():
    module = torch.nn.ConvTranspose1d(4, 6, 3, stride=2, output_padding=1, groups=2, dilation=2).double()
    layer = conv1d.ConvTranspose1d.from_torch(module)
    back = layer.to_torch()
    assert repr(back) == repr(module) == repr(layer)
    x = np.random.default_rng(0).standard_normal((2, 4, 7))
    expected = module(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(layer(x), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(back(torch.from_numpy(x)).detach().numpy(), expected, rtol=1e-12, atol=1e-12)
    layer.weight[...] = 0  # copies: the torch modules are untouched
    assert module.weight.abs().sum() > 0 and back.weight.abs().sum() > 0
    with pytest.raises(TypeError, match=r"got a ConvTranspose1d; use ConvTranspose1d\.from_torch"):
        conv1d.Conv1d.from_torch(module)
    with pytest.raises(ConvError, match=r"torch\.nn\.Conv1d has no padding='causal'"):
        conv1d.Conv1d(1, 1, 3, padding="causal").to_torch()
    with pytest.raises(ConvError, match=r"layout='NLC'"):
        conv1d.Conv1d(1, 1, 3, layout="NLC").to_torch()


def test_importing_conv1d_does_not_import_torch():
    code = "import sys, conv1d; conv1d.Conv1d(2, 3, 5); assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_complex_layers_take_gradients_as_torch_autograd_does():
    """grad_input = conj(w) * g, grad_weight = conj(x) * g (Wirtinger), as torch's autograd."""
    rng = np.random.default_rng(5)
    for cls, torch_cls, shape in (
        (conv1d.Conv1d, torch.nn.Conv1d, (2, 3, 9)),
        (conv1d.ConvTranspose1d, torch.nn.ConvTranspose1d, (2, 3, 9)),
    ):
        layer = cls(3, 4, 3, stride=2, padding=1, dtype=np.complex128, rng=1)
        module = torch_cls(3, 4, 3, stride=2, padding=1, dtype=torch.complex128)
        module.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
        x = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
        y = layer(x)
        g = rng.standard_normal(y.shape) + 1j * rng.standard_normal(y.shape)
        grad_x = layer.backward(g)
        xt = torch.from_numpy(x).requires_grad_(True)
        module(xt).backward(torch.from_numpy(g))
        np.testing.assert_allclose(
            grad_x, xt.grad.numpy(), rtol=1e-12, atol=1e-12, err_msg=f"{cls.__name__} input"
        )
        np.testing.assert_allclose(
            layer.weight_grad,
            module.weight.grad.numpy(),
            rtol=1e-12,
            atol=1e-12,
            err_msg=f"{cls.__name__} weight",
        )
        np.testing.assert_allclose(
            layer.bias_grad, module.bias.grad.numpy(), rtol=1e-12, atol=1e-12, err_msg=f"{cls.__name__} bias"
        )


@pytest.mark.parametrize(
    "rng", ["abc", -1, 1.5, True], ids=["a string", "a negative seed", "a float", "a bool"]
)
def test_a_bad_rng_is_refused_with_what_it_takes(rng):
    with pytest.raises(
        ConvTypeError, match=r"rng must be a seed \(a whole number >= 0\), a numpy.random.Generator or None"
    ):
        conv1d.Conv1d(2, 3, 3, rng=rng)


def test_a_weight_of_tens_of_gib_is_refused_before_allocating():
    with pytest.raises(ConvError, match=r"a weight of shape \(3, 2, 3000000000\) would take 67\.1 GiB"):
        conv1d.Conv1d(2, 3, 3_000_000_000)
