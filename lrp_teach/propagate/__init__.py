"""The LRP engine: ``explain(model, images, target, composite)``.

How it works
------------
1. :mod:`~lrp_teach.propagate.layers` -- the model is read through ONE table of layer handlers
   (Conv2D, Dense, pooling, Flatten, Dropout, ReLU, Activation, a final Softmax; a
   BatchNormalization right after a Conv2D/Dense is folded into it, :mod:`lrp_teach.canonizers`)
   and :mod:`~lrp_teach.propagate.chain` proves, through public Keras API, that it is a chain --
   BEFORE anything is computed. Anything else is an error that names the layer. A softmax (or
   sigmoid) at the end is dropped: the engine explains the LOGIT. The model is never modified.
2. The composite gives each Dense/Conv2D layer a rule (:mod:`lrp_teach.rules`).
3. :mod:`~lrp_teach.propagate.engine` -- one compiled ``tf.function`` (cached per model, rules and
   input shape) does the plain forward pass, then walks back through the layers. The relevance
   starts at the target logit's value (0 for the other classes). Every Dense/Conv2D layer, and
   average pooling (LRP-0, ρ = identity, ε = 1e-6 like zennit's ``Norm``), goes through the same
   generic step, :func:`~lrp_teach.propagate.step.four_steps` (Montavon et al. 2019)::

       z = ε + ρ(W)·a             forward with the rule's weights (``layer(a, ρ(W), ρ(b))``)
       s = R / z                  element-wise; a zero denominator gives s = 0, never NaN
       c = ρ(W)ᵀ s                a gradient: ``tape.gradient(z, a, output_gradients=s)``
       R = a ⊙ c                  element-wise

   Max pooling passes relevance by its gradient (winner takes all); flatten/dropout/ReLU pass
   it unchanged.

Why it is fast (about the cost of one forward + one gradient more than a plain gradient)
-----------------------------------------------------------------------------------------
* LRP-0/ε layers reuse the plain forward pass: their z IS the pre-activation already computed,
  and ``c`` is the gradient of that same z, so they cost one backward step only.
* Rules state their textbook form; the engine drops what it proves zero
  (:func:`~lrp_teach.propagate.step.prune`): a layer whose input is provably ≥ 0 (after a ReLU,
  possibly through pooling, flatten or dropout) has ``min(a, 0) = 0``, so the negative-input
  terms of z⁺, γ and α/β go; a layer followed by a ReLU whose next rule multiplies by its input
  holds zero relevance at outputs with z ≤ 0, so γ's "negative output" half goes.
These shortcuts remove only terms that are exactly zero; the tests compare the engine with the
rules' numpy references, which do not take them.
"""

from __future__ import annotations

from .engine import compiled, explain, forward, model_chain, rule_table
from .inputs import check_images, check_target, model_dtype, num_classes
from .layers import HANDLERS, NORM_EPSILON, SUPPORTED_LAYERS, Step
from .step import four_steps, lrp_step, prune

__all__ = ["explain", "lrp_step", "model_chain", "rule_table", "SUPPORTED_LAYERS", "NORM_EPSILON",
           "HANDLERS", "Step", "four_steps", "prune", "forward", "compiled", "check_images",
           "check_target", "model_dtype", "num_classes"]
