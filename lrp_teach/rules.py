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

Conventions (zennit's ``zennit.rules``, so that results can be compared with it): the
stabiliser is ``z + ε·sign(z)`` with ``sign(0) = +1``; a denominator that is still exactly zero
(LRP-0 only) gives ``s = 0``, never NaN; ε = 1e-6 unless a rule says otherwise. Each class's
docstring states its formula and how it treats the bias.

A rule states its textbook form only (all inputs of any sign, every output). The engine, not the
rule, knows which terms are provably zero in a given network (inputs ≥ 0 after a ReLU, outputs
whose relevance vanishes) and leaves them out (:func:`lrp_teach.propagate.step.prune`).

Every rule has a slow numpy reference written from its paper formula, registered beside it with
``@replicates(RuleClass)``; the tests compare the engine with it, and fail for a rule without one.
"""

from __future__ import annotations

import numpy as np

from .rulebase import (Branch, Group, Rule, _gamma_negative, _gamma_positive, _negative,
                       _np_stabilize, _ones, _parts, _positive, _redistribute, _square,
                       reference_of, replicates, registered_references, stabilize)

__all__ = [
    "Rule", "Z", "Epsilon", "ZPlus", "Gamma", "AlphaBeta", "WSquare", "Flat", "ZBox",
    "Branch", "Group", "stabilize", "replicates", "reference_of", "registered_references",
]


# --------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------

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

    def groups(self):
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

    epsilon = 0.0  # (the class default, so that repr shows a changed one)

    def __init__(self):
        super().__init__(epsilon=0.0)

    def _params(self):
        return {}


@replicates(Epsilon, Z)
def _epsilon_reference(rule, a, W, b, mask, R):
    contributions = a.reshape(-1)[:, None] * W
    z = contributions.sum(0) + b
    epsilon = rule.epsilon * np.sqrt(np.mean(z ** 2)) if rule.relative else rule.epsilon
    return _redistribute(contributions, _np_stabilize(z, epsilon), R).reshape(a.shape)


class ZPlus(Rule):
    """z⁺ rule: only positive contributions count.

    ``z_k = Σ_j a⁺_j w⁺_jk + b⁺_k + Σ_j a⁻_j w⁻_jk`` (one denominator, stabilised with ε = 1e-6),
    ``R_j = (a⁺_j Σ_k w⁺_jk s_k) + (a⁻_j Σ_k w⁻_jk s_k)``, ``s_k = R_k / z_k``.
    Equals α/β with α = 1, β = 0. For a ≥ 0 it is the deep-Taylor z⁺ rule and gives R ≥ 0 when
    the upper relevance is ≥ 0.
    """

    def groups(self):
        return [Group((Branch("positive", _positive, _positive),
                       Branch("negative", _negative, False)))]


@replicates(ZPlus)
def _zplus_reference(rule, a, W, b, mask, R):
    (pos_a, neg_a), (pos_W, neg_W) = _parts(a.reshape(-1)), _parts(W)
    contributions = pos_a[:, None] * pos_W + neg_a[:, None] * neg_W
    z = contributions.sum(0) + np.maximum(b, 0)
    return _redistribute(contributions, _np_stabilize(z, rule.epsilon), R).reshape(a.shape)


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

    def groups(self):
        up, down = _gamma_positive(self.gamma), _gamma_negative(self.gamma)
        return [Group((Branch("positive", up, up), Branch("negative", down, False)),
                      where="positive"),
                Group((Branch("positive", down, down), Branch("negative", up, False)),
                      where="negative")]

    def _params(self):
        return {"gamma": self.gamma}


@replicates(Gamma)
def _gamma_reference(rule, a, W, b, mask, R):
    g, flat = rule.gamma, a.reshape(-1)
    (pos_a, neg_a), (pos_W, neg_W), (pos_b, neg_b) = _parts(flat), _parts(W), _parts(b)
    plain = flat @ W + b
    up_W, down_W = W + g * pos_W, W + g * neg_W
    contributions_up = pos_a[:, None] * up_W + neg_a[:, None] * down_W
    contributions_down = pos_a[:, None] * down_W + neg_a[:, None] * up_W
    z_up = contributions_up.sum(0) + b + g * pos_b
    z_down = contributions_down.sum(0) + b + g * neg_b
    R_in = (_redistribute(contributions_up, _np_stabilize(z_up, rule.epsilon),
                          np.where(plain > 0, R, 0.0))
            + _redistribute(contributions_down, _np_stabilize(z_down, rule.epsilon),
                            np.where(plain < 0, R, 0.0)))
    return R_in.reshape(a.shape)


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

    def groups(self):
        positive = (Branch("positive", _positive, _positive), Branch("negative", _negative, False))
        negative = (Branch("positive", _negative, _negative), Branch("negative", _positive, False))
        groups = [Group(positive, coefficient=self.alpha)]
        if self.beta:
            groups.append(Group(negative, coefficient=-self.beta))
        return groups

    def _params(self):
        return {"alpha": self.alpha, "beta": self.beta}


@replicates(AlphaBeta)
def _alpha_beta_reference(rule, a, W, b, mask, R):
    (pos_a, neg_a), (pos_W, neg_W), (pos_b, neg_b) = _parts(a.reshape(-1)), _parts(W), _parts(b)
    contributions_pos = pos_a[:, None] * pos_W + neg_a[:, None] * neg_W
    contributions_neg = pos_a[:, None] * neg_W + neg_a[:, None] * pos_W
    R_pos = _redistribute(contributions_pos,
                          _np_stabilize(contributions_pos.sum(0) + pos_b, rule.epsilon), R)
    R_neg = _redistribute(contributions_neg,
                          _np_stabilize(contributions_neg.sum(0) + neg_b, rule.epsilon), R)
    return (rule.alpha * R_pos - rule.beta * R_neg).reshape(a.shape)


class WSquare(Rule):
    """w² rule: ``R_j = Σ_k w²_jk / Σ_j w²_jk · R_k`` (input values and bias ignored; ε = 1e-6).

    Meant for a first layer whose inputs are unbounded reals. (zennit's ``WSquare()`` squares the
    bias too unless ``zero_params='bias'``; the textbook rule, used here, has no bias.)
    """

    def groups(self):
        return [Group((Branch("ones", _square, False),))]


@replicates(WSquare)
def _wsquare_reference(rule, a, W, b, mask, R):
    contributions = W ** 2 * mask
    return _redistribute(contributions, _np_stabilize(contributions.sum(0), rule.epsilon),
                         R).reshape(a.shape)


class Flat(Rule):
    """Flat rule: ``R_j = Σ_k 1 / (Σ_j 1) · R_k`` -- each output spreads its relevance uniformly
    over its receptive field (input values, weights and bias ignored; ε = 1e-6). Used on the first
    layer by :class:`~lrp_teach.composites.EpsilonPlusFlat`.
    """

    def groups(self):
        return [Group((Branch("ones", _ones, False),))]


@replicates(Flat)
def _flat_reference(rule, a, W, b, mask, R):
    contributions = mask.astype(float)
    return _redistribute(contributions, _np_stabilize(contributions.sum(0), rule.epsilon),
                         R).reshape(a.shape)


class ZBox(Rule):
    """z^B rule for inputs bounded by ``low ≤ x ≤ high`` (pixels):

    ``z_k = Σ_j (x_j w_jk − l_j w⁺_jk − h_j w⁻_jk)``  (stabilised with ε = 1e-6, bias cancels),
    ``R_j = x_j c_j − l_j c⁺_j − h_j c⁻_j`` with ``c = W s``, ``c⁺ = W⁺ s``, ``c⁻ = W⁻ s``.
    (zennit adds b − b⁺ − b⁻ = 0, so the bias is left out.)

    low, high : scalars, per-channel vectors of shape (C,) (broadcast over the image, e.g.
        ``images.VGG16_LOW`` / ``images.VGG16_HIGH`` for VGG-16's caffe preprocessing), or arrays
        that broadcast to one image's shape.
    """

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

    def groups(self):
        return [Group((Branch("x", None, False),
                       Branch("low", _positive, False, sign=-1.0),
                       Branch("high", _negative, False, sign=-1.0)))]

    def named_inputs(self):
        return {"low": self.low, "high": self.high}

    def __repr__(self):
        def short(v):
            return repr(float(v)) if v.ndim == 0 else f"array{v.shape}"
        return f"ZBox(low={short(self.low)}, high={short(self.high)})"


@replicates(ZBox)
def _zbox_reference(rule, a, W, b, mask, R):
    low = np.broadcast_to(rule.low, a.shape).reshape(-1)
    high = np.broadcast_to(rule.high, a.shape).reshape(-1)
    (pos_W, neg_W) = _parts(W)
    contributions = a.reshape(-1)[:, None] * W - low[:, None] * pos_W - high[:, None] * neg_W
    return _redistribute(contributions, _np_stabilize(contributions.sum(0), rule.epsilon),
                         R).reshape(a.shape)
