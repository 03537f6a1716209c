"""Rules that leave the biases out of their denominators (zennit's ``zero_params='bias'``).

In a network with biases, LRP's rules put each layer's bias into the denominator,
``z_k = Σ_j a_j ρ(w_jk) + ρ(b_k)``, so the bias takes the share ``ρ(b_k)/z_k`` of ``R_k`` with it:
that relevance never reaches the layer below. :class:`WithoutBias` wraps any rule and drops the
bias term from every branch of its modified forward pass:

    z_k = Σ_j a_j ρ(w_jk)          (the bias left out of the rule),

while the **forward pass of the network keeps every bias** -- the activations a_j, the logit
and which half of the γ rule applies (the sign of the real z_k) are those of the network as it
is. This is *not* the same as explaining a copy of the network with its biases set to zero: that
copy computes other activations and another logit.

:func:`without_biases` applies it to every rule of a composite.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .rules import Group, Rule, reference_of, replicates

__all__ = ["WithoutBias", "without_biases"]


class WithoutBias(Rule):
    """``rule`` with the bias left out of every branch (its weights, inputs, stabiliser kept)."""

    def __init__(self, rule: Rule):
        if not isinstance(rule, Rule):
            raise TypeError(f"WithoutBias needs a rule from lrp_teach.rules, got "
                            f"{type(rule).__name__}.")
        self.rule = rule.rule if isinstance(rule, WithoutBias) else rule

    @property
    def epsilon(self):
        return self.rule.epsilon

    def groups(self):
        return [Group(tuple(dataclasses.replace(branch, bias=False) for branch in group.branches),
                      coefficient=group.coefficient, where=group.where)
                for group in self.rule.groups()]

    def named_inputs(self):
        return self.rule.named_inputs()

    def stabilizer(self, z):
        return self.rule.stabilizer(z)

    def key(self):
        return ("WithoutBias", self.rule.key())

    def __repr__(self):
        return f"WithoutBias({self.rule!r})"


@replicates(WithoutBias)
def _without_bias_reference(rule, a, W, b, mask, R):
    # the wrapped rule's own formula with b = 0; only the γ rule looks at the sign of the real z
    # (with the bias), so it gets that sign through a γ-specific path below
    from .rules import Gamma

    inner = rule.rule
    if isinstance(inner, Gamma):
        return _gamma_without_bias(inner, a, W, b, R)
    return reference_of(inner)(inner, a, W, np.zeros_like(b), mask, R)


def _gamma_without_bias(rule, a, W, b, R):
    from .rulebase import _np_stabilize, _parts, _redistribute

    g, flat = rule.gamma, a.reshape(-1)
    (pos_a, neg_a), (pos_W, neg_W) = _parts(flat), _parts(W)
    plain = flat @ W + b                      # the network's own z decides which half applies
    up_W, down_W = W + g * pos_W, W + g * neg_W
    contributions_up = pos_a[:, None] * up_W + neg_a[:, None] * down_W
    contributions_down = pos_a[:, None] * down_W + neg_a[:, None] * up_W
    R_in = (_redistribute(contributions_up, _np_stabilize(contributions_up.sum(0), rule.epsilon),
                          np.where(plain > 0, R, 0.0))
            + _redistribute(contributions_down,
                            _np_stabilize(contributions_down.sum(0), rule.epsilon),
                            np.where(plain < 0, R, 0.0)))
    return R_in.reshape(a.shape)


def without_biases(composite):
    """The composite (or single rule) ``composite`` with every rule's bias left out."""
    from .composites import Composite, as_composite

    class WithoutBiases(Composite):
        def __init__(self, wrapped):
            super().__init__()
            self.wrapped = wrapped

        def assign(self, *args, **kwargs):
            return {key: WithoutBias(rule)
                    for key, rule in self.wrapped.assign(*args, **kwargs).items()}

        def __repr__(self):
            return f"without_biases({self.wrapped!r})"

    return WithoutBiases(as_composite(composite))
