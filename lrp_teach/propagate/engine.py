"""The compiled pass and the public calls: :func:`model_chain`, :func:`explain`,
:func:`rule_table`, and the one cache of compiled functions (shared with the baselines)."""

from __future__ import annotations

import weakref

import numpy as np

from .. import composites as _composites
from ..rules import Branch, Epsilon, Group, Rule
from . import inputs as _inputs
from . import layers as _layers
from . import step as _step
from .chain import check_chain, flatten_layers


class _Proportional(Epsilon):
    """The fixed rule of the "proportional" pass (average pooling): LRP-0 with ε = 1e-6 and
    ρ = identity; no coefficient to scale s by (zennit's ``Norm``)."""

    def groups(self):
        return [Group((Branch("x"),), coefficient=None)]


_PROPORTIONAL = _Proportional(_layers.NORM_EPSILON)

#: Steps that pass the forward value unchanged (a ReLU after them still acts on the z before).
_TRANSPARENT = ("identity", "folded")


def model_chain(model) -> list:
    """Check ``model`` and return its chain of :class:`~lrp_teach.propagate.layers.Step` s
    (InputLayer and a final softmax left out). Raises ``ValueError`` naming the first
    unsupported layer, before any computation."""
    from .._tf import keras

    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a Keras model (keras.Sequential or keras.Model), got "
                        f"{type(model).__name__}.")
    if not model.built:
        raise ValueError("The model is not built yet, so its input shape is unknown: start it "
                         "with keras.Input(shape) or call it once on a batch, e.g. "
                         "model(images[:1]).")
    layers = flatten_layers(model)
    steps = []
    for position, layer in enumerate(layers):  # 1. every layer has a handler that accepts it
        step = _layers.read_layer(layer, position == len(layers) - 1, steps)
        if step is not None:
            steps.append(step)
    check_chain(model)  # 2. the layers form a chain (no branches)
    if not any(step.weighted for step in steps):
        raise ValueError("The model has no Dense or Conv2D layer: there is nothing to explain.")
    return steps


def forward(steps, x, dtype, tape=None):
    """Plain forward pass through the chain. Returns (inputs, pre-activations, outputs) per step;
    with a ``tape``, every step's input is watched (for the gradients of the backward pass)."""
    inputs, pre, outputs = [], [], []
    a = x
    for step in steps:
        if tape is not None:
            tape.watch(a)
        inputs.append(a)
        z, a = step.handler.forward(step, a, dtype)
        pre.append(z)
        outputs.append(a)
    return inputs, pre, outputs


# --------------------------------------------------------------------------------------------
# What is provably zero, decided once per model, rules and input sign
# --------------------------------------------------------------------------------------------

def _step_rules(steps, assignment):
    """Per step: the rule its relevance passes by (the composite's, the proportional one for
    average pooling), or None (gradient, reshape, unchanged)."""
    return [assignment[i] if step.handler.relevance == "rule" else
            _PROPORTIONAL if step.handler.relevance == "proportional" else None
            for i, step in enumerate(steps)]


def pruned_groups(steps, step_rules, images_nonnegative):
    """Per rule step: its groups without the terms that are exactly zero in this chain."""
    textbook = [None if rule is None else rule.groups() for rule in step_rules]
    for rule, groups in zip(step_rules, textbook):
        if groups is not None:
            _step.check_groups(rule, groups)
    result, nonnegative = [], images_nonnegative
    for i, step in enumerate(steps):
        groups = textbook[i]
        if groups is not None and step.weighted:
            after = [s for s in steps[i + 1:]]
            while after and after[0].kind in _TRANSPARENT:
                after = after[1:]
            followed_by_relu = step.relu or bool(after and after[0].kind == "relu")
            later = [j for j in range(i + 1, len(steps)) if steps[j].weighted]
            irrelevant = bool(followed_by_relu and later and
                              _step.zero_input_gets_zero_relevance(textbook[later[0]]))
            groups = _step.prune(groups, nonnegative, irrelevant)
        result.append(groups)
        if step.weighted:
            nonnegative = step.relu
        elif step.kind == "relu":
            nonnegative = True
    return result


class _Explainer:
    """The compiled forward + LRP backward pass for one model and one assignment of rules."""

    def __init__(self, steps, assignment, images_nonnegative, dtype, return_layers):
        from .._tf import tf

        self.steps, self.dtype, self.return_layers = steps, dtype, return_layers
        self.rules = _step_rules(steps, assignment)
        self.groups = pruned_groups(steps, self.rules, images_nonnegative)

        # a fresh Python function per explainer: TF's "frequent retracing" detector counts
        # traces per Python function, and distinct explainers are not retraces of each other
        def run(x, target):
            return self._run(x, target)

        self.function = tf.function(run, reduce_retracing=False)

    def _run(self, x, target):
        from .._tf import tf

        steps, dtype = self.steps, self.dtype
        with tf.GradientTape(persistent=True) as tape:
            inputs, pre, outputs = forward(steps, x, dtype, tape)
        logits = outputs[-1]
        chosen = tf.where(target < 0, tf.argmax(logits, axis=-1, output_type=tf.int32), target)
        one_hot = tf.one_hot(chosen, tf.shape(logits)[-1], dtype=logits.dtype)
        relevance = one_hot * logits  # the target logit's value, 0 for the other classes
        per_layer = [relevance]
        for i in range(len(steps) - 1, -1, -1):
            step, a, rule, passing = steps[i], inputs[i], self.rules[i], steps[i].handler.relevance
            if rule is not None:
                term = None
                if step.weighted:
                    term = _step.linear_term(step, *_layers.layer_weights(step, dtype))
                z = pre[i] if step.weighted else outputs[i]
                relevance = _step.four_steps(term, a, relevance, self.groups[i], rule.stabilizer,
                                             rule.named_inputs(), plain_z=z, tape=tape)
            elif passing == "gradient":
                relevance = tape.gradient(outputs[i], a, output_gradients=relevance)
            elif passing == "reshape":
                relevance = tf.reshape(relevance, tf.shape(a))
            # "unchanged": relevance passes as it is
            if self.return_layers:
                per_layer.append(relevance)
        del tape
        if self.return_layers:
            return relevance, logits, chosen, per_layer[::-1]
        return relevance, logits, chosen, []


# --------------------------------------------------------------------------------------------
# The one cache of compiled functions (LRP here, gradient and Grad-CAM in baselines)
# --------------------------------------------------------------------------------------------

_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def chain_key(steps):
    """What identifies a chain's computation (folded BatchNorms included)."""
    return tuple((s.name, s.kind, s.fold is not None) for s in steps)


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
    model : a Keras chain (Sequential, or functional without branches) of InputLayer, Conv2D,
        Dense, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, Flatten, Dropout, ReLU,
        and BatchNormalization directly after a Conv2D/Dense without activation (folded into
        it). A softmax at the end is ignored (the logit is explained). The model is not modified.
    images : array (N, ...) matching the model's input; computed in the model's dtype.
    target : None (each image's top logit), an int (same class for all), or N ints.
    composite : a :class:`~lrp_teach.composites.Composite` (e.g. ``EpsilonPlusFlat()``, the
        default when None) or a single :class:`~lrp_teach.rules.Rule` used for every
        Dense/Conv2D layer.
    return_layers : also return ``[("input", R_x), (layer name, R at its outputs), ...,
        (last layer name, R at the logits)]`` (a folded BatchNormalization has the relevance of
        the layer it is folded into).

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
    _inputs.check_named_inputs(assignment, array.shape[1:])
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
    """``[(layer name, layer class, how relevance passes)]`` for every layer of the chain, e.g.
    ``("block1_conv1", "Conv2D", "ZBox(...)")`` or ``("block1_pool", "MaxPooling2D",
    "gradient (winner takes all)")`` -- to show which rule a composite gives each layer."""
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
