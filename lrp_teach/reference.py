"""Slow numpy references for checking the engine: a Dense, Conv2D or DepthwiseConv2D layer
unrolled into a matrix W (inputs j × outputs k), and a rule's registered formula
(:func:`lrp_teach.rules.reference_of`) applied to it, one input at a time.

Nothing here is used by :func:`lrp_teach.explain`; the tests (and anyone adding a rule) compare
the engine with it. Explicit loops, no TensorFlow: slow on purpose, and independent of the
engine's code.
"""

from __future__ import annotations

import numpy as np

from .rules import reference_of

__all__ = ["conv_as_matrix", "depthwise_as_matrix", "layer_matrix", "reference_layer"]


def _same_padding(size, kernel, stride):
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2


def _output_geometry(H, Wd, kh, kw, sy, sx, padding):
    """(output height, output width, top padding, left padding) of a convolution window."""
    if padding == "same":
        OH, top = _same_padding(H, kh, sy)
        OW, left = _same_padding(Wd, kw, sx)
        return OH, OW, top, left
    return (H - kh) // sy + 1, (Wd - kw) // sx + 1, 0, 0


def conv_as_matrix(kernel, bias, in_shape, strides, padding):
    """Unroll a Conv2D (kernel (kh, kw, C, K)) on inputs (H, W, C) into W (H·W·C, OH·OW·K), bias
    and mask (which input feeds which output), by explicit loops over output positions and
    kernel taps (TensorFlow's padding). Returns (W, b, mask, output shape)."""
    H, Wd, C = in_shape
    kh, kw, _, K = kernel.shape
    sy, sx = strides
    OH, OW, top, left = _output_geometry(H, Wd, kh, kw, sy, sx, padding)
    matrix = np.zeros((H * Wd * C, OH * OW * K))
    mask = np.zeros_like(matrix, dtype=bool)
    for oy in range(OH):
        for ox in range(OW):
            for dy in range(kh):
                for dx in range(kw):
                    y, x = oy * sy + dy - top, ox * sx + dx - left
                    if not (0 <= y < H and 0 <= x < Wd):
                        continue  # zero padding: no input there
                    for c in range(C):
                        j = (y * Wd + x) * C + c
                        for k in range(K):
                            col = (oy * OW + ox) * K + k
                            matrix[j, col] = kernel[dy, dx, c, k]
                            mask[j, col] = True
    return matrix, np.tile(bias, OH * OW), mask, (OH, OW, K)


def depthwise_as_matrix(kernel, bias, in_shape, strides, padding):
    """Unroll a DepthwiseConv2D (kernel (kh, kw, C, M): output channel c·M + m reads input
    channel c only) on inputs (H, W, C) into W (H·W·C, OH·OW·C·M), bias and mask, by explicit
    loops (TensorFlow's padding). Returns (W, b, mask, output shape)."""
    H, Wd, C = in_shape
    kh, kw, _, M = kernel.shape
    sy, sx = strides
    OH, OW, top, left = _output_geometry(H, Wd, kh, kw, sy, sx, padding)
    K = C * M
    matrix = np.zeros((H * Wd * C, OH * OW * K))
    mask = np.zeros_like(matrix, dtype=bool)
    for oy in range(OH):
        for ox in range(OW):
            for dy in range(kh):
                for dx in range(kw):
                    y, x = oy * sy + dy - top, ox * sx + dx - left
                    if not (0 <= y < H and 0 <= x < Wd):
                        continue
                    for c in range(C):
                        j = (y * Wd + x) * C + c
                        for m in range(M):
                            col = (oy * OW + ox) * K + c * M + m
                            matrix[j, col] = kernel[dy, dx, c, m]
                            mask[j, col] = True
    return matrix, np.tile(bias, OH * OW), mask, (OH, OW, K)


def layer_matrix(layer, in_shape):
    """(W, b, mask, out_shape) of a Dense, Conv2D or DepthwiseConv2D Keras layer for one input
    of in_shape."""
    kernel = np.asarray(layer.kernel, dtype=np.float64)
    outputs = kernel.shape[-1] * (kernel.shape[-2] if _is_depthwise(layer) else 1)
    bias = np.asarray(layer.bias, dtype=np.float64) if layer.use_bias else np.zeros(outputs)
    if kernel.ndim == 2:  # Dense
        return kernel, bias, np.ones(kernel.shape, dtype=bool), (kernel.shape[1],)
    if _is_depthwise(layer):
        return depthwise_as_matrix(kernel, bias, in_shape, layer.strides, layer.padding)
    return conv_as_matrix(kernel, bias, in_shape, layer.strides, layer.padding)


def _is_depthwise(layer):
    return any(cls.__name__ == "DepthwiseConv2D" for cls in type(layer).__mro__)


def reference_layer(rule, layer, a, R):
    """The rule's numpy reference on a batch: a (N, *in_shape), R (N, *out_shape) -> (N, *in_shape)."""
    W, b, mask, _ = layer_matrix(layer, a.shape[1:])
    reference = reference_of(rule)
    return np.stack([reference(rule, a[n].astype(np.float64), W, b, mask,
                               R[n].reshape(-1).astype(np.float64))
                     for n in range(a.shape[0])]).reshape(a.shape)
