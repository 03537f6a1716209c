"""An independent float64 LRP reference, written from the formulas, for testing the engine.

Nothing here imports ``lrp_teach``: the model is read through public Keras API only
(``model.get_config()`` for the graph, ``layer.get_config()`` and ``layer.get_weights()`` for each
layer) and every layer is rewritten in numpy, float64, one image at a time:

* Dense, Conv2D and DepthwiseConv2D become ONE explicit matrix ``M`` (inputs × outputs, the
  image flattened in (h, w, c) order) plus a bias vector, built index by index from the kernel
  ('same'/'valid' padding as TensorFlow pads, strides); a zero-padded position is simply not an
  input. A BatchNormalization after such a layer is folded into it (:func:`fold_batch_norm`).
* Every LRP rule is then the textbook formula on ``(a, M, b, R)`` (:func:`apply_rule`), with the
  stabiliser ``z + ε·sign(z)``, sign(0) = +1, and a zero denominator passing nothing.
* Layers without weights: max pooling (global or not) gives each output's relevance to the
  window's maximum (ties: :func:`winner_takes_all`),
  average pooling (global or not) and ``Add`` redistribute in proportion to their inputs
  (LRP-0 with ε = 1e-6, zennit's ``Norm``), ``Concatenate`` slices, ``ZeroPadding2D`` crops,
  Flatten/Reshape reshape, ReLU/ReLU6/Dropout/linear Activation pass relevance unchanged.
* Relevance arriving at a tensor used by several layers is summed.

Rules are given per linear layer as tuples (the test assigns them, see ``test_reference.py``)::

    ("z",)                  LRP-0:  z = a·M + b,                 R_j = a_j Σ_k M_jk R_k / z_k
    ("epsilon", ε)          LRP-ε:  the same with z_k + ε·sign(z_k)
    ("epsilon_rms", ε)      LRP-ε with ε·RMS(z) (RMS over the layer's outputs, per image)
    ("zplus",)              z⁺:     z = a⁺·M⁺ + b⁺ + a⁻·M⁻
    ("gamma", γ)            γ:      z > 0: a⁺·(M+γM⁺) + a⁻·(M+γM⁻) + b + γb⁺
                                    z < 0: a⁺·(M+γM⁻) + a⁻·(M+γM⁺) + b + γb⁻, z = 0: nothing
    ("alphabeta", α, β)     αβ:     α·[a⁺M⁺ + a⁻M⁻ + b⁺] − β·[a⁺M⁻ + a⁻M⁺ + b⁻], each its own z
    ("wsquare",)            w²:     R_j = Σ_k M²_jk / Σ_i M²_ik · R_k          (no bias)
    ("flat",)               flat:   R_j = Σ_k 1_jk / Σ_i 1_ik · R_k            (no bias)
    ("zbox", low, high)     z^B:    z = a·M − l·M⁺ − h·M⁻ (the biases cancel)

Sources: Bach et al. 2015 (PLoS ONE 10(7): e0130140), Montavon et al. 2019 ("Layer-wise
relevance propagation: an overview", eq. for LRP-0/ε/γ, z^B, w², flat), and zennit's conventions
(``zennit/rules.py``: which parts of the bias each rule keeps, the stabiliser, ``Norm`` on sums and
average pooling).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

#: stabiliser of the rules other than ε and of the proportional layers (zennit's default)
STABILIZER = 1e-6

_PASS = ("ReLU", "Dropout", "InputLayer")
_LINEAR = ("Dense", "Conv2D", "DepthwiseConv2D")


# ----------------------------------------------------------------------------------------------
# The graph, from public Keras API
# ----------------------------------------------------------------------------------------------

@dataclass
class Node:
    name: str
    class_name: str
    config: dict
    weights: list
    inputs: list                 # names of the nodes whose outputs this layer reads
    in_shapes: list = field(default_factory=list)
    out_shape: tuple = ()
    # linear layers: the explicit matrix, the bias per output, which input feeds which output
    matrix: np.ndarray | None = None
    bias: np.ndarray | None = None
    mask: np.ndarray | None = None
    folded: str | None = None    # a BatchNormalization: the linear layer it is folded into


def _keras_history(value, found):
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            found.append(value["config"]["keras_history"][0])
            return found
        for item in value.values():
            _keras_history(item, found)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _keras_history(item, found)
    return found


def read_graph(model) -> list[Node]:
    """The layers of ``model`` as :class:`Node` s in topological order (the InputLayer is the
    node called ``"input"``). Sequential and single-input functional models."""
    import keras

    layers = {layer.name: layer for layer in model.layers}
    nodes = [Node("input", "InputLayer", {}, [], [])]
    nodes[0].out_shape = tuple(model.inputs[0].shape[1:]) if hasattr(model, "inputs") else None
    if isinstance(model, keras.Sequential):
        previous = "input"
        for layer in model.layers:
            if isinstance(layer, keras.Model):
                raise NotImplementedError(f"nested model {layer.name}")
            nodes.append(Node(layer.name, type(layer).__name__, layer.get_config(),
                              [np.asarray(w, np.float64) for w in layer.get_weights()],
                              [previous]))
            previous = layer.name
        return nodes
    config = model.get_config()
    inputs = config["input_layers"]
    inputs = inputs if isinstance(inputs[0], (list, tuple)) else [inputs]
    if len(inputs) != 1:
        raise NotImplementedError("several inputs")
    input_name = inputs[0][0]
    for entry in config["layers"]:
        if entry["name"] == input_name:
            continue
        layer = layers[entry["name"]]
        if isinstance(layer, keras.Model):
            raise NotImplementedError(f"nested model {layer.name}")
        sources = _keras_history(entry["inbound_nodes"], [])
        if len(entry["inbound_nodes"]) != 1:
            raise NotImplementedError(f"shared layer {layer.name}")
        sources = ["input" if s == input_name else s for s in sources]
        nodes.append(Node(layer.name, entry["class_name"], layer.get_config(),
                          [np.asarray(w, np.float64) for w in layer.get_weights()], sources))
    outputs = config["output_layers"]
    outputs = outputs if isinstance(outputs[0], (list, tuple)) else [outputs]
    if len(outputs) != 1 or outputs[0][0] != nodes[-1].name:
        raise NotImplementedError("the output must be the last layer")
    return nodes


# ----------------------------------------------------------------------------------------------
# Linear layers as explicit matrices
# ----------------------------------------------------------------------------------------------

def _pair(value):
    return tuple(value) if isinstance(value, (list, tuple)) else (value, value)


def _padding(size, kernel, stride, padding):
    """(output size, padding before) of one spatial axis, as TensorFlow pads."""
    if padding == "valid":
        return (size - kernel) // stride + 1, 0
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2


def _windows(in_shape, kernel, strides, padding):
    """For every output position (oy, ox): the list of (ky, kx, iy, ix) with the input inside
    the image. Returns (Ho, Wo, windows)."""
    H, W = in_shape[:2]
    (kh, kw), (sh, sw) = kernel, strides
    Ho, top = _padding(H, kh, sh, padding)
    Wo, left = _padding(W, kw, sw, padding)
    windows = {}
    for oy in range(Ho):
        for ox in range(Wo):
            windows[oy, ox] = [(ky, kx, oy * sh + ky - top, ox * sw + kx - left)
                               for ky in range(kh) for kx in range(kw)
                               if 0 <= oy * sh + ky - top < H and 0 <= ox * sw + kx - left < W]
    return Ho, Wo, windows


def _index(shape, *position):
    return int(np.ravel_multi_index(position, shape))


def conv_matrix(in_shape, kernel, strides, padding, depthwise=False):
    """Conv2D (kernel kh×kw×C×F) or DepthwiseConv2D (kernel kh×kw×C×m, output channel c·m + j)
    as a matrix (H·W·C) × (Ho·Wo·F) and its 0/1 connectivity mask."""
    kh, kw, C, F = kernel.shape
    Ho, Wo, windows = _windows(in_shape, (kh, kw), strides, padding)
    out_channels = C * F if depthwise else F
    out_shape = (Ho, Wo, out_channels)
    M = np.zeros((int(np.prod(in_shape)), int(np.prod(out_shape))))
    mask = np.zeros(M.shape, dtype=bool)
    for (oy, ox), window in windows.items():
        for ky, kx, iy, ix in window:
            for c in range(C):
                row = _index(in_shape, iy, ix, c)
                if depthwise:
                    for j in range(F):
                        col = _index(out_shape, oy, ox, c * F + j)
                        M[row, col] += kernel[ky, kx, c, j]
                        mask[row, col] = True
                else:
                    cols = [_index(out_shape, oy, ox, f) for f in range(F)]
                    M[row, cols] += kernel[ky, kx, c, :]
                    mask[row, cols] = True
    return M, mask, out_shape


def _build_linear(node):
    cfg, shape = node.config, node.in_shapes[0]
    if node.class_name == "Dense":
        if len(shape) != 1:
            raise NotImplementedError("Dense on a tensor of rank > 2")
        node.matrix = node.weights[0].copy()
        node.mask = np.ones(node.matrix.shape, dtype=bool)
        node.out_shape = (node.matrix.shape[1],)
    else:
        if cfg.get("data_format", "channels_last") != "channels_last":
            raise NotImplementedError("channels_first")
        if _pair(cfg.get("dilation_rate", 1)) != (1, 1) or cfg.get("groups", 1) != 1:
            raise NotImplementedError("dilation/groups")
        node.matrix, node.mask, node.out_shape = conv_matrix(
            shape, node.weights[0], _pair(cfg["strides"]), cfg["padding"],
            depthwise=node.class_name == "DepthwiseConv2D")
    channels = node.out_shape[-1]
    bias = node.weights[1] if cfg.get("use_bias", True) else np.zeros(channels)
    node.bias = np.tile(bias, int(np.prod(node.out_shape)) // channels)


def fold_batch_norm(linear, bn):
    """y = γ (z − μ) / √(σ² + ε) + β with z = a·M + b is again linear in a:
    M' = M · γ/√(σ² + ε) (per output channel), b' = (b − μ) · γ/√(σ² + ε) + β."""
    cfg = bn.config
    weights = list(bn.weights)
    gamma = weights.pop(0) if cfg.get("scale", True) else 1.0
    beta = weights.pop(0) if cfg.get("center", True) else 0.0
    mean, variance = weights
    scale = gamma / np.sqrt(variance + cfg["epsilon"])
    shift = beta - mean * scale
    repeats = linear.matrix.shape[1] // len(mean)
    scale_all, shift_all = np.tile(scale, repeats), np.tile(shift, repeats)
    linear.matrix = linear.matrix * scale_all[None, :]
    linear.bias = linear.bias * scale_all + shift_all
    bn.folded = linear.name


# ----------------------------------------------------------------------------------------------
# Forward, float64
# ----------------------------------------------------------------------------------------------

def _activation(node):
    name = node.config.get("activation", "linear")
    return name if isinstance(name, str) else name.get("config", {}).get("name", str(name))


def _apply_activation(name, z, last):
    if name == "linear":
        return z
    if name == "relu":
        return np.maximum(z, 0)
    if name == "relu6":
        return np.clip(z, 0, 6)
    if name in ("softmax", "sigmoid") and last:
        return z  # the logit is explained
    raise NotImplementedError(f"activation {name}")


def _pool_matrix(in_shape, size, strides, padding):
    """Average pooling as a matrix (padded positions are not counted, as in TensorFlow)."""
    Ho, Wo, windows = _windows(in_shape, size, strides, padding)
    C = in_shape[2]
    out_shape = (Ho, Wo, C)
    P = np.zeros((int(np.prod(in_shape)), int(np.prod(out_shape))))
    for (oy, ox), window in windows.items():
        for _, _, iy, ix in window:
            for c in range(C):
                P[_index(in_shape, iy, ix, c), _index(out_shape, oy, ox, c)] = 1 / len(window)
    return P, out_shape


def _max_groups(in_shape, size, strides, padding):
    """Max pooling: per output (flat index), the flat input indices of its window in row-major
    window order."""
    Ho, Wo, windows = _windows(in_shape, size, strides, padding)
    C = in_shape[2]
    out_shape = (Ho, Wo, C)
    groups = {}
    for (oy, ox), window in windows.items():
        for c in range(C):
            groups[_index(out_shape, oy, ox, c)] = [_index(in_shape, iy, ix, c)
                                                    for _, _, iy, ix in window]
    return groups, out_shape


class Reference:
    """The model rewritten in numpy. ``Reference(model).explain(x, target, rules)``."""

    def __init__(self, model):
        self.nodes = read_graph(model)
        self.by_name = {node.name: node for node in self.nodes}
        self.consumers = {node.name: [] for node in self.nodes}
        for node in self.nodes:
            for source in node.inputs:
                self.consumers[source].append(node.name)
        self.nodes[0].out_shape = tuple(int(d) for d in model.inputs[0].shape[1:])
        last = self.nodes[-1]
        # a final softmax of its own is dropped: its input is the logit
        self.logits = last.name
        if last.class_name == "Softmax" or (last.class_name == "Activation" and
                                             _activation(last) in ("softmax", "sigmoid")):
            self.logits = last.inputs[0]
        for node in self.nodes[1:]:
            node.in_shapes = [self.by_name[s].out_shape for s in node.inputs]
            self._shape(node)
        for node in self.nodes:
            if node.class_name == "BatchNormalization":
                source = self.by_name[node.inputs[0]]
                if source.class_name not in _LINEAR or _activation(source) != "linear" \
                        or len(self.consumers[source.name]) != 1:
                    raise ValueError(f"cannot fold {node.name} into {source.name}")
                fold_batch_norm(source, node)

    # ---- shapes (and the matrices of the linear layers) -------------------------------------
    def _shape(self, node):
        cls, cfg, shape = node.class_name, node.config, node.in_shapes[0]
        if cls in _LINEAR:
            _build_linear(node)
        elif cls == "AveragePooling2D":
            node.matrix, node.out_shape = _pool_matrix(
                shape, _pair(cfg["pool_size"]), _pair(cfg["strides"] or cfg["pool_size"]),
                cfg["padding"])
        elif cls == "MaxPooling2D":
            node.matrix, node.out_shape = _max_groups(
                shape, _pair(cfg["pool_size"]), _pair(cfg["strides"] or cfg["pool_size"]),
                cfg["padding"])
        elif cls in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
            node.out_shape = (1, 1, shape[2]) if cfg.get("keepdims") else (shape[2],)
        elif cls == "Flatten":
            node.out_shape = (int(np.prod(shape)),)
        elif cls == "Reshape":
            target = list(cfg["target_shape"])
            if -1 in target:
                target[target.index(-1)] = int(np.prod(shape)) // -int(np.prod(target))
            node.out_shape = tuple(target)
        elif cls == "ZeroPadding2D":
            (top, bottom), (left, right) = [_pair(p) for p in cfg["padding"]]
            node.out_shape = (shape[0] + top + bottom, shape[1] + left + right, shape[2])
        elif cls == "Concatenate":
            axis = cfg.get("axis", -1)
            axis = axis if axis < 0 else axis - 1
            out = list(node.in_shapes[0])
            out[axis] = sum(s[axis] for s in node.in_shapes)
            node.out_shape = tuple(out)
        elif cls in ("Add", "BatchNormalization", "Activation", "Softmax", *_PASS):
            node.out_shape = shape
        else:
            raise NotImplementedError(f"layer {node.name} ({cls})")

    # ---- forward -----------------------------------------------------------------------------
    def forward(self, x):
        """Every node's output (pre-activation ``z`` too for linear layers), one image."""
        out, pre = {"input": x}, {}
        for node in self.nodes[1:]:
            ins = [out[s] for s in node.inputs]
            a, cls, cfg = ins[0], node.class_name, node.config
            last = node.name == self.nodes[-1].name
            if cls in _LINEAR:
                z = a.reshape(-1) @ node.matrix + node.bias
                pre[node.name] = z
                y = _apply_activation(_activation(node), z, last).reshape(node.out_shape)
            elif cls == "BatchNormalization":
                y = a  # folded: the layer before already returns the normalised value
            elif cls == "AveragePooling2D":
                y = (a.reshape(-1) @ node.matrix).reshape(node.out_shape)
            elif cls == "MaxPooling2D":
                flat = a.reshape(-1)
                y = np.array([flat[node.matrix[k]].max() for k in range(len(node.matrix))]
                             ).reshape(node.out_shape)
            elif cls == "GlobalAveragePooling2D":
                y = a.mean(axis=(0, 1)).reshape(node.out_shape)
            elif cls == "GlobalMaxPooling2D":
                y = a.max(axis=(0, 1)).reshape(node.out_shape)
            elif cls in ("Flatten", "Reshape"):
                y = a.reshape(node.out_shape)
            elif cls == "ZeroPadding2D":
                (top, bottom), (left, right) = [_pair(p) for p in cfg["padding"]]
                y = np.pad(a, ((top, bottom), (left, right), (0, 0)))
            elif cls == "Add":
                y = sum(ins)
            elif cls == "Concatenate":
                axis = cfg.get("axis", -1)
                y = np.concatenate(ins, axis=axis if axis < 0 else axis - 1)
            elif cls == "ReLU":
                y = np.maximum(a, 0)
                if cfg.get("max_value") is not None:
                    y = np.minimum(y, cfg["max_value"])
                if cfg.get("negative_slope", 0) or cfg.get("threshold", 0):
                    raise NotImplementedError("leaky/thresholded ReLU")
            elif cls == "Activation":
                y = _apply_activation(_activation(node), a, last)
            else:  # Dropout, Softmax at the end
                y = a
            out[node.name] = y
        return out, pre

    def linear_layers(self):
        """(name, class name) of the Dense/Conv2D/DepthwiseConv2D layers, topological order."""
        return [(n.name, n.class_name) for n in self.nodes if n.class_name in _LINEAR]

    # ---- LRP ---------------------------------------------------------------------------------
    def explain(self, x, target, rules):
        """LRP of the target logit. x (N, ...) float64; target int, None (top logit) or N ints;
        rules {linear layer name: rule tuple}. Returns (R_input, {name: R at the layer's
        output}, logits); a folded BatchNormalization and the layer it folds into both report
        the relevance at the BatchNormalization's output."""
        x = np.asarray(x, dtype=np.float64)
        missing = {name for name, _ in self.linear_layers()} - set(rules)
        if missing:
            raise ValueError(f"no rule for {sorted(missing)}")
        per_image = [self._explain_one(xi, target if target is None or np.isscalar(target)
                                       else target[i], rules) for i, xi in enumerate(x)]
        names = per_image[0][1].keys()
        layers = {name: np.stack([p[1][name] for p in per_image]) for name in names}
        return layers["input"], layers, np.stack([p[2] for p in per_image])

    def _explain_one(self, x, target, rules):
        out, pre = self.forward(x)
        logits = out[self.logits].reshape(-1)
        k = int(np.argmax(logits)) if target is None else int(target)
        start = np.zeros_like(logits)
        start[k] = logits[k]
        incoming = {node.name: np.zeros(node.out_shape) for node in self.nodes}
        # (a final Softmax layer passes this start unchanged to the logits)
        incoming[self.nodes[-1].name] = start.reshape(self.nodes[-1].out_shape)
        result = {}
        for node in reversed(self.nodes):
            R = incoming[node.name]
            result[node.name] = R
            if node.class_name == "InputLayer":
                continue
            ins = [out[s] for s in node.inputs]
            for source, r in zip(node.inputs, self._backward(node, ins, R, out, pre, rules)):
                incoming[source] = incoming[source] + r
        # a folded BatchNormalization: the linear layer before it reports the same relevance
        for node in self.nodes:
            if node.folded:
                result[node.folded] = result[node.name]
        return None, result, logits

    def _backward(self, node, ins, R, out, pre, rules):
        cls, cfg, a = node.class_name, node.config, ins[0]
        if cls in _LINEAR:
            flat, rule = a.reshape(-1), rules[node.name]
            if rule[0] == "zbox":
                rule = ("zbox", *self._bounds(node, *rule[1:]))
            r = apply_rule(rule, flat, node.matrix, node.bias, node.mask, R.reshape(-1),
                           a.shape)
            return [r.reshape(a.shape)]
        if cls in ("AveragePooling2D", "GlobalAveragePooling2D"):
            P = node.matrix if cls == "AveragePooling2D" else _global_average_matrix(a.shape)
            return [proportional(a.reshape(-1), P, R.reshape(-1)).reshape(a.shape)]
        if cls in ("MaxPooling2D", "GlobalMaxPooling2D"):
            if cls == "MaxPooling2D":
                groups, ties = node.matrix, "first"
            else:
                groups, ties = _global_max_groups(a.shape), "error"
            return [winner_takes_all(a.reshape(-1), groups, R.reshape(-1), ties
                                     ).reshape(a.shape)]
        if cls in ("Flatten", "Reshape"):
            return [R.reshape(a.shape)]
        if cls == "ZeroPadding2D":
            (top, _), (left, _) = [_pair(p) for p in cfg["padding"]]
            return [R[top:top + a.shape[0], left:left + a.shape[1]]]
        if cls == "Add":
            z = sum(ins)
            s = _divide(R, stabilise(z, STABILIZER))
            return [x * s for x in ins]
        if cls == "Concatenate":
            axis = cfg.get("axis", -1)
            axis = axis if axis < 0 else axis - 1
            bounds = np.cumsum([0] + [x.shape[axis] for x in ins])
            return [np.take(R, np.arange(lo, hi), axis=axis) for lo, hi in
                    zip(bounds[:-1], bounds[1:])]
        # ReLU, ReLU6, Dropout, a linear or relu Activation, a folded BatchNormalization, a
        # final Softmax
        return [R]


    def _bounds(self, node, low, high):
        """z^B's bounds for the input of ``node``: when it reads the images through
        ZeroPadding2D/Dropout layers only, the images' bounds padded with zeros like the images
        (a padded value is always 0, so its box is [0, 0] -- as in zennit, where a torch
        convolution pads its input and the bounds alike); else the bounds broadcast to the
        layer's input."""
        path, current = [], node
        while current.inputs and current.inputs[0] != "input":
            current = self.by_name[current.inputs[0]]
            if current.class_name not in ("ZeroPadding2D", "Dropout"):
                return low, high
            path.append(current)
        shape = self.nodes[0].out_shape
        low, high = (np.broadcast_to(v, shape).astype(np.float64) for v in (low, high))
        for pad in reversed(path):
            if pad.class_name == "ZeroPadding2D":
                (top, bottom), (left, right) = [_pair(p) for p in pad.config["padding"]]
                low, high = (np.pad(v, ((top, bottom), (left, right), (0, 0)))
                             for v in (low, high))
        return low, high


def _global_average_matrix(shape):
    H, W, C = shape
    return _pool_matrix(shape, (H, W), (H, W), "valid")[0]


def _global_max_groups(shape):
    H, W, C = shape
    return _max_groups(shape, (H, W), (H, W), "valid")[0]


# ----------------------------------------------------------------------------------------------
# The rules, from the formulas
# ----------------------------------------------------------------------------------------------

def stabilise(z, epsilon):
    """z + ε·sign(z) with sign(0) = +1."""
    return z + epsilon * np.where(z >= 0, 1.0, -1.0)


def _divide(R, denominator):
    """R / denominator, 0 where the denominator is exactly 0."""
    s = np.zeros(np.broadcast_shapes(np.shape(R), np.shape(denominator)))
    np.divide(R, denominator, out=s, where=np.broadcast_to(denominator != 0, s.shape))
    return s


def proportional(a, P, R):
    """LRP-0 through a fixed non-negative linear map (average pooling), ε = 1e-6."""
    s = _divide(R, stabilise(a @ P, STABILIZER))
    return a * (P @ s)


def winner_takes_all(a, groups, R, ties="first"):
    """Each output's relevance to its window's maximum. A tie goes to the first maximum in
    row-major window order (``ties="first"``: what TensorFlow's and torch's max-pooling
    gradients do), or is an error if it carries relevance (``ties="error"``: global max
    pooling, whose TensorFlow gradient splits ties evenly -- a choice, not a formula)."""
    out = np.zeros_like(a)
    for k, window in groups.items():
        values = a[window]
        if ties == "error" and R[k] != 0 and np.count_nonzero(values == values.max()) > 1:
            raise ValueError("global max pooling: a tie carries relevance; use other test data")
        out[window[int(np.argmax(values))]] += R[k]
    return out


def apply_rule(rule, a, M, b, mask, R, input_shape):
    """The input relevance of ONE linear layer ``z = a·M + b`` (a: flat input, R: flat output
    relevance) under ``rule`` (see the module docstring)."""
    name, params = rule[0], rule[1:]
    a_pos, a_neg = np.maximum(a, 0), np.minimum(a, 0)
    M_pos, M_neg = np.maximum(M, 0), np.minimum(M, 0)
    b_pos, b_neg = np.maximum(b, 0), np.minimum(b, 0)
    if name in ("z", "epsilon", "epsilon_rms"):
        z = a @ M + b
        epsilon = 0.0 if name == "z" else params[0]
        if name == "epsilon_rms":
            epsilon = epsilon * np.sqrt(np.mean(z ** 2))
        s = _divide(R, stabilise(z, epsilon))
        return a * (M @ s)
    if name == "zplus":
        z = a_pos @ M_pos + a_neg @ M_neg + b_pos
        s = _divide(R, stabilise(z, STABILIZER))
        return a_pos * (M_pos @ s) + a_neg * (M_neg @ s)
    if name == "gamma":
        g = params[0]
        z = a @ M + b
        up, down = M + g * M_pos, M + g * M_neg
        z_up = a_pos @ up + a_neg @ down + b + g * b_pos
        z_down = a_pos @ down + a_neg @ up + b + g * b_neg
        s_up = _divide(np.where(z > 0, R, 0.0), stabilise(z_up, STABILIZER))
        s_down = _divide(np.where(z < 0, R, 0.0), stabilise(z_down, STABILIZER))
        return (a_pos * (up @ s_up) + a_neg * (down @ s_up)
                + a_pos * (down @ s_down) + a_neg * (up @ s_down))
    if name == "alphabeta":
        alpha, beta = params
        z_pos = a_pos @ M_pos + a_neg @ M_neg + b_pos
        z_neg = a_pos @ M_neg + a_neg @ M_pos + b_neg
        s_pos = _divide(R, stabilise(z_pos, STABILIZER))
        s_neg = _divide(R, stabilise(z_neg, STABILIZER))
        return (alpha * (a_pos * (M_pos @ s_pos) + a_neg * (M_neg @ s_pos))
                - beta * (a_pos * (M_neg @ s_neg) + a_neg * (M_pos @ s_neg)))
    if name == "wsquare":
        squared = M ** 2
        return squared @ _divide(R, stabilise(squared.sum(0), STABILIZER))
    if name == "flat":
        ones = mask.astype(np.float64)
        return ones @ _divide(R, stabilise(ones.sum(0), STABILIZER))
    if name == "zbox":
        low = np.broadcast_to(params[0], input_shape).reshape(-1)
        high = np.broadcast_to(params[1], input_shape).reshape(-1)
        z = a @ M - low @ M_pos - high @ M_neg
        s = _divide(R, stabilise(z, STABILIZER))
        return a * (M @ s) - low * (M_pos @ s) - high * (M_neg @ s)
    raise ValueError(f"unknown rule {rule!r}")
