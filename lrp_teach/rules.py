"""LRP rules as small objects: each rule says how ONE linear layer (Dense or Conv2D) redistributes
the relevance of its outputs onto its inputs.

Every rule is an instance of the same four steps (Montavon et al. 2019, "Layer-wise relevance
propagation: an overview", eq. 10.2-10.4), carried out by :func:`lrp_teach.propagate.lrp_step`:

    z_k = ε + Σ_j ρ(w_jk) · a_j        (forward pass with the rule's modified weights ρ(W))
    s_k = R_k / z_k                     (element-wise division)
    c_j = Σ_k ρ(w_jk) · s_k             (= the gradient of z w.r.t. a, times s: a backward pass)
    R_j = a_j · c_j                     (element-wise product)

A rule supplies ρ (how to modify the weights and the bias, and how to split the input into a
positive and a negative part) and the stabiliser ε. In general a rule is a sum of *branches*
``sign · layer(input_k, ρ_k(W), ρ_k(b))`` grouped into *groups* that each get their own
denominator; see :class:`Branch` and :class:`Group`.

Conventions (the same as zennit's ``zennit.rules`` so that results can be compared with it):

* The stabiliser is ``z + ε·sign(z)`` with ``sign(0) = +1``, i.e. it pushes z away from zero.
  A denominator that is still exactly zero (only possible with ε = 0, the LRP-0 rule) gives
  ``s = 0`` instead of NaN or inf (``tf.math.divide_no_nan``).
* Rules with a default stabiliser (ZPlus, Gamma, AlphaBeta, WSquare, Flat, ZBox) use ε = 1e-6,
  like zennit's ``stabilize``.
* z⁺ (:class:`ZPlus`): positive inputs × W⁺ (+ b⁺) and negative inputs × W⁻ (no bias) share one
  denominator. For non-negative inputs (after a ReLU) this is the textbook
  ``R_j = Σ_k a_j w⁺_jk / (Σ_j a_j w⁺_jk + b⁺_k) · R_k``.
* γ (:class:`Gamma`): for outputs with z > 0 the weights ``W + γW⁺`` (bias ``b + γb⁺``) act on the
  positive inputs and ``W + γW⁻`` (no bias) on the negative inputs; for outputs with z < 0 the
  mirrored form (``W + γW⁻`` with ``b + γb⁻`` on positive inputs, ``W + γW⁺`` on negative ones).
  Outputs with z = 0 exactly pass no relevance (as in zennit).
* α/β (:class:`AlphaBeta`): the positive part (x⁺W⁺ + b⁺ + x⁻W⁻) and the negative part
  (x⁺W⁻ + b⁻ + x⁻W⁺) each get their own stabilised denominator;
  ``R = α·R_positive − β·R_negative`` with α − β = 1 (an error otherwise), α, β ≥ 0.
* w² (:class:`WSquare`) and flat (:class:`Flat`) ignore the bias and the input values:
  ``R_j = Σ_k ρ(w_jk) / Σ_j ρ(w_jk) · R_k`` with ρ(w) = w² resp. 1. (zennit's ``WSquare`` squares
  the bias too unless ``zero_params='bias'``; the textbook rule, used here, has no bias. zennit's
  ``Flat`` always drops the bias, as here.)
* z^B (:class:`ZBox`) for pixels bounded by ``low ≤ x ≤ high``:
  ``z_k = Σ_j x_j w_jk − l_j w⁺_jk − h_j w⁻_jk`` and
  ``R_j = (x_j c_j − l_j c⁺_j − h_j c⁻_j)`` with ``c⁺ = W⁺ s``, ``c⁻ = W⁻ s``. The bias cancels
  (zennit adds b − b⁺ − b⁻ = 0), so it is left out. ``low``/``high`` are scalars, per-channel
  vectors of shape (C,), or arrays that broadcast to one image.
* :class:`Epsilon` includes the bias: ``z_k = Σ_j a_j w_jk + b_k``; :class:`Z` is LRP-0 (ε = 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = [
    "Rule", "Z", "Epsilon", "ZPlus", "Gamma", "AlphaBeta", "WSquare", "Flat", "ZBox",
    "Branch", "Group", "stabilize",
]


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
        ``"ones"`` (all ones, for w² and flat), ``"low"`` / ``"high"`` (the z^B bounds).
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


def _gamma_positive(gamma):
    def rho(t):
        return t + gamma * _positive(t)
    return rho


def _gamma_negative(gamma):
    def rho(t):
        return t + gamma * _negative(t)
    return rho


# --------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------

class Rule:
    """Base class: a rule is a list of :class:`Group` s of :class:`Branch` es plus a stabiliser.

    Subclasses implement :meth:`groups`. The engine tells a rule two facts it has proved
    statically about the layer, so that the rule can leave out terms that are exactly zero:

    input_nonnegative : the layer's input comes from a ReLU (possibly through pooling, flatten or
        dropout) or the images are non-negative, so ``min(a, 0) = 0`` and ``max(a, 0) = a``.
    nonpositive_outputs_irrelevant : the layer's output goes through a ReLU and the next rule
        gives zero relevance to zero inputs, so outputs with z ≤ 0 (a = relu(z) = 0) carry
        R = 0 and any group restricted to them contributes nothing.
    """

    #: stabiliser ε of ``z + ε·sign(z)``
    epsilon: float = 1e-6
    #: True when ``R_j = 0`` whenever ``a_j = 0`` (the rule multiplies by the input a or its parts)
    zero_input_gets_zero_relevance: bool = True

    def groups(self, input_nonnegative: bool = False, nonpositive_outputs_irrelevant: bool = False):
        raise NotImplementedError

    def stabilizer(self, z):
        """The stabilised denominator, ``z + ε·sign(z)``."""
        return stabilize(z, self.epsilon)

    def key(self) -> tuple:
        """Hashable description (used to cache compiled explainers)."""
        return (type(self).__name__, tuple(sorted(self._params().items())))

    def _params(self) -> dict:
        return {}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({params})"

    def __eq__(self, other):
        return isinstance(other, Rule) and self.key() == other.key()

    def __hash__(self):
        return hash(self.key())


class Epsilon(Rule):
    """LRP-ε: ``R_j = Σ_k a_j w_jk / (z_k + ε·sign(z_k)) · R_k`` with ``z_k = Σ_j a_j w_jk + b_k``.

    ε absorbs weak or contradictory contributions (sparser, less noisy explanations). With
    ``relative=True`` the stabiliser is ``ε · RMS(z)`` per image (RMS over all outputs of the
    layer for that image), as in the VGG-16 recipe of the Montavon et al. (2019) tutorial, where
    ε = 0.25·RMS(z) is used in the middle layers.
    """

    def __init__(self, epsilon: float = 1e-6, relative: bool = False):
        epsilon = float(epsilon)
        if not np.isfinite(epsilon) or epsilon < 0:
            raise ValueError(f"Epsilon(epsilon={epsilon}): epsilon must be a finite number >= 0 "
                             "(use Z() for the plain LRP-0 rule).")
        self.epsilon = epsilon
        self.relative = bool(relative)

    def groups(self, input_nonnegative=False, nonpositive_outputs_irrelevant=False):
        return [Group((Branch("x"),))]

    def stabilizer(self, z):
        if not self.relative:
            return stabilize(z, self.epsilon)
        from ._tf import tf

        axes = list(range(1, len(z.shape)))
        rms = tf.sqrt(tf.reduce_mean(tf.square(z), axis=axes, keepdims=True))
        sign = tf.where(z >= 0, tf.ones_like(z), -tf.ones_like(z))
        return z + tf.constant(self.epsilon, dtype=z.dtype) * rms * sign

    def _params(self):
        params = {"epsilon": self.epsilon}
        if self.relative:
            params["relative"] = True
        return params


class Z(Epsilon):
    """LRP-0: ``R_j = Σ_k a_j w_jk / z_k · R_k`` with ``z_k = Σ_j a_j w_jk + b_k``.

    No stabiliser; where z_k = 0 exactly, the output passes no relevance (no NaN/inf). In a ReLU
    network LRP-0 everywhere equals gradient × input.
    """

    def __init__(self):
        super().__init__(epsilon=0.0)

    def _params(self):
        return {}


class ZPlus(Rule):
    """z⁺ rule: only positive contributions count.

    ``z_k = Σ_j a⁺_j w⁺_jk + b⁺_k + Σ_j a⁻_j w⁻_jk`` (one denominator, stabilised with ε = 1e-6),
    ``R_j = (a⁺_j Σ_k w⁺_jk s_k) + (a⁻_j Σ_k w⁻_jk s_k)``, ``s_k = R_k / z_k``.
    Equals α/β with α = 1, β = 0. For a ≥ 0 it is the deep-Taylor z⁺ rule and gives R ≥ 0 when
    the upper relevance is ≥ 0.
    """

    def groups(self, input_nonnegative=False, nonpositive_outputs_irrelevant=False):
        if input_nonnegative:
            return [Group((Branch("x", _positive, _positive),))]
        return [Group((Branch("positive", _positive, _positive),
                       Branch("negative", _negative, False)))]


class Gamma(Rule):
    """LRP-γ: favour positive contributions by ``γ``.

    For z_k > 0: ``z⁺_k = Σ_j a⁺_j (w_jk + γw⁺_jk) + (b_k + γb⁺_k) + Σ_j a⁻_j (w_jk + γw⁻_jk)``;
    for z_k < 0 the mirrored ``z⁻_k = Σ_j a⁺_j (w_jk + γw⁻_jk) + (b_k + γb⁻_k) +
    Σ_j a⁻_j (w_jk + γw⁺_jk)``. Each has its own stabilised denominator (ε = 1e-6); outputs with
    z_k = 0 pass nothing (zennit's generalised γ rule). For a ≥ 0 and z > 0 it is the textbook
    ``R_j = Σ_k a_j (w_jk + γw⁺_jk) / Σ_j a_j (w_jk + γw⁺_jk) · R_k``. γ → ∞ tends to z⁺, γ = 0
    is LRP-0.
    """

    def __init__(self, gamma: float = 0.25):
        gamma = float(gamma)
        if not np.isfinite(gamma) or gamma < 0:
            raise ValueError(f"Gamma(gamma={gamma}): gamma must be a finite number >= 0.")
        self.gamma = gamma

    def groups(self, input_nonnegative=False, nonpositive_outputs_irrelevant=False):
        up, down = _gamma_positive(self.gamma), _gamma_negative(self.gamma)
        if input_nonnegative:
            positive = Group((Branch("x", up, up),), where="positive")
            negative = Group((Branch("x", down, down),), where="negative")
        else:
            positive = Group((Branch("positive", up, up), Branch("negative", down, False)),
                             where="positive")
            negative = Group((Branch("positive", down, down), Branch("negative", up, False)),
                             where="negative")
        if nonpositive_outputs_irrelevant:
            # outputs with z <= 0 carry no relevance: the negative half is exactly zero, and the
            # mask of the positive half changes nothing (R is already 0 where z <= 0).
            return [Group(positive.branches)]
        return [positive, negative]

    def _params(self):
        return {"gamma": self.gamma}


class AlphaBeta(Rule):
    """LRP-αβ: ``R_j = α·R⁺_j − β·R⁻_j`` with α − β = 1 (so that relevance is conserved).

    Positive part: ``z⁺_k = Σ_j a⁺_j w⁺_jk + b⁺_k + Σ_j a⁻_j w⁻_jk``,
    ``R⁺_j = a⁺_j Σ_k w⁺_jk R_k/z⁺_k + a⁻_j Σ_k w⁻_jk R_k/z⁺_k``;
    negative part: ``z⁻_k = Σ_j a⁺_j w⁻_jk + b⁻_k + Σ_j a⁻_j w⁺_jk`` likewise. Each denominator
    is stabilised separately (ε = 1e-6), as in zennit.
    """

    def __init__(self, alpha: float = 2.0, beta: float = 1.0):
        alpha, beta = float(alpha), float(beta)
        if alpha < 0 or beta < 0:
            raise ValueError(f"AlphaBeta(alpha={alpha}, beta={beta}): alpha and beta must both be "
                             ">= 0, e.g. AlphaBeta(alpha=2, beta=1) or AlphaBeta(alpha=1, beta=0).")
        if not np.isclose(alpha - beta, 1.0, rtol=0, atol=1e-12):
            raise ValueError(f"AlphaBeta(alpha={alpha}, beta={beta}): alpha - beta must equal 1 "
                             f"(got {alpha - beta:g}) so that relevance is conserved; use e.g. "
                             "AlphaBeta(alpha=2, beta=1) or AlphaBeta(alpha=1, beta=0).")
        self.alpha, self.beta = alpha, beta

    def groups(self, input_nonnegative=False, nonpositive_outputs_irrelevant=False):
        if input_nonnegative:
            positive = (Branch("x", _positive, _positive),)
            negative = (Branch("x", _negative, _negative),)
        else:
            positive = (Branch("positive", _positive, _positive), Branch("negative", _negative, False))
            negative = (Branch("positive", _negative, _negative), Branch("negative", _positive, False))
        groups = [Group(positive, coefficient=self.alpha)]
        if self.beta:
            groups.append(Group(negative, coefficient=-self.beta))
        return groups

    def _params(self):
        return {"alpha": self.alpha, "beta": self.beta}


class WSquare(Rule):
    """w² rule: ``R_j = Σ_k w²_jk / Σ_j w²_jk · R_k`` (input values and bias ignored; ε = 1e-6).

    Meant for a first layer whose inputs are unbounded reals.
    """

    zero_input_gets_zero_relevance = False

    def groups(self, input_nonnegative=False, nonpositive_outputs_irrelevant=False):
        return [Group((Branch("ones", _square, False),))]


class Flat(Rule):
    """Flat rule: ``R_j = Σ_k 1 / (Σ_j 1) · R_k`` -- each output spreads its relevance uniformly
    over its receptive field (input values, weights and bias ignored; ε = 1e-6). Used on the first
    layer by :class:`~lrp_teach.composites.EpsilonPlusFlat`.
    """

    zero_input_gets_zero_relevance = False

    def groups(self, input_nonnegative=False, nonpositive_outputs_irrelevant=False):
        return [Group((Branch("ones", _ones, False),))]


class ZBox(Rule):
    """z^B rule for inputs bounded by ``low ≤ x ≤ high`` (pixels):

    ``z_k = Σ_j (x_j w_jk − l_j w⁺_jk − h_j w⁻_jk)``  (stabilised with ε = 1e-6, bias cancels),
    ``R_j = x_j c_j − l_j c⁺_j − h_j c⁻_j`` with ``c = W s``, ``c⁺ = W⁺ s``, ``c⁻ = W⁻ s``.

    low, high : scalars, per-channel vectors of shape (C,) (broadcast over the image, e.g.
        ``images.VGG16_LOW`` / ``images.VGG16_HIGH`` for VGG-16's caffe preprocessing), or arrays
        that broadcast to one image's shape.
    """

    zero_input_gets_zero_relevance = False

    def __init__(self, low, high):
        low = np.asarray(low, dtype=np.float64)
        high = np.asarray(high, dtype=np.float64)
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
            raise ValueError("ZBox(low, high): the bounds must be finite numbers.")
        try:
            np.broadcast_shapes(low.shape, high.shape)
        except ValueError:
            raise ValueError(f"ZBox(low, high): low has shape {low.shape} and high has shape "
                             f"{high.shape}; they must broadcast (e.g. both (C,) per channel).") from None
        if np.any(low > high):
            raise ValueError("ZBox(low, high): low must be <= high everywhere (low is the "
                             "smallest possible input value, high the largest).")
        self.low, self.high = low, high

    def groups(self, input_nonnegative=False, nonpositive_outputs_irrelevant=False):
        return [Group((Branch("x", None, False),
                       Branch("low", _positive, False, sign=-1.0),
                       Branch("high", _negative, False, sign=-1.0)))]

    def key(self):
        return ("ZBox", self.low.shape, self.low.tobytes(), self.high.shape, self.high.tobytes())

    def __repr__(self):
        def short(v):
            return repr(float(v)) if v.ndim == 0 else f"array{v.shape}"
        return f"ZBox(low={short(self.low)}, high={short(self.high)})"
