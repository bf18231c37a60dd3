"""The spec: output-length formulas, padding splits, and every validation message, pinned."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import conv1d
from conv1d import ConvError, ConvTypeError
from conv1d.spec import conv1d_spec, conv_transpose1d_spec

F32 = np.float32


def arr(*shape, dtype=F32):
    return np.zeros(shape, dtype)


# --------------------------------------------------------------------------- formulas


def test_output_length_hand_checked():
    assert conv1d.output_length(35, 2) == 34  # text CNN tutorial
    assert conv1d.output_length(6, 5) == 2  # Conv1d(2, 3, 5) tutorial
    assert conv1d.output_length(16000, 10, stride=5) == 3199  # wav2vec2 conv0
    assert conv1d.output_length(10, 3, padding="same") == 10
    assert conv1d.output_length(10, 3, stride=3, padding="same") == 4  # ceil(10/3)
    assert conv1d.output_length(10, 3, stride=3, padding="causal") == 4
    assert conv1d.output_length(10, 3, padding=(2, 0)) == 10
    assert conv1d.output_length(7, 3, dilation=3) == 1
    assert conv1d.transposed_output_length(34, 2) == 35
    assert conv1d.transposed_output_length(10, 4, stride=2, padding=1) == 20
    assert conv1d.transposed_output_length(10, 3, stride=3, output_padding=2) == 32


@settings(max_examples=200, deadline=None)
@given(
    l_in=st.integers(1, 60),
    k=st.integers(1, 7),
    stride=st.integers(1, 5),
    dilation=st.integers(1, 4),
    padding=st.one_of(
        st.integers(0, 6),
        st.tuples(st.integers(0, 6), st.integers(0, 6)),
        st.sampled_from(["valid", "same", "causal"]),
    ),
)
def test_output_length_is_the_real_length(l_in, k, stride, dilation, padding):
    span = (k - 1) * dilation + 1
    spec = None
    try:
        spec = conv1d_spec((1, 1, l_in), (1, 1, k), stride=stride, padding=padding, dilation=dilation)
    except ConvError:
        with pytest.raises(ConvError):
            conv1d.output_length(l_in, k, stride, padding, dilation)
        return
    y = conv1d.conv1d(
        np.ones((1, 1, l_in)), np.ones((1, 1, k)), stride=stride, padding=padding, dilation=dilation
    )
    assert y.shape == (1, 1, conv1d.output_length(l_in, k, stride, padding, dilation)) == spec.output_shape
    assert spec.span == span
    if padding in ("same", "causal"):
        assert spec.l_out == math.ceil(l_in / stride)
    if padding == "same" and stride == 1:  # PyTorch's split: total d*(K-1), extra on the right
        assert (spec.pad_left, spec.pad_right) == (
            dilation * (k - 1) // 2,
            dilation * (k - 1) - dilation * (k - 1) // 2,
        )
    if padding == "causal":
        assert (spec.pad_left, spec.pad_right) == (span - 1, 0)


def test_same_with_stride_matches_tensorflow_same_upper():
    # TensorFlow: L_out = ceil(10/3) = 4, total pad = (4-1)*3 + 3 - 10 = 2, split 1 / 1.
    spec = conv1d_spec((1, 1, 10), (1, 1, 3), stride=3, padding="same")
    assert (spec.pad_left, spec.pad_right, spec.l_out) == (1, 1, 4)
    # L_out = ceil(11/2) = 6, total = 5*2 + 4 - 11 = 3: one left, two right (SAME_UPPER).
    spec = conv1d_spec((1, 1, 11), (1, 1, 4), stride=2, padding="same")
    assert (spec.pad_left, spec.pad_right, spec.l_out) == (1, 2, 6)


def test_spec_shapes_in_both_layouts():
    spec = conv1d_spec((8, 100, 16), (33, 16, 3), layout="NLC")
    assert spec.input_shape == (8, 100, 16) and spec.output_shape == (8, 98, 33)
    spec = conv1d_spec((16, 100), (33, 16, 3))
    assert spec.output_shape == (33, 98) and not spec.batched
    spec = conv_transpose1d_spec((2, 4, 10), (4, 3, 3), groups=2, stride=2)
    assert spec.weight_shape == (4, 3, 3) and spec.output_shape == (2, 6, 21)


# --------------------------------------------------------------------------- messages


def raises(match, *, kind=ConvError):
    return pytest.raises(kind, match=match)


def test_seed_mistake_text_cnn_says_axis_2_and_the_fix():
    layer = conv1d.Conv1d(256, 100, 2)
    with raises(
        r"weight \(100, 256, 2\) with groups=1 expects 256 input channels on axis 1, got input of "
        r"shape \(32, 35, 256\) with 35 there\. Axis 2 has 256: if the input is channels-last "
        r"\(N, L, C\), pass layout='NLC' or use x\.transpose\(0, 2, 1\)\."
    ):
        layer(arr(32, 35, 256))


def test_channel_mismatch_batched_and_unbatched():
    with raises(
        r"conv1d: weight \(33, 16, 3\) with groups=1 expects 16 input channels on axis 1, got input of shape \(8, 100, 16\)"
    ):
        conv1d.conv1d(arr(8, 100, 16), arr(33, 16, 3))
    with raises(
        r"expects 16 input channels on axis 0, got input of shape \(100, 16\) with 100 there\. Axis 1 has 16: if the input is channels-last \(L, C\), pass layout='NLC' or use x\.T"
    ):
        conv1d.conv1d(arr(100, 16), arr(33, 16, 3))
    with raises(
        r"expects 16 input channels on axis 2.*Axis 1 has 16: the input looks channels-first; pass layout='NCL'"
    ):
        conv1d.conv1d(arr(8, 16, 100), arr(33, 16, 3), layout="NLC")
    with raises(
        r"weight \(4, 1, 3\) with groups=2 \(1 x 2\) expects 2 input channels on axis 1, got input of shape \(2, 3, 10\) with 3 there"
    ):
        conv1d.conv1d(arr(2, 3, 10), arr(4, 1, 3), groups=2)
    with raises(r"Weight axis 0 has 5: conv1d weights are \(C_out, C_in/groups, K\)"):
        conv1d.conv1d(arr(2, 5, 10), arr(5, 3, 3))
    with raises(
        r"conv_transpose1d: weight \(3, 4, 3\) \(a transposed weight is \(C_in, C_out/groups, K\)\) expects 3 input channels"
    ):
        conv1d.conv_transpose1d(arr(2, 5, 10), arr(3, 4, 3))


def test_wrong_rank():
    with raises(
        r"input must be 3-D \(N, C_in, L\) batched or \(C_in, L\) unbatched, got 1-D input of shape \(10,\)\. For one signal with one channel use x\[None, None, :\]"
    ):
        conv1d.conv1d(arr(10), arr(1, 1, 3))
    with raises(r"got 4-D input of shape \(1, 2, 3, 10\)"):
        conv1d.conv1d(arr(1, 2, 3, 10), arr(1, 3, 3))
    with raises(r"weight must be 3-D \(C_out, C_in/groups, K\) for conv1d .* got shape \(4, 3\)"):
        conv1d.conv1d(arr(1, 3, 10), arr(4, 3))


def test_groups_must_divide_channels():
    with raises(
        r"Conv1d: in_channels=3 is not divisible by groups=2 \(the layer's channels\).*Valid groups here: 1"
    ):
        conv1d.Conv1d(3, 4, 3, groups=2)
    with raises(r"Conv1d: out_channels=3 is not divisible by groups=2 .*Valid groups here: 1"):
        conv1d.Conv1d(4, 3, 3, groups=2)
    with raises(r"conv1d: out_channels=3 is not divisible by groups=2 \(weight \(3, 2, 3\)\)"):
        conv1d.conv1d(arr(2, 4, 10), arr(3, 2, 3), groups=2)
    with raises(r"conv_transpose1d: in_channels=3 is not divisible by groups=2 \(weight \(3, 3, 3\)\)"):
        conv1d.conv_transpose1d(arr(2, 3, 10), arr(3, 3, 3), groups=2)
    with raises(r"groups must be a positive int, got groups=0"):
        conv1d.conv1d(arr(2, 4, 10), arr(3, 4, 3), groups=0)


def test_bias_shape_and_dtype():
    with raises(
        r"weight \(4, 3, 3\) gives 4 output channels, so bias must have shape \(4,\), got bias of shape \(5,\)"
    ):
        conv1d.conv1d(arr(2, 3, 10), arr(4, 3, 3), arr(5))
    with raises(
        r"input is float32 but bias is float64.*bias\.astype\(np\.float32\) or input\.astype\(np\.float64\)",
        kind=ConvTypeError,
    ):
        conv1d.conv1d(arr(2, 3, 10), arr(4, 3, 3), arr(4, dtype=np.float64))
    with raises(
        r"input is float32 but weight is float64.*weight\.astype\(np\.float32\) or input\.astype\(np\.float64\)",
        kind=ConvTypeError,
    ):
        conv1d.conv1d(arr(2, 3, 10), arr(4, 3, 3, dtype=np.float64))


def test_unsupported_dtypes():
    with raises(
        r"input has dtype bool, which conv1d does not convolve\. Supported dtypes: float16, .*Convert with input\.astype\(np\.float32\)",
        kind=ConvTypeError,
    ):
        conv1d.conv1d(np.zeros((1, 1, 5), bool), np.zeros((1, 1, 2), bool))
    with raises(r"input could not be read as a numeric array", kind=ConvTypeError):
        conv1d.conv1d([[[1, 2]], [[1]]], arr(1, 1, 1))
    # both kinds of except clause catch a ConvTypeError
    assert issubclass(ConvTypeError, TypeError) and issubclass(ConvTypeError, ValueError)


def test_kernel_longer_than_padded_input_shows_the_arithmetic():
    with raises(
        r"conv1d: the kernel spans \(K-1\)\*dilation\+1 = \(3-1\)\*3\+1 = 7 samples, but the padded "
        r"input has only L_in \+ padding = 5 \+ 0 \+ 0 = 5\. Pad at least 2 more samples \(padding='same' keeps the length\)"
    ):
        conv1d.conv1d(arr(1, 1, 5), arr(1, 1, 3), dilation=3)
    with raises(r"L_in \+ padding = 2 \+ 1 \+ 1 = 4\. Pad at least 1 more sample "):
        conv1d.conv1d(arr(1, 1, 2), arr(1, 1, 5), padding=1)


def test_zero_length_input():
    with raises(
        r"the input has length 0 on axis 2 \(shape \(2, 3, 0\)\); a convolution needs at least one sample"
    ):
        conv1d.conv1d(arr(2, 3, 0), arr(4, 3, 1), padding=2)
    with raises(r"conv_transpose1d: the input has length 0"):
        conv1d.conv_transpose1d(arr(2, 3, 0), arr(3, 4, 1))


def test_padding_strings_and_modes():
    with raises(
        r"padding='full' is not a padding name; expected an int, \(left, right\) or one of 'valid', 'same', 'causal'\."
    ):
        conv1d.conv1d(arr(1, 1, 5), arr(1, 1, 2), padding="full")
    with raises(r"padding='casual' is not a padding name.* Did you mean 'causal'\?"):
        conv1d.conv1d(arr(1, 1, 5), arr(1, 1, 2), padding="casual")
    with raises(
        r"padding_mode must be one of 'zeros', 'reflect', 'replicate', 'circular', got padding_mode='reflection'\. Did you mean 'reflect'\?"
    ):
        conv1d.Conv1d(1, 1, 2, padding_mode="reflection")
    with raises(
        r"layout must be 'NCL' \(channels first, PyTorch's\) or 'NLC' \(channels last\), got layout='NWC'"
    ):
        conv1d.conv1d(arr(1, 1, 5), arr(1, 1, 2), layout="NWC")
    with raises(
        r"must be >= 0 \(negative padding is not supported\), got -1\. To drop samples, slice the input instead"
    ):
        conv1d.conv1d(arr(1, 1, 5), arr(1, 1, 2), padding=-1)
    with raises(r"must be >= 0 .*got -2"):
        conv1d.conv1d(arr(1, 1, 5), arr(1, 1, 2), padding=(1, -2))
    with raises(r"padding must be an int, a 1-tuple or \(left, right\), got padding=\(1, 2, 3\)"):
        conv1d.conv1d(arr(1, 1, 5), arr(1, 1, 2), padding=(1, 2, 3))
    with raises(
        r"padding must be an int, \(left, right\) or a padding name, got 1\.5 \(float\)", kind=ConvTypeError
    ):
        conv1d.conv1d(arr(1, 1, 5), arr(1, 1, 2), padding=1.5)


def test_stride_and_dilation_must_be_positive_ints():
    with raises(r"conv1d: stride must be a positive int, got stride=0\."):
        conv1d.conv1d(arr(1, 1, 5), arr(1, 1, 2), stride=0)
    with raises(r"conv1d: dilation must be a positive int, got dilation=-1\."):
        conv1d.conv1d(arr(1, 1, 5), arr(1, 1, 2), dilation=-1)
    with raises(r"stride must be an int, got 2\.0 \(float\)", kind=ConvTypeError):
        conv1d.conv1d(arr(1, 1, 5), arr(1, 1, 2), stride=2.0)
    with raises(r"stride must be an int, got True \(bool\)", kind=ConvTypeError):
        conv1d.conv1d(arr(1, 1, 5), arr(1, 1, 2), stride=True)
    with raises(r"stride must be an int or a 1-element tuple for a 1-D convolution, got stride=\(1, 1\)"):
        conv1d.conv1d(arr(1, 1, 5), arr(1, 1, 2), stride=(1, 1))
    with raises(r"kernel_size must be a positive int, got kernel_size=0"):
        conv1d.Conv1d(1, 1, 0)
    assert conv1d.conv1d(arr(1, 1, 5), arr(1, 1, 2), stride=(2,)).shape == (1, 1, 2)


def test_reflect_and_circular_limits():
    with raises(
        r"padding_mode='reflect' needs each side's padding < L_in .* got padding \(4, 4\) for L_in=4\. Use padding_mode='replicate'"
    ):
        conv1d.conv1d(arr(2, 3, 4), arr(1, 3, 3), padding=4, padding_mode="reflect")
    with raises(
        r"padding_mode='circular' needs each side's padding <= L_in .* got padding \(5, 0\) for L_in=4"
    ):
        conv1d.conv1d(arr(2, 3, 4), arr(1, 3, 3), padding=(5, 0), padding_mode="circular")
    assert conv1d.conv1d(arr(2, 3, 4), arr(1, 3, 3), padding=4, padding_mode="circular").shape == (2, 1, 10)
    assert conv1d.conv1d(arr(2, 3, 4), arr(1, 3, 3), padding=9, padding_mode="replicate").shape == (2, 1, 20)


def test_same_and_causal_combinations():
    # 'same' with a kernel longer than the input still works (it pads enough), as in PyTorch
    assert conv1d.conv1d(arr(1, 1, 2), arr(1, 1, 5), padding="same").shape == (1, 1, 2)
    # ... but reflect cannot pad 2 on a 2-sample input
    with raises(
        r"padding_mode='reflect' needs each side's padding < L_in .* got padding \(2, 2\) for L_in=2"
    ):
        conv1d.conv1d(arr(1, 1, 2), arr(1, 1, 5), padding="same", padding_mode="reflect")
    with raises(r"padding_mode='reflect' .* got padding \(4, 0\) for L_in=3"):
        conv1d.conv1d(arr(1, 1, 3), arr(1, 1, 5), padding="causal", padding_mode="reflect")
    with raises(
        r"conv_transpose1d: padding must be an int for a transposed convolution \(as in PyTorch\), got padding='same'"
    ):
        conv1d.conv_transpose1d(arr(1, 1, 3), arr(1, 1, 2), padding="same")
    with raises(
        r"ConvTranspose1d: padding must be an int for a transposed convolution .* got padding='causal'"
    ):
        conv1d.ConvTranspose1d(1, 1, 2, padding="causal")


def test_transposed_rules():
    with raises(
        r"output_padding must be smaller than stride or dilation, got output_padding=2 with stride=2, dilation=1\..*use output_padding < 2"
    ):
        conv1d.conv_transpose1d(arr(2, 3, 10), arr(3, 4, 3), stride=2, output_padding=2)
    assert conv1d.conv_transpose1d(arr(2, 3, 10), arr(3, 4, 3), dilation=3, output_padding=2).shape == (
        2,
        4,
        18,
    )
    with raises(r"output_padding must be >= 0, got output_padding=-1"):
        conv1d.conv_transpose1d(arr(2, 3, 10), arr(3, 4, 3), output_padding=-1)
    with raises(
        r"the output would have \(L_in-1\)\*stride - 2\*padding \+ dilation\*\(K-1\) \+ output_padding \+ 1 = "
        r"\(1-1\)\*1 - 2\*1 \+ 1\*\(2-1\) \+ 0 \+ 1 = 0 samples; it must be at least 1\. Use padding <= 0"
    ):
        conv1d.conv_transpose1d(arr(1, 3, 1), arr(3, 4, 2), padding=1)
    with raises(
        r"only padding_mode='zeros' is supported for transposed convolutions \(as in PyTorch\), got padding_mode='reflect'"
    ):
        conv1d.ConvTranspose1d(3, 4, 3, padding_mode="reflect")
    with raises(r"weight \(0, 4, 3\) has no input channels"):
        conv1d.conv_transpose1d(arr(2, 0, 10), arr(0, 4, 3))


def test_output_size_rules():
    up = conv1d.ConvTranspose1d(3, 4, 3, stride=3)
    assert up(arr(1, 3, 10), output_size=[30]).shape == (1, 4, 30)
    assert up(arr(1, 3, 10), output_size=(1, 4, 32)).shape == (1, 4, 32)
    assert up(arr(3, 10), output_size=[4, 31]).shape == (4, 31)
    with raises(
        r"ConvTranspose1d: requested an output length of 40, but for L_in=10 with stride=3, padding=0, kernel_size=3, dilation=1 the valid lengths are 30 to 32"
    ):
        up(arr(1, 3, 10), output_size=[40])
    with raises(
        r"output_size must be the output length or the full output shape \(3 values for input of shape \(1, 3, 10\)\), got \[1, 30\]"
    ):
        up(arr(1, 3, 10), output_size=[1, 30])


def test_empty_output_channels_is_an_error_as_in_torch():
    with raises(r"weight \(0, 3, 3\) has no output channels"):
        conv1d.conv1d(arr(2, 3, 10), arr(0, 3, 3))


def test_grad_output_shape_is_checked():
    with raises(
        r"conv1d_input: grad_output must have the convolution's output shape \(2, 4, 8\) \(input \(2, 3, 10\), weight \(4, 3, 3\), layout 'NCL'\), got \(2, 4, 9\)"
    ):
        conv1d.grad.conv1d_input((2, 3, 10), arr(4, 3, 3), arr(2, 4, 9))
    with raises(r"input_size must be a shape, a tuple of non-negative ints, got 10", kind=ConvTypeError):
        conv1d.grad.conv1d_input(10, arr(4, 3, 3), arr(2, 4, 9))
    layer = conv1d.Conv1d(3, 4, 3)
    with raises(r"Conv1d.backward: call forward first"):
        layer.backward(arr(2, 4, 8))
    layer(arr(2, 3, 10))
    with raises(r"Conv1d.backward: grad_output must have the convolution's output shape \(2, 4, 8\)"):
        layer.backward(arr(2, 4, 7))


def test_layer_arguments():
    with raises(
        r"Conv1d: dtype must be a floating or complex dtype .* got dtype=<class 'numpy.int64'>",
        kind=ConvTypeError,
    ):
        conv1d.Conv1d(1, 1, 2, dtype=np.int64)
    with raises(r"device must be None or 'cpu', got 'cuda'"):
        conv1d.Conv1d(1, 1, 2, device="cuda")
    with raises(
        r"Conv1d.load_state_dict: missing keys \['bias'\], unexpected keys \[\]; this layer has \['weight', 'bias'\] \(it was built with bias=True\)"
    ):
        conv1d.Conv1d(1, 1, 2).load_state_dict({"weight": arr(1, 1, 2)})
    with raises(r"'weight' has shape \(1, 1, 3\), the layer's weight has shape \(1, 1, 2\)"):
        conv1d.Conv1d(1, 1, 2).load_state_dict({"weight": arr(1, 1, 3), "bias": arr(1)})


def test_errors_come_before_any_work(monkeypatch):
    """A bad call never reaches a kernel."""
    import conv1d.kernels.gemm as gemm

    def boom(*args, **kwargs):
        raise AssertionError("a kernel ran on invalid input")

    for name in ("conv", "conv_transpose", "conv_weight"):
        monkeypatch.setattr(gemm, name, boom)
    with pytest.raises(ConvError):
        conv1d.conv1d(arr(2, 3, 2), arr(4, 3, 3))
    with pytest.raises(ConvError):
        conv1d.conv_transpose1d(arr(2, 3, 2), arr(3, 4, 3), stride=2, output_padding=3)
    with pytest.raises(ConvError):
        conv1d.grad.conv1d_weight(arr(2, 3, 10), (4, 3, 3), arr(2, 4, 9))


def test_every_message_names_its_entry_point():
    for call, name in (
        (lambda: conv1d.conv1d(arr(1, 1, 5), arr(1, 1, 2), stride=0), "conv1d"),
        (lambda: conv1d.conv_transpose1d(arr(1, 1, 5), arr(1, 1, 2), stride=0), "conv_transpose1d"),
        (lambda: conv1d.grad.conv1d_weight(arr(1, 1, 5), (1, 1, 2), arr(1, 1, 4), stride=0), "conv1d_weight"),
        (lambda: conv1d.Conv1d(1, 1, 2, stride=0), "Conv1d"),
        (lambda: conv1d.output_length(5, 2, stride=0), "output_length"),
    ):
        with pytest.raises(ConvError) as info:
            call()
        assert re.match(rf"{name}: ", str(info.value)), str(info.value)


@pytest.mark.parametrize(
    ("input_shape", "weight_shape", "says"),
    [
        (
            (1, 2, 10),
            (2, 2, "3"),
            r"weight_shape must be a shape, a tuple of non-negative ints, got \(2, 2, '3'\)",
        ),
        (
            (1, 2, 10.5),
            (2, 2, 3),
            r"input_shape must be a shape, a tuple of non-negative ints, got \(1, 2, 10\.5\)",
        ),
        (None, (2, 2, 3), r"input_shape must be a shape, a tuple of non-negative ints, got None"),
        (
            (1, 2, -10),
            (2, 2, 3),
            r"input_shape must be a shape, a tuple of non-negative ints, got \(1, 2, -10\)",
        ),
    ],
    ids=["a string size", "a fractional length", "no shape", "a negative length"],
)
def test_shapes_are_whole_numbers_or_refused(input_shape, weight_shape, says):
    """These were converted silently (10.5 -> 10, '3' -> 3), raised a bare TypeError, or
    reported a length of -10 as 'length 0'."""
    with pytest.raises(ConvTypeError, match=says):
        conv1d.plan(input_shape, weight_shape)
