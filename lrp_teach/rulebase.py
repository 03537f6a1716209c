"""The building blocks of :mod:`lrp_teach.rules`: the stabiliser, :class:`Branch`,
:class:`Group`, the :class:`Rule` base class and the registry of numpy references
(:func:`replicates`). Everything here is re-exported by :mod:`lrp_teach.rules`; a new rule
needs only ``from lrp_teach.rules import Rule, Group, Branch, replicates``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["Rule", "Branch", "Group", "stabilize", "replicates", "reference_of",
           "registered_references"]


# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------

def stabilize(z, epsilon):
    """``z + ε·sign(z)`` with ``sign(0) = +1`` (zennit's ``stabilize``), for TF tensors."""
    from ._tf import tf

    if not epsilon:
        return z
    epsilon = tf.constant(epsilon, dtype=z.dtype)
    return z + tf.where(z >= 0, epsilon, -epsilon)  # one pass over z (scalars broadcast)


@dataclass(frozen=True)
class Branch:
    """One term ``sign · layer(input, ρ(W), ρ(b))`` of a rule's modified forward pass.

    input : which version of the layer input a enters this term:
        ``"x"`` (a itself), ``"positive"`` (max(a, 0)), ``"negative"`` (min(a, 0)),
        ``"ones"`` (all ones, for w² and flat), or the name of one of the rule's
        :meth:`Rule.named_inputs` (e.g. z^B's ``"low"`` / ``"high"`` bounds).
    weight : ρ applied to the kernel (a function of a TF tensor), ``None`` = unmodified.
    bias : ρ applied to the bias, ``None`` = unmodified, ``False`` = no bias in this term.
    sign : +1 or -1 (z^B subtracts its bound terms).
    """

    input: str
    weight: Callable | None = None
    bias: Callable | None | bool = None
    sign: float = 1.0

    @property
    def is_plain(self) -> bool:
        return self.input == "x" and self.weight is None and self.bias is None and self.sign == 1.0


@dataclass(frozen=True)
class Group:
    """Branches that share one stabilised denominator ``z = Σ branches``.

    coefficient : the group's relevance is multiplied by it (α and −β of the α/β rule).
    where : ``None`` (all outputs), ``"positive"`` (only outputs whose plain z > 0 pass relevance
        through this group) or ``"negative"`` (only z < 0), as the two halves of the γ rule.
    """

    branches: tuple
    coefficient: float = 1.0
    where: str | None = None


def _hashable(value):
    """``value`` as something hashable (arrays by dtype, shape and bytes)."""
    if isinstance(value, np.ndarray):
        return ("array", str(value.dtype), value.shape, value.tobytes())
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(item) for item in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    try:
        hash(value)
    except TypeError:
        return ("repr", repr(value))
    return value


def _positive(t):
    from ._tf import tf
    return tf.nn.relu(t)


def _negative(t):
    from ._tf import tf
    return tf.minimum(t, tf.zeros_like(t))


def _square(t):
    return t * t


def _ones(t):
    from ._tf import tf
    return tf.ones_like(t)


#: The sign every output of a weight/bias modifier has, whatever its argument: ``ρ(W) ≥ 0``
#: (+1) or ``ρ(W) ≤ 0`` (-1). The engine uses it to prove a denominator ≥ 0
#: (:func:`lrp_teach.propagate.step.nonnegative_denominator`); a modifier not listed here
#: (None = unmodified, γ's ``W + γW⁺``, a user's own) has no known sign and proves nothing.
MODIFIER_SIGNS = {_positive: 1, _negative: -1, _square: 1, _ones: 1}


def _gamma_positive(gamma):
    def rho(t):
        return t + gamma * _positive(t)
    return rho


def _gamma_negative(gamma):
    def rho(t):
        return t + gamma * _negative(t)
    return rho


class Rule:
    """Base class: a rule is a list of :class:`Group` s of :class:`Branch` es plus a stabiliser.

    Subclasses implement :meth:`groups` -- the rule's textbook form, for inputs of any sign and
    every output. Nothing else is needed: the engine finds the terms that are exactly zero in
    a given network by itself.
    """

    #: stabiliser ε of ``z + ε·sign(z)``
    epsilon: float = 1e-6

    def groups(self):
        """The rule's modified forward pass: a list of :class:`Group` s."""
        raise NotImplementedError

    def named_inputs(self) -> dict:
        """Constant inputs a :class:`Branch` may name besides x/positive/negative/ones,
        ``{name: numpy array broadcasting to one input}`` (z^B: its bounds)."""
        return {}

    def stabilizer(self, z):
        """The stabilised denominator, ``z + ε·sign(z)``."""
        return stabilize(z, self.epsilon)

    def key(self) -> tuple:
        """Hashable description (caches compiled explainers; ``==`` compares it): the class and
        EVERY public attribute, ``epsilon`` included, so that ``rule.epsilon = 10`` after an
        explain gives a new result, not the cached one."""
        params = {"epsilon": self.epsilon}
        params.update((name, value) for name, value in vars(self).items()
                      if not name.startswith("_"))
        return (type(self).__module__, type(self).__qualname__,
                tuple(sorted((name, _hashable(value)) for name, value in params.items())))

    def _params(self) -> dict:
        return {}

    def __repr__(self) -> str:
        params = self._params()
        if "epsilon" not in params and self.epsilon != type(self).epsilon:
            params = {**params, "epsilon": self.epsilon}  # a changed stabiliser is shown
        text = ", ".join(f"{k}={v!r}" for k, v in params.items())
        return f"{type(self).__name__}({text})"

    def __eq__(self, other):
        return isinstance(other, Rule) and self.key() == other.key()

    def __hash__(self):
        return hash(self.key())


# --------------------------------------------------------------------------------------------
# Slow references: numpy, straight from each paper formula (zennit's ``@replicates`` idea)
# --------------------------------------------------------------------------------------------

_REFERENCES: dict = {}


def replicates(*rule_classes):
    """Register the decorated function as the numpy reference of ``rule_classes``.

    A reference is ``reference(rule, a, W, b, mask, R) -> R_in`` for ONE input: ``a`` of the
    layer's input shape, the layer as a matrix ``W`` (a.size × K) with bias ``b`` (K,),
    ``mask`` (a.size × K, which input feeds which output) and the output relevance ``R`` (K,).
    It returns the input relevance with the shape of ``a``.
    """
    def register(function):
        for cls in rule_classes:
            _REFERENCES[cls] = function
        return function
    return register


def reference_of(rule):
    """The registered numpy reference of ``rule`` (exactly its class; a subclass that changes
    the formula needs its own), or a ``LookupError``."""
    try:
        return _REFERENCES[type(rule)]
    except KeyError:
        raise LookupError(f"{type(rule).__name__} has no numpy reference; register one with "
                          f"@rules.replicates({type(rule).__name__}).") from None


def registered_references() -> dict:
    """A copy of the registry ``{rule class: numpy reference}``."""
    return dict(_REFERENCES)


def _np_stabilize(z, epsilon):
    return z + epsilon * np.where(z >= 0, 1.0, -1.0)


def _redistribute(contributions, denominator, R):
    """R_j = Σ_k contributions_jk / denominator_k · R_k (a zero denominator passes nothing)."""
    s = np.zeros(np.broadcast_shapes(np.shape(R), np.shape(denominator)))
    np.divide(R, denominator, out=s, where=np.broadcast_to(denominator != 0, s.shape))
    return (contributions * s[None, :]).sum(axis=1)


def _parts(v):
    return np.maximum(v, 0), np.minimum(v, 0)
