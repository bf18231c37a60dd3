"""Streaming: feed a convolution chunk by chunk and get exactly the offline result.

A :class:`StreamingConv1d` keeps the *padded stream* ``P`` the offline layer would see
(left padding, the samples so far, and at :meth:`~StreamingConv1d.flush` the right
padding) from the first sample the next output needs, plus the stride phase. Output
``t`` reads ``P[t*stride : t*stride + span]`` with ``span = (K-1)*dilation + 1``; it is
emitted as soon as that window has arrived, so after ``m`` padded-stream samples the
stream has emitted ``(m - span) // stride + 1`` outputs, the same count and values as
the offline call on those samples. Concatenating every chunk's output (and the flush)
gives the offline ``layer(x)``.

What it keeps (:class:`ConvStreamState`, plain data): at most ``span - 1`` samples of
left context (more only while a chunk is being processed), and, when ``stride > span``,
how many coming samples to skip. Padding modes are streamed where their values are
known in time: ``'zeros'`` always; ``'replicate'`` (the first sample, then the last);
``'reflect'`` (the left side waits for ``padding + 1`` samples; the right side keeps the
last ``padding + 1``); ``'circular'`` only without left padding (the left side would
need the end of the signal). ``padding='same'`` with ``stride > 1`` splits its padding
by the total length, which a stream does not know, and is refused.

Delay: output ``t`` is aligned with input sample ``t*stride`` (that is what
``padding='same'`` means) and needs inputs up to ``t*stride + delay`` with
``delay = span - 1 - pad_left``: 0 for ``padding='causal'``, ``(K-1)//2`` for ``'same'``
with odd K, ``span - 1`` for ``'valid'`` (negative when the left padding exceeds the span:
those first outputs see padding only and come out at once).

:class:`StreamingConvTranspose1d` keeps the overlap-add tail instead: each input sample
adds ``weight`` times itself to ``span`` output positions; positions before
``seen*stride`` receive nothing more and are emitted, the others wait; so do the last
positions that the right crop (``padding``) would drop if the stream ended now. Output
``u`` is aligned with input ``u / stride``; its delay, in input samples, is
``max(padding, 2*padding + stride - span - output_padding) / stride`` (a
:class:`fractions.Fraction` when not whole).

:class:`StreamingSequential` streams layers and elementwise functions in sequence;
its delay is the sum of its parts, each scaled to the stack's input rate (a stride-2
layer's output samples are two input samples each).

The functional forms :func:`stream_conv1d` and :func:`stream_conv_transpose1d` take the
state in and give the new state out (``None`` starts a stream) and never modify the
state they are given. Chunks may have any length, 0 and 1 included, and any batch size
(fixed for one stream).
"""

from .conv import ConvStreamState, StreamingConv1d, stream_conv1d
from .sequential import StreamingSequential, streaming
from .transpose import ConvTransposeStreamState, StreamingConvTranspose1d, stream_conv_transpose1d

__all__ = [
    "ConvStreamState",
    "ConvTransposeStreamState",
    "StreamingConv1d",
    "StreamingConvTranspose1d",
    "StreamingSequential",
    "stream_conv1d",
    "stream_conv_transpose1d",
    "streaming",
]

# Their public home: what reprs, pickles and the documentation name.
for _public in (
    ConvStreamState,
    ConvTransposeStreamState,
    StreamingConv1d,
    StreamingConvTranspose1d,
    StreamingSequential,
    stream_conv1d,
    stream_conv_transpose1d,
    streaming,
):
    _public.__module__ = __name__
del _public
