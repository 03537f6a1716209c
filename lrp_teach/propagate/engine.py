"""The compiled pass and the public calls: :func:`model_chain` (the model's graph of steps),
:func:`explain`, :func:`rule_table`, and the one cache of compiled functions (shared with the
baselines)."""

from __future__ import annotations

import weakref
from collections import namedtuple

import numpy as np

from .. import composites as _composites
from ..rules import Branch, Epsilon, Group, Rule
from ..rulebase import stabilize
from . import inputs as _inputs
from . import layers as _layers
from . import step as _step
from .graph import consumers, read_graph


class _Proportional(Epsilon):
    """The fixed rule of the "proportional" pass (average pooling): LRP-0 with ε = 1e-6 and
    ρ = identity; no coefficient to scale s by (zennit's ``Norm``)."""

    def groups(self):
        return [Group((Branch("x"),), coefficient=None)]


_PROPORTIONAL = _Proportional(_layers.NORM_EPSILON)

#: Steps that pass the forward value unchanged (a ReLU after them still acts on the z before).
_TRANSPARENT = ("identity", "folded")


def model_chain(model) -> list:
    """Check ``model`` and return its :class:`~lrp_teach.propagate.layers.Step` s in
    topological order (InputLayer and a final softmax left out; each step's ``inputs`` are the
    indices of the steps it reads, -1 for the model's input; the last step computes the
    logits). Raises ``ValueError`` naming the unsupported layers, before any computation.
    (Named for the chains it started with; every DAG the engine accepts comes out here.)"""
    from .._tf import keras

    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a Keras model (keras.Sequential or keras.Model), got "
                        f"{type(model).__name__}.")
    if not model.built:
        raise ValueError("The model is not built yet, so its input shape is unknown: start it "
                         "with keras.Input(shape) or call it once on a batch, e.g. "
                         "model(images[:1]).")
    calls, output = read_graph(model)  # 1. the graph, through public Keras API
    readers = {}
    for call in calls:
        for tensor in call.sources:
            readers[tensor] = readers.get(tensor, 0) + 1
    step_of = {0: -1}  # tensor -> the step that computes it (-1: the model's input)
    steps, errors = [], []
    for call in calls:  # 2. every layer has a handler that accepts it
        layer = call.layer
        sources = [step_of.get(tensor) for tensor in call.sources]
        if any(source is None for source in sources):
            continue  # behind a layer refused already
        context = _layers.Context(
            last=call.output == output,
            sources=[None if source == -1 else steps[source] for source in sources],
            shared=[readers.get(tensor, 0) > 1 for tensor in call.sources])
        try:
            step = _layers.read_layer(layer, context)
        except ValueError as error:
            errors.append((layer, error))
            if len(sources) == 1:  # go on reading behind it, to name every problem at once
                step_of[call.output] = sources[0]
            continue
        if step is None:  # left out (a final softmax): its output is its input
            step_of[call.output] = sources[0]
            continue
        step.inputs = tuple(sources)
        steps.append(step)
        step_of[call.output] = len(steps) - 1
    if errors:
        raise _combined(errors)
    if not any(step.weighted for step in steps):
        raise ValueError("The model has no Dense, Conv2D or DepthwiseConv2D layer: there is "
                         "nothing to explain.")
    if step_of.get(output) != len(steps) - 1:  # pragma: no cover - Keras keeps only ancestors
        raise ValueError(f"Model '{model.name}': some layers do not lead to its output; the "
                         "engine explains graphs whose every layer feeds the output.")
    return steps


def _combined(errors):
    """The first refusal, and the other refused layers named after it."""
    first = errors[0][1]
    others, seen = [], set()
    for layer, _ in errors[1:]:
        what = _layers.describe(layer)
        activation = getattr(layer, "activation", None)
        key = (type(layer).__name__, None if activation is None else
               _layers._activation_name(activation))
        if key in seen:
            continue
        seen.add(key)
        others.append(what if key[1] is None else f"{what} with activation '{key[1]}'")
    if not others:
        return first
    more = f" (and {len(errors) - 1 - len(others)} more like them)" if len(errors) - 1 > len(
        others) else ""
    return ValueError(f"{first}\nThe model has further layers the engine cannot explain: "
                      f"{', '.join(others[:8])}{more}.")


#: The plain forward pass: per step its input (a list for Add/Concatenate), pre-activation
#: (weighted steps), output, (kernel, bias) with any BatchNorm folded in, and the step's own
#: gradient tape (or None).
Pass = namedtuple("Pass", "inputs pre outputs weights tapes")


def forward(steps, x, dtype, tape=None, step_tapes=False):
    """Plain forward pass through the graph. With a ``tape``, every step's input is watched;
    with ``step_tapes=True`` every one-input step runs under a tape of its own that watches its
    input, so that the backward pass's gradients go through that one layer only (one tape over
    the whole pass would make each layer's gradient walk back to the images: a graph quadratic
    in the depth). Each weighted step's weights (a BatchNorm folded in) are computed once and
    returned, for the backward pass to reuse."""
    from .._tf import tf

    inputs, pre, outputs, weights, tapes = [], [], [], [], []
    for step in steps:
        w = _layers.layer_weights(step, dtype) if step.weighted else None
        a = [x if source == -1 else outputs[source] for source in step.inputs]
        if tape is not None:
            for tensor in a:
                tape.watch(tensor)
        a = a[0] if len(a) == 1 else a
        own = None
        if step_tapes and len(step.inputs) == 1:
            with tf.GradientTape() as own:
                own.watch(a)
                z, out = step.handler.forward(step, a, w)
        else:
            z, out = step.handler.forward(step, a, w)
        inputs.append(a)
        pre.append(z)
        outputs.append(out)
        weights.append(w)
        tapes.append(own)
    return Pass(inputs, pre, outputs, weights, tapes)


# --------------------------------------------------------------------------------------------
# What is provably zero, decided once per model, rules and input sign
# --------------------------------------------------------------------------------------------

def _step_rules(steps, assignment):
    """Per step: the rule its relevance passes by (the composite's, the proportional one for
    average pooling), or None (the other passes)."""
    return [assignment[i] if step.handler.relevance == "rule" else
            _PROPORTIONAL if step.handler.relevance == "proportional" else None
            for i, step in enumerate(steps)]


def nonnegative_outputs(steps, images_nonnegative) -> list:
    """Per step: its output is provably ≥ 0 -- a ReLU's (ReLU6's) output, a weighted layer
    with a ReLU activation, or any other layer (pooling, padding, reshape, dropout, Add,
    Concatenate) all of whose inputs are ≥ 0 (images ≥ 0 count)."""
    result = []
    for step in steps:
        if step.weighted:
            nonnegative = step.relu
        elif step.kind == "relu":
            nonnegative = True
        else:  # every other layer maps inputs ≥ 0 to outputs ≥ 0
            nonnegative = all(images_nonnegative if source == -1 else result[source]
                              for source in step.inputs)
        result.append(nonnegative)
    return result


def zero_where_zero(steps, readers, textbook) -> dict:
    """``{step index: True}`` when the relevance arriving at the step's output is provably 0
    wherever that output is 0: every reader gives a zero input zero relevance -- a rule whose
    every term is multiplied by the input, a proportional pass (pooling, ``Add``), or a layer
    that moves values without changing them (ReLU, max pooling's winner, reshape, padding,
    concatenation, dropout) whose own output has the property. The logits have it: the
    relevance starts as the target logit's value."""
    zero = {}
    for k in range(len(steps) - 1, -1, -1):
        ok = True
        for j in readers[k]:
            passing = steps[j].handler.relevance
            if passing == "rule":
                ok = _step.zero_input_gets_zero_relevance(textbook[j])
            elif passing in ("proportional", "sum"):
                ok = True  # R_in = a ⊙ c
            else:  # gradient, unchanged, reshape, crop, slice: a zero input has a zero output
                ok = zero[j]
            if not ok:
                break
        zero[k] = ok
    return zero


def relus_after(steps, readers, i):
    """The ReLU steps that EVERY reader of step ``i``'s output is (through transparent steps:
    dropout, a linear activation, a folded BatchNorm), or None when some reader is not a ReLU
    (e.g. an ``Add``) or the output is the model's output."""
    found, todo = [], [i]
    while todo:
        k = todo.pop()
        if not readers[k]:
            return None
        for j in readers[k]:
            if steps[j].kind == "relu":
                found.append(j)
            elif steps[j].kind in _TRANSPARENT:
                todo.append(j)
            else:
                return None
    return found


def pruned_groups(steps, step_rules, images_nonnegative):
    """Per rule step: its groups without the terms that are exactly zero in this graph, and per
    group the ε of a denominator proven ≥ 0 (:func:`~lrp_teach.propagate.step.proven_shifts`)
    or None. Returns ``(groups, shifts)``, one entry per step (None where no rule passes)."""
    textbook = [None if rule is None else rule.groups() for rule in step_rules]
    for rule, groups in zip(step_rules, textbook):
        if groups is not None:
            _step.check_groups(rule, groups)
    readers = consumers(steps)
    nonnegative = nonnegative_outputs(steps, images_nonnegative)
    zero = zero_where_zero(steps, readers, textbook)
    result, shifts = [], []
    for i, step in enumerate(steps):
        groups, shift = textbook[i], None
        if groups is not None and step.weighted:
            (source,) = step.inputs
            input_nonnegative = images_nonnegative if source == -1 else nonnegative[source]
            relus = [i] if step.relu else relus_after(steps, readers, i)
            irrelevant = bool(relus) and all(zero[r] for r in relus)
            groups = _step.prune(groups, input_nonnegative, irrelevant)
            shift = _step.proven_shifts(step_rules[i], groups, input_nonnegative)
        result.append(groups)
        shifts.append(shift)
    return result, shifts


def image_paths(steps):
    """Per step: the ZeroPadding2D steps between the images and its input when nothing else
    (only dropout / linear activations) lies between them, else None. A rule's bounds (z^B)
    describe the images; on such a path they are padded with zeros like the images."""
    paths = []
    for step in steps:
        if len(step.inputs) != 1:
            paths.append(None)
            continue
        (source,) = step.inputs
        if source == -1:
            paths.append(())
            continue
        before, previous = paths[source], steps[source]
        if before is not None and previous.kind == "zeropad":
            paths.append(before + (source,))
        elif before is not None and previous.kind == "identity":
            paths.append(before)
        else:
            paths.append(None)
    return paths


class _Explainer:
    """The compiled forward + LRP backward pass for one model and one assignment of rules."""

    def __init__(self, steps, assignment, images_nonnegative, dtype, return_layers):
        from .._tf import tf

        self.steps, self.dtype, self.return_layers = steps, dtype, return_layers
        self.rules = _step_rules(steps, assignment)
        self.groups, self.shifts = pruned_groups(steps, self.rules, images_nonnegative)
        self.paths = image_paths(steps)

        # a fresh Python function per explainer: TF's "frequent retracing" detector counts
        # traces per Python function, and distinct explainers are not retraces of each other
        def run(x, target):
            return self._run(x, target)

        # autograph off: the loops run over layers in Python while tracing (nothing depends on
        # a tensor's value), so there is nothing to convert and tracing is faster
        self.function = tf.function(run, reduce_retracing=False, autograph=False)

    def _named_inputs(self, i, rule, x, a):
        """The rule's constant inputs (z^B's bounds) with the shape of the layer's input: the
        bounds of the images, padded with zeros like them, when the layer reads the (padded)
        images; else bounds of the layer's input itself."""
        from .._tf import tf

        named = {}
        for name, value in rule.named_inputs().items():
            value = tf.constant(np.asarray(value), dtype=a.dtype)
            path = self.paths[i]
            if path is None:
                named[name] = tf.broadcast_to(value, tf.shape(a))
                continue
            value = tf.broadcast_to(value, tf.shape(x))
            for k in path:
                value = tf.pad(value, self.steps[k].config["paddings"])
            named[name] = value
        return named

    def _run(self, x, target):
        from .._tf import tf

        steps, dtype = self.steps, self.dtype
        inputs, pre, outputs, weights, tapes = forward(steps, x, dtype, step_tapes=True)
        logits = outputs[-1]
        chosen = tf.where(target < 0, tf.argmax(logits, axis=-1, output_type=tf.int32), target)
        one_hot = tf.one_hot(chosen, tf.shape(logits)[-1], dtype=logits.dtype)
        # relevance arriving at each step's output (-1: the images), summed over its readers
        arriving = {len(steps) - 1: one_hot * logits}  # the target logit's value, 0 elsewhere
        per_layer = [None] * len(steps)
        for i in range(len(steps) - 1, -1, -1):
            step, a, rule = steps[i], inputs[i], self.rules[i]
            passing = step.handler.relevance
            relevance = arriving.pop(i)
            if self.return_layers:
                per_layer[i] = relevance
            if rule is not None:  # "rule" and "proportional": the four steps
                term = None
                if step.weighted:
                    term = _step.linear_term(step, *weights[i])
                z = pre[i] if step.weighted else outputs[i]
                named = self._named_inputs(i, rule, x, a) if rule.named_inputs() else {}
                parts = [_step.four_steps(term, a, relevance, self.groups[i], rule.stabilizer,
                                          named, plain_z=z, tape=tapes[i],
                                          shifts=self.shifts[i])]
            elif passing == "gradient":  # max pooling: winner takes all
                parts = [tapes[i].gradient(outputs[i], a, output_gradients=relevance)]
            elif passing == "reshape":
                parts = [tf.reshape(relevance, tf.shape(a))]
            elif passing == "crop":  # the padding's relevance is dropped
                (_, _), (top, bottom), (left, right), (_, _) = step.config["paddings"]
                height, width = tf.shape(relevance)[1], tf.shape(relevance)[2]
                parts = [relevance[:, top:height - bottom, left:width - right, :]]
            elif passing == "sum":  # Add: R_i = x_i / (Σx + ε·sign(Σx)) · R
                s = tf.math.divide_no_nan(relevance,
                                          stabilize(outputs[i], _layers.NORM_EPSILON))
                parts = [branch * s for branch in a]
            elif passing == "slice":  # Concatenate: each input gets its part
                parts = tf.split(relevance, list(step.config["sizes"]), axis=step.config["axis"])
            else:  # "unchanged"
                parts = [relevance]
            for source, part in zip(step.inputs, parts):
                arriving[source] = part if source not in arriving else arriving[source] + part
        relevance = arriving[-1]
        if self.return_layers:
            return relevance, logits, chosen, [relevance, *per_layer]
        return relevance, logits, chosen, []


# --------------------------------------------------------------------------------------------
# The one cache of compiled functions (LRP here, gradient and Grad-CAM in baselines)
# --------------------------------------------------------------------------------------------

_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def chain_key(steps):
    """What identifies a graph's computation (folded BatchNorms included)."""
    return tuple((s.name, s.kind, s.fold is not None, s.inputs) for s in steps)


def compiled(model, key, build):
    """The compiled function cached for ``model`` under ``key``, built once by ``build()``.
    Weak keys: the cache never keeps a model alive."""
    per_model = _CACHE.setdefault(model, {})
    if key not in per_model:
        per_model[key] = build()
    return per_model[key]


def _get_explainer(model, steps, assignment, images_nonnegative, dtype, return_layers):
    key = ("lrp", tuple((i, assignment[i].key()) for i in sorted(assignment)),
           bool(images_nonnegative), str(dtype), bool(return_layers), chain_key(steps))
    return compiled(model, key, lambda: _Explainer(steps, assignment, images_nonnegative, dtype,
                                                   return_layers))


# --------------------------------------------------------------------------------------------
# Public calls
# --------------------------------------------------------------------------------------------

def _assign(steps, composite):
    comp = _composites.as_composite(composite)
    assignment = comp.assign([step.layer for step in steps])
    for index, rule in assignment.items():
        if not isinstance(rule, Rule):
            raise TypeError(f"{type(comp).__name__} gave {rule!r} for layer '{steps[index].name}'"
                            "; every rule must come from lrp_teach.rules.")
    return assignment


def explain(model, images, target=None, composite=None, return_layers=False):
    """Layer-wise relevance propagation of the target LOGIT back to the input.

    Parameters
    ----------
    model : a Keras model (Sequential, or functional with one input and one output whose layers
        form a directed acyclic graph, each layer called once; nested models are expanded) of
        InputLayer, Conv2D, DepthwiseConv2D, Dense, MaxPooling2D, AveragePooling2D,
        GlobalAveragePooling2D, GlobalMaxPooling2D, Flatten, Reshape, ZeroPadding2D, Dropout,
        ReLU (also ReLU6), Activation('relu'/'relu6'/'linear'), Add, Concatenate, and
        BatchNormalization directly after a Conv2D/DepthwiseConv2D/Dense without activation
        (folded into it). A softmax at the end is ignored (the logit is explained). The model is
        not modified. Anything else is an error naming the layer, before any computation.
    images : array (N, ...) matching the model's input; computed in the model's dtype.
    target : None (each image's top logit), an int (same class for all), or N ints.
    composite : a :class:`~lrp_teach.composites.Composite` (e.g. ``EpsilonPlusFlat()``, the
        default when None) or a single :class:`~lrp_teach.rules.Rule` used for every
        Dense/Conv2D/DepthwiseConv2D layer.
    return_layers : also return ``[("input", R_x), (layer name, R at its output), ...,
        (last layer name, R at the logits)]``, one entry per layer in the order of
        :func:`model_chain` (topological; for a chain: the model's order). A layer's entry is
        the relevance arriving at its output, summed over every layer that reads it; a folded
        BatchNormalization has the relevance of the layer it is folded into.

    Returns
    -------
    relevance : np.ndarray with the shape of ``images`` (sum over the channels for a heatmap).
        The relevance starts as the target logit's value at the target class and 0 elsewhere;
        with conserving rules ``relevance.sum()`` per image is close to that logit.
    """
    from .._tf import tf

    steps = model_chain(model)  # errors about the model come first, before any computation
    assignment = _assign(steps, composite)
    dtype = _inputs.model_dtype(steps)
    array = _inputs.check_images(model, images, dtype)
    _inputs.check_named_inputs(steps, assignment, image_paths(steps), array.shape[1:])
    chosen = _inputs.check_target(target, array.shape[0], _inputs.num_classes(steps, model))
    explainer = _get_explainer(model, steps, assignment, bool(np.all(array >= 0)), dtype,
                               return_layers)
    relevance, _, _, per_layer = explainer.function(tf.constant(array), tf.constant(chosen))
    relevance = relevance.numpy()
    if not return_layers:
        return relevance
    names = ["input"] + [step.name for step in steps]
    return relevance, [(name, r.numpy()) for name, r in zip(names, per_layer)]


def rule_table(model, composite=None) -> list[tuple[str, str, str]]:
    """``[(layer name, layer class, how relevance passes)]`` for every layer of the graph (in
    the order of :func:`model_chain`), e.g. ``("block1_conv1", "Conv2D", "ZBox(...)")`` or
    ``("block1_pool", "MaxPooling2D", "gradient (winner takes all)")`` -- to show which rule a
    composite gives each layer."""
    steps = model_chain(model)
    assignment = _assign(steps, composite)
    rows = []
    for i, step in enumerate(steps):
        if step.weighted:
            how = repr(assignment[i])
        elif step.kind == "folded":
            how = f"folded into '{step.config['into']}'"
        else:
            how = _layers.PASSING[step.handler.relevance]
        rows.append((step.name, step.class_name, how))
    return rows
