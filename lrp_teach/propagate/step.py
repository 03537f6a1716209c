"""The generic LRP step -- one function for every layer that redistributes relevance by a rule
(Dense, Conv2D, and average pooling with LRP-0) -- and the engine's pruning of provably zero
terms.

The four steps (Montavon et al. 2019, eq. 10.2-10.4), labelled in :func:`four_steps`::

    z = ε + ρ(W)·a          step 1: forward with the rule's weights (ε enters in step 2)
    s = R / z               step 2: element-wise; a zero denominator gives s = 0, never NaN
    c = ρ(W)ᵀ s             step 3: a gradient, tape.gradient(z, a, output_gradients=s)
    R = a ⊙ c               step 4: element-wise
"""

from __future__ import annotations

import numpy as np

from ..rulebase import MODIFIER_SIGNS
from ..rules import Group, Rule
from . import layers as _layers

#: Branch inputs every rule may use; any other name must be one of the rule's named_inputs().
_BUILTIN_INPUTS = ("x", "positive", "negative", "ones")
#: Branch inputs that are 0 wherever a is 0 (R_j = input_j · c_j is then 0 too).
_ZERO_AT_ZERO = ("x", "positive", "negative")


def _modify(rho, param):
    return param if rho is None else rho(param)


def _branch_input(name, a, named):
    from .._tf import tf

    if name == "x":
        return a
    if name == "positive":
        return tf.nn.relu(a)
    if name == "negative":
        return tf.minimum(a, tf.zeros_like(a))
    if name == "ones":
        return tf.ones_like(a)
    value = named[name]
    if not tf.is_tensor(value):
        value = tf.constant(np.asarray(value), dtype=a.dtype)
    return tf.broadcast_to(value, tf.shape(a))


def _is_plain(groups):
    """One group of one unmodified ``x`` term over all outputs: LRP-0/ε's z is the forward z."""
    return (len(groups) == 1 and len(groups[0].branches) == 1 and groups[0].branches[0].is_plain
            and groups[0].where is None)


def four_steps(term, a, relevance, groups, stabilizer, named=None, *, plain_z=None, tape=None,
               shifts=None):
    """The generic LRP step.

    term(x, branch) : the layer's forward pass on ``x`` with the branch's ρ(W), ρ(b) (and sign);
    a : the layer's input; relevance : the relevance of its outputs;
    groups : the rule's :class:`~lrp_teach.rules.Group` s (possibly pruned, :func:`prune`);
    stabilizer : ``z -> z + ε·sign(z)`` of the rule; named : the rule's named inputs;
    plain_z, tape : the forward pass's own z and the tape that watched ``a`` (then LRP-0/ε
    needs no second forward: step 1 is already done);
    shifts : per group, ε where the engine proved that group's z ≥ 0 (:func:`proven_shifts`),
    else None. There ``z + ε·sign(z)`` is ``z + ε``: step 2 need not take the sign of z -- the
    same numbers, two passes over z fewer. (The zero guard stays: an ε that rounds to 0 in the
    model's dtype, e.g. 1e-50 in float32, leaves z + ε = 0 possible.)
    """
    from .._tf import tf

    shifts = shifts or (None,) * len(groups)

    if _is_plain(groups) and plain_z is not None and tape is not None:
        z = plain_z                                                     # step 1
        s = tf.math.divide_no_nan(relevance, stabilizer(z))             # step 2
        if groups[0].coefficient is not None:  # (None: average pooling, nothing to scale)
            s = groups[0].coefficient * s
        c = tape.gradient(z, a, output_gradients=s)                     # step 3
        return a * c                                                    # step 4

    names = []
    for group in groups:
        for branch in group.branches:
            if branch.input not in names:
                names.append(branch.input)
    with tf.GradientTape() as branch_tape:
        inputs = {name: _branch_input(name, a, named) for name in names}
        for value in inputs.values():
            branch_tape.watch(value)
        zs = []                                                         # step 1
        for group in groups:
            z = None
            for branch in group.branches:
                t = term(inputs[branch.input], branch)
                z = t if z is None else z + t
            zs.append(z)
    ss = []                                                             # step 2
    for group, z, shift in zip(groups, zs, shifts):
        if shift is None:
            s = tf.math.divide_no_nan(relevance, stabilizer(z))
        else:  # z ≥ 0 proven: sign(z) = +1, so z + ε·sign(z) = z + ε
            s = tf.math.divide_no_nan(relevance, z + shift)
        if group.where is not None:
            if plain_z is None:
                plain_z = term(a, _PLAIN)
            mask = plain_z > 0 if group.where == "positive" else plain_z < 0
            s = s * tf.cast(mask, s.dtype)
        if group.coefficient != 1.0:
            s = group.coefficient * s
        ss.append(s)
    cs = branch_tape.gradient(zs, list(inputs.values()), output_gradients=ss)  # step 3
    result = None                                                       # step 4
    for name, value, c in zip(inputs, inputs.values(), cs):
        if c is None:
            continue
        r = c if name == "ones" else value * c
        result = r if result is None else result + r
    return result


class _PlainBranch:
    input, weight, bias, sign = "x", None, None, 1.0


_PLAIN = _PlainBranch()


def linear_term(step, kernel, bias):
    """``term(x, branch)`` of a weighted step: ``sign · layer(x, ρ(W), ρ(b))``."""
    def term(x, branch):
        b = None if branch.bias is False or bias is None else _modify(branch.bias, bias)
        t = _layers.linear(step, x, _modify(branch.weight, kernel), b)
        if branch.sign != 1.0:
            t = -t if branch.sign == -1.0 else branch.sign * t
        return t
    return term


# --------------------------------------------------------------------------------------------
# What the engine proves zero
# --------------------------------------------------------------------------------------------

def check_groups(rule, groups):
    """A clear error for a branch input that is neither built in nor named by the rule."""
    named = rule.named_inputs()
    for group in groups:
        for branch in group.branches:
            if branch.input not in _BUILTIN_INPUTS and branch.input not in named:
                raise ValueError(
                    f"{rule!r} has a Branch with input {branch.input!r}; use one of "
                    f"{list(_BUILTIN_INPUTS)} or a name its named_inputs() returns "
                    f"({sorted(named)}).")


#: The sign of each built-in branch input (``"x"``: only when the layer's input is ≥ 0).
_INPUT_SIGNS = {"positive": 1, "negative": -1, "ones": 1}


def nonnegative_denominator(group, input_nonnegative=False) -> bool:
    """True when the group's ``z = Σ sign·(ρ(W)·input + ρ(b))`` is ≥ 0 for EVERY input and
    weight values: each branch's weight term and bias term is a product of factors of known
    sign (:data:`~lrp_teach.rulebase.MODIFIER_SIGNS`, the input's sign, the branch's sign)
    that is ≥ 0 -- e.g. z⁺'s ``a⁺W⁺ + b⁺ + a⁻W⁻``, flat's and w²'s. A factor of unknown sign
    (an unmodified W or b, γ's ``W + γW⁺``, z^B's bounds) proves nothing."""
    for branch in group.branches:
        if branch.input == "x":
            input_sign = 1 if input_nonnegative else 0
        else:
            input_sign = _INPUT_SIGNS.get(branch.input, 0)
        if branch.sign * input_sign * MODIFIER_SIGNS.get(branch.weight, 0) <= 0:
            return False
        if branch.bias is not False and branch.sign * MODIFIER_SIGNS.get(branch.bias, 0) <= 0:
            return False
    return True


def proven_shifts(rule, groups, input_nonnegative=False) -> tuple:
    """Per group of ``rule`` (pruned): ε where its z is proven ≥ 0 and the rule stabilises with
    the plain ``z + ε·sign(z)``, ε > 0 (then the stabilised z is ``z + ε``); else None (a rule
    with its own stabiliser -- ε·RMS(z), one set on the instance -- or LRP-0's ε = 0 keeps
    the general step 2).

    "Proven" is exact arithmetic and kernels that add the products up (TensorFlow's CPU
    convolutions and matrix products: a sum of terms ≥ 0 rounds to a value ≥ 0). A GPU
    convolution algorithm that transforms its inputs (Winograd, FFT) can return a tiny negative
    value for such a z; there ``z + ε`` is used where ``z − ε`` would have been."""
    own = getattr(rule.stabilizer, "__func__", None)  # a bound method: the function behind it
    plain = own is Rule.stabilizer and rule.epsilon > 0
    return tuple(rule.epsilon if plain and nonnegative_denominator(group, input_nonnegative)
                 else None for group in groups)


def zero_input_gets_zero_relevance(groups) -> bool:
    """True when every term is multiplied by the input (or its parts): R_j = 0 where a_j = 0."""
    return all(branch.input in _ZERO_AT_ZERO for group in groups for branch in group.branches)


def prune(groups, input_nonnegative=False, nonpositive_outputs_irrelevant=False):
    """Drop the terms of a rule's textbook ``groups`` that are exactly zero here.

    input_nonnegative : the layer's input comes from a ReLU (possibly through pooling, flatten or
        dropout) or the images are ≥ 0: ``max(a, 0) = a`` (a "positive" term becomes an "x"
        term) and ``min(a, 0) = 0`` (a "negative" term vanishes, in z and in R = a⁻ ⊙ c).
    nonpositive_outputs_irrelevant : the outputs go through a ReLU and the next rule gives zero
        relevance to zero inputs, so R = 0 where z ≤ 0: a group restricted to z < 0 passes
        nothing, and the mask of a group restricted to z > 0 changes nothing.
    """
    pruned = []
    for group in groups:
        branches, where = group.branches, group.where
        if input_nonnegative:
            branches = tuple(
                type(branch)("x", branch.weight, branch.bias, branch.sign)
                if branch.input == "positive" else branch
                for branch in branches if branch.input != "negative")
        if nonpositive_outputs_irrelevant:
            if where == "negative":
                continue
            where = None
        if branches:
            pruned.append(Group(branches, coefficient=group.coefficient, where=where))
    return pruned


# --------------------------------------------------------------------------------------------
# One layer, eagerly (the reference the compiled engine is compared with)
# --------------------------------------------------------------------------------------------

def lrp_step(layer, a, relevance, rule: Rule):
    """The generic LRP step through ONE Dense, Conv2D or DepthwiseConv2D Keras layer (eager or
    in a graph).

    ``z = ε + ρ(W)·a``; ``s = R / z``; ``c = ρ(W)ᵀ s`` (a gradient); ``R_in = a ⊙ c``.

    a : the layer's input activations (N, ...); relevance : relevance of its outputs, shape of
    the layer's output (pre-activation). Returns the relevance of the inputs (shape of a). The
    rule's textbook form is used as it is (nothing pruned), so this is also the reference the
    compiled engine is compared with.
    """
    from .._tf import tf

    handler = _layers.handler_of(layer)
    if handler is None or not handler.weighted:
        raise ValueError(f"lrp_step needs a Dense, Conv2D or DepthwiseConv2D layer, got "
                         f"{_layers.describe(layer)}.")
    step = _layers.linear_step(layer, handler.kind)
    dtype = layer.kernel.dtype
    a = tf.convert_to_tensor(a, dtype=dtype)
    relevance = tf.convert_to_tensor(relevance, dtype=dtype)
    kernel, bias = _layers.layer_weights(step, dtype)
    groups = rule.groups()
    check_groups(rule, groups)
    with tf.GradientTape() as tape:
        tape.watch(a)
        plain_z = _layers.linear(step, a, kernel, bias)
    return four_steps(linear_term(step, kernel, bias), a, relevance, groups, rule.stabilizer,
                      rule.named_inputs(), plain_z=plain_z, tape=tape)
