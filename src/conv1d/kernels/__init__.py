"""Convolution kernels: ``reference`` (the oracle), ``gemm``, ``direct`` (Numba), ``fft`` and
``winograd`` (stride 1, dilation 1, 2 to 7 taps; the planner gives it nothing else).

Every kernel module exposes the same three functions on a normalised problem (groups
split out, compute dtype; padding modes other than zeros already applied by the caller,
zero padding passed as numbers so a kernel may skip it instead of copying):

* ``conv(x, w, stride, dilation, pad_left=0, pad_right=0, bias=None, ..., out=None)``:
  ``x (N, G, Ci, L)``, ``w (G, Co, Ci, K)``, ``bias (G, Co)`` -> ``y (N, G, Co, Lo)`` (written
  into ``out``, a C-contiguous array of that shape and the compute dtype, if given) with
  ``y[n,g,o,t] = bias[g,o] + sum_{c,j} w[g,o,c,j] * xp[n,g,c,t*stride + j*dilation]``,
  ``xp`` being ``x`` with ``pad_left``/``pad_right`` zeros and
  ``Lo = (L + pad_left + pad_right - (K-1)*dilation - 1) // stride + 1``;
* ``conv_transpose(y, w, stride, dilation, length, offset=0)``: the adjoint of ``conv``:
  ``y (N, G, Co, Lo)``, ``w (G, Co, Ci, K)`` -> ``x (N, G, Ci, length)`` holding positions
  ``offset .. offset+length-1`` of ``full[p] = sum_{o, t, j: t*stride + j*dilation = p} w[g,o,c,j] y[n,g,o,t]``
  (zero past the end of the full result);
* ``conv_weight(x, y, k, stride, dilation, pad_left=0)``: the gradient of ``conv`` with
  respect to ``w``: ``x (N, G, Ci, L)``, ``y (N, G, Co, Lo)`` -> ``(G, Co, Ci, K)``, with
  ``gw[g,o,c,j] = sum_{n,t} y[n,g,o,t] * xp[n,g,c,t*stride + j*dilation]`` (zeros outside ``x``).

What a kernel can do beyond those three calls it declares once, in its module's
``CAPABILITIES`` record (:class:`Capabilities`); :mod:`conv1d.executor`, the only caller
of kernels, reads it there and passes the extra arguments only to kernels that take them.

Kernels leave to their callers: argument checking (spec.py), padding modes, layouts,
dtype promotion (float16 and integers are computed in float32/int64) and casting back.
``threads`` holds the one thread count they all use; ``scratch`` lends the GEMM and
Winograd kernels their mid-size temporaries from a per-thread pool (memory touched once
and reused, instead of heap pages given back and faulted in again on every call).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Capabilities:
    """What a kernel module does beyond the three shared calls (all False: nothing more).

    * ``keeps_input``: ``conv(..., keep=dict)`` leaves its gathered or transformed input in
      the dict, and ``conv_weight(..., kept=dict)`` reuses it (same input, same step);
    * ``keeps_weights``: ``conv(..., keep=dict)`` also leaves its weight transform, and
      ``conv_transpose(..., kept=dict)`` reuses it (same weight, same step);
    * ``sums_bias``: ``conv_weight(..., bias=out)`` fills ``out`` (G, Co) with the output
      gradient summed over batch and positions, from data it reads anyway;
    * ``takes_spectrum``: ``conv(..., spectrum=s)`` takes the weight's transform, kept by
      the caller between calls (see ``conv_length``/``kernel_spectrum`` in the module);
    * ``spreads_non_finite``: the functions (of ``conv``, ``conv_transpose``,
      ``conv_weight``) that mix values no window pairs -- a transform of a whole block (FFT,
      Winograd), or zeros multiplied in for positions outside the data (GEMM's stride-1
      ``conv_transpose``) -- so that a NaN or Inf reaches outputs PyTorch keeps finite, or an
      Inf becomes NaN; the executor then computes those with the direct kernel, which pairs
      exactly the values PyTorch does;
    * ``compiles``: the functions are compiled code (Numba) that the first call of each
      function and dtype in a process loads or compiles, so timing that call says nothing
      of the kernel's speed (the planner runs it once untimed first).
    """

    keeps_input: bool = False
    keeps_weights: bool = False
    sums_bias: bool = False
    takes_spectrum: bool = False
    spreads_non_finite: frozenset[str] = frozenset()
    compiles: bool = False
