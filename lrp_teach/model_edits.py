"""Two copies of a functional Keras model that notebook 06 explains instead of the model itself.

* :func:`fold_batchnorm` -- the model with every BatchNormalization folded into the Conv2D /
  DepthwiseConv2D / Dense before it (canonization, as the LRP engine does at explain time):
  ``W' = W·γ/√(σ²+ε)``, ``b' = (b − μ)·γ/√(σ²+ε) + β`` per output channel. It computes the same
  function; the notebook prints the difference of the logits.
* :func:`replace_logits` -- the model with its last Dense layer replaced by another one (other
  outputs computed from the same features);
* :func:`contrastive_model` -- the model with its last Dense layer replaced by one output,
  ``f_c − f_c′`` (kernel ``w_c − w_c′``, bias ``b_c − b_c′``): LRP starting from that output
  explains "why c rather than c′".

Both read the model through public Keras API (``layer.input``/``layer.output``, configs and
weights) and never change it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fold_batchnorm", "replace_logits", "contrastive_model", "batchnorm_scale_shift",
           "cascade_in_place"]

_FOLDABLE = ("Conv2D", "DepthwiseConv2D", "Dense")


def _class_name(layer):
    return type(layer).__name__


def _is_a(layer, name):
    return any(cls.__name__ == name for cls in type(layer).__mro__)


def _linear(layer):
    activation = getattr(layer, "activation", None)
    return activation is None or activation.__name__ == "linear"


def batchnorm_scale_shift(bn):
    """``(scale, shift)`` of a BatchNormalization at inference: ``y = scale·x + shift`` per
    channel, ``scale = γ/√(σ² + ε)``, ``shift = β − μ·scale`` (float64)."""
    mean = np.asarray(bn.moving_mean, dtype=np.float64)
    variance = np.asarray(bn.moving_variance, dtype=np.float64)
    scale = 1.0 / np.sqrt(variance + bn.epsilon)
    if bn.scale:
        scale = scale * np.asarray(bn.gamma, dtype=np.float64)
    shift = -mean * scale
    if bn.center:
        shift = shift + np.asarray(bn.beta, dtype=np.float64)
    return scale, shift


def _folded_weights(layer, bn):
    weights = layer.get_weights()
    kernel = weights[0].astype(np.float64)
    scale, shift = batchnorm_scale_shift(bn)
    bias = weights[1].astype(np.float64) if len(weights) > 1 else np.zeros_like(scale)
    if _is_a(layer, "DepthwiseConv2D"):   # kernel (h, w, C, multiplier): output c·m + k
        kernel = kernel * scale.reshape(kernel.shape[2], kernel.shape[3])
    else:
        kernel = kernel * scale
    return kernel, bias * scale + shift


def _single_consumer_bn(model):
    """{id(linear layer): its BatchNormalization} for every BN right after a foldable layer."""
    consumers = {}
    for layer in model.layers:
        inputs = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
        for tensor in inputs:
            consumers.setdefault(id(tensor), []).append(layer)
    pairs = {}
    for layer in model.layers:
        if not _is_a(layer, "BatchNormalization"):
            continue
        producer = getattr(layer.input, "_keras_history", None)
        producer = producer[0] if producer else None
        if (producer is None or not any(_is_a(producer, name) for name in _FOLDABLE)
                or not _linear(producer)):
            raise ValueError(f"fold_batchnorm: layer '{layer.name}' (BatchNormalization) does not "
                             "follow a Conv2D, DepthwiseConv2D or Dense layer without activation; "
                             "it cannot be folded.")
        if len(consumers[id(producer.output)]) != 1:
            raise ValueError(f"fold_batchnorm: the output of '{producer.name}' feeds more than "
                             f"'{layer.name}'; folding would change the other consumers.")
        pairs[id(producer)] = layer
    return pairs


def fold_batchnorm(model):
    """A new functional model computing the same function with every BatchNormalization folded
    into the linear layer before it (that layer gets a bias). Weights in float32, as the model's."""
    from ._tf import keras

    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError("fold_batchnorm needs a functional model with one input and one output.")
    pairs = _single_consumer_bn(model)
    folded_bns = {id(bn) for bn in pairs.values()}
    new_input = keras.Input(shape=model.inputs[0].shape[1:], dtype=model.inputs[0].dtype,
                            name=model.inputs[0].name)
    tensors = {id(model.inputs[0]): new_input}
    for layer in model.layers:
        if _is_a(layer, "InputLayer"):
            continue
        if id(layer) in folded_bns:            # its producer's new output already stands for it
            tensors[id(layer.output)] = tensors[id(layer.input)]
            continue
        inputs = layer.input
        mapped = ([tensors[id(t)] for t in inputs] if isinstance(inputs, (list, tuple))
                  else tensors[id(inputs)])
        config = layer.get_config()
        if id(layer) in pairs:
            config["use_bias"] = True
            config["name"] = layer.name + "_folded"
            copy = type(layer).from_config(config)
            output = copy(mapped)
            kernel, bias = _folded_weights(layer, pairs[id(layer)])
            copy.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
            tensors[id(pairs[id(layer)].output)] = output
        else:
            copy = type(layer).from_config(config)
            output = copy(mapped)
            copy.set_weights(layer.get_weights())
        tensors[id(layer.output)] = output
    return keras.Model(new_input, tensors[id(model.outputs[0])], name=model.name + "_folded")


def replace_logits(model, kernel, bias, name: str = "new_logits"):
    """The model with its last Dense layer (the logits) replaced by a Dense layer with the given
    ``kernel`` (J, K) and ``bias`` (K,), fed by the same features. The layers below are the
    model's own (shared, not copied); the model is not changed."""
    from ._tf import keras

    last = model.layers[-1]
    if not _is_a(last, "Dense") or not _linear(last):
        raise ValueError(f"the last layer '{last.name}' ({_class_name(last)}) must be a Dense "
                         "layer without activation (the logits).")
    if len(model.inputs) != 1:
        raise ValueError("replace_logits needs a model with one input.")
    kernel = np.asarray(kernel, dtype=np.float32)
    bias = np.asarray(bias, dtype=np.float32).reshape(-1)
    if kernel.ndim != 2 or kernel.shape[0] != last.kernel.shape[0] or bias.shape != kernel.shape[1:]:
        raise ValueError(f"kernel must have shape ({last.kernel.shape[0]}, K) and bias (K,), got "
                         f"{kernel.shape} and {bias.shape}.")
    head = keras.layers.Dense(kernel.shape[1], name=name)
    output = head(last.input)
    head.set_weights([kernel, bias])
    return keras.Model(model.inputs[0], output, name=f"{model.name}_{name}")


def contrastive_model(model, c: int, c_prime: int):
    """The model with ONE output, ``f_c − f_c′``: the last Dense layer's kernel ``w_c − w_c′``
    and bias ``b_c − b_c′``. LRP from it explains "why c rather than c′"."""
    kernel, bias = (np.asarray(w, dtype=np.float64) for w in model.layers[-1].get_weights())
    classes = kernel.shape[1]
    for name, value in (("c", c), ("c_prime", c_prime)):
        if not 0 <= int(value) < classes:
            raise ValueError(f"contrastive_model: {name}={value} is not a class (0..{classes - 1}).")
    return replace_logits(model, (kernel[:, c] - kernel[:, c_prime])[:, None],
                          [bias[c] - bias[c_prime]], name=f"contrast_{int(c)}_vs_{int(c_prime)}")


def cascade_in_place(model, checkpoints, seed: int = 0):
    """Adebayo et al.'s cascading randomisation **in place**, stopping only at ``checkpoints``.

    The same re-initialisation as :func:`lrp_teach.metrics.cascading_randomization` (every
    trainable weight from the layer's own initializer, seeded with ``seed`` + a running count,
    layers from the top down, BatchNorm statistics kept), so the model after checkpoint ``name``
    has the weights of the copy that ``cascading_randomization`` yields at ``name``. But instead of
    a copy per layer it changes ``model``'s variables and yields only at the named layers: compiled
    explainers of ``model`` are reused (no new tracing), and no model is cloned ~100 times.

    A generator: yields each checkpoint name after that layer (and all above it) are randomised.
    The trained weights are restored when it finishes or is closed (``finally``).
    """
    from . import metrics

    remaining = list(checkpoints)
    layers = list(metrics._leaf_layers(model))
    known = {layer.name for layer in layers if layer.weights}
    unknown = [name for name in remaining if name not in known]
    if unknown:
        raise ValueError(f"cascade_in_place: {unknown} are not layers with weights of the model.")
    trained = [np.array(v) for v in model.get_weights()]
    counter = 0
    try:
        for layer in reversed(layers):
            if not layer.weights:
                continue
            for variable in layer.weights:
                if not variable.trainable:
                    continue
                initializer = metrics._seeded(metrics._initializer_for(layer, variable),
                                              seed + counter)
                counter += 1
                variable.assign(np.asarray(initializer(tuple(variable.shape),
                                                       dtype=variable.dtype)))
            if layer.name in remaining:
                remaining.remove(layer.name)
                yield layer.name
            if not remaining:
                break
    finally:
        model.set_weights(trained)
