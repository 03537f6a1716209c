"""The model as a checked chain of layers, read through public Keras API only.

A ``keras.Sequential`` is a chain by construction (unless a subclass overrides ``call``). A
functional model is proved to be one from its public ``get_config()`` -- the graph Keras itself
serialises: one input, one output, and every layer (in order) called exactly once, on exactly
the output of the layer before it. Any other model (a subclassed ``keras.Model`` whose ``call``
is Python code, a model whose config cannot be read) is refused with an error that says why:
the engine explains only what it can prove is a chain.
"""

from __future__ import annotations

import weakref

from .layers import SUPPORTED_TEXT, describe

# functional models proved to be chains -> their layers then (a functional model's graph cannot
# change after it is built; the layers are compared anyway). get_config() costs ~40 ms on VGG16.
_PROVED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()

_CHAINS = ("The LRP engine explains chains (Sequential models or functional models without "
           f"branches) made of: {SUPPORTED_TEXT}.")


def flatten_layers(model):
    """All layers of ``model`` in order, nested Sequential/functional models expanded."""
    from .._tf import keras

    out = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out.extend(flatten_layers(layer))
        else:
            out.append(layer)
    return out


def _tensor_sources(value, found):
    """Every ``keras_history`` of the serialised Keras tensors inside ``value``."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            found.append(tuple(value["config"]["keras_history"]))
            return found
        for item in value.values():
            _tensor_sources(item, found)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _tensor_sources(item, found)
    return found


def _refuse(model, why):
    return ValueError(
        f"Cannot prove that model '{model.name}' ({type(model).__name__}) is a chain of layers: "
        f"{why}. Build it as keras.Sequential([...]) or keras.Model(inputs, outputs) without "
        f"branches. {_CHAINS}")


def check_chain(model):
    """Raise a ValueError unless ``model`` (and every model nested in it) is a plain chain."""
    from .._tf import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            check_chain(layer)
    if isinstance(model, keras.Sequential):
        if type(model).call is not keras.Sequential.call:
            raise _refuse(model, "it is a Sequential subclass with its own call()")
        return
    layer_ids = tuple(id(layer) for layer in model.layers)
    if _PROVED.get(model) == layer_ids:
        return
    _check_functional(model)
    _PROVED[model] = layer_ids


def _check_functional(model):
    from .._tf import keras

    try:
        config = model.get_config()
    except Exception as error:  # e.g. NotImplementedError of a subclassed model
        raise _refuse(model, f"its get_config() fails ({type(error).__name__}: {error})") from None
    if not (isinstance(config, dict) and "layers" in config and "input_layers" in config
            and "output_layers" in config):
        raise _refuse(model, "it is a subclassed keras.Model, whose call() is Python code the "
                             "engine cannot read")
    for key in ("input_layers", "output_layers"):
        ends = config[key]
        if ends and not isinstance(ends[0], (list, tuple)):
            ends = [ends]  # a single [name, node, tensor] entry
        if len(ends) != 1:
            names = sorted(end[0] for end in ends)
            raise ValueError(
                f"The model is not a simple chain of layers: layers {names} work side by side "
                f"(several {key.split('_')[0]}s or branches). {_CHAINS}")
    entries = config["layers"]
    by_name = {layer.name: layer for layer in model.layers}
    if [entry["name"] for entry in entries] != [layer.name for layer in model.layers]:
        raise _refuse(model, "its serialised layers differ from model.layers")
    previous = None
    for entry in entries:
        nodes = entry.get("inbound_nodes", [])
        layer = by_name[entry["name"]]
        if previous is None:
            if nodes or entry["class_name"] != "InputLayer" or not isinstance(
                    layer, keras.layers.InputLayer):
                raise _refuse(model, f"it does not start with its input layer but with "
                                     f"{describe(layer)}")
            previous = entry["name"]
            continue
        sources = [_tensor_sources(node, []) for node in nodes]
        if len(nodes) != 1 or len(sources[0]) != 1 or tuple(sources[0][0]) != (previous, 0, 0):
            raise ValueError(
                f"The model is not a simple chain of layers: {describe(layer)} does not take "
                f"exactly the output of the layer before it ({previous}). {_CHAINS}")
        previous = entry["name"]
    output = config["output_layers"]
    output = output[0] if isinstance(output[0], (list, tuple)) else output
    if tuple(output) != (previous, 0, 0):
        raise ValueError(f"The model is not a simple chain of layers: its output is layer "
                         f"'{output[0]}', not the last layer '{previous}'. {_CHAINS}")
