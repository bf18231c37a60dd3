"""FFT kernels: overlap-save with real FFTs (``scipy.fft``), channel mixing per frequency.

Forward. A correlation with a dilated kernel is a correlation with the zero-stuffed
kernel ``wd`` of length ``span = (K-1)*dilation + 1`` (``wd[j*dilation] = w[j]``).
For one block of ``nfft`` input samples ``s``, the circular correlation
``c[u] = sum_m wd[m] * s[(u + m) mod nfft] = irfft(conj(WD) * S)[u]`` equals the true
one for ``u <= nfft - span`` (``u + m`` never wraps), so each block yields
``B = nfft - span + 1`` outputs, and consecutive blocks start ``B`` samples apart
(overlap-save; no kernel flip is needed with the conjugate). ``nfft`` is the
``next_fast_len`` size that minimises FFT work per output sample (the rule of
``scipy.signal``'s ``_calc_oa_lens``: a few times the span, or the whole signal if that is
cheaper). Channels mix as a batched complex matrix product per frequency,
``Y[o, f] = sum_c conj(WD[o, c, f]) * S[c, f]``. Stride decimates each block's stride-1
result as it is made (no stride-1 copy of the whole output), but the transforms still
spend ``stride`` times the work the kept outputs need.

Gradients use one whole-signal transform (no blocks): the adjoint is a linear
convolution of the stride-upsampled ``y`` with ``wd`` (``nfft >= len(y_up) + span - 1``
so nothing wraps), and the weight gradient is the correlation
``r[o, c, m] = sum_{n,u} y_up[n, o, u] * x[n, c, u + m]`` for lags ``m < span``
(``nfft >= len(x)`` so ``u + m`` never wraps), read at ``m = j*dilation``.

Accuracy: the error is relative to the largest values, about ``eps * log2(nfft)``
(float32: ~1e-6 of max|y|), not per element as in the direct sum; exact integer
results are impossible (the planner never picks FFT for integers).

See :mod:`conv1d.kernels` for the shared shape contract.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft as sfft
from numpy.lib.stride_tricks import sliding_window_view

from . import Capabilities, threads

CAPABILITIES = Capabilities(
    takes_spectrum=True, spreads_non_finite=frozenset({"conv", "conv_transpose", "conv_weight"})
)

BLOCK_BYTES = 64 * 2**20


def _dilated(w: np.ndarray, dilation: int) -> np.ndarray:
    """(G, Co, Ci, K) -> (G, Co, Ci, span), taps ``dilation`` apart with zeros between."""
    if dilation == 1:
        return w
    g, co, ci, k = w.shape
    wd = np.zeros((g, co, ci, (k - 1) * dilation + 1), dtype=w.dtype)
    wd[..., ::dilation] = w
    return wd


def _rfft(a: np.ndarray, n: int) -> np.ndarray:
    return sfft.rfft(a, n=n, axis=-1, workers=threads.get())


def _irfft(a: np.ndarray, n: int) -> np.ndarray:
    return sfft.irfft(a, n=n, axis=-1, workers=threads.get())


def whole_length(length: int) -> int:
    """The transform size :func:`conv_transpose` and :func:`conv_weight` use: one transform
    of the whole (upsampled) signal of ``length`` samples, not blocks as :func:`conv` does."""
    return sfft.next_fast_len(length, real=True)


def fft_length(span: int, length: int) -> int:
    """The transform size for a signal of ``length`` samples and a kernel ``span``.

    Minimises ``nfft * log2(nfft) / (nfft - span + 1)`` (transform work per output) over
    fast sizes from ``2*span`` up to the whole signal.
    """
    whole = sfft.next_fast_len(length, real=True)
    best, best_cost = whole, whole * math.log2(max(whole, 2)) / (whole - span + 1)
    size = sfft.next_fast_len(2 * span, real=True)
    while size < whole:
        cost = size * math.log2(size) / (size - span + 1)
        if cost < best_cost:
            best, best_cost = size, cost
        size = sfft.next_fast_len(2 * size, real=True)
    return best


def _mix(spectra: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``sum_c kernel[g, o, c, f] * spectra[n, g, c, b, f]`` -> (N, G, Co, nb, F)."""
    n, g, ci, nb, f = spectra.shape
    co = kernel.shape[1]
    if ci == 1:  # depthwise and single-channel inputs: a broadcast product, no matmul
        if co == 1 and spectra.dtype == np.result_type(spectra, kernel):
            # one output per input channel: multiply in place, no new spectra
            return np.multiply(spectra, kernel[None, :, 0, :, None, :], out=spectra)
        return spectra[:, :, 0][:, :, None] * kernel[None, :, :, 0, None, :]
    # (G, F, Co, Ci) @ (G, F, Ci, N*nb): one small complex matmul per group and frequency
    mixed = np.matmul(
        kernel.transpose(0, 3, 1, 2),
        spectra.transpose(1, 4, 2, 0, 3).reshape(g, f, ci, n * nb),
    )
    return mixed.reshape(g, f, co, n, nb).transpose(3, 0, 2, 4, 1)


def kernel_spectrum(w: np.ndarray, dilation: int, nfft: int) -> np.ndarray:
    """``conj(rfft(wd, nfft))``, the forward kernel's (G, Co, Ci, nfft//2 + 1) spectra.

    Cacheable: it depends on the weight, the dilation and ``nfft`` only (see
    :func:`conv_length` for the ``nfft`` a problem uses).
    """
    return np.conj(_rfft(_dilated(w, dilation), nfft))


def conv_length(k: int, dilation: int, padded_length: int) -> int:
    """The transform size ``conv`` uses for a kernel of ``k`` taps over ``padded_length`` samples."""
    return fft_length((k - 1) * dilation + 1, padded_length)


def conv(
    x: np.ndarray,
    w: np.ndarray,
    stride: int,
    dilation: int,
    pad_left: int = 0,
    pad_right: int = 0,
    bias: np.ndarray | None = None,
    spectrum: np.ndarray | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """The convolution by overlap-save with real FFTs, channels mixed per frequency.

    Shape:
        x     (N, G, Ci, L), without its zero padding (``pad_left``/``pad_right`` samples)
        w     (G, Co, Ci, K)
        bias  (G, Co) or None
        ->    (N, G, Co, Lo), Lo = (L + pad_left + pad_right - (K-1)*dilation - 1) // stride + 1

    ``spectrum``: this kernel's :func:`kernel_spectrum` for ``conv_length(...)``, if the
    caller has it cached (an FFT-only extra argument).
    """
    threads.apply(blas=True)
    n, g, ci, length = x.shape
    co, k = w.shape[1], w.shape[3]
    span = (k - 1) * dilation + 1
    lp = length + pad_left + pad_right
    lo = (lp - span) // stride + 1
    dense = lp - span + 1  # stride-1 outputs
    nfft = fft_length(span, lp)
    b = nfft - span + 1
    blocks = -(-dense // b)
    kernel = spectrum if spectrum is not None else kernel_spectrum(w, dilation, nfft)  # (G, Co, Ci, F)
    if blocks == 1:  # the whole signal in one transform: rfft's n= zero-fills the tail
        xp = np.pad(x, [(0, 0)] * 3 + [(pad_left, 0)]) if pad_left else x
        spectra = _rfft(xp, nfft)[:, :, :, None, :]
        z = _irfft(_mix(spectra, kernel), nfft)[:, :, :, 0, : (lo - 1) * stride + 1 : stride]
        y = np.empty(z.shape, dtype=np.result_type(x, w)) if out is None else out
        if bias is None:
            y[...] = z
        else:
            np.add(z, bias.reshape(1, g, co, 1), out=y)
        return y
    # Zero padding, plus zeros after the end so the last block is whole.
    xp = np.pad(x, [(0, 0)] * 3 + [(pad_left, (blocks - 1) * b + nfft - length - pad_left)])
    segments = sliding_window_view(xp, nfft, axis=-1)[..., ::b, :]  # (N, G, Ci, blocks, nfft), a view
    y = np.empty((n, g, co, lo), dtype=np.result_type(x, w)) if out is None else out
    per_block = max(1, n * g * max(ci, co) * nfft * 16)  # complex spectra of one block, both sides
    step = max(1, BLOCK_BYTES // per_block)
    for b0 in range(0, blocks, step):
        b1 = min(blocks, b0 + step)
        spectra = _rfft(segments[..., b0:b1, :], nfft)
        dense = _irfft(_mix(spectra, kernel), nfft)[..., :b].reshape(n, g, co, (b1 - b0) * b)  # from b0*b on
        t0, t1 = -(-b0 * b // stride), min(lo, -(-b1 * b // stride))  # the outputs t*stride in these blocks
        if t1 > t0:  # decimated block by block: never a stride-1 copy of the whole output
            y[..., t0:t1] = dense[..., t0 * stride - b0 * b : (t1 - 1) * stride - b0 * b + 1 : stride]
    if bias is not None:
        y += bias.reshape(1, g, co, 1).astype(y.dtype, copy=False)
    return y


def _upsampled(y: np.ndarray, stride: int) -> np.ndarray:
    """``y`` with ``stride - 1`` zeros between samples (length ``(Lo-1)*stride + 1``)."""
    if stride == 1:
        return y
    up = np.zeros(y.shape[:-1] + ((y.shape[-1] - 1) * stride + 1,), dtype=y.dtype)
    up[..., ::stride] = y
    return up


def conv_transpose(
    y: np.ndarray, w: np.ndarray, stride: int, dilation: int, length: int, offset: int = 0
) -> np.ndarray:
    """The adjoint of :func:`conv` by FFT: ``y`` upsampled by the stride, convolved with the
    dilated kernel.

    Shape:
        y     (N, G, Co, Lo)
        w     (G, Co, Ci, K)
        ->    (N, G, Ci, length): positions offset .. offset+length-1 of the full adjoint
    """
    threads.apply(blas=True)
    n, g, _co, _lo = y.shape
    ci, k = w.shape[2], w.shape[3]
    span = (k - 1) * dilation + 1
    up = _upsampled(y, stride)
    full = up.shape[-1] + span - 1
    nfft = sfft.next_fast_len(full, real=True)
    spectra = _rfft(up, nfft)  # (N, G, Co, F)
    kernel = _rfft(_dilated(w, dilation), nfft).transpose(0, 2, 1, 3)  # (G, Ci, Co, F)
    mixed = _mix(spectra[:, :, :, None, :], kernel)[:, :, :, 0, :]  # (N, G, Ci, F)
    x_full = _irfft(mixed, nfft)[..., :full]
    x = np.zeros((n, g, ci, length), dtype=np.result_type(y, w))
    stop = min(full, offset + length)
    if stop > offset:
        x[..., : stop - offset] = x_full[..., offset:stop]
    return x


def conv_weight(
    x: np.ndarray, y: np.ndarray, k: int, stride: int, dilation: int, pad_left: int = 0
) -> np.ndarray:
    """The weight gradient of :func:`conv` by FFT: the correlation of the input with the output gradient.

    Shape:
        x     (N, G, Ci, L), without its zero padding (``pad_left`` samples on the left)
        y     (N, G, Co, Lo), the output gradient
        ->    (G, Co, Ci, K)
    """
    threads.apply(blas=True)
    length, lo = x.shape[3], y.shape[3]
    span = (k - 1) * dilation + 1
    lp = max(length + pad_left, (lo - 1) * stride + span)
    xp = np.pad(x, [(0, 0)] * 3 + [(pad_left, lp - length - pad_left)])
    nfft = sfft.next_fast_len(lp, real=True)
    xs = _rfft(xp, nfft)  # (N, G, Ci, F)
    ys = np.conj(_rfft(_upsampled(y, stride), nfft))  # (N, G, Co, F)
    # R[g, f, o, c] = sum_n conj(Y[n, g, o, f]) * X[n, g, c, f]
    r = np.matmul(ys.transpose(1, 3, 2, 0), xs.transpose(1, 3, 0, 2))  # (G, F, Co, Ci)
    lags = _irfft(r.transpose(0, 2, 3, 1), nfft)  # (G, Co, Ci, nfft)
    return np.ascontiguousarray(lags[..., :span:dilation][..., :k]).astype(np.result_type(x, y), copy=False)
