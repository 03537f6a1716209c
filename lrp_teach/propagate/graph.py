"""The model as a checked graph of layers, read through public Keras API only.

A ``keras.Sequential`` is a chain by construction (unless a subclass overrides ``call``). A
functional model's graph is read from its public ``get_config()`` -- the graph Keras itself
serialises: every layer's inbound node names the layers whose outputs it reads (their
``keras_history``). The engine accepts a directed acyclic graph with ONE input and ONE output in
which every layer is called exactly once on whole tensors; nested Sequential/functional models
are expanded in place. Anything else -- a subclassed ``keras.Model`` whose ``call`` is Python
code, several inputs or outputs, a layer called twice (shared weights), a layer called with a
tensor as a keyword argument or with ``training=True`` -- is refused with an error that says why:
the engine explains only what it can prove it reads correctly.

:func:`read_graph` returns the layer calls in topological order; :mod:`.engine` turns them into
:class:`~lrp_teach.propagate.layers.Step` s with the layer table.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from .layers import SUPPORTED_TEXT

_GRAPHS = ("The LRP engine explains Sequential models and functional models "
           "(keras.Model(inputs, outputs)) with one input and one output whose layers form a "
           f"directed acyclic graph, each layer called once, made of: {SUPPORTED_TEXT}.")

# models read already -> (their layer ids then, the calls). A functional model's graph cannot
# change after it is built; the layers are compared anyway. get_config() is slow on big models.
_READ: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


@dataclass
class Call:
    """One layer called once: it reads the tensors ``sources`` and writes tensor ``output``
    (tensor 0 is the model's input)."""

    layer_ref: object  # weakref: the cache must not keep models alive
    sources: tuple
    output: int

    @property
    def layer(self):
        return self.layer_ref()


def _describe(layer) -> str:
    return f"layer '{layer.name}' ({type(layer).__name__})"


def _Describe(layer) -> str:  # noqa: N802 -- at the start of a sentence
    return f"Layer '{layer.name}' ({type(layer).__name__})"


def _refuse(model, why):
    return ValueError(
        f"Cannot prove that model '{model.name}' ({type(model).__name__}) is a graph of Keras "
        f"layers the engine can read: {why}. Build it as keras.Sequential([...]) or "
        f"keras.Model(inputs, outputs). {_GRAPHS}")


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


def _single_end(model, config, key):
    ends = config[key]
    if ends and not isinstance(ends[0], (list, tuple)):
        ends = [ends]  # a single [name, node, tensor] entry
    if len(ends) != 1:
        names = sorted(end[0] for end in ends)
        what = key.split("_")[0]
        raise ValueError(
            f"Model '{model.name}' has {len(ends)} {what}s (layers {names}); the LRP engine "
            f"explains one output logit from one input. {_GRAPHS}")
    return tuple(ends[0])


class _Reader:
    def __init__(self):
        self.calls = []
        self.tensors = 1  # tensor 0: the model's input

    def new_tensor(self):
        self.tensors += 1
        return self.tensors - 1

    def call(self, layer, sources):
        """Record ``layer`` reading ``sources``; expands a nested model. Returns its output."""
        from .._tf import keras

        if isinstance(layer, keras.Model):
            if len(sources) != 1:
                raise ValueError(f"Nested model {_describe(layer)} is called on {len(sources)} "
                                 f"tensors; the engine reads nested models with one input. "
                                 f"{_GRAPHS}")
            return self.model(layer, sources[0])
        output = self.new_tensor()
        self.calls.append(Call(weakref.ref(layer), tuple(sources), output))
        return output

    def model(self, model, source):
        from .._tf import keras

        if isinstance(model, keras.Sequential):
            if type(model).call is not keras.Sequential.call:
                raise _refuse(model, "it is a Sequential subclass with its own call()")
            tensor = source
            for layer in model.layers:
                tensor = self.call(layer, (tensor,))
            return tensor
        return self.functional(model, source)

    def functional(self, model, source):
        from .._tf import keras

        try:
            config = model.get_config()
        except Exception as error:  # e.g. NotImplementedError of a subclassed model
            raise _refuse(model, f"its get_config() fails ({type(error).__name__}: "
                                 f"{error})") from None
        if not (isinstance(config, dict) and "layers" in config and "input_layers" in config
                and "output_layers" in config):
            raise _refuse(model, "it is a subclassed keras.Model, whose call() is Python code "
                                 "the engine cannot read")
        input_end = _single_end(model, config, "input_layers")
        output_end = _single_end(model, config, "output_layers")
        entries = config["layers"]
        by_name = {layer.name: layer for layer in model.layers}
        if sorted(entry["name"] for entry in entries) != sorted(by_name):
            raise _refuse(model, "its serialised layers differ from model.layers")
        tensors = {}  # (layer name, node, tensor) -> tensor id
        pending = list(entries)
        while pending:  # in Keras' order (topological); a call waits for its sources
            waiting = []
            for entry in pending:
                layer = by_name[entry["name"]]
                nodes = entry.get("inbound_nodes", [])
                if entry["class_name"] == "InputLayer" or isinstance(layer,
                                                                     keras.layers.InputLayer):
                    if nodes or (entry["name"], 0, 0) != input_end:
                        raise _refuse(model, f"its input layer {_describe(layer)} is not its "
                                             "only input")
                    tensors[input_end] = source
                    continue
                if len(nodes) != 1:
                    raise ValueError(
                        f"{_Describe(layer)} is called {len(nodes)} times in model "
                        f"'{model.name}' (a shared layer); the LRP engine explains graphs in "
                        f"which every layer is called once. {_GRAPHS}")
                node = nodes[0]
                args = node.get("args", []) if isinstance(node, dict) else node
                kwargs = node.get("kwargs", {}) if isinstance(node, dict) else {}
                if _tensor_sources(kwargs, []):
                    raise ValueError(f"{_Describe(layer)} is called with a tensor as a keyword "
                                     f"argument; the engine cannot read that call. {_GRAPHS}")
                if kwargs.get("training"):
                    raise ValueError(f"{_Describe(layer)} is called with training=True, so the "
                                     "model computes it in training mode; the engine explains "
                                     "the model at inference. Call the layer without training.")
                sources = _tensor_sources(args, [])
                if any(history[2] != 0 for history in sources):
                    raise ValueError(f"{_Describe(layer)} reads the second output of a layer; "
                                     f"the engine supports layers with one output. {_GRAPHS}")
                if any(history[1] != 0 for history in sources):
                    raise ValueError(f"{_Describe(layer)} reads a layer called several times "
                                     f"(shared layer). {_GRAPHS}")
                if not all(history in tensors for history in sources):
                    waiting.append(entry)
                    continue
                if not sources:
                    raise _refuse(model, f"{_describe(layer)} reads no tensor")
                output = self.call(layer, [tensors[history] for history in sources])
                tensors[(entry["name"], 0, 0)] = output
            if len(waiting) == len(pending):
                names = [entry["name"] for entry in waiting]
                raise _refuse(model, f"layers {names} read tensors it cannot find")
            pending = waiting
        if output_end not in tensors:  # pragma: no cover - Keras always lists the output layer
            raise _refuse(model, f"its output layer '{output_end[0]}' is not among its layers")
        return tensors[output_end]


def read_graph(model) -> tuple[list, int]:
    """``(calls, output tensor)``: every layer call of ``model`` in topological order (nested
    models expanded), or a ValueError saying why the model cannot be read."""
    layer_ids = tuple(id(layer) for layer in model.layers)
    cached = _READ.get(model)
    if cached is not None and cached[0] == layer_ids:
        return cached[1], cached[2]
    reader = _Reader()
    output = reader.model(model, 0)
    seen = set()
    for call in reader.calls:  # a layer reached twice (e.g. the same Sequential nested twice)
        if id(call.layer) in seen:
            raise ValueError(f"{_Describe(call.layer)} is called more than once in model "
                             f"'{model.name}' (a shared layer); the LRP engine explains graphs in "
                             f"which every layer is called once. {_GRAPHS}")
        seen.add(id(call.layer))
    _READ[model] = (layer_ids, reader.calls, output)
    return reader.calls, output


def consumers(steps) -> dict:
    """``{step index (-1: the model's input): [indices of the steps that read its output]}``."""
    found = {-1: []}
    for i in range(len(steps)):
        found[i] = []
    for i, step in enumerate(steps):
        for source in step.inputs:
            found[source].append(i)
    return found
