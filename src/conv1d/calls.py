"""One convolution's forward and gradient calls, with the work that depends only on its spec done once.

A training step calls each layer's forward, input gradient and weight gradient with the
same spec over and over. The general functions (:func:`conv1d.functional.run_conv1d`,
:func:`conv1d.grad.run_conv1d_input`, ...) plan and convert on every call: a plan lookup,
then the input, weight and bias turned into the kernels' (N, G, C/G, L) views in the
compute dtype, and the result back into the caller's layout. For *plain* arrays (a
convolution, not a transposed one; zero padding; channels first; batched; computed in
their own dtype; not the FFT kernel, which keeps weight spectra) those conversions are
reshapes, so :class:`Calls` works out the plan and the shapes once and each call is the
kernel's plus a few reshapes. Anything else goes through the general functions, so the
two paths give the same arrays.

conv1d.torch keeps one per layer, input shape and options. On the FCN's ItalyPowerDemand
training (examples/fcn_ucr.py, batches of 6 x 24 samples, where a layer's arithmetic takes
0.1-0.7 ms) the general functions' per-call work inside the training loop cost tens of
microseconds per layer and step; with stubbed kernels in isolation, a layer's forward glue
went from 82 to 37-41 us, and the epoch 1-2% faster (BENCHMARKS.md, Training).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .dispatch import KEEP_INPUT, KEEP_WEIGHTS, SUMS_BIAS, Algorithm, kernel_for, plan_for
from .functional import SpectrumCache, compute_dtype, run_conv1d, run_conv_transpose1d
from .grad import (
    run_conv1d_bias,
    run_conv1d_input,
    run_conv1d_weight,
    run_conv_transpose1d_input,
    run_conv_transpose1d_weight,
)
from .spec import ConvSpec

__all__ = ["Calls"]


class Calls:
    """``spec``'s three calls with ``algorithm``, planned once (with the products' provider
    and thread count in force when it is made, as :func:`conv1d.dispatch.plan_for` plans)."""

    __slots__ = (
        "_b",
        "_keeps_input",
        "_keeps_weights",
        "_sums_bias",
        "_w",
        "_w3",
        "_x",
        "_x3",
        "_y",
        "_y3",
        "algorithm",
        "kernel",
        "plain",
        "spec",
    )

    def __init__(self, spec: ConvSpec, algorithm: Any = "auto") -> None:
        plan = plan_for(spec, algorithm)
        self.spec, self.algorithm, self.kernel = spec, algorithm, kernel_for(plan)
        self._keeps_input, self._keeps_weights = plan.algorithm in KEEP_INPUT, plan.algorithm in KEEP_WEIGHTS
        self._sums_bias = plan.algorithm in SUMS_BIAS
        self.plain = (not spec.transposed and spec.padding_mode == "zeros" and spec.layout == "NCL" and spec.batched
                      and compute_dtype(spec.dtype) == spec.dtype and plan.algorithm is not Algorithm.FFT)
        g, ci, co = spec.groups, spec.c_in_per_group, spec.c_out_per_group
        self._x, self._x3 = (spec.n, g, ci, spec.l_in), (spec.n, spec.c_in, spec.l_in)
        self._y, self._y3 = (spec.n, g, co, spec.l_out), (spec.n, spec.c_out, spec.l_out)
        self._w, self._b, self._w3 = (g, co, ci, spec.k), (g, co), spec.weight_shape

    def forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, spectra: SpectrumCache | None = None,
                keep: dict | None = None) -> np.ndarray:
        """:func:`conv1d.functional.run_conv1d` (or ``run_conv_transpose1d``) of ``spec``."""
        s = self.spec
        if not self.plain:
            if s.transposed:
                return run_conv_transpose1d(s, x, w, b, self.algorithm)
            return run_conv1d(s, x, w, b, self.algorithm, spectra, keep)
        extra = {"keep": keep} if keep is not None and self._keeps_input else {}
        y = self.kernel.conv(x.reshape(self._x), w.reshape(self._w), s.stride, s.dilation, s.pad_left, s.pad_right,
                             None if b is None else b.reshape(self._b), **extra)
        return np.ascontiguousarray(y.reshape(self._y3))

    def input_grad(self, w: np.ndarray, gy: np.ndarray, kept: dict | None = None) -> np.ndarray:
        """:func:`conv1d.grad.run_conv1d_input` (or ``run_conv_transpose1d_input``) of ``spec``;
        ``kept``: what :meth:`forward`'s ``keep`` collected with the same ``w``."""
        s = self.spec
        if not self.plain:
            if s.transposed:
                return run_conv_transpose1d_input(s, w, gy, self.algorithm)
            return run_conv1d_input(s, w, gy, self.algorithm, kept)
        extra = {"kept": kept} if kept and self._keeps_weights else {}
        gx = self.kernel.conv_transpose(gy.reshape(self._y), w.reshape(self._w), s.stride, s.dilation, s.l_in,
                                        s.pad_left, **extra)
        return np.ascontiguousarray(gx.reshape(self._x3))

    def weight_grad(self, x: np.ndarray, gy: np.ndarray, kept: dict | None = None,
                    bias: np.ndarray | None = None) -> np.ndarray:
        """:func:`conv1d.grad.run_conv1d_weight` (or ``run_conv_transpose1d_weight``) of ``spec``;
        ``kept``: what :meth:`forward`'s ``keep`` collected from the same ``x``. ``bias``: a
        (C_out,) array that receives the bias gradient (:func:`conv1d.grad.run_conv1d_bias`
        of ``gy``), which the GEMM and Winograd kernels sum from what they read anyway."""
        s = self.spec
        if not self.plain:
            if bias is not None:
                bias[...] = run_conv1d_bias(gy, s.channel_axis)
            if s.transposed:
                return run_conv_transpose1d_weight(s, x, gy, self.algorithm)
            return run_conv1d_weight(s, x, gy, self.algorithm, kept)
        extra = {"kept": kept} if kept and self._keeps_input else {}
        if bias is not None:
            if self._sums_bias:
                extra["bias"] = bias.reshape(self._b)
            else:
                bias[...] = run_conv1d_bias(gy, 1)
        gw = self.kernel.conv_weight(x.reshape(self._x), gy.reshape(self._y), s.k, s.stride, s.dilation, s.pad_left,
                                     **extra)
        # C-contiguous, as run_conv1d_weight returns it (a strided gradient slows an optimiser step down).
        return np.ascontiguousarray(gw.reshape(self._w3))
