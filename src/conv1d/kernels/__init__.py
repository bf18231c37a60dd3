"""Convolution kernels. Every kernel module exposes the same three functions on an
already normalised problem (padded, groups split out, compute dtype):

* ``conv(x, w, stride, dilation)``: ``x (N, G, Ci, Lp)``, ``w (G, Co, Ci, K)`` ->
  ``y (N, G, Co, Lo)`` with ``y[n,g,o,t] = sum_{c,j} w[g,o,c,j] * x[n,g,c,t*stride + j*dilation]``
  and ``Lo = (Lp - (K-1)*dilation - 1) // stride + 1``;
* ``conv_transpose(y, w, stride, dilation, length)``: the adjoint of ``conv``:
  ``y (N, G, Co, Lo)``, ``w (G, Co, Ci, K)`` -> ``x (N, G, Ci, length)``, each ``y``
  sample scattered back through the window that produced it (overlap-add);
* ``conv_weight(x, y, k, stride, dilation)``: the gradient of ``conv`` with respect to
  ``w``: ``x (N, G, Ci, Lp)``, ``y (N, G, Co, Lo)`` -> ``(G, Co, Ci, K)``.

Kernels leave to their callers: argument checking (spec.py), padding and padding modes,
layouts, bias, dtype promotion (float16 and integers are computed in float32/int64) and
casting back.
"""
