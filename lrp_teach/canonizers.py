"""Canonizers: rewrite a layer pattern into one the LRP rules are defined for, at explain time.

LRP rules are stated for linear layers followed by a ReLU. A ``BatchNormalization`` at inference
is an affine map per channel, ``y = γ (z − μ) / √(σ² + ε) + β``; directly after a Conv2D,
DepthwiseConv2D or Dense layer without activation it merges into that layer (zennit's
``MergeBatchNorm``):

    W' = W · γ / √(σ² + ε)          (per output channel)
    b' = (b − μ) · γ / √(σ² + ε) + β   (b = 0 for a layer with use_bias=False)

so the pair is ONE linear layer and every rule applies to W', b'. An activation layer may follow
the BatchNormalization (conv → BN → ReLU6). The fold is computed from the layers' variables
inside the compiled pass, every call: the user's model is never changed and a later change of its
weights is seen. A BatchNormalization anywhere else (after a ReLU, a pooling layer, an ``Add``,
at the start, or after a layer whose output another layer reads too) cannot be folded and is an
error that names it.

This module does not know the engine's layer table: :meth:`BatchNormFold.check` raises
:class:`CannotFold` with the reason, and the engine turns it into its error message.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

__all__ = ["BatchNormFold", "CannotFold", "WHERE_SUPPORTED"]

#: Where a BatchNormalization can be folded, in words (for error messages).
WHERE_SUPPORTED = ("BatchNormalization is supported directly after a Conv2D, DepthwiseConv2D or "
                   "Dense layer with activation=None whose output nothing else reads (it is "
                   "folded into that layer's weights at explain time)")

#: The kinds of engine steps a BatchNormalization folds into.
_FOLDS_INTO = ("conv", "depthwise", "dense")


class CannotFold(ValueError):
    """Why a BatchNormalization cannot be folded (the engine adds the layer's name)."""


@dataclass(frozen=True)
class BatchNormFold:
    """A BatchNormalization folded into the Conv2D/DepthwiseConv2D/Dense step before it."""

    bn_ref: object  # weakref to the BatchNormalization layer

    @classmethod
    def check(cls, bn, previous, shared=False):
        """The fold of ``bn`` into the step ``previous`` (None: the model's input), or
        :class:`CannotFold` saying why. ``shared``: the tensor between them is read by another
        layer too."""
        if previous is None:
            raise CannotFold("it is not preceded by a Conv2D, DepthwiseConv2D or Dense layer")
        if previous.kind not in _FOLDS_INTO:
            raise CannotFold(f"it follows layer '{previous.name}' ({previous.class_name})")
        if previous.relu:
            activation = "relu" if previous.config.get("max_value") is None else "relu6"
            raise CannotFold(f"it follows layer '{previous.name}' ({previous.class_name}) "
                             f"whose activation is '{activation}' (a ReLU in between cannot be "
                             "folded)")
        if previous.fold is not None:
            raise CannotFold(f"layer '{previous.name}' already has a BatchNormalization folded "
                             "into it")
        if shared:
            raise CannotFold(f"the output of layer '{previous.name}' ({previous.class_name}) is "
                             "read by another layer too (folding would change what that layer "
                             "sees)")
        try:
            rank = len(bn.input.shape)
        except (AttributeError, ValueError):  # no single input node: only axis=-1 is provable
            rank = None
        if not (bn.axis == -1 or (rank is not None and bn.axis == rank - 1)):
            raise CannotFold(f"it normalises axis {bn.axis}, not the channel axis (-1)")
        return cls(weakref.ref(bn))

    @property
    def layer(self):
        layer = self.bn_ref()
        if layer is None:  # pragma: no cover - only if a model died while its function retraces
            raise RuntimeError("a folded BatchNormalization layer no longer exists")
        return layer

    def fold(self, kernel, bias, dtype, depthwise=False):
        """``(W', b')`` from the linear layer's ``kernel``/``bias`` (bias may be None). A
        depthwise kernel (kh, kw, C, M) has output channel ``c·M + m`` at ``[..., c, m]``."""
        from ._tf import tf

        bn = self.layer

        def read(variable):
            return tf.cast(tf.convert_to_tensor(variable), dtype)

        scale = tf.math.rsqrt(read(bn.moving_variance) + tf.constant(bn.epsilon, dtype))
        if bn.scale:
            scale = scale * read(bn.gamma)
        shift = -read(bn.moving_mean) if bias is None else bias - read(bn.moving_mean)
        shift = shift * scale
        if bn.center:
            shift = shift + read(bn.beta)
        if depthwise:
            multiplier = kernel.shape[-1]
            return kernel * tf.reshape(scale, (-1, multiplier)), shift
        return kernel * scale, shift  # scale broadcasts over the kernel's last (output) axis
