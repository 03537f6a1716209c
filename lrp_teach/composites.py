"""Composites: which LRP rule each Dense / Conv2D / DepthwiseConv2D layer of a model gets.

A composite looks at the layers (in the engine's topological order, input first) and returns one
:class:`~lrp_teach.rules.Rule` per Dense, Conv2D or DepthwiseConv2D layer (a depthwise
convolution is a convolution here, as in zennit). Layers without weights need no rule:
max pooling passes relevance by its gradient (winner takes all), average pooling and global
average pooling in proportion to their inputs (LRP-0 with ε = 1e-6, zennit's ``Norm``),
flatten, dropout and ReLU pass it unchanged.

Presets are named as in zennit (``zennit.composites``) and use its defaults (ε = 1e-6 on Dense
layers, γ = 0.25):

========================= ==================== ========================= =====================
composite                 first layer          other Conv2D              Dense (last included)
========================= ==================== ========================= =====================
EpsilonPlus               ZPlus                ZPlus                     Epsilon(1e-6)
EpsilonPlusFlat           Flat                 ZPlus                     Epsilon(1e-6)
EpsilonGammaBox(l, h)     ZBox(l, h)           Gamma(0.25)               Epsilon(1e-6)
EpsilonAlpha2Beta1        AlphaBeta(2, 1)      AlphaBeta(2, 1)           Epsilon(1e-6)
MontavonVGG16(l, h)       ZBox(l, h)           γ lower half, ε upper     Z (LRP-0)
========================= ==================== ========================= =====================

"First layer" = the first convolution (Conv2D or DepthwiseConv2D) on the way from the input (the
first in topological order), or the first Dense if the model has no convolution. "Other Conv2D"
includes DepthwiseConv2D.

Your own mapping: ``Composite(by_name={"dense_1": rules.Z()}, by_class={"Conv2D":
rules.ZPlus()}, default=rules.Epsilon(0.1), first=rules.Flat())``. A single rule can also be
passed to :func:`lrp_teach.explain` instead of a composite (used for every Dense/Conv2D layer).

By name: :func:`by_name` is the one registry ``name -> composite`` (the CLI, the explorer
widget, the benchmarks and the tests use it); :data:`NAMES` lists the names.
"""

from __future__ import annotations

import weakref

from . import rules as _rules
from .rules import Rule

__all__ = [
    "Composite", "EpsilonPlus", "EpsilonPlusFlat", "EpsilonGammaBox", "EpsilonAlpha2Beta1",
    "MontavonVGG16", "as_composite", "by_name", "NAMES",
]


def _class_name(layer) -> str:
    return type(layer).__name__


#: class -> the names of it and its base classes (once per class: explain() asks per layer);
#: weak keys, so classes defined in a notebook can go
_CLASS_NAMES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _class_names(cls) -> frozenset:
    if cls not in _CLASS_NAMES:
        _CLASS_NAMES[cls] = frozenset(base.__name__ for base in cls.__mro__)
    return _CLASS_NAMES[cls]


def _is_a(layer, class_name) -> bool:
    """``layer``'s class or one of its base classes is called ``class_name`` (so a subclass of
    Conv2D counts as a Conv2D, without importing Keras)."""
    return class_name in _class_names(type(layer))


#: Layer classes that are convolutions for a composite (zennit's ``Convolution`` type: a
#: depthwise convolution is a grouped convolution there).
CONVOLUTIONS = ("Conv2D", "DepthwiseConv2D")


def _is_conv(layer) -> bool:
    return any(_is_a(layer, name) for name in CONVOLUTIONS)


def _weighted(layers):
    """Indices of the Dense, Conv2D and DepthwiseConv2D layers in ``layers``."""
    return [i for i, layer in enumerate(layers) if _is_a(layer, "Dense") or _is_conv(layer)]


def first_layer_index(layers):
    """Index (into ``layers``, in the engine's topological order) of the "first layer": the
    first convolution (Conv2D or DepthwiseConv2D), else the first Dense."""
    convs = [i for i in _weighted(layers) if _is_conv(layers[i])]
    if convs:
        return convs[0]
    dense = _weighted(layers)
    return dense[0] if dense else None


def _check_rule(rule, where):
    if not isinstance(rule, Rule):
        raise TypeError(f"{where} must be a rule from lrp_teach.rules (e.g. rules.Epsilon()), "
                        f"got {type(rule).__name__}: {rule!r}.")
    return rule


class Composite:
    """A user-defined mapping from layers to rules.

    Parameters
    ----------
    by_name : dict ``{layer name: Rule}`` -- wins over everything else.
    by_class : dict ``{class or class name: Rule}``, e.g. ``{"Conv2D": ZPlus(), keras.layers.Dense:
        Epsilon(0.25)}`` (first matching entry, by isinstance for classes, for strings by the
        name of the layer's class or one of its base classes).
    first : Rule for the "first layer" (first Conv2D, else first Dense), or None.
    default : Rule for every Dense/Conv2D layer not matched otherwise (None: such a layer is an
        error that names it).

    Order: by_name, then first, then by_class, then default.
    """

    def __init__(self, by_name=None, by_class=None, default=None, first=None):
        self.by_name = dict(by_name or {})
        self.by_class = dict(by_class or {})
        for name, rule in self.by_name.items():
            _check_rule(rule, f"Composite(by_name={{{name!r}: ...}})")
        for cls, rule in self.by_class.items():
            _check_rule(rule, f"Composite(by_class={{{getattr(cls, '__name__', cls)!r}: ...}})")
        self.default = None if default is None else _check_rule(default, "Composite(default=...)")
        self.first = None if first is None else _check_rule(first, "Composite(first=...)")

    def assign(self, layers) -> dict:
        """``{index in layers: Rule}`` for every Dense/Conv2D layer of the chain ``layers``."""
        first = first_layer_index(layers)
        names = {layer.name for layer in layers}
        unknown = sorted(set(self.by_name) - names)
        if unknown:
            raise ValueError(f"Composite(by_name=...) names layers {unknown} that are not in the "
                             f"model; its Dense/Conv2D layers are "
                             f"{[layers[i].name for i in _weighted(layers)]}.")
        assignment = {}
        for index in _weighted(layers):
            layer = layers[index]
            rule = self._rule_for(layer, index == first)
            if rule is None:
                raise ValueError(f"{type(self).__name__}: no rule for layer '{layer.name}' "
                                 f"({_class_name(layer)}); add it to by_name/by_class or give "
                                 "default=rules.Epsilon().")
            assignment[index] = rule
        return assignment

    def _rule_for(self, layer, is_first):
        if layer.name in self.by_name:
            return self.by_name[layer.name]
        if is_first and self.first is not None:
            return self.first
        for cls, rule in self.by_class.items():
            if isinstance(cls, str):
                if _is_a(layer, cls):
                    return rule
            elif isinstance(layer, cls):
                return rule
        return self.default

    def __repr__(self):
        parts = []
        if self.first is not None:
            parts.append(f"first={self.first!r}")
        if self.by_name:
            parts.append(f"by_name={self.by_name!r}")
        if self.by_class:
            parts.append("by_class={" + ", ".join(
                f"{getattr(c, '__name__', c)!r}: {r!r}" for c, r in self.by_class.items()) + "}")
        if self.default is not None:
            parts.append(f"default={self.default!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


class _Preset(Composite):
    """A preset: convolution rule (Conv2D and DepthwiseConv2D), Dense rule and an optional
    first-layer rule."""

    def __init__(self, conv, dense, first=None):
        super().__init__(by_class={"Conv2D": conv, "DepthwiseConv2D": conv, "Dense": dense},
                         first=first)


class EpsilonPlus(_Preset):
    """z⁺ (:class:`~lrp_teach.rules.ZPlus`) on every Conv2D, ε on every Dense (zennit's
    ``EpsilonPlus``)."""

    def __init__(self, epsilon: float = 1e-6):
        super().__init__(conv=_rules.ZPlus(), dense=_rules.Epsilon(epsilon))


class EpsilonPlusFlat(_Preset):
    """Like :class:`EpsilonPlus`, but the first layer gets :class:`~lrp_teach.rules.Flat`
    (zennit's ``EpsilonPlusFlat``)."""

    def __init__(self, epsilon: float = 1e-6):
        super().__init__(conv=_rules.ZPlus(), dense=_rules.Epsilon(epsilon), first=_rules.Flat())


class EpsilonGammaBox(_Preset):
    """z^B on the first layer (pixels in ``[low, high]``), γ on the other Conv2D layers, ε on
    every Dense (zennit's ``EpsilonGammaBox``)."""

    def __init__(self, low, high, epsilon: float = 1e-6, gamma: float = 0.25):
        super().__init__(conv=_rules.Gamma(gamma), dense=_rules.Epsilon(epsilon),
                         first=_rules.ZBox(low, high))


class EpsilonAlpha2Beta1(_Preset):
    """α2β1 (:class:`~lrp_teach.rules.AlphaBeta` with α = 2, β = 1) on every Conv2D, ε on every
    Dense (zennit's ``EpsilonAlpha2Beta1``)."""

    def __init__(self, epsilon: float = 1e-6):
        super().__init__(conv=_rules.AlphaBeta(2.0, 1.0), dense=_rules.Epsilon(epsilon))


class MontavonVGG16(Composite):
    """The VGG-16 recipe of Montavon et al. (2019), "Layer-wise relevance propagation: an
    overview" (and its tutorial), generalised by position to any chain:

    * pixels (first layer): z^B with ``low``/``high``;
    * lower convolutions: LRP-γ (γ = 0.25) -- in VGG-16 conv1_2 ... conv3_3;
    * upper convolutions: LRP-ε with ε = 0.25·RMS(z) per image (``Epsilon(0.25, relative=True)``,
      the tutorial's ``0.25 * ((z**2).mean()**.5)``) -- in VGG-16 conv4_1 ... conv5_3;
    * dense layers: LRP-0 (:class:`~lrp_teach.rules.Z`).

    Generalisation: of the n Conv2D layers, the first gets z^B, conv number 2 .. n//2 + 1 (1-based)
    get γ and the rest ε (VGG-16: 13 convolutions -> 1 z^B, 6 γ, 6 ε). Without convolutions the
    first Dense gets z^B and the other Dense layers LRP-0. Differences from the tutorial: max
    pooling stays max pooling (relevance by its gradient; the tutorial swaps it for average
    pooling), and the stabilisers are sign-aware, ``z + ε·sign(z)``.
    """

    def __init__(self, low, high, gamma: float = 0.25, epsilon: float = 0.25,
                 relative_epsilon: bool = True):
        super().__init__()
        self.box = _rules.ZBox(low, high)
        self.gamma = _rules.Gamma(gamma)
        self.epsilon = _rules.Epsilon(epsilon, relative=relative_epsilon)
        self.zero = _rules.Z()

    def assign(self, layers):
        weighted = _weighted(layers)
        convs = [i for i in weighted if _is_conv(layers[i])]
        first = first_layer_index(layers)
        assignment = {}
        for index in weighted:
            if index == first:
                assignment[index] = self.box
            elif _is_a(layers[index], "Dense"):
                assignment[index] = self.zero
            else:
                position = convs.index(index)  # 0-based among the convolutions
                assignment[index] = self.gamma if position <= len(convs) // 2 else self.epsilon
        return assignment

    def __repr__(self):
        return (f"MontavonVGG16(first={self.box!r}, lower={self.gamma!r}, upper={self.epsilon!r}, "
                f"dense={self.zero!r})")


def as_composite(composite) -> Composite:
    """A Composite, a single Rule (used for every Dense/Conv2D layer) or None (EpsilonPlusFlat)."""
    if composite is None:
        return EpsilonPlusFlat()
    if isinstance(composite, Rule):
        return Composite(default=composite)
    if isinstance(composite, Composite):
        return composite
    if isinstance(composite, type) and issubclass(composite, (Rule, Composite)):
        raise TypeError(f"composite={composite.__name__} is a class; pass an instance, e.g. "
                        f"{composite.__name__}().")
    raise TypeError(f"composite must be a Composite from lrp_teach.composites (e.g. "
                    f"composites.EpsilonPlusFlat()) or a single rule from lrp_teach.rules "
                    f"(e.g. rules.ZPlus()), got {type(composite).__name__}.")


# --------------------------------------------------------------------------------------------
# The one registry: name -> composite (or single rule)
# --------------------------------------------------------------------------------------------

def _with(**params):
    return {key: float(value) for key, value in params.items() if value is not None}


# name -> (needs the input bounds, factory(low, high, epsilon, gamma)). The presets first,
# then single rules (used for every Dense/Conv2D layer).
_REGISTRY = {
    "epsilon_gamma_box": (True, lambda low, high, epsilon, gamma: EpsilonGammaBox(
        low, high, **_with(epsilon=epsilon, gamma=gamma))),
    "epsilon_plus_flat": (False, lambda low, high, epsilon, gamma: EpsilonPlusFlat(
        **_with(epsilon=epsilon))),
    "epsilon_plus": (False, lambda low, high, epsilon, gamma: EpsilonPlus(
        **_with(epsilon=epsilon))),
    "montavon_vgg16": (True, lambda low, high, epsilon, gamma: MontavonVGG16(
        low, high, **_with(epsilon=epsilon, gamma=gamma))),
    "epsilon_alpha2_beta1": (False, lambda low, high, epsilon, gamma: EpsilonAlpha2Beta1(
        **_with(epsilon=epsilon))),
    "epsilon": (False, lambda low, high, epsilon, gamma: _rules.Epsilon(
        **({"epsilon": 0.25} | _with(epsilon=epsilon)))),
    "z_plus": (False, lambda low, high, epsilon, gamma: _rules.ZPlus()),
    "gamma": (False, lambda low, high, epsilon, gamma: _rules.Gamma(**_with(gamma=gamma))),
    "z": (False, lambda low, high, epsilon, gamma: _rules.Z()),
}

#: The names :func:`by_name` accepts, presets first, then single rules.
NAMES = tuple(_REGISTRY)


def by_name(name: str, low=None, high=None, epsilon: float | None = None,
            gamma: float | None = None):
    """The composite (or single rule) called ``name`` (one of :data:`NAMES`; case, ``-`` and
    ``_`` are forgiven).

    low, high : the input bounds of z^B, needed by ``epsilon_gamma_box`` and ``montavon_vgg16``
        (for VGG-16: ``images.VGG16_LOW`` / ``images.VGG16_HIGH``).
    epsilon : overrides the default ε: the Dense layers' ε of the ε presets
        (``epsilon_gamma_box``, ``epsilon_plus_flat``, ``epsilon_plus``,
        ``epsilon_alpha2_beta1``); the upper convolutions' RELATIVE ε (ε·RMS(z)) of
        ``montavon_vgg16``, whose Dense layers use LRP-0; the rule's ε of ``epsilon`` (default
        0.25 there).
    gamma : overrides γ = 0.25 of ``epsilon_gamma_box`` (its convolutions after the first),
        ``montavon_vgg16`` (its lower convolutions) and ``gamma``.
    """
    key = str(name).strip().lower().replace("-", "_")
    if key not in _REGISTRY:
        raise ValueError(f"unknown composite {name!r}; choose one of: {', '.join(NAMES)}")
    needs_bounds, factory = _REGISTRY[key]
    if needs_bounds and (low is None or high is None):
        raise ValueError(f"composite {key!r} puts z^B on the first layer and needs the input "
                         "bounds: by_name(name, low=..., high=...) (for VGG-16: "
                         "images.VGG16_LOW, images.VGG16_HIGH).")
    return factory(low, high, epsilon, gamma)
