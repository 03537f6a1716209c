"""Canonizers: rewrite a layer pattern into one the LRP rules are defined for, at explain time.

LRP rules are stated for linear layers followed by a ReLU. A ``BatchNormalization`` at inference
is an affine map per channel, ``y = γ (z − μ) / √(σ² + ε) + β``; directly after a Conv2D/Dense
without activation it merges into that layer (zennit's ``MergeBatchNorm``):

    W' = W · γ / √(σ² + ε)          (per output channel)
    b' = (b − μ) · γ / √(σ² + ε) + β

so the pair is ONE linear layer and every rule applies to W', b'. The fold is computed from the
layers' variables inside the compiled pass, every call: the user's model is never changed and a
later change of its weights is seen. A BatchNormalization anywhere else (after a ReLU, a pooling
layer, at the start) is an error that names it.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

__all__ = ["BatchNormFold"]


def _error(layer, reason):
    from .propagate.layers import describe, unsupported

    return unsupported(layer, f" here: {reason}. BatchNormalization is supported directly after "
                              "a Conv2D or Dense layer with activation=None (it is folded into "
                              "that layer's weights at explain time); "
                              f"{describe(layer)} must follow one")


@dataclass(frozen=True)
class BatchNormFold:
    """A BatchNormalization folded into the Conv2D/Dense step before it."""

    bn_ref: object  # weakref to the BatchNormalization layer

    @classmethod
    def check(cls, bn, previous):
        """The fold of ``bn`` into the step ``previous``, or a ValueError naming ``bn``."""
        if previous is None:
            raise _error(bn, "it is not preceded by a Conv2D or Dense layer")
        if not previous.weighted:
            raise _error(bn, f"it follows layer '{previous.name}' ({previous.class_name})")
        if previous.relu:
            raise _error(bn, f"it follows layer '{previous.name}' ({previous.class_name}) "
                             "whose activation is 'relu' (a ReLU in between cannot be folded)")
        if previous.fold is not None:
            raise _error(bn, f"layer '{previous.name}' already has a BatchNormalization folded "
                             "into it")
        try:
            rank = len(bn.input.shape)
        except (AttributeError, ValueError):  # no single input node: only axis=-1 is provable
            rank = None
        if not (bn.axis == -1 or (rank is not None and bn.axis == rank - 1)):
            raise _error(bn, f"it normalises axis {bn.axis}, not the channel axis (-1)")
        return cls(weakref.ref(bn))

    @property
    def layer(self):
        layer = self.bn_ref()
        if layer is None:  # pragma: no cover - only if a model died while its function retraces
            raise RuntimeError("a folded BatchNormalization layer no longer exists")
        return layer

    def fold(self, kernel, bias, dtype):
        """``(W', b')`` from the linear layer's ``kernel``/``bias`` (bias may be None)."""
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
        return kernel * scale, shift  # scale broadcasts over the kernel's last (output) axis
