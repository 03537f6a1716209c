"""The LRP engine: ``explain(model, images, target, composite)``.

How it works
------------
1. The model is read as a chain of steps (Conv2D, Dense, pooling, flatten, dropout, ReLU) and
   checked BEFORE anything is computed: an unsupported layer, a branch, or a non-ReLU hidden
   activation is an error that names the layer. A softmax (or sigmoid) at the end is dropped:
   the engine explains the LOGIT, the last pre-activation. The user's model is never modified.
2. The composite gives each Dense/Conv2D layer a rule (:mod:`lrp_teach.rules`).
3. One compiled ``tf.function`` (cached per model, rules and input shape, so a second call does
   not retrace) does the plain forward pass, then walks back through the layers. The relevance
   starts at the target logit's value (0 for the other classes). Every Dense/Conv2D layer goes
   through the same generic step (:func:`lrp_step`), lined up with the equations
   (Montavon et al. 2019)::

       z = ε + ρ(W)·a             forward with the rule's weights (``layer(a, ρ(W), ρ(b))``)
       s = R / z                  element-wise; a zero denominator gives s = 0, never NaN
       c = ρ(W)ᵀ s                a gradient: ``tape.gradient(z, a, output_gradients=s)``
       R = a ⊙ c                  element-wise

   Max pooling passes relevance by its gradient (winner takes all); average pooling and global
   average pooling by the same four steps with ρ = identity (so in proportion to the inputs,
   ε = 1e-6 like zennit's ``Norm``); flatten/dropout/ReLU pass it unchanged.

Why it is fast (about the cost of one forward + one gradient more than a plain gradient)
-----------------------------------------------------------------------------------------
* LRP-0/ε layers reuse the plain forward pass: their z IS the pre-activation already computed,
  and ``c`` is the gradient of that same z, so they cost one backward step only.
* A layer whose input is provably non-negative (it comes from a ReLU, possibly through pooling,
  flatten or dropout) has ``min(a, 0) = 0``: z⁺, γ and α/β drop their negative-input branches.
* A layer followed by a ReLU whose next rule multiplies by its input (LRP-0, ε, z⁺, γ, α/β) holds
  zero relevance at outputs with z ≤ 0 (there a = relu(z) = 0 and R = a ⊙ c = 0), so γ's
  "negative output" half contributes exactly nothing and is skipped.
These shortcuts remove only terms that are exactly zero; the tests compare the engine with
slow references that do not take them.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np

from . import composites as _composites
from .rules import Rule, stabilize

__all__ = ["explain", "lrp_step", "model_chain", "rule_table", "SUPPORTED_LAYERS", "NORM_EPSILON"]

#: Layer classes the engine understands (everything else is an error before any computation).
SUPPORTED_LAYERS = (
    "InputLayer", "Conv2D", "Dense", "MaxPooling2D", "AveragePooling2D",
    "GlobalAveragePooling2D", "Flatten", "Dropout", "ReLU",
    "Activation ('relu' or 'linear'; 'softmax'/'sigmoid' only at the end)",
    "Softmax (only at the end)",
)
_SUPPORTED_TEXT = ", ".join(SUPPORTED_LAYERS)
#: Stabiliser of the proportional (LRP-0) rule used for average pooling (zennit's ``Norm``).
NORM_EPSILON = 1e-6

_FINAL_ACTIVATIONS = ("softmax", "sigmoid", "linear")


# --------------------------------------------------------------------------------------------
# Reading the model
# --------------------------------------------------------------------------------------------

@dataclass
class Step:
    """One layer of the chain as the engine sees it."""

    name: str
    kind: str  # conv | dense | maxpool | avgpool | gap | flatten | identity | relu
    layer_ref: object  # weakref to the Keras layer (the cache must not keep models alive)
    class_name: str
    relu: bool = False  # Dense/Conv2D with activation='relu'
    config: dict = field(default_factory=dict)

    @property
    def layer(self):
        layer = self.layer_ref()
        if layer is None:  # pragma: no cover - only if a model died while its function retraces
            raise RuntimeError(f"layer {self.name} no longer exists")
        return layer

    @property
    def weighted(self) -> bool:
        return self.kind in ("conv", "dense")


def _activation_name(fn) -> str:
    return getattr(fn, "__name__", type(fn).__name__)


def _describe(layer) -> str:
    return f"layer '{layer.name}' ({type(layer).__name__})"


def _flatten_layers(model):
    """All layers of ``model`` in order, nested Sequential/functional models expanded."""
    from ._tf import keras

    out = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out.extend(_flatten_layers(layer))
        else:
            out.append(layer)
    return out


def _check_chain(model):
    """A functional model must be a plain chain: one node per depth of its graph, each taking
    exactly the output of the node before it (this model's own nodes, so layers shared with
    other models are fine)."""
    from ._tf import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            _check_chain(layer)
    if isinstance(model, keras.Sequential):
        return
    nodes_by_depth = getattr(model, "_nodes_by_depth", None)
    if not nodes_by_depth:  # pragma: no cover - unknown model kind: trust model.layers
        return
    previous_outputs = None
    previous_name = None
    for depth in sorted(nodes_by_depth, reverse=True):
        nodes = nodes_by_depth[depth]
        if len(nodes) != 1:
            names = sorted(node.operation.name for node in nodes)
            raise ValueError(
                f"The model is not a simple chain of layers: layers {names} work side by side "
                "(several inputs or branches). The LRP engine explains chains (Sequential models "
                f"or functional models without branches) made of: {_SUPPORTED_TEXT}.")
        node = nodes[0]
        operation = node.operation
        if type(operation).__name__ == "InputLayer":
            previous_outputs, previous_name = list(node.output_tensors), operation.name
            continue
        inputs = list(node.input_tensors)
        if (previous_outputs is None or len(inputs) != 1 or len(previous_outputs) != 1
                or inputs[0] is not previous_outputs[0]):
            raise ValueError(
                f"The model is not a simple chain of layers: {_describe(operation)} does not "
                f"take exactly the output of the layer before it ({previous_name}). The LRP "
                "engine explains chains (Sequential models or functional models without "
                f"branches) made of: {_SUPPORTED_TEXT}.")
        previous_outputs, previous_name = list(node.output_tensors), operation.name


def model_chain(model) -> list[Step]:
    """Check ``model`` and return its chain of :class:`Step` s (InputLayer and a final softmax
    left out). Raises ``ValueError`` naming the first unsupported layer, before any computation.
    """
    from ._tf import keras

    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a Keras model (keras.Sequential or keras.Model), got "
                        f"{type(model).__name__}.")
    if not model.built:
        raise ValueError("The model is not built yet, so its input shape is unknown: start it "
                         "with keras.Input(shape) or call it once on a batch, e.g. "
                         "model(images[:1]).")
    layers = _flatten_layers(model)
    # 1. every layer must be of a supported class (checked for all layers before anything else)
    steps = []
    for position, layer in enumerate(layers):
        cls = type(layer).__name__
        last = position == len(layers) - 1
        ref = weakref.ref(layer)
        if cls == "InputLayer":
            continue
        if cls in ("Conv2D", "Dense"):
            if cls == "Conv2D":
                if layer.data_format != "channels_last":
                    raise ValueError(f"{_describe(layer)} uses data_format='{layer.data_format}'; "
                                     "the LRP engine supports channels_last only (Keras' default).")
                if getattr(layer, "groups", 1) != 1:
                    raise ValueError(f"{_describe(layer)} has groups={layer.groups}; the LRP "
                                     "engine supports ordinary convolutions (groups=1) only.")
            if getattr(layer, "lora_enabled", False):
                raise ValueError(f"{_describe(layer)} has LoRA enabled; merge it first.")
            act = _activation_name(layer.activation)
            if act not in ("relu", "linear") and not (last and act in _FINAL_ACTIVATIONS):
                where = ("the last layer may end in softmax, sigmoid or nothing" if last else
                         "hidden layers must use activation='relu' or none")
                raise ValueError(
                    f"{_describe(layer)} has activation='{act}': LRP rules here are derived for "
                    f"ReLU networks; {where}. Use activation='relu' (or a separate ReLU layer).")
            if last and act == "relu":
                raise ValueError(f"{_describe(layer)} is the model's last layer and ends in a "
                                 "ReLU; LRP explains a logit, so the last layer needs "
                                 "activation=None (or 'softmax').")
            config = {}
            if cls == "Conv2D":
                config = dict(strides=tuple(layer.strides), padding=layer.padding.upper(),
                              dilations=tuple(layer.dilation_rate))
            steps.append(Step(layer.name, "conv" if cls == "Conv2D" else "dense", ref, cls,
                              relu=(act == "relu"), config=config))
        elif cls in ("MaxPooling2D", "AveragePooling2D"):
            if layer.data_format != "channels_last":
                raise ValueError(f"{_describe(layer)} uses data_format='{layer.data_format}'; "
                                 "only channels_last is supported.")
            steps.append(Step(layer.name, "maxpool" if cls == "MaxPooling2D" else "avgpool", ref,
                              cls, config=dict(ksize=tuple(layer.pool_size),
                                               strides=tuple(layer.strides),
                                               padding=layer.padding.upper())))
        elif cls == "GlobalAveragePooling2D":
            if layer.data_format != "channels_last":
                raise ValueError(f"{_describe(layer)} uses data_format='{layer.data_format}'; "
                                 "only channels_last is supported.")
            steps.append(Step(layer.name, "gap", ref, cls,
                              config=dict(keepdims=bool(getattr(layer, "keepdims", False)))))
        elif cls == "Flatten":
            if getattr(layer, "data_format", "channels_last") != "channels_last":
                raise ValueError(f"{_describe(layer)} uses data_format='{layer.data_format}'; "
                                 "only channels_last is supported.")
            steps.append(Step(layer.name, "flatten", ref, cls))
        elif cls == "Dropout":
            steps.append(Step(layer.name, "identity", ref, cls))
        elif cls == "ReLU":
            if (layer.max_value is not None or float(layer.negative_slope) != 0.0
                    or float(layer.threshold) != 0.0):
                raise ValueError(f"{_describe(layer)} is not a plain ReLU (max_value="
                                 f"{layer.max_value}, negative_slope={layer.negative_slope}, "
                                 f"threshold={layer.threshold}); use keras.layers.ReLU().")
            steps.append(Step(layer.name, "relu", ref, cls))
        elif cls == "Activation":
            act = _activation_name(layer.activation)
            if act == "relu":
                steps.append(Step(layer.name, "relu", ref, cls))
            elif act == "linear":
                steps.append(Step(layer.name, "identity", ref, cls))
            elif last and act in _FINAL_ACTIVATIONS:
                continue  # explain the logit: drop the final softmax/sigmoid
            else:
                raise ValueError(f"{_describe(layer)} applies '{act}': only 'relu' (hidden) and "
                                 "'softmax'/'sigmoid' (last layer) are supported.")
        elif cls == "Softmax" and last:
            continue
        else:
            hint = ""
            if cls == "BatchNormalization":
                hint = (" (fold it into the preceding Conv2D/Dense layer's weights first, or use "
                        "a model without batch normalization)")
            elif cls in ("Add", "Concatenate", "Multiply", "Average", "Subtract"):
                hint = " (residual/branching models are not chains)"
            raise ValueError(
                f"Unsupported {_describe(layer)}{hint}. The LRP engine supports: "
                f"{_SUPPORTED_TEXT}.")
    # 2. the layers must form a chain (no branches)
    _check_chain(model)
    if not any(step.weighted for step in steps):
        raise ValueError("The model has no Dense or Conv2D layer: there is nothing to explain.")
    return steps


# --------------------------------------------------------------------------------------------
# Layer operations (forward with any weights; the same ops Keras uses)
# --------------------------------------------------------------------------------------------

def _linear(step, x, kernel, bias):
    """``x ⊛ kernel + bias`` for a Conv2D or Dense step (bias may be None)."""
    from ._tf import tf

    if step.kind == "conv":
        z = tf.nn.convolution(x, kernel, strides=step.config["strides"],
                              padding=step.config["padding"], dilations=step.config["dilations"])
    else:
        z = tf.matmul(x, kernel)
    if bias is not None:
        z = tf.nn.bias_add(z, bias) if len(z.shape) > 1 else z + bias
    return z


def _weights(step, dtype):
    from ._tf import tf

    layer = step.layer
    kernel = tf.cast(tf.convert_to_tensor(layer.kernel), dtype)
    bias = tf.cast(tf.convert_to_tensor(layer.bias), dtype) if layer.use_bias else None
    return kernel, bias


def _forward_step(step, a, dtype):
    """Plain forward of one step: returns (pre-activation z or None, output)."""
    from ._tf import tf

    if step.weighted:
        kernel, bias = _weights(step, dtype)
        z = _linear(step, a, kernel, bias)
        return z, (tf.nn.relu(z) if step.relu else z)
    if step.kind == "maxpool":
        return None, tf.nn.max_pool2d(a, **step.config)
    if step.kind == "avgpool":
        return None, tf.nn.avg_pool2d(a, **step.config)
    if step.kind == "gap":
        return None, tf.reduce_mean(a, axis=[1, 2], keepdims=step.config["keepdims"])
    if step.kind == "flatten":
        return None, tf.reshape(a, [tf.shape(a)[0], -1])
    if step.kind == "relu":
        return None, tf.nn.relu(a)
    return None, a  # dropout / linear activation


def forward(steps, x, dtype, tape=None):
    """Plain forward pass through the chain. Returns (inputs, pre-activations, outputs) per step;
    with a ``tape``, every step's input is watched (for the gradients of the backward pass)."""
    inputs, pre, outputs = [], [], []
    a = x
    for step in steps:
        if tape is not None:
            tape.watch(a)
        inputs.append(a)
        z, a = _forward_step(step, a, dtype)
        pre.append(z)
        outputs.append(a)
    return inputs, pre, outputs


# --------------------------------------------------------------------------------------------
# The generic LRP step
# --------------------------------------------------------------------------------------------

def _branch_input(name, a, bounds):
    from ._tf import tf

    if name == "x":
        return a
    if name == "positive":
        return tf.nn.relu(a)
    if name == "negative":
        return tf.minimum(a, tf.zeros_like(a))
    if name == "ones":
        return tf.ones_like(a)
    if name in ("low", "high"):
        low, high = bounds
        value = low if name == "low" else high
        return tf.broadcast_to(tf.constant(np.asarray(value), dtype=a.dtype), tf.shape(a))
    raise ValueError(f"unknown branch input {name!r}")


def _modify(rho, param):
    return param if rho is None else rho(param)


def _lrp_linear(step, a, relevance, rule: Rule, kernel, bias, *, plain_z=None, tape=None,
                input_nonnegative=False, nonpositive_outputs_irrelevant=False):
    from ._tf import tf

    groups = rule.groups(input_nonnegative=input_nonnegative,
                         nonpositive_outputs_irrelevant=nonpositive_outputs_irrelevant)
    if (len(groups) == 1 and len(groups[0].branches) == 1 and groups[0].branches[0].is_plain
            and groups[0].where is None and plain_z is not None and tape is not None):
        # LRP-0 / ε: z is the plain pre-activation already computed; c = Wᵀs is its gradient.
        s = tf.math.divide_no_nan(relevance, rule.stabilizer(plain_z))
        c = tape.gradient(plain_z, a, output_gradients=groups[0].coefficient * s)
        return a * c

    bounds = (getattr(rule, "low", None), getattr(rule, "high", None))
    names = []
    for group in groups:
        for branch in group.branches:
            if branch.input not in names:
                names.append(branch.input)
    with tf.GradientTape() as branch_tape:
        branch_inputs = {name: _branch_input(name, a, bounds) for name in names}
        for value in branch_inputs.values():
            branch_tape.watch(value)
        zs = []
        for group in groups:
            z = None
            for branch in group.branches:
                b = None if branch.bias is False or bias is None else _modify(branch.bias, bias)
                term = _linear(step, branch_inputs[branch.input], _modify(branch.weight, kernel), b)
                if branch.sign != 1.0:
                    term = -term if branch.sign == -1.0 else branch.sign * term
                z = term if z is None else z + term
            zs.append(z)
    ss = []
    for group, z in zip(groups, zs):
        s = tf.math.divide_no_nan(relevance, rule.stabilizer(z))
        if group.where is not None:
            if plain_z is None:
                plain_z = _linear(step, a, kernel, bias)
            mask = plain_z > 0 if group.where == "positive" else plain_z < 0
            s = s * tf.cast(mask, s.dtype)
        if group.coefficient != 1.0:
            s = group.coefficient * s
        ss.append(s)
    grads = branch_tape.gradient(zs, list(branch_inputs.values()), output_gradients=ss)
    result = None
    for name, value, grad in zip(branch_inputs, branch_inputs.values(), grads):
        if grad is None:
            continue
        term = grad if name == "ones" else value * grad
        result = term if result is None else result + term
    return result


def lrp_step(layer, a, relevance, rule: Rule):
    """The generic LRP step through ONE Dense or Conv2D Keras layer (eager or in a graph).

    ``z = ε + ρ(W)·a``; ``s = R / z``; ``c = ρ(W)ᵀ s`` (a gradient); ``R_in = a ⊙ c``.

    a : the layer's input activations (N, ...); relevance : relevance of its outputs, shape of
    the layer's output (pre-activation). Returns the relevance of the inputs (shape of a). No
    shortcut is taken (both halves of every rule are computed), so this is also the reference
    the compiled engine is compared with.
    """
    from ._tf import tf

    steps = _step_of_layer(layer)
    step = steps[0]
    dtype = layer.kernel.dtype
    a = tf.convert_to_tensor(a, dtype=dtype)
    relevance = tf.convert_to_tensor(relevance, dtype=dtype)
    kernel, bias = _weights(step, dtype)
    with tf.GradientTape() as tape:
        tape.watch(a)
        plain_z = _linear(step, a, kernel, bias)
    return _lrp_linear(step, a, relevance, rule, kernel, bias, plain_z=plain_z, tape=tape)


def _step_of_layer(layer):
    cls = type(layer).__name__
    if cls not in ("Dense", "Conv2D"):
        raise ValueError(f"lrp_step needs a Dense or Conv2D layer, got {_describe(layer)}.")
    config = {}
    if cls == "Conv2D":
        config = dict(strides=tuple(layer.strides), padding=layer.padding.upper(),
                      dilations=tuple(layer.dilation_rate))
    return [Step(layer.name, "conv" if cls == "Conv2D" else "dense", weakref.ref(layer), cls,
                 config=config)]


def _norm_step(z, a, relevance, tape):
    """Average pooling: LRP-0 with ρ = identity (relevance in proportion to the inputs)."""
    from ._tf import tf

    s = tf.math.divide_no_nan(relevance, stabilize(z, NORM_EPSILON))
    return a * tape.gradient(z, a, output_gradients=s)


# --------------------------------------------------------------------------------------------
# The compiled explainer
# --------------------------------------------------------------------------------------------

def _static_flags(steps, assignment, images_nonnegative):
    """Per step: is its input provably >= 0? may outputs with z <= 0 be skipped?"""
    nonneg, skip = [], []
    state = images_nonnegative
    for step in steps:
        nonneg.append(state)
        if step.weighted:
            state = step.relu
        elif step.kind == "relu":
            state = True
    weighted = [i for i, s in enumerate(steps) if s.weighted]
    for i, step in enumerate(steps):
        ok = False
        if step.weighted:
            followed_by_relu = step.relu or (i + 1 < len(steps) and steps[i + 1].kind == "relu")
            later = [j for j in weighted if j > i]
            ok = bool(followed_by_relu and later
                      and assignment[later[0]].zero_input_gets_zero_relevance)
        skip.append(ok)
    return nonneg, skip


class _Explainer:
    """The compiled forward + LRP backward pass for one model and one assignment of rules."""

    def __init__(self, steps, assignment, images_nonnegative, dtype, return_layers):
        from ._tf import tf

        self.steps = steps
        self.assignment = assignment
        self.dtype = dtype
        self.return_layers = return_layers
        self.nonneg, self.skip = _static_flags(steps, assignment, images_nonnegative)
        # a fresh Python function per explainer: TF's "frequent retracing" detector counts
        # traces per Python function, and distinct explainers are not retraces of each other
        def run(x, target):
            return self._run(x, target)

        self.function = tf.function(run, reduce_retracing=False)

    def _run(self, x, target):
        from ._tf import tf

        steps, dtype = self.steps, self.dtype
        with tf.GradientTape(persistent=True) as tape:
            inputs, pre, outputs = forward(steps, x, dtype, tape)
        logits = outputs[-1]
        chosen = tf.where(target < 0, tf.argmax(logits, axis=-1, output_type=tf.int32), target)
        one_hot = tf.one_hot(chosen, tf.shape(logits)[-1], dtype=logits.dtype)
        relevance = one_hot * logits  # the target logit's value, 0 for the other classes
        per_layer = [relevance]
        for i in range(len(steps) - 1, -1, -1):
            step, a = steps[i], inputs[i]
            if step.weighted:
                kernel, bias = _weights(step, dtype)
                relevance = _lrp_linear(
                    step, a, relevance, self.assignment[i], kernel, bias, plain_z=pre[i],
                    tape=tape, input_nonnegative=self.nonneg[i],
                    nonpositive_outputs_irrelevant=self.skip[i])
            elif step.kind == "maxpool":
                relevance = tape.gradient(outputs[i], a, output_gradients=relevance)
            elif step.kind in ("avgpool", "gap"):
                relevance = _norm_step(outputs[i], a, relevance, tape)
            elif step.kind == "flatten":
                relevance = tf.reshape(relevance, tf.shape(a))
            # relu / identity: relevance passes unchanged
            if self.return_layers:
                per_layer.append(relevance)
        del tape
        if self.return_layers:
            return relevance, logits, chosen, per_layer[::-1]
        return relevance, logits, chosen, []


_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _get_explainer(model, steps, assignment, images_nonnegative, dtype, return_layers):
    key = (tuple((i, assignment[i].key()) for i in sorted(assignment)), bool(images_nonnegative),
           str(dtype), bool(return_layers), tuple((s.name, s.kind) for s in steps))
    per_model = _CACHE.setdefault(model, {})
    explainer = per_model.get(key)
    if explainer is None:
        explainer = _Explainer(steps, assignment, images_nonnegative, dtype, return_layers)
        per_model[key] = explainer
    return explainer


# --------------------------------------------------------------------------------------------
# Input checks shared with the baselines
# --------------------------------------------------------------------------------------------

def model_dtype(steps):
    layer = next(step for step in steps if step.weighted).layer
    return np.dtype(layer.kernel.dtype)


def check_images(model, images, dtype):
    """Return ``images`` as an array of the model's dtype, or raise a clear error."""
    try:
        array = np.asarray(images)
    except Exception as error:  # ragged lists etc.
        raise TypeError(f"images must be a numeric array of shape (N, ...): {error}") from None
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number)
                                     or array.dtype == bool):
        raise TypeError(f"images must be a numeric array of shape (N, ...), got dtype "
                        f"{array.dtype}.")
    expected = tuple(model.inputs[0].shape) if model.inputs else None
    if expected is not None:
        shape_text = "(N, " + ", ".join("?" if d is None else str(d) for d in expected[1:]) + ")"
        wrong = array.ndim != len(expected) or any(
            d is not None and d != got for d, got in zip(expected[1:], array.shape[1:]))
        if wrong:
            hint = ""
            if array.ndim == len(expected) - 1:
                hint = " For a single image add the batch axis: images[None] (or [image])."
            raise ValueError(f"images has shape {array.shape}, but the model expects "
                             f"{shape_text}.{hint}")
    if array.shape[0] == 0:
        raise ValueError("images is empty (N = 0): pass at least one image.")
    array = array.astype(dtype, copy=False)
    if not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(f"images contains {bad} NaN or infinite value(s); LRP needs finite "
                         "inputs (check the preprocessing, e.g. a division by zero).")
    return array


def num_classes(steps, model):
    shape = tuple(model.outputs[0].shape) if model.outputs else None
    if shape is None or len(shape) != 2 or shape[-1] is None:
        raise ValueError(f"The model's output has shape {shape}; the LRP engine explains models "
                         "whose output is (N, classes) -- add Flatten/GlobalAveragePooling2D and "
                         "a Dense layer at the end.")
    return int(shape[-1])


def check_target(target, n_images, n_classes):
    """Return an int32 array (N,), -1 meaning "argmax logit"."""
    if target is None:
        return np.full(n_images, -1, dtype=np.int32)
    array = np.asarray(target)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        if array.dtype.kind == "f" and np.all(np.isfinite(array)) and np.all(array == np.round(array)):
            array = array.astype(np.int64)
        else:
            raise TypeError(f"target must be None (the top class), an int class index or a "
                            f"sequence of N ints, got {target!r}.")
    if array.ndim == 0:
        array = np.full(n_images, int(array), dtype=np.int64)
    elif array.ndim != 1 or array.shape[0] != n_images:
        raise ValueError(f"target has shape {array.shape}, but there are {n_images} image(s): "
                         f"give one class index, or a sequence of {n_images} indices.")
    bad = array[(array < 0) | (array >= n_classes)]
    if bad.size:
        raise ValueError(f"target {int(bad[0])} is out of range: the model has {n_classes} "
                         f"classes (valid indices 0 .. {n_classes - 1}).")
    return array.astype(np.int32)


def _check_bounds(assignment, image_shape):
    for rule in assignment.values():
        low = getattr(rule, "low", None)
        if low is None:
            continue
        for name, value in (("low", rule.low), ("high", rule.high)):
            try:
                fits = np.broadcast_shapes(value.shape, image_shape) == tuple(image_shape)
            except ValueError:
                fits = False
            if not fits:
                raise ValueError(f"ZBox {name} has shape {value.shape}, which does not broadcast "
                                 f"to one image of shape {image_shape}; give a scalar, one value "
                                 f"per channel ({image_shape[-1]},), or a full image.")


# --------------------------------------------------------------------------------------------
# Public call
# --------------------------------------------------------------------------------------------

def explain(model, images, target=None, composite=None, return_layers=False):
    """Layer-wise relevance propagation of the target LOGIT back to the input.

    Parameters
    ----------
    model : a Keras chain (Sequential, or functional without branches) of InputLayer, Conv2D,
        Dense, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, Flatten, Dropout, ReLU.
        A softmax at the end is ignored (the logit is explained). The model is not modified.
    images : array (N, ...) matching the model's input; computed in the model's dtype.
    target : None (each image's top logit), an int (same class for all), or N ints.
    composite : a :class:`~lrp_teach.composites.Composite` (e.g. ``EpsilonPlusFlat()``, the
        default when None) or a single :class:`~lrp_teach.rules.Rule` used for every
        Dense/Conv2D layer.
    return_layers : also return ``[("input", R_x), (layer name, R at its outputs), ...,
        (last layer name, R at the logits)]``.

    Returns
    -------
    relevance : np.ndarray with the shape of ``images`` (sum over the channels for a heatmap).
        The relevance starts as the target logit's value at the target class and 0 elsewhere;
        with conserving rules ``relevance.sum()`` per image is close to that logit.
    """
    from ._tf import tf

    steps = model_chain(model)  # errors about the model come first, before any computation
    comp = _composites.as_composite(composite)
    layers = [step.layer for step in steps]
    assignment = comp.assign(layers)
    for index, rule in assignment.items():
        if not isinstance(rule, Rule):
            raise TypeError(f"{type(comp).__name__} gave {rule!r} for layer '{steps[index].name}'"
                            "; every rule must come from lrp_teach.rules.")
    dtype = model_dtype(steps)
    array = check_images(model, images, dtype)
    _check_bounds(assignment, array.shape[1:])
    chosen = check_target(target, array.shape[0], num_classes(steps, model))
    explainer = _get_explainer(model, steps, assignment, bool(np.all(array >= 0)), dtype,
                               return_layers)
    relevance, _, _, per_layer = explainer.function(tf.constant(array), tf.constant(chosen))
    relevance = relevance.numpy()
    if not return_layers:
        return relevance
    names = ["input"] + [step.name for step in steps]
    return relevance, [(name, r.numpy()) for name, r in zip(names, per_layer)]


def rule_table(model, composite=None) -> list[tuple[str, str, str]]:
    """``[(layer name, layer class, how relevance passes)]`` for every layer of the chain, e.g.
    ``("block1_conv1", "Conv2D", "ZBox(...)")`` or ``("block1_pool", "MaxPooling2D",
    "gradient (winner takes all)")`` -- to show which rule a composite gives each layer."""
    steps = model_chain(model)
    assignment = _composites.as_composite(composite).assign([step.layer for step in steps])
    passing = {"maxpool": "gradient (winner takes all)",
               "avgpool": "proportional (LRP-0, eps=1e-6)",
               "gap": "proportional (LRP-0, eps=1e-6)", "flatten": "reshape",
               "identity": "unchanged", "relu": "unchanged"}
    return [(step.name, step.class_name,
             repr(assignment[i]) if step.weighted else passing[step.kind])
            for i, step in enumerate(steps)]
